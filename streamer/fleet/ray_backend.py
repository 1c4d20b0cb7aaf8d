"""The fleet on Ray: channel actors by name in one namespace, and the supervisor as an actor of its own.

``fleet up`` creates the supervisor actor (``fleet-supervisor``; detached with ``--detach``, so the fleet outlives the
command), which creates one actor per channel (``channel:NAME``, with the channel's ``num_cpus``/``num_gpus`` and
``max_restarts``) owned by it: when the supervisor ends, its channels end with it, and nothing is orphaned. ``fleet
status|restart|drain|down`` find the supervisor by name through Ray (the local cluster, or ``RAY_ADDRESS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from streamer.fleet.actor import channel_actor_class
from streamer.fleet.plan import FleetPlan, Planned
from streamer.fleet.supervisor import Supervisor

log = logging.getLogger(__name__)

NAMESPACE = "livehost"
SUPERVISOR_NAME = "fleet-supervisor"


def channel_actor_name(name: str) -> str:
    return f"channel:{name}"


class RayBackend:
    """:class:`~streamer.fleet.supervisor.ActorBackend` on Ray (call from inside a connected Ray process)."""

    def __init__(self, namespace: str = NAMESPACE) -> None:
        self.namespace = namespace

    async def create(self, planned: Planned) -> Any:
        import ray

        name = channel_actor_name(planned.name)
        with contextlib.suppress(ValueError):  # an actor left by an earlier supervisor of this name
            ray.kill(ray.get_actor(name, namespace=self.namespace), no_restart=True)
            await asyncio.sleep(0.5)  # let Ray release the name
        r = planned.resources
        return (
            channel_actor_class()
            .options(
                name=name,
                namespace=self.namespace,
                num_cpus=r.num_cpus,
                num_gpus=r.num_gpus,
                max_restarts=r.max_restarts,
                max_task_retries=0,
            )
            .remote(planned.spec, r.num_cpus)
        )

    async def call(self, handle: Any, method: str, *args: Any, timeout_s: float) -> Any:
        return await asyncio.wait_for(getattr(handle, method).remote(*args), timeout_s)

    async def kill(self, handle: Any, *, restart: bool) -> None:
        import ray

        ray.kill(handle, no_restart=not restart)


@functools.cache
def supervisor_actor_class() -> Any:
    import ray

    @ray.remote(num_cpus=0, max_restarts=0)
    class SupervisorActor:
        """The :class:`~streamer.fleet.supervisor.Supervisor` in its own process (no CPU reserved: it only pings)."""

        def __init__(self, namespace: str = NAMESPACE) -> None:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
            self.supervisor = Supervisor(RayBackend(namespace))
            self.plan: FleetPlan | None = None
            self.page: Any = None

        async def apply(self, plan: FleetPlan) -> dict[str, list[str]]:
            diff = await self.supervisor.apply(plan)
            self.plan = plan
            self.supervisor.start_watching()
            if self.page is None and plan.dashboard.enabled and plan.channels:
                from streamer.fleet.dashboard import FleetDashboardServer

                token = getattr(plan.channels[0].spec, "dashboard_token", None)
                if token:
                    page = FleetDashboardServer(
                        self.supervisor, host=plan.dashboard.host, port=plan.dashboard.port, token=token
                    )
                    try:
                        await page.start()
                        self.page = page
                    except OSError as exc:  # the fleet runs on without its page
                        log.error("fleet page could not listen on %s:%d: %s", page.host, page.port, exc)
            return diff

        async def page_url(self) -> str | None:
            return self.page.url if self.page is not None else None

        async def page_login_link(self) -> str | None:
            """A one-time sign-in link to the fleet page."""
            return f"{self.page.url}login?code={self.page.login_code()}" if self.page is not None else None

        async def wait_live(self, timeout_s: float) -> bool:
            """Until every channel makes frames (True), or ``timeout_s``."""
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while loop.time() < deadline:
                watched = list(self.supervisor.channels.values())
                if watched and all(w.state == "live" for w in watched):
                    return True
                await asyncio.sleep(0.5)
            return False

        async def status(self) -> list[dict[str, Any]]:
            return await self.supervisor.status()

        async def restart(self, name: str) -> None:
            await self.supervisor.restart(name)

        async def drain(self, name: str) -> dict[str, Any]:
            return await self.supervisor.drain(name)

        async def down(self) -> list[str]:
            ended = await self.supervisor.down()
            if self.page is not None:
                page, self.page = self.page, None
                await page.aclose()
            return ended

        async def plan_path(self) -> str | None:
            return self.plan.path if self.plan is not None else None

    return SupervisorActor
