"""Avatar stage: turns a :class:`~streamer.frames.MouthPose` and the clock into a picture of the host."""

from streamer.avatar.base import Avatar, build_avatar
from streamer.avatar.cartoon import (
    MOUTH_INTERIOR_BGR,
    MOUTH_MASK_MIN_BLUE_OVER_GREEN,
    MOUTH_MASK_TOLERANCE,
    CartoonAvatar,
    HeadPose,
    count_mouth_interior,
    mouth_interior_mask,
)

__all__ = [
    "MOUTH_INTERIOR_BGR",
    "MOUTH_MASK_MIN_BLUE_OVER_GREEN",
    "MOUTH_MASK_TOLERANCE",
    "Avatar",
    "CartoonAvatar",
    "HeadPose",
    "build_avatar",
    "count_mouth_interior",
    "mouth_interior_mask",
]
