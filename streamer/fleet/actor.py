"""The channel actor: one :class:`~streamer.app.Channel` in its own Ray worker process.

Ray restarts the process when it dies (``max_restarts``) and calls ``__init__`` again; the supervisor sees a
``ping`` answer with ``started`` false and calls :meth:`start` (the channel then opens with its AI notice, as every
show does). ``ping`` is in its own concurrency group, so Ray answers it on a thread of its own: a channel whose event
loop is stuck still says when its media loop made its last frame, and one whose media loop is stuck says so too.

Everything Ray-specific is built in :func:`channel_actor_class`, so importing this module does not import Ray.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from typing import Any

log = logging.getLogger(__name__)

#: How long a channel may take to close (drain the sentence, finish recordings) when it is drained or stopped.
CLOSE_DEADLINE_S = 5.0


class ChannelHost:
    """What the actor does, as plain Python (tests drive it without Ray)."""

    def __init__(self, spec: Any, cpus: float = 1.0) -> None:
        from streamer.process import bootstrap_process

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        bootstrap_process(cpus=max(1, round(cpus)))  # sized to this channel's CPU share, not the machine
        self.spec = spec
        self.channel: Any = None
        self.pid = os.getpid()
        self.created_s = time.time()
        self.started_s: float | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> dict[str, Any]:
        """On air (once; later calls return the same). Returns :meth:`ping`'s answer."""
        async with self._lock:
            if self.channel is None:
                from streamer.app import Channel

                channel = Channel(self.spec)
                await channel.start()
                self.channel = channel
                self.started_s = time.time()
                log.info("channel %s on air (pid %d)", self.spec.name, self.pid)
        return self.ping()

    def ping(self) -> dict[str, Any]:
        """Cheap and thread-safe: reads plain fields the media thread writes."""
        channel = self.channel
        media = channel.media if channel is not None else None
        last = media.last_frame_monotonic if media is not None else None
        return {
            "name": self.spec.name,
            "pid": self.pid,
            "started": channel is not None,
            "frames": media.frames if media is not None else 0,
            "late_frames": media.pacer.late_frames if media is not None else 0,
            "skipped_frames": media.pacer.skipped_frames if media is not None else 0,
            "fps_measured": round(media.fps_measured, 2) if media is not None else 0.0,
            "tick_s": media.tick_s_ewma if media is not None else None,
            "last_frame_age_s": (time.monotonic() - last) if last is not None else None,
            "stopped": bool(channel is not None and channel.stopped),
        }

    def status(self) -> dict[str, Any]:
        """The channel's health (as its own dashboard shows it), where its dashboard listens, its outputs."""
        out: dict[str, Any] = {**self.ping(), "uptime_s": time.time() - self.started_s if self.started_s else 0.0}
        channel = self.channel
        if channel is None:
            return out
        try:
            out["health"] = channel.status()["summary"]  # not what was said nor the chat: figures only
        except Exception as exc:  # a status that cannot be read is itself a finding, never a crash
            out["health"] = {"error": str(exc)}
        out["dashboard_url"] = channel.dashboard_url
        out["outputs"] = [o.stats() for o in channel.target_outputs]
        return out

    def thumbnail(self, width: int = 320) -> bytes | None:
        """The newest picture as a small JPEG (for the fleet page), None before the first frame."""
        channel = self.channel
        media = channel.media if channel is not None else None
        picture = media.last_picture if media is not None else None
        if picture is None:
            return None
        import cv2

        bgr = cv2.cvtColor(picture, cv2.COLOR_YUV2BGR_I420)
        h, w = bgr.shape[:2]
        small = cv2.resize(bgr, (width, max(2, round(h * width / w))), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return jpeg.tobytes() if ok else None

    def login_link(self) -> str | None:
        """A one-time sign-in link into this channel's dashboard (None without one)."""
        channel = self.channel
        url = channel.dashboard_url if channel is not None else None
        if url is None:
            return None
        return f"{url}login?code={channel.auth.login_code()}"

    def metrics(self) -> str:
        channel = self.channel
        return channel.health.metrics_text() if channel is not None else ""

    async def drain(self, deadline_s: float = CLOSE_DEADLINE_S) -> dict[str, Any]:
        """Finish the sentence on air (within the deadline), close every output cleanly; the process stays."""
        channel = self.channel
        if channel is not None:
            await channel.aclose(deadline_s)
        return self.ping()


@functools.cache
def channel_actor_class() -> Any:
    """The Ray actor class (built on first use: Ray is imported only by a fleet)."""
    import ray

    @ray.remote(concurrency_groups={"health": 1})  # type: ignore[call-overload]
    class ChannelActor:
        def __init__(self, spec: Any, cpus: float = 1.0) -> None:
            self._host = ChannelHost(spec, cpus)

        async def start(self) -> dict[str, Any]:
            return await self._host.start()

        @ray.method(concurrency_group="health")
        async def ping(self) -> dict[str, Any]:
            return self._host.ping()

        @ray.method(concurrency_group="health")
        async def status(self) -> dict[str, Any]:
            return self._host.status()

        async def drain(self, deadline_s: float = CLOSE_DEADLINE_S) -> dict[str, Any]:
            return await self._host.drain(deadline_s)

        @ray.method(concurrency_group="health")
        async def pid(self) -> int:
            return self._host.pid

        @ray.method(concurrency_group="health")
        async def thumbnail(self, width: int = 320) -> bytes | None:
            return self._host.thumbnail(width)

        async def login_link(self) -> str | None:
            return self._host.login_link()  # on the channel's loop: its sign-in state lives there

        @ray.method(concurrency_group="health")
        async def metrics(self) -> str:
            return self._host.metrics()

    return ChannelActor
