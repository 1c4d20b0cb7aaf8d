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
import itertools
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamer.brain.embed import preload_model_libraries
from streamer.brain.factory import BrainKit, build_brain
from streamer.brain.offline import VarietyMeter
from streamer.chat.events import ChatEventLog
from streamer.chat.sources import ChatSource, create_source
from streamer.chat.triage import ChatTriage
from streamer.clock import Clock, MonotonicClock
from streamer.config import Persona, ProductSheet, StreamConfig
from streamer.director import ShowDirector
from streamer.frames import AUDIO_RATE_HZ, ChatMessage, HeardSpeech, SpeechSegment
from streamer.gate import MODEL_IMPORT_GATE
from streamer.memory import release_free_memory
from streamer.playout import SpeechPlayout
from streamer.products.catalog import ProductCatalog
from streamer.publish.auth import TOKEN_ENV, DashboardAuth
from streamer.publish.auth import dashboard_token as auth_token_from_env
from streamer.publish.encoder import AVEncoder
from streamer.publish.media_loop import MediaEvents, MediaLoop, PacketOutput
from streamer.publish.preview import PreviewHub, PreviewServer
from streamer.publish.sinks import MuxSink, Target
from streamer.scene import Card, Scene
from streamer.speaker import SPEECH_LOW_WATER_S, ReplyJob, Speaker, spoken_name, thanks_sentences
from streamer.tasks import TaskOwner
from streamer.voice.base import VoiceBackend, VoiceError, create_voice

log = logging.getLogger(__name__)

DRAIN_DEADLINE_S = 15.0
#: Speech voiced ahead before torch is imported (the import holds synthesis back for a few seconds).
MODEL_IMPORT_SPEECH_AHEAD_S = 9.0


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
    ) -> None:
        self.config = config
        self.persona = persona
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
        self.catalog = ProductCatalog(products_source, refresh_s=config.show.products_refresh_s)
        self.director = ShowDirector(persona=persona, sections_per_product=config.show.sections_per_product)
        self.playout = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=persona.patter.pause_between_sentences_ms / 1000)
        self.rng = random.Random(config.show.seed)
        self.stats = ShowStats()
        self.spoken: collections.deque[HeardSpeech] = collections.deque(maxlen=50)
        self.voice_state = "loading"
        self._tasks = TaskOwner("show", on_failure=self._task_failed)
        self._voice_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="voice", initializer=_lower_thread_priority
        )
        # Replies get their own voice thread at normal priority: patter synthesis never delays an answer.
        self._reply_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="reply-voice")
        self._brain_pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="brain", initializer=_lower_thread_priority
        )
        self.chat_events = ChatEventLog()
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
        self.sinks: list[MuxSink] = []
        self.preview_hub: PreviewHub | None = None
        self.preview_server: PreviewServer | None = None
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
        self.scene = Scene(persona=self.persona, width=v.width, height=v.height, seed=self.config.show.seed or 0)
        self.encoder = AVEncoder(video=v, audio=self.config.audio)
        encoder = self.encoder
        outputs: list[PacketOutput] = []
        for target in self.targets:
            sink = MuxSink(
                target,
                video_template=encoder.video_stream,
                audio_template=encoder.audio_stream,
                on_connected=self._on_sink_connected,
                max_backoff_s=self.config.reconnect_max_backoff_s,
            )
            sink.want_keyframe = encoder.request_keyframe
            self.sinks.append(sink)
            outputs.append(sink)
        if self.preview_enabled:
            self.preview_hub = PreviewHub(
                video_template=encoder.video_stream,
                audio_template=encoder.audio_stream,
                want_keyframe=encoder.request_keyframe,
                loop=loop,
            )
            outputs.append(self.preview_hub)
        max_frames = round(self.duration_s * v.fps) if self.duration_s else None
        self.media = MediaLoop(
            fps=v.fps,
            renderer=self.scene,
            playout=self.playout,
            encoder=encoder,
            outputs=outputs,
            clock=self.clock,
            on_events=lambda ev: loop.call_soon_threadsafe(self._on_media_events, ev),
            max_frames=max_frames,
            on_finished=lambda: loop.call_soon_threadsafe(self._finished.set),
        )
        for sink in self.sinks:
            sink.start()
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
            self.preview_server = PreviewServer(
                self.preview_hub,
                status=self.status,
                host=self.config.preview.host,
                port=self.config.preview.port,
                auth=self.auth,
                events=self.chat_events if self.triage is not None else None,
                metrics=self.metrics_text,
            )
            try:
                await self.preview_server.start()
                log.info("watch the show at %s (sign in with the dashboard token)", self.preview_server.url)
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
        if not self._finished.is_set() and not self._hard_stop:
            # Drain: no new sentences; let the current one finish (bounded), then stop the clock.
            if self._speaker is not None:
                self._speaker.cancel()
            self.playout.drop_queued()
            deadline = time.monotonic() + DRAIN_DEADLINE_S
            # Polled: the media thread ends the sentence; 50 ms granularity is plenty for a shutdown.
            while not self.playout.idle and time.monotonic() < deadline and not self._hard_stop:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            heard = self.playout.interrupt()
            if heard is not None:
                self._record_heard(heard)
        self.media.stop()
        await asyncio.to_thread(self.media.join, 10.0)
        await self._tasks.aclose()
        drain = not self._hard_stop
        results = await asyncio.gather(*(asyncio.to_thread(s.close, drain=drain, timeout_s=8.0) for s in self.sinks))
        if not all(results):
            log.error("some outputs did not close cleanly")
        if self.preview_server is not None:
            await self.preview_server.aclose()
        if self.encoder is not None:
            self.encoder.close()
        self._voice_pool.shutdown(wait=False, cancel_futures=True)
        self._reply_pool.shutdown(wait=False, cancel_futures=True)
        self._brain_pool.shutdown(wait=False, cancel_futures=True)
        await self.brain.aclose()
        log.info(
            "show stopped after %d frames (%.1f s of media)",
            self.media.frames,
            self.media.frames / self.config.video.fps,
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
            # torch is imported behind the exclusive gate: synthesis (which probes for torch through scipy) waits
            # the few seconds it takes instead of failing on a half-imported module. So first let the speaker
            # voice several seconds ahead; the host keeps talking while the import runs.
            self.speaker.low_water_s = MODEL_IMPORT_SPEECH_AHEAD_S
            deadline = time.monotonic() + 15.0
            # Polled: the buffer fills from the media thread's side; 100 ms granularity is plenty here.
            while self.playout.buffered_s() < MODEL_IMPORT_SPEECH_AHEAD_S - 2 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            await loop.run_in_executor(self._brain_pool, _import_models_exclusively)
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
        # Greet with the first product's name when the catalog is there; a slow feed does not keep the host quiet.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._catalog_ready.wait(), timeout=5.0)
        await self.speaker.run()

    # ---- chat ----------------------------------------------------------------------------------------------

    def _on_chat(self, msg: ChatMessage) -> None:
        """Every incoming comment: triage decides (and records why); a queued one wakes the speaker."""
        assert self.triage is not None
        now = self.clock.now()
        decision = self.triage.offer(msg, now, products=self.director.products, on_screen=self.director.current_product)
        self.chat_events.add("comment", now, **decision.as_dict())
        log.debug(
            "chat %s %s: %r -> %s (%s)", msg.source, decision.user, decision.text, decision.outcome, decision.reason
        )
        self.speaker.last_chat_s = now
        if decision.outcome in ("queued", "merged"):
            self.speaker.wake.set()

    async def _next_reply(self) -> ReplyJob | None:
        assert self.triage is not None
        pick = self.triage.next(self.clock.now())
        if pick is None:
            return None
        job = ReplyJob(
            reply_id=f"r{next(self._job_ids)}",
            kind=pick.kind,
            viewer=spoken_name(pick.user),
            text=pick.text,
            arrived_s=min(m.received_s for m in pick.messages) if pick.messages else self.clock.now(),
            source=pick.messages[0].source if pick.messages else None,
        )
        if pick.kind == "thanks" or (pick.kind == "purchase" and not pick.text):
            job.sentences = thanks_sentences(self.persona, [spoken_name(u) for u in pick.users], self.rng)
        elif pick.kind == "deflect":
            job.sentences = [pick.text]  # a fixed safe line from triage, never the viewer's words
        self._jobs[job.reply_id] = job
        while len(self._jobs) > 100:
            self._jobs.popitem(last=False)
        log.info("answering %s from %s (%s): %s", pick.kind, job.viewer, pick.reason, job.text)
        return job

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
        self.chat_events.add(
            "reply",
            out_s,
            reply_id=job.reply_id,
            kind=job.kind,
            user=job.viewer,
            question=job.text,
            latency_s=round(latency, 3),
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
        values = sorted(self.reply_latencies)
        if not values:
            return {"replies": 0, "p50_s": None, "p95_s": None}
        return {
            "replies": len(values),
            "p50_s": round(values[len(values) // 2], 3),
            "p95_s": round(values[min(len(values) - 1, int(0.95 * (len(values) - 1) + 0.5))], 3),
        }

    # ---- events from the media thread -----------------------------------------------------------------------

    def _on_media_events(self, ev: MediaEvents) -> None:
        for seg in ev.started:
            if seg.kind in ("reply", "reply_more"):
                self._on_reply_heard(seg, ev.frame)
            if seg.kind in ("patter", "transition"):
                self.variety.add(seg.text, ev.frame / self.config.video.fps)
            log.info("says [%s%s]: %s", seg.kind, f" {seg.product_id}" if seg.product_id else "", seg.text)
        for heard in ev.finished:
            self._record_heard(heard)
            if heard.interrupted:
                self.speaker.forget_unheard(heard.sentence)

    def _record_heard(self, heard: HeardSpeech) -> None:
        self.spoken.append(heard)

    def _on_sink_connected(self, sink: MuxSink) -> None:
        # Runs in the sink's thread: a fresh viewer of this target must see the AI notice and a keyframe now.
        if self.encoder is not None:
            self.encoder.request_keyframe()
        if self.scene is not None and sink.connects > 1:
            self.scene.show_notice()

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
            "frames": frames,
            "late frames": media.pacer.late_frames if media else 0,
            "worst lag": f"{media.pacer.worst_lag_s * 1000:.0f} ms" if media else "—",
            "frame cost": f"{media.tick_s_ewma * 1000:.1f} ms" if media else "—",
            "preview viewers": self.preview_hub.viewers if self.preview_hub else 0,
            "brain": self._brain_summary(),
            "patter distinct-2 (1 h)": f"{self.variety.distinct_2(frames / fps):.2f}",
        }
        if self.triage is not None:
            lat = self.reply_latency_summary()
            summary["replies"] = f"{lat['replies']} (p50 {lat['p50_s']} s, p95 {lat['p95_s']} s)"
            summary["chat waiting"] = self.triage.pending()
        for src in self.chat_sources:
            summary[f"chat {src.name}"] = src.stats().get("state", "?")
        for s in self.sinks:
            summary[f"out {s.target.display}"] = s.state.value
        return {
            "summary": summary,
            "outputs": [s.stats() for s in self.sinks],
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
            "chat": [e.as_dict() for e in self.chat_events.recent(limit=30)],
        }

    def metrics_text(self) -> str:
        """The health figures in Prometheus text format (no secrets, no viewer text)."""
        media = self.media
        fps = self.config.video.fps
        lat = sorted(self.reply_latencies)
        lines = [
            "# TYPE livehost_frames_total counter",
            f"livehost_frames_total {media.frames if media else 0}",
            "# TYPE livehost_late_frames_total counter",
            f"livehost_late_frames_total {media.pacer.late_frames if media else 0}",
            "# TYPE livehost_worst_lag_seconds gauge",
            f"livehost_worst_lag_seconds {media.pacer.worst_lag_s if media else 0:.4f}",
            "# TYPE livehost_frame_cost_seconds gauge",
            f"livehost_frame_cost_seconds {media.tick_s_ewma if media else 0:.5f}",
            "# TYPE livehost_uptime_seconds gauge",
            f"livehost_uptime_seconds {(media.frames if media else 0) / fps:.1f}",
            "# TYPE livehost_voice_ready gauge",
            f"livehost_voice_ready {1 if self.voice_state == 'ready' else 0}",
            "# TYPE livehost_replies_total counter",
            f"livehost_replies_total {self.speaker.stats.replies}",
            "# TYPE livehost_reply_latency_seconds summary",
        ]
        for q in (0.5, 0.95):
            value = lat[min(len(lat) - 1, int(q * (len(lat) - 1) + 0.5))] if lat else float("nan")
            lines.append(f'livehost_reply_latency_seconds{{quantile="{q}"}} {value:.3f}')
        lines.append("# TYPE livehost_output_up gauge")
        for sink in self.sinks:
            up = 1 if sink.state.value == "live" else 0
            lines.append(f'livehost_output_up{{target="{sink.target.display}"}} {up}')
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


def _import_models_exclusively() -> None:
    with MODEL_IMPORT_GATE.exclusive():
        preload_model_libraries()


def _lower_thread_priority() -> None:
    """Voice synthesis yields the CPU to the media thread (Linux: per-thread nice); it only has to stay ahead."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def default_recording_path(recordings_dir: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return str(Path(recordings_dir) / f"show-{stamp}.flv")
