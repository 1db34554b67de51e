"""Composition root: the only place that picks concrete classes from Settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from facegate.config import RuntimeSettings, Settings
from facegate.pipeline.detect import FaceFinder
from facegate.pipeline.embed import Embedder
from facegate.pipeline.faces import FacePipeline
from facegate.runtime.dlib_backend import DlibCnnDetector, DlibModels
from facegate.runtime.onnx_backend import OnnxEmbedder, available_cores
from facegate.services.faces import FaceReader
from facegate.services.gallery import GalleryService, IndexedGallery
from facegate.services.recognition import RecognitionService
from facegate.storage.base import GalleryStore, open_store

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Facegate:
    """Everything an entry point needs, built once."""

    settings: Settings
    store: GalleryStore
    models: DlibModels
    #: Bytes-free face pipeline (detect, align, embed) the services use; benchmarks reach the
    #: default embedder through ``pipeline.embedder``.
    pipeline: FacePipeline
    gallery: GalleryService
    recognition: RecognitionService

    def warm_up(self) -> None:
        """Load every model now (servers do this before they report ready)."""
        self.models.warm_up()
        self.pipeline.embedder.warm_up()

    def close(self) -> None:
        self.store.close()


_SHARED: dict[object, Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: object, make: Callable[[], T]) -> T:
    """One instance per process and key: models are large and read-only once loaded."""
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = make()
        shared: T = _SHARED[key]
        return shared


def shared_models() -> DlibModels:
    """dlib's HOG detector, 5-point landmarks, face chips and (fallback) ResNet embedder."""
    return _shared("dlib", DlibModels)


def shared_cnn_detector() -> DlibCnnDetector:
    return _shared("dlib-cnn", DlibCnnDetector)


def shared_embedder(runtime: RuntimeSettings, *, concurrency: int = 1) -> Embedder:
    """The descriptor model chosen by ``runtime.embedder``: ONNX Runtime (default) or dlib.

    ONNX Runtime's threads per call default to the cores shared by ``concurrency`` callers
    (a server's workers), so concurrent requests do not oversubscribe the CPU.
    """
    if runtime.embedder == "dlib":
        return shared_models()
    threads = runtime.intra_op_threads or max(1, available_cores() // concurrency)
    key = ("onnx", tuple(runtime.providers), threads, runtime.model_cache)
    return _shared(key, lambda: OnnxEmbedder(
        cache_dir=runtime.model_cache, providers=runtime.providers, intra_op_threads=threads,
    ))


def build(
    settings: Settings, *, store: GalleryStore | None = None, concurrency: int = 1
) -> Facegate:
    """Everything wired from ``settings``; ``concurrency``: how many model calls will run at
    once (a server passes its worker count)."""
    if store is None:
        if not settings.storage.url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.storage_url)
    models = shared_models()
    detection = settings.detection
    pipeline = FacePipeline(
        finder=FaceFinder(
            models,
            fallback=shared_cnn_detector() if detection.fallback_max_side > 0 else None,
            max_side=detection.max_side, upsample_below=detection.upsample_below,
            pad_retry=detection.pad_retry, fallback_max_side=detection.fallback_max_side,
            min_face_px=detection.min_face_px, fast_side=detection.fast_side,
        ),
        landmarker=models, aligner=models,
        embedder=shared_embedder(settings.runtime, concurrency=concurrency),
    )
    reader = FaceReader(
        pipeline, max_upload_bytes=settings.image.max_upload_bytes,
        max_pixels=settings.image.max_pixels,
    )
    indexed = IndexedGallery(store)
    policy = settings.enrollment.multiple_faces
    return Facegate(
        settings=settings, store=store, models=models, pipeline=pipeline,
        gallery=GalleryService(indexed, reader, multiple_faces=policy),
        recognition=RecognitionService(
            indexed, reader, threshold=settings.matching.threshold,
            top_k=settings.matching.top_k, multiple_faces="reject",
        ),
    )
