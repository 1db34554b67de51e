"""The review page in a real Chromium: unknown faces from real photos shown as groups in a grid,
a group named (the person is then recognised), one ignored, one discarded, a group that changed
meanwhile refused with the API's code and reloaded, and what a viewer may not do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, serving
from playwright.sync_api import Page, expect

from web.conftest import ADMIN_PASSWORD, Console, add_user, sign_in_http


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The console's server with the review queue on."""
    with serving(tmp_path_factory.mktemp("review-console"),
                 auth={"admin_password": ADMIN_PASSWORD, "required": True},
                 review={"enabled": True}) as server:
        yield server


def identify(http: httpx.Client, csrf: str, photo: Path) -> list[str]:
    answer = http.post("/v1/identify", headers={"X-CSRF-Token": csrf},
                       files={"image": (photo.name, photo.read_bytes())}, data={"camera": "door"})
    assert answer.status_code == 200, answer.text
    return [face["status"] for face in answer.json()["faces"]]


def cards(page: Page) -> int:
    page.wait_for_load_state("networkidle")
    return page.locator("#clusters .cluster").count()


def test_an_operator_names_ignores_and_discards_groups_of_unknown_faces(
        console: LiveServer, open_console: Callable[[], Console], faces: Path) -> None:
    with console.client() as http:
        csrf = sign_in_http(http, "admin", ADMIN_PASSWORD)
        for photo in ("obama.jpg", "obama2.jpg", "biden.jpg", "group6.jpg"):
            assert set(identify(http, csrf, faces / photo)) == {"unknown"}
        admin = open_console()
        page = admin.sign_in()
        nav = page.locator("#nav a").all_inner_texts()
        assert nav.index("Review") == nav.index("Test bench") + 1
        page = admin.open("/ui/review")
        assert cards(page) == 8
        first = page.locator("#clusters .cluster").first
        expect(first).to_contain_text("2 faces")
        src = first.locator("img").get_attribute("src") or ""
        assert src.startswith("/v1/review/faces/") and src.endswith("/chip")  # never data:
        assert page.evaluate("""() => [...document.querySelectorAll('#clusters img')]
                                .every((img) => img.complete && img.naturalWidth > 0)""")
        expect(page.locator("#review-off")).to_be_hidden()
        admin.shoot("review")

        first.locator("button").click()
        panel = page.locator("#cluster")
        expect(panel).to_be_visible()
        expect(page.locator("#cluster-faces li")).to_have_count(2)
        expect(panel).to_contain_text("door")
        admin.shoot("review-group")
        page.get_by_label("New person").fill("Barack Obama")
        page.get_by_role("button", name="Name", exact=True).click()
        expect(page.locator("#cluster-result .ok")).to_contain_text("2 faces enrolled")
        expect(page.locator("#clusters .cluster")).to_have_count(7)
        assert identify(http, csrf, faces / "obama3.jpg") == ["identified"]

        # a group that changed since it was opened: refused, shown, reloaded, then done
        page.locator("#clusters .cluster").first.locator("button").click()
        expect(page.locator("#cluster-faces li")).to_have_count(1)
        identify(http, csrf, faces / "group6.jpg")  # every group of that photo gains a face
        page.locator("#ignore").click()
        expect(page.locator("#cluster-result .error")).to_contain_text("REVIEW_CLUSTER_CHANGED")
        expect(page.locator("#cluster-faces li")).to_have_count(2)
        page.locator("#ignore").click()
        expect(page.locator("#cluster-result .ok")).to_contain_text("Ignored: 2 faces")
        expect(page.locator("#clusters .cluster")).to_have_count(6)

        # one face of a group discarded, after the confirmation
        page.locator("#clusters .cluster").first.locator("button").click()
        expect(page.locator("#cluster-faces li")).to_have_count(2)
        page.locator("#cluster-faces input").first.check()
        page.locator("#discard").click()
        dialog = page.locator("dialog.confirm")
        expect(dialog).to_contain_text("1 selected face")
        dialog.locator("button.danger").click()
        expect(page.locator("#cluster-result .ok")).to_contain_text("Discarded: 1 face")
        expect(page.locator("#cluster-faces li")).to_have_count(1)

        page.locator("#review-status").select_option("ignored")
        expect(page.locator("#clusters .cluster")).to_have_count(1)
        admin.shoot("review-ignored")


def test_a_viewer_sees_the_groups_without_the_actions(
        console: LiveServer, open_console: Callable[[], Console]) -> None:
    add_user(console, "vera", "viewer", "viewer-password-1")
    viewer = open_console()
    viewer.sign_in("vera", "viewer-password-1")
    page = viewer.open("/ui/review")
    assert cards(page) >= 1
    page.locator("#clusters .cluster").first.locator("button").click()
    expect(page.locator("#cluster-faces li").first).to_be_visible()
    expect(page.locator("#name-form")).to_have_count(0)
    expect(page.locator("#discard")).to_have_count(0)
    with console.client() as http:  # the API refuses what the page hides
        csrf = sign_in_http(http, "vera", "viewer-password-1")
        listed = http.get("/v1/review/clusters").json()["items"]
        refused = http.post(f"/v1/review/clusters/{listed[0]['id']}/discard",
                            json={"version": listed[0]["version"]},
                            headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403 and refused.json()["error"]["details"] == {
            "scope": "enrol"}
        assert http.get(listed[0]["chip_url"]).headers["content-type"] == "image/jpeg"
