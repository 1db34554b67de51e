"""Composition root: the only place that picks concrete classes from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from facegate.config import Settings
from facegate.pipeline.detect import FaceFinder
from facegate.pipeline.faces import FacePipeline
from facegate.runtime.dlib_backend import DlibCnnDetector, DlibModels
from facegate.services.faces import FaceReader
from facegate.services.gallery import GalleryService, IndexedGallery
from facegate.services.recognition import RecognitionService
from facegate.storage.base import GalleryStore, open_store


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

    def close(self) -> None:
        self.store.close()


_MODELS: DlibModels | None = None
_CNN: DlibCnnDetector | None = None


def shared_models() -> DlibModels:
    """One set of loaded models per process (they are large and read-only once loaded)."""
    global _MODELS
    if _MODELS is None:
        _MODELS = DlibModels()
    return _MODELS


def shared_cnn_detector() -> DlibCnnDetector:
    global _CNN
    if _CNN is None:
        _CNN = DlibCnnDetector()
    return _CNN


def build(settings: Settings, *, store: GalleryStore | None = None) -> Facegate:
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
            min_face_px=detection.min_face_px,
        ),
        landmarker=models, aligner=models, embedder=models,
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
