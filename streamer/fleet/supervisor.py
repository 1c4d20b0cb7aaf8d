"""The fleet's supervisor: applies a plan, watches every channel, restarts the ones that stop making pictures.

It talks to the channels through an :class:`ActorBackend` (:class:`RayBackend` on Ray; tests use a fake on a fake
clock). Once a second it pings each channel (the ping is answered on the actor's own health thread):

* a channel whose process is new (Ray restarted it after a crash, or it was just created) is started;
* a channel that has made no frame for ``stall_s`` (10 s), or has not answered for that long, is killed and Ray
  restarts its process (then it is started again, opening with the AI notice);
* a channel the operator drained stays drained until it is restarted.

A restart of one channel never touches another: each is its own process, and the supervisor's round never waits
on one channel for more than ``ping_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from streamer.fleet.plan import FleetPlan, Planned

log = logging.getLogger(__name__)

#: A channel without a new frame (or without an answer) for this long is restarted.
STALL_S = 10.0
PING_EVERY_S = 1.0
PING_TIMEOUT_S = 3.0
#: How long starting a channel may take (the first frame is on its way long before: the scene, the outputs).
START_TIMEOUT_S = 60.0


class ActorBackend(Protocol):
    """How the supervisor reaches channel processes."""

    async def create(self, planned: Planned) -> Any:
        """A new channel process for ``planned`` (its handle); an old one of that name is replaced."""
        ...

    async def call(self, handle: Any, method: str, *args: Any, timeout_s: float) -> Any:
        """Call a method of the channel actor; raises on timeout or a dead process."""
        ...

    async def kill(self, handle: Any, *, restart: bool) -> None:
        """End the channel's process now; ``restart``: Ray starts it again (a new process, same name)."""
        ...


@dataclass(slots=True)
class Watched:
    planned: Planned
    handle: Any
    state: str = "starting"
    """``starting``, ``live``, ``restarting``, ``drained``."""
    pid: int | None = None
    restarts: int = 0
    frames: int = 0
    last_answer_s: float = 0.0
    last_progress_s: float = 0.0
    """When the frame count last moved (or the channel was (re)started)."""
    since_s: float = 0.0
    """When the current process was seen first."""
    starting: asyncio.Task[Any] | None = None
    last: dict[str, Any] = field(default_factory=dict)


class Supervisor:
    def __init__(
        self,
        backend: ActorBackend,
        *,
        stall_s: float = STALL_S,
        ping_every_s: float = PING_EVERY_S,
        ping_timeout_s: float = PING_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.stall_s = stall_s
        self.ping_every_s = ping_every_s
        self.ping_timeout_s = ping_timeout_s
        self.clock = clock
        self.channels: dict[str, Watched] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # ---- plans ---------------------------------------------------------------------------------------------

    async def apply(self, plan: FleetPlan) -> dict[str, list[str]]:
        """Bring the fleet to ``plan``: new channels are created, channels no longer in it drained and ended,
        changed ones (another digest) replaced; unchanged ones are not touched."""
        async with self._lock:
            wanted = plan.by_name()
            diff: dict[str, list[str]] = {"added": [], "removed": [], "restarted": [], "unchanged": []}
            for name in [n for n in self.channels if n not in wanted]:
                await self._end(self.channels.pop(name))
                diff["removed"].append(name)
            for name, planned in wanted.items():
                old = self.channels.get(name)
                if old is not None and old.planned.digest == planned.digest:
                    diff["unchanged"].append(name)
                    continue
                if old is not None:
                    await self._end(old)
                    diff["restarted"].append(name)
                else:
                    diff["added"].append(name)
                now = self.clock()
                handle = await self.backend.create(planned)
                self.channels[name] = Watched(
                    planned=planned, handle=handle, last_answer_s=now, last_progress_s=now, since_s=now
                )
            return diff

    async def _end(self, w: Watched) -> None:
        if w.starting is not None:
            w.starting.cancel()
        with contextlib.suppress(Exception):
            await self.backend.call(w.handle, "drain", timeout_s=10.0)
        with contextlib.suppress(Exception):
            await self.backend.kill(w.handle, restart=False)

    # ---- watching ------------------------------------------------------------------------------------------

    def start_watching(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fleet-supervisor")

    async def _run(self) -> None:
        while True:
            began = self.clock()
            try:
                await self.check_once()
            except Exception:  # one bad round never ends supervision
                log.exception("fleet: a health round failed")
            await asyncio.sleep(max(0.0, self.ping_every_s - (self.clock() - began)))

    async def check_once(self) -> None:
        """One round: every channel pinged at once (each bounded by ``ping_timeout_s``), then acted on."""
        watched = list(self.channels.values())
        answers = await asyncio.gather(
            *(self.backend.call(w.handle, "ping", timeout_s=self.ping_timeout_s) for w in watched),
            return_exceptions=True,
        )
        for w, answer in zip(watched, answers, strict=True):
            if self.channels.get(w.planned.name) is not w:
                continue  # replaced or removed meanwhile
            await self._judge(w, answer)

    async def _judge(self, w: Watched, answer: Any) -> None:
        now = self.clock()
        name = w.planned.name
        if w.state == "drained":
            return
        if isinstance(answer, BaseException):
            # A process coming up (Ray starting it, its imports on a busy machine) gets the start time; one that
            # was live, the stall time.
            limit = self.stall_s if w.state == "live" else START_TIMEOUT_S
            if now - w.last_answer_s >= limit:
                log.warning("fleet: channel %s has not answered for %.0f s; restarting it", name, now - w.last_answer_s)
                await self._restart(w, now)
            return
        w.last_answer_s = now
        w.last = dict(answer)
        pid = answer.get("pid")
        if pid != w.pid:
            if w.pid is not None:
                w.restarts += 1  # Ray brought the process back (a crash, or our kill)
                log.warning("fleet: channel %s is back in a new process (pid %s, was %s)", name, pid, w.pid)
            w.pid, w.since_s, w.last_progress_s, w.frames = pid, now, now, 0
            w.state = "starting"
        if not answer.get("started"):
            if w.starting is None or w.starting.done():
                w.starting = asyncio.create_task(self._start(w), name=f"start:{name}")
            if now - w.since_s >= START_TIMEOUT_S:
                log.warning("fleet: channel %s did not start within %.0f s; restarting it", name, START_TIMEOUT_S)
                await self._restart(w, now)
            return
        frames = int(answer.get("frames") or 0)
        if frames != w.frames:
            w.frames, w.last_progress_s = frames, now
            w.state = "live"
        age = answer.get("last_frame_age_s")
        stalled_for = max(now - w.last_progress_s, age if isinstance(age, int | float) else 0.0)
        if answer.get("stopped"):
            return  # it ended by itself (duration reached): nothing to restart
        if stalled_for >= self.stall_s:
            log.warning("fleet: channel %s made no frame for %.0f s; restarting it", name, stalled_for)
            await self._restart(w, now)

    async def _start(self, w: Watched) -> None:
        try:
            await self.backend.call(w.handle, "start", timeout_s=START_TIMEOUT_S)
        except Exception as exc:
            log.warning("fleet: channel %s did not start: %s", w.planned.name, exc)

    async def _restart(self, w: Watched, now: float) -> None:
        w.state = "restarting"
        w.last_answer_s = w.last_progress_s = now
        if w.starting is not None:
            w.starting.cancel()
        with contextlib.suppress(Exception):
            await self.backend.kill(w.handle, restart=True)

    # ---- the operator's commands ---------------------------------------------------------------------------

    async def restart(self, name: str) -> None:
        w = self._get(name)
        w.state = "restarting"
        await self._restart(w, self.clock())

    async def drain(self, name: str) -> dict[str, Any]:
        """Finish the sentence on air, close the channel's outputs cleanly; it stays off air until restarted."""
        w = self._get(name)
        w.state = "drained"
        answer: dict[str, Any] = await self.backend.call(w.handle, "drain", timeout_s=15.0)
        return answer

    async def down(self) -> list[str]:
        """Drain every channel (together), end their processes; returns their names."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        async with self._lock:
            watched = list(self.channels.values())
            for w in watched:
                w.state = "drained"
            await asyncio.gather(*(self._end(w) for w in watched))
            self.channels.clear()
        return [w.planned.name for w in watched]

    async def status(self) -> list[dict[str, Any]]:
        """One row per channel: its own status (health, outputs, dashboard) and the supervisor's view."""
        watched = list(self.channels.values())
        answers = await asyncio.gather(
            *(self.backend.call(w.handle, "status", timeout_s=self.ping_timeout_s) for w in watched),
            return_exceptions=True,
        )
        now = self.clock()
        rows = []
        for w, answer in zip(watched, answers, strict=True):
            row: dict[str, Any] = {
                "name": w.planned.name,
                "state": w.state,
                "restarts": w.restarts,
                "pid": w.pid,
                "process_uptime_s": round(now - w.since_s, 1),
            }
            if isinstance(answer, BaseException):
                row["error"] = short_error(answer)
            else:
                row.update({k: v for k, v in answer.items() if k not in row})
            rows.append(row)
        return rows

    def _get(self, name: str) -> Watched:
        w = self.channels.get(name)
        if w is None:
            raise KeyError(f"no channel named {name!r} (channels: {', '.join(self.channels) or 'none'})")
        return w


def short_error(exc: BaseException) -> str:
    """One line for a failed call (a Ray task error carries the whole remote traceback: its cause is enough)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[-1]}" if text else type(exc).__name__
