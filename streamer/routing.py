"""Reply routing: a comment goes to triage; what triage queues becomes a reply job for the speaker (or, with
approve-before-speak, an answer written and held for the operator); when its first sample is heard the latency is
recorded and the answer is typed back into the chat it came from.

Plain bookkeeping around :class:`~streamer.chat.triage.ChatTriage` and :class:`~streamer.speaker.Speaker`: no
sockets, no media. The channel calls :meth:`ReplyRouter.on_chat` for every comment and
:meth:`ReplyRouter.on_reply_heard` from the media thread's events.
"""

from __future__ import annotations

import collections
import itertools
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamer.chat.events import ChatEventLog
from streamer.chat.sources import ChatSource
from streamer.chat.triage import ChatTriage
from streamer.clock import Clock
from streamer.config import Persona
from streamer.dashboard.approvals import MAX_PENDING, ApprovalDesk, PendingAnswer
from streamer.director import ShowDirector
from streamer.frames import ChatMessage, SpeechSegment
from streamer.speaker import ReplyJob, is_social, reply_job
from streamer.stats import percentile
from streamer.tasks import TaskOwner

if TYPE_CHECKING:
    from streamer.speaker import Speaker

log = logging.getLogger(__name__)

#: Reply jobs kept findable (for their latency, approvals) after they were picked.
JOBS_KEPT = 100
#: How long after the first sentence is heard the whole answer is typed into the chat.
POST_AFTER_S = 3.0


def _after(at_s: float | None, since_s: float) -> float | None:
    return None if at_s is None else round(at_s - since_s, 3)


class ReplyRouter:
    """Comments in, reply jobs out, latencies recorded. ``persona`` is read through a callable: a hot reload
    changes it under the router."""

    def __init__(
        self,
        *,
        triage: ChatTriage | None,
        sources: list[ChatSource],
        director: ShowDirector,
        approvals: ApprovalDesk,
        events: ChatEventLog,
        clock: Clock,
        rng: random.Random,
        persona: Callable[[], Persona],
        tasks: TaskOwner,
    ) -> None:
        self.triage = triage
        self.sources = sources
        self.director = director
        self.approvals = approvals
        self.events = events
        self.clock = clock
        self.rng = rng
        self._persona = persona
        self._tasks = tasks
        self.speaker: Speaker | None = None
        """Set once the speaker exists (it asks this router for the next reply)."""
        self.jobs: collections.OrderedDict[str, ReplyJob] = collections.OrderedDict()
        self._ids = itertools.count(1)
        self._writing_for_approval = False
        self.latencies: collections.deque[float] = collections.deque(maxlen=500)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def keep(self, job: ReplyJob) -> None:
        """Keep ``job`` findable by id (its latency is recorded when it is heard), newest last, at most 100."""
        self.jobs[job.reply_id] = job
        self.jobs.move_to_end(job.reply_id)
        while len(self.jobs) > JOBS_KEPT:
            self.jobs.popitem(last=False)

    # ---- comments in ----------------------------------------------------------------------------------------

    def on_chat(self, msg: ChatMessage) -> None:
        """Every incoming comment: triage decides (and records why); a queued one wakes the speaker."""
        assert self.triage is not None
        now = self.clock.now()
        on_screen = self.speaker.on_screen() if self.speaker is not None else self.director.current_product
        decision = self.triage.offer(msg, now, products=self.director.products, on_screen=on_screen)
        self.events.add("comment", now, **decision.as_dict())
        log.debug(
            "chat %s %s: %r -> %s (%s)", msg.source, decision.user, decision.text, decision.outcome, decision.reason
        )
        if self.speaker is not None:
            self.speaker.last_chat_s = now
            if decision.outcome in ("queued", "merged"):
                self.speaker.wake.set()

    async def next_reply(self) -> ReplyJob | None:
        """The speaker's question: what to answer now (None: nothing, or it waits for approval)."""
        assert self.triage is not None
        if self.approvals.enabled and (self._writing_for_approval or len(self.approvals) >= MAX_PENDING):
            return None  # one answer written at a time, and no more than the desk holds: the rest wait in triage
        pick = self.triage.next(self.clock.now())
        if pick is None:
            return None
        job = reply_job(
            pick,
            reply_id=self.next_id("r"),
            now_s=self.clock.now(),
            persona=self._persona(),
            rng=self.rng,
            recent=self.director.recent_keys(),
            speakable=getattr(self.speaker, "voices", ()),
        )
        self.keep(job)
        if self.approvals.enabled:
            # Approve-before-speak: write the answer now, hold it for the operator; patter goes on meanwhile.
            self._tasks.spawn(self._hold_for_approval(job), name=f"approval:{job.reply_id}")
            return None
        log.info("answering %s from %s (%s): %s", pick.kind, job.viewer, pick.reason, job.text)
        return job

    async def _hold_for_approval(self, job: ReplyJob) -> None:
        assert self.speaker is not None
        self._writing_for_approval = True
        try:
            written = [s async for s in self.speaker.write_reply(job)]
        finally:
            self._writing_for_approval = False
        self.speaker.wake.set()
        job.sentences = written
        if not written:
            log.info("no answer written for %s; nothing to approve", job.viewer)
            return
        item, evicted = self.approvals.add(job, self.clock.now())
        if evicted is not None:
            self.approval_event(evicted, "dropped")
        self.approval_event(item, "pending")
        log.info("answer to %s waits for approval (%s)", job.viewer, item.approval_id)

    def approval_event(self, item: PendingAnswer, state: str) -> None:
        self.events.add("approval", self.clock.now(), **item.as_dict(self.clock.now()), state=state)

    # ---- answers heard ----------------------------------------------------------------------------------------

    def on_reply_heard(self, segment: SpeechSegment, out_s: float) -> None:
        """The first sample of ``segment`` (a reply) leaves the show at ``out_s``: its latency is recorded once."""
        job = self.jobs.get(segment.reply_to or "")
        if job is None or job.first_audio_s is not None:
            return
        job.first_audio_s = out_s
        latency = out_s - job.arrived_s
        self.latencies.append(latency)
        self.events.add(
            "reply",
            out_s,
            reply_id=job.reply_id,
            kind=job.kind,
            user=job.viewer,
            question=job.text,
            latency_s=round(latency, 3),
            # Where the time went: waiting in triage, writing + voicing the first sentence, waiting to be heard.
            picked_after_s=_after(job.picked_s, job.arrived_s),
            started_after_s=_after(job.started_s, job.arrived_s),
            written_after_s=_after(job.written_s, job.arrived_s),
            voiced_after_s=_after(job.voiced_s, job.arrived_s),
            behind=job.behind,
            small_talk=job.kind == "question" and is_social(job),  # "love it!": follows the sentence on air
            message_ids=list(job.message_ids),
        )
        log.info("reply to %s started %.2f s after the comment", job.viewer, latency)
        source = next((s for s in self.sources if s.name == job.source), None)
        if source is not None and source.can_post:
            self._tasks.spawn(self._post_reply(job, source), name=f"post:{job.reply_id}")

    async def _post_reply(self, job: ReplyJob, source: ChatSource) -> None:
        # Give the speaker time to write the whole answer, then type it into the chat as well.
        await self.clock.sleep(POST_AFTER_S)
        if job.sentences:
            await source.post(" ".join(job.sentences))

    def latency_summary(self) -> dict[str, Any]:
        values = list(self.latencies)
        if not values:
            return {"replies": 0, "p50_s": None, "p95_s": None}
        return {
            "replies": len(values),
            "p50_s": round(percentile(values, 0.5), 3),
            "p95_s": round(percentile(values, 0.95), 3),
        }
