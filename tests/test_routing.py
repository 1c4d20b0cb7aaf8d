"""Reply routing on a fake clock: comment -> triage -> reply job, approvals held, latency recorded once, answers
typed back into the chat they came from."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from streamer.chat.events import ChatEventLog
from streamer.chat.triage import ChatTriage
from streamer.clock import FakeClock
from streamer.config import Persona, ProductSheet, TriageSettings
from streamer.dashboard.approvals import ApprovalDesk
from streamer.director import ShowDirector
from streamer.frames import ChatMessage, SpeechSegment, VisemeTrack
from streamer.routing import JOBS_KEPT, POST_AFTER_S, ReplyRouter
from streamer.speaker import ReplyJob
from streamer.tasks import TaskOwner

PERSONA = Persona.model_validate({"name": "Joe", "voice": {"backend": "silence"}})
CAT_BED = ProductSheet(id="cat-bed", name="Calming Donut Cat Bed", price=Decimal("39.90"), stock=12)


class FakeSpeaker:
    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.last_chat_s: float | None = None

    def on_screen(self) -> ProductSheet:
        return CAT_BED  # the one product the router's director has

    async def write_reply(self, job: ReplyJob) -> AsyncIterator[str]:
        yield f"{job.viewer}, it is 39 dollars 90."


class PostingSource:
    name = "test"
    can_post = True

    def __init__(self) -> None:
        self.posted: list[str] = []

    async def post(self, text: str) -> None:
        self.posted.append(text)


def _router(clock: FakeClock, *, approvals: bool = False) -> tuple[ReplyRouter, FakeSpeaker, PostingSource, TaskOwner]:
    director = ShowDirector(persona=PERSONA)
    director.set_products([CAT_BED])
    tasks = TaskOwner("test")
    source = PostingSource()
    router = ReplyRouter(
        triage=ChatTriage(TriageSettings(global_per_min=10_000)),
        sources=[source],  # type: ignore[list-item]
        director=director,
        approvals=ApprovalDesk(enabled=approvals, timeout_s=60.0),
        events=ChatEventLog(history=100),
        clock=clock,
        rng=random.Random(1),
        persona=lambda: PERSONA,
        tasks=tasks,
    )
    speaker = FakeSpeaker()
    router.speaker = speaker  # type: ignore[assignment]
    return router, speaker, source, tasks


def _question(n: int, at_s: float) -> ChatMessage:
    return ChatMessage(
        source="test",
        message_id=f"m{n}",
        user=("Mia", "Ken", "Ada")[n % 3],
        text="how much is the cat bed?",
        received_s=at_s,
    )


def test_a_question_wakes_the_speaker_and_becomes_a_job_whose_latency_is_recorded_once() -> None:
    clock = FakeClock()

    async def main() -> tuple[Any, ...]:
        router, speaker, source, tasks = _router(clock)
        router.on_chat(_question(1, clock.now()))
        woke, last_chat = speaker.wake.is_set(), speaker.last_chat_s
        clock.advance(0.4)
        job = await router.next_reply()
        assert job is not None
        job.sentences = ["Ken, it is 39 dollars 90."]
        segment = SpeechSegment(
            segment_id=1,
            text=job.sentences[0],
            pcm=np.zeros(0, np.int16),
            visemes=VisemeTrack.silent(),
            kind="reply",
            reply_to=job.reply_id,
        )
        router.on_reply_heard(segment, out_s=clock.now() + 0.8)
        router.on_reply_heard(segment, out_s=clock.now() + 5.0)  # later sentences of the answer: not counted
        await asyncio.sleep(0)  # the posting task starts and waits on the clock
        before_post = list(source.posted)
        clock.advance(POST_AFTER_S + 0.1)
        for _ in range(3):
            await asyncio.sleep(0)
        await tasks.aclose()
        replies = [e.data for e in router.events.recent(limit=10) if e.kind == "reply"]
        return woke, last_chat, job, list(router.latencies), before_post, list(source.posted), replies

    woke, last_chat, job, latencies, before_post, posted, replies = asyncio.run(main())
    assert woke and last_chat == 0.0
    assert job.kind == "question" and job.text == "how much is the cat bed?" and job.source == "test"
    assert latencies == [pytest.approx(1.2)]  # arrival at 0, heard at 0.4 + 0.8
    assert len(replies) == 1 and replies[0]["latency_s"] == 1.2 and replies[0]["picked_after_s"] == 0.4
    assert before_post == [] and posted == ["Ken, it is 39 dollars 90."]


def test_with_approval_on_the_answer_is_written_and_held_not_returned() -> None:
    clock = FakeClock()

    async def main() -> tuple[Any, ...]:
        router, _speaker, _source, tasks = _router(clock, approvals=True)
        router.on_chat(_question(1, clock.now()))
        job = await router.next_reply()
        for _ in range(3):
            await asyncio.sleep(0)
        pending = router.approvals.pending(clock.now())
        await tasks.aclose()
        return job, pending

    job, pending = asyncio.run(main())
    assert job is None
    assert len(pending) == 1 and pending[0]["sentences"] == ["Ken, it is 39 dollars 90."]


def test_kept_jobs_are_bounded_newest_last() -> None:
    router, *_ = _router(FakeClock())
    for n in range(JOBS_KEPT + 20):
        router.keep(ReplyJob(reply_id=f"r{n}", kind="question", viewer="v", text="?", arrived_s=0.0))
    assert len(router.jobs) == JOBS_KEPT
    assert next(iter(router.jobs)) == "r20" and next(reversed(router.jobs)) == f"r{JOBS_KEPT + 19}"
