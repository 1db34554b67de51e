"""The bench's feedback buttons in a real Chromium: a stranger named wrongly is marked wrong and
not named again, an unknown face is enrolled with "It is…", a right answer is confirmed and
undone; every result read back from the page (registry photos only)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LiveServer
from playwright.sync_api import Page, expect

from web.conftest import Console, add_people


@pytest.fixture(scope="module", autouse=True)
def gallery(console: LiveServer, faces: Path) -> dict[str, str]:
    """obama (obama.jpg) enrolled; biden created without a face."""
    return add_people(console, faces, {"obama": "obama.jpg", "biden": None})


def identify(page: Page, photo: Path, threshold: str = "") -> None:
    page.get_by_label("Threshold").fill(threshold)
    page.get_by_label("Photo to identify").set_input_files(photo)
    page.get_by_role("button", name="Identify", exact=True).click()
    expect(page.locator("#identify-result")).to_contain_text("1 face found")


def who(page: Page) -> str:
    return page.locator("#faces tbody tr").first.locator("td").nth(1).inner_text()


def test_wrong_is_and_correct_from_the_bench(
        open_console: Callable[[], Console], faces: Path) -> None:
    console = open_console()
    console.sign_in()
    page = console.open("/ui/identify")
    cell = page.locator("#faces tbody tr").first.locator(".feedback-cell")

    identify(page, faces / "biden.jpg", "1.2")  # loose: Biden is named obama
    assert who(page).startswith("obama")
    page.get_by_role("button", name="face 1: not obama").click()
    expect(cell).to_contain_text("Noted: not obama")
    console.shoot("identify-feedback-wrong")

    identify(page, faces / "biden.jpg", "1.2")  # the same stranger: not named again
    expect(page.locator("#identify-result")).to_contain_text("0 identified, 1 unknown")
    assert who(page).startswith("unknown")
    expect(page.get_by_role("button", name="face 1: not obama")).to_have_count(0)
    page.get_by_role("button", name="face 1: it is someone else").click()
    page.get_by_label("Who is face 1?").fill("bid")
    expect(page.locator("#fb-person-0 option")).to_have_text(["biden (0 faces)"])
    console.shoot("identify-feedback-picker")
    page.get_by_role("button", name="Enrol to this person").click()
    expect(cell).to_contain_text("Enrolled")

    identify(page, faces / "biden.jpg")  # the server's threshold: biden now
    assert who(page).startswith("biden")
    page.get_by_role("button", name="face 1: biden is correct").click()
    expect(cell).to_contain_text("recorded as correct")
    cell.get_by_role("button", name="Undo").click()
    expect(cell).to_contain_text("Undone.")
    expect(page.get_by_role("button", name="face 1: biden is correct")).to_be_visible()

    identify(page, faces / "obama2.jpg")
    page.get_by_role("button", name="face 1: it is someone else").click()
    page.get_by_label("Who is face 1?").fill("nobody-by-this-name")
    expect(page.locator("#fb-person-0 option")).to_have_text(["Nobody by that name"])
    page.get_by_role("button", name="Enrol to this person").click()
    expect(cell.locator(".error")).to_contain_text("NO_PERSON")
    cell.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="face 1: obama is correct")).to_be_visible()
    console.shoot("identify-feedback-after")
