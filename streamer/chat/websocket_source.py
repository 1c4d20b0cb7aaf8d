"""Any JSON-over-WebSocket chat feed, mapped field by field (``settings.fields``) and kind by kind (``settings.kinds``).

What it accepts: each text (or UTF-8 binary) frame is one JSON object, or a JSON list of them. A frame that is not
JSON, or an object without a user (or, for comments, without text), is skipped and counted in ``skipped`` (feeds
send their own control frames: acks, heartbeats). A message without an id gets a stable hash id, so a replayed
copy is still recognised as a duplicate.

The ``websockets`` client does the protocol work: it answers pings, sends its own keepalive pings (a silent dead
connection is detected within ``ping_interval_s + ping_timeout_s``), and closes cleanly when cancelled. A frame
larger than ``max_message_bytes`` makes it close the connection (code 1009); the source then reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect

from streamer.backoff import Backoff
from streamer.chat.sources import (
    ChatSource,
    Emit,
    ReconnectRequested,
    SourceError,
    display_url,
    secret_from_env,
)
from streamer.clock import Clock
from streamer.config import WebSocketChatSource
from streamer.frames import CHAT_KINDS, ChatKind, ChatMessage

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024

#: Frames up to this size are read and (past the message limit) dropped alone; a bigger one ends the connection.
HARD_FRAME_CAP_BYTES = 1024 * 1024
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def get_path(obj: Any, path: str | None) -> Any:
    """The value at a dotted path (``data.author.name``; digits index lists: ``items.0.text``), or None."""
    if not path:
        return None
    cur = obj
    for part in path.split("."):
        if isinstance(cur, Mapping):
            if part not in cur:
                return None
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit():
            idx = int(part)
            if idx >= len(cur):
                return None
            cur = cur[idx]
        else:
            return None
    return cur


def _scalar_text(value: Any) -> str | None:
    """Strings and numbers as text; anything else (objects, lists, null, booleans) as None. A lone surrogate (a JSON
    ``\\ud800`` escape, which no encoder takes: not in the log, the audit database or the voice) becomes "?"."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int | float):
        return str(value)
    return None


def parse_timestamp(value: Any) -> float | None:
    """Unix seconds from seconds, milliseconds (detected by size), numeric strings or ISO 8601 text; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            return dt.timestamp() if dt.tzinfo is not None else None
    if isinstance(value, int | float):
        ts = float(value)
        return ts / 1000.0 if ts > 1e11 else ts
    return None


def stable_id(obj: Any) -> str:
    """A content hash for messages that come without an id: the same JSON always gives the same id."""
    canonical = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    # surrogatepass: a lone surrogate (a JSON "\\ud800" escape) is hashed as it came, not an error.
    return "h-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def open_feed(
    url: str,
    *,
    max_size: int,
    open_timeout_s: float,
    ping_interval_s: float,
    ping_timeout_s: float,
    headers: dict[str, str] | None = None,
) -> connect:
    """A chat feed connection (use with ``async with``, then :func:`polite_close`): keep-alive pings, a bounded
    frame size, a short close handshake, and no proxy from the environment for a loopback feed (the simulator,
    tests), which a proxy would capture."""
    host = urlsplit(url).hostname or ""
    return connect(
        url,
        additional_headers=headers or None,
        max_size=max_size,
        open_timeout=open_timeout_s,
        ping_interval=ping_interval_s,
        ping_timeout=ping_timeout_s,
        close_timeout=2.0,
        proxy=None if host in LOOPBACK_HOSTS else True,
        # Compression costs the show's CPU on every frame; over loopback it saves nothing.
        compression=None if host in LOOPBACK_HOSTS else "deflate",
    )


@contextlib.asynccontextmanager
async def polite_close(ws: ClientConnection) -> AsyncIterator[None]:
    """Close with 1001 "going away" when we stop or reconnect on request.

    Leaving ``async with connect(...)`` by an exception closes with 1011 "internal error", which tells the server
    we crashed; that stays the code for real failures.
    """
    try:
        yield
    except (asyncio.CancelledError, ReconnectRequested):
        with contextlib.suppress(Exception):
            await ws.close(1001, "going away")
        raise


class FrameMapper:
    """Pure: turns one decoded JSON object into a :class:`ChatMessage` (or None) following the settings."""

    def __init__(self, settings: WebSocketChatSource, *, source: str) -> None:
        self.fields = settings.fields
        self.kinds = dict(settings.kinds)
        self.source = source

    def kind_of(self, raw: Any) -> ChatKind:
        key = _scalar_text(raw)
        if key is None:
            return "comment"
        if key in self.kinds:
            return self.kinds[key]
        # A feed that already speaks our vocabulary needs no mapping; anything unknown is a comment.
        return cast(ChatKind, key) if key in CHAT_KINDS else "comment"

    def map(self, obj: Any) -> ChatMessage | None:
        if not isinstance(obj, Mapping):
            return None
        user = _scalar_text(get_path(obj, self.fields.user))
        if user is None or not user.strip():
            return None
        kind = self.kind_of(get_path(obj, self.fields.kind)) if self.fields.kind else "comment"
        text = _scalar_text(get_path(obj, self.fields.text))
        if text is None or not text.strip():
            if kind == "comment":
                return None
            text = ""  # a like, join or gift may come without words
        msg_id = _scalar_text(get_path(obj, self.fields.id)) or stable_id(obj)
        user_id = _scalar_text(get_path(obj, self.fields.user_id)) if self.fields.user_id else None
        sent_at = parse_timestamp(get_path(obj, self.fields.timestamp)) if self.fields.timestamp else None
        tags: dict[str, str] = {}
        raw_kind = _scalar_text(get_path(obj, self.fields.kind)) if self.fields.kind else None
        if raw_kind is not None and raw_kind != kind:
            tags["platform_kind"] = raw_kind[:64]
        return ChatMessage(
            source=self.source,
            message_id=msg_id,
            user=user,
            text=text,
            kind=kind,
            user_id=user_id or "",
            sent_at_s=sent_at,
            tags=tags,
        )


class WebSocketSource(ChatSource):
    """Generic JSON chat over WebSocket. ``headers_env`` values are secrets read from the environment."""

    kind = "websocket"

    def __init__(
        self,
        settings: WebSocketChatSource,
        *,
        clock: Clock,
        env: Mapping[str, str],
        backoff: Backoff | None = None,
        max_backoff_s: float = 30.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        open_timeout_s: float = 10.0,
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
    ) -> None:
        super().__init__(
            name=settings.name,
            clock=clock,
            backoff=backoff,
            max_backoff_s=max_backoff_s,
        )
        self.settings = settings
        self._url = settings.url
        self._headers: dict[str, str] = {}
        for header, var in settings.headers_env.items():
            value = secret_from_env(var, env=env, what=f"chat source {settings.name!r} header {header}")
            self._headers[header] = value
            self._add_secret(value)
        self._mapper = FrameMapper(settings, source=settings.name)
        self._max_message_bytes = max_message_bytes
        self._open_timeout_s = open_timeout_s
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s

    @property
    def url(self) -> str:
        return self._url

    def parse_frame(self, frame: str | bytes) -> list[ChatMessage] | None:
        """Messages in one frame; None when the frame is not JSON. Objects that are not messages are left out."""
        if isinstance(frame, bytes):
            try:
                frame = frame.decode("utf-8")
            except UnicodeDecodeError:
                return None
        try:
            data = json.loads(frame)
        except ValueError:
            return None
        items = data if isinstance(data, list) else [data]
        out = []
        for item in items:
            msg = self._read(self._mapper.map, item)
            if msg is None:
                self.skipped += 1
            else:
                out.append(msg)
        return out

    async def _session(self, deliver: Emit) -> None:
        async with (
            open_feed(
                self._url,
                headers=self._headers,
                # A frame over the message limit is dropped after it is read; only one over this hard cap (memory)
                # ends the connection.
                max_size=max(HARD_FRAME_CAP_BYTES, self._max_message_bytes),
                open_timeout_s=self._open_timeout_s,
                ping_interval_s=self._ping_interval_s,
                ping_timeout_s=self._ping_timeout_s,
            ) as ws,
            polite_close(ws),
        ):
            self._mark_live()
            log.info("chat %s: connected to %s", self.name, display_url(self._url))
            if self.settings.subscribe:
                await ws.send(self.settings.subscribe)
            async for frame in ws:
                if len(frame) > self._max_message_bytes:  # read whole (bounded below), dropped: the connection stays
                    self.skipped += 1
                    continue
                messages = self._read(self.parse_frame, frame)
                if messages is None:
                    self.skipped += 1
                    continue
                for msg in messages:
                    deliver(msg)
            # Iteration ends on a clean close from the server; say which close it was.
            code = ws.close_code
            reason = ws.close_reason or ""
            raise _closed(code, reason)


def _closed(code: int | None, reason: str) -> SourceError:
    detail = f" ({reason[:120]})" if reason else ""
    return SourceError(f"the server closed the connection with code {code}{detail}")
