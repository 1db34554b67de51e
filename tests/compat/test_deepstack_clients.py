"""The DeepStack dialect driven by DeepStack's own client libraries from the registry
(``deepstack-python``, which Home Assistant's DeepStack face component uses, and
``deepstack-sdk``), in their own venv, against a real facegate on real faces: every face method
of each (the SDK's video ones too), the right userids back, strangers ``unknown`` (confidence
0, under DeepStack's 0.67) also at the Home Assistant component's looser ``min_confidence`` of
0.45. One open server for the module; each client's calls run as one script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LiveServer, settings_for

from compat.conftest import run_client
from facegate.api.compat.similarity import DEEPSTACK_AT_THRESHOLD

PYTHON_CLIENT = r"""
import json, sys
import deepstack.core as ds
port, faces = int(sys.argv[1]), sys.argv[2]
def photo(name):
    return open(f"{faces}/{name}", "rb").read()
# as Home Assistant's deepstack_face component builds it (api_key "" when none is configured)
face = ds.DeepstackFace(ip="127.0.0.1", port=port, api_key="", timeout=60)
out = {"added": face.register("obama", photo("obama.jpg")),
       "updated": face.register("obama", photo("obama2.jpg")),
       "listed": face.get_registered_faces()}
out["obama3"] = face.recognize(photo("obama3.jpg"))
out["biden"] = face.recognize(photo("biden.jpg"))
out["group"] = face.recognize(photo("group6.jpg"))
out["matched"] = ds.get_recognized_faces(out["obama3"] + out["biden"] + out["group"])
out["detected"] = face.detect(photo("group6.jpg"))
import io
from PIL import Image
blank = io.BytesIO()
Image.new("RGB", (320, 240), (120, 160, 200)).save(blank, "JPEG")
try:
    face.register("nobody", blank.getvalue())
    out["no_face"] = "registered"
except ds.DeepstackException as exc:
    out["no_face"] = str(exc)
wrong = ds.DeepstackFace(ip="127.0.0.1", port=port, api_key="not-a-key", timeout=60)
try:
    wrong.recognize(photo("obama3.jpg"))
    out["wrong_key"] = "answered"
except ds.DeepstackException as exc:
    out["wrong_key"] = str(exc)
print(json.dumps(out))
"""

SDK_CLIENT = r"""
import json, sys
from deepstack_sdk import ServerConfig, Face
url, faces, work = sys.argv[1], sys.argv[2], sys.argv[3]
face = Face(ServerConfig(url))
out = {"registered": face.registerFace([f"{faces}/biden.jpg"], "biden"),
       "two_photos": face.registerFace([f"{faces}/obama3.jpg", f"{faces}/obama.jpg"], "obama"),
       "listed": list(face.listFaces())}
def rows(found):
    return [{"userid": d.userid, "confidence": d.confidence,
             "box": [d.x_min, d.y_min, d.x_max, d.y_max]} for d in found]
out["biden"] = rows(face.recognizeFace(f"{faces}/biden.jpg"))
out["obama"] = rows(face.recognizeFace(f"{faces}/obama2.jpg", min_confidence=0.67))
out["detected"] = [d.confidence for d in face.detectFace(f"{faces}/group6.jpg")]
# the video methods post every frame to detect / recognize (``output`` is required: without it
# the SDK's loop writes to a writer it never made)
import cv2
frame = cv2.resize(cv2.imread(f"{faces}/obama2.jpg"), (320, 612))
clip = f"{work}/clip.avi"
writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 612))
for _ in range(3):
    writer.write(frame)
writer.release()
codec = cv2.VideoWriter_fourcc(*"MJPG")
seen = face.recognizeFaceVideo(clip, output=f"{work}/named.avi", codec=codec, min_confidence=0.67)
out["video"] = {str(k): [d.userid for d in v] for k, v in seen.items()}
found = face.detectFaceVideo(clip, output=f"{work}/boxes.avi", codec=codec)
out["video_faces"] = {str(k): len(v) for k, v in found.items()}
out["deleted"] = face.deleteFace("biden")
out["deleted_absent"] = face.deleteFace("nobody-at-all")
out["after"] = list(face.listFaces())
out["biden_after"] = rows(face.recognizeFace(f"{faces}/biden.jpg"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(settings_for(tmp_path_factory.mktemp("deepstack-clients"))).start()
    yield server
    server.stop()


def _only(predictions: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(predictions) == 1, predictions
    return predictions[0]


def test_deepstack_python_as_home_assistant_uses_it(live: LiveServer, client_python: Path,
                                                    faces: Path) -> None:
    port = live.url.rsplit(":", 1)[1]
    out = run_client(client_python, PYTHON_CLIENT, port, str(faces))
    assert out["added"] == "face added" and out["updated"] == "face updated"
    assert out["listed"] == ["obama"]
    obama = _only(out["obama3"])
    assert obama["userid"] == "obama" and DEEPSTACK_AT_THRESHOLD <= obama["confidence"] <= 1
    assert obama["x_min"] < obama["x_max"] and obama["y_min"] < obama["y_max"]
    # strangers stay unknown although the component asks for min_confidence 0.45
    biden = _only(out["biden"])
    assert biden["userid"] == "unknown" and biden["confidence"] == 0
    assert len(out["group"]) == 6
    assert all(p["userid"] == "unknown" and p["confidence"] == 0 for p in out["group"])
    assert out["matched"] == {"obama": round(obama["confidence"] * 100, 1)}
    assert len(out["detected"]) == 6
    assert all(0.8 <= p["confidence"] <= 1 and set(p) >= {"x_min", "y_min", "x_max", "y_max"}
               for p in out["detected"])
    assert out["no_face"] == "Error from Deepstack request, status code: 400"
    assert out["wrong_key"] == "Error from Deepstack request, status code: 401"


def test_deepstack_sdk_every_face_method(live: LiveServer, client_python: Path, faces: Path,
                                         tmp_path: Path) -> None:
    out = run_client(client_python, SDK_CLIENT, live.url, str(faces), str(tmp_path))
    assert out["registered"] is True and out["two_photos"] is True
    assert sorted(out["listed"]) == ["biden", "obama"]
    biden = _only(out["biden"])
    assert biden["userid"] == "biden" and biden["confidence"] >= 0.7  # the SDK's own default
    assert _only(out["obama"])["userid"] == "obama"
    assert len(out["detected"]) == 6
    assert out["video"] == {"0": ["obama"], "1": ["obama"], "2": ["obama"]}
    assert out["video_faces"] == {"0": 1, "1": 1, "2": 1}
    assert out["deleted"] is True and out["deleted_absent"] is True
    assert out["after"] == ["obama"]
    assert _only(out["biden_after"]) | {"box": None} == {"userid": "unknown", "confidence": 0,
                                                         "box": None}
    with live.client() as http:  # facegate kept every photo as its own sample
        people = http.get("/v1/identities", params={"name": "obama"}).json()["items"]
    assert [(p["name"], p["face_count"]) for p in people] == [("obama", 3)]
