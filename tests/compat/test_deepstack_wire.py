"""The DeepStack dialect's wire rules over real HTTP, on a server with access control on: the
``api_key`` form field holding facegate API keys and their scopes, every error path answering
in DeepStack's own envelope and status (never a 5xx, nothing half-written), Double Take's exact
DeepStack requests and its parsing replayed from its source, and the dialect staying out of
facegate's own /v1 (its OpenAPI, its auth) while being audited like the native routes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, settings_for
from PIL import Image

BOOT = "bootstrap-key-0123456789"
FACE = "/v1/vision/face"
#: Every registry photo fits; a whole body over about 2.7 MB is refused before any route.
LIMIT = 1_000_000


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(settings_for(tmp_path_factory.mktemp("deepstack-wire"),
                                     server={"api_keys": [BOOT]},
                                     image={"max_upload_bytes": LIMIT})).start()
    yield server
    server.stop()


def make_key(http: httpx.Client, *scopes: str) -> dict[str, str]:
    made = http.post("/v1/keys", headers={"X-API-Key": BOOT},
                     json={"name": "-".join(scopes), "scopes": list(scopes)})
    assert made.status_code == 201, made.text
    return {"id": made.json()["id"], "secret": made.json()["secret"]}


@pytest.fixture(scope="module")
def key(http: httpx.Client) -> str:
    """A key like Double Take's: recognize, enrol and read."""
    return make_key(http, "recognize", "enrol", "read")["secret"]


def photo(faces: Path, name: str) -> bytes:
    return (faces / name).read_bytes()


def blank() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 160, 200)).save(out, "JPEG")
    return out.getvalue()


def refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"] == error, body
    assert set(body) == {"success", "error", "duration"}


def post(http: httpx.Client, path: str, data: dict[str, str] | None = None,
         files: list[tuple[str, tuple[str, bytes, str]]] | None = None) -> httpx.Response:
    return http.post(FACE + path, data=data or {}, files=files)


def jpeg(field: str, data: bytes) -> tuple[str, tuple[str, bytes, str]]:
    return field, (f"{field}.jpg", data, "image/jpeg")


def test_the_api_key_field_is_a_facegate_key_with_its_scopes(http: httpx.Client, key: str,
                                                             faces: Path) -> None:
    refused(post(http, "/list"), 401, "Incorrect api key")
    refused(post(http, "/list", {"api_key": "not-a-key"}), 401, "Incorrect api key")
    refused(post(http, "/recognize", {"api_key": "fg_wrong"},
                 [jpeg("image", photo(faces, "obama.jpg"))]), 401, "Incorrect api key")
    assert post(http, "/list", {"api_key": BOOT}).json() == {"success": True, "faces": [],
                                                             "duration": pytest.approx(0, abs=5)}
    assert post(http, "/list", {"api_key": key}).json()["success"] is True
    # facegate's own header is read too, for clients that can set one
    assert http.post(FACE + "/list", headers={"X-API-Key": key}).status_code == 200
    watcher = make_key(http, "recognize")
    refused(post(http, "/register", {"api_key": watcher["secret"], "userid": "obama"},
                 [jpeg("image", photo(faces, "obama.jpg"))]),
            403, "this api key lacks the 'enrol' scope")
    refused(post(http, "/list", {"api_key": watcher["secret"]}), 403,
            "this api key lacks the 'read' scope")
    found = post(http, "", {"api_key": watcher["secret"]}, [jpeg("image", blank())])
    assert found.json()["predictions"] == []
    assert http.delete(f"/v1/keys/{watcher['id']}",
                       headers={"X-API-Key": BOOT}).status_code == 200
    refused(post(http, "", {"api_key": watcher["secret"]}, [jpeg("image", blank())]),
            401, "Incorrect api key")


def test_every_error_path_in_deepstacks_envelope(http: httpx.Client, key: str,
                                                 faces: Path) -> None:
    auth = {"api_key": key}
    obama, not_an_image = photo(faces, "obama.jpg"), b"this is not an image at all"
    for path in ("", "/recognize"):
        refused(post(http, path, auth), 400, "No valid image file found")
        refused(post(http, path, auth, [jpeg("picture", obama)]), 400,
                "No valid image file found")
        refused(post(http, path, auth, [jpeg("image", not_an_image)]), 400, "invalid image")
        refused(post(http, path, {**auth, "min_confidence": "high"}, [jpeg("image", obama)]),
                400, "Invalid value for min_confidence")
        refused(post(http, path, {**auth, "min_confidence": "1.5"}, [jpeg("image", obama)]),
                400, "min_confidence cannot be greater than 1")
    refused(http.post(FACE + "/recognize", headers={"X-API-Key": key},
                      json={"image": "aGVsbG8="}), 400, "No valid image file found")
    refused(http.post(FACE + "/recognize", headers={
        "X-API-Key": key, "Content-Type": "multipart/form-data; boundary=xyz"},
        content=b"--xyz\r\nbroken"), 400, "No valid image file found")
    refused(post(http, "/register", {**auth, "userid": "obama"}), 400,
            "No valid image file found")
    refused(post(http, "/register", auth, [jpeg("image", obama)]), 400, "userid not specified")
    refused(post(http, "/register", {**auth, "userid": "  "}, [jpeg("image", obama)]), 400,
            "userid not specified")
    refused(post(http, "/register", {**auth, "userid": "nobody"}, [jpeg("a", blank())]),
            400, "no face detected")
    refused(post(http, "/delete", auth), 400, "userid not specified")
    refused(post(http, "/match", auth), 400, "No valid image file found")
    refused(post(http, "/match", auth, [jpeg("image1", obama)]), 400,
            "expected two image files, only one found")
    refused(post(http, "/match", auth, [jpeg("a", obama), jpeg("b", obama), jpeg("c", obama)]),
            400, "only two images allowed")
    refused(post(http, "/match", auth, [jpeg("image1", obama), jpeg("image2", blank())]),
            400, "no face found")
    refused(post(http, "/match", auth, [jpeg("image1", obama), jpeg("image2", not_an_image)]),
            400, "invalid image")
    refused(post(http, "/recognize", auth, [jpeg("image", b"\xff" * (LIMIT + 1))]), 413,
            "image too large")
    refused(post(http, "/register", {**auth, "userid": "x"}, [jpeg("image", b"\xff" * LIMIT)
                                                              for _ in range(3)]),
            413, "image too large")  # the body limit's refusal, before the route
    refused(http.get(FACE + "/list"), 405, "Method Not Allowed")
    refused(post(http, "/unknown", auth), 404, "Not Found")
    refused(http.post("/v1/vision/detection", data=auth), 404, "Not Found")  # not face: none
    moved = post(http, "/", auth)  # DeepStack's own path for detect, as gin redirects it
    assert moved.status_code == 307 and moved.headers["location"].endswith(FACE)
    deleted = post(http, "/delete", {**auth, "userid": "never-registered"})
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    assert post(http, "/list", auth).json()["faces"] == []  # nothing was written


def test_register_is_all_or_nothing_and_keeps_every_sample(http: httpx.Client, key: str,
                                                           faces: Path) -> None:
    auth = {"api_key": key}
    # a photo that is no image fails the whole register: no identity is left behind …
    refused(post(http, "/register", {**auth, "userid": "obama"},
                 [jpeg("one", photo(faces, "obama.jpg")), jpeg("two", b"\xff\xd8 broken")]),
            400, "invalid image")
    assert post(http, "/list", auth).json()["faces"] == []
    # … any number of files of any name; faceless ones are skipped, as DeepStack does
    added = post(http, "/register", {**auth, "userid": "obama"},
                 [jpeg("x", photo(faces, "obama.jpg")), jpeg("y", photo(faces, "obama2.jpg")),
                  jpeg("z", blank())])
    assert added.json()["message"] == "face added", added.text
    refused(post(http, "/register", {**auth, "userid": "obama"},
                 [jpeg("image", photo(faces, "obama3.jpg")), jpeg("bad", b"GIF89a")]),
            400, "invalid image")
    again = post(http, "/register", {**auth, "userid": "obama"},
                 [jpeg("image", photo(faces, "obama.jpg"))])  # the same photo once more
    assert again.json()["message"] == "face updated"
    people = http.get("/v1/identities", params={"name": "obama"},
                      headers={"X-API-Key": key}).json()["items"]
    assert [(p["name"], p["face_count"]) for p in people] == [("obama", 2)]
    match = post(http, "/match", auth, [jpeg("image1", photo(faces, "obama3.jpg")),
                                        jpeg("image2", photo(faces, "obama2.jpg"))]).json()
    stranger = post(http, "/match", auth, [jpeg("image1", photo(faces, "obama3.jpg")),
                                           jpeg("image2", photo(faces, "biden.jpg"))]).json()
    assert match["success"] and 0.67 <= match["similarity"] <= 1
    assert 0 <= stranger["similarity"] < 0.67


def double_take_normalize(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Double Take's DeepStack ``normalize`` and ``checks`` (api/src/util/detectors/deepstack.js
    and detectors/actions) with its default ``detect`` settings: match at confidence 60 and box
    area 10000, unknown at confidence 40 and area 0."""
    match_confidence, match_area, unknown_confidence, unknown_area = 60, 10000, 40, 0
    if not data.get("success"):
        return []
    out = []
    for obj in data["predictions"]:
        confidence = round(obj["confidence"] * 100, 2)
        width, height = obj["x_max"] - obj["x_min"], obj["y_max"] - obj["y_min"]
        name = obj["userid"].lower() if confidence >= unknown_confidence else "unknown"
        result = {"name": name, "confidence": confidence,
                  "match": obj["userid"] != "unknown" and confidence >= match_confidence
                  and width * height >= match_area,
                  "box": {"top": obj["y_min"], "left": obj["x_min"], "width": width,
                          "height": height}}
        if name == "unknown" and width * height < unknown_area:
            continue
        checks = []
        if confidence < match_confidence:
            checks.append(f"confidence too low: {confidence} < {match_confidence}")
        if width * height < match_area:
            checks.append(f"box area too low: {width * height} < {match_area}")
        if checks:
            result["checks"] = checks
        out.append(result)
    return out


def test_double_take_train_recognize_remove(live: LiveServer, key: str, faces: Path) -> None:
    """Double Take's three DeepStack requests as it sends them (form-data ``image``, ``userid``,
    ``api_key``), without the 5xx guard: it reads any status (``validateStatus: true``)."""
    with httpx.Client(base_url=live.url, timeout=60) as dt:
        trained = dt.post(f"{FACE}/register", data={"userid": "Biden", "api_key": key},
                          files={"image": ("biden.jpg", photo(faces, "biden.jpg"), "image/jpeg")})
        assert trained.status_code == 200 and trained.json()["message"] == "face added"
        results = {}
        for name in ("biden.jpg", "obama3.jpg", "group6.jpg"):
            answer = dt.post(f"{FACE}/recognize", data={"api_key": key},
                             files={"image": (name, photo(faces, name), "image/jpeg")})
            assert answer.status_code == 200
            results[name] = double_take_normalize(answer.json())
        removed = dt.post(f"{FACE}/delete", data={"userid": "Biden", "api_key": key})
        assert removed.json() == {"success": True, "duration": removed.json()["duration"]}
        gone = dt.post(f"{FACE}/recognize", data={"api_key": key},
                       files={"image": ("b.jpg", photo(faces, "biden.jpg"), "image/jpeg")})
    [biden] = results["biden.jpg"]
    assert biden["name"] == "biden" and biden["match"] is True and "checks" not in biden
    assert biden["confidence"] >= 67
    [obama] = results["obama3.jpg"]
    assert obama["name"] == "obama" and obama["match"] is True
    assert len(results["group6.jpg"]) == 6
    assert not any(face["match"] for face in results["group6.jpg"])
    assert all(face["name"] == "unknown" and face["confidence"] == 0
               for face in results["group6.jpg"])
    assert [p["userid"] for p in gone.json()["predictions"]] == ["unknown"]
    assert gone.json()["count"] == 1 and gone.json()["message"] == "No known faces"


def test_the_dialect_stays_out_of_facegates_own_v1(http: httpx.Client, key: str,
                                                   faces: Path) -> None:
    doc = http.get("/openapi.json").json()
    assert not [path for path in doc["paths"] if path.startswith("/v1/vision")]
    native = http.post("/v1/identify", headers={"X-API-Key": key},
                       files={"image": ("o.jpg", photo(faces, "obama2.jpg"), "image/jpeg")})
    assert native.json()["faces"][0]["identity"]["name"] == "obama"
    refused(http.post(FACE + "/list"), 401, "Incorrect api key")  # not facegate's envelope
    assert http.post("/v1/identify").json()["error"]["code"] == "UNAUTHORIZED"
    rows = http.get("/v1/audit", params={"route": f"{FACE}/recognize"},
                    headers={"X-API-Key": BOOT}).json()["items"]
    named = [row for row in rows if row["status"] == 200 and row["identity_ids"]]
    assert named and named[0]["actor"]["kind"] == "key"


def test_rate_limited_in_deepstacks_envelope_and_switched_off(tmp_path: Path,
                                                               faces: Path) -> None:
    limited = LiveServer(settings_for(tmp_path / "limited", rate={
        "recognize_per_minute": 1, "recognize_burst": 1})).start()
    off = LiveServer(settings_for(tmp_path / "off", compat={"deepstack": False})).start()
    try:
        with limited.client() as http:
            image = [jpeg("image", photo(faces, "obama2.jpg"))]
            assert post(http, "/recognize", files=image).status_code == 200
            second = post(http, "/recognize", files=image)
            refused(second, 429, second.json()["error"])
            assert "too many recognize requests" in second.json()["error"]
            assert int(second.headers["retry-after"]) >= 1
            assert post(http, "/register", {"userid": "obama"}, image).status_code == 200
        with off.client() as http:
            assert http.post(FACE + "/list").status_code == 404
            assert http.get("/healthz").status_code == 200
    finally:
        limited.stop()
        off.stop()
