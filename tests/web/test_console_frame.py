"""The console's frame in a real Chromium: sign-in, roles, CSRF, the security headers."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from conftest import LiveServer
from playwright.sync_api import expect

from web.conftest import ADMIN_PASSWORD, Console, add_user, sign_in_http


def test_a_wrong_password_shows_the_api_code_and_the_right_one_signs_in(
        open_console: Callable[[], Console]) -> None:
    console = open_console()
    page = console.open("/ui/people")  # not signed in: sent to the sign-in page
    assert "/ui/login" in page.url and "next=/ui/people" in page.url
    console.shoot("sign-in")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#notice")).to_contain_text("UNAUTHORIZED")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/people")
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    expect(page.locator("#people-empty")).to_contain_text("No people yet")
    console.shoot("people-empty")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login")
    page.goto(console.base + "/ui/people")
    assert "/ui/login" in page.url


def test_an_admin_adds_a_person_and_finds_them(open_console: Callable[[], Console]) -> None:
    console = open_console()
    page = console.sign_in()
    page.get_by_label("Name of the new person").fill("Ada Lovelace")
    page.get_by_role("button", name="Add person").click()
    expect(page.locator("#create-result")).to_contain_text("Added Ada Lovelace")
    expect(page.locator("#people")).to_contain_text("Ada Lovelace")
    expect(page.locator("#people")).to_contain_text("0 faces")
    page.get_by_label("Search by name").fill("zzz")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#people")).to_contain_text('Nobody\'s name contains "zzz"')
    page.get_by_label("Search by name").fill("ada")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#people .person")).to_have_count(1)
    console.shoot("people")


def test_a_request_without_the_csrf_token_is_refused(
        open_console: Callable[[], Console]) -> None:
    console = open_console()
    page = console.sign_in()
    status = page.evaluate("""async () => {
        const r = await fetch('/v1/identities', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify({name: 'x'})});
        return [r.status, (await r.json()).error.code];
    }""")
    assert status == [403, "CSRF_FAILED"]
    # An HTML form posted without its csrf_token field: the browser shows the API's refusal.
    with page.expect_navigation() as navigated:
        page.evaluate("""() => {
            const form = document.createElement('form');
            form.method = 'post'; form.action = '/v1/auth/logout';
            form.enctype = 'application/x-www-form-urlencoded';
            document.body.append(form); form.submit();
        }""")
    refused = navigated.value
    assert refused is not None and refused.status == 403
    assert "CSRF_FAILED" in page.inner_text("body")
    page.goto(console.base + "/ui/people")  # still signed in: the forged logout did nothing
    expect(page.get_by_role("heading", name="People")).to_be_visible()


def test_a_viewer_sees_no_enrol_controls_and_a_forged_change_is_refused(
        console: LiveServer, open_console: Callable[[], Console]) -> None:
    add_user(console, "vera", "viewer", "viewer-password-1")
    browser = open_console()
    page = browser.sign_in("vera", "viewer-password-1")
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    assert page.get_by_role("button", name="Add person").count() == 0
    expect(page.locator("#people-empty")).to_contain_text("An operator or admin adds them")
    forged = page.evaluate("""async () => {
        const token = document.querySelector('meta[name=csrf-token]').content;
        const r = await fetch('/v1/identities', {method: 'POST', headers: {
            'Content-Type': 'application/json', 'X-CSRF-Token': token},
            body: JSON.stringify({name: 'forged'})});
        return [r.status, (await r.json()).error.code];
    }""")
    assert forged == [403, "FORBIDDEN"]
    page.goto(browser.base + "/ui/admin")
    assert "your role does not hold" in page.content() or "no such page" in page.content()
    browser.shoot("refused")


def test_every_console_response_has_the_security_headers(console: LiveServer) -> None:
    with console.client() as http:
        sign_in_http(http, "admin", ADMIN_PASSWORD)
        paths = ["/ui/login", "/ui/", "/ui/people", "/ui/account", "/ui/no-such-page",
                 "/ui/static/console.css", "/ui/static/js/api.js"]
        for path in paths:
            answer = http.get(path)
            assert answer.status_code in (200, 303, 404), (path, answer.status_code)
            csp = answer.headers.get("content-security-policy", "")
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert "'unsafe-inline'" not in csp, path
            assert answer.headers["x-frame-options"] == "DENY", path
        page = http.get("/ui/people")
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and " style=" not in page.text
        assert http.get("/v1/identities").headers.get("content-security-policy") is None
        assert httpx.get(console.url + "/ui/people").status_code == 303  # no session



def test_change_own_password(console: LiveServer, open_console: Callable[[], Console]) -> None:
    add_user(console, "otto", "operator", "operator-password-1")
    browser = open_console()
    page = browser.sign_in("otto", "operator-password-1")
    page.goto(browser.base + "/ui/account")
    expect(page.locator(".facts")).to_contain_text("operator")
    page.get_by_label("Current password").fill("wrong-password-9")
    page.get_by_label("New password", exact=True).fill("operator-password-2")
    page.get_by_label("New password, again").fill("operator-password-2")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-form .result")).to_contain_text("UNAUTHORIZED")
    page.get_by_label("Current password").fill("operator-password-1")
    page.get_by_label("New password", exact=True).fill("operator-password-2")
    page.get_by_label("New password, again").fill("operator-password-2")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-form .result")).to_contain_text("Password changed")
    browser.shoot("account")
    with console.client() as http:
        assert http.post("/v1/auth/login", json={"username": "otto", "password":
                                                 "operator-password-1"}).status_code == 401
        sign_in_http(http, "otto", "operator-password-2")
