"""Settings section of the other face servers' API dialects (docs/compat.md), built into
``config.Settings``. Imports nothing from facegate."""

from __future__ import annotations

from pydantic import BaseModel


class CompatSettings(BaseModel):
    """Each dialect is on by default; its routes answer 404 when it is off."""

    #: CompreFace's REST API under ``/api/v1`` (``x-api-key`` header).
    compreface: bool = True
    #: DeepStack's / CodeProject.AI's face API under ``/v1/vision/face`` (``api_key`` field).
    deepstack: bool = True
