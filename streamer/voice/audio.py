"""Audio steps every voice backend shares: loudness, the show's sample rate, int16, and estimated mouth timing.

A TTS engine gives float audio at its own rate and, at best, how long each phoneme lasts. What the show needs is
:class:`~streamer.voice.base.Speech`: int16 PCM at ``AUDIO_RATE_HZ`` at a steady level, with viseme keys on the same
clock. :func:`speech_from_audio` does all of it for an engine that voices a sentence at a time; Piper uses the
parts (it normalises and aligns each sentence of a text, then resamples once).

The alignment fallback (:func:`estimated_timing`): when a model gives no phoneme durations, its phonemes (or, with
no phonemes either, a guess from the spelling, :func:`spelled_phonemes`) are spread over the voiced part of the
audio, vowels longer than consonants. The lips then move with the speech but not on its sounds; ``Speech.aligned``
is False so this is visible.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

import numpy as np

from streamer.frames import AUDIO_RATE_HZ
from streamer.voice.base import Speech
from streamer.voice.resample import resample
from streamer.voice.visemes import spread_durations, track_from_phonemes

#: Peak level of voiced audio (-0.9 dBFS): Piper normalises each sentence to full scale; the headroom absorbs
#: resampler overshoot so nothing clips.
PEAK_LEVEL = 0.9
#: A sentence whose peak is below this is silence (left at zero, not amplified noise).
SILENT_PEAK = 1e-8
#: The symbols for the silence before and after the speech in an estimated timing (Piper's start and end symbols,
#: which the viseme table reads as rest).
BEFORE_SPEECH = "^"
AFTER_SPEECH = "$"

# English spelling to the nearest IPA symbol, where the letter itself means something else in IPA.
_LETTER_AS_PHONEME = {"c": "k", "j": "ʒ", "q": "k", "r": "ɹ", "x": "k", "y": "j", "g": "ɡ"}
_VOWEL_LETTERS = frozenset("aeiouy")
PAUSES = frozenset(".,!?;:")
"""Punctuation read as a pause."""


def normalise_peak(audio: np.ndarray, level: float = PEAK_LEVEL) -> tuple[np.ndarray, float]:
    """``audio`` (float, full scale 1.0) scaled so that its peak is ``level``, clipped to [-1, 1], and its peak before
    scaling. Audio with a peak below :data:`SILENT_PEAK` comes back as zeros."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak < SILENT_PEAK:
        return np.zeros_like(audio), peak
    return np.clip(audio * (level / peak), -1.0, 1.0), peak


def to_show_rate(audio: np.ndarray, rate_hz: int) -> np.ndarray:
    """``audio`` (float, mono) at ``rate_hz`` resampled to ``AUDIO_RATE_HZ``: ``ceil(len * AUDIO_RATE_HZ / rate_hz)``
    samples, zero-phase (no delay), so phoneme offsets rescaled by the rate ratio stay exact. The same array when
    the rates are equal."""
    if rate_hz == AUDIO_RATE_HZ:
        return audio
    g = math.gcd(AUDIO_RATE_HZ, rate_hz)
    return resample(audio, AUDIO_RATE_HZ // g, rate_hz // g)


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio (full scale 1.0) as int16, rounded and clipped."""
    return np.clip(np.rint(audio * 32767.0), -32768, 32767).astype(np.int16)


def voiced_span(audio: np.ndarray, rate_hz: int) -> tuple[int, int]:
    """First and last sample of the part of ``audio`` above -40 dB of its loudest 10 ms (all of it when silent)."""
    hop = max(rate_hz // 100, 1)
    frames = audio[: audio.shape[0] // hop * hop].reshape(-1, hop)
    if not frames.shape[0]:
        return 0, int(audio.shape[0])
    env = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(env > env.max() * 0.01)
    if not loud.size:
        return 0, int(audio.shape[0])
    return int(loud[0]) * hop, min(int(loud[-1] + 1) * hop, int(audio.shape[0]))


def estimated_timing(phonemes: Sequence[str], audio: np.ndarray, rate_hz: int) -> tuple[list[str], list[int]]:
    """The alignment fallback: ``phonemes`` spread over the voiced part of ``audio`` (:func:`voiced_span`), with
    :data:`BEFORE_SPEECH` and :data:`AFTER_SPEECH` for the silence around it. Returns (symbols, samples each at
    ``rate_hz``), summing to ``len(audio)``, for :func:`~streamer.voice.visemes.track_from_phonemes`."""
    n = int(audio.shape[0])
    first, last = voiced_span(audio, rate_hz)
    said = list(phonemes)
    return [BEFORE_SPEECH, *said, AFTER_SPEECH], [first, *spread_durations(said, last - first).tolist(), n - last]


def spelled_phonemes(text: str) -> tuple[list[str], list[float]]:
    """A guess at the phonemes of ``text`` from its spelling, with a relative length for each: letters as the nearest
    IPA symbol (vowels 1.5, consonants 1), a word gap ``" "`` (0.5) between words, punctuation as a pause (4),
    digits and other scripts a neutral vowel. ([], []) when nothing in it is pronounceable. For engines that give
    no phonemes at all; the mouth moves plausibly, not on the actual sounds."""
    symbols: list[str] = []
    weights: list[float] = []
    for ch in unicodedata.normalize("NFKD", text.lower()):
        if ch.isspace():
            if symbols and symbols[-1] != " ":
                symbols.append(" ")
                weights.append(0.5)
        elif ch in PAUSES:
            symbols.append(ch)
            weights.append(4.0)
        elif ch.isalpha() and ch.isascii():
            symbols.append(_LETTER_AS_PHONEME.get(ch, ch))
            weights.append(1.5 if ch in _VOWEL_LETTERS else 1.0)
        elif ch.isalnum():
            symbols.append("ə")  # digits and other scripts: some vowel-ish mouth movement
            weights.append(1.0)
    if not any(s not in (" ", *PAUSES) for s in symbols):
        return [], []
    return symbols, weights


def speech_from_audio(
    audio: np.ndarray,
    *,
    rate_hz: int,
    text: str = "",
    phonemes: Sequence[str] | None = None,
    durations: Sequence[int] | None = None,
    level: float = PEAK_LEVEL,
) -> Speech:
    """One sentence an engine voiced (float audio at ``rate_hz``) as show speech: normalised to ``level``, resampled
    to ``AUDIO_RATE_HZ``, int16, with viseme keys. ``phonemes`` with ``durations`` (samples at ``rate_hz``, summing
    to the audio's length) give aligned keys; otherwise the keys are estimated (:func:`estimated_timing`) from
    ``phonemes``, or from the spelling of ``text`` when there are none. Empty audio gives :meth:`Speech.empty`."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not audio.size:
        return Speech.empty()
    audio, _ = normalise_peak(audio, level)
    n = int(audio.shape[0])
    aligned = (
        phonemes is not None and durations is not None and len(phonemes) == len(durations) and int(sum(durations)) == n
    )
    if aligned:
        symbols, lengths = list(phonemes or ()), [int(d) for d in durations or ()]
    else:
        said = list(phonemes) if phonemes is not None else spelled_phonemes(text)[0]
        symbols, lengths = estimated_timing(said, audio, rate_hz)
    track = track_from_phonemes(symbols, lengths, rate_hz=rate_hz)
    return Speech(pcm=to_pcm16(to_show_rate(audio, rate_hz)), visemes=track, aligned=aligned)


__all__ = [
    "AFTER_SPEECH",
    "BEFORE_SPEECH",
    "PEAK_LEVEL",
    "SILENT_PEAK",
    "estimated_timing",
    "normalise_peak",
    "speech_from_audio",
    "spelled_phonemes",
    "to_pcm16",
    "to_show_rate",
    "voiced_span",
]
