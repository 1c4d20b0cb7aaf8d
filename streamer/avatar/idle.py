"""Idle eye motion shared by the real-person avatars: when to blink (every 2-6 s, about 0.22 s long, never shut
longer than 0.12 s) and where the eyes drift. Pure functions of the media time for a seed."""

from __future__ import annotations

import bisect
import math

import numpy as np

from streamer.avatar.face_rig import smoothstep

#: Blink shape (seconds): closing, shut, opening.
BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.075, 0.04, 0.11
BLINK_GAP_S = (2.0, 6.0)
_GAZE_SLOT_S = 1.7


def u01(seed: int, n: int, salt: int) -> float:
    """A repeatable uniform number in [0, 1) for (seed, n, salt)."""
    x = (seed * 0x9E3779B1 + n * 0x85EBCA77 + salt * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x / 2**32


class IdleEyes:
    """Blinks and gaze drift for ``seed``; the blink times repeat after about 70 minutes."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        gaps = [BLINK_GAP_S[0] + (BLINK_GAP_S[1] - BLINK_GAP_S[0]) * u01(self.seed, i, 3) for i in range(1024)]
        self._blinks = np.cumsum([0.8 + 1.5 * u01(self.seed, 0, 5), *gaps[:-1]]).tolist()
        self._blink_period = self._blinks[-1] + gaps[-1]

    def blink_amount(self, t_s: float) -> float:
        """How shut the eyes are at ``t_s``: 0 open .. 1 shut."""
        t = t_s % self._blink_period
        i = bisect.bisect_right(self._blinks, t) - 1
        if i < 0:
            return 0.0
        d = t - self._blinks[i]
        if d < BLINK_CLOSE_S:
            return float(smoothstep(d / BLINK_CLOSE_S))
        d -= BLINK_CLOSE_S
        if d < BLINK_HOLD_S:
            return 1.0
        d -= BLINK_HOLD_S
        if d < BLINK_OPEN_S:
            return float(1.0 - smoothstep(d / BLINK_OPEN_S))
        return 0.0

    def blink_times(self, t0_s: float, t1_s: float) -> list[float]:
        """Start times of the blinks in ``[t0_s, t1_s)``."""
        out = []
        k0 = math.floor(t0_s / self._blink_period)
        for k in range(k0, math.floor(t1_s / self._blink_period) + 1):
            base = k * self._blink_period
            out += [base + b for b in self._blinks if t0_s <= base + b < t1_s]
        return out

    def gaze(self, t_s: float) -> float:
        """Horizontal eyeball offset at ``t_s``, as a share of the eye's width (mostly 0: looking at the viewer)."""

        def target(n: int) -> float:
            if u01(self.seed, n, 11) < 0.55:
                return 0.0
            return 0.09 * (2 * u01(self.seed, n, 12) - 1)

        n = math.floor(t_s / _GAZE_SLOT_S)
        a, b = target(n - 1), target(n)
        k = float(smoothstep((t_s - n * _GAZE_SLOT_S) / 0.1))
        return a + (b - a) * k
