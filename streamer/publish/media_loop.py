"""The output clock: one thread that produces frame n when it is due, whatever else is happening.

Per frame: pull exactly that frame's share of audio (speech or silence) with its mouth pose, render the picture
once, encode it once per distinct encoder profile, offer each profile's packets to that profile's outputs. The
loop never waits for the brain, the voice or the network.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from streamer.clock import Clock, audio_share
from streamer.frames import AUDIO_RATE_HZ, AudioFrame, HeardSpeech, MouthPose, SpeechSegment, VideoFrame
from streamer.playout import SpeechPlayout
from streamer.publish.encoder import EncodedPacket, FrameEncoder
from streamer.publish.outputs import Encoding, PacketOutput

log = logging.getLogger(__name__)

__all__ = ["FramePacer", "FrameRenderer", "MediaEvents", "MediaLoop", "PacketOutput"]


class FrameRenderer(Protocol):
    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        """The composed I420 picture at media time ``t_s``."""
        ...

    def on_speech_started(self, segment: SpeechSegment) -> None: ...


@dataclass(slots=True)
class MediaEvents:
    """What happened during one frame, for the asyncio side (transcript, director)."""

    frame: int
    started: list[SpeechSegment] = field(default_factory=list)
    finished: list[HeardSpeech] = field(default_factory=list)


class FramePacer:
    """Pacing arithmetic on the injected clock: frame n is due at ``origin + n / fps``.

    If production falls more than ``max_lag_s`` behind (a stall, a suspended VM), the origin moves forward
    instead of bursting frames: timestamps stay continuous, the stream just resumes.
    """

    def __init__(self, fps: int, *, max_lag_s: float = 1.0) -> None:
        self.fps = fps
        self.max_lag_s = max_lag_s
        self.origin: float | None = None
        self.late_frames = 0
        self.resyncs = 0
        self.skipped_frames = 0
        """Frame slots never produced because production stalled past ``max_lag_s`` (the dropped frames)."""
        self.worst_lag_s = 0.0

    def start(self, now: float) -> None:
        self.origin = now

    def due(self, n: int) -> float:
        assert self.origin is not None
        return self.origin + n / self.fps

    def wait_s(self, n: int, now: float) -> float:
        """Seconds to wait before producing frame n (<= 0: produce now). Counts and repairs lateness."""
        lag = now - self.due(n)
        if lag > 1.0 / self.fps:
            self.late_frames += 1
            self.worst_lag_s = max(self.worst_lag_s, lag)
        if lag > self.max_lag_s:
            assert self.origin is not None
            self.origin += lag
            self.resyncs += 1
            self.skipped_frames += int(lag * self.fps)
            return 0.0
        return -lag


class MediaLoop:
    """Runs :meth:`tick` at the frame rate in a dedicated thread (CPU-heavy work stays off the event loop).

    ``encodings`` (from :func:`~streamer.publish.outputs.open_outputs`): one encoder per distinct profile with the
    outputs that take its packets.
    """

    def __init__(
        self,
        *,
        fps: int,
        renderer: FrameRenderer,
        playout: SpeechPlayout,
        clock: Clock,
        encodings: Sequence[Encoding],
        on_events: Callable[[MediaEvents], object] | None = None,
        max_frames: int | None = None,
        on_finished: Callable[[], object] | None = None,
        pipelined: bool = True,
    ) -> None:
        self.fps = fps
        self.renderer = renderer
        self.playout = playout
        self.encodings = list(encodings)
        self.outputs: list[PacketOutput] = [o for e in self.encodings for o in e.outputs]
        self.clock = clock
        self.pacer = FramePacer(fps)
        self._on_events = on_events
        self._on_finished = on_finished
        self.max_frames = max_frames
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames = 0
        self.error: BaseException | None = None
        self.tick_s_ewma = 0.0
        self.encode_s_ewma = 0.0
        """Encoder time per frame, all profiles together (the encode keeps up while ``fps * encode_s_ewma`` < 1:
        the speed is ``1 / (fps * encode_s_ewma)`` times real time)."""
        self.encode_s_ewma_by_profile: dict[str, float] = {e.profile.name: 0.0 for e in self.encodings}
        """The same, per profile (by name)."""
        self.fps_measured = 0.0
        """Frames produced per second of clock time over the last second or so."""
        self.last_picture: np.ndarray | None = None
        """The newest composed I420 picture (a fleet's thumbnail reads it; never written to)."""
        self.last_frame_monotonic: float | None = None
        """``time.monotonic()`` when the newest frame was made (a watchdog in another thread tells a stuck loop by
        it; the real clock, whatever clock paces the frames)."""
        self._encode_pool = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="encoder") if pipelined else None
        )
        self._pending: concurrent.futures.Future[list[list[EncodedPacket]]] | None = None

    @property
    def encoder(self) -> FrameEncoder | None:
        """The first profile's encoder (the only one, for a show with one profile)."""
        return self.encodings[0].encoder if self.encodings else None

    # ---- one frame -------------------------------------------------------------------------------------------

    def tick(self, n: int) -> list[EncodedPacket]:
        """Produce frame n. Returns the packets handed to the outputs during this tick (every profile's).

        Pipelined: frame n is rendered while the encoder thread still works on frame n-1 (the encoder releases
        the GIL and leaves most of a core idle on this 2-core target), so packets leave one frame later.
        """
        first_sample, count = audio_share(n, self.fps, AUDIO_RATE_HZ)
        pulled = self.playout.pull(count)
        for seg in pulled.started:
            self.renderer.on_speech_started(seg)
        picture = self.renderer.render(n / self.fps, pulled.mouth)
        self.last_picture = picture
        take_keyframe = getattr(self.renderer, "take_keyframe", None)
        keyframe = bool(take_keyframe()) if take_keyframe is not None else False
        video = VideoFrame(pts=n, i420=picture, keyframe=keyframe)
        audio = AudioFrame(pts=first_sample, pcm=pulled.pcm)
        if self._encode_pool is None:
            encoded = self._encode(video, audio)
        else:
            encoded = self._pending.result() if self._pending is not None else [[] for _ in self.encodings]
            self._pending = self._encode_pool.submit(self._encode, video, audio)
        self._offer(encoded)
        if self._on_events is not None and (pulled.started or pulled.finished):
            self._on_events(MediaEvents(frame=n, started=pulled.started, finished=pulled.finished))
        return [p for packets in encoded for p in packets]

    def _encode(self, video: VideoFrame, audio: AudioFrame) -> list[list[EncodedPacket]]:
        """Each profile's packets for this frame, in the order of :attr:`encodings`."""
        out: list[list[EncodedPacket]] = []
        total = 0.0
        for e in self.encodings:
            if not any(getattr(o, "wants_packets", True) for o in e.outputs):
                out.append([])  # nobody takes this encode now (a preview nobody watches): it costs nothing
                continue
            t0 = time.perf_counter()
            out.append(e.encoder.encode(video, audio))
            dt = time.perf_counter() - t0
            total += dt
            name = e.profile.name
            prev = self.encode_s_ewma_by_profile.get(name, 0.0)
            self.encode_s_ewma_by_profile[name] = dt if prev == 0.0 else 0.95 * prev + 0.05 * dt
        self.encode_s_ewma = total if self.encode_s_ewma == 0.0 else 0.95 * self.encode_s_ewma + 0.05 * total
        return out

    def _offer(self, encoded: list[list[EncodedPacket]]) -> None:
        for e, packets in zip(self.encodings, encoded, strict=True):
            for out in e.outputs:
                out.offer(packets)

    def finish(self) -> list[EncodedPacket]:
        """Collect the frame still in the encoder thread, flush the encoders, hand everything to the outputs."""
        encoded: list[list[EncodedPacket]] = [[] for _ in self.encodings]
        if self._pending is not None:
            encoded = self._pending.result()
            self._pending = None
        for packets, e in zip(encoded, self.encodings, strict=True):
            packets.extend(e.encoder.flush())
        self._offer(encoded)
        if self._encode_pool is not None:
            self._encode_pool.shutdown(wait=True)
            self._encode_pool = None
        return [p for packets in encoded for p in packets]

    # ---- the paced thread ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="media-loop", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """The paced loop, on the calling thread, until :meth:`stop` or ``max_frames``; then :meth:`finish`.
        :meth:`start` runs it in the media thread; a test on a :class:`~streamer.clock.FakeClock` calls it
        directly (its sleeps just move the fake time on)."""
        try:
            self.pacer.start(self.clock.now())
            n = 0
            window_start, window_frames = self.clock.now(), 0
            while not self._stop.is_set():
                if self.max_frames is not None and n >= self.max_frames:
                    break
                wait = self.pacer.wait_s(n, self.clock.now())
                if wait > 0:
                    self.clock.sleep_blocking(wait, self._stop)
                    if self._stop.is_set():
                        break
                t0 = time.perf_counter()
                self.tick(n)
                dt = time.perf_counter() - t0
                self.tick_s_ewma = dt if n == 0 else 0.95 * self.tick_s_ewma + 0.05 * dt
                n += 1
                self.frames = n
                self.last_frame_monotonic = time.monotonic()
                window_frames += 1
                if window_frames == self.fps:
                    now = self.clock.now()
                    self.fps_measured = window_frames / max(1e-6, now - window_start)
                    window_start, window_frames = now, 0
            self.finish()
        except BaseException as exc:  # the app must learn that video stopped; it decides what to do
            self.error = exc
            log.exception("media loop crashed at frame %d", self.frames)
        finally:
            if self._on_finished is not None:
                self._on_finished()

    def stop(self) -> None:
        """Ask the loop to finish after the current frame (then the encoder is flushed)."""
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
