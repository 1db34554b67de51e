"""The acceptance check on ``../shared/faces``: the "Known/ + Test/ → client" workflow.

Enrol ``everyday/knn_examples/train`` with ``facegate enroll``, serve it with ``facegate serve``,
and ask ``facegate client test`` about every photo in ``knn_examples/test``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_inprocess import facegate
from conftest import free_port, spawn_server

pytestmark = pytest.mark.shared

LINE = re.compile(r"^(\S+): (?:Identified (\S+) \(distance (\d\.\d\d)\)|"
                  r"UNKNOWN \(nearest (\S+), distance (\d\.\d\d)\))$")
#: Who must be named in each test photo; any other face in it must be UNKNOWN.
EXPECTED = {
    "obama1.jpg": ["obama"],
    "alex_lacamoire1.jpg": ["alex_lacamoire"],
    "johnsnow_test1.jpg": ["kit_harington"],
    "obama_and_biden.jpg": ["biden", "obama"],
    "kit_with_rose.jpg": ["kit_harington", "rose_leslie"],
}


@pytest.fixture(scope="module")
def knn_server(shared_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``facegate serve`` on a gallery enrolled from knn_examples/train by ``facegate enroll``."""
    data = tmp_path_factory.mktemp("knn")
    enrolled = facegate("enroll", shared_faces / "everyday/knn_examples/train", "--data-dir", data)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    assert "9 photos: 9 enrolled, 0 refused, 0 already enrolled; gallery: 5 identities, " \
           "9 faces" in enrolled.stdout
    port = free_port()
    server = spawn_server(data, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()


def test_client_test_names_everyone_in_the_knn_test_photos(
        knn_server: str, shared_faces: Path) -> None:
    result = facegate("client", "test", shared_faces / "everyday/knn_examples/test",
                      "--server", knn_server)
    assert result.returncode == 0, result.stderr
    named: dict[str, list[str]] = {photo: [] for photo in EXPECTED}
    unknown: dict[str, int] = dict.fromkeys(EXPECTED, 0)
    for line in result.stdout.splitlines():
        parsed = LINE.match(line)
        assert parsed, f"not a face line: {line!r}"
        photo, name, distance, nearest, nearest_distance = parsed.groups()
        if name:
            assert float(distance) <= 0.6, line
            named[photo].append(name)
        else:
            assert float(nearest_distance) > 0.6, line
            unknown[photo] += 1
    assert {photo: sorted(names) for photo, names in named.items()} == EXPECTED
    # Every face not named above was reported, as UNKNOWN (obama_and_biden.jpg has a third).
    assert sum(unknown.values()) >= 1, result.stdout


def test_a_gallery_of_only_biden_does_not_name_obama(
        shared_faces: Path, tmp_path: Path) -> None:
    everyday = shared_faces / "everyday"
    enrolled = facegate("enroll", everyday / "biden.jpg", "--data-dir", tmp_path)
    assert enrolled.returncode == 0, enrolled.stderr
    result = facegate("identify", everyday / "obama.jpg", "--data-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    line = re.fullmatch(r"obama\.jpg: UNKNOWN \(nearest biden, distance (\d\.\d\d)\)\n",
                        result.stdout)
    assert line and float(line[1]) > 0.6, result.stdout


def test_no_face_is_found_in_any_negative(knn_server: str, shared_faces: Path,
                                          tmp_path: Path) -> None:
    negatives = sorted(p for p in (shared_faces / "negatives").iterdir()
                       if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    assert len(negatives) >= 20
    with httpx.Client(base_url=knn_server, timeout=120) as http:
        for photo in negatives:
            response = http.post("/v1/identify",
                                 files={"image": (photo.name, photo.read_bytes())})
            assert response.status_code == 422, f"{photo.name}: {response.text}"
            assert response.json()["error"]["code"] == "NO_FACE_FOUND", photo.name
    # and the same answer from the command line, which runs the pipeline in its own process
    behind = negatives[[p.name for p in negatives].index("darknet_person_face_not_visible.jpg")]
    cli = facegate("identify", behind, "--data-dir", tmp_path)
    assert cli.returncode == 0 and cli.stdout == f"{behind.name}: no face found\n"
