"""A whole show's talking part on virtual time: director, brain, guards, speaker, playout and chat triage, with a
scripted voice and simulated viewers, as fast as the CPU allows (30 minutes of air in well under a minute).

What it measures is what viewers hear: the transcript is built from the playout's own "heard" records (cut
sentences as far as they were heard), exactly as the show's transcript is. Used by ``python -m streamer.bench
patter`` and by the speaker tests. Pictures, encoding and the network are left out: they do not change what is said.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamer.brain.base import Brain
from streamer.brain.embed import LexicalEmbedder, TextEmbedder
from streamer.brain.factory import BrainKit
from streamer.brain.guards import SentenceGuard
from streamer.brain.offline import OfflineBrain, distinct_2
from streamer.brain.repeats import content_tokens, fact_keys
from streamer.chat.simulator import ViewerSimulator
from streamer.chat.triage import ChatTriage
from streamer.clock import FakeClock, audio_share
from streamer.config import GuardSettings, Persona, ProductSheet, TriageSettings
from streamer.director import ShowDirector
from streamer.frames import AUDIO_RATE_HZ, ChatMessage, HeardSpeech, SpeechSegment, Viseme, VisemeTrack
from streamer.playout import SpeechPlayout
from streamer.speaker import ReplyJob, Speaker, reply_job
from streamer.voice.base import Speech, VoiceBackend, VoiceBase

_WORD = re.compile(r"[\u3400-\u9fff]|[^\s\u3400-\u9fff]+")


class ScriptedVoice(VoiceBase):
    """A voice for virtual time: ``chars_per_s`` of speech per character, quiet noise, one mouth key per word and a
    boundary between words (between characters for Chinese). Follows :class:`~streamer.voice.base.VoiceBackend`.

    Its measured speed is scripted, not timed (synthesis takes no virtual time): each sentence records ``rtf``
    seconds of synthesis per second of audio, the first audio after ``first_audio_s`` (default: all of it)."""

    name = "scripted"

    def __init__(
        self, *, chars_per_s: float = 14.0, seed: int = 0, rtf: float = 0.0, first_audio_s: float | None = None
    ) -> None:
        super().__init__()
        self.chars_per_s = chars_per_s
        self.rtf = rtf
        self.first_audio_s = first_audio_s
        self._rng = np.random.default_rng(seed)

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        words = _WORD.findall(text)
        if not words:
            return Speech.empty()
        lengths = [max(1, round((len(w) + 1) / self.chars_per_s * AUDIO_RATE_HZ)) for w in words]
        ends = np.cumsum(lengths)
        total = int(ends[-1])
        pcm = (self._rng.standard_normal(total) * 800).astype(np.int16)
        starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
        kinds = np.array([Viseme.OPEN if i % 2 == 0 else Viseme.WIDE for i in range(len(words))], np.int8)
        audio_s = total / AUDIO_RATE_HZ
        self.speed.record(synthesis_s=self.rtf * audio_s, audio_s=audio_s, first_audio_s=self.first_audio_s)
        return Speech(pcm=pcm, visemes=VisemeTrack(starts=starts, visemes=kinds, boundaries=ends[:-1].astype(np.int64)))


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs submitted work at once, on the caller's thread: on virtual time nothing may run "in the background".
    (A ThreadPoolExecutor only because asyncio's default executor must be one; it never starts a thread.)"""

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


@dataclass(slots=True)
class Heard:
    """One transcript line: what viewers heard of a segment, and when it started (show seconds)."""

    start_s: float
    end_s: float
    kind: str
    text: str
    sentence: str
    interrupted: bool
    product_id: str | None
    resumed: bool


@dataclass(slots=True)
class VirtualShowReport:
    minutes: float
    transcript: list[Heard] = field(default_factory=list)
    comments: int = 0
    reply_latency_s: dict[str, list[float]] = field(default_factory=dict)
    """Comment arrival to the first sample of its answer heard, by simulator category."""
    first_kind: str | None = None
    replies: list[tuple[str, float, float]] = field(default_factory=list)
    """(simulator category, comment arrival, first audio of its answer) per answered comment, show seconds."""
    name_words: frozenset[str] = frozenset()
    """Words of the catalog's product names: naming a product is not stating a fact."""

    def patter(self) -> list[Heard]:
        return [h for h in self.transcript if h.kind in ("patter", "transition", "greeting", "invite")]

    def metrics(self) -> dict[str, Any]:
        """The patter benchmark's figures (see ``python -m streamer.bench patter``)."""
        patter = [h for h in self.transcript if h.kind == "patter"]
        said = [h.sentence for h in patter if not h.resumed]
        minutes = max(self.minutes, 1e-9)
        return {
            "minutes": self.minutes,
            "sentences_heard": len(self.transcript),
            "patter_sentences": len(said),
            "distinct_2": round(distinct_2(said), 3),
            "distinct_2_per_5min": _windowed_distinct_2(patter, 300.0),
            "min_fact_repeat_s": _min_fact_repeat_s(patter, self.name_words),
            "max_product_on_air_s": round(_max_on_air_s(self.transcript), 1),
            "cuts": sum(1 for h in self.transcript if h.interrupted),
            "cuts_per_min": round(sum(1 for h in self.transcript if h.interrupted) / minutes, 2),
            "restarted_sentences": _restarted(self.transcript),
            # Cut within their first words and said again whole after the reply (see playout.rest_of).
            "cut_early_said_whole": sum(1 for h in self.transcript if h.resumed and h.text == h.sentence),
            "first_thing_said": self.first_kind,
            "comments": self.comments,
            **self.disclosure_metrics(),
        }

    def disclosures(self) -> list[Heard]:
        """The spoken AI disclosures heard, in order."""
        return [h for h in self.transcript if h.kind == "disclosure"]

    def disclosure_metrics(self) -> dict[str, Any]:
        """How often the host said it is an AI: how many were heard (and how many of them not whole), when the
        first one started, the longest time from the start of one to the next (or to the end of the run)."""
        said = self.disclosures()
        starts = [h.start_s for h in said]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        if starts:
            gaps.append(self.minutes * 60 - starts[-1])
        return {
            "disclosures": len(said),
            "disclosures_cut": sum(1 for h in said if h.interrupted),
            "first_disclosure_s": round(starts[0], 1) if starts else None,
            "max_disclosure_gap_s": round(max(gaps), 1) if gaps else None,
        }


def _cuts_resumed(patter: Sequence[Heard]) -> set[int]:
    """Indexes of the cut sentences whose rest was said to its end later (a rest cut again continues the chain)."""
    out: set[int] = set()
    open_cut: dict[str, int] = {}
    for i, h in enumerate(patter):
        if h.resumed:
            j = open_cut.pop(h.sentence, None)
            if j is not None and h.interrupted:
                open_cut[h.sentence] = j  # the rest was cut too: still not finished
            elif j is not None:
                out.add(j)
            continue
        if h.interrupted:
            open_cut[h.sentence] = i
        else:
            open_cut.pop(h.sentence, None)
    return out


def _min_fact_repeat_s(patter: Sequence[Heard], names: frozenset[str] = frozenset()) -> float | None:
    """The shortest air time within which a patter sentence's facts had mostly been said before (half or more of its
    content-word pairs said in patter within that time). None when no fact was ever repeated."""
    best: float | None = None
    seen: dict[tuple[str, ...], float] = {}
    finished = _cuts_resumed(patter)
    for i, h in enumerate(patter):
        if h.resumed:
            continue
        # What was heard: a cut sentence whose rest was never said counts for the words heard only.
        fragment = h.interrupted and i not in finished
        said = h.text if fragment else h.sentence
        keys = fact_keys(said, names)
        if keys and not fragment:  # a few words cut short are not judged (their facts still count as said)
            # The air time within which half of its facts had been said already.
            ages = sorted(h.start_s - seen[k] for k in keys if k in seen)
            need = (len(keys) + 1) // 2
            if len(ages) >= need:
                gap = ages[need - 1]
                best = gap if best is None else min(best, gap)
        for k in keys:
            seen[k] = h.start_s
    return None if best is None else round(best, 1)


def _windowed_distinct_2(patter: Sequence[Heard], window_s: float) -> float | None:
    """Mean distinct-2 of the patter heard in each whole ``window_s`` of the run (what a viewer who stays that long
    hears); None for a run shorter than one window."""
    if not patter:
        return None
    end = patter[-1].end_s
    values = []
    start = 0.0
    while start + window_s <= end:
        said = [h.sentence for h in patter if start <= h.start_s < start + window_s and not h.resumed]
        values.append(distinct_2(said))
        start += window_s
    return round(sum(values) / len(values), 3) if values else None


def _max_on_air_s(transcript: Sequence[Heard]) -> float:
    """The longest stretch the show's patter stayed on one product (first patter line to the switch)."""
    longest = 0.0
    current: str | None = None
    since = 0.0
    for h in transcript:
        if h.kind not in ("patter", "transition") or h.product_id is None:
            continue
        if h.product_id != current:
            if current is not None:
                longest = max(longest, h.start_s - since)
            current, since = h.product_id, h.start_s
    if current is not None and transcript:
        longest = max(longest, transcript[-1].end_s - since)
    return longest


def _restarted(transcript: Sequence[Heard], within_s: float = 60.0) -> int:
    """Sentences cut by a reply and said again from the top within ``within_s`` (instead of from the cut)."""
    cut: dict[str, float] = {}
    restarted = 0
    for h in transcript:
        if h.resumed:
            continue
        at = cut.pop(h.sentence, None)
        if at is not None and h.start_s - at <= within_s and h.kind in ("patter", "transition", "invite"):
            restarted += 1
        if h.interrupted:
            cut[h.sentence] = h.end_s
    return restarted


async def run_virtual_show(
    *,
    persona: Persona,
    products: Sequence[ProductSheet],
    minutes: float,
    chat_per_min: float = 8.0,
    seed: int = 7,
    embedder: TextEmbedder | None = None,
    brain: Brain | None = None,
    fps: int = 30,
    on_frame: Callable[[float, ShowDirector, Speaker], None] | None = None,
    script: Sequence[tuple[float, str, str]] = (),
    voice: ScriptedVoice | None = None,
    voices: dict[str, VoiceBackend] | None = None,
) -> VirtualShowReport:
    """Runs the show's talking part for ``minutes`` of virtual air time and returns what was heard.

    ``embedder``: the offline brain's (default: the lexical one, no model load). ``on_frame(now, director,
    speaker)`` runs after every frame (a test changes the catalog there, as the show does on a reload).
    ``chat_per_min``: simulated comments per minute at the demo's mix (0: no chat). ``script``: comments of your
    own, (show second, viewer, text), delivered on top of the simulated ones. ``voice``: another scripted voice
    (default: ``ScriptedVoice(seed=seed)``); ``voices``: the voices of the persona's other languages (as loaded)."""
    loop = asyncio.get_running_loop()
    inline = InlineExecutor()
    loop.set_default_executor(inline)
    clock = FakeClock()
    rng = random.Random(seed)
    offline = OfflineBrain(embedder=embedder or LexicalEmbedder())
    offline.prepare(products)
    guard = SentenceGuard(settings=GuardSettings(), persona=persona)
    kit = BrainKit(brain=brain or offline, offline=offline, guard=guard)
    director = ShowDirector(persona=persona)
    director.set_products(list(products))
    playout = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=persona.patter.pause_between_sentences_ms / 1000)
    triage = ChatTriage(TriageSettings()) if chat_per_min > 0 or script else None
    scripted = sorted(script)
    report = VirtualShowReport(
        minutes=minutes, name_words=frozenset(w for p in products for w in content_tokens(p.name))
    )
    categories: dict[str, str] = {}
    job_category: dict[str, str] = {}
    job_arrival: dict[str, float] = {}
    ids = itertools.count(1)

    async def next_reply() -> ReplyJob | None:
        assert triage is not None
        pick = triage.next(clock.now())
        if pick is None:
            return None
        job = reply_job(
            pick,
            reply_id=f"r{next(ids)}",
            now_s=clock.now(),
            persona=persona,
            rng=rng,
            recent=director.recent_keys(),
            speakable=speaker.voices,
        )
        if pick.messages:
            job_category[job.reply_id] = categories.get(pick.messages[0].message_id, "?")
            job_arrival[job.reply_id] = job.arrived_s
        return job

    speaker = Speaker(
        persona=persona,
        director=director,
        brain=kit,
        voice=voice or ScriptedVoice(seed=seed),
        playout=playout,
        clock=clock,
        voice_pool=inline,
        reply_pool=inline,
        rng=rng,
        next_reply=next_reply if triage is not None else None,
        question_waiting=triage.question_waiting if triage is not None else None,
    )
    speaker.voices = dict(voices or {})
    sim = (
        ViewerSimulator(messages_per_min=chat_per_min, catalog=lambda: director.products, seed=seed)
        if (chat_per_min > 0)
        else None
    )
    next_msg_s = sim.next_gap_s() if sim is not None else float("inf")
    starts: dict[int, tuple[float, SpeechSegment]] = {}
    task = asyncio.create_task(speaker.run(), name="virtual:speaker")
    frames = round(minutes * 60 * fps)
    try:
        for frame in range(frames):
            now = clock.now()
            while sim is not None and triage is not None and next_msg_s <= now:
                msg = sim.next_message()
                mid = f"m{next(ids)}"
                categories[mid] = msg.category
                cm = ChatMessage(
                    source="simulator",
                    message_id=mid,
                    user=msg.user,
                    text=msg.text,
                    kind=msg.kind,
                    user_id=msg.user_id,
                    received_s=now,
                )
                decision = triage.offer(cm, now, products=director.products, on_screen=speaker.on_screen())
                report.comments += 1
                speaker.last_chat_s = now
                if decision.outcome in ("queued", "merged"):
                    speaker.wake.set()
                next_msg_s += sim.next_gap_s()
            while scripted and scripted[0][0] <= now and triage is not None:
                _, user, text = scripted.pop(0)
                mid = f"m{next(ids)}"
                categories[mid] = "script"
                cm = ChatMessage(source="script", message_id=mid, user=user, text=text, received_s=now)
                if triage.offer(cm, now, products=director.products, on_screen=speaker.on_screen()).outcome in (
                    "queued",
                    "merged",
                ):
                    speaker.wake.set()
                speaker.last_chat_s = now
            _, n = audio_share(frame, fps)
            pulled = playout.pull(n)
            for seg in pulled.started:
                starts[id(seg)] = (now, seg)
                if report.first_kind is None:
                    report.first_kind = seg.kind
                if seg.reply_to and seg.reply_to in job_category:
                    cat = job_category.pop(seg.reply_to)
                    arrival = job_arrival.pop(seg.reply_to, now)
                    report.reply_latency_s.setdefault(cat, []).append(now - arrival)
                    report.replies.append((cat, arrival, now))
            for heard in pulled.finished:
                begun = _pop_start(starts, heard)
                start_s, began = begun if begun is not None else (now, None)
                report.transcript.append(_heard(heard, start_s, now, began))
                if heard.interrupted:
                    speaker.forget_unheard(heard.sentence, heard.text, section=heard.section)
            clock.advance(1 / fps)
            if on_frame is not None:
                on_frame(clock.now(), director, speaker)
            for _ in range(4):
                await asyncio.sleep(0)
            if task.done():
                task.result()
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return report


def _pop_start(
    starts: dict[int, tuple[float, SpeechSegment]], heard: HeardSpeech
) -> tuple[float, SpeechSegment] | None:
    for key, (t, seg) in list(starts.items()):
        if seg.segment_id == heard.segment_id and (seg.text == heard.sentence):
            del starts[key]
            return t, seg
    return None


def _heard(heard: HeardSpeech, start_s: float, end_s: float, seg: SpeechSegment | None) -> Heard:
    resumed = seg is not None and seg.resumes is not None
    return Heard(
        start_s=start_s,
        end_s=end_s,
        kind=heard.kind,
        text=heard.text,
        sentence=(seg.resumes if seg is not None and seg.resumes else heard.sentence),
        interrupted=heard.interrupted,
        product_id=heard.product_id,
        resumed=resumed,
    )


__all__ = ["Heard", "InlineExecutor", "ScriptedVoice", "VirtualShowReport", "run_virtual_show"]
