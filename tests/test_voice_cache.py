"""A repeated line is never synthesised twice: the speech cache, alone and in a virtual-time show whose host
discloses every minute with one line of its own (and answers the same question twice)."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import numpy as np

from streamer.bench.virtual_show import ScriptedVoice, run_virtual_show
from streamer.frames import AUDIO_RATE_HZ, PcmFill, VisemeTrack
from streamer.voice.base import Speech
from streamer.voice.cache import SpeechCache
from tests.test_disclosure import _persona
from tests.test_on_air_speech import CATALOG


def speech(seconds: float, value: int = 100) -> Speech:
    n = int(seconds * AUDIO_RATE_HZ)
    return Speech(pcm=np.full(n, value, np.int16), visemes=VisemeTrack.silent())


def test_the_cache_hands_out_copies_keeps_whole_sentences_only_and_stays_within_its_seconds():
    cache = SpeechCache(max_s=3.0, pinned_max_s=1.5)
    cache.put("joe", "Hello!", speech(1.0, 7))
    got = cache.get("joe", " Hello! ")
    assert got is not None and got.samples == AUDIO_RATE_HZ and int(got.pcm[0]) == 7
    got.pcm[:] = 0  # a cut, a fade: whatever happens downstream
    again = cache.get("joe", "Hello!")
    assert again is not None and int(again.pcm[0]) == 7  # the cache's own copy is untouched
    assert cache.get("anna", "Hello!") is None  # another voice's line is its own
    streamed = speech(1.0)
    streamed.filling = PcmFill(streamed.samples)
    cache.put("joe", "Still decoding.", streamed)
    assert cache.get("joe", "Still decoding.") is None
    cache.put("joe", "I am an AI host.", speech(1.0), pinned=True)
    cache.put("joe", "Two", speech(1.0))
    cache.put("joe", "Three", speech(1.0))
    cache.get("joe", "Hello!")  # used: the oldest now is "Two"
    cache.put("joe", "Four", speech(1.0))
    assert cache.get("joe", "Two") is None and cache.get("joe", "Hello!") is not None
    for n in range(10):  # however much else is said, the pinned line stays
        cache.put("joe", f"Line {n}", speech(1.0))
    assert cache.get("joe", "I am an AI host.") is not None
    assert cache.samples <= 4.5 * AUDIO_RATE_HZ
    cache.put("joe", "Too long", speech(4.0))
    assert cache.get("joe", "Too long") is None


class CountingVoice(ScriptedVoice):
    def __init__(self) -> None:
        super().__init__(rtf=0.8)  # a slow voice: 0.8 s of work per second of speech
        self.calls: collections.Counter[str] = collections.Counter()

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        self.calls[text] += 1
        return super().synthesize(text, urgent=urgent)


def test_a_show_s_repeated_lines_are_voiced_once():
    voice = CountingVoice()
    persona = _persona("en", spoken_every_min=1.0, spoken_lines=["Just so you know, {host} is an AI host."])
    seen: dict[str, Any] = {}

    def keep(now: float, director: Any, speaker: Any) -> None:
        seen["speaker"] = speaker

    script = [(20.0, "mia", "How do I order?"), (120.0, "leo", "How do I order?")]
    report = asyncio.run(
        run_virtual_show(
            persona=persona, products=CATALOG, minutes=4.0, chat_per_min=0.0, voice=voice, on_frame=keep, script=script
        )
    )
    line = "Just so you know, Joe is an AI host."
    said = [h for h in report.transcript if h.kind == "disclosure"]
    assert len(said) >= 4 and all(h.text == line for h in said)
    assert voice.calls[line] == 1  # said four times or more, synthesised once
    twice = {t: c for t, c in voice.calls.items() if c > 1}
    hits = seen["speaker"].stats.cache_hits
    assert hits >= len(said) - 1  # every disclosure after the first came from the cache
    print(f"\nlines synthesised again (said again after more than 2 min of other speech): {len(twice)}")
    print(f"\nvirtual 4 min: {len(said)} disclosures, {seen['speaker'].stats.cache_hits} sentences from the cache")
