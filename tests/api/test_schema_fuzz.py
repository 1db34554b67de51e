"""Schema fuzzing: schemathesis generates requests for every operation of the server's own
OpenAPI document and sends them to a live server (real models, real SQLite), checking each
answer against the document: no 5xx, a declared status code, a body that matches the declared
schema, the declared content type.

Files and base64 fields are drawn from real photos (one face, two people, six faces, a small
face crop, no face), schemathesis' own tiny samples (PNG, JPEG, GIF, WebP, PDF, zip) and
arbitrary bytes, so recognition answers with real faces are held to their schemas too.

The document is built at collection (schemathesis parametrizes one test per operation from it)
by an app with the live server's settings; ``test_fuzzed_document_is_the_served_one`` holds the
live server to that same document.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from conftest import FACE_CACHE, REPO, LiveServer, settings_for
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import checks
from schemathesis.core.file_samples import FILE_SAMPLES
from schemathesis.transport.serialization import Binary

from facegate.api.app import create_app

KEY = "fuzz-key-0123456789"
SEED = 20261127
EXAMPLES = 25
#: Operations that take a photo run the whole model on every example: fewer examples each (their
#: explicit examples and every other operation's 25 still run), so the fuzz stays within CI time.
PHOTO_EXAMPLES = 10
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.response_schema_conformance, checks.content_type_conformance]


def _settings(data_dir: Path) -> Any:
    return settings_for(data_dir, server={"api_keys": [KEY]})


def _document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(_settings(Path(tmp)))
        doc = json.loads(json.dumps(app.openapi()))
        app.state.facegate.close()
    return doc


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _samples() -> list[bytes]:
    sys.path.insert(0, str(REPO / "scripts"))
    from fetch_test_faces import fetch

    cache = fetch(FACE_CACHE)  # needed at collection: the strategies are built then
    photos = [(cache / name).read_bytes() for name in ("obama2.jpg", "biden.jpg", "group6.jpg")]
    with Image.open(io.BytesIO(photos[0])) as photo:
        crop = photo.convert("RGB").crop((130, 260, 490, 630)).resize((150, 154))
    return [*photos, _png(crop), _png(Image.new("RGB", (64, 48), (120, 120, 120))),
            *FILE_SAMPLES.values()]


SAMPLES = _samples()
_files = st.one_of(st.sampled_from(SAMPLES), st.binary(max_size=64))
schemathesis.openapi.format("binary", _files.map(Binary))
schemathesis.openapi.format("byte", _files.map(lambda data: base64.b64encode(data).decode()))
DOCUMENT = _document()


def _takes_a_photo(node: object) -> bool:
    """Whether a request body's schema (``$ref`` followed) has a binary or base64 field."""
    if isinstance(node, dict):
        if node.get("format") in ("binary", "byte"):
            return True
        ref = node.get("$ref")
        if isinstance(ref, str):
            return _takes_a_photo(DOCUMENT["components"]["schemas"][ref.rsplit("/", 1)[1]])
        return any(_takes_a_photo(value) for value in node.values())
    return isinstance(node, list) and any(_takes_a_photo(value) for value in node)


PHOTO_OPERATIONS = {f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items()
                    for method, operation in item.items()
                    if _takes_a_photo(operation.get("requestBody"))}
_all = schemathesis.openapi.from_dict(DOCUMENT)
schema = _all.exclude(lambda ctx: ctx.operation.label in PHOTO_OPERATIONS)
photo_schema = _all.include(lambda ctx: ctx.operation.label in PHOTO_OPERATIONS)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(_settings(tmp_path_factory.mktemp("fuzz"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers["X-API-Key"] = KEY
        yield http


def test_fuzzed_document_is_the_served_one(live: LiveServer) -> None:
    assert httpx.get(f"{live.url}/openapi.json").json() == DOCUMENT


HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
          HealthCheck.large_base_example]


def _check(case: schemathesis.Case, live: LiveServer, session: requests.Session) -> None:
    response = case.call(base_url=live.url, session=session)
    case.validate_response(response, checks=CHECKS,
                           transport_kwargs={"base_url": live.url, "session": session})


def test_the_photo_operations_are_the_ones_that_take_files() -> None:
    assert {"POST /v1/identify", "POST /v1/verify", "POST /v1/detect", "POST /v1/embed",
            "POST /v1/identities/{identity_id}/faces", "POST /v1/train"} <= PHOTO_OPERATIONS
    assert not {"GET /v1/identities", "POST /v1/identities", "POST /v1/auth/login"} & \
        PHOTO_OPERATIONS


@schema.parametrize()
@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=HEALTH)
def test_every_operation_keeps_to_its_schema(case: schemathesis.Case, live: LiveServer,
                                             session: requests.Session) -> None:
    _check(case, live, session)


@photo_schema.parametrize()
@seed(SEED)
@settings(max_examples=PHOTO_EXAMPLES, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=HEALTH)
def test_every_photo_operation_keeps_to_its_schema(case: schemathesis.Case, live: LiveServer,
                                                   session: requests.Session) -> None:
    _check(case, live, session)
