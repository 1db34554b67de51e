"""``/metrics`` with ``server.isolation = process`` on its own port, then after a restart: the
stage timings measured in the worker processes reach the server's histograms, the separate port
serves without a key while the API port has no ``/metrics``, and after the restart the counters
start from zero while the gallery gauges read what was enrolled before."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, free_port, settings_for
from prometheus_client.parser import text_string_to_metric_families

BOOT = "metrics-process-key-0123456789"
ADMIN = {"X-API-Key": BOOT}
STAGES = ("decode", "detect", "landmarks", "embed", "match")


def parsed(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def enrol(http: httpx.Client, faces: Path, name: str, file: str) -> None:
    made = http.post("/v1/identities", json={"name": name}, headers=ADMIN)
    assert made.status_code == 201, made.text
    added = http.post(f"/v1/identities/{made.json()['id']}/faces", headers=ADMIN,
                      files={"image": (file, (faces / file).read_bytes())})
    assert added.status_code == 201, added.text


def test_process_isolation_separate_port_and_restart(tmp_path: Path, faces: Path) -> None:
    data, port = tmp_path / "data", free_port()
    server = LiveServer(settings_for(
        data, server={"api_keys": [BOOT], "isolation": "process", "workers": 1},
        metrics={"port": port}, detection={"fallback_max_side": 0})).start()
    try:
        with server.client() as http:
            enrol(http, faces, "Barack Obama", "obama.jpg")
            enrol(http, faces, "Joe Biden", "biden.jpg")
            found = http.post("/v1/identify", headers=ADMIN,
                              files={"image": ("g.jpg", (faces / "obama2.jpg").read_bytes())})
            assert found.status_code == 200 and found.json()["faces"][0]["status"] == "identified"
            # the API port serves no /metrics when it has a port of its own
            assert http.get("/metrics", headers=ADMIN).status_code == 404
        side = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)  # no key
        assert side.status_code == 200
        samples = parsed(side.text)
    finally:
        server.stop()
    for stage in STAGES:  # timed in the worker process, observed in the server
        assert samples[("facegate_stage_duration_seconds_count",
                        frozenset({("stage", stage)}))] == 1, stage
        assert samples[("facegate_stage_duration_seconds_sum",
                        frozenset({("stage", stage)}))] > 0, stage
    assert samples[("facegate_identify_outcomes_total", frozenset({("outcome", "match")}))] == 1
    assert samples[("facegate_gallery_faces", frozenset())] == 2
    assert not any(name.startswith("facegate_event_") for name, _ in samples)  # no sink: none
    with pytest.raises(httpx.TransportError):  # the side port closed with the server
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)

    restarted = LiveServer(settings_for(data, detection={"fallback_max_side": 0})).start()
    try:
        with restarted.client() as http:
            scraped = http.get("/metrics")  # an open loopback server: no key, like the API
            assert scraped.status_code == 200, scraped.text
    finally:
        restarted.stop()
    after = parsed(scraped.text)
    assert after[("facegate_gallery_identities", frozenset())] == 2
    assert after[("facegate_gallery_faces", frozenset())] == 2
    assert after[("facegate_identify_outcomes_total", frozenset({("outcome", "match")}))] == 0
    assert ("facegate_stage_duration_seconds_count", frozenset({("stage", "decode")})) \
        not in after
