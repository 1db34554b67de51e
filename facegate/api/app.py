"""``create_app(settings)``: the FastAPI application factory."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from facegate import __version__
from facegate.access.service import AccessService
from facegate.api import errors, metrics_http, openapi
from facegate.api import events as api_events
from facegate.api.audit import AuditTrail
from facegate.api.body_limit import BodyLimit, BodyLimits
from facegate.api.compat import compreface, deepstack, deepstack_envelope
from facegate.api.deps import ModelRunner, require
from facegate.api.metrics_http import RequestMetrics
from facegate.api.rate_limit import RateLimit
from facegate.api.request_id import RequestId
from facegate.api.routes import (
    audit,
    auth,
    calibrate,
    classifiers,
    config,
    events,
    feedback,
    health,
    identities,
    imports,
    keys,
    liveness,
    liveness_recognition,
    recognition,
    review,
    status,
    users,
)
from facegate.bootstrap import (
    Facegate,
    build,
    liveness_service,
    shared_liveness68,
    tune_allocator,
)
from facegate.config import Settings
from facegate.events.emitter import Events
from facegate.services.archives import ArchiveLimits
from facegate.services.audit import AuditWriter
from facegate.services.calibrations import Calibrations
from facegate.services.feedback import FeedbackService
from facegate.services.imports import Imports
from facegate.services.liveness_sessions import SessionBook
from facegate.services.retention import RetentionJob, retention
from facegate.services.training_jobs import TrainingJobs
from facegate.web import console

#: Training uploads (zips of face photos) live here only while their job runs.
UPLOADS = "training-uploads"

logger = logging.getLogger(__name__)


def create_app(settings: Settings, *, facegate: Facegate | None = None) -> FastAPI:
    """The API over a gallery built from ``settings`` (or the given, already built one)."""
    server = settings.server
    tune_allocator(settings)
    app_facegate = facegate or build(
        settings, concurrency=server.workers,
        worker_processes=server.workers if server.isolation == "process" else 0,
        cnn_process=True)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        app_facegate.warm_up()
        shared_liveness68(settings).warm_up()  # blink checks' landmarks, before ready
        app.state.liveness.warm_up()  # and their frame detector
        app_facegate.classifiers.reconcile()  # nobody deleted lingers in a classifier
        app.state.access.users.ensure_first_admin(
            None if settings.auth.admin_password is None
            else settings.auth.admin_password.get_secret_value())
        if writer is not None:
            writer.start()
            writer.purge()  # rows past the retention go before the first request
            app.openapi()  # built now, not on the first request: the audit trail reads it
        metrics_http.started(app)  # the separate metrics port, when configured
        if outbox is not None:
            outbox.start()  # delivers what an earlier run left in the outbox, then new events
        app.state.retention.start()  # erases expired people, once per period (governance.md)
        identities_count, faces_count = app_facegate.store.counts()
        logger.info("facegate ready: %d identities, %d faces", identities_count, faces_count)
        yield
        metrics_http.stopped(app)
        app.state.retention.close()
        app.state.training_jobs.close()
        app.state.imports.jobs.close()
        app.state.calibrations.jobs.close()
        app.state.feedback.writer.close()  # the last kept probes written, its thread ended
        if writer is not None:
            writer.close()  # after the last request: every row is committed
        if outbox is not None:
            outbox.close()
        if facegate is None:
            app_facegate.close()

    app = FastAPI(
        title="facegate", version=__version__, lifespan=lifespan,
        default_response_class=errors.JSONResponse,
        description="Self-hosted face recognition and face authentication. Distances are "
        "Euclidean between dlib descriptors: lower is closer; the default threshold is 0.6.",
    )
    app.state.facegate = app_facegate
    app.state.started_at = time.time()
    app.state.access = AccessService(app_facegate.store, settings)
    app.state.runner = ModelRunner(settings.server.workers,
                                   max_queue=settings.server.max_queue)
    # Liveness runs in-process on the model threads (docs/liveness.md); sessions in the store.
    app.state.liveness = liveness_service(settings, concurrency=server.workers)
    app.state.liveness_sessions = SessionBook(app.state.liveness, app_facegate.store)
    app.state.training_jobs = TrainingJobs(
        app_facegate.gallery, app_facegate.classifiers, store=app_facegate.store,
        limits=ArchiveLimits.from_settings(settings.image), uploads=settings.data_dir / UPLOADS,
        lost_after_s=server.training_lost_after_s)
    app.state.imports = Imports(  # its zips share the training uploads' folder
        app_facegate.gallery, store=app_facegate.store,
        limits=ArchiveLimits.from_settings(settings.image), uploads=settings.data_dir / UPLOADS,
        lost_after_s=server.training_lost_after_s)
    app.state.calibrations = Calibrations(  # its zips too; plots under data_dir/calibrations
        settings, recognition=app_facegate.recognition, gallery=app_facegate.gallery,
        store=app_facegate.store, limits=ArchiveLimits.from_settings(settings.image),
        uploads=settings.data_dir / UPLOADS, lost_after_s=server.training_lost_after_s)
    outbox = app.state.events = Events.from_settings(settings, app_facegate.store)
    app.state.feedback = FeedbackService(app_facegate.store, app_facegate.gallery,
                                         settings.feedback)
    app.state.retention = RetentionJob(retention(
        settings, app_facegate.gallery, app_facegate.store, actor=("system", None, "retention")),
        app_facegate.store, every_s=settings.governance.retention_every_s)
    if outbox is not None:
        app.state.training_jobs.on_finished = api_events.train_finished(outbox)
    errors.install(app)
    openapi.install(app, api_keys=settings.access_required)
    app.include_router(health.router)
    if settings.compat.deepstack:  # /v1/vision/face…: its own key check (docs/compat.md)
        app.include_router(deepstack.router)
    # Every /v1 router needs a scope (api/deps.py ``require``), the auth routes excepted.
    v1 = APIRouter()
    for enrolling in (identities, imports, feedback, review):
        v1.include_router(enrolling.router, dependencies=[require("enrol", reads="read")])
    for recognizing in (recognition, liveness, liveness_recognition):
        v1.include_router(recognizing.router, dependencies=[require("recognize")])
    v1.include_router(classifiers.router, dependencies=[require("train")])
    for administering in (config, keys, users, audit, status, calibrate, events):
        v1.include_router(administering.router, dependencies=[require("admin")])
    v1.include_router(auth.router)
    app.include_router(v1)
    if settings.compat.compreface:  # CompreFace's REST API, its own key check (docs/compat.md)
        app.include_router(compreface.router())
    console.install(app)  # /ui: pages whose scripts call the /v1 routes above
    metrics_http.install(app, settings.metrics, scope=require("metrics"))
    limit = settings.image.max_upload_bytes
    # Two images (verify) in base64 plus form overhead is the largest honest body.
    app.add_middleware(BodyLimit, limits=BodyLimits(
        max_bytes=2 * (limit * 4 // 3) + 64 * 1024,
        archives=dict.fromkeys(("/v1/train", "/v1/imports", "/v1/calibrate"),
                               settings.image.max_archive_bytes + 64 * 1024),
        max_in_flight=server.max_body_bytes_in_flight, timeout_s=server.body_timeout_s))
    rate = settings.rate
    app.add_middleware(RateLimit, recognize_per_minute=rate.recognize_per_minute,
                       recognize_burst=rate.recognize_burst, max_buckets=rate.max_buckets)
    writer = audit_writer(settings, app_facegate)
    if writer is not None:  # inside RequestId only: it sees every other answer and refusal
        app.add_middleware(AuditTrail, writer=writer, api=app,
                           bootstrap_keys=settings.server.api_keys)
    app.state.audit_writer = writer
    if app.state.metrics is not None:  # every answer, refusals included, with its route
        app.add_middleware(RequestMetrics, metrics=app.state.metrics, api=app)
    if settings.compat.deepstack:  # the refusals above, on its paths, in DeepStack's envelope
        app.add_middleware(deepstack_envelope.DeepStackEnvelope)
    app.add_middleware(RequestId)  # outermost: every answer above carries X-Request-ID
    return app


def audit_writer(settings: Settings, facegate: Facegate) -> AuditWriter | None:
    """The background writer of the audit log (None when ``audit.enabled`` is off)."""
    options = settings.audit
    if not options.enabled:
        return None
    return AuditWriter(facegate.store, queue_rows=options.queue_rows,
                       batch_rows=options.batch_rows, flush_s=options.flush_ms / 1000,
                       full_wait_s=options.full_wait_ms / 1000,
                       retention_days=options.retention_days)

