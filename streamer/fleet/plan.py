"""``fleet.yaml``: many channels, each with the keys of ``stream.yaml`` plus a ``name`` and its ``resources``.

.. code-block:: yaml

    ray: {num_cpus: 2}              # the local Ray's size (default: this machine's CPUs); or address: ray://...
    dashboard: {port: 8090}         # the fleet page (one tile per channel), 127.0.0.1 by default
    channels:
      - name: tea-zh
        persona: personas/tea-host.yaml
        products: https://shop.example/products.json
        out: [rtmp://push.example/live/${TEA_KEY}]
        size: 1280x720
        resources: {num_cpus: 1}

Relative paths are taken from the fleet file's folder and sent to the channels as absolute paths (a channel's
process does not run in this folder; on a cluster, the paths must exist on every node). A channel's dashboard
listens on any free port unless its ``preview.port`` says otherwise, its recordings default to
``recordings/NAME-*.flv``, and its audit log to ``recordings/audit-NAME.sqlite3``.

Each channel becomes a :class:`~streamer.app.ChannelSpec` the way ``run`` builds one (:func:`channel_specs`), and
a :class:`Planned` with a digest of everything that defines it: running ``fleet up`` again restarts only the
channels whose digest changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streamer.config import StreamConfig

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ChannelResources(_Strict):
    """What Ray reserves for the channel's process, and how often it may be restarted."""

    num_cpus: float = Field(1.0, gt=0.0, le=256.0)
    num_gpus: float = Field(0.0, ge=0.0, le=16.0)
    max_restarts: int = Field(-1, ge=-1)
    """-1: restarted for ever (a 24/7 channel)."""


class FleetChannel(StreamConfig):
    """One channel: ``stream.yaml``'s keys plus these."""

    name: str = Field(pattern=NAME_PATTERN)
    """Lower-case letters, digits, ``-`` and ``_``: it names the channel's actor, recordings and metrics."""
    size: str | None = Field(None, pattern=r"^\d+x\d+$")
    """``WxH``, as ``--size`` (overrides ``video.width``/``video.height``)."""
    fps: int | None = Field(None, gt=0, le=60)
    simulate_chat: bool = False
    """The built-in simulated viewers (rehearsals and demos only, never a real audience)."""
    duration_s: float | None = Field(None, gt=0.0)
    """Stop after this much media time (tests and rehearsals); None: run until stopped."""
    device: Literal["auto", "cpu", "cuda"] | None = None
    """Where the channel's Coqui voices and neural lip-sync engine run, as ``run --device`` (None: the persona's).
    ``cuda`` needs ``resources.num_gpus``: Ray shows a channel's process a GPU only when it reserves one."""
    resources: ChannelResources = Field(default_factory=ChannelResources)

    @model_validator(mode="after")
    def _even_size(self) -> FleetChannel:
        if self.size is not None:
            w, h = (int(x) for x in self.size.split("x"))
            if w % 2 or h % 2:
                raise ValueError(f"size {self.size}: width and height must be even (H.264 4:2:0)")
        return self


class RaySettings(_Strict):
    num_cpus: float | None = Field(None, gt=0.0)
    """The local Ray's CPUs (default: this machine's); ignored on a cluster."""
    address: str | None = None
    """An existing cluster (``ray://host:10001`` or ``auto``); ``--address`` and ``RAY_ADDRESS`` take precedence."""


class FleetDashboard(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)


class FleetFile(_Strict):
    channels: list[FleetChannel] = Field(min_length=1)
    ray: RaySettings = Field(default_factory=RaySettings)
    dashboard: FleetDashboard = Field(default_factory=FleetDashboard)


@dataclass(frozen=True, slots=True)
class Planned:
    """A channel as the fleet runs it."""

    name: str
    spec: object
    """Its :class:`~streamer.app.ChannelSpec` (typed loosely: this module does not import the show)."""
    resources: ChannelResources
    digest: str
    """SHA-256 of what defines it (its settings, persona file and products path as read now): a change restarts it."""


@dataclass(frozen=True, slots=True)
class FleetPlan:
    path: str
    channels: list[Planned]
    ray: RaySettings
    dashboard: FleetDashboard
    warnings: tuple[tuple[str, str], ...] = ()
    """(channel, warning) pairs to print (a missing product image, a voice setting that is ignored)."""
    token_generated: bool = False
    """The dashboards' token was made for this fleet (no ``LIVEHOST_DASHBOARD_TOKEN``): print it once."""

    def by_name(self) -> dict[str, Planned]:
        return {c.name: c for c in self.channels}

    def without_warnings(self) -> FleetPlan:
        return dataclasses.replace(self, warnings=())


class FleetPlanError(Exception):
    """Every problem of a fleet file: file, line and field, and the channel it is in."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))

    def lines(self) -> list[str]:
        return [f"error: {p}" for p in self.problems]


def load_fleet(path: str | Path, *, env: dict[str, str] | None = None) -> FleetPlan:
    """Read and check a fleet file: each channel is checked as ``run`` checks a show (persona, voice, avatar,
    outputs, platforms). Raises :class:`FleetPlanError` with every problem."""
    import os

    from streamer.dashboard.auth import TokenError, check_token, dashboard_token
    from streamer.launch import LaunchError, apply_overrides, build_channel_spec
    from streamer.loading import ConfigError, errors_in, line_of, load_fleet_file

    try:
        fleet, channel_problems = load_fleet_file(path, env=env)
    except ConfigError as exc:
        raise FleetPlanError([str(p) for p in exc.problems if p.severity == "error"]) from None
    # One operator token for every channel's dashboard (and the fleet page).
    token, generated = dashboard_token(dict(os.environ) if env is None else env)
    try:
        check_token(token)
    except TokenError as exc:
        raise FleetPlanError([str(exc)]) from None
    problems: list[str] = []
    warnings: list[tuple[str, str]] = [("fleet", str(w)) for w in channel_problems.get(-1, [])]
    planned: list[Planned] = []
    seen: dict[str, int] = {}
    ports: dict[int, str] = {}
    for i, channel in enumerate(fleet.channels):
        where = f"{path}: channels.{i} ({channel.name})"
        if channel.name in seen:
            problems.append(f"{where}: name: {channel.name!r} is also channel {seen[channel.name]}'s name")
            continue
        seen[channel.name] = i
        found = channel_problems.get(i, [])
        problems += [str(p) for p in found if p.severity == "error"]
        warnings += [(channel.name, str(p)) for p in found if p.severity != "error"]
        if errors_in(found):
            continue
        config = StreamConfig.model_validate(
            channel.model_dump(exclude={"name", "size", "fps", "simulate_chat", "duration_s", "device", "resources"})
        )
        if "port" not in channel.preview.model_fields_set:
            config.preview.port = 0  # any free port: the fleet page links to each channel's dashboard
        elif config.preview.enabled and config.preview.port:
            if config.preview.port in ports:
                problems.append(f"{where}: preview.port {config.preview.port} is also {ports[config.preview.port]}'s")
            ports[config.preview.port] = channel.name
        if "path" not in channel.audit.model_fields_set:
            config.audit.path = f"audit-{channel.name}.sqlite3"
        try:
            apply_overrides(config, size=channel.size, fps=channel.fps, simulate_chat=channel.simulate_chat)
            spec, found_warnings = build_channel_spec(
                config,
                persona_path=config.persona,
                products=config.products,
                name=channel.name,
                duration_s=channel.duration_s,
                dashboard_token=token,
                recording_name=channel.name,
            )
        except LaunchError as exc:
            problems += [f"{where}: {p}" for p in exc.problems] + [f"{where}: {r}" for r in exc.reasons]
            continue
        except ConfigError as exc:
            problems += [str(p) for p in exc.problems if p.severity == "error"]
            continue
        if channel.device == "cuda" and channel.resources.num_gpus <= 0:
            line = line_of(path, ("channels", i, "device"))
            problems.append(
                f"{path}:{line or '?'}: channels.{i}.device ({channel.name}): cuda needs resources.num_gpus"
                " (e.g. resources: {num_gpus: 1}): Ray shows a channel's process a GPU only when it reserves one"
            )
            continue
        spec.device = channel.device
        warnings += [(channel.name, str(w)) for w in found_warnings]
        persona_text = Path(config.persona).read_text(encoding="utf-8") if config.persona else ""
        planned.append(Planned(channel.name, spec, channel.resources, _digest(channel, persona_text)))
    files: dict[str, str] = {}
    for p in planned:
        for target in p.spec.outputs:  # type: ignore[attr-defined]
            key = target.url
            if key in files:
                problems.append(f"{path}: channels {files[key]} and {p.name} both write {target.display}")
            files[key] = p.name
    if problems:
        raise FleetPlanError(problems)
    return FleetPlan(
        path=str(Path(path).resolve()),
        channels=planned,
        ray=fleet.ray,
        dashboard=fleet.dashboard,
        warnings=tuple(warnings),
        token_generated=generated,
    )


def _digest(channel: FleetChannel, persona_text: str) -> str:
    data = channel.model_dump(mode="json")
    data["_persona_text"] = persona_text
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
