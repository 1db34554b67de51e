"""CompreFace's wire rules (its docs/Rest-API-description.md and error codes): the ``x-api-key``
header, the ``{"message", "code"}`` error envelope, images as a multipart part or base64 JSON,
and options in the query string.

``ERRORS`` is the one table from facegate's error classes to CompreFace's status and code;
``CompreFaceRoute`` answers every error of a dialect route in CompreFace's envelope (FastAPI's own
validation errors and a body it cannot parse included), so no facegate envelope leaks out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio.to_thread
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from facegate import errors
from facegate.access.principal import ANONYMOUS, Principal
from facegate.api import audit
from facegate.api.errors import JSONResponse
from facegate.api.inputs import read_body

logger = logging.getLogger(__name__)

#: Where CompreFace's clients send everything (their URL setting is the server's root).
PREFIX = "/api/v1"
#: CompreFace's codes (its ``CommonExceptionCode``) used here.
API_KEY_NOT_FOUND = 10  # MODEL_NOT_FOUND: no service with that key
IMAGE_NOT_FOUND = 11
INCORRECT_PREDICTION_COUNT = 12
MISSING_HEADER = 20
UNAVAILABLE_FILE = 21  # not an image CompreFace can read
CONSTRAINT_VIOLATION = 26
NO_FACES_FOUND = 28
TOO_MANY_FACES = 31
MISSING_PART = 34
INCORRECT_ARGUMENT = 36
SERVICE_ERROR = 41
SUBJECT_NOT_FOUND = 42
SUBJECT_EXISTS = 43
UNDEFINED = 0
#: Exactly CompreFace's text: Double Take and a Home Assistant integration compare it.
NO_FACE_MESSAGE = "No face is found in the given image"

#: facegate's error classes → (HTTP status, CompreFace code); the first class in a raised
#: error's MRO that is listed wins. Messages stay facegate's unless the route gives its own.
ERRORS: dict[type[errors.FacegateError], tuple[int, int]] = {
    errors.NoFaceError: (400, NO_FACES_FOUND),
    errors.MultipleFacesError: (400, TOO_MANY_FACES),
    errors.ImageDecodeError: (400, UNAVAILABLE_FILE),
    errors.UnsupportedImageTypeError: (400, UNAVAILABLE_FILE),
    errors.ImageTooLargeError: (400, CONSTRAINT_VIOLATION),
    errors.TooManyPixelsError: (400, CONSTRAINT_VIOLATION),
    errors.UnsupportedMediaTypeError: (400, CONSTRAINT_VIOLATION),
    errors.ValidationError: (400, CONSTRAINT_VIOLATION),
    errors.ConflictError: (400, SUBJECT_EXISTS),
    errors.EmptyIdentityError: (400, NO_FACES_FOUND),
    errors.InputError: (400, UNDEFINED),
    errors.IdentityNotFoundError: (404, SUBJECT_NOT_FOUND),
    errors.FaceNotFoundError: (404, IMAGE_NOT_FOUND),
    errors.NotFoundError: (404, IMAGE_NOT_FOUND),
    errors.AuthError: (404, API_KEY_NOT_FOUND),
    errors.ForbiddenError: (404, API_KEY_NOT_FOUND),
    errors.RateLimitedError: (429, UNDEFINED),
    errors.TooManyAttemptsError: (429, UNDEFINED),
    errors.OverloadedError: (503, SERVICE_ERROR),
    errors.StoreError: (503, SERVICE_ERROR),
    errors.ModelError: (500, SERVICE_ERROR),
}


class CompreFaceError(Exception):
    """An answer in CompreFace's envelope; ``facegate_code`` names it in the audit row."""

    def __init__(self, status: int, code: int, message: str, *,
                 facegate_code: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.facegate_code = facegate_code


def translate(exc: errors.FacegateError) -> CompreFaceError:
    status, code = next((ERRORS[c] for c in type(exc).__mro__ if c in ERRORS), (500, UNDEFINED))
    message = NO_FACE_MESSAGE if code == NO_FACES_FOUND else exc.message
    return CompreFaceError(status, code, message, facegate_code=exc.code)


def envelope(request: Request, error: CompreFaceError) -> Response:
    audit.note(request, error_code=error.facegate_code, compreface_code=error.code)
    headers = {"Retry-After": "1"} if error.status in (429, 503) else None
    return JSONResponse({"message": error.message, "code": error.code},
                        status_code=error.status, headers=headers)


class CompreFaceRoute(APIRoute):
    """A route whose every refusal is CompreFace's ``{"message", "code"}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except CompreFaceError as exc:
                return envelope(request, exc)
            except errors.FacegateError as exc:
                if isinstance(exc, errors.StoreError | errors.ModelError):
                    logger.error("%s: %s", exc.code, exc.message)
                return envelope(request, translate(exc))
            except RequestValidationError as exc:
                problem = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in exc.errors())
                return envelope(request, CompreFaceError(400, CONSTRAINT_VIOLATION, problem))
            except HTTPException as exc:  # e.g. a JSON body that is not UTF-8
                return envelope(request, CompreFaceError(
                    400 if exc.status_code < 500 else 503, UNDEFINED, str(exc.detail)))

        return run


# authentication ------------------------------------------------------------------------------

def service_key(service: str, scope: str, *, reads: str | None = None) -> Any:
    """The dependency of a ``service`` ("Recognition", "Detection", "Verification") route
    needing ``scope`` (GETs: ``reads``): the ``x-api-key`` checked with the access layer."""

    async def check(request: Request) -> Principal:
        access = request.app.state.access
        key = request.headers.get("x-api-key")
        not_found = CompreFaceError(404, API_KEY_NOT_FOUND,
                                    f"{service} service with this API Key not found",
                                    facegate_code="UNAUTHORIZED")
        if key is None:
            if access.required:
                raise CompreFaceError(400, MISSING_HEADER, "Missing header: x-api-key",
                                      facegate_code="UNAUTHORIZED")
            principal = ANONYMOUS
        else:
            try:
                principal = await anyio.to_thread.run_sync(access.key_principal, key)
            except errors.AuthError as exc:
                raise not_found from exc
        request.state.principal = principal
        needed = reads if reads is not None and request.method in ("GET", "HEAD") else scope
        if not principal.may(needed):
            not_found.facegate_code = "FORBIDDEN"
            raise not_found
        return principal

    return Depends(check)


# bodies and options --------------------------------------------------------------------------

class _Fields(BaseModel):
    """Whatever else a CompreFace body carries is ignored, as CompreFace does."""

    model_config = ConfigDict(extra="ignore")


async def images(request: Request, *names: str) -> dict[str, bytes]:
    """The images named ``names``, every one required: multipart parts or base64 JSON keys."""
    limit = request.app.state.facegate.settings.image.max_upload_bytes
    _, found = await read_body(request, _Fields, image_fields=names, max_image_bytes=limit)
    for name in names:
        if not found.get(name):
            raise CompreFaceError(400, MISSING_PART,
                                  f"Required request part '{name}' is not present")
    return found


#: face_plugins values that are served; any other (age, gender, mask, pose, ``undefined``...)
#: is ignored and its key left out of the answer.
PLUGINS = frozenset({"landmarks", "calculator"})
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


class Options:
    """The query options of a face service call (``?&a=1`` and repeated keys tolerated)."""

    def __init__(self, request: Request) -> None:
        query = request.query_params
        self.limit = _int(query.get("limit"), "limit", default=0, low=0)
        self.prediction_count = _int(query.get("prediction_count"), "prediction_count",
                                     default=1, low=1, high=100,
                                     code=INCORRECT_PREDICTION_COUNT)
        self.det_prob_threshold = _float(query.get("det_prob_threshold"))
        self.status = _bool(query.get("status"), "status", default=False)
        self.detect_faces = _bool(query.get("detect_faces"), "detect_faces", default=True)
        asked = {p.strip().lower() for v in query.getlist("face_plugins") for p in v.split(",")}
        self.plugins = frozenset(asked & PLUGINS)


def _int(text: str | None, name: str, *, default: int, low: int, high: int | None = None,
         code: int = CONSTRAINT_VIOLATION) -> int:
    if text is None or text.strip() in ("", "undefined", "null"):
        return default
    try:
        value = int(text.strip())
    except ValueError as exc:
        raise CompreFaceError(400, code, f"{name} must be an integer") from exc
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise CompreFaceError(400, code, f"{name} must be {bound}")
    return value


def _float(text: str | None) -> float | None:
    if text is None or text.strip() in ("", "undefined", "null"):
        return None
    try:
        value = float(text.strip())
    except ValueError as exc:
        raise CompreFaceError(400, CONSTRAINT_VIOLATION,
                              "det_prob_threshold must be a number") from exc
    if not 0.0 <= value <= 1.0:
        raise CompreFaceError(400, CONSTRAINT_VIOLATION,
                              "det_prob_threshold must be between 0.0 and 1.0")
    return value


def _bool(text: str | None, name: str, *, default: bool) -> bool:
    if text is None or text.strip().lower() in ("undefined", "null"):
        return default
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CompreFaceError(400, CONSTRAINT_VIOLATION, f"{name} must be true or false")
