"""The official CompreFace Python SDK (compreface-sdk 0.6.0 from the registry, in its own venv)
runs the call sequence of its examples against a real facegate on real faces, with keys made
by ``facegate keys create --compreface`` (one of them the operator's own UUID). The server is an
open loopback one: the keys still count (scopes, and a wrong key is refused)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cli_inprocess import facegate
from conftest import LiveServer, settings_for

from compat.conftest import run_client
from facegate.api.app import create_app

#: The key string an existing CompreFace client configuration already holds.
GIVEN_KEY = "1f0c1e9a-7b2d-4c3e-9f4a-5b6c7d8e9f00"

SDK_EXAMPLES = r"""
import json, sys
from compreface import CompreFace

url, port, recognition_key, detection_key, verification_key, photos = sys.argv[1:7]
options = {"limit": 0, "det_prob_threshold": 0.8, "prediction_count": 2,
           "face_plugins": "landmarks,age,gender", "status": True}
compre_face = CompreFace(url, port, options)
recognition = compre_face.init_face_recognition(recognition_key)
detection = compre_face.init_face_detection(detection_key)
verification = compre_face.init_face_verification(verification_key)
subjects = recognition.get_subjects()
collection = recognition.get_face_collection()
photo = lambda name: f"{photos}/{name}"
out = {}
out["add_subject"] = subjects.add("Barack Obama")
out["add_example"] = collection.add(photo("obama.jpg"), "Barack Obama")
out["add_example_2"] = collection.add(photo("obama2.jpg"), "Barack Obama")
out["add_new_subject"] = collection.add(photo("biden.jpg"), "Joe Biden")
out["list"] = collection.list()
out["subjects"] = subjects.list()
image_id = out["add_example"]["image_id"]
out["verify_by_id"] = collection.verify(photo("obama3.jpg"), image_id)
out["verify_by_id_stranger"] = collection.verify(photo("biden.jpg"), image_id)
out["recognize"] = recognition.recognize(photo("obama3.jpg"))
out["recognize_strangers"] = recognition.recognize(photo("group6.jpg"))
out["detect"] = detection.detect(photo("group6.jpg"))
out["verify"] = verification.verify(photo("obama.jpg"), photo("obama3.jpg"))
out["verify_stranger"] = verification.verify(photo("obama.jpg"), photo("biden.jpg"))
out["rename"] = subjects.update("Joe Biden", "Joseph Biden")
out["subjects_renamed"] = subjects.list()
out["delete_example"] = collection.delete(image_id)
out["delete_all_examples"] = collection.delete_all("Barack Obama")
out["list_after"] = collection.list()
out["delete_subject"] = subjects.delete("Barack Obama")
out["delete_all_subjects"] = subjects.delete_all()
out["subjects_after"] = subjects.list()
wrong = CompreFace(url, port).init_face_recognition("00000000-0000-4000-8000-000000000000")
out["wrong_key"] = wrong.recognize(photo("obama3.jpg"))
out["detection_key_enrols"] = CompreFace(url, port).init_face_recognition(
    detection_key).get_subjects().list()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    data = tmp_path_factory.mktemp("compreface-sdk")
    keys = {"recognition": _key(data, "recognition", "--key", GIVEN_KEY.upper()),
            "detection": _key(data, "detection"), "verification": _key(data, "verification")}
    server = LiveServer(settings_for(data)).start()
    yield server, keys
    server.stop()


def _key(data: Path, service: str, *extra: str) -> str:
    ran = facegate("keys", "create", "--compreface", service, *extra, "--json",
                   "--data-dir", data)
    assert ran.returncode == 0, ran.stderr
    made = json.loads(ran.stdout)
    assert made["scopes"] == {"recognition": ["recognize", "enrol", "read"]}.get(
        service, ["recognize"])
    return str(made["secret"])


def test_the_sdk_examples_run_against_facegate(
        live: tuple[LiveServer, dict[str, str]], client_python: Path, faces: Path) -> None:
    server, keys = live
    assert keys["recognition"] == GIVEN_KEY  # the operator's UUID, kept (case aside)
    assert str(uuid.UUID(keys["detection"])) == keys["detection"]  # a made key is a UUID too
    host, port = server.url.rsplit(":", 1)
    out = run_client(client_python, SDK_EXAMPLES, host, port, keys["recognition"],
                     keys["detection"], keys["verification"], str(faces))

    assert out["add_subject"] == {"subject": "Barack Obama"}
    image_id = out["add_example"]["image_id"]
    assert str(uuid.UUID(image_id)) == image_id
    assert out["add_example"]["subject"] == "Barack Obama"
    assert out["add_new_subject"]["subject"] == "Joe Biden"
    listed = out["list"]
    assert listed["total_elements"] == 3 and listed["page_number"] == 0
    assert listed["page_size"] == 20 and listed["total_pages"] == 1
    assert {f["image_id"] for f in listed["faces"]} >= {image_id}
    assert sorted(out["subjects"]["subjects"]) == ["Barack Obama", "Joe Biden"]

    assert out["verify_by_id"]["result"][0]["similarity"] >= 0.60
    assert out["verify_by_id_stranger"]["result"][0]["similarity"] < 0.60
    _recognized_as(out["recognize"], "Barack Obama")
    strangers = out["recognize_strangers"]["result"]
    assert len(strangers) >= 4
    for face in strangers:  # CompreFace never says unknown: the nearest, under the cut
        assert [s["subject"] for s in face["subjects"]], face
        assert face["subjects"][0]["similarity"] < 0.60
    detected = out["detect"]["result"]
    assert len(detected) == len(strangers)
    assert all(set(f["box"]) == {"probability", "x_min", "y_min", "x_max", "y_max"}
               for f in detected)
    assert out["verify"]["result"][0]["face_matches"][0]["similarity"] >= 0.60
    assert out["verify_stranger"]["result"][0]["face_matches"][0]["similarity"] < 0.60

    assert out["rename"] == {"updated": True}
    assert sorted(out["subjects_renamed"]["subjects"]) == ["Barack Obama", "Joseph Biden"]
    assert out["delete_example"] == {"image_id": image_id, "subject": "Barack Obama"}
    assert out["delete_all_examples"] == {"deleted": 1}
    assert out["list_after"]["total_elements"] == 1  # Joseph Biden's
    assert out["delete_subject"] == {"subject": "Barack Obama"}
    assert out["delete_all_subjects"] == {"deleted": 1}
    assert out["subjects_after"] == {"subjects": []}
    assert out["wrong_key"]["code"] == 10
    assert out["detection_key_enrols"]["code"] == 10  # recognize only: no collection


def _recognized_as(answer: dict[str, Any], name: str) -> None:
    (face,) = answer["result"]
    best = face["subjects"][0]
    assert best["subject"] == name and best["similarity"] >= 0.60
    assert len(face["subjects"]) == 2  # prediction_count=2: the runner-up too, under the cut
    assert face["subjects"][1]["similarity"] < 0.60
    assert all(isinstance(face["box"][k], int) for k in ("x_min", "y_min", "x_max", "y_max"))
    assert 0.9 <= face["box"]["probability"] <= 1.0
    assert len(face["landmarks"]) == 5 and "age" not in face and "gender" not in face
    assert set(face["execution_time"]) >= {"detector", "calculator"}  # status=True
    assert answer["plugins_versions"]["calculator"]


def test_an_open_server_needs_no_key_but_refuses_a_wrong_one(
        live: tuple[LiveServer, dict[str, str]]) -> None:
    server, _ = live
    with server.client() as http:
        assert http.get("/api/v1/recognition/subjects").json() == {"subjects": []}
        wrong = http.get("/api/v1/recognition/subjects", headers={"x-api-key": "nope"})
        assert wrong.status_code == 404 and wrong.json()["code"] == 10


def test_switched_off_the_dialect_is_not_there(live: tuple[LiveServer, dict[str, str]]) -> None:
    server, keys = live
    settings = settings_for(server.settings.data_dir, compat={"compreface": False})
    app = create_app(settings, facegate=server.app.state.facegate)  # the same models, no start

    async def ask() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://127.0.0.1") as http:
            return (await http.get("/api/v1/recognition/subjects",
                                   headers={"x-api-key": keys["recognition"]}),
                    await http.get("/v1/identities"))

    gone, native = anyio.run(ask)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"
    assert native.status_code == 200  # facegate's own API is there
