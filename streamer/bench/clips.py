"""Test and benchmark footage made here (nothing is downloaded): the photo avatar filmed with a moving camera."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np

from streamer.avatar.photo import PhotoAvatar
from streamer.config import AvatarStyle
from streamer.frames import MouthPose


def make_clip(
    path: Path, portrait: Path, *, seconds: float = 8.0, shots_every_s: float | None = None, fps: int = 30
) -> Path:
    """The photo avatar (own room, silent) filmed at 960x720 with a slow pan and zoom; ``shots_every_s``: cut
    between a wide and a close shot that often."""
    host = PhotoAvatar(AvatarStyle(kind="photo", image=str(portrait), cutout=False), height_px=720, seed=11)
    w, h = 960, 720

    def frames() -> Iterator[np.ndarray]:
        for i in range(int(seconds * fps)):
            t = i / fps
            picture = host.render(t, MouthPose.rest())[:, :, :3]
            zoom = 1.0 + 0.03 * np.sin(2 * np.pi * t / 6.0)
            if shots_every_s is not None and int(t / shots_every_s) % 2:
                zoom *= 1.6  # the close shot
            dx = 18 * np.sin(2 * np.pi * t / 9.0)
            m = np.array(
                [[zoom, 0, (w - host.width * zoom) / 2 + dx], [0, zoom, (h - host.height * zoom) / 2]], np.float32
            )
            frame = np.full((h, w, 3), (60, 70, 80), np.uint8)
            cv2.warpAffine(picture, m, (w, h), dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
            yield frame

    return write_h264(path, frames(), w, h, fps=fps, crf=18)


def write_h264(path: Path, frames: Iterable[np.ndarray], width: int, height: int, *, fps: int, crf: int) -> Path:
    """BGR ``frames`` written as an H.264 clip (yuv420p, veryfast)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_studio_loop(path: Path, width: int, height: int, *, seconds: float = 6.0, fps: int = 30) -> Path:
    """A studio background clip: a lit wall with soft lights drifting across it and a slow brightness swell. Its
    end does not match its start (the loop's cross-fade has a seam to hide)."""
    rng = np.random.default_rng(5)
    lights = [(rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.04, 0.1), rng.uniform(0.05, 0.2)) for _ in range(7)]
    sw, sh = max(16, width // 4), max(16, height // 4)  # drawn small, scaled up: soft anyway
    ys = (np.arange(sh, dtype=np.float32) / sh)[:, None]
    xs = (np.arange(sw, dtype=np.float32) / sw)[None, :]
    aspect = sw / sh
    wall = np.stack([70 + 40 * ys + 0 * xs, 60 + 30 * ys + 0 * xs, 50 + 20 * ys + 0 * xs], axis=2)

    def frames() -> Iterator[np.ndarray]:
        for i in range(int(seconds * fps)):
            t = i / fps
            img = wall * (1.0 + 0.08 * t / seconds)
            for fx, fy, r, speed in lights:
                d2 = ((xs - fx - 0.15 * np.sin(2 * np.pi * speed * t)) * aspect) ** 2 + (ys - fy) ** 2
                img = img + (np.exp(-d2 / (2 * r * r)) * 90.0)[..., None] * np.array([0.8, 0.9, 1.0], np.float32)
            small = np.clip(img, 0, 255).astype(np.uint8)
            yield cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.uint8)

    return write_h264(path, frames(), width, height, fps=fps, crf=20)
