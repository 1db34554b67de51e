"""``detection.detector = blazeface`` over real HTTP: the faces HOG finds, the same descriptors.

One live server with BlazeFace (full-range, 2x2 tiles); the HOG descriptors it is compared with
come from an in-process face reader with the HOG defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import LiveServer, settings_for

from facegate.bootstrap import face_reader
from facegate.config import Settings
from facegate.domain import Timings

NEGATIVES = Path(__file__).resolve().parents[2].parent / "shared" / "faces" / "negatives"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Iterator[httpx.Client]:
    settings = settings_for(tmp_path_factory.mktemp("blazeface"),
                            detection={"detector": "blazeface"})
    server = LiveServer(settings).start()
    with server.client() as client:
        obama = client.post("/v1/identities", json={"name": "obama"}).json()
        added = client.post(f"/v1/identities/{obama['id']}/faces",
                            files=upload(faces, "obama.jpg"))
        assert added.status_code == 201, added.text
        yield client
    server.stop()


def upload(faces: Path, name: str) -> dict[str, tuple[str, bytes]]:
    return {"image": (name, (faces / name).read_bytes())}


def test_identify_names_the_enrolled_person_and_every_face_of_a_group(
        http: httpx.Client, faces: Path) -> None:
    for name, status in (("obama2.jpg", "identified"), ("obama3.jpg", "identified"),
                         ("biden.jpg", "unknown")):
        body = http.post("/v1/identify", files=upload(faces, name)).json()
        assert [face["status"] for face in body["faces"]] == [status], (name, body)
    group = http.post("/v1/identify", files=upload(faces, "group6.jpg")).json()
    assert len(group["faces"]) == 6
    assert {face["status"] for face in group["faces"]} == {"unknown"}


def test_detect_gives_boxes_holding_their_five_landmarks(http: httpx.Client,
                                                         faces: Path) -> None:
    body = http.post("/v1/detect", files=upload(faces, "group6.jpg")).json()
    assert len(body["faces"]) == 6
    assert len({tuple(face["box"].values()) for face in body["faces"]}) == 6
    for face in body["faces"]:
        box, marks = face["box"], face["landmarks"]
        assert box["width"] >= 40 and 0 < face["detection_score"] <= 1
        assert len(marks) == 5
        for point in marks:
            assert box["left"] <= point["x"] <= box["right"]
            assert box["top"] <= point["y"] <= box["bottom"]


def test_descriptors_stay_those_of_hog_boxes(http: httpx.Client, faces: Path) -> None:
    """The 5-point landmarks get dlib-style boxes (the fitted box map), so a face's probe
    descriptor is within 0.15 of the HOG pipeline's (the match threshold is 0.6)."""
    hog = face_reader(Settings())
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        (face,) = hog.read((faces / name).read_bytes(), "probe", Timings()).faces
        body = http.post("/v1/embed", files=upload(faces, name)).json()
        (embedded,) = body["faces"]
        distance = np.linalg.norm(np.array(embedded["descriptor"]) - face.descriptor)
        assert distance < 0.15, (name, distance)


@pytest.mark.skipif(not NEGATIVES.is_dir(), reason="needs ../shared/faces/negatives")
def test_no_face_on_photos_without_one(http: httpx.Client) -> None:
    found: dict[str, Any] = {}
    for path in sorted(NEGATIVES.iterdir()):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            body = http.post("/v1/detect", files={"image": (path.name, path.read_bytes())})
            assert body.status_code == 200, body.text
            found[path.name] = len(body.json()["faces"])
    assert found and not any(found.values()), found


def test_boxes_are_drawn_as_people_draw_faces_and_the_models_are_listed(
        http: httpx.Client, faces: Path) -> None:
    """BlazeFace's square box is reported WIDER-style (taller than wide, the same area), and
    /v1/system lists the BlazeFace weights that run, all Apache-2.0 on ONNX Runtime."""
    for name in ("obama.jpg", "group6.jpg"):
        for face in http.post("/v1/detect", files=upload(faces, name)).json()["faces"]:
            box = face["box"]
            assert 1.2 <= box["height"] / box["width"] <= 1.4, (name, box)
    models = {m["key"]: m for m in http.get("/v1/system").json()["models"]}
    for key in ("blazeface_full", "blazeface_back", "blazeface_short"):  # short: liveness frames
        assert models[key]["licence"] == "Apache-2.0" and models[key]["runtime"] == "onnxruntime"
