"""DeepStack's wire rules: its error envelope, the one table from facegate's errors to it, the
form its clients post (any file field names, ``api_key`` in the form) and the key check.

DeepStack (and CodeProject.AI, which kept its API) answers every failure as
``{"success": false, "error": "<message>", "duration": 0}`` with an HTTP status; its clients
compare the status and sometimes the message, so both are DeepStack's own
(``server/middlewares`` and ``intelligencelayer/shared/face.py`` of DeepStack's server).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile

from facegate import errors
from facegate.access.principal import ANONYMOUS, Principal
from facegate.api.deps import get_access, presented_key
from facegate.api.errors import JSONResponse

INCORRECT_KEY = "Incorrect api key"
NO_IMAGE = "No valid image file found"
NO_USERID = "userid not specified"
INVALID_IMAGE = "invalid image"
NO_FACE = "no face detected"  # register; match says "no face found" (DeepStack's own words)
#: The form field of the key, as DeepStack reads it.
KEY_FIELD = "api_key"
#: Upload files one request may carry (register takes any number; DeepStack sets no bound).
MAX_FILES = 20
MAX_FIELDS = 16

#: facegate's error classes → DeepStack's status and message (None: the error's own message).
#: The first class in an error's MRO that is listed answers; anything else is a 400 with the
#: error's message, so no facegate error becomes a 5xx except the server's own troubles.
ERRORS: dict[type[errors.FacegateError], tuple[int, str | None]] = {
    errors.ImageDecodeError: (400, INVALID_IMAGE),
    errors.UnsupportedImageTypeError: (400, INVALID_IMAGE),
    errors.ImageTooLargeError: (413, "image too large"),
    errors.TooManyPixelsError: (413, "image too large"),
    errors.NoFaceError: (400, NO_FACE),
    errors.ValidationError: (400, None),
    errors.UnsupportedMediaTypeError: (400, NO_IMAGE),
    errors.RequestTimeoutError: (408, None),
    errors.InputError: (400, None),
    errors.NotFoundError: (404, None),
    errors.AuthError: (401, INCORRECT_KEY),
    errors.ForbiddenError: (403, None),
    errors.RateLimitedError: (429, None),
    errors.TooManyAttemptsError: (429, None),
    errors.OverloadedError: (503, None),
    errors.StoreError: (503, None),
    errors.ModelError: (500, None),
}


def envelope(message: str, status: int, *, retry_after: int | None = None) -> JSONResponse:
    """DeepStack's failure answer."""
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse({"success": False, "error": message, "duration": 0},
                        status_code=status, headers=headers)


class DeepStackError(Exception):
    """A failure worded by this dialect (status and DeepStack's message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def translated(exc: errors.FacegateError) -> JSONResponse:
    """A facegate error in DeepStack's envelope (the ERRORS table)."""
    status, message = 400, None
    for cls in type(exc).__mro__:
        if cls in ERRORS:
            status, message = ERRORS[cls]
            break
    retry = exc.details.get("retry_after_s") if status in (429, 503) else None
    return envelope(message or exc.message, status,
                    retry_after=int(retry) if isinstance(retry, int | float) else None)


class DeepStackRoute(APIRoute):
    """A route whose failures all answer in DeepStack's envelope, also those of dependencies
    (the model runner's admission: 503)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except DeepStackError as exc:
                return envelope(exc.message, exc.status)
            except errors.FacegateError as exc:
                return translated(exc)
            except RequestValidationError:
                return envelope("invalid request", 400)

        return answer


@dataclass
class Form:
    """A posted form: text fields by name and the uploaded files in the order sent."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, bytes]] = field(default_factory=list)

    def number(self, name: str, default: float) -> float:
        """A ``min_confidence``-like field as DeepStack checks it: a number, at most 1."""
        text = self.fields.get(name, "").strip()
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            raise DeepStackError(400, f"Invalid value for {name}") from None
        if value != value or value > 1.0:  # NaN, or over 1
            raise DeepStackError(400, f"{name} cannot be greater than 1")
        return value

    def image(self) -> bytes:
        """The ``image`` file (detect, recognize)."""
        for name, data in self.files:
            if name == "image":
                return data
        raise DeepStackError(400, NO_IMAGE)


async def read_form(request: Request, *, max_image_bytes: int) -> Form:
    """The request's form (multipart or urlencoded; anything else reads as empty). A body that
    does not parse, or too many files, is DeepStack's ``No valid image file found``."""
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except Exception as exc:  # starlette raises several types for broken bodies
        raise DeepStackError(400, NO_IMAGE) from exc
    out = Form()
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(max_image_bytes + 1)
                if len(data) > max_image_bytes:
                    raise DeepStackError(413, "image too large")
                if data:  # an empty part is no image (gin's FormFile sees none either)
                    out.files.append((name, data))
            else:
                out.fields.setdefault(name, value)
    finally:
        await form.close()
    return out


async def authorize(request: Request, form: Form, scope: str) -> Principal:
    """Who the request acts as, also in ``request.state.principal`` (the audit row's actor).

    The key is the ``api_key`` field (or facegate's own ``X-API-Key`` / Bearer header). With
    access control on it must be a facegate API key (or a bootstrap key) holding ``scope``;
    on an open server no key is needed, but one that is sent must be right."""
    access = get_access(request)
    key = form.fields.get(KEY_FIELD, "").strip() or presented_key(request)
    if not key:
        if access.required:
            raise DeepStackError(401, INCORRECT_KEY)
        principal = ANONYMOUS
    else:
        try:
            principal = await anyio.to_thread.run_sync(access.key_principal, key)
        except errors.AuthError:
            raise DeepStackError(401, INCORRECT_KEY) from None
    request.state.principal = principal
    if not principal.may(scope):
        raise DeepStackError(403, f"this api key lacks the {scope!r} scope")
    return principal
