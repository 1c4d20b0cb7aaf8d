"""The fleet supervisor's decisions on a fake clock with fake channel processes: what it starts, what it restarts
and when, what a changed plan touches, and that one channel's trouble never reaches another."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from streamer.fleet.plan import ChannelResources, FleetDashboard, FleetPlan, Planned, RaySettings
from streamer.fleet.supervisor import STALL_S, Supervisor

_pids = itertools.count(1000)


@dataclass
class FakeProcess:
    """A channel actor: ``frames`` grows while it runs; ``hung``: it answers nothing; ``frozen``: it answers but its
    pictures stopped."""

    name: str
    digest: str
    pid: int = field(default_factory=lambda: next(_pids))
    started: bool = False
    frames: int = 0
    hung: bool = False
    frozen: bool = False
    drained: bool = False
    killed: bool = False
    calls: list[str] = field(default_factory=list)

    def tick(self, n: int = 30) -> None:
        if self.started and not self.frozen and not self.hung and not self.drained:
            self.frames += n


class FakeBackend:
    def __init__(self) -> None:
        self.processes: dict[str, FakeProcess] = {}
        self.created: list[str] = []
        self.kills: list[tuple[str, bool]] = []

    async def create(self, planned: Planned) -> FakeProcess:
        p = FakeProcess(planned.name, planned.digest)
        self.processes[planned.name] = p
        self.created.append(planned.name)
        return p

    async def call(self, handle: FakeProcess, method: str, *args: Any, timeout_s: float) -> Any:
        handle.calls.append(method)
        if handle.killed or handle.hung:
            raise TimeoutError(f"{handle.name} does not answer")
        if method == "start":
            handle.started = True
            return {}
        if method == "drain":
            handle.drained = True
            return {"name": handle.name}
        if method in ("ping", "status"):
            return {
                "name": handle.name,
                "pid": handle.pid,
                "started": handle.started,
                "frames": handle.frames,
                "last_frame_age_s": None,
                "stopped": handle.drained,
            }
        raise AssertionError(method)

    async def kill(self, handle: FakeProcess, *, restart: bool) -> None:
        self.kills.append((handle.name, restart))
        if restart:  # Ray starts a new process for the same actor
            handle.pid, handle.started, handle.frames = next(_pids), False, 0
            handle.hung = handle.frozen = handle.drained = False
        else:
            handle.killed = True


def plan(*channels: tuple[str, str]) -> FleetPlan:
    return FleetPlan(
        path="fleet.yaml",
        channels=[Planned(name=n, spec=None, resources=ChannelResources(), digest=d) for n, d in channels],
        ray=RaySettings(),
        dashboard=FleetDashboard(),
    )


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def rounds(sup: Supervisor, backend: FakeBackend, clock: Clock, seconds: int) -> None:
    """``seconds`` health rounds, one a second of fake time, the channels making 30 frames a second."""
    for _ in range(seconds):
        clock.t += 1.0
        for p in backend.processes.values():
            p.tick()
        await sup.check_once()
        await asyncio.sleep(0)  # let the start tasks run


def test_new_channels_are_started_and_a_frozen_one_is_restarted_after_10_s_alone():
    async def main() -> None:
        backend, clock = FakeBackend(), Clock()
        sup = Supervisor(backend, clock=clock)
        diff = await sup.apply(plan(("tea", "a"), ("shoes", "b")))
        assert diff == {"added": ["tea", "shoes"], "removed": [], "restarted": [], "unchanged": []}
        await rounds(sup, backend, clock, 3)
        tea, shoes = backend.processes["tea"], backend.processes["shoes"]
        assert tea.started and shoes.started
        assert {w.state for w in sup.channels.values()} == {"live"}
        tea.frozen = True  # its media loop stops making pictures; it still answers
        frozen_at = clock.t
        await rounds(sup, backend, clock, 9)
        assert backend.kills == []  # 9 s: not yet
        await rounds(sup, backend, clock, 2)
        assert backend.kills == [("tea", True)]
        assert clock.t - frozen_at <= STALL_S + 1.5
        await rounds(sup, backend, clock, 3)  # Ray brought it back: it is started again and live
        assert tea.started and tea.frames > 0 and sup.channels["tea"].restarts == 1
        assert sup.channels["tea"].state == "live"
        # The other channel was never touched.
        assert shoes.calls.count("start") == 1 and sup.channels["shoes"].restarts == 0
        assert all(name != "shoes" for name, _ in backend.kills)

    asyncio.run(main())


def test_a_channel_that_stops_answering_is_restarted_and_a_crash_that_ray_repaired_is_counted():
    async def main() -> None:
        backend, clock = FakeBackend(), Clock()
        sup = Supervisor(backend, clock=clock)
        await sup.apply(plan(("tea", "a")))
        await rounds(sup, backend, clock, 2)
        tea = backend.processes["tea"]
        tea.hung = True
        await rounds(sup, backend, clock, 11)
        assert backend.kills == [("tea", True)]
        await rounds(sup, backend, clock, 2)
        assert sup.channels["tea"].state == "live" and sup.channels["tea"].restarts == 1
        # Ray restarted the process by itself (a crash): a new pid, not started; the supervisor starts it.
        tea.pid, tea.started, tea.frames = next(_pids), False, 0
        await rounds(sup, backend, clock, 2)
        assert tea.started and sup.channels["tea"].restarts == 2 and len(backend.kills) == 1

    asyncio.run(main())


def test_applying_a_changed_plan_touches_only_what_changed_and_drain_and_down_end_cleanly():
    async def main() -> None:
        backend, clock = FakeBackend(), Clock()
        sup = Supervisor(backend, clock=clock)
        await sup.apply(plan(("tea", "a"), ("shoes", "b"), ("bags", "c")))
        await rounds(sup, backend, clock, 2)
        shoes_before = backend.processes["shoes"]
        diff = await sup.apply(plan(("tea", "a2"), ("shoes", "b"), ("hats", "d")))
        assert diff == {"added": ["hats"], "removed": ["bags"], "restarted": ["tea"], "unchanged": ["shoes"]}
        assert backend.processes["shoes"] is shoes_before and shoes_before.calls.count("start") == 1
        assert ("bags", False) in backend.kills and ("tea", False) in backend.kills
        await rounds(sup, backend, clock, 2)
        assert {n: w.state for n, w in sup.channels.items()} == {"tea": "live", "shoes": "live", "hats": "live"}
        # Drained: off air, and it stays so (no restart however long it makes no frames).
        await sup.drain("shoes")
        await rounds(sup, backend, clock, 30)
        assert sup.channels["shoes"].state == "drained" and all(n != "shoes" for n, _ in backend.kills)
        await sup.restart("shoes")
        await rounds(sup, backend, clock, 2)
        assert sup.channels["shoes"].state == "live"
        rows = await sup.status()
        assert [r["name"] for r in rows] == ["tea", "shoes", "hats"] and rows[1]["restarts"] == 1
        ended = await sup.down()
        assert sorted(ended) == ["hats", "shoes", "tea"] and sup.channels == {}
        assert all(p.killed and p.drained for n, p in backend.processes.items() if n != "bags")

    asyncio.run(main())


def test_a_process_slow_to_come_up_gets_the_start_time_not_the_stall_time():
    async def main() -> None:
        backend, clock = FakeBackend(), Clock()
        sup = Supervisor(backend, clock=clock)
        await sup.apply(plan(("tea", "a")))
        tea = backend.processes["tea"]
        tea.hung = True  # Ray is still starting its process: nothing answers yet
        await rounds(sup, backend, clock, 30)
        assert backend.kills == []  # 30 s: a busy machine's imports, not a stall
        tea.hung = False
        await rounds(sup, backend, clock, 3)
        assert sup.channels["tea"].state == "live" and sup.channels["tea"].restarts == 0
        tea.hung = True  # live, then silent: the stall time applies
        await rounds(sup, backend, clock, 11)
        assert backend.kills == [("tea", True)]
        tea.hung = True  # its new process is slow too: not killed again before the start time
        await rounds(sup, backend, clock, 40)
        assert backend.kills == [("tea", True)]
        await rounds(sup, backend, clock, 25)
        assert backend.kills == [("tea", True), ("tea", True)]  # 60 s without an answer: tried again

    asyncio.run(main())
