"""``facegate evaluate`` and ``facegate calibrate`` as a user runs them, on real photos (the
always-on registry set) through the real models, in-process with typer's CliRunner; the
threshold applied by ``calibrate --apply`` is what a server started on that data folder reports
and uses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_inprocess import facegate


@pytest.fixture(scope="module")
def people(faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """obama (3 photos), biden (1), a group photo's largest face (1), the 32-bit PNG (1)."""
    root = tmp_path_factory.mktemp("people")
    for person, names in {"obama": ["obama.jpg", "obama2.jpg", "obama3.jpg"],
                          "biden": ["biden.jpg"], "group": ["group6.jpg"]}.items():
        (root / person).mkdir()
        for name in names:
            shutil.copy(faces / name, root / person / name)
    (root / "nobody").mkdir()
    (root / "nobody" / "blank.png").write_bytes(_blank_png())
    return root


def _blank_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def test_evaluate_pairs_reports_accuracy_plots_and_faceless_images(
        people: Path, data_dir: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    rows = ["path1,path2,same",
            "obama/obama.jpg,obama/obama2.jpg,1", "obama/obama.jpg,obama/obama3.jpg,1",
            "obama/obama2.jpg,obama/obama3.jpg,1", "obama/obama.jpg,biden/biden.jpg,0",
            "obama/obama2.jpg,biden/biden.jpg,0", "obama/obama3.jpg,group/group6.jpg,0",
            "biden/biden.jpg,nobody/blank.png,0", "obama/obama.jpg,nobody/blank.png,1"]
    pairs.write_text("\n".join(rows) + "\n")
    plots = tmp_path / "plots"
    result = facegate("evaluate", "pairs", pairs, "--root", people, "--folds", "2", "--json",
                      "--plots", plots, "--data-dir", data_dir, "--workers", "1")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["pairs"], body["genuine"], body["impostor"], body["images"]) == (8, 4, 4, 6)
    assert body["no_face"]["count"] == 1 and body["no_face"]["images"] == ["nobody/blank.png"]
    assert body["no_face"]["pairs"] == 2 and "never a match" in body["no_face"]["scored_as"]
    # the genuine pair with the blank image can never be accepted: 7 of 8 at best
    assert 0.5 <= body["accuracy"]["mean"] <= 7 / 8
    assert len(body["accuracy"]["folds"]) == 2
    assert set(body["tar_at_far"]) == {"0.01", "0.001"}
    for name in ("roc.png", "det.png", "histogram.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cached = facegate("evaluate", "pairs", pairs, "--root", people, "--data-dir", data_dir,
                      "--workers", "1", "--folds", "2")
    assert cached.returncode == 0, cached.stderr
    assert "no face found in 1 images (2 pairs)" in cached.stdout
    assert (data_dir / "cache" / "descriptors.sqlite3").is_file()
    assert "compared as photos: first photo enrolment views, second photo enrolment views" \
        in cached.stdout
    assert (body["compare"], body["views"]) == (
        "photos", "first photo enrolment views, second photo enrolment views")
    enrolled = facegate("evaluate", "pairs", pairs, "--root", people, "--data-dir", data_dir,
                        "--workers", "1", "--folds", "2", "--compare", "enrolled", "--json")
    assert enrolled.returncode == 0, enrolled.stderr
    other = json.loads(enrolled.stdout)
    assert other["views"] == "first photo enrolment views, second photo probe views"
    assert other["pairs"] == 8 and other["threshold"] != body["threshold"]


def test_evaluate_identification_on_a_folder_per_person(people: Path, data_dir: Path,
                                                         tmp_path: Path) -> None:
    result = facegate("evaluate", "identification", people, "--json", "--plots", tmp_path,
                      "--data-dir", data_dir, "--workers", "1")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    # obama enrolled with obama.jpg; obama2/3 mated; biden, group, blank strangers
    assert (body["enrolled"], body["mated_probes"], body["non_mated_probes"]) == (1, 2, 3)
    assert body["rank1"] == 1.0 and body["rule"] == "cohort"
    assert body["no_face"]["images"] == ["nobody/blank.png"]
    assert (tmp_path / "cmc.png").is_file()
    text = facegate("evaluate", "identification", people, "--rule", "distance",
                    "--data-dir", data_dir, "--workers", "1")
    assert "1 people enrolled, 2 mated probes, 3 non-mated probes" in text.stdout
    assert "rank-1        100.00%" in text.stdout


def test_calibrate_warns_with_few_pairs_and_apply_sets_the_server_threshold(
        people: Path, data_dir: Path, start_server) -> None:  # type: ignore[no-untyped-def]
    result = facegate("calibrate", people, "--target-fmr", "0.01", "--json",
                      "--data-dir", data_dir, "--workers", "1")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    # 5 photos with a face: obama 3 → 3 genuine pairs; 10 pairs in all → 7 impostor
    assert (body["genuine_pairs"], body["impostor_pairs"]) == (3, 7)
    assert body["pairs_without_face"] == 5 and "300 are needed" in body["warning"]
    assert body["fmr"] == 0.0 and body["previous_source"] == "default"
    assert body["applied"] is None and not (data_dir / "calibration.json").exists()
    applied = facegate("calibrate", people, "--target-fmr", "0.01", "--apply",
                       "--data-dir", data_dir, "--workers", "1")
    assert applied.returncode == 0, applied.stderr
    assert "warning" in applied.stderr and "applied:" in applied.stdout
    stored = json.loads((data_dir / "calibration.json").read_text())
    assert stored["threshold"] == body["threshold"]
    server = start_server(data_dir)
    with server.client() as http:
        config = http.get("/v1/config").json()
    assert config["matching"]["threshold"] == body["threshold"]
    assert config["matching"]["threshold_source"] == "calibration"
    again = facegate("calibrate", people, "--target-fmr", "0.01", "--data-dir", data_dir,
                     "--workers", "1")
    assert f"current threshold {body['threshold']} (calibration)" in again.stdout
