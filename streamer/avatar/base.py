"""The avatar stage's contract, and the one place that picks an implementation for a persona.

An avatar turns the media clock and a :class:`~streamer.frames.MouthPose` into a picture of the host, on the media
thread, within the frame budget. :class:`~streamer.scene.Scene` holds an :class:`Avatar` and never knows which one
it has: the procedural cartoon (:mod:`streamer.avatar.cartoon`), a presenter from one portrait
(:mod:`streamer.avatar.photo`) or from their own footage (:mod:`streamer.avatar.video`). A neural lip-sync engine
(:mod:`streamer.avatar.neural`) reaches the photo avatar through the mouth pose (``MouthPose.crop``), made ahead of
time on the sentence being said.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from streamer.config import AvatarStyle
from streamer.frames import MouthPose


@runtime_checkable
class Avatar(Protocol):
    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every rendered picture, both even."""
        ...

    def set_backdrop(self, bgr: np.ndarray | None) -> None:
        """Draw onto this studio patch (``(height, width, 3)`` uint8) instead of onto transparency."""
        ...

    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        """The host at media time ``t_s`` with this mouth: BGRA uint8 of :attr:`size` (opaque once a backdrop is
        set). Called on the media thread once per frame: it must never block."""
        ...


def build_avatar(style: AvatarStyle, *, height_px: int, seed: int = 0) -> Avatar:
    """The avatar a persona's ``avatar:`` section asks for. Slow for a photo (reads the portrait with the face
    models): build it off the media thread. Raises :class:`~streamer.avatar.portrait.PortraitError` for a portrait
    that cannot be used."""
    if style.kind == "photo":
        from streamer.avatar.photo import PhotoAvatar

        return PhotoAvatar(style, height_px=height_px, seed=seed)
    if style.kind == "video":
        from streamer.avatar.video import VideoAvatar

        # On air the studio stays still for hours: the loop is laid onto it once, in the background.
        return VideoAvatar(style, height_px=height_px, seed=seed, bake_studio=True)
    from streamer.avatar.cartoon import CartoonAvatar

    return CartoonAvatar(style, height_px=height_px, seed=seed)
