"""FastAPI dependencies, as ``Annotated`` aliases routes can declare."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, Header, Request

from facegate.bootstrap import Facegate
from facegate.errors import AuthError
from facegate.services.gallery import GalleryService
from facegate.services.recognition import RecognitionService

T = TypeVar("T")


def get_facegate(request: Request) -> Facegate:
    facegate: Facegate = request.app.state.facegate
    return facegate


def get_gallery(request: Request) -> GalleryService:
    return get_facegate(request).gallery


def get_recognition(request: Request) -> RecognitionService:
    return get_facegate(request).recognition


def require_api_key(
    request: Request, x_api_key: Annotated[str | None, Header()] = None
) -> None:
    keys = get_facegate(request).settings.server.api_keys
    if not keys:
        return
    if x_api_key is None:
        raise AuthError("this server needs an API key: send it in the X-API-Key header")
    if not any(hmac.compare_digest(x_api_key.encode(), k.get_secret_value().encode())
               for k in keys):
        raise AuthError("the API key is not valid")


class ModelRunner:
    """Runs model work on worker threads, at most ``workers`` at once, off the event loop."""

    def __init__(self, workers: int) -> None:
        self._limiter = anyio.CapacityLimiter(workers)

    async def __call__(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn, limiter=self._limiter)


def get_runner(request: Request) -> ModelRunner:
    runner: ModelRunner = request.app.state.runner
    return runner


FacegateDep = Annotated[Facegate, Depends(get_facegate)]
GalleryDep = Annotated[GalleryService, Depends(get_gallery)]
RecognitionDep = Annotated[RecognitionService, Depends(get_recognition)]
RunnerDep = Annotated[ModelRunner, Depends(get_runner)]
