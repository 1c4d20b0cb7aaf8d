"""Reconnect delays shared by every output and chat source (no I/O, no imports beyond the standard library)."""

from __future__ import annotations

import random

#: Past this many doublings the delay is at its cap anyway; the exponent stops here so that a target that stays
#: down for days never overflows a float (2**1024 does).
_MAX_DOUBLINGS = 32


class Backoff:
    """Exponential backoff with equal jitter: delay n is uniform in [c/2, c] with c = min(max_s, base*2^n)."""

    def __init__(self, *, base_s: float = 0.5, max_s: float = 30.0, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.base_s * (2 ** min(self.attempt, _MAX_DOUBLINGS)))
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def at_least(self, attempt: int) -> None:
        """Start the next delay no lower than step ``attempt`` (a refusal that retrying soon will not fix)."""
        self.attempt = max(self.attempt, attempt)

    def reset(self) -> None:
        self.attempt = 0
