"""The ``facegate`` command as a user runs it, on a real SQLite gallery: in the test process
with typer's CliRunner (tests/cli_inprocess.py; none of these commands needs a process of its
own, and the models then load once, not once per command).

Every test asserts on the text a person reads and on the exit code a script checks.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_inprocess import Ran, facegate
from conftest import LiveServer
from PIL import Image

from facegate.storage.sqlite import SQLiteStore

REPORT = re.compile(r"^(enrolled|refused)\s+(\S+)\s+(.+?)(?:: ([A-Z_]+): .*)?$")
SUMMARY = re.compile(r"(\d+) photos: (\d+) enrolled, (\d+) refused, (\d+) already enrolled; "
                     r"gallery: (\d+) identities, (\d+) faces")
KEY = "cli-test-key-0123"


def report(result: Ran) -> dict[str, tuple[str, str, str | None]]:
    """``{source: (enrolled|refused, person, code)}`` from enrol's per-file report."""
    lines = (REPORT.match(line) for line in (result.stdout + result.stderr).splitlines())
    return {m[3]: (m[1], m[2], m[4]) for m in lines if m}


def summary(result: Ran) -> tuple[int, ...]:
    """``(photos, enrolled, refused, already enrolled, identities, faces)``."""
    found = SUMMARY.search(result.stdout)
    assert found, result.stdout + result.stderr
    return tuple(int(n) for n in found.groups())


def no_face_photo(faces: Path, target: Path) -> Path:
    """The bottom of obama.jpg: a real photo (his suit), no face in it."""
    with Image.open(faces / "obama.jpg") as photo:
        photo.crop((0, 800, photo.width, photo.height)).save(target, quality=92)
    return target


@pytest.fixture(scope="module")
def obama_gallery(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Path:
    data = tmp_path_factory.mktemp("obama-gallery")
    enrolled = facegate("enroll", faces / "obama.jpg", "--data-dir", data)
    assert enrolled.returncode == 0, enrolled.stderr
    return data


def test_enroll_files_reports_each_photo_and_exits_1_on_refusals(
        tmp_path: Path, faces: Path) -> None:
    data = tmp_path / "data"
    suit = no_face_photo(faces, tmp_path / "suit.jpg")
    first = facegate("enroll", faces / "obama.jpg", faces / "biden.jpg", suit,
                     faces / "group6.jpg", "--data-dir", data)
    assert first.returncode == 1, first.stderr
    assert report(first) == {
        str(faces / "obama.jpg"): ("enrolled", "obama", None),
        str(faces / "biden.jpg"): ("enrolled", "biden", None),
        str(suit): ("refused", "suit", "NO_FACE_FOUND"),
        str(faces / "group6.jpg"): ("refused", "group6", "MULTIPLE_FACES"),
    }
    assert "6 faces were found" in first.stderr
    assert summary(first) == (4, 2, 2, 0, 2, 2)  # no empty identity for a refused photo

    largest = facegate("enroll", faces / "group6.jpg", "--largest", "--data-dir", data)
    assert largest.returncode == 0, largest.stderr
    assert report(largest) == {str(faces / "group6.jpg"): ("enrolled", "group6", None)}
    assert summary(largest) == (1, 1, 0, 0, 3, 3)

    again = facegate("enroll", faces / "obama.jpg", "--data-dir", data)
    assert again.returncode == 0, again.stderr
    assert report(again) == {str(faces / "obama.jpg"): ("refused", "obama", "DUPLICATE_FACE")}
    assert summary(again) == (1, 0, 0, 1, 3, 3)


def test_enroll_understands_folders_and_zips_of_either_layout(
        tmp_path: Path, faces: Path) -> None:
    layouts = {  # path inside the layout -> cached photo
        "people/obama/a.jpg": "obama.jpg", "people/biden/b.jpg": "biden.jpg",
        "flat/obama_1.jpg": "obama.jpg", "flat/obama_2.jpg": "obama2.jpg",
        "flat/biden_1.jpg": "biden.jpg",
    }
    for inner, photo in layouts.items():
        (tmp_path / inner).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(faces / photo, tmp_path / inner)
    zips = {"flat.zip": ("flat", False), "flat_wrapped.zip": ("flat", True),
            "people.zip": ("people", False), "people_wrapped.zip": ("people", True)}
    for zip_name, (folder, wrapped) in zips.items():  # wrapped: members under "flat/…"
        with zipfile.ZipFile(tmp_path / zip_name, "w") as archive:
            for inner in layouts:
                if inner.startswith(f"{folder}/"):
                    archive.write(tmp_path / inner,
                                  inner if wrapped else inner.removeprefix(f"{folder}/"))

    result = facegate("enroll", tmp_path / "people", tmp_path / "flat",
                      *(tmp_path / name for name in zips), "--data-dir", tmp_path / "data")

    assert result.returncode == 0, result.stdout + result.stderr  # duplicates are not refusals
    lines = report(result)
    assert len(lines) == 15
    for source, (status, person, code) in lines.items():
        named = re.search(r"(obama|biden)(/[ab]|_\d)\.jpg$", source)
        assert named and person == named[1], source
        assert (status, code) in {("enrolled", None), ("refused", "DUPLICATE_FACE")}, source
    # 3 different photos (obama x2, biden x1); every other copy is reported as already enrolled
    assert summary(result) == (15, 3, 0, 12, 2, 3)
    listed = json.loads(facegate("people", "list", "--json", "--data-dir",
                                 tmp_path / "data").stdout)
    assert sorted((i["name"], i["face_count"]) for i in listed["items"]) == [
        ("biden", 1), ("obama", 2)]


def test_identify_names_or_says_unknown(obama_gallery: Path, faces: Path) -> None:
    known = facegate("identify", faces / "obama2.jpg", "--data-dir", obama_gallery)
    assert known.returncode == 0, known.stderr
    line = re.fullmatch(r"obama2\.jpg: Identified obama \(distance (0\.\d\d)\)\n", known.stdout)
    assert line and float(line[1]) < 0.6

    stranger = facegate("identify", faces / "biden.jpg", "--data-dir", obama_gallery)
    assert stranger.returncode == 0, stranger.stderr
    line = re.fullmatch(r"biden\.jpg: UNKNOWN \(nearest obama, distance (\d\.\d\d)\)\n",
                        stranger.stdout)
    assert line and float(line[1]) > 0.6

    strict = facegate("identify", faces / "obama2.jpg", "--threshold", "0.2", "--json",
                      "--data-dir", obama_gallery)
    assert strict.returncode == 0, strict.stderr
    body = json.loads(strict.stdout)
    assert [f["status"] for f in body["faces"]] == ["unknown"]
    face = body["faces"][0]
    assert face["identity"] is None and face["threshold"] == 0.2
    assert face["candidates"][0]["name"] == "obama"
    assert f"{face['candidates'][0]['distance']:.2f}" in known.stdout  # the same distance
    assert "descriptor" not in face


def test_identify_a_photo_without_a_face(obama_gallery: Path, faces: Path,
                                         tmp_path: Path) -> None:
    suit = no_face_photo(faces, tmp_path / "suit.jpg")
    result = facegate("identify", suit, "--data-dir", obama_gallery)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "suit.jpg: no face found\n"


def test_verify_exit_codes(tmp_path: Path, faces: Path) -> None:
    data = tmp_path / "data"
    same = facegate("verify", faces / "obama.jpg", faces / "obama2.jpg", "--data-dir", data)
    assert same.returncode == 0, same.stderr
    assert re.fullmatch(r"SAME person \(distance 0\.[0-5]\d, threshold 0\.6\)\n", same.stdout)

    different = facegate("verify", faces / "obama.jpg", faces / "biden.jpg", "--json",
                         "--data-dir", data)
    assert different.returncode == 1, different.stderr
    body = json.loads(different.stdout)
    assert body["match"] is False and body["mode"] == "image"
    assert body["distance"] > body["threshold"] == 0.6
    assert len(body["faces"]) == 2

    unusable = facegate("verify", faces / "obama.jpg", faces / "group6.jpg", "--data-dir", data)
    assert unusable.returncode == 2  # not 1: an error must not read as "different people"
    assert "MULTIPLE_FACES" in unusable.stderr and unusable.stdout == ""


def test_people_list_show_delete(tmp_path: Path, faces: Path) -> None:
    data = tmp_path / "data"
    for name, photo in [("obama_1.jpg", "obama.jpg"), ("biden_1.jpg", "biden.jpg")]:
        shutil.copy(faces / photo, tmp_path / name)
    assert facegate("enroll", tmp_path / "obama_1.jpg", tmp_path / "biden_1.jpg",
                    "--data-dir", data).returncode == 0
    ids = {i["name"]: i["id"] for i in json.loads(
        facegate("people", "list", "--json", "--data-dir", data).stdout)["items"]}
    assert set(ids) == {"obama", "biden"}

    table = facegate("people", "list", "--data-dir", data)
    assert table.returncode == 0 and table.stdout.rstrip().endswith("2 of 2")
    for name, identity_id in ids.items():  # whole ids, usable with show/delete
        assert re.search(rf"{identity_id}\W+{name}\W+1\W", table.stdout), table.stdout

    by_name = facegate("people", "show", "obama", "--data-dir", data)
    assert by_name.returncode == 0
    assert by_name.stdout.startswith(f"obama  (id {ids['obama']}, 1 faces)\n  face ")
    by_id = facegate("people", "show", ids["biden"], "--json", "--data-dir", data)
    shown = json.loads(by_id.stdout)
    assert shown["name"] == "biden" and len(shown["faces"]) == 1
    assert "descriptor" not in shown["faces"][0]
    missing = facegate("people", "show", "nobody", "--data-dir", data)
    assert missing.returncode == 1 and "IDENTITY_NOT_FOUND" in missing.stderr

    declined = facegate("people", "delete", "obama", "--data-dir", data, stdin="n\n")
    assert declined.returncode == 1 and "Delete obama" in declined.stdout
    deleted = facegate("people", "delete", "obama", "--yes", "--data-dir", data)
    assert deleted.returncode == 0
    assert deleted.stdout.splitlines()[:2] == [f"deleted obama ({ids['obama']}) and 1 faces",
                                               "erasure receipt:"]
    by_id = facegate("people", "delete", ids["biden"], "--yes", "--data-dir", data)
    assert by_id.returncode == 0 and by_id.stdout.startswith("deleted biden")
    store = SQLiteStore(data / "gallery.sqlite3")
    assert store.counts() == (0, 0)  # and their faces went with them
    store.close()


def test_client_test_against_a_live_server_with_an_api_key(
        start_server: Callable[..., LiveServer], faces: Path, tmp_path: Path) -> None:
    server = start_server(server={"api_keys": [KEY]})
    with server.client(headers={"X-API-Key": KEY}) as http:
        obama = http.post("/v1/identities", json={"name": "obama"}).json()["id"]
        added = http.post(f"/v1/identities/{obama}/faces",
                          files={"image": ("o.jpg", (faces / "obama.jpg").read_bytes())})
        assert added.status_code == 201, added.text
    probes = tmp_path / "probes"
    probes.mkdir()
    for name in ("obama2.jpg", "biden.jpg", "group6.jpg"):
        shutil.copy(faces / name, probes / name)
    no_face_photo(faces, probes / "suit.jpg")
    (probes / "notes.txt").write_text("not an image")

    result = facegate("client", "test", probes, "--server", server.url, "--api-key", KEY)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"biden\.jpg: UNKNOWN \(nearest obama, distance 0\.[6-9]\d\)", lines[0])
    group = lines[1:7]
    assert all(re.fullmatch(r"group6\.jpg: UNKNOWN \(nearest obama, distance \d\.\d\d\)", line)
               for line in group), group
    assert re.fullmatch(r"obama2\.jpg: Identified obama \(distance 0\.[0-5]\d\)", lines[7])
    assert lines[8:] == ["suit.jpg: no face found"]

    keyless = facegate("client", "test", probes, "--server", server.url)
    assert keyless.returncode == 1
    assert "UNAUTHORIZED" in keyless.stderr and "--api-key" in keyless.stderr
    assert keyless.stdout == ""
    wrong = facegate("client", "test", probes, "--server", server.url, "--api-key", KEY + "x")
    assert wrong.returncode == 1 and "not valid" in wrong.stderr


def test_client_test_without_a_server(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"never sent")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        result = facegate("client", "test", tmp_path, "--server", url)
    assert result.returncode == 2
    assert f"cannot reach the server at {url}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [
    ["enroll", "no-such-photo.jpg", "--data-dir", "data"],
    ["identify", "no-such-photo.jpg", "--data-dir", "data"],
    ["verify", "{photo}", "no-such-photo.jpg", "--data-dir", "data"],
    ["client", "test", "no-such-photo.jpg"],
    ["import", "no-such-photo.jpg", "--data-dir", "data"],
], ids=["enroll", "identify", "verify", "client-test", "import"])
def test_a_missing_path_exits_2_with_a_message(
        command: list[str], tmp_path: Path, faces: Path) -> None:
    args = [a.format(photo=faces / "obama.jpg") for a in command]
    result = facegate(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "no-such-photo.jpg" in result.stderr
    assert re.search(r"does not exist|no such file", result.stderr)
    assert "Traceback" not in result.stderr


def test_enroll_a_broken_zip_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "photos.zip"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip")
    result = facegate("enroll", broken, "--data-dir", tmp_path / "data")
    assert result.returncode == 2
    assert "not a zip file" in result.stderr.lower() and "Traceback" not in result.stderr
