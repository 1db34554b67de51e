"""Admin and audit pages in a real Chromium: API keys (the secret shown once, used, revoked),
users and roles (a viewer added in the page is kept out of the admin pages), the audit log
with filters. The tests run in order on one server: the audit test reads what the key test did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import LiveServer
from playwright.sync_api import Page, expect

from web.conftest import Console


def identify_with(console: LiveServer, faces: Path, secret: str) -> httpx.Response:
    photo = {"image": ("obama.jpg", (faces / "obama.jpg").read_bytes(), "image/jpeg")}
    with console.client() as http:
        return http.post("/v1/identify", files=photo, headers={"X-API-Key": secret})


def confirm(page: Page, button: str) -> None:
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=button).click()
    expect(dialog).to_have_count(0)


def test_a_key_created_in_the_page_works_until_it_is_revoked_there(
        console: LiveServer, open_console: Callable[[], Console], faces: Path) -> None:
    browser = open_console()
    page = browser.sign_in()
    page.goto(browser.base + "/ui/admin")
    expect(page.locator("#keys-empty")).to_be_visible()
    status = page.locator("#status")
    expect(status).to_contain_text("Version")
    expect(status.get_by_role("table", name="Models")).to_contain_text("Licence")
    expect(status).to_contain_text("sqlite")
    expect(status).to_contain_text("In sync")
    browser.shoot("admin-empty")
    page.get_by_label("Name", exact=True).fill("door-camera")
    assert page.get_by_label("recognize").is_checked()
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create key").click()
    dialog = page.locator("dialog.secret-dialog")
    expect(dialog).to_contain_text("shown only this once")
    secret = dialog.get_by_label("Secret").input_value()
    assert secret.startswith("fg_"), secret
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("status")).to_contain_text("op")  # "Copied." or "copy it yourself"
    browser.shoot("admin-key-secret")
    dialog.get_by_role("button", name="close").click()
    expect(page.locator("dialog")).to_have_count(0)
    row = page.locator("#keys tr[data-key='door-camera']")
    expect(row).to_contain_text(f"fg_{secret.split('_')[1]}_")
    expect(row).to_contain_text("recognize")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("never")  # not used yet
    assert secret not in page.content()  # the dialog took the secret with it
    stored = page.evaluate("JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert secret not in stored

    assert identify_with(console, faces, secret).status_code == 200
    page.reload()
    expect(row.locator("td").nth(5)).not_to_contain_text("never")  # last used: now

    row.get_by_role("button", name="Revoke").click()
    confirm(page, "Revoke")
    expect(page.locator("#keys-result")).to_contain_text("was revoked")
    expect(row).to_contain_text("revoked")
    refused = identify_with(console, faces, secret)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "UNAUTHORIZED"
    browser.shoot("admin-keys")


def test_a_viewer_added_in_the_page_is_kept_out_of_the_admin_pages(
        open_console: Callable[[], Console]) -> None:
    admin = open_console()
    page = admin.sign_in()
    page.goto(admin.base + "/ui/admin")
    page.get_by_label("Username").fill("vic")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Add user").click()  # the browser asks for 12 characters
    expect(page.locator("#users tr[data-username='vic']")).to_have_count(0)
    page.get_by_label("Password", exact=True).fill("viewer-password-12")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#users-result")).to_contain_text("Added vic as viewer")
    vic_row = page.locator("#users tr[data-username='vic']")
    expect(vic_row).to_contain_text("enabled")
    expect(page.locator("#users tr[data-username='admin']")).to_contain_text("(you)")

    viewer = open_console()
    seen = viewer.sign_in("vic", "viewer-password-12")
    nav = seen.locator("#nav ul")
    expect(nav).to_contain_text("People")
    for hidden in ("Admin", "Audit", "Train"):
        expect(nav).not_to_contain_text(hidden)
    refused = seen.goto(viewer.base + "/ui/admin")
    assert refused is not None and refused.status == 403
    expect(seen.locator("main")).to_contain_text("admin")
    assert seen.get_by_role("button", name="Create key").count() == 0

    # The last admin cannot demote themself: the API's 409 is shown.
    page.get_by_label("Role of admin").select_option("viewer")
    expect(page.locator("#users-result")).to_contain_text("CONFLICT")
    expect(page.get_by_label("Role of admin")).to_have_value("admin")

    vic_row.get_by_label("Role of vic").select_option("operator")
    expect(page.locator("#users-result")).to_contain_text("vic is now operator")
    seen.reload()
    expect(seen.locator("#nav ul")).to_contain_text("Train")
    vic_row.get_by_role("button", name="Disable").click()
    expect(vic_row).to_contain_text("disabled")
    seen.goto(viewer.base + "/ui/people")
    assert "/ui/login" in seen.url  # disabling ended vic's session
    vic_row.get_by_role("button", name="Enable").click()
    expect(vic_row).to_contain_text("enabled")
    vic_row.get_by_role("button", name="Reset password").click()
    reset = page.locator("dialog.confirm")
    reset.get_by_label("New password", exact=True).fill("another-password-12")
    reset.get_by_role("button", name="Set password").click()
    expect(page.locator("#users-result")).to_contain_text("password was changed")
    viewer.sign_in("vic", "another-password-12")
    admin.shoot("admin-users")
    vic_row.get_by_role("button", name="Delete").click()
    expect(page.locator("dialog.confirm")).to_contain_text("can no longer sign in")
    confirm(page, "Delete")
    expect(page.locator("#users-result")).to_contain_text("vic was deleted")
    expect(vic_row).to_have_count(0)


def test_the_audit_page_lists_the_key_changes_and_filters_them(
        open_console: Callable[[], Console], console: LiveServer) -> None:
    browser = open_console()
    page = browser.sign_in()
    page.goto(browser.base + "/ui/audit")
    table = page.locator("#audit tbody")
    expect(table).to_contain_text("POST /v1/keys")
    expect(table).to_contain_text("DELETE /v1/keys/{key_id}")
    expect(table).to_contain_text("PATCH /v1/users/{user_id}")
    creation = table.locator("tr", has_text="POST /v1/keys").first
    expect(creation).to_contain_text("admin")
    expect(creation).to_contain_text("201")
    browser.shoot("audit")
    page.get_by_label("Route").fill("DELETE /v1/keys/{key_id}")
    page.get_by_role("button", name="Filter").click()
    expect(table.locator("tr")).to_have_count(1)
    expect(table).to_contain_text("admin")
    expect(table).to_contain_text("key_id=")
    page.get_by_label("Route").fill("")
    page.get_by_label("Outcome").fill("401")
    page.get_by_role("button", name="Filter").click()
    outcomes = table.locator("td:nth-child(4)")
    expect(outcomes.first).to_contain_text("401")
    assert all(text.startswith("401") for text in outcomes.all_inner_texts())
    page.get_by_label("Outcome").fill("")
    page.get_by_label("Actor").fill("nobody-by-this-name")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-empty")).to_be_visible()
    page.get_by_role("button", name="Clear").click()
    with console.client() as http:  # more rows than a page, whatever the tests before wrote
        for _ in range(30):
            assert http.get("/v1/keys", headers={"X-API-Key": "fg_wrong"}).status_code == 401
    page.get_by_label("Rows a page").select_option("25")
    older = page.get_by_role("button", name="Older")
    for _ in range(40):  # the audit writer commits in the background
        page.get_by_role("button", name="Filter").click()
        expect(table.locator("tr")).to_have_count(25)
        if older.is_enabled():
            break
        page.wait_for_timeout(250)
    older.click()
    expect(page.locator("#page-info")).to_have_text("Page 2")
    page.get_by_role("button", name="Newer").click()
    expect(page.locator("#page-info")).to_have_text("Page 1")
