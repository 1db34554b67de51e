"""Threshold calibration over HTTP on one live server: a zip of per-person folders of real
LFW photos (../shared/faces) calibrated as a background job, its result's numbers checked
against each other, the plots fetched as PNGs, and applying it changes the threshold that
identify, /v1/config and /v1/status hold to at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, settings_for
from zipcraft import zip_bytes

BOOT = "bootstrap-key-0123456789"
HEADERS = {"X-API-Key": BOOT}
PEOPLE, PHOTOS = 7, 3

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(settings_for(tmp_path_factory.mktemp("calibrate-api"),
                                     server={"api_keys": [BOOT]},
                                     matching={"rule": "distance"})).start()
    yield server
    server.stop()


def lfw_people(shared: Path, count: int = PEOPLE) -> dict[str, list[Path]]:
    """The first ``count`` LFW people (by name) with at least PHOTOS photos, PHOTOS each."""
    people: dict[str, list[Path]] = {}
    for folder in sorted((shared / "lfw" / "images").iterdir()):
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) >= PHOTOS:
            people[folder.name] = photos[:PHOTOS]
        if len(people) == count:
            return people
    raise AssertionError("not enough LFW people")


def finished(http: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    deadline, seen = time.monotonic() + 240, [job["done"]]
    while job["status"] in ("queued", "running", "cancelling"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = http.get(f"/v1/calibrate/{job['id']}", headers=HEADERS).json()
        seen.append(job["done"])
    assert seen == sorted(seen), seen  # progress only goes up
    return job


def identify_all(http: httpx.Client, probes: list[Path]) -> list[dict[str, Any]]:
    faces = []
    for probe in probes:
        answer = http.post("/v1/identify", headers=HEADERS,
                           files={"image": (probe.name, probe.read_bytes())})
        assert answer.status_code == 200, answer.text
        faces.append(answer.json()["faces"][0])
    return faces


def test_calibrate_then_apply_changes_what_identify_decides(
        live: LiveServer, shared_faces: Path) -> None:
    everyone = lfw_people(shared_faces, 2 * PEOPLE)
    people = dict(list(everyone.items())[:PEOPLE])
    strangers = [photos[0] for photos in list(everyone.values())[PEOPLE:]]  # never enrolled
    archive = zip_bytes({f"lfw/{name}/{p.name}": p.read_bytes()
                         for name, photos in people.items() for p in photos})
    with live.client() as http:
        refused = http.post("/v1/calibrate", files={"archive": ("a.zip", archive)})
        assert refused.status_code == 401, refused.text  # admin only
        bad = http.post("/v1/calibrate", headers=HEADERS, files={"archive": ("a.zip", archive)},
                        data={"target_fmr": "2"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
        started = http.post("/v1/calibrate", headers=HEADERS,
                            files={"archive": ("a.zip", archive)}, data={"target_fmr": "0.01"})
        assert started.status_code == 202, started.text
        assert started.headers["location"] == f"/v1/calibrate/{started.json()['id']}"
        job = finished(http, started.json())
        assert job["status"] == "finished", job
        assert job["done"] == job["total"] == 2 * PEOPLE * PHOTOS
        result = job["result"]
        check_numbers(result)

        for url in result["plots"]:
            plot = http.get(url, headers=HEADERS)
            assert plot.status_code == 200 and plot.content[:8] == b"\x89PNG\r\n\x1a\n", url
        missing = http.get(f"/v1/calibrate/{job['id']}/plots/cmc.png", headers=HEADERS)
        assert missing.status_code == 422, missing.text
        for gone in (http.get("/v1/calibrate/nope", headers=HEADERS),
                     http.post("/v1/calibrate/nope/apply", headers=HEADERS)):
            assert gone.status_code == 404 and gone.json()["error"]["code"] == "JOB_NOT_FOUND"

        enrol = zip_bytes({f"g/{name}/1.jpg": photos[0].read_bytes()
                           for name, photos in people.items()})
        imported = http.post("/v1/imports", headers=HEADERS, files={"archive": ("g.zip", enrol)})
        assert imported.status_code == 202, imported.text
        while http.get(f"/v1/imports/{imported.json()['id']}",
                       headers=HEADERS).json()["status"] != "finished":
            time.sleep(0.2)
        probes = [p for photos in people.values() for p in photos[1:]] + strangers
        before = identify_all(http, probes)

        applied = http.post(f"/v1/calibrate/{job['id']}/apply", headers=HEADERS)
        assert applied.status_code == 200, applied.text
        assert applied.json() == {"threshold": result["threshold"],
                                  "threshold_source": "calibration",
                                  "previous_threshold": 0.6, "previous_source": "default"}
        matching = http.get("/v1/config", headers=HEADERS).json()["matching"]
        assert (matching["threshold"], matching["threshold_source"]) == \
            (result["threshold"], "calibration")
        status = http.get("/v1/status", headers=HEADERS).json()["matching"]
        assert status["threshold"] == result["threshold"]
        assert status["threshold_source"] == "calibration"
        after = identify_all(http, probes)
    check_decisions(before, after, result["threshold"])
    assert (live.settings.data_dir / "calibration.json").is_file()


def check_numbers(result: dict[str, Any]) -> None:
    """The counts follow from the zip, the rates from the counts, and the rates lie in their
    intervals; the current threshold (0.6, the default) is reported beside them."""
    photos = PEOPLE * PHOTOS
    genuine = PEOPLE * PHOTOS * (PHOTOS - 1) // 2
    without = result["pairs_without_face"]
    assert result["genuine_pairs"] + result["impostor_pairs"] + without \
        == photos * (photos - 1) // 2
    assert result["genuine_pairs"] <= genuine and without <= 2 * photos
    assert 0.0 < result["threshold"] < 1.2
    assert result["fmr"] <= result["target_fmr"] == 0.01
    for rate in ("fmr", "fnmr"):
        low, high = result[f"{rate}_interval"]
        assert 0.0 <= low <= result[rate] <= high <= 1.0, result
    assert result["fnmr"] * result["genuine_pairs"] == pytest.approx(
        round(result["fnmr"] * result["genuine_pairs"]))
    assert result["warning"] and "impostor pairs" in result["warning"]
    assert (result["current_threshold"], result["current_source"]) == (0.6, "default")
    assert 0.0 <= result["current_fmr"] <= 1.0 and 0.0 <= result["current_fnmr"] <= 1.0
    # a lower threshold never accepts more impostors nor fewer genuine pairs' misses
    if result["threshold"] <= 0.6:
        assert result["fmr"] <= result["current_fmr"]
        assert result["fnmr"] >= result["current_fnmr"]
    assert [u.rsplit("/", 1)[1] for u in result["plots"]] == \
        ["roc.png", "det.png", "histogram.png"]


def check_decisions(before: list[dict[str, Any]], after: list[dict[str, Any]],
                    threshold: float) -> None:
    """Every face is held to the new threshold: one whose distance lies between the two
    thresholds changes its decision, the others keep theirs."""
    assert {face["threshold"] for face in before} == {0.6}
    assert {face["threshold"] for face in after} == {threshold}
    low, high = sorted((threshold, 0.6))
    for old, new in zip(before, after, strict=True):
        distance = old["candidates"][0]["distance"]
        assert new["candidates"][0]["distance"] == distance
        assert (old["status"] == "identified") == (distance <= 0.6)
        assert (new["status"] == "identified") == (distance <= threshold)
        changed = old["status"] != new["status"]
        assert changed == (low < distance <= high), (distance, old["status"], new["status"])
