"""Speech already voiced, kept by sentence text and voice, so a repeated line is never synthesised twice.

A show repeats itself by design: the spoken AI disclosure every 15 minutes, "tap the card on screen to order",
the invitation to ask, the same answer to the same question. For a slow voice (an HTTP endpoint, XTTS on two
cores) each synthesis is seconds of work; from the cache it is a copy.

Bounded by the audio it holds: ``max_s`` seconds for any line, least recently used out first, and
``pinned_max_s`` apart for the lines a show repeats by design (the spoken disclosure). Only whole sentences are kept
(a streamed one, handed over while still being decoded, is not), and every hit is a copy: nothing downstream can
change what the cache holds. Used from the event loop's thread only.
"""

from __future__ import annotations

import collections

from streamer.frames import AUDIO_RATE_HZ, VisemeTrack
from streamer.voice.base import Speech

#: Seconds of speech kept for any line (about 11.5 MB of 48 kHz int16): a repeat within a few minutes hits.
CACHE_SECONDS = 120.0
#: Seconds kept apart for the lines a show repeats by design however long it runs (the spoken AI disclosure,
#: every 15 minutes): the rest of the show's speech never pushes them out.
PINNED_SECONDS = 60.0


class SpeechCache:
    def __init__(self, max_s: float = CACHE_SECONDS, pinned_max_s: float = PINNED_SECONDS) -> None:
        self._tiers = {False: _Tier(int(max_s * AUDIO_RATE_HZ)), True: _Tier(int(pinned_max_s * AUDIO_RATE_HZ))}
        self.hits = 0
        self.misses = 0

    @property
    def samples(self) -> int:
        return sum(t.samples for t in self._tiers.values())

    def get(self, voice: str, text: str) -> Speech | None:
        key = (voice, text.strip())
        for tier in self._tiers.values():
            speech = tier.get(key)
            if speech is not None:
                self.hits += 1
                return _copy(speech)
        self.misses += 1
        return None

    def put(self, voice: str, text: str, speech: Speech, *, pinned: bool = False) -> None:
        """Keep ``speech`` (a copy) for ``text`` in ``voice``; ``pinned``: a line the show repeats by design."""
        if speech.filling is not None:
            return  # streamed: its end is still being decoded (a streaming voice is fast enough anyway)
        if speech.samples == 0:
            return
        self._tiers[pinned].put((voice, text.strip()), _copy(speech))

    def clear(self) -> None:
        for tier in self._tiers.values():
            tier.clear()

    def __len__(self) -> int:
        return sum(len(t.items) for t in self._tiers.values())


class _Tier:
    """Least recently used out first, within ``max_samples`` of audio."""

    def __init__(self, max_samples: int) -> None:
        self.max_samples = max_samples
        self.items: collections.OrderedDict[tuple[str, str], Speech] = collections.OrderedDict()
        self.samples = 0

    def get(self, key: tuple[str, str]) -> Speech | None:
        speech = self.items.get(key)
        if speech is not None:
            self.items.move_to_end(key)
        return speech

    def put(self, key: tuple[str, str], speech: Speech) -> None:
        if speech.samples > self.max_samples:
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.samples -= old.samples
        self.items[key] = speech
        self.samples += speech.samples
        while self.samples > self.max_samples and self.items:
            _, dropped = self.items.popitem(last=False)
            self.samples -= dropped.samples

    def clear(self) -> None:
        self.items.clear()
        self.samples = 0


def _copy(speech: Speech) -> Speech:
    track = speech.visemes
    return Speech(
        pcm=speech.pcm.copy(),
        visemes=VisemeTrack(
            starts=track.starts.copy(), visemes=track.visemes.copy(), boundaries=track.boundaries.copy()
        ),
        aligned=speech.aligned,
    )
