"""Reconnect delays shared by every output and chat source (no I/O, no imports beyond the standard library)."""

from __future__ import annotations

import random
from collections.abc import Callable

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

    def forgive(self, steps: int) -> None:
        """Step back ``steps`` doublings (a connection that stayed up a while, though not long enough to reset).
        Counted from the step where the delay reached its cap, so days of failures do not outweigh a good hour."""
        if steps <= 0:
            return
        capped = 0
        while capped < _MAX_DOUBLINGS and self.base_s * (2**capped) < self.max_s:
            capped += 1
        self.attempt = max(0, min(self.attempt, capped + 1) - steps)


class ReconnectPolicy:
    """The one reconnect policy of every connection the show keeps up (chat sources, outputs): a :class:`Backoff`
    between attempts, started again from its first step once a connection has stayed up ``stable_after_s``,
    measured with ``now`` (the show's injected clock, so tests run it in virtual time). A connection that stayed up
    less than that steps the backoff back one doubling per quarter of ``stable_after_s`` it lasted: a server that
    drops every connection after a few seconds is retried at once, not after the capped delay, while one that
    fails at once still backs off."""

    def __init__(
        self,
        *,
        now: Callable[[], float],
        max_s: float = 30.0,
        stable_after_s: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.backoff = backoff or Backoff(base_s=0.5, max_s=max_s)
        self.stable_after_s = stable_after_s
        self._now = now
        self._up_since: float | None = None

    @property
    def attempt(self) -> int:
        return self.backoff.attempt

    def attempting(self) -> None:
        """A new connection attempt begins (whatever was up before is gone)."""
        self._up_since = None

    def connected(self) -> None:
        """A connection is up (from now on it counts towards stability)."""
        self._up_since = self._now()

    def stable(self) -> bool:
        """Whether the current connection has stayed up long enough to forget earlier failures."""
        return self._up_since is not None and self._now() - self._up_since >= self.stable_after_s

    def next_delay(self, *, at_least: int = 0) -> float:
        """The connection failed or ended: how long to wait before the next attempt. ``at_least``: start no lower
        than that step (a refusal that retrying soon will not fix)."""
        if self.stable():
            self.backoff.reset()
        elif self._up_since is not None and self.stable_after_s > 0:
            lasted = self._now() - self._up_since
            self.backoff.forgive(int(lasted / (self.stable_after_s / 4)))
        self._up_since = None
        self.backoff.at_least(at_least)
        return self.backoff.next_delay()
