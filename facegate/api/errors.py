"""The one place that maps facegate's error tree to HTTP.

Every error response has one shape: ``{"error": {"code": "...", "message": "...", "details": {}}}``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse as BaseJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facegate import errors

logger = logging.getLogger(__name__)

STATUS: dict[type[errors.FacegateError], int] = {
    errors.ValidationError: 422,
    errors.ConsentRequiredError: 422,
    errors.ImageDecodeError: 400,
    errors.UnsupportedImageTypeError: 415,
    errors.UnsupportedMediaTypeError: 415,
    errors.ImageTooLargeError: 413,
    errors.TooManyPixelsError: 413,
    errors.NoFaceError: 422,
    errors.MultipleFacesError: 422,
    errors.DuplicateFaceError: 409,
    errors.ConflictError: 409,
    errors.ClusterChangedError: 409,
    errors.EmptyIdentityError: 409,
    errors.VideoDecodeError: 400,
    errors.ArchiveError: 400,
    errors.ArchiveTooLargeError: 413,
    errors.TooManyFramesError: 413,
    errors.RequestTimeoutError: 408,
    errors.SessionNotFoundError: 404,
    errors.SessionExpiredError: 410,
    errors.SessionUsedError: 409,
    errors.LivenessError: 409,
    errors.InputError: 400,
    errors.NotFoundError: 404,
    errors.AuthError: 401,
    errors.RateLimitedError: 429,
    errors.ForbiddenError: 403,
    errors.TooManyAttemptsError: 429,
    errors.OverloadedError: 503,
    errors.StoreError: 503,
    errors.ModelError: 500,
}
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED"}


class JSONResponse(BaseJSONResponse):
    """Starlette's JSON response, which also writes text that UTF-8 cannot encode (a lone
    surrogate echoed from a request) instead of failing: then as ASCII JSON with escapes."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False,
                              separators=(",", ":")).encode("ascii")


def status_for(error: errors.FacegateError) -> int:
    return status_for_class(type(error))


def status_for_class(kind: type[errors.FacegateError]) -> int:
    for cls in kind.__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(
    code: str, message: str, details: dict[str, object] | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.FacegateError)
    async def _facegate(_: Request, exc: errors.FacegateError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500 and not isinstance(exc, errors.OverloadedError):
            logger.error("%s: %s", exc.code, exc.message)
        headers = {"WWW-Authenticate": "APIKey"} if status == 401 else None
        if isinstance(exc, errors.OverloadedError | errors.RateLimitedError
                      | errors.TooManyAttemptsError):
            headers = {"Retry-After": str(exc.details.get("retry_after_s", 1))}
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("VALIDATION_ERROR", "the request is not valid", {"problems": problems}),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "There was an error parsing the body" (e.g. a JSON body that is not
            # UTF-8): a malformed request like any other, so the same 422 as invalid JSON.
            return JSONResponse(error_body(
                "VALIDATION_ERROR", f"the request body could not be read: {exc.detail}"),
                status_code=422)
        code = _HTTP_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return JSONResponse(error_body("INTERNAL_ERROR", "an unexpected error occurred"),
                            status_code=500)
