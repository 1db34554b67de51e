"""The Accuracy page in a real Chromium: calibrate on a zip of per-person folders of real LFW
photos (../shared/faces), watch the progress bar reach 100%, see the plots load and the
recommended threshold with its rates, apply it after the confirmation and see the new
threshold and its source, on the page and in GET /v1/config."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer
from playwright.sync_api import expect

from web.conftest import ADMIN_PASSWORD, Console, sign_in_http

PEOPLE, PHOTOS = 6, 2

pytestmark = pytest.mark.shared


def calibration_zip(shared: Path, target: Path) -> Path:
    """The first PEOPLE LFW people (by name) with PHOTOS photos or more, PHOTOS each."""
    with zipfile.ZipFile(target, "w") as archive:
        people = 0
        for folder in sorted((shared / "lfw" / "images").iterdir()):
            photos = sorted(folder.glob("*.jpg"))[:PHOTOS]
            if len(photos) < PHOTOS:
                continue
            for photo in photos:
                archive.write(photo, f"{folder.name}/{photo.name}")
            people += 1
            if people == PEOPLE:
                return target
    raise AssertionError("not enough LFW people")


def test_calibrate_see_the_plots_and_apply(open_console: Callable[[], Console],
                                           console: LiveServer, shared_faces: Path,
                                           tmp_path: Path) -> None:
    archive = calibration_zip(shared_faces, tmp_path / "people.zip")
    browser = open_console()
    browser.sign_in()
    page = browser.open("/ui/accuracy")
    expect(page.get_by_role("link", name="Accuracy")).to_be_visible()
    page.get_by_label("A zip of per-person folders").set_input_files(archive)
    page.get_by_label("Target false-match rate").select_option("0.01")
    page.get_by_role("button", name="Start calibration").click()
    expect(page.get_by_label("Calibration progress")).to_be_visible()
    total = 2 * PEOPLE * PHOTOS
    expect(page.locator(".progress-text")).to_have_text(f"100% ({total} of {total})",
                                                        timeout=120_000)
    threshold = page.locator("#threshold")
    expect(threshold).to_be_visible(timeout=60_000)  # after the threshold and plots
    shown = float(threshold.inner_text())
    assert 0.0 < shown < 1.2
    expect(page.locator("#current-threshold")).to_have_text("0.6 (default)")
    expect(page.locator("#facts")).to_contain_text("False-match rate (FMR)")
    expect(page.locator("#facts")).to_contain_text(f"{PEOPLE * (PHOTOS * (PHOTOS - 1) // 2)} "
                                                   "same-person")
    images = page.locator("#plots img")
    expect(images).to_have_count(3)
    for i in range(3):
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                               arg=image.element_handle(), timeout=20_000)
    browser.shoot("shared-accuracy-result")

    page.get_by_role("button", name="Apply this threshold").click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text(f"{shown:.4f}")
    expect(dialog).to_contain_text("other replicas")
    dialog.get_by_role("button", name="Apply").click()
    expect(page.locator("#applied")).to_contain_text("source: calibration")
    expect(page.locator("#current-threshold")).to_have_text(f"{shown:g} (calibration)")
    browser.shoot("shared-accuracy-applied")

    with httpx.Client(base_url=console.url) as http:
        sign_in_http(http, "admin", ADMIN_PASSWORD)
        matching = http.get("/v1/config").json()["matching"]
    assert (matching["threshold"], matching["threshold_source"]) == (shown, "calibration")
