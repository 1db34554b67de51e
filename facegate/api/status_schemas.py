"""The answer of ``GET /v1/status``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class StorageOut(BaseModel):
    backend: str
    #: The store's URL without password or query.
    location: str


class GalleryCounts(BaseModel):
    identities: int
    faces: int


class ModelOut(BaseModel):
    key: str
    role: Literal["descriptor", "detector", "landmarks"]
    name: str
    file: str | None
    licence: str
    commercial_use: bool
    note: str
    in_use: bool


class OnnxOut(BaseModel):
    embedder: Literal["onnx", "dlib"]
    descriptor_model: str
    requested_providers: list[str]
    #: The providers the session uses; None when it runs in worker processes (or dlib).
    providers: list[str] | None
    available_providers: list[str]


class WorkersOut(BaseModel):
    workers: int
    busy: int
    waiting: int
    admitted: int
    capacity: int
    isolation: str
    #: A background job (import or training) running or queued on this gallery, if any.
    active_job: str | None


class IndexOut(BaseModel):
    """This replica's search index against the store: ``exact`` (in memory, catches up with
    the store's change marker before each search) or ``hnsw`` (the store answers)."""

    search: Literal["exact", "hnsw"]
    store_marker: int
    index_marker: int | None
    in_sync: bool


class ClassifierRef(BaseModel):
    id: str
    kind: str


class StatusMatching(BaseModel):
    threshold: float
    threshold_source: Literal["default", "environment", "calibration"]
    classifier_setting: str
    active_classifier: ClassifierRef | None


class StatusOut(BaseModel):
    version: str
    uptime_s: float
    started_at: float
    storage: StorageOut
    gallery: GalleryCounts
    models: list[ModelOut]
    onnx: OnnxOut
    workers: WorkersOut
    index: IndexOut
    matching: StatusMatching


class LoadedModelOut(BaseModel):
    """One model weight the server loads (``GET /v1/system``)."""

    key: str
    role: Literal["descriptor", "detector", "landmarks"]
    name: str
    #: The weights file as installed; None when compiled into dlib (HOG).
    file: str | None
    sha256: str | None
    #: SPDX id, or a ``LicenseRef-`` for a licence SPDX does not list.
    licence: str
    commercial_use: bool
    #: The package the file comes from.
    source: str
    runtime: Literal["onnxruntime", "dlib"]
    #: The execution provider (ONNX Runtime's first, e.g. ``CPUExecutionProvider``; dlib: CPU
    #: or CUDA).
    provider: str


class SystemOut(BaseModel):
    version: str
    models: list[LoadedModelOut]
