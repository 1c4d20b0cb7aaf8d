"""Zero-phase polyphase resampling of a voice's audio to the show's rate, in numpy alone.

The same filter as the usual polyphase resamplers (a Kaiser-windowed sinc, beta 5, ten zero crossings per side at
the lower of the two rates, unity gain at DC): ``y[m] = sum_n x[n] * h[m * down - n * up + half]``. It has no delay,
so phoneme offsets scaled by the rate ratio stay exact.

Why not scipy's ``resample_poly``: scipy's array-API checks look for torch in ``sys.modules``, and the show imports
torch (for the answer model) beside a running voice; a synthesis during that import failed on the half-imported
module, so synthesis had to stop for the whole import (the host fell silent for up to 30 s on a loaded machine).
This module touches nothing but numpy.
"""

from __future__ import annotations

import functools
import math

import numpy as np

#: Rows of ``up`` output samples computed per step (bounds the temporary tap array to a few MB).
_ROWS = 128


@functools.lru_cache(maxsize=8)
def _polyphase(up: int, down: int) -> tuple[np.ndarray, np.ndarray, int]:
    """For the outputs ``m = k * up + r`` (``r`` < ``up``): the taps of output ``r`` (``(up, taps)``, float32, tap
    ``j`` applies to input ``first[r] + k * down - j``) and ``first`` itself."""
    top = max(up, down)
    half = 10 * top
    n = np.arange(2 * half + 1, dtype=np.float64) - half
    h = np.sinc(n / top) * np.kaiser(2 * half + 1, 5.0)
    h *= up / h.sum()  # unity DC gain after zero-stuffing by ``up``
    taps = math.ceil(h.shape[0] / up)
    padded = np.zeros(up * taps, np.float64)
    padded[: h.shape[0]] = h
    table = padded.reshape(taps, up).T  # table[p, j] = h[p + j * up]
    pos = np.arange(up, dtype=np.int64) * down + half  # where x[0] lands in h for output r, plus n * up per input n
    return table[pos % up].astype(np.float32), pos // up, taps


def resample(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """``x`` (float, mono) at ``up / down`` times its rate: ``ceil(len(x) * up / down)`` float32 samples. Matches
    scipy's ``resample_poly(x, up, down)`` to float32 precision."""
    g = math.gcd(up, down)
    up, down = up // g, down // g
    x = np.asarray(x, np.float32)
    if up == down == 1:
        return x.copy()
    weights, first, taps = _polyphase(up, down)
    n_out = -(-x.shape[0] * up // down)
    rows = -(-n_out // up)
    # Zeros around x so that every tap's index is valid; windows[i, j] = xp[i + taps - 1 - j].
    xp = np.concatenate([np.zeros(taps, np.float32), x, np.zeros(taps + 2 * down, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(xp, taps)[:, ::-1]
    out = np.empty((rows, up), np.float32)
    for k0 in range(0, rows, _ROWS):
        k = np.arange(k0, min(k0 + _ROWS, rows), dtype=np.int64)
        idx = first[None, :] + 1 + (k * down)[:, None]  # + taps (the zeros before x) - (taps - 1) (window origin)
        out[k0 : k0 + k.shape[0]] = np.einsum("kuj,uj->ku", windows[idx], weights)
    return out.reshape(-1)[:n_out]


__all__ = ["resample"]
