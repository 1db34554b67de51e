"""The face descriptor on ONNX Runtime: dlib's ResNet converted by ``onnx_export``, same answers.

One ``InferenceSession`` per embedder, created on first use under a lock. ONNX Runtime's ``run``
is thread-safe, so calls are not serialised; each call embeds its whole batch in one run.

Threads: ``intra_op_threads`` (default: the CPUs this process may use) split one convolution
across cores; ``inter_op_threads`` is 1 because the graph is a single chain. Spinning (idle
threads busy-wait for the next piece of work) is off by default: it buys a little latency on an
idle machine and costs a lot when detection or other requests want the same cores.

Providers are named in order of preference (default ``["CPUExecutionProvider"]``, e.g.
``["CUDAExecutionProvider"]`` or ``["OpenVINOExecutionProvider"]``); a name this onnxruntime build
does not offer is logged once as a warning and skipped, and CPU is always the last resort.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facegate.domain import DESCRIPTOR_MODEL, DESCRIPTOR_SIZE, RGBImage
from facegate.errors import ModelError
from facegate.pipeline.align import CHIP_SIZE
from facegate.runtime.onnx_export import INPUT_NAME, OUTPUT_NAME, load_onnx_model

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def _ort() -> Any:
    import onnxruntime  # type: ignore[import-untyped]

    return onnxruntime


def available_cores() -> int:
    """CPUs this process may run on (respects affinity masks and container CPU sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _warn_once(name: str, message: str, *args: object) -> None:
    with _WARNED_LOCK:
        if name in _WARNED:
            return
        _WARNED.add(name)
    logger.warning(message, *args)


def choose_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """The requested providers this build offers, in order, with CPU last."""
    chosen = [name for name in requested if name in available and name != CPU]
    for name in requested:
        if name not in available:
            _warn_once(name, "ONNX Runtime provider %s is not available (have: %s); "
                       "falling back to %s", name, ", ".join(available), CPU)
    return [*chosen, CPU]


class OnnxEmbedder:
    """Embedder on ONNX Runtime giving dlib's ``dlib_resnet_v1`` descriptors."""

    model_name = DESCRIPTOR_MODEL

    def __init__(
        self, *, cache_dir: Path | None = None, source: Path | None = None,
        providers: Sequence[str] = (CPU,), intra_op_threads: int | None = None,
        inter_op_threads: int = 1, allow_spinning: bool = False,
    ) -> None:
        self._cache_dir = cache_dir
        self._source = source
        self._requested = list(providers) or [CPU]
        self.intra_op_threads = intra_op_threads or available_cores()
        self.inter_op_threads = inter_op_threads
        self._allow_spinning = allow_spinning
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def providers(self) -> list[str]:
        """The providers the session actually uses (loads the model)."""
        return list(self._get().get_providers())

    def warm_up(self) -> None:
        """Convert or load the model and run it once (servers call this before they are ready)."""
        self.embed([np.zeros((CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)])

    def embed(self, chips: Sequence[RGBImage]) -> NDArray[np.float32]:
        if not chips:
            return np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float32)
        arrays = [np.asarray(chip) for chip in chips]
        for array in arrays:
            if array.shape != (CHIP_SIZE, CHIP_SIZE, 3) or array.dtype != np.uint8:
                raise ModelError(f"face chips must be {CHIP_SIZE}x{CHIP_SIZE} RGB uint8, "
                                 f"got {array.shape} {array.dtype}")
        (descriptors,) = self._get().run([OUTPUT_NAME], {INPUT_NAME: np.stack(arrays)})
        return np.asarray(descriptors, dtype=np.float32)

    def _get(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._open()
                logger.info("loaded the ONNX face descriptor (%s, %d intra-op threads)",
                            ", ".join(self._session.get_providers()), self.intra_op_threads)
            return self._session

    def _options(self) -> Any:
        ort = _ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        spinning = "1" if self._allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        return options

    def _open(self) -> Any:
        model = load_onnx_model(self._cache_dir, source=self._source)
        providers = choose_providers(self._requested, _ort().get_available_providers())
        try:
            return self._session_for(model, providers)
        except ModelError as exc:  # a provider that is installed but cannot start (no driver…)
            if providers == [CPU]:
                raise
            _warn_once(",".join(providers), "ONNX Runtime providers %s failed (%s); "
                       "falling back to %s", providers, exc, CPU)
            return self._session_for(model, [CPU])

    def _session_for(self, model: bytes, providers: list[str]) -> Any:
        try:
            return _ort().InferenceSession(model, self._options(), providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise ModelError(f"ONNX Runtime cannot load the face descriptor: {exc}") from exc
