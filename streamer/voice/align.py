"""Mouth timing for speech that came without it (an HTTP speech endpoint), by aligning it to a reference rendition.

The embedded Piper voice says the same sentence with per-phoneme timing (its viseme track). Both renditions carry
the same sounds in the same order at different speeds, so their spectra can be matched frame by frame: log-mel
energies every 10 ms, and dynamic time warping between the two. Each key of the reference's viseme track (and each
word boundary) is moved through that warp onto the other audio's clock. The mouth then closes on the endpoint
voice's own m, b and p, and rounds on its own o, instead of on an even spread of the text.

The warp allows one side to run up to twice as fast as the other (steps of one reference frame against zero, one
or two frames of the target), which keeps it to one pass of NumPy per frame.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import numpy as np

from streamer.frames import AUDIO_RATE_HZ, VisemeTrack

if TYPE_CHECKING:
    from streamer.voice.base import Speech, VoiceBackend

_LOG = logging.getLogger(__name__)

HOP_S = 0.010
WINDOW_S = 0.025
N_MELS = 24


@functools.cache
def _mel_filters(rate_hz: int, n_fft: int, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular mel filters (n_mels x n_fft/2+1) from 80 Hz to 7.6 kHz (where speech is)."""

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(80.0), mel(min(7600.0, rate_hz / 2)), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    filters = np.zeros((n_mels, bins.size))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rise = (bins - lo) / max(mid - lo, 1e-9)
        fall = (hi - bins) / max(hi - mid, 1e-9)
        filters[i] = np.clip(np.minimum(rise, fall), 0.0, None)
    return filters


def log_mel(pcm: np.ndarray, rate_hz: int = AUDIO_RATE_HZ) -> np.ndarray:
    """Normalised log-mel energies of int16 or float audio: one row per 10 ms."""
    audio = np.asarray(pcm, dtype=np.float64).reshape(-1)
    if audio.size and np.abs(audio).max() > 2.0:
        audio = audio / 32768.0
    hop = round(rate_hz * HOP_S)
    win = round(rate_hz * WINDOW_S)
    n_fft = 1 << (win - 1).bit_length()
    frames = max(1, 1 + (audio.size - win) // hop) if audio.size >= win else 1
    padded = np.pad(audio, (0, max(0, (frames - 1) * hop + win - audio.size)))
    idx = np.arange(win)[None, :] + hop * np.arange(frames)[:, None]
    spectra = np.abs(np.fft.rfft(padded[idx] * np.hanning(win), n=n_fft)) ** 2
    feats = np.log(spectra @ _mel_filters(rate_hz, n_fft).T + 1e-8)
    return (feats - feats.mean(axis=0)) / (feats.std(axis=0) + 1e-6)


def warp(reference: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each reference frame, the target frame it matches (ascending; the first maps to 0 and the last to the
    target's last). Dynamic time warping on Euclidean distance, steps (1,0), (1,1), (1,2)."""
    n, m = reference.shape[0], target.shape[0]
    cost = np.sqrt(((reference[:, None, :] - target[None, :, :]) ** 2).sum(axis=2))
    total = np.full((n, m), np.inf)
    step = np.zeros((n, m), dtype=np.int8)
    total[0, 0] = cost[0, 0]
    choices = np.full((3, m), np.inf)
    for i in range(1, n):
        prev = total[i - 1]
        choices[0] = prev
        choices[1, 1:] = prev[:-1]
        choices[2, 2:] = prev[:-2]
        best = np.argmin(choices, axis=0)
        step[i] = best
        total[i] = cost[i] + choices[best, np.arange(m)]
    if not np.isfinite(total[n - 1, m - 1]):
        # The target is over twice as long (or short) as the reference: a straight line instead.
        return np.round(np.linspace(0, m - 1, n)).astype(np.int64)
    path = np.zeros(n, dtype=np.int64)
    j = m - 1
    for i in range(n - 1, -1, -1):
        path[i] = j
        j -= int(step[i, j])
    return np.maximum.accumulate(np.clip(path, 0, m - 1))


def map_track(track: VisemeTrack, reference_pcm: np.ndarray, target_pcm: np.ndarray) -> VisemeTrack:
    """The reference's viseme keys and word boundaries moved onto ``target_pcm``'s clock (both at the show's rate)
    through the warp between the two renditions."""
    ref, tgt = log_mel(reference_pcm), log_mel(target_pcm)
    path = warp(ref, tgt)
    hop = round(AUDIO_RATE_HZ * HOP_S)
    n_target = int(np.asarray(target_pcm).shape[0])

    def moved(samples: np.ndarray) -> np.ndarray:
        frames = np.clip(np.asarray(samples, dtype=np.float64) / hop, 0, len(path) - 1)
        lo = np.floor(frames).astype(np.int64)
        hi = np.minimum(lo + 1, len(path) - 1)
        at = path[lo] + (path[hi] - path[lo]) * (frames - lo)  # between frames, in proportion
        return np.clip(np.round(at * hop), 0, max(0, n_target - 1)).astype(np.int64)

    starts = moved(track.starts)
    starts[0] = 0
    starts = np.maximum.accumulate(starts)
    return VisemeTrack(starts=starts, visemes=track.visemes.copy(), boundaries=moved(track.boundaries))


def with_reference_mouth(speech: Speech, text: str, reference_voice: VoiceBackend, *, urgent: bool) -> Speech | None:
    """``speech`` (from an engine with no phoneme timing) with the mouth of ``reference_voice``'s rendition of the
    same ``text`` moved onto it (:func:`map_track`); None when the reference cannot give timing (it failed, or has
    no alignments, or an answer preempted it: the speech, the costly part, is kept): the caller keeps its own
    estimate."""
    from streamer.voice.base import Speech

    try:
        reference = reference_voice.synthesize(text, urgent=urgent)
    except Exception as exc:  # the mouth is a nicety; the speech is what matters
        _LOG.info("no reference timing for the mouth (%s)", exc)
        return None
    if not reference.aligned or reference.samples == 0:
        return None
    return Speech(pcm=speech.pcm, visemes=map_track(reference.visemes, reference.pcm, speech.pcm), aligned=True)
