"""A voice that says nothing, for as long as a person would take to say the text.

Used as ``backend: silence`` (rehearsals, machines without a voice model) and by tests and benchmarks that must
not depend on Piper. The PCM is all zeros; the viseme track is a plausible guess from the spelling
(:func:`~streamer.voice.audio.spelled_phonemes`), so the avatar's mouth shapes still change (the jaw stays shut,
since ``open_amount`` follows loudness).
"""

from __future__ import annotations

import time

import numpy as np

from streamer.config import VoiceSettings
from streamer.frames import AUDIO_RATE_HZ
from streamer.voice.audio import spelled_phonemes
from streamer.voice.base import Speech, VoiceBase
from streamer.voice.visemes import track_from_phonemes

#: Speaking rate at speed 1.0, measured on Piper's en_US-joe-medium (about 15 characters a second).
CHARS_PER_S = 15.0
#: Trailing silence Piper leaves after a sentence's final punctuation.
TAIL_S = 0.2


class SilenceVoice(VoiceBase):
    """Silent speech of a plausible length with a spelling-based viseme track. Loads instantly. Its measured speed
    (``speed``) is that of making the track: far faster than real time."""

    def __init__(self, settings: VoiceSettings | None = None) -> None:
        super().__init__()
        self._pace = settings.speed if settings is not None else 1.0
        self.name = "silence"

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        t0 = time.perf_counter()
        symbols, weights = spelled_phonemes(text)
        if not symbols:
            return Speech.empty()

        total = round((len(text.strip()) / CHARS_PER_S + TAIL_S) / self._pace * AUDIO_RATE_HZ)
        talk = total - round(TAIL_S / self._pace * AUDIO_RATE_HZ)
        w = np.asarray(weights)
        edges = np.floor(np.cumsum(w) / w.sum() * talk).astype(np.int64)
        durations = np.diff(np.concatenate(([0], edges)))
        symbols.append("$")
        durations = np.append(durations, total - int(edges[-1]))
        track = track_from_phonemes(symbols, durations, rate_hz=AUDIO_RATE_HZ)
        speech = Speech(pcm=np.zeros(total, np.int16), visemes=track, aligned=False)
        self.speed.record(synthesis_s=time.perf_counter() - t0, audio_s=speech.duration_s)
        return speech
