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
schema = schemathesis.openapi.from_dict(DOCUMENT)


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


@schema.parametrize()
@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
def test_every_operation_keeps_to_its_schema(case: schemathesis.Case, live: LiveServer,
                                             session: requests.Session) -> None:
    response = case.call(base_url=live.url, session=session)
    case.validate_response(response, checks=CHECKS,
                           transport_kwargs={"base_url": live.url, "session": session})
