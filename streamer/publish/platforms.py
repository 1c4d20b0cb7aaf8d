"""Platform profiles: what each platform requires of a stream pushed to it, as data (``streamer/data/platforms.yaml``,
each entry with its source), and what the show does about it.

An output names its platform with a fragment: ``--out 'rtmp://live.twitch.tv/app/${KEY}#platform=twitch'`` (the
fragment is never sent). Per output, the rules:

* lower the encode's keyframe interval and video bitrate to the platform's ceilings: a distinct encoder profile,
  encoded once for all the outputs that share it (:func:`profile_for`);
* refuse to start a show above the platform's size or frame rate, or one breaking a rule the platform forbids (a
  synthetic voice, a real person's likeness), with the reason and the rule's source (:func:`platform_problems`);
* end a broadcast cleanly before the platform's length cap and start a new one at once (:func:`rotate_after_s`);
  the new broadcast opens with the AI notice, and a local recording (another output) goes on unbroken;
* ask the host to say it is an AI at least as often as the platform wants (:func:`spoken_disclosure_every_min`).

Rules are data, not code branches: a new platform, or a platform's new figures, is an edit of the YAML (or of the
operator's own file named by ``platform_rules`` in stream.yaml, whose entries add to or replace the shipped ones).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from streamer.publish.encoder import EncoderProfile

if TYPE_CHECKING:
    from streamer.config import Persona, VideoSettings
    from streamer.publish.sinks import Target

DEFAULT_PLATFORM = "custom"

Forbidden = Literal["synthetic_voice", "synthetic_likeness"]


class PlatformRules(BaseModel):
    """One platform's requirements (see the YAML's header for each key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    source: str
    checked: datetime.date | None = None
    notes: str | None = None
    keyframe_interval_max_s: float | None = Field(None, gt=0)
    video_kbps_max: int | None = Field(None, gt=0)
    width_max: int | None = Field(None, gt=0)
    height_max: int | None = Field(None, gt=0)
    fps_max: int | None = Field(None, gt=0)
    broadcast_max_h: float | None = Field(None, gt=0)
    rotate_before_min: float = Field(10.0, ge=1.0)
    spoken_disclosure_every_min: float | None = Field(None, ge=1.0)
    forbids: tuple[Forbidden, ...] = ()


class PlatformFile(RootModel[dict[str, PlatformRules]]):
    """A platform rules file: platform name -> its rules."""


@functools.cache
def _shipped() -> dict[str, PlatformRules]:
    from streamer.loading import load_model_file

    path = resources.files("streamer.data").joinpath("platforms.yaml")
    with resources.as_file(path) as p:
        return dict(load_model_file(p, PlatformFile, "platform rules").root)


def load_platforms(extra_file: str | Path | None = None) -> dict[str, PlatformRules]:
    """The shipped platforms, with the operator's file (if any) adding or replacing entries. Raises
    :class:`~streamer.loading.ConfigError` naming the file, line and field of a bad entry."""
    platforms = dict(_shipped())
    if extra_file is not None:
        from streamer.loading import load_model_file

        platforms.update(load_model_file(extra_file, PlatformFile, "platform rules").root)
    return platforms


def rules_for(target: Target, platforms: dict[str, PlatformRules]) -> PlatformRules:
    return platforms[target.platform]


def profile_for(base: EncoderProfile, rules: PlatformRules, video: VideoSettings) -> EncoderProfile:
    """``base`` with the keyframe interval and video bitrate lowered to the platform's ceilings; ``base`` itself
    when the show's settings are within them (then the outputs share one encode)."""
    keyframe_s = video.keyframe_interval_s
    if rules.keyframe_interval_max_s is not None:
        keyframe_s = min(keyframe_s, rules.keyframe_interval_max_s)
    kbps = video.bitrate_kbps
    if rules.video_kbps_max is not None:
        kbps = min(kbps, rules.video_kbps_max)
    if keyframe_s == video.keyframe_interval_s and kbps == video.bitrate_kbps:
        return base
    return dataclasses.replace(
        base,
        name=f"{base.name}@{kbps}k-gop{keyframe_s:g}s",
        video_bitrate_kbps=kbps,
        keyframe_interval_s=keyframe_s,
    )


def platform_problems(
    targets: Iterable[Target], persona: Persona, video: VideoSettings, platforms: dict[str, PlatformRules]
) -> list[str]:
    """Why this show may not start on these targets' platforms (empty: it may). Each reason names the output, the
    platform, the rule and its source."""
    problems: list[str] = []
    for target in targets:
        rules = platforms[target.platform]
        where = f"output {target.display} (platform {target.platform})"
        if rules.width_max is not None and rules.height_max is not None:
            if video.width > rules.width_max or video.height > rules.height_max:
                problems.append(
                    f"{where}: the show is {video.width}x{video.height}, the platform takes at most "
                    f"{rules.width_max}x{rules.height_max} (source: {rules.source}); set --size lower"
                )
        if rules.fps_max is not None and video.fps > rules.fps_max:
            problems.append(
                f"{where}: {video.fps} fps is above the platform's {rules.fps_max} (source: {rules.source})"
            )
        if "synthetic_voice" in rules.forbids and persona.voice.backend != "silence":
            problems.append(
                f"{where}: the platform forbids synthetic voices and the host speaks with {persona.voice.backend} "
                f"(source: {rules.source})"
            )
        if "synthetic_likeness" in rules.forbids and persona.avatar.kind in ("photo", "video"):
            problems.append(
                f"{where}: the platform forbids an avatar made from a real person's {persona.avatar.kind} "
                f"(source: {rules.source})"
            )
    return problems


def rotate_after_s(rules: PlatformRules) -> float | None:
    """Seconds after which a broadcast is ended and a new one started (None: the platform has no length cap)."""
    if rules.broadcast_max_h is None:
        return None
    return max(60.0, rules.broadcast_max_h * 3600 - rules.rotate_before_min * 60)


def spoken_disclosure_every_min(targets: Iterable[Target], platforms: dict[str, PlatformRules]) -> float | None:
    """The shortest spoken-disclosure cadence any of the targets' platforms asks for (None: none asks)."""
    cadences = [
        r.spoken_disclosure_every_min
        for r in (platforms[t.platform] for t in targets)
        if r.spoken_disclosure_every_min is not None
    ]
    return min(cadences) if cadences else None
