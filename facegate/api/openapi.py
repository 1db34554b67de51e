"""OpenAPI descriptions for routes that read their body by hand (multipart or JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def image_body(model: type[BaseModel], *image_fields: str) -> dict[str, Any]:
    """A requestBody offering the same fields as multipart (files) or JSON (base64 strings)."""
    schema = model.model_json_schema()
    fields = dict(schema.get("properties", {}))
    json_props = {**fields, **{
        name: {"type": "string", "format": "byte", "description": "base64 image (JPEG, PNG, WebP,"
               " BMP or GIF); a data: URL is accepted"} for name in image_fields}}
    form_props = {**fields, **{
        name: {"type": "string", "format": "binary"} for name in image_fields}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": form_props}},
                "application/json": {"schema": {"type": "object", "properties": json_props}},
            },
        }
    }
