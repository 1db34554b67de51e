"""The C allocator's handling of large buffers (glibc only; elsewhere these do nothing).

glibc serves a request of at least ``M_MMAP_THRESHOLD`` bytes with its own ``mmap``, given back
to the system when freed. The threshold starts at 128 KiB but grows to the size of each such
buffer freed (up to 32 MiB), so after one large photo the next photos' pixel buffers (Pillow's
16 MiB blocks, numpy arrays) come from the heap arenas, which keep the pages: the server's RSS
stays near its worst request's peak. A fixed threshold stops that growth.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)
_M_MMAP_THRESHOLD = -3


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
    except (OSError, AttributeError):
        return None
    return libc


def fix_mmap_threshold(threshold_bytes: int) -> bool:
    """Serve every buffer of at least ``threshold_bytes`` by its own mmap, returned to the
    system on free, for the whole process; False where that is not glibc (or 0: left alone)."""
    libc = _glibc() if threshold_bytes > 0 else None
    if libc is None:
        return False
    done = bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes))
    logger.debug("glibc mmap threshold fixed at %d bytes: %s", threshold_bytes, done)
    return done
