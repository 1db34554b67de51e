"""The console's pages: each is a template that renders the frame (navigation by role, the
session's CSRF token) and names its ES module; the module fetches everything from /v1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from facegate import __version__
from facegate.access.principal import SCOPES, Principal
from facegate.api.deps import SESSION_COOKIE, authenticate
from facegate.errors import AuthError, ForbiddenError
from facegate.storage.access_records import SessionRecord

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/ui", include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Page:
    """A console page: ``/ui/<slug>`` renders ``<slug>.html`` for a user who holds ``scope``
    (None: every signed-in user)."""

    slug: str
    title: str
    scope: str | None
    nav: bool = True


#: In navigation order.
PAGES: tuple[Page, ...] = (
    Page("people", "People", "read"),
    Page("import", "Import", "enrol"),
    Page("identify", "Test bench", "recognize"),
    Page("review", "Review", "read"),
    Page("live", "Live", "recognize"),
    Page("liveness", "Liveness", "recognize"),
    Page("train", "Train & models", "train"),
    Page("accuracy", "Accuracy", "admin"),
    Page("audit", "Audit", "admin"),
    Page("admin", "Admin", "admin"),
    Page("account", "Account", None, nav=False),
)
BY_SLUG = {page.slug: page for page in PAGES}


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    session: SessionRecord

    def may(self, scope: str | None) -> bool:
        return scope is None or self.principal.may(scope)


async def signed_in(request: Request) -> Viewer | None:
    """The signed-in user of this request's session cookie (the console needs a session: an
    API key or an open server's anonymous access does not sign anybody in)."""
    if not request.cookies.get(SESSION_COOKIE):
        return None
    try:
        principal = await authenticate(request)
    except (AuthError, ForbiddenError):
        return None
    session: SessionRecord | None = getattr(request.state, "session", None)
    if principal.kind != "user" or session is None:
        return None
    return Viewer(principal, session)


def render(request: Request, viewer: Viewer, page: Page, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    """``page``'s template in the console frame."""
    return templates.TemplateResponse(request, f"{page.slug}.html", status_code=status, context={
        "page": page, "title": context.pop("title", page.title), "principal": viewer.principal,
        "scopes": [s for s in SCOPES if viewer.principal.may(s)],
        "csrf": viewer.session.csrf_token, "version": __version__,
        "nav": [p for p in PAGES if p.nav and viewer.may(p.scope)],
        "open_server": not request.app.state.access.required, **context})


def to_sign_in(request: Request) -> RedirectResponse:
    return RedirectResponse("/ui/login?next=" + quote(request.url.path, safe="/"), 303)


def refusal(request: Request, viewer: Viewer, status: int, message: str) -> HTMLResponse:
    return render(request, viewer, Page("refused", "Not here", None, nav=False), status=status,
                  message=message)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return to_sign_in(request)
    first = next((p for p in PAGES if p.nav and viewer.may(p.scope)), BY_SLUG["account"])
    return RedirectResponse(f"/ui/{first.slug}", 303)


@router.get("/login", response_class=HTMLResponse)
async def login(request: Request, next: str = "/ui/") -> Response:  # noqa: A002
    target = next if next.startswith("/ui/") and not next.startswith("//") else "/ui/"
    if await signed_in(request) is not None:
        return RedirectResponse(target, 303)
    return templates.TemplateResponse(request, "login.html", context={
        "title": "Sign in", "next": target, "version": __version__})


@router.get("/people/{identity_id}", response_class=HTMLResponse)
async def person(request: Request, identity_id: str) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return to_sign_in(request)
    page = Page("person", "Person", "read", nav=False)
    if not viewer.may(page.scope):
        return refusal(request, viewer, 403, "Your role may not see people.")
    return render(request, viewer, page, current="people", identity_id=identity_id)


@router.get("/{slug}", response_class=HTMLResponse)
async def page(request: Request, slug: str) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return to_sign_in(request)
    found = BY_SLUG.get(slug)
    if found is None:
        return refusal(request, viewer, 404, "There is no such page in the console.")
    if not viewer.may(found.scope):
        return refusal(request, viewer, 403,
                       f"This page needs the {found.scope!r} scope, which your role does not "
                       "hold.")
    return render(request, viewer, found, current=found.slug)
