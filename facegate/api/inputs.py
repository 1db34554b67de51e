"""Request bodies that carry images: multipart uploads or JSON with base64, parsed the same way.

A route declares one pydantic model for its fields (``image`` etc. as base64 strings in JSON) and
which fields are images; in multipart form the same names are file parts and the other fields are
form values (lists as JSON text).
"""

from __future__ import annotations

import base64
import binascii
import json
import types
import typing
from typing import Any, TypeVar

import pydantic
from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from starlette.datastructures import UploadFile

from facegate.errors import (
    ImageTooLargeError,
    UnsupportedMediaTypeError,
    ValidationError,
)

M = TypeVar("M", bound=pydantic.BaseModel)
#: The form field that carries a session's CSRF token (``api.deps``); no route reads it.
CSRF_FIELD = "csrf_token"


class RequestModel(BaseModel):
    """A request's fields: unknown ones refused, text that is not valid Unicode refused (JSON can
    carry a lone surrogate as ``"\\ud800"``; nothing can store or write it back), and
    ``true``/``false`` only where a field is a boolean (pydantic's lax mode would read
    ``threshold: true`` as 1.0). Multipart form values arrive as text and convert as usual."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _plain_values(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields[info.field_name or ""]
        if _holds_bool(value) and not _takes_bool(field.annotation):
            raise ValueError("must not be a boolean")
        if not _valid_unicode(value):
            raise ValueError("text must be valid Unicode (no lone surrogates)")
        return value


def _holds_bool(value: Any) -> bool:
    return isinstance(value, bool) or (
        isinstance(value, list) and any(isinstance(item, bool) for item in value))


def _takes_bool(annotation: Any) -> bool:
    """Whether a field of this type may hold a boolean (``bool`` or ``Any`` anywhere in it)."""
    if annotation is bool or annotation is Any:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return any(_takes_bool(arg) for arg in typing.get_args(annotation))
    return False


def _valid_unicode(value: Any, depth: int = 0) -> bool:
    """Every string in ``value`` (and its keys) encodes as UTF-8; deeper than 64 levels is
    left to the field's own validation."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if depth > 64:
        return True
    if isinstance(value, dict):
        return all(_valid_unicode(k, depth + 1) and _valid_unicode(v, depth + 1)
                   for k, v in value.items())
    if isinstance(value, list):
        return all(_valid_unicode(item, depth + 1) for item in value)
    return True


def parse_json(text: str | bytes) -> Any:
    """JSON text → a value, or ValidationError (not JSON, or nested too deeply to parse)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValidationError("the JSON is nested too deeply") from exc
    except ValueError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}") from exc

async def read_body(
    request: Request, model: type[M], *, image_fields: tuple[str, ...], max_image_bytes: int
) -> tuple[M, dict[str, bytes]]:
    """The parsed fields and the decoded image bytes by field name."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        raw, images = await _multipart(request, image_fields, max_image_bytes)
    elif content_type in ("application/json", ""):
        raw, images = await _json(request, image_fields, max_image_bytes)
    else:
        raise UnsupportedMediaTypeError(
            f"send multipart/form-data or application/json, not {content_type!r}")
    try:
        return model.model_validate(raw), images
    except pydantic.ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                    for e in exc.errors()]
        raise ValidationError("the request is not valid", details={"problems": problems}) \
            from exc


async def _multipart(
    request: Request, image_fields: tuple[str, ...], limit: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    try:
        form = await request.form(max_files=len(image_fields) + 1, max_fields=32)
    except Exception as exc:  # starlette raises several types for broken multipart bodies
        raise ValidationError(f"the multipart body could not be parsed: {exc}") from exc
    raw: dict[str, Any] = {}
    images: dict[str, bytes] = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key not in image_fields:
                    raise ValidationError(f"unexpected file field {key!r}")
                images[key] = await _read_limited(value, limit)
            elif key != CSRF_FIELD:
                raw[key] = _form_value(value)
    finally:  # spooled upload files must be closed on errors too
        await form.close()
    return raw, images


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLargeError(f"the upload is over the limit of {limit} bytes",
                                 details={"limit_bytes": limit})
    return data


def _form_value(value: str) -> Any:
    text = value.strip()
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except RecursionError as exc:
            raise ValidationError("a form field's JSON is nested too deeply") from exc
        except ValueError:
            return value
    return value


async def json_object(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request's JSON body, which must be an object (ValidationError otherwise, also for
    JSON nested too deep to parse); ``allow_empty``: no body at all is ``{}``."""
    body = await request.body()
    if not body:
        if allow_empty:
            return {}
        raise ValidationError("the request body is empty")
    raw = parse_json(body)
    if not isinstance(raw, dict):
        raise ValidationError("the JSON body must be an object")
    return raw


async def _json(
    request: Request, image_fields: tuple[str, ...], limit: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    raw = await json_object(request)
    images: dict[str, bytes] = {}
    for key in image_fields:
        value = raw.pop(key, None)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError(f"{key!r} must be a base64 string")
        images[key] = _b64(key, value, limit)
    return raw, images


def _b64(field: str, value: str, limit: int) -> bytes:
    if value.startswith("data:"):
        value = value.partition(",")[2]
    if len(value) > limit * 4 // 3 + 8:
        raise ImageTooLargeError(f"{field!r} is over the limit of {limit} bytes",
                                 details={"limit_bytes": limit})
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"{field!r} is not valid base64") from exc
