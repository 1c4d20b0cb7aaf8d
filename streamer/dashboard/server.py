"""The operator dashboard: one aiohttp app in the show's own process and event loop.

Routes (all behind :class:`~streamer.dashboard.auth.DashboardAuth` except ``/healthz``):

* ``/`` the dashboard page, ``/login``;
* ``/ws/live`` the live preview (fMP4 remuxed from the published packets, see :mod:`streamer.publish.preview`);
* ``/events`` Server-Sent Events: comments with their triage decision, replies with latency, what was spoken,
  operator lines, approvals, config changes (recent history first, then live; bounded per client);
* ``/status.json`` health summary, ``/metrics`` Prometheus text, ``/healthz`` liveness ("ok", nothing else);
* ``/api/...`` JSON controls: show (skip, pin, order, pause), takeover, approvals, viewers, config files;
  ``/api/audit?since=1h&format=csv|jsonl`` downloads the audit log (see :mod:`streamer.audit`).

A POST must carry a JSON body with ``Content-Type: application/json``: with the SameSite=Strict session cookie,
the Origin check and the Host check (:mod:`streamer.dashboard.hardening`), that keeps other sites from driving the
controls; every response carries a Content-Security-Policy that frames nothing and runs only the page's script.
Errors are ``{"ok": false, "error": ...}`` with a 4xx status.
Nothing here ever sends a stream key or an API key: the page gets targets already redacted.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Iterator
from importlib import resources
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from streamer.chat.events import ChatEventLog
from streamer.dashboard.auth import LOGIN_PAGE, DashboardAuth
from streamer.dashboard.editor import CheckResult, UnknownFile
from streamer.dashboard.hardening import HostPolicy, content_security_policy, request_guard, security_headers
from streamer.publish.preview import PreviewHub
from streamer.publish.whep import WhepHub

log = logging.getLogger(__name__)

#: Longest operator line (characters): a takeover is a sentence or two, not a script.
MAX_TAKEOVER_CHARS = 500


class ControlError(Exception):
    """An operator request that cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ShowControl(Protocol):
    """What the dashboard may see and do in a running show (see :class:`streamer.control.OperatorControl`)."""

    events: ChatEventLog

    def status(self) -> dict[str, Any]: ...
    def metrics_text(self) -> str: ...
    def dashboard_state(self) -> dict[str, Any]: ...
    def skip_product(self) -> dict[str, Any]: ...
    def pin_product(self, product_id: str | None) -> dict[str, Any]: ...
    def reorder_products(self, product_ids: list[str]) -> dict[str, Any]: ...
    def pause_patter(self, paused: bool) -> dict[str, Any]: ...
    def takeover(self, text: str) -> dict[str, Any]: ...
    def configure_approval(self, enabled: bool, timeout_s: float | None) -> dict[str, Any]: ...
    def decide_approval(self, approval_id: str, action: str) -> dict[str, Any]: ...
    def viewer_action(self, user: str, action: str, minutes: float | None) -> dict[str, Any]: ...
    def config_files(self) -> list[dict[str, Any]]: ...
    def read_config_file(self, file_id: str) -> str: ...
    def check_config_file(self, file_id: str, text: str) -> CheckResult: ...
    async def apply_config_file(self, file_id: str, text: str) -> tuple[CheckResult, bool]: ...
    def audit_export(self, since: str, fmt: str) -> tuple[str, Iterator[str]]: ...


@functools.cache
def _page() -> str:
    """The dashboard page, read once (it ships with the package)."""
    return resources.files("streamer.web").joinpath("dashboard.html").read_text(encoding="utf-8")


def _sse_line(data: dict[str, Any]) -> bytes:
    return f"event: {data.get('kind', 'message')}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _ok(**data: Any) -> web.Response:
    return web.json_response({"ok": True, **data}, dumps=lambda o: json.dumps(o, default=str))


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ControlError("send JSON with Content-Type: application/json", 415)
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ControlError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ControlError("the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ControlError(f"{name}: expected a number")
    if not isinstance(value, kind):
        names: dict[Any, str] = {str: "text", bool: "true or false", list: "a list"}
        expected = names.get(kind, "a number")
        raise ControlError(f"{name}: expected {expected}")
    return value


@web.middleware
async def _control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ControlError as exc:
        return web.json_response({"ok": False, "error": str(exc)}, status=exc.status)
    except UnknownFile as exc:
        return web.json_response({"ok": False, "error": str(exc)}, status=404)


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port); the runner and the port it listens on."""
    # shutdown_timeout: what aiohttp gives handlers still running at cleanup (its default is 60 s).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    sockets = getattr(site._server, "sockets", None) or []
    return runner, (sockets[0].getsockname()[1] if sockets else port)


class DashboardServer:
    def __init__(
        self,
        hub: PreviewHub | None,
        *,
        control: ShowControl,
        host: str,
        port: int,
        auth: DashboardAuth,
        whep: WhepHub | None = None,
        allowed_hosts: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.hub = hub
        self.whep = whep
        """The WebRTC preview (``POST /whep``); the page falls back to ``hub`` (MSE) without it."""
        self.control = control
        self._auth = auth
        self._hosts = HostPolicy(host, allowed_hosts)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None
        self._closing = asyncio.Event()
        """Set by :meth:`aclose`: long-lived responses (event stream, live preview) end at once."""

    def app(self) -> web.Application:
        middlewares = [
            security_headers(content_security_policy(_page(), LOGIN_PAGE)),
            request_guard(self._hosts),
            self._auth.middleware(),
            _control_errors,
        ]
        app = web.Application(middlewares=middlewares, client_max_size=1 << 20)
        r = app.router
        r.add_get("/login", self._auth.login)
        r.add_post("/login", self._auth.login)
        r.add_get("/healthz", self._health)
        r.add_get("/favicon.ico", self._no_content)
        r.add_get("/", self._index)
        r.add_get("/ws/live", self._ws)
        r.add_post("/whep", self._whep_offer)
        r.add_delete("/whep/{viewer_id}", self._whep_hang_up)
        r.add_get("/status.json", self._status_json)
        r.add_get("/metrics", self._metrics_text)
        r.add_get("/events", self._sse)
        r.add_get("/api/state", self._state)
        r.add_post("/api/show/skip", self._skip)
        r.add_post("/api/show/pin", self._pin)
        r.add_post("/api/show/order", self._order)
        r.add_post("/api/show/pause", self._pause)
        r.add_post("/api/takeover", self._takeover)
        r.add_post("/api/approval", self._approval)
        r.add_post("/api/approval/{approval_id}", self._decide)
        r.add_post("/api/viewers", self._viewers)
        r.add_get("/api/files", self._files)
        r.add_get("/api/files/{file_id}", self._read_file)
        r.add_post("/api/files/{file_id}/check", self._check_file)
        r.add_post("/api/files/{file_id}", self._apply_file)
        r.add_get("/api/audit", self._audit)
        return app

    async def start(self) -> None:
        self._runner, self.bound_port = await start_site(self.app(), self.host, self.port)

    async def aclose(self, timeout_s: float = 1.0) -> None:
        """Stop serving: open event streams and preview sockets end, and the listener closes, within
        ``timeout_s`` (a tab left open on the dashboard never holds the show's exit)."""
        self._closing.set()
        if self.hub is not None:
            self.hub.close()
        if self.whep is not None:
            await self.whep.aclose()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            try:
                await asyncio.wait_for(runner.cleanup(), timeout_s)
            except TimeoutError:
                log.warning("dashboard: connections still open after %.1f s; closed with the process", timeout_s)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.bound_port or self.port}/"

    # ---- pages and feeds ---------------------------------------------------------------------------------

    async def _whep_offer(self, request: web.Request) -> web.Response:
        """WHEP: an SDP offer (receive only) in, ``201`` + ``Location`` + the SDP answer out."""
        if self.whep is None:
            raise ControlError("no WebRTC preview in this show", 404)
        if request.content_type != "application/sdp":
            raise ControlError("send the SDP offer with Content-Type: application/sdp", 415)
        from streamer.publish.whep import WhepError

        try:
            viewer_id, answer = await self.whep.answer(await request.text())
        except WhepError as exc:
            raise ControlError(str(exc), exc.status) from None
        return web.Response(
            status=201,
            text=answer,
            content_type="application/sdp",
            headers={"Location": f"/whep/{viewer_id}", "Cache-Control": "no-store"},
        )

    async def _whep_hang_up(self, request: web.Request) -> web.Response:
        if self.whep is None or not await self.whep.hang_up(request.match_info["viewer_id"]):
            raise ControlError("no such WebRTC preview session", 404)
        return web.Response(status=200)

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=_page(), content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _no_content(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _status_json(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self.control.status(), default=str), content_type="application/json")

    async def _metrics_text(self, request: web.Request) -> web.Response:
        return web.Response(text=self.control.metrics_text(), content_type="text/plain", charset="utf-8")

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        """Show events as Server-Sent Events: recent history first, then live (bounded per client)."""
        events = self.control.events
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await resp.prepare(request)
        queue = events.subscribe()
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            for event in events.recent(limit=200):
                await resp.write(_sse_line(event.as_dict()))
            while not closing.done():
                get = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({get, closing}, timeout=15.0, return_when=asyncio.FIRST_COMPLETED)
                if get in done:
                    await resp.write(_sse_line(get.result().as_dict()))
                    continue
                get.cancel()
                if not done:
                    await resp.write(b": keep-alive\n\n")
        except ConnectionResetError:
            pass
        finally:
            closing.cancel()
            events.unsubscribe(queue)
        return resp

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        if self.hub is None:
            raise web.HTTPNotFound(text="the preview is off in this show")
        hub = self.hub
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        viewer = hub.add()
        log.info("preview viewer joined (%d watching)", hub.viewers)
        await ws.send_str(json.dumps({"type": "init", "mime": hub.mime}))

        async def drain_incoming() -> None:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break

        reader = asyncio.create_task(drain_incoming(), name="preview:ws-reader")
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            while not ws.closed and not reader.done() and not closing.done():
                get = asyncio.create_task(viewer.queue.get())
                done, _ = await asyncio.wait({get, reader, closing}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                data = get.result()
                if data == b"":
                    await ws.send_str(json.dumps({"type": "init", "mime": hub.mime}))
                elif isinstance(data, str):
                    await ws.send_str(data)
                else:
                    await ws.send_bytes(data)
        except ConnectionResetError:
            pass
        finally:
            reader.cancel()
            closing.cancel()
            hub.remove(viewer)
            log.info("preview viewer left (%d watching)", hub.viewers)
            await ws.close()
        return ws

    # ---- controls ----------------------------------------------------------------------------------------

    async def _state(self, request: web.Request) -> web.Response:
        return _ok(**self.control.dashboard_state())

    async def _skip(self, request: web.Request) -> web.Response:
        await _body(request)
        return _ok(**self.control.skip_product())

    async def _pin(self, request: web.Request) -> web.Response:
        data = await _body(request)
        return _ok(**self.control.pin_product(_field(data, "product_id", str, required=False)))

    async def _order(self, request: web.Request) -> web.Response:
        ids = _field(await _body(request), "product_ids", list)
        if not all(isinstance(i, str) for i in ids):
            raise ControlError("product_ids: expected a list of product ids")
        return _ok(**self.control.reorder_products(ids))

    async def _pause(self, request: web.Request) -> web.Response:
        return _ok(**self.control.pause_patter(_field(await _body(request), "paused", bool)))

    async def _takeover(self, request: web.Request) -> web.Response:
        text = _field(await _body(request), "text", str)
        if not text.strip():
            raise ControlError("text: write what the host should say")
        if len(text) > MAX_TAKEOVER_CHARS:
            raise ControlError(f"text: at most {MAX_TAKEOVER_CHARS} characters")
        return _ok(**self.control.takeover(text))

    async def _approval(self, request: web.Request) -> web.Response:
        data = await _body(request)
        enabled = _field(data, "enabled", bool)
        timeout = _field(data, "timeout_s", (int, float), required=False)
        return _ok(**self.control.configure_approval(enabled, float(timeout) if timeout is not None else None))

    async def _decide(self, request: web.Request) -> web.Response:
        action = _field(await _body(request), "action", str)
        if action not in ("approve", "reject"):
            raise ControlError("action: approve or reject")
        return _ok(**self.control.decide_approval(request.match_info["approval_id"], action))

    async def _viewers(self, request: web.Request) -> web.Response:
        data = await _body(request)
        user = _field(data, "user", str)
        action = _field(data, "action", str)
        if action not in ("mute", "block", "unblock"):
            raise ControlError("action: mute, block or unblock")
        minutes = _field(data, "minutes", (int, float), required=False)
        return _ok(**self.control.viewer_action(user, action, float(minutes) if minutes is not None else None))

    async def _files(self, request: web.Request) -> web.Response:
        return _ok(files=self.control.config_files())

    async def _read_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        return _ok(id=file_id, text=await asyncio.to_thread(self.control.read_config_file, file_id))

    async def _check_file(self, request: web.Request) -> web.Response:
        text = _field(await _body(request), "text", str)
        result = await asyncio.to_thread(self.control.check_config_file, request.match_info["file_id"], text)
        return _ok(problems=result.problems_json(), applied=False) if result.ok else _problems(result, False)

    async def _apply_file(self, request: web.Request) -> web.Response:
        text = _field(await _body(request), "text", str)
        result, applied = await self.control.apply_config_file(request.match_info["file_id"], text)
        if not result.ok:
            return _problems(result, False, status=422)
        return _ok(problems=result.problems_json(), applied=applied)

    async def _audit(self, request: web.Request) -> web.StreamResponse:
        """The audit log since ``since`` (default 24h) as a CSV or JSONL download, streamed page by page (the file
        is read off the event loop; a dashboard that closes ends the download)."""
        since = request.query.get("since", "24h")
        fmt = request.query.get("format", "csv")
        if fmt not in ("csv", "jsonl"):
            raise ControlError("format: csv or jsonl")
        content_type, chunks = await asyncio.to_thread(self.control.audit_export, since, fmt)
        name = "audit-" + "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in since)[:40]
        resp = web.StreamResponse(
            headers={
                "Content-Type": content_type,
                "Cache-Control": "no-store",
                "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            }
        )
        try:
            await resp.prepare(request)
            while True:
                if self._closing.is_set():  # the show stops: no end of body, so the download reads as cut short
                    if request.transport is not None:
                        request.transport.close()
                    return resp
                chunk = await asyncio.to_thread(next, chunks, None)
                if chunk is None:
                    break
                await resp.write(chunk.encode("utf-8"))
            await resp.write_eof()
        except ConnectionResetError:
            pass
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                try:
                    close()
                except ValueError:  # still being read in a worker thread (cancelled): closed when collected
                    pass
        return resp


def _problems(result: CheckResult, applied: bool, status: int = 200) -> web.Response:
    body = {"ok": False, "problems": result.problems_json(), "applied": applied}
    return web.json_response(body, status=status)
