"""The OpenAPI document is truthful: every status a route can answer is declared with the real
error envelope, every success has a real model, and those models carry every field the server
emits (checked on real results from real photos, real clips and a real trained classifier)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, settings_for
from pydantic import BaseModel

from facegate.api import liveness_schemas as live_out
from facegate.api import schemas as out
from facegate.api import views
from facegate.api.app import create_app
from facegate.api.routes import classifiers, config, health
from facegate.bootstrap import Facegate
from facegate.services import liveness_report

ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(settings_for(tmp_path_factory.mktemp("openapi"))).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def keyed_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(settings_for(Path(tmp), server={"api_keys": ["key-one-long"]}))
        doc = app.openapi()
        app.state.facegate.close()
    return doc

PASSWORD_ROUTES = ("/v1/auth/login", "/v1/auth/password")


def test_every_answer_is_declared_with_a_real_schema(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text and '"detail"' not in text
    assert "securitySchemes" not in doc["components"]
    for method, path, operation in operations(doc):
        label = f"{method} {path}"
        assert "security" not in operation, label
        # the routes that check a password (or need a session) answer 401 on an open server too
        assert ("401" in operation["responses"]) == (path in PASSWORD_ROUTES), label
        assert "403" not in operation["responses"], label  # an open server refuses nobody
        assert all(p["name"].lower() != "x-api-key" for p in operation.get("parameters", []))
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            if status.startswith("2"):
                schema = next(iter(content.values()))["schema"]
                assert "$ref" in schema or "anyOf" in schema or schema.get("format") == "binary"
            elif path != "/readyz":
                assert content == {"application/json": {"schema": ERROR}}, (label, status)
                assert response["description"], (label, status)
    v1 = [op for _, path, op in operations(doc) if path.startswith("/v1/")]
    assert sum("422" in op["responses"] for op in v1) >= 10
    identify = doc["paths"]["/v1/identify"]["post"]["responses"]
    assert set(identify) == {"200", "400", "408", "413", "415", "422", "429", "503"}
    assert "RATE_LIMITED" in identify["429"]["description"]
    assert "Retry-After" in identify["429"]["headers"]
    limited = {path for _, path, op in operations(doc) if "429" in op["responses"]}
    assert {"/v1/verify", "/v1/detect", "/v1/embed", "/v1/liveness/identify"} <= limited
    assert "/v1/identities" not in limited  # only the recognition routes are rate limited
    assert "NO_FACE_FOUND" in identify["422"]["description"]
    frames = doc["paths"]["/v1/liveness/sessions/{session_id}/frames"]["post"]["responses"]
    assert {"404", "409", "410"} <= set(frames)


def test_with_api_keys_every_v1_route_declares_401_403_and_the_credentials() -> None:
    doc = keyed_document()
    assert doc["components"]["securitySchemes"] == {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
        "Session": {"type": "apiKey", "in": "cookie", "name": "facegate_session"}}
    for method, path, operation in operations(doc):
        if path == "/v1/auth/login":  # the one /v1 route without credentials
            assert "security" not in operation and "403" not in operation["responses"]
            assert "UNAUTHORIZED" in operation["responses"]["401"]["description"]
            assert "TOO_MANY_ATTEMPTS" in operation["responses"]["429"]["description"]
        elif path.startswith("/v1/"):
            assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}, {"Session": []}], \
                f"{method} {path}"
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == ERROR
            assert ("403" in operation["responses"]) == (path != "/v1/auth/me"), path
        else:
            assert "401" not in operation["responses"] and "security" not in operation


def test_every_body_is_declared_and_closed(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    bodiless = {"/v1/liveness/sessions", "/v1/models/deactivate", "/v1/models/{model_id}/activate",
                "/v1/auth/logout", "/v1/keys/{key_id}/rotate",
                "/v1/calibrate/{job_id}/apply"}
    for method, path, operation in operations(doc):
        if method not in ("POST", "PATCH") or path in bodiless:
            continue
        content = operation["requestBody"]["content"]
        for media, body in content.items():
            schema = body["schema"]
            if "$ref" in schema:
                schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            assert schema["additionalProperties"] is False, (path, media)
    frames = doc["paths"]["/v1/liveness/verify"]["post"]["requestBody"]["content"]
    form = frames["multipart/form-data"]["schema"]
    assert form["properties"]["frames"]["items"]["format"] == "binary"
    assert [g["oneOf"] for g in form["allOf"]] == [
        [{"required": ["frames"]}, {"required": ["video"]}],
        [{"required": ["image2"]}, {"required": ["identity_id"]}, {"required": ["descriptor"]}]]
    descriptor = frames["application/json"]["schema"]["properties"]["descriptor"]
    assert descriptor["minItems"] == descriptor["maxItems"] == 128


def test_a_json_body_that_is_not_utf8_is_a_validation_error(http: httpx.Client) -> None:
    """Found by schema fuzzing: FastAPI answered 400 HTTP_400, a status the route never declared."""
    response = http.post("/v1/identities", content=b'{"name": "\xff\xfe"}',
                         headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def carried(model: type[BaseModel], raw: Any) -> None:
    """``raw`` (what a view emits) comes through ``model`` whole: no field is dropped."""
    sent = json.loads(json.dumps(raw))
    assert model.model_validate(raw).model_dump(mode="json", exclude_unset=True) == sent


def poll(http: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (job := http.get(f"/v1/train/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_models_carry_every_field_of_real_answers(server: LiveServer, http: httpx.Client,
                                                  faces: Path) -> None:
    facegate: Facegate = server.app.state.facegate
    people = {}
    for name, photos in {"Obama": ("obama.jpg", "obama3.jpg"), "Biden": ("biden.jpg",)}.items():
        people[name] = http.post("/v1/identities", json={"name": name,
                                                         "metadata": {"n": [1, {"a": None}]}})
        for photo in photos:
            added = http.post(f"/v1/identities/{people[name].json()['id']}/faces",
                              files={"image": (photo, (faces / photo).read_bytes())})
            assert added.status_code == 201, added.text
    obama = people["Obama"].json()["id"]
    assert http.post(f"/v1/identities/{obama}/faces", json={"descriptor": [0.01] * 128}
                     ).status_code == 201
    job = poll(http, http.post("/v1/train", json={"kind": "knn", "activate": True}).json()["id"])
    assert job["status"] == "succeeded", job
    gallery, recognition = facegate.gallery, facegate.recognition
    carried(out.IdentityOut, views.identity(gallery.get_identity(obama)))
    samples = gallery.list_faces(obama)
    assert {bool(s.chip_jpeg) for s in samples} == {True, False}
    for sample in samples:
        carried(out.SampleOut, views.sample(sample))
    probe = (faces / "obama2.jpg").read_bytes()
    result = recognition.identify(probe)
    assert result.classifier is not None and result.faces[0].candidates[0].score is not None
    carried(out.IdentifyOut, views.identify(result))
    carried(out.VerifyOut, views.verify(recognition.verify_identity(probe, obama), mode="identity"))
    _, found, _ = recognition.embed((faces / "group6.jpg").read_bytes())
    for face in found:
        carried(out.FaceOut, views.face(face))
        carried(out.EmbeddedFace, views.face(face, descriptor=True))
    trained = server.app.state.training_jobs.get(job["id"])
    carried(out.TrainingJobOut, views.training_job(trained))
    carried(out.ClassifierList, classifiers.list_models(facegate))
    carried(out.TrainingJobList, classifiers.list_jobs(server.app.state.training_jobs))
    carried(out.ConfigOut, config.config(facegate))
    carried(out.Ready, health.readyz(facegate))
    carried(out.Healthy, health.healthz())


def test_liveness_models_carry_every_field_of_real_answers(server: LiveServer,
                                                           shared_faces: Path) -> None:
    folder = shared_faces / "blink" / "frames" / "liveportrait_d18_blink"
    frames = [path.read_bytes() for path in sorted(folder.glob("frame_*.jpg"))]
    service = server.app.state.liveness
    rgb = service.decode_frames(frames)
    report = service.blink(rgb)
    assert report.live and report.blinks
    carried(live_out.SequenceOut, liveness_report.sequence(report))
    book = server.app.state.liveness_sessions
    session = book.create(actions=("blink", "smile"))
    carried(live_out.SessionOut, liveness_report.session(session))
    result = book.check(book.claim(session.id, session.nonce), rgb)
    assert result.report.best_frame is not None
    carried(live_out.SessionResultOut, liveness_report.session_result(result))
