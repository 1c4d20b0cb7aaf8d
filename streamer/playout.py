"""Speech waiting to be heard, pulled one video frame's share at a time by the output clock.

The asyncio side pushes voiced sentences; the media thread pulls exactly ``n`` samples per frame and gets the
mouth pose for those same samples, so lips and sound cannot drift apart. When nothing is queued the pull returns
silence and a resting mouth: the stream never waits for the voice.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from streamer.frames import HeardSpeech, MouthPose, SpeechSegment, VisemeTrack
from streamer.voice.visemes import mouth_pose
from streamer.voice.zh import join_units, spoken_units


@dataclass(slots=True)
class Pulled:
    """One frame's audio and what the mouth does during it."""

    pcm: np.ndarray
    mouth: MouthPose
    speaking: SpeechSegment | None
    started: list[SpeechSegment] = field(default_factory=list)
    finished: list[HeardSpeech] = field(default_factory=list)


#: Fade-out at a cut (5 ms): no click.
FADE_SAMPLES = 240

#: Kinds of speech whose cut-off rest is kept, to be said after the reply (the host picks up where it stopped).
RESUMABLE_KINDS = frozenset({"patter", "transition", "invite"})


#: Speech said to someone (answers, thank-yous, operator lines): it goes before queued patter.
ADDRESSED_KINDS = frozenset({"reply", "reply_more", "social", "operator"})

#: Speech nothing cuts and nothing drops but a shutdown: the host saying it is an AI (a regulator's requirement,
#: heard whole every time). An interruption waits for its end; stale-speech and patter drops keep it.
NEVER_CUT_KINDS = frozenset({"disclosure"})

#: Speech already waiting that a following answer does not drop (see :meth:`SpeechPlayout.answer_next`).
_WAITING_KINDS = frozenset({"social", "greeting", "operator", *NEVER_CUT_KINDS})


#: Speech an answer does not cut: it follows the sentence on air (another answer's first sentence, a thank-you,
#: the opening greeting, an operator line, a disclosure), all short.
_NOT_CUT_BY_ANSWERS = frozenset({"reply", "social", "greeting", "operator", *NEVER_CUT_KINDS})

#: An answer's follow-up on air when the next viewer's answer is ready: finished when its end is this close, else cut
#: at its next clause or sentence end this close, else at its next word. Cut after its first word ("The"), it sounded
#: like a glitch in a demo; finished whatever its length, it held the next viewer up to 6.5 s (p90) in another; at
#: 3 s, a 3.6 s "The Saturn V Model Rocket Kit is 89 dollars today." was still cut after "Model" in a third.
FOLLOW_UP_FINISH_S = 4.0
_PAUSE_AFTER = (",", ";", ":", ".", "!", "?", "—", "–", "，", "；", "：", "。", "！", "？")

#: What a disclosure goes after when it is placed (see :meth:`SpeechPlayout.insert_disclosure`): the opening
#: greeting, answers and thank-yous already queued, operator lines, an earlier disclosure.
_BEFORE_DISCLOSURE = frozenset({"greeting", *ADDRESSED_KINDS, *NEVER_CUT_KINDS})


def _around_answer(
    waiting: list[SpeechSegment], answer: list[SpeechSegment], continuing: str | None = None
) -> list[SpeechSegment]:
    """``answer`` placed among what was waiting: greetings, operator lines and disclosures before it, thank-yous
    after it (a thank-you never holds up an answer); anything else (patter, another answer's follow-ups) is left
    out. ``continuing``: the ``reply_to`` of a social line on air; its next sentences stay before the answer ("Welcome
    in, Zoe!" [on air] "We're looking at the Cat Bed right now." goes on, not 20 s later)."""
    going_on = [s for s in waiting if s.kind == "social" and continuing is not None and s.reply_to == continuing]
    ahead = [s for s in waiting if s.kind in _WAITING_KINDS and s.kind != "social"]
    social = [s for s in waiting if s.kind == "social" and not any(s is g for g in going_on)]
    return [*going_on, *ahead, *answer, *social]


#: A sentence cut after fewer words than this is said again from its first word after the reply: "It's —
#: [answer] — It's made of faux fur." rather than the fragment "made of faux fur." (Chinese: characters / 2.)
WHOLE_AGAIN_BELOW_WORDS = 3

#: Past those first words, the rest is said from the start of the clause the cut fell in, when that repeats at most
#: this many words: "And one more — [answer] — And one more detail: non-slip waterproof base." rather than the
#: fragment "detail: non-slip waterproof base."; "It's soft, warm and — [answer] — warm and machine washable."
CLAUSE_AGAIN_MAX_WORDS = 6

#: Before that, the rest is said from the start of its sentence, when that repeats at most this many words: "No, it
#: ships rolled so it fits any standard — [answer] — No, it ships rolled so it fits any standard 50x70 frame." rather
#: than "50x70 frame." (heard in the demo, as were "decaf on a later stream." and "white or in 16 colours.").
SENTENCE_AGAIN_MAX_WORDS = 12

#: A rest this short that could not be taken back to its sentence's or clause's start is not said at all: two or
#: three words on their own after an answer make no sense to a listener; the fact may come back whole later.
FRAGMENT_MAX_WORDS = 3

_CLAUSE_END = (",", ";", ":", "—", "–")
_SENTENCE_END = (".", "!", "?", "…")


def _sentence_start(words: list[str], heard: int) -> int:
    """Index of the first word of the sentence that word ``heard`` (the first one not heard) belongs to."""
    for i in range(heard - 1, -1, -1):
        if words[i].endswith(_SENTENCE_END):
            return i + 1
    return 0


def _clause_start(words: list[str], heard: int) -> int:
    """Index of the first word of the clause that word ``heard`` (the first one not heard) belongs to."""
    for i in range(heard - 1, -1, -1):
        if words[i].endswith(_CLAUSE_END) or words[i] in ("-", "—", "–"):
            return i + 1
    return 0


def rest_of(seg: SpeechSegment, start: int, heard_text: str) -> SpeechSegment | None:
    """The part of ``seg`` from sample ``start`` (a word boundary) on, as a segment of its own: same voice, same
    mouth keys shifted, the words not yet heard. None when fewer than two words (characters, for Chinese) are left:
    the sentence then counts as heard. A sentence cut within its first words (fewer than
    :data:`WHOLE_AGAIN_BELOW_WORDS`) is kept whole instead, to be said from its start."""
    passed = seg.visemes.boundaries[seg.visemes.boundaries <= start]
    start = int(passed[-1]) if passed.shape[0] else 0  # a cut at the deadline falls mid-word: redo that word
    if start >= seg.samples - FADE_SAMPLES:
        return None
    sentence = seg.resumes or seg.text
    text = seg.text[len(heard_text) :].strip() if seg.text.startswith(heard_text) else ""
    if len(spoken_units(text)) <= 1:
        return None  # nothing, or one last word: said on its own after the answer it makes no sense ("across.")
    heard_units = len(spoken_units(heard_text))
    if seg.resumes is None and heard_units < WHOLE_AGAIN_BELOW_WORDS * (2 if _is_cjk_text(seg.text) else 1):
        start, text = 0, seg.text
    elif seg.resumes is None and not _is_cjk_text(seg.text) and seg.text.startswith(heard_text):
        words = seg.text.split()
        heard = len(heard_text.split())
        bounds = seg.visemes.boundaries
        first = _sentence_start(words, heard)
        if not 0 < heard - first <= SENTENCE_AGAIN_MAX_WORDS:
            first = max(_clause_start(words, heard), first)
            if first == heard and heard > 0:
                # Cut right after a clause ended ("With an adult helping, | yes. On their own..."): the rest would
                # open on a fragment ("yes."); the clause just heard is said again with it.
                first = max(_clause_start(words, heard - 1), _sentence_start(words, heard))
            if not 0 < heard - first <= CLAUSE_AGAIN_MAX_WORDS:
                first = heard
        if first == heard and _sentence_start(words, heard) != heard and len(words) - heard <= FRAGMENT_MAX_WORDS:
            return None  # "50x70 frame." alone after an answer: left unsaid
        if first < heard and (first == 0 or first - 1 < bounds.shape[0]):
            start = 0 if first == 0 else int(bounds[first - 1])
            text = seg.text if first == 0 else " ".join(words[first:])
    vis = seg.visemes
    i = max(0, int(np.searchsorted(vis.starts, start, side="right")) - 1)
    starts = vis.starts[i:] - start
    starts[0] = 0
    bounds = vis.boundaries[vis.boundaries > start] - start
    track = VisemeTrack(starts=starts.astype(np.int64), visemes=vis.visemes[i:].copy(), boundaries=bounds)
    return SpeechSegment(
        segment_id=seg.segment_id,
        text=text,
        pcm=seg.pcm[start:],
        visemes=track,
        kind=seg.kind,
        product_id=seg.product_id,
        section=seg.section,
        resumes=sentence,
        heard=_heard_of(sentence, seg, heard_text),
    )


def _heard_of(sentence: str, seg: SpeechSegment, heard_text: str) -> str:
    """The words of ``sentence`` heard so far, from its start: up to ``heard_text`` in ``seg`` (which may be a rest
    of it), or what an earlier cut heard, whichever reaches further."""
    before = sentence[: len(sentence) - len(seg.text)] if sentence.endswith(seg.text) else ""
    now = (before + heard_text).strip()
    return now if len(now) > len(seg.heard) else seg.heard


def _is_cjk_text(text: str) -> bool:
    return " " not in text.strip() and any("\u3400" <= ch <= "\u9fff" for ch in text)


class SpeechPlayout:
    """Thread-safe queue of :class:`SpeechSegment` with a silent gap between sentences.

    Bounded by ``max_ahead_s`` of queued speech: :meth:`push` refuses more (the caller generates just ahead).
    """

    def __init__(self, *, rate_hz: int, gap_s: float = 0.25, max_ahead_s: float = 20.0) -> None:
        self._rate = rate_hz
        self._gap = round(gap_s * rate_hz)
        self._max_ahead = round(max_ahead_s * rate_hz)
        self._lock = threading.Lock()
        self._queue: collections.deque[SpeechSegment] = collections.deque()
        self._current: SpeechSegment | None = None
        self.showing: str | None = None
        """The product of the latest sentence heard that has one: the card on screen follows it (read from any
        thread; one str)."""
        self._pos = 0  # next sample of the current segment
        self._gap_left = 0
        self._queued_samples = 0
        self._clock_samples = 0  # samples pulled since the start (the media clock in audio units)
        # A reply waiting to take over at the next word boundary (see replace_at_boundary).
        self._replacement: list[SpeechSegment] | None = None
        self._replace_deadline = 0  # on the pulled-samples clock
        self._replace_pause = 0
        self._planned_cut: tuple[int, int] | None = None
        """(segment id, sample) where a waiting replacement cuts the sentence on air, planned when it arrived."""
        self._replace_not_before = 0
        """On the pulled-samples clock: a replacement waiting for the renderer starts no sooner than this."""
        self._cut_rest: SpeechSegment | None = None
        """The unheard rest of the last patter sentence a replacement cut (see :meth:`release_cut_rest`)."""
        self._rest_released = False
        self.resumed = 0
        self.cuts = 0
        self.underruns = 0
        """Frames in which a sentence still being decoded had no audio ready (see :class:`PcmFill`)."""
        self._started_at: dict[str, int] = {}
        """Kind -> the pulled-samples clock when the last segment of that kind started (see :meth:`since_started_s`)."""

    # ---- asyncio side -------------------------------------------------------------------------------------

    def set_gap(self, gap_s: float) -> None:
        """Silence between sentences from now on (a persona reload may change it)."""
        with self._lock:
            self._gap = round(gap_s * self._rate)

    def push(self, segment: SpeechSegment) -> bool:
        """Queue a sentence. Returns False (and queues nothing) when that would exceed ``max_ahead_s``.

        While a replacement is waiting for its word boundary, pushed sentences join the replacement.
        """
        with self._lock:
            if self._replacement is not None:
                self._replacement.append(segment)
                return True
            if self._queued_samples + segment.samples > self._max_ahead and (self._queue or self._current):
                return False
            self._queue.append(segment)
            self._queued_samples += segment.samples
            return True

    def insert_next(
        self, segments: list[SpeechSegment], *, bounded: bool = False, after_reply: str | None = None
    ) -> bool:
        """Play ``segments`` right after the sentence being said (never cutting it) and the answers (and a
        disclosure) queued behind it, before queued patter. For speech that must not interrupt (thank-yous,
        greetings of viewers) and an answer's later sentences. ``bounded``: refuse (False) while ``max_ahead_s``
        of speech is queued, like :meth:`push`; otherwise always taken (the caller sends a sentence or two).
        ``after_reply``: right after that answer's last queued sentence instead (the next part of an answer never
        has anything between)."""
        with self._lock:
            if bounded and self._queue and self._queued_samples >= self._max_ahead:
                return False
            target = self._replacement if self._replacement is not None else self._queue
            if after_reply is not None:
                last = max((i for i, s in enumerate(target) if s.reply_to == after_reply), default=-1)
            else:
                # A disclosure already placed keeps its place too (it went at the next sentence boundary).
                last = max(
                    (i for i, s in enumerate(target) if s.kind in ADDRESSED_KINDS or s.kind in NEVER_CUT_KINDS),
                    default=-1,
                )
            for offset, seg in enumerate(segments):
                target.insert(last + 1 + offset, seg)
                if target is self._queue:
                    self._queued_samples += seg.samples
            return True

    def insert_disclosure(self, segment: SpeechSegment, *, first: bool = False) -> None:
        """Play a disclosure (kind ``disclosure``) at the next sentence boundary: after the sentence being said (never
        cutting it), the opening greeting and the answers, thank-yous and operator lines already queued, before
        queued patter. ``first``: right after the sentence on air and a queued greeting, ahead of queued answers
        too (it is overdue). Always taken (one sentence). Once queued it is never dropped nor cut, except by
        :meth:`interrupt` and an unfiltered :meth:`drop_queued` (shutdown)."""
        with self._lock:
            target = self._replacement if self._replacement is not None else self._queue
            ahead = frozenset({"greeting"}) if first else _BEFORE_DISCLOSURE
            at = 1 + max((i for i, s in enumerate(target) if s.kind in ahead), default=-1)
            target.insert(at, segment)
            if target is self._queue:
                self._queued_samples += segment.samples

    def wait_for_disclosure_s(self, *, first: bool = False) -> float:
        """About how long until a segment placed now with :meth:`insert_disclosure` would start: the rest of the
        sentence on air and what would go before it, with the gaps between sentences."""
        with self._lock:
            if self._current is not None:
                wait = self._current.samples - self._pos + self._gap
            else:
                wait = self._gap_left
            target = self._replacement if self._replacement is not None else self._queue
            ahead = frozenset({"greeting"}) if first else _BEFORE_DISCLOSURE
            at = 1 + max((i for i, s in enumerate(target) if s.kind in ahead), default=-1)
            for seg in list(target)[:at]:
                wait += seg.samples + self._gap
            return wait / self._rate

    def since_started_s(self, kind: str) -> float | None:
        """Media seconds since the last segment of ``kind`` started to be heard (None: none has yet)."""
        with self._lock:
            at = self._started_at.get(kind)
            return None if at is None else (self._clock_samples - at) / self._rate

    def drop_where(self, stale: Callable[[SpeechSegment], bool]) -> tuple[int, bool]:
        """Forget queued sentences (and those waiting to cut in) for which ``stale`` is true; if the sentence being
        said is stale too, cut it at its next word boundary. Returns (how many were dropped, whether the current
        one will be cut). ``stale`` runs under the playout's lock: keep it quick and free of playout calls.
        Disclosures are never stale."""

        def drop(seg: SpeechSegment) -> bool:
            return seg.kind not in NEVER_CUT_KINDS and stale(seg)

        with self._lock:
            keep = [seg for seg in self._queue if not drop(seg)]
            n = len(self._queue) - len(keep)
            self._queue = collections.deque(keep)
            self._queued_samples = sum(seg.samples for seg in keep)
            if self._replacement is not None:
                kept = [seg for seg in self._replacement if not drop(seg)]
                n += len(self._replacement) - len(kept)
                self._replacement = kept
            if self._cut_rest is not None and drop(self._cut_rest):
                self._cut_rest = None
            cut = self._current is not None and self._replacement is None and drop(self._current)
            if cut:
                self._replacement = list(self._queue)
                self._queue.clear()
                self._queued_samples = 0
                self._plan_cut_locked(0.6, 0.0, 0.0)
            return n, cut

    def peek_cut_rest(self) -> SpeechSegment | None:
        with self._lock:
            return self._cut_rest

    def resuming(self, sentence: str) -> bool:
        """Whether the rest of ``sentence`` (cut by a reply) is waiting or queued to be said."""
        with self._lock:
            if self._cut_rest is not None and self._cut_rest.resumes == sentence:
                return True
            segs = [*self._queue, *(self._replacement or ()), *([self._current] if self._current else [])]
            return any(s.resumes == sentence for s in segs)

    def release_cut_rest(self) -> None:
        """The reply is all queued: the rest of the sentence it cut goes after it (now, or when the cut happens)."""
        with self._lock:
            if self._cut_rest is not None:
                self._place_rest_locked()
            else:
                self._rest_released = self._replacement is not None

    def discard_cut_rest(self) -> SpeechSegment | None:
        """Forget the rest of a cut sentence (the show moved on); returns it."""
        with self._lock:
            rest, self._cut_rest = self._cut_rest, None
            self._rest_released = False
            return rest

    def _place_rest_locked(self) -> None:
        rest, self._cut_rest = self._cut_rest, None
        self._rest_released = False
        if rest is None:
            return
        last = max((i for i, s in enumerate(self._queue) if s.kind in ADDRESSED_KINDS), default=-1)
        self._queue.insert(last + 1, rest)
        self._queued_samples += rest.samples
        self.resumed += 1

    def replace_at_boundary(
        self, segments: list[SpeechSegment], *, max_wait_s: float = 0.6, pause_s: float = 0.15, lead_s: float = 0.0
    ) -> None:
        """The one interruption path for speech: finish the current word (never cut mid-word), fade out, drop
        everything queued, pause ``pause_s``, then play ``segments`` (and whatever is pushed after them).

        The cut is planned now, not found when the audio gets there: the first word boundary at least ``lead_s``
        ahead (the time the neural renderer needs for the first frames of ``segments``), or ``max_wait_s`` after
        that if no boundary comes, with a fade. When nothing is being said the segments start after ``lead_s``
        (or the pause, if longer).

        A disclosure on air is never cut (``segments`` follow it); disclosures queued are kept, after ``segments``.
        """
        with self._lock:
            kept = [s for s in (*self._queue, *(self._replacement or ())) if s.kind in NEVER_CUT_KINDS]
            self._replacement = [*segments, *kept]
            self._plan_cut_locked(max_wait_s, pause_s, lead_s)

    def answer_next(
        self, segments: list[SpeechSegment], *, max_wait_s: float = 0.6, pause_s: float = 0.15, lead_s: float = 0.0
    ) -> list[SpeechSegment]:
        """An answer's first sentence. While another answer's first sentence (kind "reply") is being said, queued or
        waiting to cut in, or a sentence answers never cut (a thank-you, the greeting, an operator line) is being
        said, ``segments`` follow it and what was queued after it (the other answer's follow-ups, patter) is
        dropped, except greetings and operator lines already waiting (said first) and thank-yous (said after this
        answer: a thank-you never holds up an answer).
        Otherwise it cuts in like :meth:`replace_at_boundary`, keeping those waiting kinds the same way. Returns
        the dropped segments (never heard)."""
        with self._lock:
            target = self._replacement if self._replacement is not None else self._queue
            items = list(target)
            last = max((i for i, s in enumerate(items) if s.kind == "reply"), default=-1)
            if last < 0 and (self._current is None or self._current.kind not in _NOT_CUT_BY_ANSWERS):
                queued = [*self._queue, *(self._replacement or ())]
                self._replacement = _around_answer(queued, segments)
                self._plan_cut_locked(max_wait_s, pause_s, lead_s)
                return [s for s in queued if s.kind not in _WAITING_KINDS]
            after = items[last + 1 :]
            on_air = self._current
            continuing = on_air.reply_to if on_air is not None and on_air.kind == "social" and last < 0 else None
            new = [*items[: last + 1], *_around_answer(after, segments, continuing)]
            if target is self._queue:
                self._queue = collections.deque(new)
                self._queued_samples = sum(s.samples for s in new)
            else:
                self._replacement = new
            return [s for s in after if s.kind not in _WAITING_KINDS]

    def speaking_kind(self) -> str | None:
        """The kind of the sentence being said now (None in silence)."""
        with self._lock:
            return self._current.kind if self._current is not None else None

    def busy_with(self, kind: str) -> bool:
        """True while a segment of this kind is playing, queued, or waiting to cut in."""
        with self._lock:
            if self._current is not None and self._current.kind == kind:
                return True
            if any(s.kind == kind for s in self._queue):
                return True
            return self._replacement is not None and any(s.kind == kind for s in self._replacement)

    def _apply_replacement_locked(self, pulled_so_far: int = 0) -> None:
        assert self._replacement is not None
        self._queue = collections.deque(self._replacement)
        self._queued_samples = sum(s.samples for s in self._replacement)
        self._replacement = None
        self._planned_cut = None
        wait = self._replace_not_before - (self._clock_samples + pulled_so_far)
        self._gap_left = max(self._replace_pause, wait)

    def _plan_cut_locked(self, max_wait_s: float, pause_s: float, lead_s: float) -> None:
        """Fix where the sentence on air will be cut for the waiting replacement: the first word boundary at least
        ``lead_s`` ahead, else ``max_wait_s`` after that (see :meth:`replace_at_boundary`)."""
        lead = round(max(0.0, lead_s) * self._rate)
        self._replace_pause = round(pause_s * self._rate)
        self._replace_not_before = self._clock_samples + lead
        self._replace_deadline = self._clock_samples + lead + round(max_wait_s * self._rate)
        seg = self._current
        if seg is None:
            self._planned_cut = None
            return
        if seg.kind in NEVER_CUT_KINDS:
            self._planned_cut = (seg.segment_id, seg.samples)  # heard whole; what cuts in follows it
            return
        earliest = self._pos + lead
        b = seg.visemes.boundaries
        if seg.kind == "reply_more":
            pause = self._follow_up_pause(seg, earliest)
            if pause is not None:
                self._planned_cut = (seg.segment_id, pause)
                return
        i = int(np.searchsorted(b, earliest, side="left"))
        boundary = int(b[i]) if i < b.shape[0] else seg.samples
        deadline = earliest + round(max_wait_s * self._rate)
        self._planned_cut = (seg.segment_id, min(boundary, deadline, seg.samples))

    def _follow_up_pause(self, seg: SpeechSegment, earliest: int) -> int | None:
        """Where an answer's follow-up on air stops for the next answer (:data:`FOLLOW_UP_FINISH_S`): its end, or
        its next clause or sentence end (the word boundary after a word ending in punctuation), when within reach;
        None: at its next word, like any sentence."""
        reach = self._pos + round(FOLLOW_UP_FINISH_S * self._rate)
        if seg.samples <= reach:
            return seg.samples
        bounds = seg.visemes.boundaries
        words = seg.text.split()
        if bounds.shape[0] != len(words) - 1:
            return None  # the words and the boundaries do not pair up (Chinese, a resumed part): no clause to find
        for word, at in zip(words, bounds.tolist(), strict=False):
            if earliest <= at <= reach and word.endswith(_PAUSE_AFTER):
                return int(at)
        return None

    def _cut_point_locked(self, seg: SpeechSegment, pulled_so_far: int) -> int:
        """Where in ``seg`` a pending replacement cuts it: where it was planned, or (a sentence that started
        after the plan) its next word boundary or the deadline."""
        if self._planned_cut is not None and self._planned_cut[0] == seg.segment_id:
            return max(self._pos, self._planned_cut[1])
        if seg.kind in NEVER_CUT_KINDS:
            return seg.samples
        b = seg.visemes.boundaries
        i = int(np.searchsorted(b, self._pos, side="left"))
        boundary = int(b[i]) if i < b.shape[0] else seg.samples
        deadline = self._pos + max(0, self._replace_deadline - (self._clock_samples + pulled_so_far))
        return min(boundary, deadline, seg.samples)

    def buffered_s(self) -> float:
        """Speech still to be heard (current remainder + queued), in seconds."""
        with self._lock:
            rest = (self._current.samples - self._pos) if self._current else 0
            return (rest + self._queued_samples) / self._rate

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._current is None and not self._queue

    def drop_queued(self, kinds: tuple[str, ...] | None = None) -> int:
        """Forget sentences not yet started (the current one plays on), all of them or only those of ``kinds``
        (also from a replacement waiting for its boundary). Returns how many were dropped."""
        with self._lock:
            if kinds is None:
                n = len(self._queue)
                self._queue.clear()
                self._queued_samples = 0
                return n
            keep = [seg for seg in self._queue if seg.kind not in kinds]
            n = len(self._queue) - len(keep)
            self._queue = collections.deque(keep)
            self._queued_samples = sum(seg.samples for seg in keep)
            if self._replacement is not None:
                kept = [seg for seg in self._replacement if seg.kind not in kinds]
                n += len(self._replacement) - len(kept)
                self._replacement = kept
            return n

    def interrupt(self) -> HeardSpeech | None:
        """Drop queued speech and cut the current sentence now. Returns what viewers heard of the cut sentence."""
        with self._lock:
            self._queue.clear()
            self._queued_samples = 0
            self._gap_left = 0
            self._replacement = None
            if self._current is None:
                return None
            heard = self._heard_locked(interrupted=True)
            self._current = None
            self._pos = 0
            return heard

    # ---- media thread -------------------------------------------------------------------------------------

    def pull(self, n: int) -> Pulled:
        """Exactly ``n`` samples of int16 mono audio for one video frame, plus the mouth pose for them."""
        out = np.zeros(n, np.int16)
        started: list[SpeechSegment] = []
        finished: list[HeardSpeech] = []
        best: tuple[int, SpeechSegment, int, int] | None = None  # (samples covered, segment, start, count)
        with self._lock:
            filled = 0
            while filled < n:
                if self._replacement is not None and self._current is None:
                    self._apply_replacement_locked(filled)
                if self._current is None:
                    if self._gap_left > 0:
                        step = min(self._gap_left, n - filled)
                        self._gap_left -= step
                        filled += step
                        continue
                    if not self._queue:
                        break
                    self._current = self._queue.popleft()
                    self._queued_samples -= self._current.samples
                    self._pos = 0
                    started.append(self._current)
                    if self._current.product_id:
                        self.showing = self._current.product_id
                    self._started_at[self._current.kind] = self._clock_samples + filled
                seg = self._current
                ready = seg.samples if seg.filling is None else seg.filling.ready
                step = min(ready - self._pos, n - filled)
                if step <= 0 and self._pos < seg.samples:
                    # Streaming synthesis has not decoded this far yet: silence until it has (counted; the
                    # decoder runs several times faster than speech, so this only happens on a starved machine).
                    self.underruns += 1
                    break
                cut = False
                if self._replacement is not None:
                    stop = self._cut_point_locked(seg, filled)
                    if stop - self._pos <= step and stop < seg.samples:
                        step, cut = stop - self._pos, True
                out[filled : filled + step] = seg.pcm[self._pos : self._pos + step]
                if cut:
                    fade = min(step, FADE_SAMPLES)
                    if fade:
                        ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
                        tail = out[filled + step - fade : filled + step].astype(np.float32) * ramp
                        out[filled + step - fade : filled + step] = tail.astype(np.int16)
                if step and (best is None or step > best[0]):
                    best = (step, seg, self._pos, step)
                self._pos += step
                filled += step
                if cut:
                    if seg.mouths is not None:
                        seg.mouths.dropped = True  # its neural mouths are no longer needed
                    heard = self._heard_locked(interrupted=True)
                    finished.append(heard)
                    self._cut_rest = rest_of(seg, self._pos, heard.text) if seg.kind in RESUMABLE_KINDS else None
                    self.cuts += 1
                    self._current = None
                    self._pos = 0
                    self._apply_replacement_locked(filled)
                    if self._rest_released:
                        self._place_rest_locked()
                    continue
                if self._pos >= seg.samples:
                    if seg.mouths is not None:
                        seg.mouths.dropped = True
                    finished.append(self._heard_locked(interrupted=False))
                    self._current = None
                    self._pos = 0
                    self._gap_left = self._gap
            self._clock_samples += n
            speaking = self._current
        if best is None:
            mouth = MouthPose.rest()
        else:
            _, seg, start, count = best
            mouth = mouth_pose(seg.visemes, seg.pcm, start, count)
            if seg.mouths is not None:
                mouth.crop = seg.mouths.at(start)
        return Pulled(
            pcm=out, mouth=mouth, speaking=speaking or (best[1] if best else None), started=started, finished=finished
        )

    def _heard_locked(self, *, interrupted: bool) -> HeardSpeech:
        seg = self._current
        assert seg is not None
        heard_samples = self._pos
        text = seg.text
        if interrupted and seg.samples:
            # Words, or for Chinese characters (text without spaces): one unit per boundary gap.
            units = spoken_units(seg.text)
            b = seg.visemes.boundaries
            if b.shape[0] == len(units) - 1:
                # Unit boundaries are known: the units before the last boundary passed.
                k = int(np.searchsorted(b, heard_samples, side="right"))
            else:
                k = int(len(units) * heard_samples / seg.samples)
            text = join_units(units[:k])
        return HeardSpeech(
            segment_id=seg.segment_id,
            text=text,
            heard_samples=heard_samples,
            interrupted=interrupted,
            kind=seg.kind,
            product_id=seg.product_id,
            sentence=seg.text,
            section=seg.section,
        )
