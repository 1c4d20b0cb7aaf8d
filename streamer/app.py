"""Wiring: one channel is products -> director + brain -> voice -> playout -> (avatar + compositor) -> encoder ->
outputs, plus the chat that feeds it and the operator's dashboard around it.

:class:`Channel` is built from a :class:`ChannelSpec` (data only: persona, products, outputs, size, chat, brain,
dashboard) and owns its lifecycle: :meth:`Channel.start` puts it on air (the media loop shows idle frames at once;
the catalog and the voice load beside it), :meth:`Channel.drain` finishes the sentence on air (bounded),
:meth:`Channel.aclose` closes everything within a deadline; ``async with Channel(spec)`` does both, and
:meth:`Channel.run` runs it until it is asked to stop. Reply routing (:mod:`streamer.routing`), operator control
(:mod:`streamer.control`), config hot reload (:mod:`streamer.hot_reload`) and health (:mod:`streamer.health`) live
in their own modules around it. Nothing here is process-wide: process setup is
:func:`streamer.process.bootstrap_process`, called once by whoever runs channels.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamer.audit import AuditError, AuditLog, AuditRecord, open_audit_log
from streamer.brain.embed import preload_model_libraries
from streamer.brain.factory import BrainKit, build_brain
from streamer.brain.guards import SentenceGuard
from streamer.brain.offline import VarietyMeter
from streamer.chat.events import ChatEventLog
from streamer.chat.sources import ChatSource, create_source
from streamer.chat.triage import ChatTriage
from streamer.clock import Clock, MonotonicClock
from streamer.config import Persona, ProductSheet, StreamConfig, with_device
from streamer.control import OperatorControl
from streamer.dashboard.approvals import ApprovalDesk
from streamer.dashboard.auth import LOGIN_CODE_TTL_S, TOKEN_ENV, DashboardAuth
from streamer.dashboard.auth import dashboard_token as auth_token_from_env
from streamer.dashboard.server import DashboardServer
from streamer.director import ShowDirector
from streamer.frames import AUDIO_RATE_HZ, HeardSpeech, SpeechSegment
from streamer.health import ChannelHealth
from streamer.hot_reload import ConfigEditor
from streamer.playout import SpeechPlayout
from streamer.process import lower_thread_priority
from streamer.products.catalog import ProductCatalog
from streamer.publish.aigc import aigc_metadata, new_production_id
from streamer.publish.media_loop import MediaEvents, MediaLoop
from streamer.publish.outputs import Output, Outputs, open_outputs
from streamer.publish.platforms import load_platforms, spoken_disclosure_every_min
from streamer.publish.preview import PreviewHub
from streamer.publish.sinks import Target
from streamer.publish.whep import WhepHub
from streamer.routing import ReplyRouter
from streamer.scene import Card, Looks, Scene
from streamer.speaker import Speaker
from streamer.tasks import TaskOwner
from streamer.voice.base import VoiceBackend, VoiceError, create_voice

log = logging.getLogger(__name__)

DRAIN_DEADLINE_S = 2.0
"""On a stop request the sentence on air may finish if it ends within this; past it, it is cut (the whole shutdown
must fit systemd's and the operator's patience: 5 s)."""
CLOSE_DEADLINE_S = 5.0
""":meth:`Channel.aclose`'s default budget, drain included."""
#: A channel asked to stop as it starts still writes this much, so every recording it leaves is playable.
MIN_RECORDING_S = 0.5
#: How long the shutdown waits for each of: the dashboard's connections, a worker pool's current job.
CLOSE_STEP_S = 0.5
#: How long closing outputs may take at most (flushing a recording, an RTMP server's goodbye).
OUTPUT_CLOSE_S = 2.0
#: Speech voiced ahead before torch is imported (the import holds synthesis back for a few seconds).
MODEL_IMPORT_SPEECH_AHEAD_S = 9.0


@dataclass(slots=True, kw_only=True)
class ChannelSpec:
    """What one channel is, as data (picklable: a fleet sends it to the process that runs the channel).

    ``config`` carries the size (``video``), ``chat``, ``brain`` and ``dashboard`` (``preview``) settings;
    ``products`` is a folder, file or URL of product sheets; ``outputs`` the parsed targets (RTMP, files).
    ``persona_path``: the persona's file, watched for the operator's own edits and editable from the dashboard.
    ``dashboard``: overrides ``config.preview.enabled``. ``dashboard_token``: None takes it from the environment
    (or generates one and prints it once)."""

    name: str = "show"
    config: StreamConfig
    persona: Persona
    products: str
    outputs: list[Target] = field(default_factory=list)
    persona_path: str | Path | None = None
    duration_s: float | None = None
    dashboard: bool | None = None
    dashboard_token: str | None = None
    device: str | None = None
    """``run --device cuda|cpu``: where the models run (the Coqui voices and the neural lip-sync engine), over what
    the persona says, for every persona this channel is given (a hot reload too). None: the persona's own."""


@dataclass(slots=True)
class ChannelStats:
    started_monotonic: float = field(default_factory=time.monotonic)
    first_frame_s: float | None = None
    voice_ready_s: float | None = None


class Channel:
    """One live show: see the module docstring. ``clock``, ``voice`` and ``brain`` replace the defaults (tests)."""

    def __init__(
        self,
        spec: ChannelSpec,
        *,
        clock: Clock | None = None,
        voice: VoiceBackend | None = None,
        brain: BrainKit | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        config = self.config = spec.config
        persona = self.persona = with_device(spec.persona, spec.device)
        self.targets = spec.outputs
        self.duration_s = spec.duration_s
        self.clock = clock or MonotonicClock()
        self.voice = voice or create_voice(persona.voice)
        self.brain: BrainKit = brain or build_brain(config.brain, persona)
        self.variety = VarietyMeter(window_s=3600.0)
        self.preview_enabled = config.preview.enabled if spec.dashboard is None else spec.dashboard
        self.platforms = load_platforms(config.platform_rules)
        """The platform rules the outputs follow (shipped, plus the operator's ``platform_rules`` file)."""
        self.production_id = new_production_id(spec.name)
        """This show's id in its AI-generation labels (container tags, recording sidecars)."""
        if spec.dashboard_token is not None:
            self._token, self._token_generated = spec.dashboard_token, False
        else:
            self._token, self._token_generated = auth_token_from_env()
        self.auth = DashboardAuth(self._token)
        self.catalog = ProductCatalog(
            spec.products, refresh_s=config.show.products_refresh_s, clock=self.clock.now, sleep=self.clock.sleep
        )
        self.director = ShowDirector(persona=persona, sections_per_product=config.show.sections_per_product)
        self.playout = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=persona.patter.pause_between_sentences_ms / 1000)
        self.rng = random.Random(config.show.seed)
        self.stats = ChannelStats()
        self.spoken: collections.deque[HeardSpeech] = collections.deque(maxlen=50)
        self.voice_state = "loading"
        self.lipsync: Any = None
        """The neural lip-sync stage (when the persona has a neural engine that loaded)."""
        self.lipsync_problem: str | None = None
        self._tasks = TaskOwner(f"channel {spec.name}", on_failure=self._task_failed)
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
        self.on_air: SpeechSegment | None = None
        """The last patter/transition/greeting segment that started: what the show is talking about."""
        self.audit: AuditLog | None = None
        """Every utterance as heard (see :mod:`streamer.audit`); opened by :meth:`start`."""
        self.audit_problem: str | None = None
        self._segments: collections.OrderedDict[int, tuple[float, str | None]] = collections.OrderedDict()
        """Per segment on air: (media seconds when it started, the reply it answers): for the audit log."""
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
        self.router = ReplyRouter(
            triage=self.triage,
            sources=self.chat_sources,
            director=self.director,
            approvals=self.approvals,
            events=self.events,
            clock=self.clock,
            rng=self.rng,
            persona=lambda: self.persona,
            tasks=self._tasks,
        )
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
            next_reply=self.router.next_reply if self.triage is not None else None,
            question_waiting=self.triage.question_waiting if self.triage is not None else None,
            quiet_invite_s=config.chat.invite_after_quiet_s,
            platform_disclosure_every_min=spoken_disclosure_every_min(self.targets, self.platforms),
        )
        self.router.speaker = self.speaker
        self.health = ChannelHealth(self)
        self.editor = ConfigEditor(self, persona_path=spec.persona_path, products_source=spec.products)
        self.control = OperatorControl(self)
        self._stop_requested = asyncio.Event()
        self._finished = asyncio.Event()
        self._hard_stop = False
        self._started = False
        self._drained = False
        self._closed: asyncio.Future[None] | None = None
        self._speaker: asyncio.Task[Any] | None = None
        self._catalog_ready = asyncio.Event()
        self._voice_done = asyncio.Event()
        self._models_imported = False
        self.scene: Scene | None = None
        self.opened: Outputs | None = None
        """The outputs and the encoders they want (one per distinct profile)."""
        self.media: MediaLoop | None = None
        self.outputs: list[Output] = []
        """Every place the encode goes (targets, recordings, the dashboard's preview)."""
        self.preview_hub: PreviewHub | None = None
        self.whep_hub: WhepHub | None = None
        self.preview_server: DashboardServer | None = None
        self.exit_code = 0

    # ---- lifecycle ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> Channel:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def request_stop(self) -> None:
        """First call: drain and stop (:meth:`run` returns after :meth:`aclose`). Second call: stop now."""
        if self._stop_requested.is_set():
            log.warning("second stop request: stopping now")
            self._hard_stop = True
            if self.media is not None:
                self.media.stop()
        self._stop_requested.set()

    def _task_failed(self, task: asyncio.Task[Any], exc: BaseException) -> None:
        log.error("a task of channel %s died (%s); stopping it", self.name, task.get_name())
        self.exit_code = 1
        self._stop_requested.set()

    async def run(self) -> int:
        """Start, stay on air until :meth:`request_stop` (or ``duration_s``), then close; the exit code."""
        try:
            await self.start()
            await self.wait()
        finally:
            await self.aclose()
        if self.media is not None and self.media.error is not None:
            self.exit_code = 1
        return self.exit_code

    async def wait(self) -> None:
        """Until a stop is requested or the media loop ends (``duration_s``, an error)."""
        stop_wait = asyncio.ensure_future(self._stop_requested.wait())
        finish_wait = asyncio.ensure_future(self._finished.wait())
        try:
            await asyncio.wait({stop_wait, finish_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            finish_wait.cancel()

    async def start(self) -> None:
        """On air: the media loop runs (idle frames at once), the outputs connect, the dashboard listens, and the
        catalog, the voice and the chat start loading beside them. Returns once the first frame is on its way."""
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        v = self.config.video
        # Off the loop: a photo or video look reads its portrait or footage with the face models (about a second).
        self.scene = await asyncio.to_thread(
            Scene, persona=self.persona, width=v.width, height=v.height, seed=self.config.show.seed or 0
        )
        try:
            self.audit = await asyncio.to_thread(open_audit_log, self.config)
        except AuditError as exc:  # the show goes on; status and the log say the trail is not being kept
            self.audit_problem = str(exc)
            log.error("audit log not kept: %s", exc)
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
        self.opened = opened = open_outputs(
            self.targets,
            video=v,
            audio=self.config.audio,
            on_connected=self._on_output_connected,
            max_backoff_s=self.config.reconnect_max_backoff_s,
            now=self.clock.now,
            preview_loop=loop if self.preview_enabled else None,
            platforms=self.platforms,
            metadata=aigc_metadata(self.config.aigc, self.persona.name, self.name, self.production_id),
        )
        self.outputs, self.preview_hub, self.whep_hub = opened.all, opened.preview, opened.whep
        if self.whep_hub is not None and self.config.preview.host in ("127.0.0.1", "localhost", "::1"):
            # A dashboard for this machine only: its WebRTC preview offers loopback candidates only.
            self.whep_hub.host_addresses = ["::1" if self.config.preview.host == "::1" else "127.0.0.1"]
        max_frames = round(self.duration_s * v.fps) if self.duration_s else None
        self.media = MediaLoop(
            fps=v.fps,
            renderer=self.scene,
            playout=self.playout,
            encodings=opened.encodings,
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
            "show started: %s %dx%d@%d, outputs: %s",
            self.name,
            v.width,
            v.height,
            v.fps,
            ", ".join(t.display for t in self.targets) or "none",
        )
        if self.preview_hub is not None:
            await self._start_dashboard(self.preview_hub, opened.whep)
        self._tasks.spawn(self._load_catalog_then_watch(), name="catalog")
        self._speaker = self._tasks.spawn(self._load_voice_then_speak(), name="speaker")
        self._tasks.spawn(self.health.run_status_log(), name="status-log")
        self._tasks.spawn(self.control.run_timers(), name="operator-timers")
        if self.editor.watch is not None:
            self._tasks.spawn(self.editor.watch.run(), name="persona-watch")
        for source in self.chat_sources:
            self._tasks.spawn(source.run(self.router.on_chat), name=f"chat:{source.name}")

    async def _start_dashboard(self, hub: PreviewHub, whep: WhepHub | None) -> None:
        server = DashboardServer(
            hub,
            control=self.control,
            host=self.config.preview.host,
            port=self.config.preview.port,
            auth=self.auth,
            whep=whep,
            allowed_hosts=self.config.preview.allowed_hosts,
        )
        try:
            await server.start()
        except OSError as exc:
            log.error(
                "preview server could not listen on %s:%d (%s); the show goes on without it",
                self.config.preview.host,
                self.config.preview.port,
                exc.strerror or exc,
            )
            return
        self.preview_server = server
        log.info("dashboard at %s (sign in with the dashboard token)", server.url)
        if self._token_generated:
            # Printed once, on the console only (never logged): the operator's way in.
            print(
                f"\n  Open {server.url}login?code={self.auth.login_code()}\n"
                f"  (the link signs in once, within {LOGIN_CODE_TTL_S / 60:.0f} minutes; later, sign in with the token"
                f" {self._token}, or set {TOKEN_ENV} to choose it yourself)\n",
                flush=True,
            )

    async def drain(self, deadline_s: float = DRAIN_DEADLINE_S) -> None:
        """No new sentences from here on; the one on air may finish if it ends within ``deadline_s`` (past it, it
        is cut when the pictures stop). A channel asked to stop as it starts first writes ``MIN_RECORDING_S`` of
        frames, so every recording it leaves is playable. Idempotent; pictures keep flowing until :meth:`aclose`."""
        if self._drained or self.media is None:
            return
        self._drained = True
        if not self._finished.is_set():
            if self._speaker is not None:
                self._speaker.cancel()
            self.playout.drop_queued()
        first = round(MIN_RECORDING_S * self.config.video.fps)
        deadline = time.monotonic() + 3.0
        while self.media.frames < first and not self._hard_stop and time.monotonic() < deadline:
            if self._finished.is_set() or self.media.error is not None:
                break
            await asyncio.sleep(0.02)
        if not self._finished.is_set() and not self._hard_stop:
            until = self.clock.now() + deadline_s
            # Polled: the media thread ends the sentence; 50 ms granularity is plenty for a shutdown.
            while not self.playout.idle and self.clock.now() < until and not self._hard_stop:
                await self.clock.sleep(0.05)

    async def aclose(self, deadline_s: float = CLOSE_DEADLINE_S) -> None:
        """Drain (unless a hard stop was asked), stop the pictures, close every output (recordings playable),
        the dashboard and the workers, all within about ``deadline_s``. Idempotent: a second call waits for the
        first."""
        if self._closed is not None:
            await asyncio.shield(self._closed)
            return
        self._closed = asyncio.get_running_loop().create_future()
        try:
            await self._close(deadline_s)
        finally:
            self._closed.set_result(None)

    async def _close(self, deadline_s: float) -> None:
        began = time.monotonic()
        took: dict[str, float] = {}

        def mark(step: str) -> None:
            took[step] = round(time.monotonic() - began - sum(took.values()), 2)

        def left(at_most: float) -> float:
            return max(0.2, min(at_most, began + deadline_s - time.monotonic()))

        await self.drain(min(DRAIN_DEADLINE_S, max(0.0, deadline_s - 3.0)))
        mark("drain")
        media = self.media
        if media is not None:
            media.stop()
            if not await asyncio.to_thread(media.join, left(deadline_s)):
                log.error("the media thread did not stop in time")
        mark("media")
        # Whatever was on air when the pictures stopped (a hard stop, the end of --duration) is in the transcript
        # as far as it was heard.
        heard = self.playout.interrupt()
        if heard is not None:
            self._record_heard(heard)
        if self.audit is not None:
            await self.audit.aclose()
        await self._tasks.aclose(timeout_s=left(1.0))
        await self.catalog.aclose()
        mark("tasks")
        drain = not self._hard_stop
        timeout_s = left(OUTPUT_CLOSE_S)
        closing: list[Coroutine[Any, Any, bool | None]] = [
            asyncio.to_thread(o.close, drain=drain, timeout_s=timeout_s) for o in self.outputs
        ]
        if self.preview_server is not None:  # at the same time: tabs and event streams end
            closing.append(self.preview_server.aclose(timeout_s=CLOSE_STEP_S))
        results = await asyncio.gather(*closing)
        if not all(r is not False for r in results):
            log.error("some outputs did not close cleanly")
        mark("outputs")
        if self.opened is not None:
            self.opened.close()
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
        frames = media.frames if media is not None else 0
        log.info(
            "show stopped after %d frames (%.1f s of media); shutdown took %.2f s (%s)",
            frames,
            frames / self.config.video.fps,
            time.monotonic() - began,
            ", ".join(f"{k} {v:.2f}" for k, v in took.items()),
        )

    def status(self) -> dict[str, Any]:
        """Health and what is on air (see :mod:`streamer.health`)."""
        return self.health.status()

    @property
    def dashboard_url(self) -> str | None:
        """Where its dashboard listens (None: none)."""
        return self.preview_server.url if self.preview_server is not None else None

    @property
    def stopped(self) -> bool:
        """Closing or closed (a stop was asked for, or its ``duration_s`` ran out)."""
        return self._closed is not None or self._finished.is_set()

    # ---- catalog -----------------------------------------------------------------------------------------

    async def _load_catalog_then_watch(self) -> None:
        await self.catalog.refresh()
        await self._apply_catalog()
        self._catalog_ready.set()
        await self.catalog.run(self._on_catalog_change)

    async def _on_catalog_change(self, *_: Any) -> None:
        await self._apply_catalog()

    async def reload_catalog(self) -> None:
        """Read the product sheets again now and put what changed on air (a dashboard edit was saved)."""
        await self.catalog.refresh()
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
            self.speaker.restore_low_water()
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
        self._tasks.spawn(self._load_language_voices(self.persona), name="language-voices")
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

    # ---- events from the media thread -----------------------------------------------------------------------

    def _on_media_events(self, ev: MediaEvents) -> None:
        for seg in ev.started:
            self._segments[seg.segment_id] = (ev.frame / self.config.video.fps, seg.reply_to)
            while len(self._segments) > 64:
                self._segments.popitem(last=False)
            if seg.kind in ("patter", "transition", "greeting", "invite"):
                self.on_air = seg
            if seg.kind in ("reply", "reply_more", "social"):
                assert self.media is not None
                # The frame's packets leave one frame later (the encoder is pipelined).
                self.router.on_reply_heard(seg, max(self.media.pacer.due(ev.frame + 1), self.clock.now()))
            if seg.kind in ("patter", "transition"):
                self.variety.add(seg.text, ev.frame / self.config.video.fps)
            log.info("says [%s%s]: %s", seg.kind, f" {seg.product_id}" if seg.product_id else "", seg.text)
        for heard in ev.finished:
            self._record_heard(heard)
            if heard.interrupted:
                self.speaker.forget_unheard(heard.sentence, heard.text, section=heard.section)

    def _record_heard(self, heard: HeardSpeech) -> None:
        self.spoken.append(heard)
        media_s, reply_to = self._segments.pop(heard.segment_id, (None, None))
        if self.audit is not None and (heard.text or not heard.interrupted):
            job = self.router.jobs.get(reply_to or "")
            self.audit.record(
                AuditRecord.from_heard(
                    heard,
                    media_s=media_s,
                    channel=self.name,
                    reply_to=reply_to,
                    viewer=job.viewer if job is not None else None,
                    comment=job.text if job is not None and job.kind != "operator" else None,
                    outputs_live=[o.name for o in self.target_outputs if o.live],
                )
            )
        if heard.text or not heard.interrupted:
            self.events.add(
                "spoken",
                self.clock.now(),
                text=heard.text,
                kind=heard.kind,
                interrupted=heard.interrupted,
                product_id=heard.product_id,
            )

    @property
    def target_outputs(self) -> list[Output]:
        """The outputs that are the show's targets (RTMP, WHIP, recordings): all but the dashboard's previews."""
        previews = (self.preview_hub, self.whep_hub)
        return [o for o in self.outputs if all(o is not p for p in previews)]

    def _on_output_connected(self, output: Output, reconnect: bool) -> float | None:
        """Runs in the output's thread, after open_outputs asked the output's own encoder for a keyframe: a fresh
        viewer of this target must see the AI notice from its first picture. On a reconnect (or a first connect
        after the opening notice is over) the notice is shown again and the output starts on the keyframe that
        opens it: returns that keyframe's lower bound (None: the opening notice is still on, start at once)."""
        if self.scene is None:
            return None
        if reconnect or not self.scene.notice_showing():
            return self.scene.show_notice()
        return None

    # ---- persona ---------------------------------------------------------------------------------------

    def guard_for(self, persona: Persona) -> SentenceGuard:
        settings = self.config.brain.guards
        return SentenceGuard(settings=settings, persona=persona, extra_rules_dir=settings.extra_rules_dir)

    def apply_persona(
        self, persona: Persona, *, guard: SentenceGuard | None = None, looks: Looks | None = None
    ) -> None:
        """Hot reload: the next sentences come from the new persona (a changed greeting or name is said at once),
        the look and label language change at the next frame, a new voice loads beside the running one."""
        persona = with_device(persona, self.spec.device)
        old, self.persona = self.persona, persona
        greet_again = persona.style.greetings != old.style.greetings or persona.name != old.name
        self.director.set_persona(persona, greet_again=greet_again)
        self.speaker.persona = persona
        guard = guard or self.guard_for(persona)
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
        if persona.voices != old.voices:
            self._tasks.spawn(self._load_language_voices(persona), name="language-voices")
        log.info("persona %s applied%s", persona.name, " (greeting again)" if greet_again else "")

    async def _load_language_voices(self, persona: Persona) -> None:
        """The persona's voices for its other languages, loaded one after another in the voice thread (after its
        own voice: the show speaks first). A voice that cannot load is logged and its language answered in the
        persona's own; the set in use is replaced once all are loaded (a hot reload's new set too)."""
        loop = asyncio.get_running_loop()
        loaded: dict[str, VoiceBackend] = {}
        for language, settings in persona.voices.items():
            try:
                voice = create_voice(settings)
                await loop.run_in_executor(self._voice_pool, voice.load)
            except VoiceError as exc:
                log.error(
                    "the %s voice could not load (%s); %s comments are answered in %s",
                    language,
                    exc,
                    language,
                    persona.language,
                )
                continue
            loaded[language] = voice
            log.info("voice %s ready for %s answers", getattr(voice, "name", "?"), language)
        if self.persona.voices == persona.voices:  # still the persona in use (no newer reload)
            self.speaker.voices = loaded

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


def default_recording_path(recordings_dir: str, name: str = "show") -> str:
    """``recordings_dir/NAME-YYYYmmdd-HHMMSS.flv``; a second channel of that name in the same second gets ``-2``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(recordings_dir) / f"{name}-{stamp}.flv"
    n = 2
    while path.exists():
        path = Path(recordings_dir) / f"{name}-{stamp}-{n}.flv"
        n += 1
    return str(path)
