"""The liveness page in a real Chromium whose webcam plays real video: the d18 clip's frames
(a real blink, ../shared/faces) pass the blink check and are then identified and verified; a
registry photo held before the camera (it drifts, it never blinks) fails, in both modes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import LiveServer
from playwright.sync_api import Browser, Page, expect

from web.conftest import ADMIN_PASSWORD, DESKTOP, Console, sign_in_http
from web.webcam import frames_clip, photo_clip

D18 = Path("blink/frames/liveportrait_d18_blink")


@pytest.fixture
def console_on(console: LiveServer) -> Iterator[Callable[[Browser], Console]]:
    """``console_on(browser)`` → a signed-in console page in that browser (its own webcam);
    the test fails if a page logged an error."""
    opened: list[Console] = []

    def start(browser: Browser) -> Console:
        context = browser.new_context(viewport=DESKTOP)
        context.grant_permissions(["camera"], origin=console.url)
        opened.append(Console(context, console.url))
        opened[-1].sign_in()
        return opened[-1]

    yield start
    errors = [e for c in opened for e in c.errors]
    for c in opened:
        c.context.close()
    assert errors == [], f"the console logged errors: {errors}"


def check(page: Page, mode: str) -> str:
    page.get_by_label(mode).check()
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator(".action-now")).to_be_visible(timeout=15_000)
    verdict = page.locator("#verdict .verdict-word")
    expect(verdict).to_be_visible(timeout=60_000)
    return verdict.inner_text()


@pytest.mark.shared
def test_a_real_blink_passes_and_the_live_face_is_identified_and_verified(
        shared_faces: Path, console: LiveServer, launch: Callable[[Path], Browser],
        console_on: Callable[[Browser], Console], tmp_path: Path) -> None:
    files = sorted((shared_faces / D18).glob("frame_*.jpg"))
    assert len(files) == 32
    # The clip: frames 80-111, the blink (93-99) in the middle; Chromium loops it (1.07 s), so
    # the page's 3 s recording sees a whole blink wherever it starts.
    video = frames_clip(files, tmp_path / "d18.y4m")
    with console.client() as http:  # the person, enrolled from a frame away from the blink
        csrf = {"X-CSRF-Token": sign_in_http(http, "admin", ADMIN_PASSWORD)}
        person = http.post("/v1/identities", json={"name": "d18 person"}, headers=csrf).json()
        enrolled = http.post(f"/v1/identities/{person['id']}/faces", headers=csrf,
                             files={"image": ("f.jpg", files[2].read_bytes(), "image/jpeg")})
        assert enrolled.status_code == 201, enrolled.text
    console = console_on(launch(video))
    page = console.open("/ui/liveness")
    assert check(page, "Blink once") == "LIVE"
    expect(page.locator("#verdict")).to_contain_text("a full blink was seen")
    expect(page.locator("#verdict")).to_contain_text("frames")
    expect(page.get_by_role("list", name="Reasons", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Identify this live face", exact=True).click()
    expect(page.locator("#follow-result")).to_contain_text("Live face: d18 person", timeout=30_000)
    expect(page.locator("#best-frame")).to_be_visible()
    page.get_by_label("Find the person").fill("d18")
    page.get_by_role("button", name="Verify against this person", exact=True).click()
    expect(page.locator("#follow-result")).to_contain_text("Same person", timeout=30_000)
    console.shoot("shared-liveness-live")


def test_a_photo_held_before_the_camera_fails_both_checks(
        faces: Path, launch: Callable[[Path], Browser],
        console_on: Callable[[Browser], Console], tmp_path: Path) -> None:
    still = photo_clip(faces / "obama2.jpg", tmp_path / "still.y4m", seconds=3.0)
    console = console_on(launch(still))
    page = console.open("/ui/liveness")
    assert check(page, "Blink once") == "NOT LIVE"
    expect(page.get_by_role("list", name="Reasons", exact=True)).to_contain_text("NO_BLINK")
    expect(page.locator("#follow-up")).to_be_hidden()
    console.shoot("liveness-not-live")
    assert check(page, "Random actions (a challenge from the server)") == "NOT LIVE"
    reasons = page.get_by_role("list", name="Reasons", exact=True)
    expect(reasons).to_contain_text("ACTIONS_NOT_PERFORMED")
    expect(page.locator("#verdict")).to_contain_text("not seen")
    console.shoot("liveness-challenge-failed")
