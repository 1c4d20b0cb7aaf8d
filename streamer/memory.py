"""Keeping a 24/7 process's memory flat with glibc: fewer malloc arenas, and freed memory handed back to the OS.

Video frames (~1.4 MB each at 720p) and speech buffers are allocated and freed many times a second from several
threads; glibc's per-thread arenas and its raised mmap threshold then keep freed memory and RSS creeps up. Both
calls are no-ops where glibc is not the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def limit_malloc_arenas(count: int = 2) -> bool:
    """Call before threads start. Returns True when glibc accepted the setting."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, count))


def release_free_memory() -> bool:
    """Return freed heap memory to the OS (``malloc_trim``). Cheap enough to call once a minute."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    return bool(libc.malloc_trim(0))
