"""The one media clock and the conversions between media time bases.

Stages never call ``time.time()``: they get a :class:`Clock`. Real runs use :class:`MonotonicClock`; tests use
:class:`FakeClock`, whose time moves only when the test (or a sleeping waiter) advances it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from fractions import Fraction
from typing import Protocol

from streamer.frames import AUDIO_RATE_HZ


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds (arbitrary origin)."""
        ...

    def sleep_blocking(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Block the calling thread for ``seconds`` (or until ``stop`` is set)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep_blocking(self, seconds: float, stop: threading.Event | None = None) -> None:
        if seconds <= 0:
            return
        if stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Virtual time. ``advance()`` moves time and wakes async sleepers whose deadline passed, in order.

    Blocking sleeps just move time forward (a test's media thread then runs as fast as it can, which is what a
    virtual-time test wants).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep_blocking(self, seconds: float, stop: threading.Event | None = None) -> None:
        if seconds > 0:
            self.advance(seconds)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            due: list[asyncio.Future[None]] = []
            while self._sleepers and self._sleepers[0][0] <= self._now:
                due.append(heapq.heappop(self._sleepers)[2])
        for fut in due:
            if not fut.done():
                fut.get_loop().call_soon_threadsafe(_resolve, fut)

    @property
    def pending_sleepers(self) -> int:
        with self._lock:
            return len(self._sleepers)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


# ---- time-base helpers -----------------------------------------------------------------------------------------


def video_time_base(fps: int) -> Fraction:
    return Fraction(1, fps)


AUDIO_TIME_BASE = Fraction(1, AUDIO_RATE_HZ)


def audio_share(frame_index: int, fps: int, rate_hz: int = AUDIO_RATE_HZ) -> tuple[int, int]:
    """The audio samples that belong to video frame ``frame_index``: ``(first_sample, count)``.

    Cumulative rounding, so the shares of any number of frames add up exactly to ``frames * rate / fps``
    (no drift, even when ``rate / fps`` is not an integer).
    """
    start = frame_index * rate_hz // fps
    end = (frame_index + 1) * rate_hz // fps
    return start, end - start
