"""FastAPI dependencies, as ``Annotated`` aliases routes can declare."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request

from facegate.access.principal import ANONYMOUS, Principal
from facegate.access.service import AccessService
from facegate.api.inputs import CSRF_FIELD
from facegate.api.sequence_inputs import MAX_FRAMES
from facegate.bootstrap import Facegate
from facegate.errors import AuthError, ForbiddenError, OverloadedError
from facegate.services.gallery import GalleryService
from facegate.services.recognition import RecognitionService

T = TypeVar("T")
#: Seconds a refused client is asked to wait (one face takes well under a second).
RETRY_AFTER_S = 1


def get_facegate(request: Request) -> Facegate:
    facegate: Facegate = request.app.state.facegate
    return facegate


def get_gallery(request: Request) -> GalleryService:
    return get_facegate(request).gallery


def get_recognition(request: Request) -> RecognitionService:
    return get_facegate(request).recognition


#: The session cookie (HttpOnly, SameSite=Strict, Secure under TLS).
SESSION_COOKIE = "facegate_session"
#: Methods that change nothing: a session needs no CSRF token for them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_access(request: Request) -> AccessService:
    access: AccessService = request.app.state.access
    return access


def presented_key(request: Request) -> str | None:
    """The API key in ``X-API-Key`` or ``Authorization: Bearer``, if any."""
    key = request.headers.get("x-api-key")
    if key is None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            key = value.strip()
    return key


async def authenticate(request: Request) -> Principal:
    """Who the request acts as, also in ``request.state.principal``: a key (checked first),
    a session cookie (with its CSRF token on state-changing requests), or, on an open server,
    anonymous. With access control on, no credentials is 401 UNAUTHORIZED. The store is read
    on a worker thread, and only when credentials came."""
    access = get_access(request)
    if presented_key(request) is None and not request.cookies.get(SESSION_COOKIE):
        if access.required:
            raise AuthError("this server needs an API key (X-API-Key or Authorization: "
                            "Bearer) or a signed-in session")
        principal = ANONYMOUS
    else:
        csrf = request.headers.get("x-csrf-token") or await _form_csrf(request)
        try:
            principal = await anyio.to_thread.run_sync(_principal, request, access, csrf)
        except (AuthError, ForbiddenError):
            if access.required:
                await request.close()  # the form read for its token, upload files included
                raise
            principal = ANONYMOUS  # an open server: credentials that do not hold change nothing
    request.state.principal = principal
    return principal


#: Form bodies whose ``csrf_token`` field carries a session's CSRF token (HTML forms cannot
#: set headers).
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _form_csrf(request: Request) -> str | None:
    """The ``csrf_token`` field of a state-changing session request's form body, if any (the
    parsed form is kept on the request, so the route reads the same one)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if (request.method in SAFE_METHODS or content_type not in FORM_TYPES
            or presented_key(request) is not None or not request.cookies.get(SESSION_COOKIE)):
        return None
    try:
        form = await request.form(max_files=MAX_FRAMES + 4, max_fields=64)
    except Exception:  # a broken body: the route refuses it with its own error
        return None
    token = form.get(CSRF_FIELD)
    return token if isinstance(token, str) else None


def _principal(request: Request, access: AccessService, csrf: str | None) -> Principal:
    key = presented_key(request)
    if key is not None:
        return access.key_principal(key)
    principal, session = access.session_principal(
        request.cookies[SESSION_COOKIE], csrf=csrf,
        changes_state=request.method not in SAFE_METHODS)
    request.state.session = session
    return principal


def require(scope: str, *, reads: str | None = None) -> Any:
    """The dependency of routes that need ``scope`` (GET/HEAD requests: ``reads`` when given);
    403 FORBIDDEN naming the scope otherwise."""

    async def check(request: Request,
                    principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        needed = reads if reads is not None and request.method in ("GET", "HEAD") else scope
        if not principal.may(needed):
            raise ForbiddenError(f"this needs the {needed!r} scope",
                                 details={"scope": needed})
        return principal

    return Depends(check)


class ModelRunner:
    """Runs model work on worker threads, at most ``workers`` at once, off the event loop.

    A request is admitted (``admit``) before its body is read: at most ``workers + max_queue``
    are admitted at once; past that the request is refused at once with 503 OVERLOADED and
    ``Retry-After``, so neither latency nor bodies waiting in memory pile up behind a full queue.
    """

    def __init__(self, workers: int, *, max_queue: int) -> None:
        self._limiter = anyio.CapacityLimiter(workers)
        self._capacity = workers + max_queue
        self._admitted = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of the admission slots for the block (OverloadedError when none is free)."""
        if self._admitted >= self._capacity:
            raise OverloadedError(
                "the server is busy with other faces; retry shortly",
                details={"retry_after_s": RETRY_AFTER_S},
            )
        self._admitted += 1  # the event loop is single-threaded: no lock needed
        try:
            yield
        finally:
            self._admitted -= 1

    def state(self) -> dict[str, int]:
        """Workers busy now, requests waiting for one, requests admitted (reading their body,
        waiting or running) and how many may be (call on the event loop)."""
        stats = self._limiter.statistics()
        return {"workers": int(self._limiter.total_tokens), "busy": int(stats.borrowed_tokens),
                "waiting": stats.tasks_waiting, "admitted": self._admitted,
                "capacity": self._capacity}

    async def __call__(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a worker thread, once one is free (the caller is already admitted)."""
        return await anyio.to_thread.run_sync(fn, limiter=self._limiter)


async def admitted_runner(request: Request) -> AsyncIterator[ModelRunner]:
    """The runner, with an admission slot held until the response: routes that declare it are
    admitted before they read their body."""
    runner: ModelRunner = request.app.state.runner
    with runner.admit():
        yield runner


FacegateDep = Annotated[Facegate, Depends(get_facegate)]
GalleryDep = Annotated[GalleryService, Depends(get_gallery)]
RecognitionDep = Annotated[RecognitionService, Depends(get_recognition)]
RunnerDep = Annotated[ModelRunner, Depends(admitted_runner)]
AccessDep = Annotated[AccessService, Depends(get_access)]
PrincipalDep = Annotated[Principal, Depends(authenticate)]
