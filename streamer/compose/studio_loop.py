"""A looping video as the studio background: decoded ahead on its own thread, cross-faded at the seam, handed to the
media thread as ready I420 frames of the show's size.

The clip plays forwards. Its first :data:`CROSSFADE_S` are kept decoded; over the clip's last stretch of the same
length the picture fades into them, and the next pass goes on from where the fade ended, so the loop never jumps
(a forward loop, not a ping-pong: lights and moving things in a studio would look wrong played backwards).

The media thread never waits: :meth:`StudioLoop.frame_at` takes the frame due at the media time when the decoder has
it, else keeps the last one (counted in :attr:`StudioLoop.repeated`; the picture slows down, it never stalls). The
decoder runs sequentially through the file on one thread, a few frames ahead (a bounded queue), re-opening the file
for each pass; PyAV releases the GIL while it decodes and scales.

Cost: one decode, and a scale to the show's size unless the clip already has it (give a clip at the show's size and
frame rate to save CPU); the frames of the fade also pay one weighted sum.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from streamer.avatar.portrait import AvatarFileError
from streamer.config import BACKGROUND_VIDEOS

log = logging.getLogger(__name__)

#: The fade between the clip's end and its start.
CROSSFADE_S = 1.0
#: A background loop shorter than this is refused (a flicker, not a studio).
MIN_LOOP_S = 1.0
#: Frames the decoder may be ahead of the media thread.
AHEAD_FRAMES = 4
#: The background frame rate is kept between these (a clip's rate outside them is an error).
MIN_FPS, MAX_FPS = 5.0, 120.0


class BackgroundClipError(AvatarFileError):
    """A background video that cannot loop: the message names the file and what is wrong."""

    field = "avatar.background"


def is_video_background(value: str) -> bool:
    return Path(value).suffix.lower() in BACKGROUND_VIDEOS


@dataclass(frozen=True, slots=True)
class ClipInfo:
    path: str
    frames: int
    fps: float
    size: tuple[int, int]

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def probe(path: str | Path) -> ClipInfo:
    """The clip's frame count (its packets, read without decoding), rate and size; raises
    :class:`BackgroundClipError` naming the file for a file that is not a usable loop."""
    name = str(path)
    try:
        container = av.open(name)
    except (av.error.FFmpegError, OSError) as exc:
        raise BackgroundClipError(name, f"background video cannot be opened ({exc.__class__.__name__})") from exc
    try:
        if not container.streams.video:
            raise BackgroundClipError(name, "background video has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if not MIN_FPS <= fps <= MAX_FPS:
            raise BackgroundClipError(name, f"background video frame rate {fps:.3g} is outside {MIN_FPS}-{MAX_FPS}")
        frames = 0
        for packet in container.demux(stream):
            if packet.size:
                frames += 1
        w, h = stream.codec_context.width, stream.codec_context.height
    except av.error.FFmpegError as exc:
        raise BackgroundClipError(name, f"background video cannot be read ({exc})") from exc
    finally:
        container.close()
    if frames / fps < MIN_LOOP_S:
        raise BackgroundClipError(
            name, f"background video is {frames / fps:.2f} s long; a loop needs at least {MIN_LOOP_S:g} s"
        )
    return ClipInfo(name, frames, fps, (w, h))


def i420_planes(buf: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V views of an I420 buffer of a ``w`` x ``h`` picture."""
    flat = buf.reshape(-1)
    ysz, csz = w * h, (w // 2) * (h // 2)
    return (
        flat[:ysz].reshape(h, w),
        flat[ysz : ysz + csz].reshape(h // 2, w // 2),
        flat[ysz + csz : ysz + 2 * csz].reshape(h // 2, w // 2),
    )


def _fit_i420(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """``frame`` scaled to cover ``width`` x ``height``, centre-cropped, as one I420 buffer ``(h * 3 // 2, w)``."""
    fw, fh = frame.width, frame.height
    scale = max(width / fw, height / fh)
    nw, nh = max(width, round(fw * scale)), max(height, round(fh * scale))
    nw, nh = nw + nw % 2, nh + nh % 2
    if (nw, nh) == (width, height) and frame.format.name == "yuv420p":
        return np.ascontiguousarray(frame.to_ndarray())
    big = frame.reformat(width=nw, height=nh, format="yuv420p").to_ndarray()
    if (nw, nh) == (width, height):
        return np.ascontiguousarray(big)
    x0, y0 = (nw - width) // 2 & ~1, (nh - height) // 2 & ~1
    out = np.empty((height * 3 // 2, width), np.uint8)
    for src, dst, k in zip(i420_planes(big, nw, nh), i420_planes(out, width, height), (1, 2, 2), strict=True):
        dst[...] = src[y0 // k : y0 // k + dst.shape[0], x0 // k : x0 // k + dst.shape[1]]
    return out


@dataclass
class _Decoder:
    """The decoding side (its own thread); holds no reference to the :class:`StudioLoop`, so dropping the loop
    closes it."""

    info: ClipInfo
    width: int
    height: int
    head: list[np.ndarray]
    out: queue.Queue[np.ndarray] = field(default_factory=lambda: queue.Queue(AHEAD_FRAMES))
    stop: threading.Event = field(default_factory=threading.Event)
    failed: str | None = None

    def run(self) -> None:
        n, fade = self.info.frames, len(self.head)
        try:
            while not self.stop.is_set():
                shown = 0
                with av.open(self.info.path) as container:
                    stream = container.streams.video[0]
                    stream.thread_type = "AUTO"
                    for i, frame in enumerate(container.decode(stream)):
                        if i >= n - fade:
                            j = i - (n - fade)
                            w = (j + 1) / (fade + 1)
                            picture = cv2.addWeighted(
                                _fit_i420(frame, self.width, self.height), 1.0 - w, self.head[j], w, 0.0
                            )
                        elif i >= fade:
                            picture = _fit_i420(frame, self.width, self.height)
                        else:
                            continue
                        if not self._put(picture):
                            return
                        shown += 1
                        if i + 1 >= n:
                            break
                if shown == 0:
                    raise BackgroundClipError(self.info.path, "background video decoded no frames")
        except (av.error.FFmpegError, OSError, BackgroundClipError) as exc:
            self.failed = str(exc)
            log.warning("studio background stopped moving: %s", exc)

    def _put(self, picture: np.ndarray) -> bool:
        while not self.stop.is_set():
            try:
                self.out.put(picture, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        self.stop.set()


class StudioLoop:
    """A background clip (see the module doc) as I420 frames of ``width`` x ``height``; ``path`` is checked and
    its first :data:`CROSSFADE_S` decoded at once (raises :class:`BackgroundClipError`)."""

    def __init__(self, path: str | Path, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"frame size must be even, got {width}x{height}")
        self.info = probe(path)
        self.width, self.height = int(width), int(height)
        fade = min(round(CROSSFADE_S * self.info.fps), self.info.frames // 4)
        head: list[np.ndarray] = []
        try:
            with av.open(self.info.path) as container:
                for frame in container.decode(container.streams.video[0]):
                    head.append(_fit_i420(frame, self.width, self.height))
                    if len(head) >= max(1, fade):
                        break
        except av.error.FFmpegError as exc:
            raise BackgroundClipError(self.info.path, f"background video cannot be decoded ({exc})") from exc
        if not head:
            raise BackgroundClipError(self.info.path, "background video decoded no frames")
        self.first = head[0]
        """The clip's first frame at the show's size (I420): previews, and the colour the notice is tinted from."""
        self.period = self.info.frames - fade
        """Frames in one pass of the loop."""
        self._decoder = _Decoder(self.info, self.width, self.height, head[:fade])
        self._origin: int | None = None
        self._taken = -1
        self._current = head[min(fade, len(head) - 1)] if fade else head[0]
        self.repeated = 0
        """Frames the media thread showed again because the decoder had not yet made the one due."""
        weakref.finalize(self, self._decoder.close)
        # Decoding starts now (a few frames, then it waits for the media thread to take them).
        self._thread = threading.Thread(target=self._decoder.run, name="studio-loop", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> str | None:
        """Why the background stopped moving (it then stays on its last frame), or None."""
        return self._decoder.failed

    def frame_at(self, t_s: float, *, wait_s: float = 0.0) -> np.ndarray:
        """The background at media time ``t_s``: an I420 ``(height * 3 // 2, width)`` array, not to be written to.
        Never waits unless ``wait_s`` (benchmarks that run faster than real time)."""
        due = math.floor(t_s * self.info.fps + 1e-6)
        if self._origin is None:
            self._origin = due
        due -= self._origin
        while self._taken < due:
            try:
                frame = self._decoder.out.get(timeout=wait_s) if wait_s > 0 else self._decoder.out.get_nowait()
            except queue.Empty:
                self.repeated += 1
                break
            self._current = frame
            self._taken += 1
        return self._current

    def close(self, *, wait: bool = False) -> None:
        """Stop decoding (the thread ends within a fraction of a second; ``wait``: join it)."""
        self._decoder.close()
        if wait:
            self._thread.join(timeout=2.0)
