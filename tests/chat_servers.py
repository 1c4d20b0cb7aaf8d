"""Loopback fakes of chat platforms for the chat-source tests: real servers, scripted per connection.

* :class:`ScriptedWebSocketServer` -- a ``websockets`` server that plays a list of actions per connection.
* :class:`FakeTwitchServer` -- speaks Twitch's IRC-over-WebSocket dialect (login, JOIN, PING, RECONNECT, NOTICE).
* :class:`FakeYouTubeServer` -- an aiohttp server imitating ``GET /youtube/v3/liveChat/messages``.
* :class:`InstantClock` -- virtual time: ``sleep`` records the requested seconds, moves ``now`` and returns at once.

Everything binds 127.0.0.1 on an ephemeral port; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers


class InstantClock:
    """Virtual time for network tests: ``sleep(s)`` is recorded, advances ``now`` by ``s`` and yields once."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] | None = None

    def now(self) -> float:
        return self._now

    def sleep_blocking(self, seconds: float, stop: threading.Event | None = None) -> None:
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        self._now += max(0.0, seconds)
        await asyncio.sleep(0.001)  # let real I/O move; never spin the loop


async def wait_until(predicate: Callable[[], bool], *, timeout_s: float = 3.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.005)


def _port_of(server: Server) -> int:
    return int(server.sockets[0].getsockname()[1])


# ---- generic WebSocket -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Close:
    code: int = 1000
    reason: str = ""


@dataclass(frozen=True)
class Ping:
    """Send a WebSocket ping and record whether the pong came back within 2 s."""


Action = str | bytes | Close | Ping


class ScriptedWebSocketServer:
    """Plays ``sessions[i]`` to the i-th connection, then keeps it open; later connections get nothing."""

    def __init__(self, sessions: Sequence[Sequence[Action]]) -> None:
        self.sessions = [list(s) for s in sessions]
        self.connections = 0
        self.received: list[list[str | bytes]] = []
        self.headers: list[Headers] = []
        self.pongs = 0
        self.close_codes: dict[int, int | None] = {}
        """Connection index -> the close code the client sent (or received), once closed."""
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{_port_of(self._server)}/feed"

    async def __aenter__(self) -> ScriptedWebSocketServer:
        self._server = await serve(self._handler, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _read(self, ws: ServerConnection, idx: int) -> None:
        try:
            async for msg in ws:
                self.received[idx].append(msg)
        except Exception:
            pass

    async def _handler(self, ws: ServerConnection) -> None:
        idx = self.connections
        self.connections += 1
        self.received.append([])
        self.headers.append(ws.request.headers if ws.request else Headers())
        reader = asyncio.create_task(self._read(ws, idx))
        await asyncio.sleep(0.01)  # let a subscribe frame arrive first
        try:
            for action in self.sessions[idx] if idx < len(self.sessions) else []:
                if isinstance(action, Close):
                    await ws.close(action.code, action.reason)
                    return
                if isinstance(action, Ping):
                    waiter = await ws.ping()
                    await asyncio.wait_for(waiter, 2.0)
                    self.pongs += 1
                    continue
                await ws.send(action)
            await reader
        finally:
            reader.cancel()
            await ws.wait_closed()
            self.close_codes[idx] = ws.close_code


# ---- Twitch -------------------------------------------------------------------------------------------------------


@dataclass
class TwitchSession:
    accept_login: bool = True
    lines: list[str] = field(default_factory=list)
    """Sent (one frame each) after the JOIN is confirmed."""
    ping: bool = False
    """Then send ``PING :tmi.twitch.tv`` and wait (2 s at most) for the PONG."""
    end: str = "hold"
    """``hold`` (until the client leaves), ``reconnect`` (send RECONNECT, then hold) or ``close``."""


class FakeTwitchServer:
    """Twitch's IRC WebSocket dialect, one scripted :class:`TwitchSession` per connection."""

    def __init__(self, sessions: Sequence[TwitchSession]) -> None:
        self.sessions = list(sessions)
        self.connections = 0
        self.received: list[list[str]] = []
        self.pongs: list[str] = []
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{_port_of(self._server)}"

    async def __aenter__(self) -> FakeTwitchServer:
        self._server = await serve(self._handler, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _recv_line(self, ws: ServerConnection, idx: int) -> str:
        frame = await asyncio.wait_for(ws.recv(), 3.0)
        line = frame.decode() if isinstance(frame, bytes) else frame
        self.received[idx].append(line)
        return line

    async def _handler(self, ws: ServerConnection) -> None:
        idx = self.connections
        self.connections += 1
        self.received.append([])
        session = self.sessions[idx] if idx < len(self.sessions) else TwitchSession()
        nick = "?"
        while True:
            line = await self._recv_line(ws, idx)
            if line.startswith("NICK "):
                nick = line.split()[1]
                break
        if not session.accept_login:
            await ws.send(":tmi.twitch.tv NOTICE * :Login authentication failed")
            await ws.close()
            return
        await ws.send(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands")
        # Real Twitch sends the welcome burst as several lines in one frame.
        await ws.send(
            f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!\r\n"
            f":tmi.twitch.tv 002 {nick} :Your host is tmi.twitch.tv\r\n"
            f":tmi.twitch.tv 376 {nick} :>\r\n"
        )
        join = await self._recv_line(ws, idx)
        channel = join.split()[1] if join.startswith("JOIN ") else "#?"
        await ws.send(f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN {channel}")
        for line in session.lines:
            await ws.send(line)
        if session.ping:
            await ws.send("PING :tmi.twitch.tv")
            while True:
                line = await self._recv_line(ws, idx)
                if line.startswith("PONG"):
                    self.pongs.append(line)
                    break
        if session.end == "reconnect":
            await ws.send(":tmi.twitch.tv RECONNECT")
        elif session.end == "close":
            await ws.close()
            return
        try:
            async for msg in ws:
                self.received[idx].append(msg if isinstance(msg, str) else msg.decode())
        except Exception:
            pass


def privmsg(
    text: str,
    *,
    nick: str = "viewer1",
    display: str = "Viewer1",
    msg_id: str = "m-1",
    channel: str = "#shopchannel",
    extra: str = "",
) -> str:
    tags = (
        f"@badge-info=;badges=subscriber/12;color=#1E90FF;display-name={display};emotes=;first-msg=0;"
        f"id={msg_id};mod=0;room-id=9;subscriber=1;tmi-sent-ts=1700000000123;turbo=0;user-id=u-{nick};user-type="
    )
    if extra:
        tags += ";" + extra
    return f"{tags} :{nick}!{nick}@{nick}.tmi.twitch.tv PRIVMSG {channel} :{text}"


# ---- YouTube -----------------------------------------------------------------------------------------------------


def iso(wall_s: float) -> str:
    return datetime.fromtimestamp(wall_s, UTC).isoformat().replace("+00:00", "Z")


def yt_item(
    msg_id: str,
    user: str,
    text: str,
    *,
    published_s: float,
    event: str = "textMessageEvent",
    details: dict[str, Any] | None = None,
    moderator: bool = False,
) -> dict[str, Any]:
    snippet: dict[str, Any] = {
        "type": event,
        "liveChatId": "chat-1",
        "authorChannelId": f"UC-{user}",
        "publishedAt": iso(published_s),
        "hasDisplayContent": True,
        "displayMessage": text,
    }
    if event == "textMessageEvent":
        snippet["textMessageDetails"] = {"messageText": text}
    if details:
        snippet.update(details)
    return {
        "kind": "youtube#liveChatMessage",
        "etag": "x",
        "id": msg_id,
        "snippet": snippet,
        "authorDetails": {
            "channelId": f"UC-{user}",
            "displayName": user,
            "isChatModerator": moderator,
            "isChatOwner": False,
            "isChatSponsor": False,
            "isVerified": False,
        },
    }


def yt_page(items: list[dict[str, Any]], *, next_token: str, polling_ms: int) -> dict[str, Any]:
    return {
        "kind": "youtube#liveChatMessageListResponse",
        "pollingIntervalMillis": polling_ms,
        "nextPageToken": next_token,
        "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        "items": items,
    }


def yt_error(status: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": status, "message": message, "errors": [{"reason": reason, "domain": "youtube"}]}}


class FakeYouTubeServer:
    """``GET /youtube/v3/liveChat/messages``: answers ``responses`` in order, then empty pages.

    Records each request's query parameters and the time (``now()``) it arrived.
    """

    def __init__(self, responses: Sequence[tuple[int, dict[str, Any]]], *, now: Callable[[], float]) -> None:
        self.responses = list(responses)
        self.requests: list[dict[str, str]] = []
        self.times: list[float] = []
        self._now = now
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/youtube/v3"

    async def __aenter__(self) -> FakeYouTubeServer:
        app = web.Application()
        app.router.add_get("/youtube/v3/liveChat/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _messages(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        self.times.append(self._now())
        n = len(self.requests) - 1
        if n < len(self.responses):
            status, body = self.responses[n]
        else:
            status, body = 200, yt_page([], next_token=f"idle-{n}", polling_ms=2000)
        return web.json_response(body, status=status)
