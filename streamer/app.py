"""Wiring: products -> director + brain -> voice -> playout -> (avatar + compositor) -> encoder -> outputs.

The media loop starts first and shows idle frames at once; the catalog and the voice load beside it. Stopping:
``request_stop()`` drains (finish the sentence, flush the encoder, close every output cleanly) within a deadline;
a second request cancels now.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import itertools
import logging
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamer.brain.embed import preload_model_libraries
from streamer.brain.factory import BrainKit, build_brain
from streamer.brain.guards import GuardRulesError, SentenceGuard
from streamer.brain.offline import VarietyMeter
from streamer.brain.prompts import clean_untrusted
from streamer.brain.sentences import SentenceSplitter
from streamer.chat.events import ChatEventLog
from streamer.chat.sources import ChatSource, create_source
from streamer.chat.triage import ChatTriage
from streamer.clock import Clock, MonotonicClock
from streamer.config import Persona, ProductSheet, StreamConfig
from streamer.dashboard.approvals import MAX_PENDING, ApprovalDesk, PendingAnswer
from streamer.dashboard.auth import TOKEN_ENV, DashboardAuth
from streamer.dashboard.auth import dashboard_token as auth_token_from_env
from streamer.dashboard.editor import CheckResult, ConfigFiles
from streamer.dashboard.server import ControlError, DashboardServer
from streamer.director import ShowDirector
from streamer.frames import AUDIO_RATE_HZ, ChatMessage, HeardSpeech, SpeechSegment
from streamer.loading import ConfigProblem, line_of
from streamer.memory import release_free_memory
from streamer.money import format_price
from streamer.persona_watch import PersonaFileWatch
from streamer.playout import SpeechPlayout
from streamer.process import lower_thread_priority
from streamer.products.catalog import ProductCatalog
from streamer.publish.encoder import AVEncoder
from streamer.publish.media_loop import MediaEvents, MediaLoop
from streamer.publish.outputs import Output, open_outputs
from streamer.publish.preview import PreviewHub
from streamer.publish.sinks import Target
from streamer.scene import Card, Looks, Scene
from streamer.speaker import READY_MAX, SPEECH_LOW_WATER_S, ReplyJob, Speaker, is_social, reply_job
from streamer.stats import percentile
from streamer.tasks import TaskOwner
from streamer.voice.base import VoiceBackend, VoiceError, create_voice

log = logging.getLogger(__name__)

DRAIN_DEADLINE_S = 2.0
"""On a stop request the sentence on air may finish if it ends within this; past it, it is cut (the whole shutdown
must fit systemd's and the operator's patience: 5 s)."""
#: A show asked to stop as it starts still writes this much, so every recording it leaves is playable.
MIN_RECORDING_S = 0.5
#: How long the shutdown waits for each of: the dashboard's connections, a worker pool's current job.
CLOSE_STEP_S = 0.5
#: Speech voiced ahead before torch is imported (the import holds synthesis back for a few seconds).
MODEL_IMPORT_SPEECH_AHEAD_S = 9.0


def _after(at_s: float | None, since_s: float) -> float | None:
    return None if at_s is None else round(at_s - since_s, 3)


@dataclass(slots=True)
class ShowStats:
    started_monotonic: float = field(default_factory=time.monotonic)
    first_frame_s: float | None = None
    voice_ready_s: float | None = None


class Show:
    def __init__(
        self,
        *,
        config: StreamConfig,
        persona: Persona,
        products_source: str,
        targets: list[Target],
        duration_s: float | None = None,
        clock: Clock | None = None,
        voice: VoiceBackend | None = None,
        brain: BrainKit | None = None,
        preview: bool | None = None,
        dashboard_token: str | None = None,
        persona_path: str | Path | None = None,
    ) -> None:
        self.config = config
        self.persona = persona
        self.files = ConfigFiles(persona_path=persona_path, products_source=products_source)
        self.targets = targets
        self.clock = clock or MonotonicClock()
        self.duration_s = duration_s
        self.voice = voice or create_voice(persona.voice)
        self.brain: BrainKit = brain or build_brain(config.brain, persona)
        self.variety = VarietyMeter(window_s=3600.0)
        self.preview_enabled = config.preview.enabled if preview is None else preview
        if dashboard_token is not None:
            self._token, self._token_generated = dashboard_token, False
        else:
            self._token, self._token_generated = auth_token_from_env()
        self.auth = DashboardAuth(self._token)
        self.catalog = ProductCatalog(
            products_source, refresh_s=config.show.products_refresh_s, clock=self.clock.now, sleep=self.clock.sleep
        )
        self.director = ShowDirector(persona=persona, sections_per_product=config.show.sections_per_product)
        self.playout = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=persona.patter.pause_between_sentences_ms / 1000)
        self.rng = random.Random(config.show.seed)
        self.stats = ShowStats()
        self.spoken: collections.deque[HeardSpeech] = collections.deque(maxlen=50)
        self.voice_state = "loading"
        self.lipsync: Any = None
        """The neural lip-sync stage (when the persona has a neural engine that loaded)."""
        self.lipsync_problem: str | None = None
        self._tasks = TaskOwner("show", on_failure=self._task_failed)
        self._voice_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="voice", initializer=lower_thread_priority
        )
        # Replies get their own voice thread at normal priority: patter synthesis never delays an answer.
        self._reply_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="reply-voice")
        self._brain_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="brain", initializer=lower_thread_priority
        )
        self.events = ChatEventLog(history=1000)
        self.approvals = ApprovalDesk(enabled=config.chat.require_approval, timeout_s=config.chat.approval_timeout_s)
        self._writing_for_approval = False
        self._config_lock = asyncio.Lock()
        self._avatar_verdict: tuple[Any, list[ConfigProblem]] | None = None
        """The last look the editor's Check built (an avatar style and its files' stamps) and what was wrong."""
        self.persona_watch: PersonaFileWatch | None = None
        if persona_path is not None:  # the operator's own editor: a saved edit goes live like a dashboard Apply
            self.persona_watch = PersonaFileWatch(
                path=persona_path,
                refresh_s=config.show.products_refresh_s,
                clock=self.clock,
                apply=self._apply_persona_from_disk,
                report=self._report_persona_file,
                lock=self._config_lock,
            )
        self.on_air: SpeechSegment | None = None
        """The last patter/transition/greeting segment that started: what the show is talking about."""
        self.chat_sources: list[ChatSource] = [
            create_source(
                src,
                clock=self.clock,
                catalog=lambda: self.director.products,
                max_backoff_s=config.reconnect_max_backoff_s,
            )
            for src in config.chat.sources
        ]
        self.triage = ChatTriage(config.chat.triage) if self.chat_sources else None
        self._jobs: collections.OrderedDict[str, ReplyJob] = collections.OrderedDict()
        self._job_ids = itertools.count(1)
        self.reply_latencies: collections.deque[float] = collections.deque(maxlen=500)
        self.speaker = Speaker(
            persona=persona,
            director=self.director,
            brain=self.brain,
            voice=self.voice,
            playout=self.playout,
            clock=self.clock,
            voice_pool=self._voice_pool,
            reply_pool=self._reply_pool,
            rng=self.rng,
            next_reply=self._next_reply if self.triage is not None else None,
            question_waiting=self.triage.question_waiting if self.triage is not None else None,
            quiet_invite_s=config.chat.invite_after_quiet_s,
        )
        self._stop_requested = asyncio.Event()
        self._finished = asyncio.Event()
        self._hard_stop = False
        self._speaker: asyncio.Task[Any] | None = None
        self._catalog_ready = asyncio.Event()
        self._voice_done = asyncio.Event()
        self._models_imported = False
        self.scene: Scene | None = None
        self.encoder: AVEncoder | None = None
        self.media: MediaLoop | None = None
        self.outputs: list[Output] = []
        """Every place the encode goes (targets, recordings, the dashboard's preview)."""
        self.preview_hub: PreviewHub | None = None
        self.preview_server: DashboardServer | None = None
        self.exit_code = 0

    # ---- control -----------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """First call: drain and stop. Second call: stop now."""
        if self._stop_requested.is_set():
            log.warning("second stop request: stopping now")
            self._hard_stop = True
            if self.media is not None:
                self.media.stop()
        self._stop_requested.set()

    def _task_failed(self, task: asyncio.Task[Any], exc: BaseException) -> None:
        log.error("a show task died (%s); stopping the show", task.get_name())
        self.exit_code = 1
        self._stop_requested.set()

    # ---- run ---------------------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        v = self.config.video
        # Off the loop: a photo or video look reads its portrait or footage with the face models (about a second).
        self.scene = await asyncio.to_thread(
            Scene, persona=self.persona, width=v.width, height=v.height, seed=self.config.show.seed or 0
        )
        consent = self.persona.avatar.likeness_consent
        if self.persona.avatar.kind != "cartoon" and consent is not None:
            log.info(
                "avatar: %s from %s, animated with the consent of %s given %s (%s)",
                self.persona.avatar.kind,
                self.persona.avatar.image if self.persona.avatar.kind == "photo" else self.persona.avatar.clip,
                consent.by,
                consent.date.isoformat(),
                consent.reference,
            )
        self.encoder = AVEncoder(video=v, audio=self.config.audio)
        encoder = self.encoder
        opened = open_outputs(
            self.targets,
            video_template=encoder.video_stream,
            audio_template=encoder.audio_stream,
            want_keyframe=encoder.request_keyframe,
            on_connected=self._on_output_connected,
            max_backoff_s=self.config.reconnect_max_backoff_s,
            now=self.clock.now,
            preview_loop=loop if self.preview_enabled else None,
        )
        self.outputs, self.preview_hub = opened.all, opened.preview
        max_frames = round(self.duration_s * v.fps) if self.duration_s else None
        self.media = MediaLoop(
            fps=v.fps,
            renderer=self.scene,
            playout=self.playout,
            encoder=encoder,
            outputs=list(self.outputs),
            clock=self.clock,
            on_events=lambda ev: loop.call_soon_threadsafe(self._on_media_events, ev),
            max_frames=max_frames,
            on_finished=lambda: loop.call_soon_threadsafe(self._finished.set),
        )
        for output in self.outputs:
            output.start()
        self.media.start()
        self.stats.first_frame_s = time.monotonic() - self.stats.started_monotonic
        log.info(
            "show started: %dx%d@%d, outputs: %s",
            v.width,
            v.height,
            v.fps,
            ", ".join(t.display for t in self.targets) or "none",
        )
        if self.preview_hub is not None:
            self.preview_server = DashboardServer(
                self.preview_hub,
                control=self,
                host=self.config.preview.host,
                port=self.config.preview.port,
                auth=self.auth,
            )
            try:
                await self.preview_server.start()
                log.info("dashboard at %s (sign in with the dashboard token)", self.preview_server.url)
                if self._token_generated:
                    # Printed once, on the console only (never logged): the operator's way in.
                    print(
                        f"\n  Open {self.preview_server.url}login?token={self._token}\n"
                        f"  (set {TOKEN_ENV} to choose the token yourself)\n",
                        flush=True,
                    )
            except OSError as exc:
                log.error(
                    "preview server could not listen on %s:%d (%s); the show goes on without it",
                    self.config.preview.host,
                    self.config.preview.port,
                    exc.strerror or exc,
                )
                self.preview_server = None

        self._tasks.spawn(self._load_catalog_then_watch(), name="catalog")
        self._speaker = self._tasks.spawn(self._load_voice_then_speak(), name="speaker")
        self._tasks.spawn(self._status_log(), name="status-log")
        self._tasks.spawn(self._operator_timers(), name="operator-timers")
        if self.persona_watch is not None:
            self._tasks.spawn(self.persona_watch.run(), name="persona-watch")
        for source in self.chat_sources:
            self._tasks.spawn(source.run(self._on_chat), name=f"chat:{source.name}")

        stop_wait = asyncio.create_task(self._stop_requested.wait())
        finish_wait = asyncio.create_task(self._finished.wait())
        try:
            await asyncio.wait({stop_wait, finish_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            finish_wait.cancel()
        await self._shutdown()
        if self.media.error is not None:
            self.exit_code = 1
        return self.exit_code

    async def _shutdown(self) -> None:
        assert self.media is not None
        began = time.monotonic()
        took: dict[str, float] = {}

        def mark(step: str) -> None:
            took[step] = round(time.monotonic() - began - sum(took.values()), 2)

        if not self._finished.is_set():  # no new sentences from here on
            if self._speaker is not None:
                self._speaker.cancel()
            self.playout.drop_queued()
        # A stop asked for at launch: let the first frames reach the outputs, so the recording is playable.
        first = round(MIN_RECORDING_S * self.config.video.fps)
        deadline = time.monotonic() + 3.0
        while self.media.frames < first and not self._hard_stop and time.monotonic() < deadline:
            if self._finished.is_set() or self.media.error is not None:
                break
            await asyncio.sleep(0.02)
        if not self._finished.is_set() and not self._hard_stop:
            # Drain: let the sentence on air finish (bounded), then stop the clock.
            deadline = self.clock.now() + DRAIN_DEADLINE_S
            # Polled: the media thread ends the sentence; 50 ms granularity is plenty for a shutdown.
            while not self.playout.idle and self.clock.now() < deadline and not self._hard_stop:
                await self.clock.sleep(0.05)
        mark("drain")
        self.media.stop()
        await asyncio.to_thread(self.media.join, 10.0)
        mark("media")
        # Whatever was on air when the pictures stopped (a hard stop, the end of --duration) is in the transcript
        # as far as it was heard.
        heard = self.playout.interrupt()
        if heard is not None:
            self._record_heard(heard)
        await self._tasks.aclose()
        await self.catalog.aclose()
        mark("tasks")
        drain = not self._hard_stop
        closing: list[Coroutine[Any, Any, bool | None]] = [
            asyncio.to_thread(o.close, drain=drain, timeout_s=2.0) for o in self.outputs
        ]
        if self.preview_server is not None:  # at the same time: tabs and event streams end
            closing.append(self.preview_server.aclose(timeout_s=CLOSE_STEP_S))
        results = await asyncio.gather(*closing)
        if not all(r is not False for r in results):
            log.error("some outputs did not close cleanly")
        mark("outputs")
        if self.encoder is not None:
            self.encoder.close()
        if self.lipsync is not None:
            self.lipsync.close()
        # Each pool's current job (a sentence, a model load) gets a moment to end; one that does not is left to
        # the process's exit (its result is not needed).
        pools = (self._voice_pool, self._reply_pool, self._brain_pool)
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.wait(
            [asyncio.ensure_future(asyncio.to_thread(p.shutdown, wait=True)) for p in pools], timeout=CLOSE_STEP_S
        )
        await self.brain.aclose()
        mark("workers")
        log.info(
            "show stopped after %d frames (%.1f s of media); shutdown took %.2f s (%s)",
            self.media.frames,
            self.media.frames / self.config.video.fps,
            time.monotonic() - began,
            ", ".join(f"{k} {v:.2f}" for k, v in took.items()),
        )

    # ---- catalog -----------------------------------------------------------------------------------------

    async def _load_catalog_then_watch(self) -> None:
        await self.catalog.refresh()
        await self._apply_catalog()
        self._catalog_ready.set()
        await self.catalog.run(self._on_catalog_change)

    async def _on_catalog_change(self, *_: Any) -> None:
        await self._apply_catalog()

    async def _apply_catalog(self) -> None:
        for p in self.catalog.problems:
            log.warning("%s", p)
        products = list(self.catalog.products)
        self.director.set_products(products)
        self.speaker.facts_changed(products)
        # Embed the sheets' facts for answers (the first call also loads the embedding model), off the loop.
        self._tasks.spawn(self._prepare_answers(products), name="prepare-answers")
        cards: dict[str, Card] = {}
        for product in products:
            cards[product.id] = (product, await self._product_image(product))
        assert self.scene is not None
        self.scene.update_cards(cards)
        log.info("catalog: %d products (%s)", len(products), ", ".join(p.id for p in products))

    async def _prepare_answers(self, products: list[ProductSheet]) -> None:
        # Model loads one after the other: two at once starve the media thread of the GIL and the voice would
        # be ready later. Until the embedder is in, answers use the lexical fallback.
        await self._voice_done.wait()
        loop = asyncio.get_running_loop()
        if not self._models_imported:
            # Importing torch holds the GIL for most of its seconds, so synthesis (which goes on beside it) runs
            # slowly meanwhile: first let the speaker voice several seconds ahead.
            self.speaker.low_water_s = MODEL_IMPORT_SPEECH_AHEAD_S
            deadline = self.clock.now() + 15.0
            # Polled: the buffer fills from the media thread's side; 100 ms granularity is plenty here.
            while self.playout.buffered_s() < MODEL_IMPORT_SPEECH_AHEAD_S - 2 and self.clock.now() < deadline:
                await self.clock.sleep(0.1)
            await loop.run_in_executor(self._brain_pool, preload_model_libraries)
            self.speaker.low_water_s = SPEECH_LOW_WATER_S
            self._models_imported = True
        await loop.run_in_executor(self._brain_pool, self.brain.offline.prepare, products)

    async def _product_image(self, product: ProductSheet) -> np.ndarray | None:
        try:
            return await self.catalog.image_for(product)
        except Exception as exc:
            log.warning("product %s: image unavailable (%s); showing a placeholder", product.id, exc)
            return None

    # ---- speech ------------------------------------------------------------------------------------------

    async def _load_voice_then_speak(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        try:
            await loop.run_in_executor(self._voice_pool, self.voice.load)
        except VoiceError as exc:
            self.voice_state = "failed"
            log.error("voice could not load: %s. The show continues without speech.", exc)
            return
        finally:
            self._voice_done.set()
        self.voice_state = "ready"
        self.stats.voice_ready_s = time.monotonic() - t0
        log.info("voice %s ready in %.1f s", getattr(self.voice, "name", "?"), self.stats.voice_ready_s)
        await self._start_lipsync()
        # Greet with the first product's name when the catalog is there; a slow feed does not keep the host quiet.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._catalog_ready.wait(), timeout=5.0)
        await self.speaker.run()

    async def _start_lipsync(self, avatar: Any = None) -> None:
        """The neural lip-sync engine, when the persona asks for one, for ``avatar`` (default: the one on air):
        loaded off the loop; if it cannot load the warp draws the mouth and status says why (the show goes on).
        A stage already running (an older look) is stopped first."""
        old, self.lipsync = self.lipsync, None
        self.speaker.lipsync = None
        if self.scene is not None:
            self.scene.lipsync = None
        if old is not None:
            old.close()
        self.lipsync_problem = None
        settings = self.persona.avatar.lipsync
        if settings.engine != "neural" or not settings.model or self.scene is None:
            return
        avatar = avatar if avatar is not None else self.scene.avatar
        face_input = getattr(avatar, "neural_face_input", None)
        if face_input is None:
            self.lipsync_problem = f"no neural lip-sync for a {self.persona.avatar.kind} avatar"
            return
        from streamer.avatar.neural import LipSyncStage, NeuralLipSync

        try:
            engine = await asyncio.to_thread(NeuralLipSync, settings.model, device=settings.device)
        except Exception as exc:  # a model that cannot load must not stop the show: the warp draws the mouth
            self.lipsync_problem = f"neural model not loaded ({exc})"
            log.error("lip-sync: %s; the CPU warp draws the mouth", self.lipsync_problem)
            return
        stage = LipSyncStage(engine, face_input(), fps=self.config.video.fps)
        self.lipsync = stage
        self.speaker.lipsync = stage
        self.scene.lipsync = stage
        log.info("lip-sync: neural model %s on %s", Path(settings.model).name, engine.device)

    # ---- chat ----------------------------------------------------------------------------------------------

    def _on_chat(self, msg: ChatMessage) -> None:
        """Every incoming comment: triage decides (and records why); a queued one wakes the speaker."""
        assert self.triage is not None
        now = self.clock.now()
        decision = self.triage.offer(msg, now, products=self.director.products, on_screen=self.director.current_product)
        self.events.add("comment", now, **decision.as_dict())
        log.debug(
            "chat %s %s: %r -> %s (%s)", msg.source, decision.user, decision.text, decision.outcome, decision.reason
        )
        self.speaker.last_chat_s = now
        if decision.outcome in ("queued", "merged"):
            self.speaker.wake.set()

    async def _next_reply(self) -> ReplyJob | None:
        assert self.triage is not None
        if self.approvals.enabled and (self._writing_for_approval or len(self.approvals) >= MAX_PENDING):
            return None  # one answer written at a time, and no more than the desk holds: the rest wait in triage
        pick = self.triage.next(self.clock.now())
        if pick is None:
            return None
        job = reply_job(
            pick,
            reply_id=f"r{next(self._job_ids)}",
            now_s=self.clock.now(),
            persona=self.persona,
            rng=self.rng,
            recent=self.director.recent,
        )
        self._jobs[job.reply_id] = job
        while len(self._jobs) > 100:
            self._jobs.popitem(last=False)
        if self.approvals.enabled:
            # Approve-before-speak: write the answer now, hold it for the operator; patter goes on meanwhile.
            self._tasks.spawn(self._hold_for_approval(job), name=f"approval:{job.reply_id}")
            return None
        log.info("answering %s from %s (%s): %s", pick.kind, job.viewer, pick.reason, job.text)
        return job

    async def _hold_for_approval(self, job: ReplyJob) -> None:
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
            self._approval_event(evicted, "dropped")
        self._approval_event(item, "pending")
        log.info("answer to %s waits for approval (%s)", job.viewer, item.approval_id)

    def _on_reply_heard(self, segment: SpeechSegment, frame: int) -> None:
        job = self._jobs.get(segment.reply_to or "")
        if job is None or job.first_audio_s is not None:
            return
        assert self.media is not None
        # The frame's packets leave one frame later (the encoder is pipelined).
        out_s = max(self.media.pacer.due(frame + 1), self.clock.now())
        job.first_audio_s = out_s
        latency = out_s - job.arrived_s
        self.reply_latencies.append(latency)
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
        source = next((s for s in self.chat_sources if s.name == job.source), None)
        if source is not None and source.can_post:
            self._tasks.spawn(self._post_reply(job, source), name=f"post:{job.reply_id}")

    async def _post_reply(self, job: ReplyJob, source: ChatSource) -> None:
        # Give the speaker time to write the whole answer, then type it into the chat as well.
        await self.clock.sleep(3.0)
        if job.sentences:
            await source.post(" ".join(job.sentences))

    def reply_latency_summary(self) -> dict[str, float | int | None]:
        values = list(self.reply_latencies)
        if not values:
            return {"replies": 0, "p50_s": None, "p95_s": None}
        return {
            "replies": len(values),
            "p50_s": round(percentile(values, 0.5), 3),
            "p95_s": round(percentile(values, 0.95), 3),
        }

    # ---- events from the media thread -----------------------------------------------------------------------

    def _on_media_events(self, ev: MediaEvents) -> None:
        for seg in ev.started:
            if seg.kind in ("patter", "transition", "greeting", "invite"):
                self.on_air = seg
            if seg.kind in ("reply", "reply_more", "social"):
                self._on_reply_heard(seg, ev.frame)
            if seg.kind in ("patter", "transition"):
                self.variety.add(seg.text, ev.frame / self.config.video.fps)
            log.info("says [%s%s]: %s", seg.kind, f" {seg.product_id}" if seg.product_id else "", seg.text)
        for heard in ev.finished:
            self._record_heard(heard)
            if heard.interrupted:
                self.speaker.forget_unheard(heard.sentence, heard.text)

    def _record_heard(self, heard: HeardSpeech) -> None:
        self.spoken.append(heard)
        if heard.text or not heard.interrupted:
            self.events.add(
                "spoken",
                self.clock.now(),
                text=heard.text,
                kind=heard.kind,
                interrupted=heard.interrupted,
                product_id=heard.product_id,
            )

    def _on_output_connected(self, output: Output, reconnect: bool) -> None:
        # Runs in the output's thread: a fresh viewer of this target must see the AI notice and a keyframe now.
        if self.encoder is not None:
            self.encoder.request_keyframe()
        if self.scene is not None and reconnect:
            self.scene.show_notice()

    # ---- operator controls (the dashboard's API calls these; see streamer.dashboard.server.ShowControl) -----

    def _show_event(self, action: str, **data: Any) -> dict[str, Any]:
        self.events.add("show", self.clock.now(), action=action, **data)
        log.info("operator: %s %s", action, data or "")
        return self.show_state()

    def show_state(self) -> dict[str, Any]:
        seg = self.on_air
        on_air = self.director.get(seg.product_id) if seg is not None and seg.product_id else None
        product = on_air or self.director.current_product
        return {
            "persona": self.persona.name,
            "product_id": product.id if product else None,
            "product": product.name if product else None,
            "section": (seg.section or seg.kind) if seg is not None else None,
            "paused": self.speaker.patter_paused,
            "pinned": self.director.pinned,
            "queue": [
                {"id": p.id, "name": p.name, "price": format_price(p.price, p.currency)} for p in self.director.products
            ],
        }

    def dashboard_state(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "show": self.show_state(),
            "approval": {
                "enabled": self.approvals.enabled,
                "timeout_s": self.approvals.timeout_s,
                "pending": self.approvals.pending(now),
            },
            "viewers": {
                "muted": [
                    {"user": name, "minutes_left": round(max(0.0, until - now) / 60, 1)}
                    for name, until in (self.triage.muted(now) if self.triage is not None else [])
                ],
                "blocked": sorted(self.triage.blocked) if self.triage is not None else [],
            },
            "takeover_waiting": self.speaker.ready_count(),
        }

    def skip_product(self) -> dict[str, Any]:
        nxt = self.director.skip()
        if nxt is None:
            raise ControlError("no products to skip to", 409)
        self.speaker.restart_patter()
        return self._show_event("skip", product_id=nxt.id)

    def pin_product(self, product_id: str | None) -> dict[str, Any]:
        before = self.director.current_product
        if not self.director.pin(product_id):
            raise ControlError(f"no product {product_id!r} in the catalog", 404)
        after = self.director.current_product
        if before is not None and after is not None and before.id != after.id:
            self.speaker.restart_patter()
        return self._show_event("pin", product_id=product_id)

    def reorder_products(self, product_ids: list[str]) -> dict[str, Any]:
        if not self.director.reorder(product_ids):
            raise ControlError("product_ids must name every product in the catalog exactly once", 400)
        return self._show_event("order", product_ids=product_ids)

    def pause_patter(self, paused: bool) -> dict[str, Any]:
        self.speaker.set_patter_paused(paused)
        return self._show_event("pause" if paused else "resume")

    def takeover(self, text: str) -> dict[str, Any]:
        """The operator's words, spoken next (at the next word boundary), as they were typed: no guard rewrites
        them, because a person is answering for them. Logged as operator speech."""
        clean = clean_untrusted(text, 500)
        splitter = SentenceSplitter(max_chars=300)
        sentences = [s for s in splitter.feed(clean) + splitter.flush() if s.strip()]
        if not sentences:
            raise ControlError("text: nothing speakable in it")
        job = ReplyJob(
            reply_id=f"op{next(self._job_ids)}",
            kind="operator",
            viewer="operator",
            text=clean,
            arrived_s=self.clock.now(),
            sentences=sentences,
        )
        if self.voice_state != "ready":
            raise ControlError("the voice is not ready yet", 503)
        if not self.speaker.say_next(job):
            raise ControlError("too many lines are waiting to be spoken; try again in a moment", 429)
        self.events.add("operator", self.clock.now(), id=job.reply_id, text=clean)
        log.info("operator takeover queued: %s", clean)
        return {"id": job.reply_id, "sentences": sentences}

    def configure_approval(self, enabled: bool, timeout_s: float | None) -> dict[str, Any]:
        try:
            self.approvals.configure(enabled=enabled, timeout_s=timeout_s)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        log.info("operator: approve-before-speak %s (%.0f s)", "on" if enabled else "off", self.approvals.timeout_s)
        return {"enabled": self.approvals.enabled, "timeout_s": self.approvals.timeout_s}

    def decide_approval(self, approval_id: str, action: str) -> dict[str, Any]:
        if action == "approve":
            if self.voice_state != "ready":
                raise ControlError("the voice is not ready", 503)
            if self.speaker.ready_count() >= READY_MAX:
                raise ControlError("too many lines are waiting to be spoken; try again in a moment", 429)
            item = self.approvals.approve(approval_id)
            if item is None:
                raise ControlError("that answer is no longer waiting (it expired or was decided)", 404)
            self._jobs[item.job.reply_id] = item.job  # keep it findable for its latency however long it waited
            self._jobs.move_to_end(item.job.reply_id)
            self.speaker.say_next(item.job)
        else:
            item = self.approvals.reject(approval_id)
            if item is None:
                raise ControlError("that answer is no longer waiting (it expired or was decided)", 404)
        self._approval_event(item, "approved" if action == "approve" else "rejected")
        return {"id": approval_id, "state": "approved" if action == "approve" else "rejected"}

    def _approval_event(self, item: PendingAnswer, state: str) -> None:
        self.events.add("approval", self.clock.now(), **item.as_dict(self.clock.now()), state=state)

    def viewer_action(self, user: str, action: str, minutes: float | None) -> dict[str, Any]:
        if self.triage is None:
            raise ControlError("this show has no chat", 409)
        name = clean_untrusted(user, 80).strip()
        if not name:
            raise ControlError("user: which viewer?")
        if action == "unblock":
            self.triage.unblock(name)
        elif action == "block":
            self.triage.block(name)
        else:
            span = 10.0 if minutes is None else minutes
            if not 0.5 <= span <= 24 * 60:
                raise ControlError("minutes: between 0.5 and 1440")
            if not self.triage.mute(name, until_s=self.clock.now() + span * 60):
                raise ControlError(f"{name} is blocked; unblock first to mute for a while instead", 409)
        self.events.add("viewer", self.clock.now(), user=name, action=action, minutes=minutes)
        log.info("operator: %s viewer %s", action, name)
        return {"user": name, "action": action}

    async def _operator_timers(self) -> None:
        """Approvals that ran out are dropped (checked every half second)."""
        while True:
            await self.clock.sleep(0.5)
            now = self.clock.now()
            for item in self.approvals.expire(now):
                self._approval_event(item, "expired")
                log.info("answer to %s dropped: nobody approved it in time", item.job.viewer)

    # ---- persona and product editing ----------------------------------------------------------------------

    def config_files(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.files.files()]

    def read_config_file(self, file_id: str) -> str:
        return self.files.read(file_id)

    def check_config_file(self, file_id: str, text: str) -> CheckResult:
        f = self.files.get(file_id)
        others = None
        if f.kind == "product":
            by_file: dict[str, list[Any]] = {}
            for loaded in self.catalog.loaded:
                if Path(loaded.file).name != f.name:
                    by_file.setdefault(loaded.file, []).append(loaded)
            others = list(by_file.values())
        result = self.files.check(file_id, text, others=others)
        if result.ok and result.persona is not None and result.persona.avatar != self.persona.avatar:
            # A new look is checked as Apply would build it: the portrait through the face models (about a
            # second), the clip's prepared folder, the lip-sync model's shapes. Check runs as the operator types:
            # the verdict for a look is kept, and only its line numbers are found again in the new text.
            from streamer.avatar.check import persona_avatar_problems

            avatar = result.persona.avatar
            key = (avatar.model_copy(deep=True), _files_stamp(avatar))  # a file replaced under the same name counts
            cached = self._avatar_verdict
            if cached is not None and cached[0] == key:
                problems = [
                    dataclasses.replace(p, line=line_of(f.path, tuple(p.field.split(".")), text=text))
                    for p in cached[1]
                ]
            else:
                problems = persona_avatar_problems(f.path, result.persona, text=text)
                self._avatar_verdict = (key, problems)
            result.problems += problems
            if not result.ok:
                result.persona = None
        return result

    async def apply_config_file(self, file_id: str, text: str) -> tuple[CheckResult, bool]:
        """Validate, and only if there is no error: save the file and hot-reload it into the show. A bad edit
        changes nothing: not the file, not the show."""
        async with self._config_lock:
            return await self._apply_config_file(file_id, text)

    async def _apply_config_file(self, file_id: str, text: str, *, from_disk: bool = False) -> tuple[CheckResult, bool]:
        # from_disk: ``text`` is already the file's content (the persona watch read it): nothing is written, and
        # the watch reports the outcome itself.
        # Parsing, file reads and the guard's regexes run off the event loop (the show's timers live on it).
        result = await asyncio.to_thread(self.check_config_file, file_id, text)
        guard: SentenceGuard | None = None
        looks: Looks | None = None
        if result.ok and result.persona is not None:
            persona = result.persona
            try:  # everything that can fail is built before the file is written or the show touched
                guard = await asyncio.to_thread(self._guard_for, persona)
            except GuardRulesError as exc:
                result.problems.append(
                    ConfigProblem(
                        str(result.file.path),
                        None,
                        "banned_topics",
                        f"the guard word lists cannot be read: {exc}",
                        "fix that file, then apply again",
                    )
                )
            if self.scene is not None and self.scene.looks_change(persona):
                try:
                    looks = await asyncio.to_thread(self.scene.build_looks, persona)
                except Exception as exc:  # a look that cannot be drawn (a font missing...) must not reach the show
                    log.warning("the new persona's look cannot be drawn: %s", exc)
                    from streamer.avatar.portrait import AvatarFileError

                    where = exc.field if isinstance(exc, AvatarFileError) else "avatar"
                    line = line_of(result.file.path, tuple(where.split(".")), text=text)
                    result.problems.append(
                        ConfigProblem(str(result.file.path), line, where, f"the new look cannot be drawn: {exc}")
                    )
        if not result.ok:
            if from_disk:
                return result, False
            self.events.add(
                "config",
                self.clock.now(),
                file=file_id,
                kind=result.file.kind,
                ok=False,
                message=f"not applied: {sum(p.is_error for p in result.problems)} error(s)",
            )
            return result, False
        if not from_disk:
            await asyncio.to_thread(self.files.save, result, text)
        if result.persona is not None:
            if self.persona_watch is not None:
                self.persona_watch.mark_applied(text)  # the watch must not apply this content a second time
            self.apply_persona(result.persona, guard=guard, looks=looks)
        else:
            await self.catalog.refresh()
            await self._apply_catalog()
        if not from_disk:
            self.events.add("config", self.clock.now(), file=file_id, kind=result.file.kind, ok=True, message="applied")
        return result, True

    async def _apply_persona_from_disk(self, text: str) -> tuple[bool, list[ConfigProblem]]:
        """The persona watch found ``text`` in the persona file: validate and apply it exactly as the dashboard's
        Apply does, without writing the file. The watch holds the config lock around this call."""
        result, applied = await self._apply_config_file("persona", text, from_disk=True)
        return applied, result.problems

    def _report_persona_file(self, ok: bool, message: str) -> None:
        self.events.add(
            "config", self.clock.now(), file="persona", kind="persona", ok=ok, message=message, source="disk"
        )

    def _guard_for(self, persona: Persona) -> SentenceGuard:
        settings = self.config.brain.guards
        return SentenceGuard(settings=settings, persona=persona, extra_rules_dir=settings.extra_rules_dir)

    def apply_persona(
        self, persona: Persona, *, guard: SentenceGuard | None = None, looks: Looks | None = None
    ) -> None:
        """Hot reload: the next sentences come from the new persona (a changed greeting or name is said at once),
        the look and label language change at the next frame, a new voice loads beside the running one."""
        old, self.persona = self.persona, persona
        greet_again = persona.style.greetings != old.style.greetings or persona.name != old.name
        self.director.set_persona(persona, greet_again=greet_again)
        self.speaker.persona = persona
        guard = guard or self._guard_for(persona)
        guard.counts.update(self.brain.guard.counts)
        self.brain.guard = guard
        self.playout.set_gap(persona.patter.pause_between_sentences_ms / 1000)
        if self.scene is not None:
            if looks is None and self.scene.looks_change(persona):
                looks = self.scene.build_looks(persona)
            self.scene.set_persona(persona, looks)
            if looks is not None and (self.lipsync is not None or persona.avatar.lipsync.engine == "neural"):
                # The engine's face comes from the look: a new look needs a new stage (or none).
                self._tasks.spawn(self._start_lipsync(looks[0]), name="lipsync")
        self.speaker.restart_patter()
        if persona.voice != old.voice:
            self._tasks.spawn(self._swap_voice(persona), name="voice-swap")
        log.info("persona %s applied%s", persona.name, " (greeting again)" if greet_again else "")

    async def _swap_voice(self, persona: Persona) -> None:
        voice = create_voice(persona.voice)
        try:
            # Its own thread: the voice in use keeps synthesising patter meanwhile.
            await asyncio.to_thread(voice.load)
        except VoiceError as exc:
            log.error("the new voice could not load (%s); the previous voice keeps speaking", exc)
            self.events.add(
                "config",
                self.clock.now(),
                file="persona",
                kind="persona",
                ok=False,
                message=f"voice not changed: {exc}",
            )
            return
        self.voice = voice
        self.speaker.voice = voice
        log.info("voice %s in use", getattr(voice, "name", "?"))

    # ---- status ------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        media = self.media
        fps = self.config.video.fps
        frames = media.frames if media else 0
        product = self.director.current_product
        summary = {
            "host": self.persona.name,
            "uptime": _hms(frames / fps),
            "product": product.name if product else "—",
            "voice": f"{getattr(self.voice, 'name', '?')} ({self.voice_state})",
            "fps": f"{media.fps_measured:.1f} / {fps}" if media else "—",
            "frames": frames,
            "late frames": media.pacer.late_frames if media else 0,
            "dropped frames": media.pacer.skipped_frames if media else 0,
            "worst lag": f"{media.pacer.worst_lag_s * 1000:.0f} ms" if media else "—",
            "frame cost": f"{media.tick_s_ewma * 1000:.1f} ms" if media else "—",
            "avatar": self._avatar_summary(),
            "studio": self.scene.background_summary() if self.scene is not None else "—",
            "encoder speed": _speed(media.encode_s_ewma, fps) if media else "—",
            "preview viewers": self.preview_hub.viewers if self.preview_hub else 0,
            "brain": self._brain_summary(),
            "patter distinct-2 (1 h)": f"{self.variety.distinct_2(frames / fps):.2f}",
        }
        if self.triage is not None:
            lat = self.reply_latency_summary()
            summary["replies"] = f"{lat['replies']}"
            summary["reply latency"] = (
                f"p50 {lat['p50_s']:.2f} s, p95 {lat['p95_s']:.2f} s" if lat["replies"] else "— (no replies yet)"
            )
            summary["chat waiting"] = self.triage.pending()
            summary["approval"] = f"on, {len(self.approvals)} waiting" if self.approvals.enabled else "off"
        summary["patter"] = "paused" if self.speaker.patter_paused else "running"
        for src in self.chat_sources:
            summary[f"chat {src.name}"] = src.stats().get("state", "?")
        stats = [o.stats() for o in self.outputs]
        for st in stats:
            if st["name"] != "preview":
                summary[f"out {st['name']}"] = st["state"]
        return {
            "summary": summary,
            "outputs": [st for st in stats if st["name"] != "preview"],
            "spoken": [{"text": h.text, "kind": h.kind, "interrupted": h.interrupted} for h in self.spoken],
            "stats": {
                **self.speaker.summary(),
                "repeats_blocked": self.director.repeats_blocked,
                "first_frame_s": self.stats.first_frame_s,
                "voice_ready_s": self.stats.voice_ready_s,
                "guard_actions": dict(self.brain.guard.counts),
                "answers": dict(self.brain.offline.counts),
                "llm": self._llm_metrics(),
                "reply_latency": self.reply_latency_summary(),
                "chat": self.triage.stats() if self.triage is not None else None,
            },
            "chat": [e.as_dict() for e in self.events.recent(limit=30)],
        }

    def _avatar_summary(self) -> str:
        """The avatar kind, how its lips are made, and what drawing it costs per frame."""
        kind = self.persona.avatar.kind
        if kind == "cartoon":
            how = "drawn"
        elif self.lipsync is not None:
            how = f"lip-sync: {self.lipsync.summary()}"
        elif self.lipsync_problem is not None:
            how = f"lip-sync: warp (CPU); {self.lipsync_problem}"
        else:
            how = "lip-sync: warp (CPU)"
        cost = f", {self.scene.avatar_s_ewma * 1000:.1f} ms/frame" if self.scene is not None else ""
        return f"{kind} ({how}){cost}"

    def metrics_text(self) -> str:
        """The health figures in Prometheus text format (no secrets, no viewer text)."""
        media = self.media
        fps = self.config.video.fps
        lat = list(self.reply_latencies)
        lines = [
            "# TYPE livehost_frames_total counter",
            f"livehost_frames_total {media.frames if media else 0}",
            "# TYPE livehost_late_frames_total counter",
            f"livehost_late_frames_total {media.pacer.late_frames if media else 0}",
            "# TYPE livehost_worst_lag_seconds gauge",
            f"livehost_worst_lag_seconds {media.pacer.worst_lag_s if media else 0:.4f}",
            "# TYPE livehost_frame_cost_seconds gauge",
            f"livehost_frame_cost_seconds {media.tick_s_ewma if media else 0:.5f}",
            "# TYPE livehost_avatar_render_seconds gauge",
            f"livehost_avatar_render_seconds {self.scene.avatar_s_ewma if self.scene else 0:.5f}",
            "# TYPE livehost_background_repeated_frames_total counter",
            f"livehost_background_repeated_frames_total {self.scene.background_repeated if self.scene else 0}",
            "# TYPE livehost_fps gauge",
            f"livehost_fps {media.fps_measured if media else 0:.2f}",
            "# TYPE livehost_dropped_frames_total counter",
            f"livehost_dropped_frames_total {media.pacer.skipped_frames if media else 0}",
            "# TYPE livehost_encode_seconds gauge",
            f"livehost_encode_seconds {media.encode_s_ewma if media else 0:.5f}",
            "# TYPE livehost_operator_lines_total counter",
            f"livehost_operator_lines_total {self.speaker.stats.operator_lines}",
            "# TYPE livehost_approvals_total counter",
            *(f'livehost_approvals_total{{outcome="{k}"}} {v}' for k, v in sorted(self.approvals.counts.items())),
            "# TYPE livehost_uptime_seconds gauge",
            f"livehost_uptime_seconds {(media.frames if media else 0) / fps:.1f}",
            "# TYPE livehost_voice_ready gauge",
            f"livehost_voice_ready {1 if self.voice_state == 'ready' else 0}",
            "# TYPE livehost_voice_streamed_total counter",
            f"livehost_voice_streamed_total {getattr(self.voice, 'streamed', 0)}",
            "# TYPE livehost_speech_underrun_frames_total counter",
            f"livehost_speech_underrun_frames_total {self.playout.underruns}",
            "# TYPE livehost_replies_total counter",
            f"livehost_replies_total {self.speaker.stats.replies}",
            "# TYPE livehost_reply_latency_seconds summary",
        ]
        for q in (0.5, 0.95):
            value = percentile(lat, q) if lat else float("nan")
            lines.append(f'livehost_reply_latency_seconds{{quantile="{q}"}} {value:.3f}')
        lines.append("# TYPE livehost_output_up gauge")
        for output in self.outputs:
            if output is not self.preview_hub:
                lines.append(f'livehost_output_up{{target="{output.name}"}} {int(output.live)}')
        lines.append("# TYPE livehost_guard_actions_total counter")
        for kind, n in sorted(self.brain.guard.counts.items()):
            lines.append(f'livehost_guard_actions_total{{kind="{kind}"}} {n}')
        return "\n".join(lines) + "\n"

    def _brain_summary(self) -> str:
        name = self.brain.brain.name
        if name == "llm":
            metrics = self._llm_metrics() or {}
            return f"llm (breaker {metrics.get('breaker_state', '?')}), offline fallback"
        return "offline" + (" (lexical fallback)" if self.brain.offline.degraded else " (MiniLM)")

    def _llm_metrics(self) -> dict[str, Any] | None:
        metrics = getattr(self.brain.brain, "metrics", None)
        return metrics() if callable(metrics) else None

    async def _status_log(self) -> None:
        ticks = 0
        while True:
            await self.clock.sleep(10.0)
            ticks += 1
            if ticks % 6 == 0:
                release_free_memory()
            s = self.status()["summary"]
            outs = " | ".join(f"{k[4:]} {v}" for k, v in s.items() if k.startswith("out "))
            log.info(
                "status: up %s, product %s, frames %s (late %s, worst lag %s), frame cost %s, voice %s%s",
                s["uptime"],
                s["product"],
                s["frames"],
                s["late frames"],
                s["worst lag"],
                s["frame cost"],
                s["voice"],
                f", outputs: {outs}" if outs else "",
            )


def _speed(encode_s: float, fps: int) -> str:
    return f"{1.0 / (encode_s * fps):.1f}× real time" if encode_s > 0 else "—"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def default_recording_path(recordings_dir: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return str(Path(recordings_dir) / f"show-{stamp}.flv")


def _files_stamp(avatar: Any) -> tuple[tuple[str, float, int] | None, ...]:
    """(path, mtime, size) of each file a look reads (portrait, clip, background, lip-sync model): a Check of the
    same look is reused only while none of them changed."""
    stamps: list[tuple[str, float, int] | None] = []
    for value in (avatar.image, avatar.clip, avatar.background, avatar.lipsync.model):
        try:
            st = Path(value).stat() if value and not str(value).startswith("#") else None
        except OSError:
            st = None
        stamps.append((str(value), st.st_mtime, st.st_size) if st is not None else None)
    return tuple(stamps)
