"""Speech waiting to be heard, pulled one video frame's share at a time by the output clock.

The asyncio side pushes voiced sentences; the media thread pulls exactly ``n`` samples per frame and gets the
mouth pose for those same samples, so lips and sound cannot drift apart. When nothing is queued the pull returns
silence and a resting mouth: the stream never waits for the voice.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

import numpy as np

from streamer.frames import HeardSpeech, MouthPose, SpeechSegment
from streamer.voice.visemes import mouth_pose


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
        self._pos = 0  # next sample of the current segment
        self._gap_left = 0
        self._queued_samples = 0
        self._clock_samples = 0  # samples pulled since the start (the media clock in audio units)
        # A reply waiting to take over at the next word boundary (see replace_at_boundary).
        self._replacement: list[SpeechSegment] | None = None
        self._replace_deadline = 0  # on the pulled-samples clock
        self._replace_pause = 0
        self.cuts = 0

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

    def replace_at_boundary(
        self, segments: list[SpeechSegment], *, max_wait_s: float = 0.6, pause_s: float = 0.15
    ) -> None:
        """The one interruption path for speech: finish the current word (never cut mid-word), fade out, drop
        everything queued, pause ``pause_s``, then play ``segments`` (and whatever is pushed after them).

        If no word boundary comes within ``max_wait_s`` the cut happens then, with a fade. When nothing is being
        said the segments start at once.
        """
        with self._lock:
            self._replacement = list(segments)
            self._replace_deadline = self._clock_samples + round(max_wait_s * self._rate)
            self._replace_pause = round(pause_s * self._rate)

    def busy_with(self, kind: str) -> bool:
        """True while a segment of this kind is playing, queued, or waiting to cut in."""
        with self._lock:
            if self._current is not None and self._current.kind == kind:
                return True
            if any(s.kind == kind for s in self._queue):
                return True
            return self._replacement is not None and any(s.kind == kind for s in self._replacement)

    def _apply_replacement_locked(self) -> None:
        assert self._replacement is not None
        self._queue = collections.deque(self._replacement)
        self._queued_samples = sum(s.samples for s in self._replacement)
        self._replacement = None
        self._gap_left = self._replace_pause

    def _cut_point_locked(self, seg: SpeechSegment, pulled_so_far: int) -> int:
        """Where in ``seg`` a pending replacement cuts it: the next word boundary, or the deadline."""
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
                    self._apply_replacement_locked()
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
                seg = self._current
                step = min(seg.samples - self._pos, n - filled)
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
                    finished.append(self._heard_locked(interrupted=True))
                    self.cuts += 1
                    self._current = None
                    self._pos = 0
                    self._apply_replacement_locked()
                    continue
                if self._pos >= seg.samples:
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
        return Pulled(
            pcm=out, mouth=mouth, speaking=speaking or (best[1] if best else None), started=started, finished=finished
        )

    def _heard_locked(self, *, interrupted: bool) -> HeardSpeech:
        seg = self._current
        assert seg is not None
        heard_samples = self._pos
        text = seg.text
        if interrupted and seg.samples:
            words = seg.text.split()
            b = seg.visemes.boundaries
            if b.shape[0] == len(words) - 1:
                # Word gaps are known: the words before the last gap passed.
                k = int(np.searchsorted(b, heard_samples, side="right"))
            else:
                k = int(len(words) * heard_samples / seg.samples)
            text = " ".join(words[:k])
        return HeardSpeech(
            segment_id=seg.segment_id,
            text=text,
            heard_samples=heard_samples,
            interrupted=interrupted,
            kind=seg.kind,
            product_id=seg.product_id,
            sentence=seg.text,
        )
