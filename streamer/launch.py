"""From settings to a :class:`~streamer.app.ChannelSpec` ready to go on air, checked the same way for ``run`` and for
each channel of a fleet: the persona loads and its voice and avatar can work, the outputs parse, their folders can
be written, and no output's platform refuses the show. Every problem is collected and raised as one
:class:`LaunchError` (the CLI prints it and exits 2; a fleet names the channel)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from streamer.config import SimulatorChatSource, StreamConfig

if TYPE_CHECKING:
    from streamer.app import ChannelSpec
    from streamer.loading import ConfigProblem


class LaunchError(Exception):
    """Why a show cannot start: ``problems`` (file, line, field, hint) and/or plain ``reasons``."""

    def __init__(self, problems: list[ConfigProblem] | None = None, reasons: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        self.reasons = list(reasons or [])
        super().__init__("; ".join([str(p) for p in self.problems] + self.reasons))


def apply_overrides(
    config: StreamConfig, *, size: str | None = None, fps: int | None = None, simulate_chat: bool = False
) -> None:
    """``--size WxH``, ``--fps`` and ``--simulate-chat`` (or a fleet channel's ``size``/``fps``/``simulate_chat``)
    onto ``config``. Raises :class:`LaunchError` for a size or rate that cannot be encoded."""
    if size:
        m = re.fullmatch(r"(\d+)x(\d+)", size.strip())
        if not m:
            raise LaunchError(reasons=[f"size {size!r}: expected WIDTHxHEIGHT like 1280x720"])
        w, h = int(m.group(1)), int(m.group(2))
        if w % 2 or h % 2:
            raise LaunchError(reasons=[f"size {size!r}: width and height must be even (H.264 4:2:0)"])
        try:
            config.video = config.video.model_validate({**config.video.model_dump(), "width": w, "height": h})
        except ValueError as exc:
            raise LaunchError(reasons=[f"size {size!r}: {_first_line(exc)}"]) from None
    if fps is not None:
        if fps <= 0:
            raise LaunchError(reasons=["fps must be a positive number of frames per second"])
        try:
            config.video = config.video.model_validate({**config.video.model_dump(), "fps": fps})
        except ValueError as exc:
            raise LaunchError(reasons=[f"fps {fps}: {_first_line(exc)}"]) from None
    if simulate_chat and not any(src.kind == "simulator" for src in config.chat.sources):
        config.chat.sources.append(SimulatorChatSource())


def build_channel_spec(
    config: StreamConfig,
    *,
    persona_path: str | None,
    products: str | None,
    outs: list[str] | None = None,
    name: str = "show",
    duration_s: float | None = None,
    dashboard: bool | None = None,
    dashboard_token: str | None = None,
    recording_name: str = "show",
) -> tuple[ChannelSpec, list[ConfigProblem]]:
    """The spec and the warnings (printed by the caller). Raises :class:`LaunchError` (or
    :class:`~streamer.loading.ConfigError` for a persona file with errors)."""
    from streamer.app import ChannelSpec, default_recording_path
    from streamer.avatar.check import persona_avatar_problems
    from streamer.loading import load_persona
    from streamer.publish.platforms import load_platforms, platform_problems
    from streamer.publish.sinks import TargetError, parse_target
    from streamer.voice.check import persona_voice_problems

    if duration_s is not None and duration_s <= 0:
        raise LaunchError(reasons=["duration must be a positive number of seconds"])
    if persona_path is None:
        raise LaunchError(reasons=["no persona given and no personas/host.yaml here"])
    if products is None:
        raise LaunchError(reasons=["no products given and no products/ directory here"])
    if "://" not in products and not Path(products).exists():
        # A URL may be down for a while (the catalog retries); a local path that is not there is a typo.
        raise LaunchError(reasons=[f"products {products!r}: no such file or folder (working folder: {Path.cwd()})"])
    persona, warnings = load_persona(persona_path)
    # A voice that cannot load would put a silent show on air: a configuration error (backend: silence is the
    # explicit way to run without speech).
    checks = persona_voice_problems(persona_path, persona) + persona_avatar_problems(persona_path, persona)
    warnings += [p for p in checks if p.severity != "error"]
    if any(p.severity == "error" for p in checks):
        raise LaunchError(problems=[p for p in checks if p.severity == "error"])
    outs = list(outs) if outs is not None else list(config.out)
    if not outs:
        outs = [default_recording_path(config.recordings_dir, recording_name)]
    platforms = load_platforms(config.platform_rules)  # the shipped ones and the operator's own
    try:
        targets = [parse_target(o, platforms=platforms) for o in outs]
    except TargetError as exc:
        raise LaunchError(reasons=[str(exc)]) from None
    for folder in sorted({str(Path(t.url).parent) for t in targets if t.kind == "file"} | {config.recordings_dir}):
        problem = unwritable(Path(folder))
        if problem:
            raise LaunchError(reasons=[problem])
    # A platform that cannot take this show (too big, a rule it forbids) is refused here, with the rule's source.
    refusals = platform_problems(targets, persona, config.video, platforms)
    if refusals:
        raise LaunchError(reasons=refusals)
    spec = ChannelSpec(
        name=name,
        config=config,
        persona=persona,
        products=products,
        outputs=targets,
        duration_s=duration_s,
        dashboard=dashboard,
        dashboard_token=dashboard_token,
        persona_path=persona_path,
    )
    return spec, warnings


def unwritable(folder: Path) -> str | None:
    """Why recordings (or the audit log) cannot be written in ``folder``, or None. Creates it when missing."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the folder {str(folder)!r} for recordings: {exc.strerror or exc}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in the folder {str(folder)!r} for recordings: permission denied"
    return None


def _first_line(exc: Exception) -> str:
    """A validation error's own words (pydantic's first line only says how many errors there are)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            where = ".".join(str(k) for k in first.get("loc", ()))
            return f"{where}: {first['msg']}" if where else str(first["msg"])
        except (IndexError, KeyError, TypeError):
            pass
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
