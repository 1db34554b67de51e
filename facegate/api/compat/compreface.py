"""CompreFace's REST API under ``/api/v1`` (docs/compat.md): the recognition service
(``compreface_gallery``: subjects and examples; ``compreface_recognition``: recognize, verify
by image id, embeddings), and the detection and verification services
(``compreface_services``). Wire rules and the error table: ``compreface_wire``; answer shapes
and the similarity mapping: ``compreface_shapes``."""

from __future__ import annotations

from fastapi import APIRouter

from facegate.api.compat import compreface_gallery, compreface_recognition, compreface_services


def router() -> APIRouter:
    """Every CompreFace route, under ``/api/v1``, left out of facegate's OpenAPI document."""
    api = APIRouter(include_in_schema=False)
    for part in (compreface_recognition.router, compreface_gallery.router,
                 compreface_services.detection, compreface_services.verification):
        api.include_router(part)
    return api
