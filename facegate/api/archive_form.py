"""A multipart body of one zip ``archive`` file part and option fields (the job routes')."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

import anyio.to_thread
import pydantic
from fastapi import Request
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from facegate.api.inputs import CSRF_FIELD
from facegate.errors import UnsupportedMediaTypeError, ValidationError

M = TypeVar("M", bound=BaseModel)
U = TypeVar("U")


async def archive_form(request: Request, model: type[M],
                       receive: Callable[[BinaryIO], U]) -> tuple[M, U]:
    """``(options, receive(archive file))``: 415 for a body that is not multipart, 422 for
    bad options or a missing ``archive`` part."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            f"send multipart/form-data with an 'archive' zip, not {content_type!r}")
    options, received = await multipart_form(request, model, receive, required=True)
    if received is None:  # not reached: a required archive part is checked before
        raise _no_archive()
    return options, received


async def multipart_form(request: Request, model: type[M], receive: Callable[[BinaryIO], U], *,
                         required: bool, what: str = "options") -> tuple[M, U | None]:
    """A multipart body's option fields as ``model`` and ``receive(archive file)`` (None when
    there is no ``archive`` part and it is not ``required``): 422 for a body that cannot be
    parsed, bad options (``the {what} are not valid``) or an ``archive`` that is not a file."""
    try:
        form = await request.form(max_files=1, max_fields=16)
    except Exception as exc:  # starlette raises several types for broken multipart bodies
        raise ValidationError(f"the multipart body could not be parsed: {exc}") from exc
    try:
        raw = {k: v for k, v in form.multi_items()
               if not isinstance(v, UploadFile) and k != CSRF_FIELD}
        upload = form.get("archive")
        if upload is None and not required:
            return validated(model, raw, what), None
        if not isinstance(upload, UploadFile):
            raise _no_archive()
        options = validated(model, raw, what)
        return options, await anyio.to_thread.run_sync(receive, upload.file)
    finally:
        await form.close()


def _no_archive() -> ValidationError:
    return ValidationError("an 'archive' file part (a zip) is needed",
                           details={"field": "archive"})


def validated(model: type[M], raw: dict[str, Any], what: str = "options") -> M:
    """``raw`` as ``model``, or 422 naming each problem's field."""
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                    for e in exc.errors()]
        raise ValidationError(f"the {what} are not valid",
                              details={"problems": problems}) from exc
