"""The identify / verify test bench and live identify, in a real Chromium: photos uploaded and
taken from the fake webcam (obama2.jpg held before it), read back from what the page shows."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LiveServer
from PIL import Image
from playwright.sync_api import Page, expect

from web.conftest import Console, add_people


@pytest.fixture(scope="module", autouse=True)
def gallery(console: LiveServer, faces: Path) -> dict[str, str]:
    """obama (obama.jpg) and biden (biden.jpg), enrolled through the API by the admin."""
    return add_people(console, faces, {"obama": "obama.jpg", "biden": "biden.jpg"})


def faces_shown(page: Page) -> list[dict[str, str]]:
    rows = page.locator("#faces tbody tr")
    shown = []
    for r in rows.all():
        cells = [r.locator("td").nth(n).inner_text() for n in range(5)]
        shown.append({"who": cells[1], "distance": cells[2].split()[0], "threshold": cells[3],
                      "nearest": cells[4], "box": r.get_attribute("data-box") or ""})
    return shown


def size_of(photo: Path) -> tuple[int, int]:
    with Image.open(photo) as image:
        return image.size


def identify(page: Page, photo: Path) -> None:
    page.get_by_label("Photo to identify").set_input_files(photo)
    page.get_by_role("button", name="Identify", exact=True).click()


def test_identify_a_group_a_known_face_and_a_photo_without_one_then_download_and_verify(
        open_console: Callable[[], Console], faces: Path, tmp_path: Path) -> None:
    console = open_console()
    console.sign_in()
    page = console.open("/ui/identify")
    expect(page.get_by_role("heading", name="Test bench")).to_be_visible()

    identify(page, faces / "group6.jpg")  # six strangers
    expect(page.locator("#identify-result")).to_contain_text(
        "6 faces found: 0 identified, 6 unknown")
    shown = faces_shown(page)
    width, height = size_of(faces / "group6.jpg")
    assert len(shown) == 6
    for face in shown:
        assert face["who"] == "unknown"
        assert face["nearest"].split()[0] in ("obama", "biden")  # nearest candidate shown
        assert float(face["distance"]) > float(face["threshold"]) == 0.6
        left, top, right, bottom = (int(v) for v in face["box"].split(","))
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
    assert len({f["box"] for f in shown}) == 6
    assert page.locator("#annotated").evaluate("c => [c.width, c.height]") == [width, height]
    expect(page.locator("#timings")).to_contain_text("detect")
    page.get_by_text("Raw JSON").first.click()
    expect(page.locator("#identify-json")).to_contain_text('"status": "unknown"')
    console.shoot("identify-group")

    identify(page, faces / "obama2.jpg")
    expect(page.locator("#identify-result")).to_contain_text("1 face found: 1 identified")
    [obama] = faces_shown(page)
    assert obama["who"] == "obama"
    assert float(obama["distance"]) <= float(obama["threshold"])
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Download PNG", exact=True).click()
    png = downloading.value.path().read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as downloaded:
        assert downloaded.size == size_of(faces / "obama2.jpg")
    console.shoot("identify-known")

    blank = tmp_path / "wall.jpg"  # a real JPEG of a plain wall: no face
    Image.new("RGB", (320, 240), (180, 170, 160)).save(blank)
    identify(page, blank)
    expect(page.locator("#identify-result")).to_contain_text("NO_FACE_FOUND")
    expect(page.locator("#identify-output")).to_be_hidden()

    # Verify obama3.jpg against the person obama, found with the search box.
    page.get_by_label("Find the person").fill("oba")
    expect(page.get_by_label("Person", exact=True).locator("option")).to_have_count(1)
    page.get_by_label("Photo to verify").set_input_files(faces / "obama3.jpg")
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator("#verify-result")).to_contain_text("Same person")
    expect(page.locator("#verify-result")).to_contain_text("threshold 0.60")
    # … and against a second photo of somebody else.
    page.get_by_label("a second photo").check()
    page.get_by_label("Second photo", exact=True).set_input_files(faces / "biden.jpg")
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator("#verify-result")).to_contain_text("Not the same person")
    console.shoot("verify")


def test_a_webcam_photo_on_the_bench_and_live_identify_name_obama(
        open_console: Callable[[], Console]) -> None:
    console = open_console()
    console.sign_in()
    page = console.open("/ui/identify")
    page.get_by_role("button", name="Use the webcam", exact=True).click()
    page.get_by_role("button", name="Take photo", exact=True).click()
    expect(page.locator("#identify-result")).to_contain_text("1 identified", timeout=20_000)
    assert faces_shown(page)[0]["who"] == "obama"

    page = console.open("/ui/live")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#live-faces")).to_contain_text("obama", timeout=15_000)
    expect(page.locator("#live-status")).to_contain_text("ms")
    page.wait_for_timeout(1500)
    answered = page.locator("#live-status").inner_text()
    console.shoot("live")
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("#live-status")).to_contain_text("Stopped")
    assert page.locator("#live-video").evaluate("v => v.srcObject === null")
    assert "answers/s" in answered
