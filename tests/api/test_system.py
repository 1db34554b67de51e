"""GET /v1/system and ``facegate system``: every model weight the server loads, with its file,
SHA-256, licence, runtime and provider. With the default settings none is non-commercial and
dlib's 68-point model (iBUG 300-W) is not even opened; the explicit opt-in
``models.landmarks68 = dlib`` lists that model with its non-commercial licence, and the CLI
warns (issue 17, items 1 and 4).

``weights.OPENED`` counts the weight files this process opened to load them: the server runs in
this process, so what enrolment and a blink check open is held against what /v1/system lists.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_inprocess import facegate
from conftest import LiveServer, settings_for
from liveness_frames import folder_files

from facegate.runtime import mediapipe_weights, weights

pytestmark = pytest.mark.shared

#: Licences that allow commercial use: what every default weight must have (SPDX ids).
COMMERCIAL = {"CC0-1.0", "Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "BSL-1.0"}
DAT68 = "shape_predictor_68_face_landmarks.dat"


@pytest.fixture(scope="module")
def opened_before() -> Counter[str]:
    return Counter(weights.OPENED)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           opened_before: Counter[str]) -> Iterator[LiveServer]:
    live = LiveServer(settings_for(tmp_path_factory.mktemp("system"),
                                   server={"isolation": "thread"})).start()  # the defaults
    yield live
    live.stop()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def installed(file: str) -> Path:
    for weight in mediapipe_weights.WEIGHTS:
        if weight.file == file:
            return mediapipe_weights.tflite_path(weight)
    return weights.locate(file)


def test_by_default_every_weight_is_commercially_usable_and_dlib_68_is_never_opened(
        http: httpx.Client, faces: Path, shared_faces: Path,
        opened_before: Counter[str]) -> None:
    person = http.post("/v1/identities", json={"name": "obama"}).json()
    enrolled = http.post(f"/v1/identities/{person['id']}/faces",
                         files={"image": ("o.jpg", (faces / "obama.jpg").read_bytes())})
    assert enrolled.status_code == 201, enrolled.text
    clip = folder_files(shared_faces / "blink" / "frames" / "liveportrait_d18_blink")
    blink = http.post("/v1/liveness/blink", files=[
        ("frames", (f.name, f.read_bytes(), "image/jpeg")) for f in clip]).json()
    assert blink["live"] is True, blink
    body = http.get("/v1/system").json()
    models = {m["key"]: m for m in body["models"]}
    assert {m["licence"] for m in models.values()} <= COMMERCIAL, models
    assert all(m["commercial_use"] for m in models.values())
    assert {"mesh", "iris", "shape5", "resnet"} <= set(models) and "shape68" not in models
    assert models["mesh"]["licence"] == models["iris"]["licence"] == "Apache-2.0"
    assert models["mesh"]["runtime"] == "onnxruntime"
    assert models["mesh"]["provider"] == "CPUExecutionProvider"
    assert models["shape5"]["runtime"] == "dlib" and models["shape5"]["role"] == "landmarks"
    for model in models.values():
        if model["file"] is not None:
            data = installed(model["file"]).read_bytes()
            assert model["sha256"] == hashlib.sha256(data).hexdigest(), model["file"]
    opened = weights.OPENED - opened_before
    assert DAT68 not in opened and weights.OPENED[DAT68] == opened_before[DAT68]
    assert set(opened) <= {m["file"] for m in models.values()}, opened


def test_status_agrees_with_system(http: httpx.Client) -> None:
    status = {m["key"]: m for m in http.get("/v1/status").json()["models"]}
    system = {m["key"] for m in http.get("/v1/system").json()["models"]}
    assert {key for key, m in status.items() if m["in_use"]} == system
    assert status["shape68"]["in_use"] is False and status["shape68"]["commercial_use"] is False


def test_cli_lists_the_same_and_names_the_opt_in_dlib_68_licence(http: httpx.Client) -> None:
    served = http.get("/v1/system").json()["models"]
    ran = facegate("system", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["models"] == served
    assert "not for commercial use" not in ran.stderr
    opted = facegate("system", "--json", env={"FACEGATE_MODELS__LANDMARKS68": "dlib"})
    listed = {m["key"]: m for m in json.loads(opted.stdout)["models"]}
    assert "mesh" not in listed and "iris" not in listed
    assert listed["shape68"]["file"] == DAT68 and listed["shape68"]["commercial_use"] is False
    assert listed["shape68"]["licence"] == "LicenseRef-iBUG-300-W-non-commercial"
    assert listed["shape68"]["licence"] not in COMMERCIAL
    assert "not for commercial use" in opted.stderr
    text = facegate("system").stdout
    assert "face_landmark.tflite" in text and "Apache-2.0" in text
