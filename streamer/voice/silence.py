"""A voice that says nothing, for as long as a person would take to say the text.

Used as ``backend: silence`` (rehearsals, machines without a voice model) and by tests and benchmarks that must
not depend on Piper. The PCM is all zeros; the viseme track is a plausible guess from the spelling, so the
avatar's mouth shapes still change (the jaw stays shut, since ``open_amount`` follows loudness).
"""

from __future__ import annotations

import unicodedata

import numpy as np

from streamer.config import VoiceSettings
from streamer.frames import AUDIO_RATE_HZ
from streamer.voice.base import Speech
from streamer.voice.visemes import track_from_phonemes

#: Speaking rate at speed 1.0, measured on Piper's en_US-joe-medium (about 15 characters a second).
CHARS_PER_S = 15.0
#: Trailing silence Piper leaves after a sentence's final punctuation.
TAIL_S = 0.2

# English spelling to the nearest IPA symbol, where the letter itself means something else in IPA.
_LETTER_AS_PHONEME = {"c": "k", "j": "ʒ", "q": "k", "r": "ɹ", "x": "k", "y": "j", "g": "ɡ"}
_VOWEL_LETTERS = frozenset("aeiouy")
_PAUSES = frozenset(".,!?;:")


class SilenceVoice:
    """Silent speech of a plausible length with a spelling-based viseme track. Loads instantly."""

    def __init__(self, settings: VoiceSettings | None = None) -> None:
        self._speed = settings.speed if settings is not None else 1.0
        self.name = "silence"

    def load(self) -> None:
        return None

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        symbols: list[str] = []
        weights: list[float] = []
        for ch in unicodedata.normalize("NFKD", text.lower()):
            if ch.isspace():
                if symbols and symbols[-1] != " ":
                    symbols.append(" ")
                    weights.append(0.5)
            elif ch in _PAUSES:
                symbols.append(ch)
                weights.append(4.0)
            elif ch.isalpha() and ch.isascii():
                symbols.append(_LETTER_AS_PHONEME.get(ch, ch))
                weights.append(1.5 if ch in _VOWEL_LETTERS else 1.0)
            elif ch.isalnum():
                symbols.append("ə")  # digits and other scripts: some vowel-ish mouth movement
                weights.append(1.0)
        if not any(s not in (" ", *_PAUSES) for s in symbols):
            return Speech.empty()

        total = round((len(text.strip()) / CHARS_PER_S + TAIL_S) / self._speed * AUDIO_RATE_HZ)
        talk = total - round(TAIL_S / self._speed * AUDIO_RATE_HZ)
        w = np.asarray(weights)
        edges = np.floor(np.cumsum(w) / w.sum() * talk).astype(np.int64)
        durations = np.diff(np.concatenate(([0], edges)))
        symbols.append("$")
        durations = np.append(durations, total - int(edges[-1]))
        track = track_from_phonemes(symbols, durations, rate_hz=AUDIO_RATE_HZ)
        return Speech(pcm=np.zeros(total, np.int16), visemes=track, aligned=False)
