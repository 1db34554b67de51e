"""The console in a real browser: Debian's Chromium (``scripts/test`` installs it) driven by
Playwright, against a real facegate server on loopback, with a real video as the webcam.

One server per test module and one browser (webcam: obama2.jpg) per session; each test gets a
fresh browser context and signed-in page.
Screenshots go to ``test-artifacts/screenshots/`` (not committed). With
``FACEGATE_DOCS_SCREENSHOTS=docs/console`` small copies of those that show only registry photos
(names without the ``shared-`` prefix) go there too: docs/console.md shows them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO, LiveServer, serving
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)

from web.webcam import photo_clip

CHROMIUM = Path(os.environ.get("FACEGATE_CHROMIUM", "/usr/bin/chromium"))
ADMIN_PASSWORD = "console-admin-password-1"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `bash scripts/test` installs Debian's chromium")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def launch(playwright: Playwright) -> Iterator[Callable[[Path], Browser]]:
    """``launch(y4m)`` → a headless Chromium whose webcam plays that video."""
    browsers: list[Browser] = []

    def start(video: Path) -> Browser:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*FLAGS, f"--use-file-for-fake-video-capture={video}"])
        browsers.append(browser)
        return browser

    yield start
    for browser in browsers:
        browser.close()


@pytest.fixture(scope="session")
def camera_video(faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """obama2.jpg (a registry photo) held in front of the camera."""
    return photo_clip(faces / "obama2.jpg", tmp_path_factory.mktemp("webcam") / "obama2.y4m")


@pytest.fixture(scope="session")
def browser(launch: Callable[[Path], Browser], camera_video: Path) -> Browser:
    """One Chromium for every module whose webcam plays ``camera_video``: each test's
    ``open_console()`` is a fresh context of its own (no cookies, storage or permissions kept)."""
    return launch(camera_video)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that needs a key or a session on every /v1 route (FACEGATE_AUTH__REQUIRED), its
    first admin's password known (FACEGATE_AUTH__ADMIN_PASSWORD)."""
    with serving(tmp_path_factory.mktemp("console"),
                 auth={"admin_password": ADMIN_PASSWORD, "required": True}) as server:
        yield server


def add_user(console: LiveServer, name: str, role: str, password: str) -> dict[str, Any]:
    """A user created by the admin through the API (a session of its own)."""
    with console.client() as http:
        csrf = sign_in_http(http, "admin", ADMIN_PASSWORD)
        created = http.post("/v1/users", json={"username": name, "role": role,
                                                "password": password},
                            headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text
        user: dict[str, Any] = created.json()
        return user


def add_people(console: LiveServer, faces: Path, photos: dict[str, str | None]) -> dict[str, str]:
    """People created by the admin through the API, each enrolled from their registry photo
    (``None``: created without a face); their ids by name."""
    ids: dict[str, str] = {}
    with console.client() as http:
        csrf = {"X-CSRF-Token": sign_in_http(http, "admin", ADMIN_PASSWORD)}
        for name, photo in photos.items():
            made = http.post("/v1/identities", json={"name": name}, headers=csrf)
            assert made.status_code == 201, made.text
            ids[name] = made.json()["id"]
            if photo is not None:
                enrolled = http.post(f"/v1/identities/{ids[name]}/faces", headers=csrf, files={
                    "image": (photo, (faces / photo).read_bytes(), "image/jpeg")})
                assert enrolled.status_code == 201, enrolled.text
    return ids


def sign_in_http(http: httpx.Client, name: str, password: str) -> str:
    signed = http.post("/v1/auth/login", json={"username": name, "password": password})
    assert signed.status_code == 200, signed.text
    token: str = signed.json()["csrf_token"]
    return token


class Console:
    """A browser page on the console that fails the test on any console error."""

    def __init__(self, context: BrowserContext, base: str) -> None:
        self.context = context
        self.base = base
        self.page: Page = context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        # A refused request logs "Failed to load resource": the test asserts on the page's
        # own report of it; anything else the page logs as an error is a defect.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def open(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def sign_in(self, name: str = "admin", password: str = ADMIN_PASSWORD) -> Page:
        page = self.open("/ui/login")
        page.get_by_label("Username").fill(name)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/ui/" in url and "/ui/login" not in url, timeout=15_000)
        page.wait_for_load_state("networkidle")
        assert "/ui/login" not in page.url, "sign-in did not leave the sign-in page"
        return page

    def shoot(self, name: str) -> None:
        """Screenshots of the page as it is, at desktop and phone width."""
        shoot(self.page, name)


def small(source: Path, target: Path) -> None:
    """A copy of a screenshot for docs/: at most 1100 px tall, 128 colours."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        picture = image.convert("RGB")
        if picture.height > 1100:
            picture = picture.crop((0, 0, picture.width, 1100))
        picture.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    docs = os.environ.get("FACEGATE_DOCS_SCREENSHOTS")
    size = page.viewport_size
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)
        target = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(target), full_page=True)
        if docs and not name.startswith("shared-"):  # docs show registry photos only
            small(target, Path(docs) / target.name)
    if size:
        page.set_viewport_size(size)


@pytest.fixture
def open_console(browser: Browser, console: LiveServer) -> Iterator[Callable[[], Console]]:
    """``open_console()`` → a fresh browser context (no cookies) on the module's server; the
    test fails if any page it opened logged an error."""
    opened: list[Console] = []

    def start() -> Console:
        context = browser.new_context(viewport=DESKTOP)
        context.grant_permissions(["camera"], origin=console.url)
        opened.append(Console(context, console.url))
        return opened[-1]

    yield start
    errors = [e for c in opened for e in c.errors]
    for c in opened:
        c.context.close()
    assert errors == [], f"the console logged errors: {errors}"
