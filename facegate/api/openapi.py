"""The OpenAPI document, kept truthful.

- Request bodies of the routes that read them by hand (multipart or JSON): ``image_body``,
  ``sequence_body``, ``archive_body``; closed (``additionalProperties: false``) because the server
  refuses unknown fields.
- ``answers(*errors)``: the error answers a route declares, one per HTTP status its errors map to
  (through ``api.errors.STATUS``, the one mapping), each with the real envelope
  ``{"error": {"code", "message", "details"?}}`` and the codes in its description.
- ``install(app, api_keys=...)``: the generated document without FastAPI's default 422
  (``HTTPValidationError``, a shape facegate never sends) and without the ``X-API-Key`` header
  parameter; with access control on, the key, bearer and session schemes and 401/403 on every
  ``/v1`` route but the login.
  429 RATE_LIMITED (with ``Retry-After``) on the rate-limited routes (``api.rate_limit``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from facegate import errors as e
from facegate.api.errors import status_for_class
from facegate.api.rate_limit import RECOGNIZE_PATHS, in_scope
from facegate.api.schemas import ErrorResponse
from facegate.api.sequence_inputs import MAX_FRAMES

ERROR_REF = "#/components/schemas/ErrorResponse"
#: The one /v1 route that needs no credentials.
LOGIN = "/v1/auth/login"
#: A field carried as media: its schema as a multipart part and in JSON (None: not in JSON).
Media = tuple[dict[str, Any], dict[str, Any] | None]
_BASE64: dict[str, Any] = {"type": "string", "format": "byte",
                           "description": "base64, or a data: URL"}
_FILE: dict[str, Any] = {"type": "string", "format": "binary"}
_IMAGE: Media = ({**_FILE, "description": "JPEG, PNG, WebP, BMP or GIF"},
                 {**_BASE64, "description": "JPEG, PNG, WebP, BMP or GIF: base64, or a data: URL"})

#: What verify compares the face with: exactly one of them.
REFERENCES = ("image2", "identity_id", "descriptor")
#: What any body read by hand can be refused with (the body limit, the body timeout and the
#: bytes-in-flight cap included).
BODY = (e.UnsupportedMediaTypeError, e.ImageTooLargeError, e.ValidationError,
        e.RequestTimeoutError, e.OverloadedError)
#: An uploaded image that cannot be used.
IMAGE = (e.ImageDecodeError, e.UnsupportedImageTypeError, e.ImageTooLargeError,
         e.TooManyPixelsError)
#: A frame sequence or video (each frame is also an image).
SEQUENCE = (*IMAGE, e.VideoDecodeError, e.TooManyFramesError)
#: Where exactly one face is needed.
ONE_FACE = (e.NoFaceError, e.MultipleFacesError)
#: Model work queued behind the workers.
BUSY = (e.OverloadedError,)
#: Anything that reads or writes the gallery store.
STORE = (e.StoreError,)


def answers(*raised: type[e.FacegateError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can raise these errors: one entry per HTTP status."""
    codes: dict[int, list[str]] = {}
    for kind in raised:
        listed = codes.setdefault(status_for_class(kind), [])
        if kind.code not in listed:
            listed.append(kind.code)
    return {status: {"model": ErrorResponse, "description": ", ".join(found)}
            for status, found in sorted(codes.items())}


def image_body(model: type[BaseModel], *image_fields: str, required: tuple[str, ...] = ("image",),
               one_of: tuple[str, ...] = ()) -> dict[str, Any]:
    """A requestBody offering the same fields as multipart (files) or JSON (base64 strings);
    ``one_of``: fields of which exactly one must be sent."""
    return _body(model, dict.fromkeys(image_fields, _IMAGE), required, [one_of] if one_of else [])


def sequence_body(model: type[BaseModel], *image_fields: str,
                  one_of: tuple[str, ...] = ()) -> dict[str, Any]:
    """A frame sequence: repeated ``frames`` file parts or one ``video`` (multipart), or the same
    as base64 strings (JSON); exactly one of the two."""
    frames = ({"type": "array", "items": _IMAGE[0], "minItems": 1, "maxItems": MAX_FRAMES,
               "description": "images in order, one part each"},
              {"type": "array", "items": _IMAGE[1], "minItems": 1, "maxItems": MAX_FRAMES,
               "description": "images in order"})
    video = ({**_FILE, "description": "MP4, WebM, AVI, ..."},
             {**_BASE64, "minLength": 1, "description": "MP4, WebM, AVI, ...: base64"})
    media: dict[str, Media] = {"frames": frames, "video": video,
                               **dict.fromkeys(image_fields, _IMAGE)}
    return _body(model, media, (), [("frames", "video"), *([one_of] if one_of else [])])


def archive_body(model: type[BaseModel]) -> dict[str, Any]:
    """Training: a zip ``archive`` file part with the options as form parts, or the options
    alone as JSON (to train on the gallery as it is); an empty body takes every default."""
    archive = ({**_FILE, "description": "zip: one folder per person, or name_N.jpg files"},
               None)
    body = _body(model, {"archive": archive}, (), [])
    body["requestBody"]["required"] = False
    return body


def zip_body(model: type[BaseModel]) -> dict[str, Any]:
    """Bulk import, calibration: multipart only, a required zip ``archive`` file part and the
    options as form parts."""
    archive = ({**_FILE, "description": "zip: one folder per person, or name_N.jpg files"},
               None)
    body = _body(model, {"archive": archive}, ("archive",), [])
    del body["requestBody"]["content"]["application/json"]
    return body


def _body(model: type[BaseModel], media: dict[str, Media], required: tuple[str, ...],
          groups: list[tuple[str, ...]]) -> dict[str, Any]:
    schema = model.model_json_schema()
    assert "$defs" not in schema, f"{model.__name__}: inline its nested models"
    fields: dict[str, Any] = schema.get("properties", {})
    grouped = {name for group in groups for name in group}
    form = {**{k: _form_field(v) for k, v in fields.items()},
            **{k: as_part for k, (as_part, _) in media.items()}}
    json = {**{k: _form_field(v) if k in grouped else v for k, v in fields.items()},
            **{k: as_json for k, (_, as_json) in media.items() if as_json is not None}}
    encoding = {k: {"contentType": "application/json"} for k, v in form.items()
                if v.get("type") in ("array", "object") and k not in media}
    needed = [*schema.get("required", []), *required]
    exactly_one = [{"oneOf": [{"required": [name]} for name in group]} for group in groups]

    def closed(properties: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "properties": properties,
                               "additionalProperties": False}
        if needed:
            out["required"] = needed
        if len(exactly_one) == 1:
            out.update(exactly_one[0])
        elif exactly_one:
            out["allOf"] = exactly_one
        return out

    multipart: dict[str, Any] = {"schema": closed(form)}
    if encoding:
        multipart["encoding"] = encoding
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": multipart, "application/json": {"schema": closed(json)}}}}


def _form_field(schema: dict[str, Any]) -> dict[str, Any]:
    """A form part is sent or left out, never null: ``anyOf [X, null]`` becomes ``X`` (so do
    the JSON fields of a one-of group, where sending null would count as sending the field)."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest, **options[0]}


def install(app: FastAPI, *, api_keys: bool) -> None:
    """Serve the truthful document at ``/openapi.json`` (and ``/docs``)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version,
                              description=app.description, routes=app.routes)
            app.openapi_schema = truthful(doc, api_keys=api_keys)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]  # FastAPI's documented override


def truthful(doc: dict[str, Any], *, api_keys: bool) -> dict[str, Any]:
    components = doc.setdefault("components", {})
    for path, operation in _operations(doc):
        operation["parameters"] = [p for p in operation.get("parameters", [])
                                   if (p["in"], p["name"].lower()) != ("header", "x-api-key")]
        if not operation["parameters"]:
            del operation["parameters"]
        responses = operation["responses"]
        for status in [s for s, r in responses.items() if "HTTPValidationError" in str(r)]:
            del responses[status]  # FastAPI's default 422: the route declares its own
        if api_keys and path.startswith("/v1/") and path != LOGIN:
            _guarded(path, operation)
        if in_scope(path, RECOGNIZE_PATHS):
            responses["429"] = {
                "description": f"{e.RateLimitedError.code} (this caller's request rate is used "
                "up; FACEGATE_RATE__RECOGNIZE_PER_MINUTE)",
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}
        operation["responses"] = dict(sorted(responses.items()))
    schemas = components.setdefault("schemas", {})
    if "HTTPValidationError" not in str(doc["paths"]):  # FastAPI's, never sent by facegate
        schemas.pop("HTTPValidationError", None)
        if "loc" in str(schemas.get("ValidationError", {})):
            schemas.pop("ValidationError")
    if api_keys:
        components["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
            "Session": {"type": "apiKey", "in": "cookie", "name": "facegate_session"}}
    return doc


def _guarded(path: str, operation: dict[str, Any]) -> None:
    """A route behind access control: a key or a session, 401 without; 403 outside its scope
    (or, for a session, without its CSRF token)."""
    operation["security"] = [{"ApiKey": []}, {"Bearer": []}, {"Session": []}]
    responses = operation["responses"]
    responses["401"] = {
        "description": "UNAUTHORIZED (no valid API key in X-API-Key or Authorization: Bearer, "
                       "nor a signed-in session)",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["APIKey"]}}},
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}
    if path != "/v1/auth/me":  # the one route open to every principal, a GET
        responses["403"] = {
            "description": "FORBIDDEN (outside the key's or role's scope), CSRF_FAILED (a "
                           "session request without its X-CSRF-Token)",
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}


def _operations(doc: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    for path, item in doc.get("paths", {}).items():
        for operation in item.values():
            yield path, operation
