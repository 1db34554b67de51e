"""FastAPI dependencies, as ``Annotated`` aliases routes can declare."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import anyio.to_thread
from fastapi import Depends, Header, Request

from facegate.bootstrap import Facegate
from facegate.errors import AuthError, OverloadedError
from facegate.services.gallery import GalleryService
from facegate.services.recognition import RecognitionService

T = TypeVar("T")
#: Seconds a refused client is asked to wait (one face takes well under a second).
RETRY_AFTER_S = 1


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
    """Runs model work on worker threads, at most ``workers`` at once, off the event loop.

    A request is admitted (``admit``) before its body is read: at most ``workers + max_queue``
    are admitted at once; past that the request is refused at once with 503 OVERLOADED and
    ``Retry-After``, so neither latency nor bodies waiting in memory pile up behind a full queue.
    """

    def __init__(self, workers: int, *, max_queue: int) -> None:
        self._limiter = anyio.CapacityLimiter(workers)
        self._capacity = workers + max_queue
        self._admitted = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of the admission slots for the block (OverloadedError when none is free)."""
        if self._admitted >= self._capacity:
            raise OverloadedError(
                "the server is busy with other faces; retry shortly",
                details={"retry_after_s": RETRY_AFTER_S},
            )
        self._admitted += 1  # the event loop is single-threaded: no lock needed
        try:
            yield
        finally:
            self._admitted -= 1

    async def __call__(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a worker thread, once one is free (the caller is already admitted)."""
        return await anyio.to_thread.run_sync(fn, limiter=self._limiter)


async def admitted_runner(request: Request) -> AsyncIterator[ModelRunner]:
    """The runner, with an admission slot held until the response: routes that declare it are
    admitted before they read their body."""
    runner: ModelRunner = request.app.state.runner
    with runner.admit():
        yield runner


FacegateDep = Annotated[Facegate, Depends(get_facegate)]
GalleryDep = Annotated[GalleryService, Depends(get_gallery)]
RecognitionDep = Annotated[RecognitionService, Depends(get_recognition)]
RunnerDep = Annotated[ModelRunner, Depends(admitted_runner)]
