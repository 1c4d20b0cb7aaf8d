"""Test and benchmark footage made here (nothing is downloaded): the photo avatar filmed with a moving camera."""

from __future__ import annotations

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
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
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
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
