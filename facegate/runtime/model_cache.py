"""A converted model in the model cache, checked against its source or converted again.

Used for the descriptor (``runtime/onnx_export.py``) and MediaPipe's models: the cache holds
``<stem>.onnx`` and ``<stem>.sha256`` (JSON: SHA-256 of the source and of the ONNX file, and the
converter version); both are written to a temporary file and renamed into place, so a reader
never sees half a file, and the model is converted again whenever any of the three does not match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from facegate.errors import ModelError

logger = logging.getLogger(__name__)


def cached_conversion(folder: Path, stem: str, source: bytes, converter_version: int,
                      convert: Callable[[bytes], bytes], *, source_name: str | None = None,
                      required_on_disk: bool = False) -> bytes:
    """The ONNX bytes of ``convert(source)``, from ``folder`` when cached for this source.

    When ``folder`` cannot be written the model is kept in memory (logged as a warning) unless
    ``required_on_disk``, in which case ModelError is raised.
    """
    record: dict[str, object] = {"converter": converter_version, "source": source_name or stem,
                                 "source_sha256": hashlib.sha256(source).hexdigest()}
    target, sidecar = folder / f"{stem}.onnx", folder / f"{stem}.sha256"
    cached = _read_cached(target, sidecar, record)
    if cached is not None:
        return cached
    logger.info("converting %s to ONNX in %s", stem, folder)
    model = convert(source)
    record["onnx_sha256"] = hashlib.sha256(model).hexdigest()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(target, model)
        write_atomic(sidecar, (json.dumps(record, indent=2) + "\n").encode())
    except OSError as exc:
        if required_on_disk:
            raise ModelError(f"cannot write the converted model to {folder}: {exc}") from exc
        logger.warning("cannot cache the converted model in %s (%s); using it from memory",
                       folder, exc)
    return model


def _read_cached(target: Path, sidecar: Path, expected: dict[str, object]) -> bytes | None:
    try:
        record = json.loads(sidecar.read_text())
        model = target.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or any(record.get(k) != v for k, v in expected.items()):
        return None
    if record.get("onnx_sha256") != hashlib.sha256(model).hexdigest():
        logger.warning("cached %s does not match its checksum; converting again", target.name)
        return None
    return model


def write_atomic(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
