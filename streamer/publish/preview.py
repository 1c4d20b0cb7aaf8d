"""Local live preview: the published packets, remuxed (not re-encoded) to fragmented MP4 over a WebSocket.

A browser plays it with Media Source Extensions. Each viewer gets its own tiny fMP4 muxer that starts at a
keyframe (a join asks the encoder for one, so the picture appears at once). A slow viewer is never allowed to
hold memory: past ``max_backlog`` fragments it is reset to the next keyframe (it sees the latest picture).
Nobody watching costs nothing: with no viewers, packets are not even copied.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

import av
from aiohttp import WSMsgType, web

from streamer.chat.events import ChatEventLog
from streamer.publish.auth import DashboardAuth
from streamer.publish.encoder import EncodedPacket

log = logging.getLogger(__name__)


def avc_codec_string(extradata: bytes | None) -> str:
    """RFC 6381 codec string (``avc1.PPCCLL``) from H.264 extradata, Annex B or avcC."""
    if not extradata:
        return "avc1.64001f"
    data = bytes(extradata)
    if data[0] == 1 and len(data) >= 4:  # avcC
        return f"avc1.{data[1]:02x}{data[2]:02x}{data[3]:02x}"
    # Annex B: find the SPS (nal type 7) after a start code.
    i = 0
    while i + 4 < len(data):
        if data[i : i + 3] == b"\x00\x00\x01":
            nal = data[i + 3]
            if nal & 0x1F == 7 and i + 6 < len(data):
                return f"avc1.{data[i + 4]:02x}{data[i + 5]:02x}{data[i + 6]:02x}"
            i += 3
        else:
            i += 1
    return "avc1.64001f"


class _Collector(io.RawIOBase):
    """A write-only file object that hands over what the muxer wrote since the last :meth:`take`."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._chunks.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


class PreviewViewer:
    """One browser: its own fMP4 muxer and a bounded queue of fragments to send."""

    def __init__(self, hub: PreviewHub, *, max_backlog: int) -> None:
        self.hub = hub
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.max_backlog = max_backlog
        self._container: Any = None
        self._vs: Any = None
        self._as: Any = None
        self._io: _Collector | None = None
        self.resets = 0

    def _open(self) -> None:
        self._io = _Collector()
        self._container = av.open(
            self._io,
            "w",
            format="mp4",
            options={"movflags": "empty_moov+default_base_moof+frag_every_frame+separate_moof", "flush_packets": "1"},
        )
        self._vs = self._container.add_stream_from_template(self.hub.video_template)
        self._as = self._container.add_stream_from_template(self.hub.audio_template)
        self._container.start_encoding()

    def _close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self._container = None

    def feed(self, packets: list[EncodedPacket]) -> None:
        for p in packets:
            if self._container is None:
                if not (p.kind == "video" and p.keyframe):
                    continue
                self._open()
            stream = self._vs if p.kind == "video" else self._as
            try:
                self._container.mux(p.to_av(stream))
            except Exception as exc:  # a muxer hiccup must not hurt the show: restart this viewer
                log.warning("preview muxer error, resetting viewer: %s", exc)
                self.reset()
                return
        assert self._io is not None or self._container is None
        if self._io is not None:
            data = self._io.take()
            if data:
                if self.queue.qsize() >= self.max_backlog:
                    self.reset()
                    return
                self.queue.put_nowait(data)

    def reset(self) -> None:
        """Drop the backlog; start again at the next keyframe with a fresh init segment."""
        self.resets += 1
        self._close()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(b"")  # tells the sender to announce a restart
        self.hub.want_keyframe()

    def close(self) -> None:
        self._close()


class PreviewHub:
    """Fans packets out to browser viewers on the event loop. ``offer`` is safe to call from the media thread."""

    def __init__(
        self,
        *,
        video_template: Any,
        audio_template: Any,
        want_keyframe: Callable[[], None],
        loop: asyncio.AbstractEventLoop,
        max_backlog: int = 60,
    ) -> None:
        self.video_template = video_template
        self.audio_template = audio_template
        self.want_keyframe = want_keyframe
        self._loop = loop
        self._viewers: set[PreviewViewer] = set()
        self._max_backlog = max_backlog
        self.mime = f'video/mp4; codecs="{avc_codec_string(video_template.codec_context.extradata)}, mp4a.40.2"'

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def offer(self, packets: list[EncodedPacket]) -> None:
        if self._viewers and packets:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self._loop.call_soon_threadsafe(self._feed, packets)

    def _feed(self, packets: list[EncodedPacket]) -> None:
        for v in list(self._viewers):
            v.feed(packets)

    def add(self) -> PreviewViewer:
        v = PreviewViewer(self, max_backlog=self._max_backlog)
        self._viewers.add(v)
        self.want_keyframe()
        return v

    def remove(self, v: PreviewViewer) -> None:
        self._viewers.discard(v)
        v.close()

    def close(self) -> None:
        for v in list(self._viewers):
            self.remove(v)


def _sse_line(data: dict[str, Any]) -> bytes:
    return f"event: {data.get('kind', 'message')}\ndata: {json.dumps(data, default=str)}\n\n".encode()


class PreviewServer:
    """aiohttp app: ``/`` (player page), ``/ws/live`` (fMP4 stream), ``/status.json``, ``/events`` (SSE),
    ``/metrics`` (Prometheus), ``/login``; all behind :class:`DashboardAuth` except ``/healthz``."""

    def __init__(
        self,
        hub: PreviewHub,
        *,
        status: Callable[[], dict[str, Any]],
        host: str,
        port: int,
        auth: DashboardAuth,
        events: ChatEventLog | None = None,
        metrics: Callable[[], str] | None = None,
    ) -> None:
        self.hub = hub
        self._status = status
        self._events = events
        self._auth = auth
        self._metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth.middleware()])
        app.router.add_get("/login", self._auth.login)
        app.router.add_post("/login", self._auth.login)
        app.router.add_get("/metrics", self._metrics_text)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws/live", self._ws)
        app.router.add_get("/status.json", self._status_json)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/favicon.ico", self._no_content)
        app.router.add_get("/events", self._sse)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port

    async def aclose(self) -> None:
        self.hub.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.bound_port or self.port}/"

    async def _index(self, request: web.Request) -> web.Response:
        page = resources.files("streamer.web").joinpath("preview.html").read_text(encoding="utf-8")
        return web.Response(text=page, content_type="text/html")

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        """Chat and reply events as Server-Sent Events: recent history first, then live (bounded per client)."""
        if self._events is None:
            raise web.HTTPNotFound(text="no chat sources in this show")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await resp.prepare(request)
        queue = self._events.subscribe()
        try:
            for event in self._events.recent(limit=100):
                await resp.write(_sse_line(event.as_dict()))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=15.0)
                    await resp.write(_sse_line(event.as_dict()))
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._events.unsubscribe(queue)
        return resp

    async def _metrics_text(self, request: web.Request) -> web.Response:
        text = self._metrics() if self._metrics is not None else ""
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def _no_content(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _status_json(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self._status(), default=str), content_type="application/json")

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        viewer = self.hub.add()
        log.info("preview viewer joined (%d watching)", self.hub.viewers)
        await ws.send_str(json.dumps({"type": "init", "mime": self.hub.mime}))

        async def drain_incoming() -> None:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break

        reader = asyncio.create_task(drain_incoming(), name="preview:ws-reader")
        try:
            while not ws.closed and not reader.done():
                get = asyncio.create_task(viewer.queue.get())
                done, _ = await asyncio.wait({get, reader}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                data = get.result()
                if data == b"":
                    await ws.send_str(json.dumps({"type": "init", "mime": self.hub.mime}))
                    continue
                await ws.send_bytes(data)
        except ConnectionResetError:
            pass
        finally:
            reader.cancel()
            self.hub.remove(viewer)
            log.info("preview viewer left (%d watching)", self.hub.viewers)
            await ws.close()
        return ws
