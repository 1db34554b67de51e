"""The admin page's "CompreFace service" choice in a real Chromium: a recognition service key
kept from an existing client (its UUID typed in) and a detection key made as a UUID; both
answer on CompreFace's API with their scopes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import LiveServer
from playwright.sync_api import Page, expect

from web.conftest import Console

GIVEN = "0b6f4d2e-8c1a-4e3b-9d7f-2a5c6e8f1b3d"


def create(page: Page, service: str, key: str = "") -> str:
    page.get_by_label("CompreFace service").select_option(service)
    if key:
        page.get_by_label("Existing key (UUID)").fill(key)
    page.get_by_role("button", name="Create key").click()
    dialog = page.locator("dialog.secret-dialog")
    expect(dialog).to_contain_text("shown only this once")
    secret = dialog.get_by_label("Secret").input_value()
    return secret


def close(page: Page) -> None:
    page.locator("dialog.secret-dialog").get_by_role("button", name="close").click()
    expect(page.locator("dialog")).to_have_count(0)


def test_compreface_service_keys_made_in_the_page_work_on_its_api(
        console: LiveServer, open_console: Callable[[], Console], faces: Path) -> None:
    browser = open_console()
    page = browser.sign_in()
    page.goto(browser.base + "/ui/admin#keys-card")
    page.get_by_label("CompreFace service").select_option("recognition")
    expect(page.get_by_label("Name", exact=True)).to_have_value("compreface-recognition")
    assert page.get_by_label("enrol").is_checked() and page.get_by_label("read").is_checked()
    assert not page.get_by_label("train").is_checked()
    page.get_by_label("Existing key (UUID)").fill(GIVEN.upper())
    browser.shoot("admin-compreface-key-form")
    secret = create(page, "recognition", GIVEN.upper())
    assert secret == GIVEN  # the client's own key string (lowercase, as CompreFace writes it)
    browser.shoot("admin-compreface-key-secret")
    close(page)
    row = page.locator("#keys tr[data-key='compreface-recognition']")
    expect(row).to_contain_text(f"{GIVEN[:9]}…")
    expect(row).to_contain_text("recognize, enrol, read")

    page.get_by_label("Name", exact=True).fill("frigate-detection")
    detection = create(page, "detection")
    assert len(detection) == 36 and detection.count("-") == 4, detection
    close(page)
    expect(page.locator("#keys tr[data-key='frigate-detection']")).to_contain_text("recognize")
    browser.shoot("admin-compreface-keys")

    photo = {"file": ("obama.jpg", (faces / "obama.jpg").read_bytes(), "image/jpeg")}
    with console.client() as http:
        added = http.post("/api/v1/recognition/faces", params={"subject": "Barack"},
                          files=photo, headers={"x-api-key": secret})
        assert added.status_code == 201, added.text
        detected = http.post("/api/v1/detection/detect", files=photo,
                             headers={"x-api-key": detection})
        assert detected.status_code == 200 and len(detected.json()["result"]) == 1
        refused = http.get("/api/v1/recognition/subjects", headers={"x-api-key": detection})
        assert refused.status_code == 404 and refused.json()["code"] == 10
        assert http.delete("/api/v1/recognition/subjects",
                           headers={"x-api-key": secret}).json() == {"deleted": 1}
