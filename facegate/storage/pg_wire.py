"""Small PostgreSQL helpers: a URL made safe for logs and errors, pgvector's wire forms."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from facegate.domain import DESCRIPTOR_SIZE, Descriptor
from facegate.errors import StoreError


def redact_url(url: str) -> str:
    """The URL without its password (for logs and error messages)."""
    parts = urlsplit(url)
    if parts.password is None and "password=" not in parts.query:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:***@{host}" if parts.password is not None else parts.netloc
    query = "&".join("password=***" if q.startswith("password=") else q
                     for q in parts.query.split("&"))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def vector_text(descriptor: Descriptor) -> str:
    """pgvector's text form; ``repr`` of each float32 value (as a double) parses back exactly."""
    return "[" + ",".join(map(repr, np.asarray(descriptor, dtype=np.float32).tolist())) + "]"


def vectors(blobs: list[bytes]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """pgvector binary values (int16 dim, int16 unused, big-endian float4s) as one matrix."""
    width = 4 + 4 * DESCRIPTOR_SIZE
    if any(len(blob) != width for blob in blobs):
        raise StoreError(f"a stored descriptor is not {DESCRIPTOR_SIZE} values")
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), width)
    return np.ascontiguousarray(data[:, 4:]).view(">f4").astype(np.float32)
