"""Inputs that used to crash or poison the server (issue 12), over real HTTP with real bytes.

Each test sends what an independent test pass sent and checks the answer a client reads: a 4xx
with a stable code, and a gallery that still answers afterwards (across a restart for what is
stored). The ``client`` of every live server fails the test on any 5xx by itself.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, facegate_command, settings_for
from PIL import Image

from api.test_bad_input import error
from facegate.config import Settings

TINY_SIZES = [(1, 1), (5, 5), (9, 9), (11, 11), (320, 10), (10, 320), (6, 320)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hardening")


@pytest.fixture(scope="module")
def http(data_dir: Path) -> Iterator[httpx.Client]:
    server = LiveServer(settings_for(data_dir)).start()
    with server.client() as client:
        yield client
    server.stop()


@pytest.fixture(scope="module")
def obama(http: httpx.Client, faces: Path) -> str:
    identity_id: str = http.post("/v1/identities", json={"name": "obama"}).json()["id"]
    added = http.post(f"/v1/identities/{identity_id}/faces",
                      files={"image": ("obama.jpg", (faces / "obama.jpg").read_bytes())})
    assert added.status_code == 201, added.text
    return identity_id


def png(width: int, height: int, grey: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (grey, grey, grey)).save(buffer, "PNG")
    return buffer.getvalue()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# 1. tiny images


@pytest.mark.parametrize(("width", "height"), TINY_SIZES)
def test_tiny_images_have_no_face_on_every_photo_endpoint(
        http: httpx.Client, obama: str, width: int, height: int) -> None:
    image = {"image": ("tiny.png", png(width, height))}
    for path in ("/v1/identify", "/v1/embed", f"/v1/identities/{obama}/faces"):
        error(http.post(path, files=image), 422, "NO_FACE_FOUND")
    error(http.post("/v1/verify", files=image, data={"identity_id": obama}), 422,
          "NO_FACE_FOUND")
    detected = http.post("/v1/detect", files=image)
    assert detected.status_code == 200 and detected.json()["faces"] == [], detected.text


def test_flat_grey_strip_has_no_faces(http: httpx.Client) -> None:
    """dlib's CNN once reported two 'faces' (score 126, landmarks outside) in this image."""
    for size in ((10, 320), (320, 10), (24, 320)):
        detected = http.post("/v1/detect", files={"image": ("grey.png", png(*size))})
        assert detected.json()["faces"] == [], (size, detected.text)


def test_tiny_frames_are_a_liveness_verdict_not_a_crash(http: httpx.Client) -> None:
    frames = [("frames", (f"{i}.png", png(8, 8), "image/png")) for i in range(4)]
    checked = http.post("/v1/liveness/blink", files=frames)
    assert checked.status_code in (200, 422), checked.text
    if checked.status_code == 200:
        assert checked.json()["live"] is False


def test_the_server_still_finds_faces_after_tiny_images(
        http: httpx.Client, obama: str, faces: Path) -> None:
    for size in TINY_SIZES:
        http.post("/v1/detect", files={"image": ("tiny.png", png(*size))})
    named = http.post("/v1/identify", files={"image": ("o.jpg",
                                                       (faces / "obama2.jpg").read_bytes())})
    assert named.status_code == 200
    assert named.json()["faces"][0]["identity"]["identity_id"] == obama


def test_cli_enrol_refuses_the_tiny_photo_and_enrols_the_rest(
        tmp_path: Path, faces: Path) -> None:
    people = tmp_path / "people"
    (people / "obama").mkdir(parents=True)
    (people / "obama" / "a.jpg").write_bytes((faces / "obama.jpg").read_bytes())
    (people / "tiny").mkdir()
    (people / "tiny" / "t.png").write_bytes(png(5, 5))
    (people / "biden").mkdir()
    (people / "biden" / "b.jpg").write_bytes((faces / "biden.jpg").read_bytes())
    result = subprocess.run([*facegate_command(), "enroll", str(people), "--data-dir",
                             str(tmp_path / "data")], capture_output=True, text=True,
                            timeout=300, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "NO_FACE_FOUND" in out and "Traceback" not in out
    assert "3 photos: 2 enrolled, 1 refused" in out


# 2. metadata that cannot be written back is never stored

POISON: list[tuple[str, str]] = [
    ("deep", '{"name": "x", "metadata": {"a": ' + nested(900) + "}}"),
    ("lone surrogate key", '{"name": "x", "metadata": {"\\ud800": 1}}'),
    ("lone surrogate value", '{"name": "x", "metadata": {"k": "\\udc80"}}'),
    ("lone surrogate name", '{"name": "\\ud800x"}'),
    ("lone surrogate external id", '{"name": "x", "external_id": "\\ud800"}'),
    ("NUL in a name", '{"name": "a\\u0000b"}'),
    ("NUL in metadata", '{"name": "x", "metadata": {"k\\u0000": "v"}}'),
    ("NaN", '{"name": "x", "metadata": {"k": NaN}}'),
    ("Infinity", '{"name": "x", "metadata": {"k": [Infinity]}}'),
    ("too large", json.dumps({"name": "x", "metadata": {"k": "v" * 70_000}})),
    ("deeper than the JSON parser goes", '{"name": "x", "metadata": ' + nested(6000) + "}"),
]


@pytest.mark.parametrize(("what", "body"), POISON, ids=[p[0] for p in POISON])
def test_metadata_that_cannot_be_written_back_is_refused(
        http: httpx.Client, data_dir: Path, what: str, body: str) -> None:
    headers = {"content-type": "application/json"}
    before = http.get("/v1/identities").json()["total"]
    error(http.post("/v1/identities", content=body, headers=headers), 422, "VALIDATION_ERROR")
    assert http.get("/v1/identities").json()["total"] == before
    created = http.post("/v1/identities", json={"name": "patched"}).json()["id"]
    patch = body.replace('"name": "x", ', "")
    error(http.patch(f"/v1/identities/{created}", content=patch, headers=headers), 422,
          "VALIDATION_ERROR")
    listed = http.get("/v1/identities", params={"limit": 1000})
    assert listed.status_code == 200
    assert http.get(f"/v1/identities/{created}").json()["metadata"] == {}


def test_metadata_within_the_limits_round_trips(http: httpx.Client) -> None:
    metadata = {"team": "blue", "badge": 1234, "ok": True, "tags": ["a", "é", "😀"],
                "deep": json.loads('{"a": ' * 14 + "1" + "}" * 14)}
    created = http.post("/v1/identities", json={"name": "Zoë", "metadata": metadata})
    assert created.status_code == 201, created.text
    assert http.get(f"/v1/identities/{created.json()['id']}").json()["metadata"] == metadata


# 7. request parsing


def test_lone_surrogates_in_request_fields_are_refused(
        http: httpx.Client, faces: Path) -> None:
    image = base64.b64encode((faces / "obama.jpg").read_bytes()).decode()
    body = '{"image": "' + image + '", "identity_id": "\\ud800"}'
    err = error(http.post("/v1/verify", content=body,
                          headers={"content-type": "application/json"}), 422, "VALIDATION_ERROR")
    assert err["details"]["problems"][0]["field"] == "identity_id"


def test_an_error_that_echoes_odd_text_is_still_written(http: httpx.Client) -> None:
    for path in ("/v1/identities/%ED%A0%80", "/v1/identities/x%00y/faces", "/v1/models/%ED%A0"):
        assert http.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/v1/identify", "/v1/verify", "/v1/detect", "/v1/embed",
                                  "/v1/liveness/blink", "/v1/identify?liveness=blink"])
def test_json_nested_too_deep_is_a_validation_error(http: httpx.Client, path: str) -> None:
    body = '{"image": "aGk=", "threshold": ' + nested(5000) + "}"
    error(http.post(path, content=body, headers={"content-type": "application/json"}), 422,
          "VALIDATION_ERROR")


def test_deep_json_in_a_multipart_field_is_a_validation_error(
        http: httpx.Client, faces: Path) -> None:
    image = {"image": ("o.jpg", (faces / "obama.jpg").read_bytes())}
    error(http.post("/v1/verify", files=image, data={"descriptor": nested(5000)}), 422,
          "VALIDATION_ERROR")


@pytest.mark.parametrize("fields", [{"threshold": True}, {"threshold": False},
                                    {"top_k": True}])
def test_booleans_are_not_numbers(http: httpx.Client, faces: Path, fields: dict[str, Any]) -> None:
    image = base64.b64encode((faces / "obama.jpg").read_bytes()).decode()
    err = error(http.post("/v1/identify", json={"image": image, **fields}), 422,
                "VALIDATION_ERROR")
    assert err["details"]["problems"][0]["field"] == next(iter(fields))


def test_a_descriptor_of_booleans_is_refused(http: httpx.Client, obama: str) -> None:
    error(http.post(f"/v1/identities/{obama}/faces", json={"descriptor": [True] * 128}), 422,
          "VALIDATION_ERROR")


@pytest.mark.parametrize("offset", [2**31, 2**63, 2**64 + 5])
def test_offsets_past_the_limit_are_refused(http: httpx.Client, offset: int) -> None:
    error(http.get("/v1/identities", params={"offset": offset}), 422, "VALIDATION_ERROR")


def test_the_largest_offset_is_an_empty_page(http: httpx.Client) -> None:
    page = http.get("/v1/identities", params={"offset": 2**31 - 1})
    assert page.status_code == 200 and page.json()["items"] == []


def test_a_refused_api_key_is_never_printed(tmp_path: Path) -> None:
    secret = "first-key-that-is-long-enough"
    result = subprocess.run([*facegate_command(), "serve", "--data-dir", str(tmp_path),
                             "--api-key", secret, "--api-key", "tiny7"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    out = result.stdout + result.stderr
    assert "at least 8 characters" in out and secret not in out and "tiny7" not in out


def test_api_keys_from_a_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# the camera's key\nfile-key-0123456789\n\n  other-key-0123456789 \n")
    settings = Settings(data_dir=tmp_path, server={"api_keys_file": keys,
                                                   "api_keys": ["given-key-012345"]})
    assert [k.get_secret_value() for k in settings.server.api_keys] == [
        "given-key-012345", "file-key-0123456789", "other-key-0123456789"]
    keys.write_text("tiny\n")
    with pytest.raises(ValueError, match="at least 8") as refused:
        Settings(data_dir=tmp_path, server={"api_keys_file": keys})
    assert "tiny" not in str(refused.value)
