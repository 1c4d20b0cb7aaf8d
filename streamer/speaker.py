"""The speaker: decides what the host says next and feeds the voice just ahead of playback.

Chat replies come first: a picked comment is answered through the brain and the guards, its first sentence is
voiced at once (on its own voice thread, so patter synthesis never delays it) and cuts into the patter at the next
word boundary (:meth:`SpeechPlayout.replace_at_boundary`, the one interruption path). After the answer the host
says the rest of the cut sentence (from the cut, not from the top), then the interrupted section goes on.
Thank-yous and replies to greetings never cut: they are said when the sentence on air ends. The opening greeting
is the first thing said. Quiet chat means patter; a long quiet spell brings an invitation to ask.

The spoken disclosure ("Just so you know, I'm an AI host...", kind ``disclosure``) follows the opening greeting,
then comes every ``disclosure.spoken_every_min`` of show time (:class:`~streamer.director.DisclosureSchedule`): at
the next sentence boundary (never cutting patter), after answers already queued (unless it is more than
:data:`~streamer.director.DISCLOSURE_MAX_LATE_S` late), before the next patter sentence. Nothing cuts it or drops it
(:data:`~streamer.playout.NEVER_CUT_KINDS`), paused patter included.
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import concurrent.futures
import contextlib
import functools
import logging
import random
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from streamer.brain.base import Beat, BrainRequest, Turn
from streamer.brain.factory import BrainKit
from streamer.brain.intents import classify, is_small_talk
from streamer.brain.sentences import split_lead
from streamer.brain.templates import normalise
from streamer.chat.triage import Pick
from streamer.clock import Clock
from streamer.config import Persona, ProductSheet
from streamer.director import DISCLOSURE_MAX_LATE_S, DisclosureSchedule, ShowDirector
from streamer.frames import SpeechSegment
from streamer.lang import tables as language_tables
from streamer.playout import ADDRESSED_KINDS, SpeechPlayout
from streamer.voice.base import VoiceBackend, VoiceError, VoicePreempted, VoiceSpeed
from streamer.voice.cache import SpeechCache

log = logging.getLogger(__name__)

#: Generate just ahead: ask for the next patter sentence only when less than this much speech is queued. The floor
#: of :func:`speech_low_water_s`: what a voice as fast as Piper's gets, and any voice before its speed is measured.
SPEECH_LOW_WATER_S = 1.5
#: The most speech voiced ahead for a slow voice: below the playout's 20 s bound, and an answer that cuts in makes
#: queued patter wait or go (more queued is more work lost).
SPEECH_LOW_WATER_MAX_S = 12.0
#: A patter sentence's length, for the time a voice takes to voice the next one (patter sentences run 3-6 s).
TYPICAL_SENTENCE_S = 5.0
#: Slack on top of that time: writing the sentence, the executor, the media thread's lead.
LOW_WATER_MARGIN_S = 0.5
#: Patter sections that invite rather than inform ("Tap the card to order", "Ask me in the chat"): a cut one of
#: which a word was heard counts as said. It owes no fact, and said again from the top soon after, it is a loop;
#: the section has other phrasings for next time.
INVITATION_SECTIONS: frozenset[str] = frozenset({"call_to_action"})
#: The first sentence of an answer (the viewer's name and the fact) that a later comment may not cut.
ESSENTIAL_REPLY_SENTENCES = 1
#: Silence between the cut and the answer: long enough to sound like a turn, short enough to feel immediate.
REPLY_PAUSE_S = 0.08
#: Operator lines and approved answers waiting to be spoken (the operator is told when this is full).
READY_MAX = 10
#: Speech said to someone (a viewer or on the operator's behalf): patter controls never cut it.
#: Speech the host says on its own: what pause, skip and pin make stale.
PATTER_KINDS = ("patter", "transition", "greeting", "invite")

#: Speech a viewer or the operator is waiting for (the addressed kinds): voiced ahead of patter (a patter sentence
#: being voiced is stopped and voiced again after it, where the voice can).
URGENT_KINDS = ADDRESSED_KINDS
#: How long after a cut the rest of the cut sentence is still worth saying (show seconds): about one answer of
#: two or three sentences. After several answers in a row a listener has lost the thread, and a half sentence
#: ("... want to know, just ask in the chat.") sounds like a glitch; its unheard part is forgotten instead, so the
#: fact may come back whole later.
RESUME_WITHIN_S = 12.0
#: Replies wait this long at most for the opening greeting to be voiced and queued.
OPENING_WAIT_S = 8.0
#: A disclosure the voice could not say is tried again this much later (not at every turn of the loop).
DISCLOSURE_RETRY_S = 2.0


def speech_low_water_s(rtf: float | None, first_audio_s: float | None) -> float:
    """How much queued speech the speaker waits for before voicing the next patter sentence, for a voice measured at
    real-time factor ``rtf`` with its first audio ``first_audio_s`` after a synthesis starts (None: not measured).

    Enough to voice a typical sentence, or to wait for a first audio, before the queue runs dry, plus a margin:
    ``max(rtf * TYPICAL_SENTENCE_S, first_audio_s) + LOW_WATER_MARGIN_S``, never below :data:`SPEECH_LOW_WATER_S`
    (Piper, at RTF 0.1-0.2, gets exactly that) nor above :data:`SPEECH_LOW_WATER_MAX_S` (RTF 2.0: 10.5 s). A voice
    slower than real time cannot keep up at any mark; a higher one fills the queue in the quiet moments (pauses,
    the start), so the first gap comes later.
    """
    need = max((rtf or 0.0) * TYPICAL_SENTENCE_S, first_audio_s or 0.0) + LOW_WATER_MARGIN_S
    return min(max(SPEECH_LOW_WATER_S, need), SPEECH_LOW_WATER_MAX_S)


def is_social(job: ReplyJob) -> bool:
    """A thank-you, or a reply to a comment that only greets, thanks or chats ("love it!"): no product question.
    Social replies never cut the sentence on air (they follow it) and never hold up an answer to a question."""
    if job.kind == "thanks" or (job.kind == "purchase" and not job.text):
        return True
    return job.kind == "question" and bool(job.text) and is_small_talk(job.text)


@dataclass(slots=True)
class ReplyJob:
    """A comment (or merged thank-you) chosen to be answered, with what is needed to say it."""

    reply_id: str
    kind: str  # question | purchase | thanks | deflect | operator
    viewer: str
    text: str
    arrived_s: float
    sentences: list[str] = field(default_factory=list)
    source: str | None = None
    first_audio_s: float | None = None
    """When the first sample of the answer left in the published output (show clock)."""
    message_ids: tuple[str, ...] = ()
    """The chat messages this answers (for the dashboard)."""
    picked_s: float | None = None
    language: str | None = None
    """The persona's other language (a key of ``voices``) this comment is answered in; None: its own."""
    """When triage handed it to the speaker (show clock): arrival -> picked is time spent waiting in triage."""
    started_s: float | None = None
    """When the speaker took it up: picked -> started is the wait for the answer before it to be written."""
    written_s: float | None = None
    """When its first sentence came from the brain: started -> written is the brain."""
    voiced_s: float | None = None
    """When its first sentence was voiced: written -> voiced is the synthesis."""
    behind: str | None = None
    """The kind of sentence on air when the first sentence was ready (what it waited for, if anything)."""


def reply_job(
    pick: Pick,
    *,
    reply_id: str,
    now_s: float,
    persona: Persona,
    rng: random.Random,
    recent: collections.abc.Container[str] = (),
    speakable: collections.abc.Container[str] = (),
) -> ReplyJob:
    """The job for a triage pick: thank-yous and deflections come already written (never the viewer's words);
    questions are written by the brain when they are answered. A comment written in another language of the
    persona's (``voices``) whose voice is loaded (``speakable``) is answered in it."""
    job = ReplyJob(
        reply_id=reply_id,
        kind=pick.kind,
        viewer=spoken_name(pick.user),
        text=pick.text,
        arrived_s=min(m.received_s for m in pick.messages) if pick.messages else now_s,
        source=pick.messages[0].source if pick.messages else None,
        message_ids=tuple(m.message_id for m in pick.messages if m.message_id),
        picked_s=now_s,
    )
    language = persona.reply_language(pick.text) if pick.text else None
    if language in speakable and pick.kind != "deflect":
        job.language = language
        persona = persona.for_language(language)
    if pick.kind == "thanks" or (pick.kind == "purchase" and not pick.text):
        job.sentences = thanks_sentences(
            persona, [spoken_name(u) for u in pick.users], rng, recent, occasion=thanks_occasion(pick)
        )
    elif pick.kind == "deflect":
        job.sentences = [pick.text]  # a fixed safe line from triage, never the viewer's words
    return job


@dataclass(slots=True)
class SpeakerStats:
    sentences_voiced: int = 0
    voice_errors: int = 0
    preempted: int = 0
    replies: int = 0
    invitations: int = 0
    operator_lines: int = 0
    disclosures: int = 0
    cache_hits: int = 0
    """Sentences said again from the speech cache, not synthesised."""


def spoken_name(user: str) -> str:
    """How the host says a viewer's (already sanitised) name: letters and spaces only, so "mia_88" is "mia"
    (digits would read as a number claim); "friend" when nothing speakable is left."""
    words = re.findall(r"[^\W\d_]+", user)
    name = " ".join(words)[:24].strip()
    return name or "friend"


def thanks_occasion(pick: Pick) -> str:
    """What a thank-you pick thanks for: ``purchase`` (orders), ``welcome`` (greetings and joins only), or
    ``thanks`` (gifts or likes among them)."""
    if pick.kind == "purchase":
        return "purchase"
    kinds = {k for k, n in pick.counts.items() if n}
    return "welcome" if kinds and kinds <= {"greeting", "join"} else "thanks"


def thanks_sentences(
    persona: Persona,
    viewers: list[str],
    rng: random.Random,
    recent: collections.abc.Container[str] = (),
    *,
    occasion: str = "thanks",
) -> list[str]:
    """One merged thank-you for gifts, greetings and joins (``occasion``: see :func:`thanks_occasion`), in the
    persona's language (:mod:`streamer.lang`); phrasings said recently (``recent``: normalised sentences) are
    avoided, so a busy chat does not hear "Welcome to the stream!" again and again. An order is thanked as an
    order, a greeting is welcomed, a gift is thanked."""
    words = language_tables(persona.language)
    names = list(dict.fromkeys(v for v in viewers if v and v != "friend"))[:4]
    if not names:
        who = words.everyone
    elif len(names) == 1:
        who = names[0]
    else:
        who = words.name_sep.join(names[:-1]) + words.name_and + names[-1]
    table = {"purchase": words.thanks_purchase, "welcome": words.welcome}.get(occasion) or words.thanks
    options = [t.format(who=who) for t in table]
    fresh = [o for o in options if normalise(o) not in recent] or options
    # One short sentence: a busy chat is thanked often, and every second of thanks is a second of no selling.
    return [rng.choice(fresh)]


class Speaker:
    def __init__(
        self,
        *,
        persona: Persona,
        director: ShowDirector,
        brain: BrainKit,
        voice: VoiceBackend,
        playout: SpeechPlayout,
        clock: Clock,
        voice_pool: concurrent.futures.Executor,
        reply_pool: concurrent.futures.Executor,
        rng: random.Random,
        next_reply: Callable[[], Awaitable[ReplyJob | None]] | None = None,
        question_waiting: Callable[[], bool] | None = None,
        quiet_invite_s: float = 90.0,
        platform_disclosure_every_min: float | None = None,
    ) -> None:
        self.persona = persona
        self.director = director
        self.brain = brain
        self.voice = voice
        self.voices: dict[str, VoiceBackend] = {}
        """The persona's voices for its other languages (``persona.voices``), once loaded: answers in those
        languages are voiced by them."""
        self.playout = playout
        self.clock = clock
        self._voice_pool = voice_pool
        self._reply_pool = reply_pool
        self.lipsync: Any = None
        """The neural lip-sync stage, when the persona has one: each voiced sentence is submitted to it."""
        self.rng = rng
        self._next_reply = next_reply
        self._question_waiting = question_waiting or (lambda: False)
        """Whether a viewer's question waits to be answered: the answer on air keeps to its first sentence."""
        self.quiet_invite_s = quiet_invite_s
        self._low_water_floor_s = SPEECH_LOW_WATER_S
        """Raised for a while at start-up, so speech is queued while a model loads and synthesis must wait."""
        self.wake = asyncio.Event()
        """Set when a comment is waiting: the speaker stops waiting for room and answers."""
        self.memory: collections.deque[Turn] = collections.deque(maxlen=6)
        self.stats = SpeakerStats()
        self.speech_cache = SpeechCache()
        """Sentences already voiced (a repeated line is not synthesised again; see :mod:`streamer.voice.cache`)."""
        self.last_chat_s: float | None = None
        self._last_invite_s: float | None = None
        self._beat: Beat | None = None
        self._beat_stream: AsyncIterator[str] | None = None
        self._segment_ids = 0
        self._fresh_facts: dict[str, ProductSheet] | None = None
        self._ready: collections.deque[ReplyJob] = collections.deque()
        self.patter_paused = False
        self._patter_gen = 0
        """Bumped when queued patter becomes stale (skip, pin, pause, new persona): a sentence written for an older
        generation is not pushed, and the beat is reopened from the director."""
        self._beat_gen = 0
        self._resume_beat: Beat | None = None
        """The section a pause interrupted: resume says it again (sentences already said are skipped)."""
        self._opened = False
        """The opening greeting is voiced and queued (replies wait for it, up to :data:`OPENING_WAIT_S`)."""
        self._started_s: float | None = None
        self.stale_dropped = 0
        """Voiced sentences dropped because the sheet changed under them before they were heard."""
        self._facts_version = 0
        self._replying = False
        """An answer is being written and voiced: patter voiced meanwhile waits (it must not come between the
        answer's sentences)."""
        self._beat_said: list[str] = []
        """Sentences said in the current beat (normalised), so a beat resumed after a reply skips those ideas."""
        self.disclosures = DisclosureSchedule()
        self.platform_disclosure_every_min = platform_disclosure_every_min
        """The shortest spoken-disclosure cadence the outputs' platforms ask for
        (:func:`streamer.publish.platforms.spoken_disclosure_every_min`; None: none asks): the host discloses at
        least that often, whatever the persona says. May be changed while the show runs (outputs added)."""
        self._greeting_out = False
        """The current greeting beat's sentence is queued (the disclosure goes after it)."""
        self._disclosure_held_s: float | None = None
        """When a due disclosure began waiting for a greeting (it waits :data:`OPENING_WAIT_S` at most)."""
        self._disclosure_retry_s: float | None = None
        """After the voice failed to say a disclosure: not tried again before this show time."""

    def on_screen(self) -> ProductSheet | None:
        """The product viewers see now: the card follows the sentence on air (:attr:`SpeechPlayout.showing`), which
        can still be about the last product while the director already looks ahead to the next one's transition.
        A viewer's "is it waterproof?" is about this one. The director's product before anything was said."""
        pid = self.playout.showing
        return (self.director.get(pid) if pid else None) or self.director.current_product

    def voice_for(self, language: str | None) -> VoiceBackend:
        """The voice that speaks ``language`` (one of the persona's others, loaded); the persona's own otherwise."""
        return self.voices.get(language, self.voice) if language else self.voice

    # ---- how far ahead ----------------------------------------------------------------------------------

    @property
    def normal_low_water_s(self) -> float:
        """The voice's own mark, from its measured speed (:func:`speech_low_water_s`); the floor for a voice that
        does not measure itself."""
        speed = getattr(self.voice, "speed", None)
        if not isinstance(speed, VoiceSpeed):
            return SPEECH_LOW_WATER_S
        return speech_low_water_s(speed.rtf, speed.first_audio_s)

    @property
    def low_water_s(self) -> float:
        """Patter is voiced while less speech than this is queued: :attr:`normal_low_water_s`, or more while it is
        raised (setting it raises the mark to at least that much; :meth:`restore_low_water` ends the raise)."""
        return max(self._low_water_floor_s, self.normal_low_water_s)

    @low_water_s.setter
    def low_water_s(self, value: float) -> None:
        self._low_water_floor_s = value

    def restore_low_water(self) -> None:
        """End a raise of :attr:`low_water_s`: the mark follows the voice's speed again."""
        self._low_water_floor_s = SPEECH_LOW_WATER_S

    # ---- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        self.last_chat_s = self.clock.now()
        self._last_invite_s = self.clock.now()
        self._started_s = self.clock.now()
        pending: asyncio.Task[None] | None = None
        try:
            while True:
                await self._disclose_if_due()
                job = self._take_ready()
                if job is None and self._next_reply is not None and self._may_reply() and self._opening_done():
                    job = await self._next_reply()
                if job is not None:
                    await self._reply(job, pending)
                    continue
                if pending is None and self._fresh_facts is not None:
                    await self._apply_fresh_facts()
                if pending is None and self._beat_gen != self._patter_gen:
                    await self._close_beat()
                    self._beat = None  # an answer must not reopen a section the operator moved away from
                    self._beat_gen = self._patter_gen
                    if self._resume_beat is not None and not self.patter_paused:
                        self._open_beat(self._resume_beat, resume=True)
                        self._resume_beat = None
                if pending is None and not self.patter_paused and self.playout.buffered_s() <= self.low_water_s:
                    # Patter is written and voiced in a task so that a comment arriving meanwhile is answered
                    # without waiting for that sentence's synthesis.
                    pending = asyncio.create_task(self._patter_step(), name="speaker:patter-step")
                if pending is not None:
                    self.wake.clear()
                    waker = asyncio.ensure_future(self.wake.wait())
                    try:
                        await asyncio.wait({pending, waker}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        waker.cancel()
                    if pending.done():
                        done, pending = pending, None
                        done.result()  # a failure here is a bug: let the task owner see it
                else:
                    await self._nap(0.05)
        finally:
            if pending is not None:
                pending.cancel()
                # The step may be inside the beat's generator: closing that generator before the step has
                # finished would fail with "aclose(): asynchronous generator is already running".
                await asyncio.wait({pending})
            await self._close_beat()

    def _opening_done(self) -> bool:
        """The host greets before it answers anyone (a reply to "hiii" must not come before "Hi everyone")."""
        if self._opened:
            return True
        if self._started_s is not None and self.clock.now() - self._started_s >= OPENING_WAIT_S:
            self._opened = True
        return self._opened

    # ---- disclosure ---------------------------------------------------------------------------------------

    def _greeting_first(self) -> bool:
        """A greeting is about to be said (the opening one, or a new persona's): a due disclosure waits for it,
        :data:`OPENING_WAIT_S` at most (paused patter never greets)."""
        greeting = self.director.greeting_pending or (
            self._beat is not None and self._beat.kind == "greeting" and not self._greeting_out
        )
        if not greeting or self.patter_paused:
            self._disclosure_held_s = None
            return False
        now = self.clock.now()
        if self._disclosure_held_s is None:
            self._disclosure_held_s = now
        return now - self._disclosure_held_s < OPENING_WAIT_S

    async def _disclose_if_due(self) -> None:
        """Say that the host is an AI when it is due (see :class:`~streamer.director.DisclosureSchedule`)."""
        if self.playout.busy_with("disclosure"):
            return
        if self._disclosure_retry_s is not None and self.clock.now() < self._disclosure_retry_s:
            return
        since = self.playout.since_started_s("disclosure")
        late = self.disclosures.lateness_s(
            self.persona,
            since_last_s=since,
            wait_s=self.playout.wait_for_disclosure_s(),
            platform_every_min=self.platform_disclosure_every_min,
        )
        if late is None or not self._opening_done() or self._greeting_first():
            return
        line = self.disclosures.next_line(self.persona)
        segment = await self._voice(line, kind="disclosure", product_id=None, pool=self._reply_pool)
        if segment is None:  # the voice failed (counted in voice_errors): tried again a little later
            self._disclosure_retry_s = self.clock.now() + DISCLOSURE_RETRY_S
            return
        self._disclosure_retry_s = None
        first = late > DISCLOSURE_MAX_LATE_S
        self.playout.insert_disclosure(segment, first=first)
        self.disclosures.placed_line(self.persona)
        self.stats.disclosures += 1
        log.info("disclosure%s: %s", f" ({late:.0f} s late: before queued answers)" if first else "", line)

    def _may_reply(self) -> bool:
        # Answers are written one at a time (by this loop), and the next one is written while the last one's first
        # sentence is still being said: it follows that sentence without cutting it (SpeechPlayout.answer_next), so
        # a viewer waits for one sentence, not for a whole answer plus synthesis. Operator speech is never cut by a
        # viewer's answer; a thank-you on air is followed only by a question (socials do not pile up).
        if self.playout.busy_with("operator"):
            return False
        return not self.playout.busy_with("social") or self._question_waiting()

    # ---- operator -----------------------------------------------------------------------------------------

    def say_next(self, job: ReplyJob) -> bool:
        """Queue prepared speech (``job.sentences``): operator lines first, then approved answers. It cuts in at
        the next word boundary (an operator line even into an answer). False when :data:`READY_MAX` are waiting."""
        if len(self._ready) >= READY_MAX:
            return False
        if job.kind == "operator":
            # Operator lines keep their order among themselves but go before answers waiting for their turn.
            i = sum(1 for j in self._ready if j.kind == "operator")
            self._ready.insert(i, job)
        else:
            self._ready.append(job)
        self.wake.set()
        return True

    def _take_ready(self) -> ReplyJob | None:
        if not self._ready:
            return None
        job = self._ready[0]
        if job.kind == "operator":
            if self.playout.busy_with("operator"):
                return None
        elif not self._may_reply():
            return None
        return self._ready.popleft()

    def ready_count(self) -> int:
        return len(self._ready)

    def set_patter_paused(self, paused: bool) -> None:
        """Pause: the patter sentence on air stops at its next word boundary and no more patter is written until
        resumed (answers and operator lines are still spoken). Resume reopens the section that was paused."""
        if paused == self.patter_paused:
            return
        self.patter_paused = paused
        if paused:
            beat = self._beat
            self._resume_beat = beat if beat is not None and beat.kind == "section" else None
            self.restart_patter()
        else:
            self._patter_gen += 1  # the loop reopens the paused section
        self.wake.set()

    def restart_patter(self) -> None:
        """Patter written so far is stale (the operator skipped, pinned or paused): cut what is on air at its next
        word boundary, unless it is addressed to someone, and write the next sentence from the director's state."""
        self._patter_gen += 1
        if not any(self.playout.busy_with(k) for k in ADDRESSED_KINDS):
            self.playout.replace_at_boundary([], pause_s=0.0)
        else:
            # Patter queued behind an answer (or waiting to follow it) is stale too; the answer plays on.
            self.playout.drop_queued(kinds=PATTER_KINDS)
        self.wake.set()

    def write_reply(self, job: ReplyJob) -> AsyncIterator[str]:
        """The guarded answer to ``job`` as the brain writes it (for approve-before-speak)."""
        return self._reply_sentences(job)

    async def _nap(self, seconds: float) -> None:
        """Sleep, but wake at once when a comment arrives."""
        self.wake.clear()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    # ---- patter -----------------------------------------------------------------------------------------

    async def _patter_step(self) -> None:
        gen = self._patter_gen
        version = self._facts_version
        if self._beat_stream is None:
            beat = self._invite_beat() or self.director.next_beat(self.clock.now())
            if beat is None:
                await self._nap(0.5)
                return
            self._open_beat(beat)
        assert self._beat_stream is not None and self._beat is not None
        if self._beat.kind == "section" and self.director.time_up(self.clock.now()):
            await self._close_beat()  # on air long enough: the next beat is the transition to the next product
            return
        try:
            sentence = await anext(self._beat_stream)
        except StopAsyncIteration:
            if self._beat is not None and self._beat.kind == "greeting":
                self._opened = True
            await self._close_beat()
            return
        facts = self._beat.kind == "section"
        if gen != self._patter_gen or not self.director.accept(sentence, self.clock.now(), facts=facts):
            return
        self._beat_said.append(normalise(sentence))
        beat = self._beat
        product_id = beat.product.id if beat.product else None
        if beat.kind == "transition" and beat.next_product is not None:
            product_id = beat.next_product.id
        kind = "patter" if beat.kind == "section" else beat.kind
        segment = await self._voice(
            sentence, kind=kind, product_id=product_id, pool=self._voice_pool, section=beat.section
        )
        if segment is None:
            return
        while self._replying and gen == self._patter_gen:
            await self._nap(0.05)  # the answer's sentences go first; this one follows them
        if version != self._facts_version and self._is_stale(sentence, product_id):
            # The sheet changed while this was voiced (a new price): never said, the beat is rewritten.
            self.stale_dropped += 1
            self.forget_unheard(sentence)
            return
        while gen == self._patter_gen and not self.playout.push(segment):
            await self._nap(0.1)
        if gen != self._patter_gen:  # went stale while it was voiced: never heard, so it may be said later
            self.forget_unheard(sentence)
            return
        if beat.kind == "greeting":
            self._opened = True
            self._greeting_out = True
        self.memory.append(Turn(role="host", text=sentence))

    def _open_beat(self, beat: Beat, *, resume: bool = False) -> None:
        """Start a beat; ``resume``: the same beat again after an interruption (what it said is not said again,
        in any phrasing)."""
        if not resume:
            self._beat_said = []
        if beat.kind == "greeting":
            self._greeting_out = False
        self._beat = beat
        request = BrainRequest(
            beat_said=tuple(self._beat_said),
            persona=self.persona,
            beat=beat,
            products=self.director.products,
            memory=tuple(self.memory),
            recent=self.director.recent_keys(),
            rng=self.rng,
        )
        self._beat_stream = self.brain.stream(request)

    async def _close_beat(self) -> None:
        stream, self._beat_stream = self._beat_stream, None
        if stream is not None:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def _invite_beat(self) -> Beat | None:
        now = self.clock.now()
        if self.last_chat_s is None or self._last_invite_s is None:
            return None
        if now - max(self.last_chat_s, self._last_invite_s) < self.quiet_invite_s:
            return None
        self._last_invite_s = now
        self.stats.invitations += 1
        return Beat(kind="invite", product=self.on_screen())

    # ---- replies ----------------------------------------------------------------------------------------

    async def _reply(self, job: ReplyJob, patter_in_flight: asyncio.Task[None] | None = None) -> None:
        """Answer now: the first sentence cuts in at the next word boundary (a social reply waits for the sentence
        on air to end instead); after the answer the rest of the cut sentence, then the interrupted beat."""
        self._replying = True
        try:
            await self._reply_inner(job, patter_in_flight)
        finally:
            self._replying = False

    def _show_target(self, job: ReplyJob) -> ProductSheet | None:
        """The product a "show me the rocket" comment asks to see, when it is not the one on air."""
        if job.kind not in ("question", "purchase") or not job.text:
            return None
        on_air = self.on_screen()
        cls = classify(job.text, self.director.products, on_screen=on_air)
        if cls.primary not in ("show", "buy") or len(cls.subjects) != 1 or cls.product_intents:
            return None
        target = self.director.get(cls.subjects[0])
        return target if target is not None and (on_air is None or target.id != on_air.id) else None

    async def _reply_inner(self, job: ReplyJob, patter_in_flight: asyncio.Task[None] | None) -> None:
        first = True
        social = is_social(job)
        target = self._show_target(job)
        gen = self._patter_gen
        job.started_s = self.clock.now()
        old = self.playout.discard_cut_rest()  # an older cut's rest is not this reply's to resume
        if old is not None:
            self._forget_rest(old)
        cut_at_s = self.clock.now()
        sentences = self._reply_sentences(job)
        async for sentence in sentences:
            if job.written_s is None:
                job.written_s = self.clock.now()
            # The answer's first sentence must be heard; what follows ("reply_more") may be cut short by the next
            # viewer's comment, so one long answer does not keep everyone else waiting.
            if job.kind == "operator":
                kind = "operator"
            elif social:
                kind = "social"
            else:
                kind = "reply" if len(job.sentences) < ESSENTIAL_REPLY_SENTENCES else "reply_more"
            if kind == "reply_more" and self._question_waiting():
                # The next viewer's question goes before the rest of this answer (no synthesis spent on it).
                await sentences.aclose()
                break
            # The first sentence goes on air as soon as possible: a voice that streams hands it over once its
            # first half second is decoded (the rest is decoded while it is heard). Otherwise a long first sentence
            # is voiced in two parts at a clause ("Leo, it's 89 dollars today; | the regular price is 109
            # dollars."), never a bare name on its own: that is followed by a second of silence on a loaded machine.
            voice = self.voice_for(job.language)
            stream = first and kind in ("reply", "operator") and bool(getattr(voice, "streams", False))
            lead = split_lead(sentence) if first and kind == "reply" and not stream else None
            placed = False
            for part in lead or (sentence,):
                segment = await self._voice(
                    part,
                    kind=kind,
                    product_id=target.id if target is not None else None,  # the card switches with the answer
                    pool=self._reply_pool,
                    reply_to=job.reply_id,
                    stream=stream,
                    language=job.language,
                )
                if segment is None:
                    continue
                placed = True
                if first:
                    job.voiced_s = self.clock.now()
                    job.behind = self.playout.speaking_kind()
                    log.debug(
                        "reply %s: first sentence voiced %.3f s after the comment",
                        job.reply_id,
                        self.clock.now() - job.arrived_s,
                    )
                    if social:
                        # A thank-you never cuts: it follows the sentence on air (and the answers queued).
                        self.playout.insert_next([segment])
                    elif job.kind == "operator":
                        self.playout.replace_at_boundary(  # even into an answer
                            [segment], pause_s=REPLY_PAUSE_S, lead_s=self._render_lead_s()
                        )
                        cut_at_s = self.clock.now()
                    else:
                        lead_s = self._render_lead_s()
                        for dropped in self.playout.answer_next([segment], pause_s=REPLY_PAUSE_S, lead_s=lead_s):
                            self._forget_dropped(dropped)
                        cut_at_s = self.clock.now()
                    first = False
                else:
                    # Right after this answer's sentences, before any patter that was already queued.
                    while not self.playout.insert_next([segment], bounded=True, after_reply=job.reply_id):
                        await self._nap(0.1)
            if not placed:
                continue
            job.sentences.append(sentence)
            self.director.note_said(sentence, self.clock.now())
        self._replying = False  # all of the answer is queued: patter voiced meanwhile may follow it now
        if target is not None and not first:
            # The viewer asked to see another product: the show moves to it after the answer.
            self.director.switch_to(target.id)
            self._patter_gen += 1
            self.playout.drop_queued(kinds=PATTER_KINDS)
            log.info("showing %s, as %s asked", target.id, job.viewer)
        if not first:
            if job.kind == "operator":
                self.stats.operator_lines += 1
            else:
                self.stats.replies += 1
                self.memory.append(Turn(role="viewer", text=job.text, viewer=job.viewer))
            self.memory.append(Turn(role="host", text=" ".join(job.sentences)))
            if job.kind != "operator" and self._question_waiting():
                return  # the next answer follows this one at once; the section resumes after the last answer
            # Resume the section that was interrupted: the same beat, asked again (said sentences are skipped).
            if patter_in_flight is not None and not patter_in_flight.done():
                await asyncio.wait({patter_in_flight})
            await self._resume_cut(gen, cut_at_s)
            beat = self._beat
            await self._close_beat()
            if beat is not None and beat.kind == "section" and target is None:
                self._open_beat(beat, resume=True)

    def _render_lead_s(self) -> float:
        """How far ahead an answer's cut is planned so its first frames are rendered by the neural lip-sync stage
        (0 without one: the warp draws any frame at once)."""
        stage = self.lipsync
        return float(stage.lead_s) if stage is not None and stage.disabled is None else 0.0

    async def _resume_cut(self, gen: int, cut_at_s: float) -> None:
        """Say the rest of the patter sentence the reply cut into, from the cut. Not when the operator moved the
        show on meanwhile, nor long after (then the sentence may simply be said again later)."""
        rest = self.playout.peek_cut_rest()
        stale = rest is not None and self._is_stale(rest.resumes or rest.text, rest.product_id)
        if gen != self._patter_gen or self.clock.now() - cut_at_s > RESUME_WITHIN_S or stale:
            dropped = self.playout.discard_cut_rest()
            if dropped is not None:
                self.stale_dropped += int(stale)
                self._forget_rest(dropped)
            return
        self.playout.release_cut_rest()

    def _is_stale(self, text: str, product_id: str | None) -> bool:
        """Whether a sentence written earlier states something the current sheets no longer say (a price that
        changed, a promo that ended): checked again just before it goes to air."""
        products = self.director.products
        if product_id is None:  # an answer: any product's facts may be in it
            return self.brain.guard.fact_problem(text, product=None, products=products, about=products) is not None
        product = self.director.get(product_id)
        if product is None:
            return False  # a product that left the catalog: nothing to check against
        return self.brain.guard.fact_problem(text, product=product, products=products) is not None

    async def _reply_sentences(self, job: ReplyJob) -> AsyncGenerator[str, None]:
        if job.sentences:  # already written (thanks, deflections)
            prepared, job.sentences = job.sentences, []
            for s in prepared:
                yield s
            return
        request = BrainRequest(
            persona=self.persona.for_language(job.language),
            question=job.text,
            viewer=job.viewer,
            product=self.on_screen(),
            products=self.director.products,
            memory=tuple(self.memory),
            recent=self.director.recent_keys(),
            rng=self.rng,
        )
        async with contextlib.aclosing(self.brain.stream(request)) as stream:  # an LLM request ends with the reply
            async for sentence in stream:
                yield sentence

    def facts_changed(self, products: list[ProductSheet]) -> None:
        """The catalog changed (a price, a promo...): voiced speech that states something the new sheets no longer
        say is dropped (the sentence on air is cut at its next word boundary if it does), and the current beat is
        rewritten from the new facts (by the loop, between two sentences)."""
        if self._beat is None or self._beat.product is None:
            self._facts_version += 1
            self.playout.drop_where(lambda seg: self._is_stale(seg.resumes or seg.text, seg.product_id))
            return
        self._facts_version += 1
        dropped, cut = self.playout.drop_where(lambda seg: self._is_stale(seg.resumes or seg.text, seg.product_id))
        if dropped or cut:
            self.stale_dropped += dropped + int(cut)
            log.info("sheet change: %d queued sentence(s) dropped%s", dropped, ", the one on air cut" if cut else "")
        fresh = {p.id: p for p in products}
        old = self._beat.product
        if fresh.get(old.id) == old:
            return
        log.info("facts of %s changed: rewriting the section from the new sheet", old.id)
        self._fresh_facts = fresh

    async def _apply_fresh_facts(self) -> None:
        fresh, self._fresh_facts = self._fresh_facts, None
        beat = self._beat
        if fresh is None or beat is None or beat.product is None:
            return
        await self._close_beat()
        new = fresh.get(beat.product.id)
        if new is not None:
            nxt = fresh.get(beat.next_product.id) if beat.next_product is not None else None
            self._open_beat(Beat(kind=beat.kind, product=new, section=beat.section, next_product=nxt), resume=True)

    def _forget_rest(self, rest: SpeechSegment) -> None:
        """The rest of a cut sentence will not be said: the sentence may be said again, but the facts in the part
        that was heard stay said."""
        self._forget_part(rest.resumes or rest.text, rest.heard, rest.section)

    def _forget_dropped(self, seg: SpeechSegment) -> None:
        """Queued speech an answer dropped before it was heard: patter may say it again."""
        if seg.mouths is not None:
            seg.mouths.dropped = True  # the lip-sync stage need not render it
        if seg.resumes:
            self._forget_rest(seg)
        elif seg.kind in PATTER_KINDS:
            self.director.forget(seg.text)

    def forget_unheard(self, text: str, heard: str = "", *, section: str | None = None) -> None:
        """A sentence was cut before it was heard in full: let the director allow it again (unless its rest is
        waiting to be said after the reply). ``heard``: the words of the cut segment that were heard (of a resumed
        rest: of the rest); the facts in the sentence up to them stay said. ``section``: the patter section it
        belonged to (see :data:`INVITATION_SECTIONS`)."""
        if self.playout.resuming(text):
            return
        heard = heard.strip()
        at = (0 if text.startswith(heard) else text.rfind(heard)) if heard else -1
        said = text[: at + len(heard)] if at >= 0 else ""
        self._forget_part(text, said, section)

    def _forget_part(self, sentence: str, heard: str, section: str | None = None) -> None:
        """``sentence`` was cut and will not be finished; ``heard`` is what viewers heard of it (from its start).
        Half of it or more heard counts as said (it is not said again within the window), as does any of an
        invitation (``section`` in :data:`INVITATION_SECTIONS`: "Type your questions in the chat, I'm —"); less
        is forgotten, but the facts in the part heard stay said."""
        if len(heard) * 2 >= len(sentence) or (heard.strip() and section in INVITATION_SECTIONS):
            return
        self.director.forget(sentence)
        if heard:
            self.director.note_said(heard, self.clock.now())

    # ---- voice ------------------------------------------------------------------------------------------

    async def _voice(
        self,
        sentence: str,
        *,
        kind: str,
        product_id: str | None,
        pool: concurrent.futures.Executor,
        reply_to: str | None = None,
        section: str | None = None,
        stream: bool = False,
        language: str | None = None,
    ) -> SpeechSegment | None:
        """``stream``: hand the sentence over before all of it is decoded, where the voice can (see
        :meth:`streamer.voice.piper.PiperVoiceBackend.synthesize_streaming`). ``language``: one of the persona's
        other languages (its voice says the sentence)."""
        loop = asyncio.get_running_loop()
        urgent = kind in URGENT_KINDS
        voice = self.voice_for(language)
        synthesize = voice.synthesize
        if stream:
            synthesize = getattr(voice, "synthesize_streaming", synthesize)
        voice_key = f"{getattr(voice, 'name', 'voice')}@{id(voice)}"  # a swapped voice never hits
        # A streamed sentence (an answer's first, where the voice streams) goes to the voice: it is heard while
        # still being decoded, and a streaming voice is fast.
        cached = None if stream and voice.streams else self.speech_cache.get(voice_key, sentence)
        retried = False
        while cached is None:
            try:
                speech = await loop.run_in_executor(pool, functools.partial(synthesize, sentence, urgent=urgent))
                break
            except VoicePreempted:
                # An answer took the engine half-way through this sentence: voice it again once the answer
                # is voiced (it is still wanted: patter waits for answers anyway).
                self.stats.preempted += 1
                while self._replying:
                    await self._nap(0.05)
            except VoiceError as exc:
                self.stats.voice_errors += 1
                log.warning("skipping a sentence the voice could not say: %s", exc)
                return None
            except Exception as exc:  # a crash inside the engine (onnxruntime, a model's bug): the show goes on
                self.stats.voice_errors += 1
                log.error(
                    "the voice failed with %s: %s; %s",
                    type(exc).__name__,
                    str(exc)[:200] or "-",
                    "skipping the sentence" if retried else "trying the sentence once more",
                    exc_info=self.stats.voice_errors == 1,  # the first one with its traceback, for the bug report
                )
                if retried:
                    return None
                retried = True  # a passing failure must not cost a viewer their answer
        if cached is not None:
            speech = cached
            self.stats.cache_hits += 1
        else:
            self.speech_cache.put(voice_key, sentence, speech, pinned=kind == "disclosure")
        if speech.samples == 0:
            return None
        self._segment_ids += 1
        self.stats.sentences_voiced += 1
        segment = SpeechSegment(
            segment_id=self._segment_ids,
            text=sentence,
            pcm=speech.pcm,
            visemes=speech.visemes,
            filling=speech.filling,
            kind=kind,
            product_id=product_id,
            section=section,
            reply_to=reply_to,
        )
        if self.lipsync is not None:
            self.lipsync.submit(segment)  # the neural mouths are made while the sentence waits to be heard
        return segment

    def summary(self) -> dict[str, Any]:
        return {
            "sentences_voiced": self.stats.sentences_voiced,
            "voice_errors": self.stats.voice_errors,
            "preempted": self.stats.preempted,
            "replies": self.stats.replies,
            "invitations": self.stats.invitations,
            "operator_lines": self.stats.operator_lines,
            "disclosures": self.stats.disclosures,
            "cache_hits": self.stats.cache_hits,
        }
