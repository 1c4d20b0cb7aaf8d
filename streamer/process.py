"""Process-wide tuning, done once per process before any show starts (the CLI does it; a host that runs several
shows in one process, or one per Ray actor, calls :func:`bootstrap_process` itself). It takes into account the CPUs
this process may use, so what was tuned for a 2-core box does not starve a bigger one.

- **GIL hand-over** (``sys.setswitchinterval``): 1 ms instead of 5 ms, whatever the core count. The media thread
  shares the one GIL with model loading and synthesis, and each frame takes and releases it many times; a frame
  must never wait 5 ms for it.
- **malloc arenas**: glibc allows up to 8 per core. With many threads on a small box, freed memory then sits in many
  arenas and the resident size creeps up over a day. The limit is 2 up to 4 cores, then one per 2 cores, at most 8.
- **Model threads** (torch's intra-op pool, one setting for the whole process): 1 up to 4 cores, because the video
  encoder and the media thread need the others. Above that, a quarter of the cores, at most 4.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    cpus: int
    switch_interval_s: float
    malloc_arenas: int
    model_threads: int


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def settings_for(cpus: int) -> ProcessSettings:
    cpus = max(1, int(cpus))
    return ProcessSettings(
        cpus=cpus,
        switch_interval_s=0.001,
        malloc_arenas=2 if cpus <= 4 else min(8, cpus // 2),
        model_threads=1 if cpus <= 4 else min(4, cpus // 4),
    )


_lock = threading.Lock()
_applied: ProcessSettings | None = None


def bootstrap_process(*, cpus: int | None = None) -> ProcessSettings:
    """Apply the settings for ``cpus`` (default: :func:`usable_cpus`) once; later calls return what was applied.
    Call it before threads start (malloc's arena limit only binds threads created after it)."""
    global _applied
    with _lock:
        if _applied is not None:
            return _applied
        settings = settings_for(cpus if cpus is not None else usable_cpus())
        sys.setswitchinterval(settings.switch_interval_s)
        from streamer.memory import limit_malloc_arenas

        limit_malloc_arenas(settings.malloc_arenas)
        _applied = settings
        log.debug("process: %s", settings)
        return settings


def lower_thread_priority() -> None:
    """Let the calling thread yield the CPU to the media thread (Linux: per-thread nice 10): for work that only has
    to stay ahead (synthesis, model loading, preparing an avatar's loop)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def model_threads() -> int:
    """Threads a neural model may use in this process (1 until :func:`bootstrap_process` has run)."""
    return _applied.model_threads if _applied is not None else 1
