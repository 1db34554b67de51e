"""``GET /metrics`` over real HTTP on one access-controlled server: exact counts after a known
sequence of calls on real faces, the ``metrics`` scope, event deliveries to a real webhook
receiver that refuses its first delivery, and the Grafana dashboard's queries against what is
exported."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import REPO, LiveServer, settings_for
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from webhook_receiver import Receiver

from facegate.config import DEFAULT_PORT

BOOT = "metrics-bootstrap-key-0123456789"
ADMIN = {"X-API-Key": BOOT}
NAMES = ("Barack Obama", "Joe Biden")
BURST = 20  # the recognize scope's burst: the recognize-only key is refused past it


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """Gets the face.identified events; refuses the first delivery (503), then takes them."""
    hook = Receiver(fail_first=1).start()
    yield hook
    hook.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[LiveServer]:
    server = LiveServer(settings_for(
        tmp_path_factory.mktemp("metrics"),
        server={"api_keys": [BOOT], "workers": 1, "max_queue": 0},  # one request at a time
        rate={"recognize_per_minute": 60, "recognize_burst": BURST},
        events={"webhooks": [{"url": receiver.url, "events": ["face.identified"]}],
                "first_retry_s": 0.2, "max_retry_s": 0.5},
        detection={"fallback_max_side": 0})).start()
    yield server
    server.stop()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(http: httpx.Client, headers: dict[str, str] | None = None) -> tuple[str, Samples]:
    response = http.get("/metrics", headers=ADMIN if headers is None else headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def photo(faces: Path, name: str) -> dict[str, tuple[str, bytes]]:
    return {"image": (name, (faces / name).read_bytes())}


def no_face_photo(faces: Path) -> dict[str, tuple[str, bytes]]:
    """The table under group6's people: a real photo without a face."""
    buffer = io.BytesIO()
    Image.open(faces / "group6.jpg").crop((0, 620, 1280, 886)).save(buffer, format="JPEG")
    return {"image": ("table.jpg", buffer.getvalue())}


def new_key(http: httpx.Client, *scopes: str) -> dict[str, str]:
    made = http.post("/v1/keys", json={"name": "-".join(scopes), "scopes": list(scopes)},
                     headers=ADMIN)
    assert made.status_code == 201, made.text
    return {"X-API-Key": made.json()["secret"]}


def enrol(http: httpx.Client, faces: Path) -> list[str]:
    ids = []
    for name, file in zip(NAMES, ("obama.jpg", "biden.jpg"), strict=True):
        made = http.post("/v1/identities", json={"name": name}, headers=ADMIN)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
        added = http.post(f"/v1/identities/{ids[-1]}/faces", files=photo(faces, file),
                          headers=ADMIN)
        assert added.status_code == 201, added.text
    return ids


def identify(http: httpx.Client, faces: Path, name: str, **form: str) -> list[dict[str, Any]]:
    response = http.post("/v1/identify", files=photo(faces, name), data=form, headers=ADMIN)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["faces"]
    return found


def test_counts_after_a_known_sequence(http: httpx.Client, faces: Path) -> None:
    ids = enrol(http, faces)
    found = [f for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama2.jpg")
             for f in identify(http, faces, name)]
    found += identify(http, faces, "obama2.jpg", threshold="0.05")  # farther than that
    found += identify(http, faces, "obama3.jpg", threshold="0.05")
    assert [f["status"] for f in found] == ["identified"] * 5 + ["unknown"] * 2
    distances = [f["candidates"][0]["distance"] for f in found]
    no_face = http.post("/v1/identify", files=no_face_photo(faces), headers=ADMIN)
    assert no_face.status_code == 422 and no_face.json()["error"]["code"] == "NO_FACE_FOUND"
    decisions = [http.post("/v1/verify", files=photo(faces, file), data={"identity_id": ids[0]},
                           headers=ADMIN).json()["match"] for file in ("obama2.jpg", "biden.jpg")]
    assert decisions == [True, False]
    liveness = http.post("/v1/liveness/blink", headers=ADMIN, files=[
        ("frames", (f"{n}.jpg", (faces / "obama.jpg").read_bytes(), "image/jpeg"))
        for n in range(3)]).json()
    assert liveness["live"] is False and liveness["reasons"]
    recognize_only = new_key(http, "recognize")
    refusals = [http.post("/v1/detect", headers=recognize_only).status_code
                for _ in range(BURST + 1)]
    assert refusals[-1] == 429 and 429 not in refusals[:-1]

    text, samples = scrape(http)
    assert value(samples, "facegate_identify_outcomes_total", outcome="match") == 5
    assert value(samples, "facegate_identify_outcomes_total", outcome="unknown") == 2
    assert value(samples, "facegate_identify_outcomes_total", outcome="no_face") == 1
    assert value(samples, "facegate_identify_best_distance_count") == 7
    buckets = {dict(labels)["le"]: v for (name, labels), v in samples.items()
               if name == "facegate_identify_best_distance_bucket"}
    assert len(buckets) > 10
    for le, count in buckets.items():  # cumulative: the faces at most that far
        assert count == sum(d <= float(le) for d in distances), (le, distances)
    assert value(samples, "facegate_identify_best_distance_sum") == pytest.approx(sum(distances))
    assert value(samples, "facegate_identify_best_distance_bucket", le="+Inf") == 7
    assert value(samples, "facegate_verify_decisions_total",
                 decision="match", mode="identity") == 1
    assert value(samples, "facegate_verify_decisions_total",
                 decision="no_match", mode="identity") == 1
    # 8 identify requests and 2 verify requests, one photo each: one observation per stage
    for stage in ("decode", "detect", "match"):
        assert value(samples, "facegate_stage_duration_seconds_count", stage=stage) == 10, stage
    for stage in ("landmarks", "embed"):  # the photo without a face still ran these (no chips)
        assert value(samples, "facegate_stage_duration_seconds_count", stage=stage) == 10, stage
    assert value(samples, "facegate_stage_duration_seconds_count", stage="liveness") == 1
    assert value(samples, "facegate_stage_duration_seconds_sum", stage="embed") > 0
    assert value(samples, "facegate_liveness_verdicts_total", verdict="not_live") == 1
    assert value(samples, "facegate_liveness_verdicts_total", verdict="live") == 0
    for reason in liveness["reasons"]:
        assert value(samples, "facegate_liveness_reasons_total", reason=reason["code"]) == 1
    requests = "facegate_http_requests_total"
    assert value(samples, requests, route="/v1/identify", method="POST", status="200") == 7
    assert value(samples, requests, route="/v1/identify", method="POST", status="422") == 1
    assert value(samples, requests, route="/v1/identities/{identity_id}/faces", method="POST",
                 status="201") == 2
    # refused by the rate limit before routing: still counted under its route template
    assert value(samples, requests, route="/v1/detect", method="POST", status="429") == 1
    assert value(samples, "facegate_refusals_total", status="429", code="RATE_LIMITED") == 1
    assert value(samples, "facegate_http_request_duration_seconds_count",
                 route="/v1/identify", method="POST") == 8
    assert value(samples, "facegate_gallery_identities") == 2
    assert value(samples, "facegate_gallery_faces") == 2
    assert value(samples, "facegate_index_in_sync") == 1
    assert value(samples, "facegate_index_sync_lag_seconds") == 0
    assert value(samples, "facegate_model_workers") == 1
    assert value(samples, "facegate_model_capacity") == 1
    assert value(samples, "facegate_model_workers_busy") == 0
    assert value(samples, "facegate_model_queue_depth") == 0
    build = [dict(labels) for name, labels in samples if name == "facegate_build_info"]
    assert build and build[0]["version"]
    models = {dict(labels)["key"]: (dict(labels), v) for (name, labels), v in samples.items()
              if name == "facegate_model_info"}
    assert models["resnet"][0]["licence"] == "CC0-1.0" and models["resnet"][1] == 1
    for secret in (*NAMES, *ids, "Obama", "Biden", BOOT):
        assert secret not in text, secret
    assert re.search(r'/v1/identities/[0-9a-f]{32}', text) is None  # templates, never paths


def test_the_metrics_scope(http: httpx.Client) -> None:
    assert http.get("/metrics").status_code == 401
    refused = http.get("/metrics", headers=new_key(http, "recognize"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["details"] == {"scope": "metrics"}
    prometheus = new_key(http, "metrics")
    scrape(http, prometheus)
    assert http.get("/v1/identities", headers=prometheus).status_code == 403
    me = http.get("/v1/auth/me", headers=ADMIN).json()
    assert "metrics" in me["scopes"]  # admins hold it


def test_the_scrape_example_is_what_the_server_takes(http: httpx.Client) -> None:
    """deploy/prometheus/prometheus.yml sends the key as Prometheus does: a bearer token."""
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and job["authorization"]["type"] == "Bearer"
    assert job["static_configs"][0]["targets"] == [f"127.0.0.1:{DEFAULT_PORT}"]
    secret = new_key(http, "metrics")["X-API-Key"]
    scrape(http, {"Authorization": f"Bearer {secret}"})


def test_a_full_server_refuses_and_counts_it(live: LiveServer, http: httpx.Client,
                                            faces: Path) -> None:
    """An identify whose body is still coming holds the one admission slot: the next is 503
    OVERLOADED, counted by code; the gauges show the slot taken while it is."""
    _, before = scrape(http)
    release = threading.Event()
    image = base64.b64encode((faces / "obama2.jpg").read_bytes())

    def slow_body() -> Iterator[bytes]:
        yield b'{"image": "'
        release.wait(30)
        yield image + b'"}'

    def held() -> httpx.Response:
        return httpx.post(f"{live.url}/v1/identify", content=slow_body(), timeout=60,
                          headers={**ADMIN, "Content-Type": "application/json"})

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(held)
        try:
            deadline = time.monotonic() + 30
            while value(scrape(http)[1], "facegate_model_admitted") < 1:
                assert time.monotonic() < deadline, "the slow request was never admitted"
                time.sleep(0.05)
            refused = httpx.post(f"{live.url}/v1/identify", files=photo(faces, "obama3.jpg"),
                                 headers=ADMIN, timeout=60)  # a plain client: 503 expected
        finally:
            release.set()
        assert first.result().status_code == 200
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "OVERLOADED"
    _, after = scrape(http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("facegate_refusals_total", status="503", code="OVERLOADED") == 1
    assert delta("facegate_http_requests_total", route="/v1/identify", method="POST",
                 status="503") == 1
    assert delta("facegate_identify_outcomes_total", outcome="match") == 1
    assert value(after, "facegate_model_admitted") == 0


def test_event_deliveries_and_backlog(http: httpx.Client, faces: Path,
                                     receiver: Receiver) -> None:
    identify(http, faces, "obama2.jpg")  # one named face: one more face.identified event
    named = value(scrape(http)[1], "facegate_identify_outcomes_total", outcome="match")
    receiver.wait_for(int(named))  # every named face so far, the refused first one retried
    deadline = time.monotonic() + 10
    while True:
        _, samples = scrape(http)
        if value(samples, "facegate_event_outbox_backlog") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    deliveries = "facegate_event_deliveries_total"
    assert value(samples, deliveries, sink="webhook:1", outcome="delivered") == named
    assert value(samples, deliveries, sink="webhook:1", outcome="failed") == 1
    assert value(samples, "facegate_event_outbox_backlog") == 0
    assert len(receiver.received) == named + 1


#: Words of PromQL that are not metric names.
PROMQL = {"sum", "rate", "irate", "increase", "by", "without", "histogram_quantile", "le",
          "avg", "max", "min", "count", "clamp_min", "on", "ignoring", "group_left", "or",
          "and", "unless", "topk", "bool", "offset", "label_replace", "vector", "time"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "facegate.json").read_text())
    queries: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                queries.append(node["expr"])
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    return queries


def test_dashboard_queries_name_exported_metrics(http: httpx.Client, faces: Path) -> None:
    identify(http, faces, "obama2.jpg")  # every labelled family has a child by now
    _, samples = scrape(http)
    exported = {name for name, _ in samples}
    queries = dashboard_queries()
    assert len(queries) >= 8
    for query in queries:
        # label matchers, strings, ranges and grouping labels are not metric names
        bare = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]|\b(by|without)\s*\([^)]*\)', " ", query)
        names = {word for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare)
                 if word not in PROMQL and not word.startswith("$")}
        assert names, query
        for name in names:
            assert name in exported, f"{name} in {query!r} is not exported"
