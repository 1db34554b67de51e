"""``create_app(settings)``: the FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facegate import __version__
from facegate.api import errors, openapi
from facegate.api.deps import ModelRunner, require_api_key
from facegate.api.errors import error_body
from facegate.api.routes import (
    classifiers,
    config,
    health,
    identities,
    liveness,
    liveness_recognition,
    recognition,
)
from facegate.bootstrap import Facegate, build, liveness_service
from facegate.config import Settings
from facegate.services.liveness_sessions import SessionBook
from facegate.services.training_jobs import TrainingJobs

logger = logging.getLogger(__name__)


def create_app(settings: Settings, *, facegate: Facegate | None = None) -> FastAPI:
    """The API over a gallery built from ``settings`` (or the given, already built one)."""
    server = settings.server
    app_facegate = facegate or build(
        settings, concurrency=server.workers,
        worker_processes=server.workers if server.isolation == "process" else 0,
        cnn_process=True)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        app_facegate.warm_up()
        identities_count, faces_count = app_facegate.store.counts()
        logger.info("facegate ready: %d identities, %d faces", identities_count, faces_count)
        yield
        if facegate is None:
            app_facegate.close()

    app = FastAPI(
        title="facegate", version=__version__, lifespan=lifespan,
        description="Self-hosted face recognition and face authentication. Distances are "
        "Euclidean between dlib descriptors: lower is closer; the default threshold is 0.6.",
    )
    app.state.facegate = app_facegate
    app.state.runner = ModelRunner(settings.server.workers,
                                   max_queue=settings.server.max_queue)
    # Liveness runs in-process on the model threads (docs/liveness.md); sessions in memory.
    app.state.liveness = liveness_service(settings, concurrency=server.workers)
    app.state.liveness_sessions = SessionBook(app.state.liveness)
    app.state.training_jobs = TrainingJobs(
        app_facegate.gallery, app_facegate.classifiers,
        max_member_bytes=settings.image.max_upload_bytes)
    errors.install(app)
    openapi.install(app, api_keys=bool(settings.server.api_keys))
    app.include_router(health.router)
    v1 = APIRouter(dependencies=[Depends(require_api_key)])
    v1.include_router(identities.router)
    v1.include_router(recognition.router)
    v1.include_router(liveness.router)
    v1.include_router(liveness_recognition.router)
    v1.include_router(config.router)
    v1.include_router(classifiers.router)
    app.include_router(v1)
    limit = settings.image.max_upload_bytes
    # Two images (verify) in base64 plus form overhead is the largest honest body.
    app.add_middleware(BodyLimit, max_bytes=2 * (limit * 4 // 3) + 64 * 1024,
                       archives={"/v1/train": settings.image.max_archive_bytes + 64 * 1024})
    return app


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413 IMAGE_TOO_LARGE before they are
    buffered or spooled, whether or not the client sent Content-Length. Paths in ``archives``
    (training uploads) have their own limit, refused as ARCHIVE_TOO_LARGE."""

    def __init__(self, app: ASGIApp, *, max_bytes: int,
                 archives: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.archives = archives or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.archives.get(path, self.max_bytes)
        code = "ARCHIVE_TOO_LARGE" if path in self.archives else "IMAGE_TOO_LARGE"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, code, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, code, limit)

    async def _refuse(self, send: Send, code: str, limit: int) -> None:
        import json

        body = json.dumps(error_body(
            code, f"the request body is over the limit of {limit} bytes")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
