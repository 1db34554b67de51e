"""Composition root: the only place that picks concrete classes from Settings."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from facegate.config import RuntimeSettings, Settings
from facegate.config_liveness import LIMIT_FIELDS
from facegate.matching import CohortRule, NegativeRule
from facegate.pipeline.augment import AugmentedEmbedder
from facegate.pipeline.detect import BoxMapped, Detector, FaceFinder, Landmarker
from facegate.pipeline.embed import Embedder
from facegate.pipeline.faces import FacePipeline
from facegate.pipeline.pad import PadSmall
from facegate.runtime import blazeface_passes as passes
from facegate.runtime.allocator import fix_mmap_threshold
from facegate.runtime.child_processes import RestartingPool, watch_parent
from facegate.runtime.detector_process import DetectorProcess
from facegate.runtime.dlib_backend import Dlib68Landmarker, DlibCnnDetector, DlibModels
from facegate.runtime.dlib_landmarks68 import DlibLandmarks68
from facegate.runtime.liveness_detector import liveness_detector
from facegate.runtime.mesh_landmarks68 import MeshLandmarks68
from facegate.runtime.models import models_in_use, onnx_view
from facegate.runtime.onnx_backend import OnnxEmbedder, available_cores
from facegate.runtime.system import loaded_models
from facegate.services.classifiers import ClassifierService
from facegate.services.faces import (
    FaceReader,
    Reading,
    ReadMode,
    read_in_this_process,
    serve_reads_here,
)
from facegate.services.gallery import GalleryService, IndexedGallery
from facegate.services.liveness import LivenessRules, LivenessService
from facegate.services.recognition import RecognitionService
from facegate.services.review import ReviewService
from facegate.storage.base import GalleryStore, open_store

T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Facegate:
    """Everything an entry point needs, built once."""

    settings: Settings
    store: GalleryStore
    models: DlibModels
    #: Bytes-free face pipeline the services use (benchmarks: ``pipeline.embedder``).
    pipeline: FacePipeline
    gallery: GalleryService
    recognition: RecognitionService
    classifiers: ClassifierService

    workers: FaceWorkers | None = None
    #: The CNN fallback detector's child process, when it runs in one.
    cnn_process: DetectorProcess | None = None

    def warm_up(self) -> None:
        """Load every model now (servers do this before they report ready)."""
        if self.workers is not None:
            self.workers.warm_up()
            return
        if self.cnn_process is not None:
            self.cnn_process.warm_up()
        self.models.warm_up(descriptor=self.settings.runtime.embedder == "dlib")
        self.pipeline.embedder.warm_up()
        warm_up_finder(self.pipeline.finder)
        if uses_landmarks68(self.settings):
            shared_align68(self.settings).warm_up()

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
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


def uses_landmarks68(settings: Settings) -> bool:
    """Chips aligned on 68 points, for enrolment or probes (``alignment``)."""
    return settings.alignment.landmarks != "5" or settings.alignment.probe_landmarks != "5"


def shared_mesh68(runtime: RuntimeSettings) -> MeshLandmarks68:
    """68 points from MediaPipe's face mesh + iris on ONNX Runtime (Apache-2.0 weights): small
    models, one thread per call (concurrent requests share the cores)."""
    threads = runtime.intra_op_threads or 1
    key = ("mesh68", tuple(runtime.providers), threads, runtime.model_cache)
    return _shared(key, lambda: MeshLandmarks68(
        cache_dir=runtime.model_cache, providers=runtime.providers, intra_op_threads=threads))


def shared_align68(settings: Settings) -> Dlib68Landmarker | MeshLandmarks68:
    """The 68 points chips are aligned on: the face mesh, or dlib's model when opted in."""
    if settings.models.landmarks68 == "dlib":
        return _shared("dlib-68", Dlib68Landmarker)
    return shared_mesh68(settings.runtime)


def shared_liveness68(settings: Settings) -> DlibLandmarks68 | MeshLandmarks68:
    """The 68 points liveness measures eyes, mouth and head pose on (``models.landmarks68``)."""
    if settings.models.landmarks68 == "dlib":
        return _shared("dlib-68-liveness", DlibLandmarks68)
    return shared_mesh68(settings.runtime)


def shared_cnn_detector() -> DlibCnnDetector:
    return _shared("dlib-cnn", DlibCnnDetector)


def shared_cnn_process() -> DetectorProcess:
    """dlib's CNN detector in a child process (it holds the GIL for its whole call)."""
    return _shared("dlib-cnn-process", lambda: DetectorProcess(DlibCnnDetector))


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


def tune_allocator(settings: Settings) -> bool:
    """For a long-running server: large freed buffers go back to the system (glibc only)."""
    return fix_mmap_threshold(settings.server.malloc_mmap_threshold_bytes)


def face_reader(settings: Settings, *, concurrency: int = 1,
                cnn_process: bool = False) -> FaceReader:
    """Photo bytes → faces in this process, with the models ``settings`` choose: the probe
    pipeline, and the enrolment pipeline when its views differ (``AlignmentSettings``).
    ``cnn_process``: the CNN fallback detector runs in a child process (``DetectorProcess``)."""
    alignment, views = settings.alignment, settings.augmentation
    fallback: Detector | None = None
    if settings.detection.fallback_max_side > 0:
        fallback = shared_cnn_process() if cnn_process else shared_cnn_detector()
    probe = _pipeline(settings, concurrency, fallback, landmarks=alignment.probe_landmarks,
                      flip=views.probe_flip, jitter=views.probe_jitter)
    enrol = (alignment.landmarks, views.flip, views.jitter)
    same = enrol == (alignment.probe_landmarks, views.probe_flip, views.probe_jitter)
    return FaceReader(
        probe, max_upload_bytes=settings.image.max_upload_bytes,
        max_pixels=settings.image.max_pixels,
        decode_max_side=settings.image.decode_max_side,
        enrol_pipeline=None if same else _pipeline(
            settings, concurrency, fallback, landmarks=alignment.landmarks, flip=views.flip,
            jitter=views.jitter))


def warm_up_finder(finder: FaceFinder) -> None:
    """Load the ONNX detectors of ``finder`` now (HOG loads with ``DlibModels``)."""
    for detector in (finder.detector, finder.fast_detector):
        if isinstance(detector, passes.BlazeFacePasses):
            detector.warm_up()


def face_finder(settings: Settings, fallback: Detector | None, *,
                concurrency: int = 1) -> FaceFinder:
    """The detection strategy ``settings.detection`` chooses (HOG or BlazeFace)."""
    detection = settings.detection
    detector: Detector = shared_models()
    fast: Detector | None = None
    if detection.detector == "blazeface":
        threads = settings.runtime.intra_op_threads or max(1, available_cores() // concurrency)
        detector, fast = passes.detectors(detection, settings.runtime, threads)
    elif detection.pad_first > 0:
        detector = PadSmall(detector, fraction=detection.pad_first,
                            max_side=detection.fallback_max_side)
    return FaceFinder(
        detector, fallback=fallback, fast_detector=fast,
        max_side=detection.max_side if detection.detector == "hog" else 1 << 30,
        upsample_below=detection.upsample_below,
        pad_retry=detection.pad_retry if detection.detector == "hog" else 0.0,
        fallback_max_side=detection.fallback_max_side,
        min_face_px=detection.min_face_px, fast_side=detection.fast_side)


def _pipeline(settings: Settings, concurrency: int, fallback: Detector | None, *,
              landmarks: str, flip: bool, jitter: int) -> FacePipeline:
    models = shared_models()
    landmarker: Landmarker = models
    align: Landmarker | None = None if landmarks == "5" else shared_align68(settings)
    if settings.detection.detector == "blazeface":  # dlib's landmarks want dlib's boxes
        landmarker = BoxMapped(models, passes.LANDMARK_BOX)
        align = None if align is None else BoxMapped(align, passes.LANDMARK_BOX)
    return FacePipeline(
        finder=face_finder(settings, fallback, concurrency=concurrency),
        landmarker=landmarker, aligner=models, align_landmarker=align,
        align_both=landmarks == "both",
        embedder=AugmentedEmbedder(shared_embedder(settings.runtime, concurrency=concurrency),
                                   flip=flip, jitter=jitter),
    )


def liveness_service(settings: Settings, *, concurrency: int = 1) -> LivenessService:
    """Blink and session checks, run in the calling thread on 68 points (``models.landmarks68``).
    Every face box is one HOG drew, whatever ``detection.detector`` says (BlazeFace's boxes move
    the 68 points enough to lose d19's winks); ``liveness.detector`` only decides when HOG must
    search a frame again (``pipeline/track``)."""
    hog = settings.detection.model_copy(update={"detector": "hog"})
    settings = settings.model_copy(update={"detection": hog})
    reader = face_reader(settings, concurrency=concurrency)
    limits = settings.liveness
    rules = LivenessRules(**limits.model_dump(include=set(LIMIT_FIELDS)),
                          threads=limits.threads or available_cores())
    return LivenessService(reader.pipeline, shared_liveness68(settings),
                           max_upload_bytes=settings.image.max_upload_bytes,
                           max_pixels=settings.image.max_pixels, rules=rules,
                           quick_detector=liveness_detector(settings))


def build(
    settings: Settings, *, store: GalleryStore | None = None, concurrency: int = 1,
    worker_processes: int = 0, cnn_process: bool = False,
) -> Facegate:
    """Everything wired from ``settings``.

    ``concurrency``: how many model calls will run at once (a server passes its worker count).
    ``worker_processes``: run the face work in that many worker processes (``FaceWorkers``)
    instead of the calling threads. ``cnn_process``: the CNN fallback detector in a child
    process, so its GIL-holding calls do not stall the calling process's other threads.
    """
    if store is None:
        if not settings.storage.url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.storage_url)
    workers = FaceWorkers(settings, worker_processes) if worker_processes > 0 else None
    cnn_process = cnn_process and workers is None and settings.detection.fallback_max_side > 0
    reader = face_reader(settings, concurrency=concurrency, cnn_process=cnn_process)
    if workers is not None:
        reader = dataclasses.replace(reader, elsewhere=workers)
    indexed = IndexedGallery(store, hnsw_above=settings.storage.hnsw_above,
                             ef_search=settings.storage.ef_search)
    classifiers = ClassifierService(store)
    gallery = GalleryService(indexed, reader, multiple_faces=settings.enrollment.multiple_faces,
                             classifiers=classifiers, warn_within=settings.matching.threshold,
                             governance=settings.governance)
    recognition = RecognitionService(
        indexed, reader, threshold=settings.matching.threshold, top_k=settings.matching.top_k,
        multiple_faces="reject", cohort=CohortRule(size=settings.matching.cohort_size)
        if settings.matching.rule == "cohort" else None,
        photo_pairs_enrolled=settings.augmentation.photo_pair_views == "enrol",
        negatives=NegativeRule(settings.feedback.rule, settings.feedback.margin),
        classifiers=classifiers if settings.matching.classifier == "active" else None)
    recognition.review = ReviewService(
        store, gallery, settings.review, model_name=reader.model_name,
        threshold=lambda: recognition.threshold)
    return Facegate(
        settings=settings, store=store, models=shared_models(), pipeline=reader.pipeline,
        gallery=gallery, recognition=recognition, classifiers=classifiers, workers=workers,
        cnn_process=shared_cnn_process() if cnn_process else None)


class FaceWorkers:
    """Face work (decode, detect, align, embed) in ``count`` worker processes.

    The server's threads wait on these processes instead of running the models themselves, so
    dlib calls that hold the GIL (the CNN detector, the landmarks) never stall the event loop,
    and a crash in native code takes down a worker, not the server. Shipping each photo and its
    faces between processes costs more than it saves on 2 cores (bench/http: ~80 identify/s
    against ~92 on threads), so it is an option (``server.isolation = process``). When a worker
    dies, a fresh pool takes over (``RestartingPool``).
    """

    def __init__(self, settings: Settings, count: int) -> None:
        self.count = count
        self._pool = RestartingPool(count, _serve_in_worker, (settings, count),
                                    what="face worker")

    def __call__(self, data: bytes, mode: ReadMode) -> Reading:
        return self._pool.call(read_in_this_process, data, mode)

    def warm_up(self) -> None:
        """Start every worker process and load its models (before the server says ready)."""
        started: set[int] = set()
        for _ in range(20):
            batch = [self._pool.executor.submit(_worker_pid) for _ in range(self.count)]
            started.update(future.result() for future in batch)
            if len(started) >= self.count:
                return

    def pids(self) -> list[int]:
        """Process ids of the running workers."""
        return self._pool.pids()

    def close(self) -> None:
        self._pool.close()


def _serve_in_worker(settings: Settings, count: int) -> None:
    watch_parent()
    reader = face_reader(settings, concurrency=count)
    shared_models().warm_up(descriptor=settings.runtime.embedder == "dlib")
    reader.pipeline.embedder.warm_up()
    warm_up_finder(reader.pipeline.finder)
    if uses_landmarks68(settings):
        shared_align68(settings).warm_up()
    serve_reads_here(reader)


def _worker_pid() -> int:
    time.sleep(0.2)  # long enough that one worker cannot answer every warm-up call
    return os.getpid()


def system_report(settings: Settings) -> list[dict[str, Any]]:
    """The weights ``settings`` make a server load (``GET /v1/system``, ``runtime/system.py``)."""
    return loaded_models(settings)


def model_report(facegate: Facegate) -> dict[str, Any]:
    """``{"models": [...], "onnx": {...}}`` of ``GET /v1/status`` (``runtime/models.py``)."""
    return {"models": models_in_use(facegate.settings),
            "onnx": onnx_view(facegate.settings, facegate.pipeline.embedder,
                              in_workers=facegate.workers is not None)}
