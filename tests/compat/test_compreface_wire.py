"""CompreFace's wire rules on a server with access control: Double Take's exact requests and its
parsing (api/src/util/detectors/compreface.js), base64 JSON, the query quirks, the embedding
routes, keys given as UUIDs through /v1/keys, and every error path in CompreFace's envelope
and status (the client fails the test on any 5xx), with nothing half-written."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import LiveServer, settings_for
from PIL import Image

BOOT = "compreface-wire-bootstrap-key"
GIVEN = "5d0e6c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"
API = "/api/v1"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(settings_for(tmp_path_factory.mktemp("compreface-wire"),
                                     server={"api_keys": [BOOT]})).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys(http: httpx.Client) -> dict[str, str]:
    """A recognition key given as the operator's UUID, a detection key made as a UUID."""
    boot = {"X-API-Key": BOOT}
    made = http.post("/v1/keys", headers=boot, json={
        "name": "double-take", "scopes": ["recognize", "enrol", "read"], "key": GIVEN.upper()})
    assert made.status_code == 201, made.text
    assert made.json()["secret"] == GIVEN and made.json()["prefix"] == GIVEN[:9]
    again = http.post("/v1/keys", headers=boot, json={
        "name": "again", "scopes": ["recognize"], "key": GIVEN})
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"
    not_uuid = http.post("/v1/keys", headers=boot, json={
        "name": "bad", "scopes": ["recognize"], "key": "x" * 36})
    assert not_uuid.status_code == 422
    detection = http.post("/v1/keys", headers=boot, json={
        "name": "cf-detection", "scopes": ["recognize"], "uuid": True})
    assert detection.status_code == 201, detection.text
    return {"recognition": GIVEN, "detection": detection.json()["secret"]}


def upload(faces: Path, name: str, field: str = "file") -> dict[str, Any]:
    return {field: (name, (faces / name).read_bytes(), "image/jpeg")}


def no_face_jpeg() -> bytes:
    """A real JPEG of a smooth gradient: decodable, with no face in it."""
    ramp = np.linspace(0, 255, 320, dtype=np.uint8)
    pixels = np.stack([np.tile(ramp, (240, 1))] * 3, axis=-1)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


def area(box: dict[str, int]) -> int:
    return (box["x_max"] - box["x_min"]) * (box["y_max"] - box["y_min"])


def refused(response: httpx.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "code"} and body["code"] == code, body
    return str(body["message"])


# Double Take --------------------------------------------------------------------------------

def double_take(data: dict[str, Any], *, match: float = 60, unknown: float = 40,
                min_area: int = 10000) -> list[dict[str, Any]]:
    """Double Take's ``normalize`` for CompreFace with its default config (match 60 and
    min_area 10000, unknown 40): similarity x 100 to two decimals, the box's area."""
    if "result" not in data:
        if data.get("code") == 28:
            return []
        raise AssertionError(data["message"])
    out = []
    for obj in data["result"]:
        face = obj["subjects"][0] if obj["subjects"] else None
        confidence = float(f"{face['similarity'] * 100:.2f}") if face else 0.0
        box = obj["box"]
        area = (box["x_max"] - box["x_min"]) * (box["y_max"] - box["y_min"])
        out.append({"name": face["subject"].lower() if face and confidence >= unknown
                    else "unknown", "confidence": confidence,
                    "match": confidence >= match and area >= min_area})
    return out


def test_double_take_trains_recognizes_and_removes(http: httpx.Client, keys: dict[str, str],
                                                   faces: Path) -> None:
    header = {"x-api-key": keys["recognition"]}
    for photo in ("obama.jpg", "obama2.jpg"):  # train: POST faces?subject=, axios throws on 4xx
        trained = http.post(f"{API}/recognition/faces", params={"subject": "Barack"},
                            headers=header, files=upload(faces, photo))
        assert trained.status_code == 201, trained.text

    def recognize(name: str, data: bytes | None = None) -> list[dict[str, Any]]:
        body = data if data is not None else (faces / name).read_bytes()
        answer = http.post(  # Double Take's URL: face_plugins in it, axios' params appended
            f"{API}/recognition/recognize?face_plugins=undefined&det_prob_threshold=0.8",
            headers=header, files={"file": (name, body, "image/jpeg")})
        assert answer.status_code in (200, 400), answer.text
        return double_take(answer.json())

    (known,) = recognize("obama3.jpg")
    assert known["name"] == "barack" and known["match"] and known["confidence"] >= 80
    (stranger,) = recognize("biden.jpg")
    assert not stranger["match"] and stranger["confidence"] < 60
    crowd = recognize("group6.jpg")
    assert len(crowd) >= 4 and not any(face["match"] for face in crowd)
    assert recognize("empty.jpg", no_face_jpeg()) == []  # code 28: no face, not an error
    removed = http.delete(f"{API}/recognition/faces", params={"subject": "Barack"},
                          headers=header)
    assert removed.status_code == 200 and removed.json() == {"deleted": 2}
    assert http.get(f"{API}/recognition/faces", headers=header).json()["total_elements"] == 0
    http.delete(f"{API}/recognition/subjects", headers=header)


# the wire rules ------------------------------------------------------------------------------

def test_base64_query_quirks_plugins_and_embeddings(http: httpx.Client, keys: dict[str, str],
                                                    faces: Path) -> None:
    header = {"x-api-key": keys["recognition"]}
    b64 = {n: base64.b64encode((faces / n).read_bytes()).decode() for n in
           ("obama.jpg", "obama3.jpg", "biden.jpg")}
    added = http.post(f"{API}/recognition/faces?subject=Obama", headers=header,
                      json={"file": b64["obama.jpg"]})
    assert added.status_code == 201, added.text
    image_id = added.json()["image_id"]
    again = http.post(f"{API}/recognition/faces?subject=Obama", headers=header,
                      json={"file": b64["obama.jpg"]})
    assert again.json()["image_id"] == image_id  # the same photo twice: one example

    found = http.post(  # the SDK's "?&" start; booleans as text; unknown plugins ignored
        f"{API}/recognition/recognize?&status=True&face_plugins=age,undefined,calculator,mask"
        "&limit=0&prediction_count=3&det_prob_threshold=0.5", headers=header,
        json={"file": b64["obama3.jpg"]})
    assert found.status_code == 200, found.text
    (face,) = found.json()["result"]
    assert face["subjects"] == [{"subject": "Obama", "similarity": face["subjects"][0][
        "similarity"]}] and face["subjects"][0]["similarity"] >= 0.6
    assert len(face["embedding"]) == 128 and not {"age", "mask", "landmarks"} & set(face)
    assert "execution_time" in face and "plugins_versions" in found.json()
    quiet = http.post(f"{API}/recognition/recognize?status=false", headers=header,
                      json={"file": b64["obama3.jpg"]}).json()
    assert "plugins_versions" not in quiet and "execution_time" not in quiet["result"][0]

    crowd = http.post(f"{API}/recognition/recognize?limit=2", headers=header,
                      files=upload(faces, "group6.jpg")).json()["result"]
    everyone = http.post(f"{API}/detection/detect", headers={"x-api-key": keys["detection"]},
                         files=upload(faces, "group6.jpg")).json()["result"]
    areas = sorted((area(f["box"]) for f in everyone), reverse=True)
    assert len(crowd) == 2 and len(everyone) > 2  # limit: the biggest faces
    assert sorted(area(f["box"]) for f in crowd) == sorted(areas[:2])

    embedding = face["embedding"]
    matched = http.post(f"{API}/recognition/embeddings/recognize", headers=header,
                        json={"embeddings": [embedding]}).json()["result"][0]
    assert matched["similarities"][0]["subject"] == "Obama"
    assert matched["similarities"][0]["similarity"] >= 0.6
    by_id = http.post(f"{API}/recognition/embeddings/faces/{image_id}/verify", headers=header,
                      json={"embeddings": [embedding]}).json()["result"]
    assert by_id[0]["similarity"] >= 0.6
    detection = {"x-api-key": keys["detection"]}
    stranger = http.post(f"{API}/detection/detect?face_plugins=calculator", headers=detection,
                         json={"file": b64["biden.jpg"]}).json()["result"][0]["embedding"]
    pair = http.post(f"{API}/verification/embeddings/verify", headers=detection,
                     json={"source": embedding, "targets": [embedding, stranger]}).json()
    assert pair["result"][0]["similarity"] == 1.0 and pair["result"][1]["similarity"] < 0.6
    two = http.post(f"{API}/verification/verify", headers=detection, json={
        "source_image": b64["obama.jpg"], "target_image": b64["obama3.jpg"]}).json()
    assert two["result"][0]["face_matches"][0]["similarity"] >= 0.6

    chip = http.get(f"{API}/recognition/faces/{image_id}/img", headers=header)
    assert chip.status_code == 200 and chip.content[:2] == b"\xff\xd8"
    page = http.get(f"{API}/recognition/faces?page=0&size=1&subject=Obama", headers=header)
    assert page.json()["faces"] == [{"image_id": image_id, "subject": "Obama"}]
    http.delete(f"{API}/recognition/subjects", headers=header)


def test_rename_onto_an_existing_subject_merges(http: httpx.Client, keys: dict[str, str],
                                                faces: Path) -> None:
    header = {"x-api-key": keys["recognition"]}
    for subject, photo in (("Barack", "obama.jpg"), ("Obama", "obama2.jpg")):
        assert http.post(f"{API}/recognition/faces", params={"subject": subject},
                         headers=header, files=upload(faces, photo)).status_code == 201
    merged = http.put(f"{API}/recognition/subjects/Barack", headers=header,
                      json={"subject": "Obama"})
    assert merged.json() == {"updated": True}
    assert http.get(f"{API}/recognition/subjects", headers=header).json() == {
        "subjects": ["Obama"]}
    listed = http.get(f"{API}/recognition/faces?subject=Obama", headers=header).json()
    assert listed["total_elements"] == 2
    (face,) = http.post(f"{API}/recognition/recognize", headers=header,
                        files=upload(faces, "obama3.jpg")).json()["result"]
    assert face["subjects"][0]["subject"] == "Obama"
    http.delete(f"{API}/recognition/subjects", headers=header)


# every error path ----------------------------------------------------------------------------

def test_every_error_is_compreface_shaped_and_writes_nothing(
        http: httpx.Client, keys: dict[str, str], faces: Path) -> None:
    header = {"x-api-key": keys["recognition"]}
    recognize = f"{API}/recognition/recognize"
    refused(http.post(recognize, files=upload(faces, "obama.jpg")), 400, 20)
    refused(http.get(f"{API}/recognition/subjects"), 400, 20)
    for wrong in ("00000000-0000-4000-8000-000000000000", "not-a-key", BOOT + "x"):
        refused(http.post(recognize, headers={"x-api-key": wrong},
                          files=upload(faces, "obama.jpg")), 404, 10)
    refused(http.get(f"{API}/recognition/subjects",  # a detection key: recognize only
                     headers={"x-api-key": keys["detection"]}), 404, 10)

    assert "file" in refused(http.post(recognize, headers=header, json={}), 400, 34)
    refused(http.post(recognize, headers=header, files={"file": (None, b"text, not a part")}),
            400, 34)
    refused(http.post(recognize, headers=header, files=upload(faces, "obama.jpg", "image")),
            400, 26)
    refused(http.post(recognize, headers=header, json={"file": "%%% not base64"}), 400, 26)
    refused(http.post(recognize, headers=header,
                      files={"file": ("x.jpg", b"\xff\xd8 not really", "image/jpeg")}), 400, 21)
    assert refused(http.post(recognize, headers=header,
                             files={"file": ("e.jpg", no_face_jpeg(), "image/jpeg")}),
                   400, 28) == "No face is found in the given image"
    for query, code in (("limit=abc", 26), ("prediction_count=0", 12),
                        ("det_prob_threshold=2", 26), ("status=maybe", 26)):
        refused(http.post(f"{recognize}?{query}", headers=header,
                          files=upload(faces, "obama.jpg")), 400, code)
    refused(http.post(f"{recognize}?det_prob_threshold=0.99999", headers=header,
                      files=upload(faces, "obama.jpg")), 400, 28)  # no face that sure

    # enrolment refused: no subject is created, no example is stored
    add = f"{API}/recognition/faces"
    refused(http.post(add, params={"subject": "Nobody"}, headers=header,
                      files={"file": ("e.jpg", no_face_jpeg(), "image/jpeg")}), 400, 28)
    refused(http.post(add, params={"subject": "Crowd"}, headers=header,
                      files=upload(faces, "group6.jpg")), 400, 31)
    refused(http.post(add, params={"subject": "Broken"}, headers=header,
                      files={"file": ("x.jpg", b"GIF89a broken", "image/gif")}), 400, 21)
    refused(http.post(add, headers=header, files=upload(faces, "obama.jpg")), 400, 26)
    assert http.get(f"{API}/recognition/subjects", headers=header).json() == {"subjects": []}
    assert http.get("/v1/identities", headers={"X-API-Key": BOOT}).json()["total"] == 0

    refused(http.post(f"{API}/recognition/subjects", headers=header, content=b"{not json",
                      ), 400, 26)
    refused(http.post(f"{API}/recognition/subjects", headers=header, json={"subject": ""}),
            400, 26)
    assert http.post(f"{API}/recognition/subjects", headers=header,
                     json={"subject": "Once"}).status_code == 201
    refused(http.post(f"{API}/recognition/subjects", headers=header, json={"subject": "Once"}),
            400, 43)
    for method, path in (("DELETE", "/recognition/subjects/Nobody"),
                         ("GET", "/recognition/faces?subject=Nobody"),
                         ("DELETE", "/recognition/faces?subject=Nobody")):
        refused(http.request(method, API + path, headers=header), 404, 42)
    refused(http.put(f"{API}/recognition/subjects/Nobody", headers=header,
                     json={"subject": "Somebody"}), 404, 42)
    for image in ("3f2b8c1e-0000-4000-8000-000000000000", "not-a-uuid"):
        refused(http.delete(f"{API}/recognition/faces/{image}", headers=header), 404, 11)
        refused(http.get(f"{API}/recognition/faces/{image}/img", headers=header), 404, 11)
        refused(http.post(f"{API}/recognition/faces/{image}/verify", headers=header,
                          files=upload(faces, "obama.jpg")), 404, 11)
    assert http.post(f"{API}/recognition/faces/delete", headers=header,
                     json=["not-a-uuid"]).json() == []
    refused(http.post(f"{API}/recognition/embeddings/recognize", headers=header,
                      json={"embeddings": [[0.1] * 12]}), 400, 26)
    detection = {"x-api-key": keys["detection"]}
    refused(http.post(f"{API}/verification/verify", headers=detection,
                      files=upload(faces, "obama.jpg", "source_image")), 400, 34)
    refused(http.post(f"{API}/verification/verify", headers=detection, files={
        **upload(faces, "group6.jpg", "source_image"),
        **upload(faces, "obama.jpg", "target_image")}), 400, 31)
    refused(http.post(f"{API}/detection/detect", headers=detection,
                      files={"file": ("e.jpg", no_face_jpeg(), "image/jpeg")}), 400, 28)
    http.delete(f"{API}/recognition/subjects", headers=header)


def test_dialect_calls_are_audited_like_the_native_ones(http: httpx.Client,
                                                        keys: dict[str, str],
                                                        faces: Path) -> None:
    header = {"x-api-key": keys["recognition"]}
    assert http.post(f"{API}/recognition/faces?subject=Audited", headers=header,
                     files=upload(faces, "obama.jpg")).status_code == 201
    refused(http.post(f"{API}/recognition/recognize", headers=header,
                      files={"file": ("e.jpg", no_face_jpeg(), "image/jpeg")}), 400, 28)
    enrol = newest(http, "POST", f"{API}/recognition/faces", 201)
    assert enrol["actor"]["name"] == "double-take" and enrol["actor"]["kind"] == "key"
    assert enrol["identity_ids"] and "face_id" in enrol["details"]
    failed = newest(http, "POST", f"{API}/recognition/recognize", 400)
    assert failed["error_code"] == "NO_FACE_FOUND" and failed["details"]["compreface_code"] == 28
    http.delete(f"{API}/recognition/subjects", headers=header)


def newest(http: httpx.Client, method: str, route: str, status: int) -> dict[str, Any]:
    """The newest audit row of that request (the writer commits every ~100 ms)."""
    deadline = time.monotonic() + 10
    while True:
        items = http.get("/v1/audit", headers={"X-API-Key": BOOT},
                         params={"limit": 1000}).json()["items"]
        found = [i for i in items if (i["method"], i["route"], i["status"])
                 == (method, route, status)]
        if found or time.monotonic() > deadline:
            assert found, f"no audit row for {method} {route} {status}"
            return dict(found[0])
        time.sleep(0.05)
