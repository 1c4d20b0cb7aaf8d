"""A shared/exclusive gate for the one moment torch is imported beside a running show.

While torch is half-imported, libraries that probe ``sys.modules["torch"]`` (scipy's array-API checks, which the
voice's resampler uses) fail. Synthesis runs *shared* (several at once is fine); the torch import runs
*exclusive*: it waits for syntheses in flight and holds new ones back for its few seconds.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class SharedExclusiveGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._exclusive_waiting:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._exclusive_waiting += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._exclusive_waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


#: Synthesis (shared) versus importing torch (exclusive).
MODEL_IMPORT_GATE = SharedExclusiveGate()
