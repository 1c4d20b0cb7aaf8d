"""Twitch chat over its IRC-over-WebSocket interface (``wss://irc-ws.chat.twitch.tv``).

Login: ``CAP REQ :twitch.tv/tags twitch.tv/commands``, ``PASS oauth:...`` (only when a token is configured),
``NICK``; after the server's ``001`` welcome, ``JOIN #channel``. Without a token the login is anonymous and
read-only (``justinfan...`` nicks).

What becomes a :class:`~streamer.frames.ChatMessage`:

* ``PRIVMSG`` -> ``comment``; with ``bits`` (a cheer) -> ``gift``. IRCv3 tags give the id, display name, user id,
  send time (``tmi-sent-ts``) and the tags kept in ``ChatMessage.tags`` (``badges``, ``mod``, ``bits``...).
* ``USERNOTICE`` subs, resubs, gifted subs, bits badges -> ``gift``; raids and first-time chatters -> ``join``;
  announcements -> ``comment``; other notices are ignored.
* Our own nick's messages are ignored (no replying to ourselves).

Connection care: ``PING :tmi.twitch.tv`` is answered with ``PONG :tmi.twitch.tv``; ``RECONNECT`` (Twitch is
about to restart that server) reconnects at once with no backoff penalty; a login ``NOTICE`` (bad token, bad
nick) is a clear error and a longer backoff, since retrying at once will not fix the token.

Posting (:meth:`TwitchSource.post`): only with a token and ``post_replies: true``; at most 20 messages per 30 s
(a sliding window, :class:`SlidingWindowLimiter`); one line, control characters removed, at most 500 characters,
and never a chat command (a leading ``/`` or ``.`` is removed).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection

from streamer.backoff import Backoff
from streamer.chat.sources import ChatSource, Emit, ReconnectRequested, SourceError, secret_from_env
from streamer.chat.websocket_source import open_feed, polite_close, stable_id
from streamer.clock import Clock
from streamer.config import TwitchChatSource
from streamer.frames import ChatKind, ChatMessage
from streamer.untrusted import clean_untrusted

log = logging.getLogger(__name__)

POST_LIMIT = 20
POST_WINDOW_S = 30.0
MAX_POST_CHARS = 500
MAX_FRAME_BYTES = 64 * 1024
LOGIN_PENALTY_ATTEMPT = 3
"""A refused login waits as if it were the 4th failure in a row (2-4 s with the default base, then longer)."""

LOGIN_FAILURE_NOTICES = (
    "login authentication failed",
    "improperly formatted auth",
    "invalid nick",
    "login unsuccessful",
)

USERNOTICE_KINDS: dict[str, ChatKind] = {
    "sub": "gift",
    "resub": "gift",
    "subgift": "gift",
    "submysterygift": "gift",
    "giftpaidupgrade": "gift",
    "anongiftpaidupgrade": "gift",
    "primepaidupgrade": "gift",
    "standardpayforward": "gift",
    "communitypayforward": "gift",
    "bitsbadgetier": "gift",
    "raid": "join",
    "ritual": "join",
    "announcement": "comment",
}

_KEPT_TAGS = ("badges", "mod", "bits", "subscriber", "vip", "first-msg", "returning-chatter", "msg-id", "system-msg")


class SlidingWindowLimiter:
    """At most ``limit`` events in any ``window_s``: an event at time t counts while ``now < t + window_s``.

    Pure: the caller passes ``now`` (from the injected clock), so it is tested on a fake clock.
    """

    def __init__(self, *, limit: int = POST_LIMIT, window_s: float = POST_WINDOW_S) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._times: collections.deque[float] = collections.deque()

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] + self.window_s <= now:
            self._times.popleft()

    def try_acquire(self, now: float) -> bool:
        """Take a slot now if one is free (True), else change nothing (False)."""
        self._expire(now)
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    def wait_s(self, now: float) -> float:
        """Seconds until a slot frees up (0 if one is free now)."""
        self._expire(now)
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window_s - now

    def in_window(self, now: float) -> int:
        self._expire(now)
        return len(self._times)


# ---- IRC lines ------------------------------------------------------------------------------------------------

_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape_tag_value(value: str) -> str:
    """IRCv3 tag value unescaping (``\\s`` -> space, ``\\:`` -> ``;``...)."""
    if "\\" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 < len(value):
                nxt = value[i + 1]
                out.append(_TAG_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class IrcMessage:
    command: str
    params: tuple[str, ...] = ()
    prefix: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def nick(self) -> str:
        """``nick`` of a ``nick!user@host`` prefix (empty for server messages)."""
        return self.prefix.split("!", 1)[0] if "!" in self.prefix else ""

    @property
    def trailing(self) -> str:
        return self.params[-1] if self.params else ""


def parse_irc_line(line: str) -> IrcMessage | None:
    """One IRC line (without CRLF) -> :class:`IrcMessage`; None for an empty or malformed line."""
    rest = line.strip("\r\n")
    if not rest.strip():
        return None
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        for item in raw.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = unescape_tag_value(value)
    rest = rest.lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    trailing: str | None = None
    if rest.startswith(":"):
        return None
    if " :" in rest:
        rest, _, trailing = rest.partition(" :")
    parts = rest.split()
    if not parts:
        return None
    params = parts[1:]
    if trailing is not None:
        params.append(trailing)
    return IrcMessage(command=parts[0].upper(), params=tuple(params), prefix=prefix, tags=tags)


def sanitize_post(text: str) -> str:
    """One safe chat line: :func:`~streamer.untrusted.clean_untrusted` (CR, LF and other controls, bidi and
    zero-width characters out, whitespace collapsed; NFC, so a Chinese reply keeps its punctuation), no leading
    command character ("/ban x" or ".clear" would be a chat command, not a message: stripped after the invisible
    characters that could hide it), at most 500 characters (never inside an emoji)."""
    text = clean_untrusted(text, MAX_POST_CHARS * 4, ellipsis="", at_word=False).lstrip("/. ")
    return clean_untrusted(text, MAX_POST_CHARS, ellipsis="", at_word=False)


def _sent_at(tags: Mapping[str, str]) -> float | None:
    raw = tags.get("tmi-sent-ts", "")
    return int(raw) / 1000.0 if raw.isdigit() else None


# ---- the source ----------------------------------------------------------------------------------------------


class TwitchSource(ChatSource):
    """Twitch chat for one channel; posts replies when a token is configured and ``post_replies`` is on."""

    kind = "twitch"

    def __init__(
        self,
        settings: TwitchChatSource,
        *,
        clock: Clock,
        env: Mapping[str, str],
        backoff: Backoff | None = None,
        max_backoff_s: float = 30.0,
        login_timeout_s: float = 10.0,
        limiter: SlidingWindowLimiter | None = None,
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
        self.channel = "#" + settings.channel.lstrip("#").lower()
        self.nick = settings.nick.lower()
        self._token: str | None = None
        if settings.token_env:
            token = secret_from_env(settings.token_env, env=env, what=f"Twitch chat source {settings.name!r}")
            bare = token[6:] if token.lower().startswith("oauth:") else token
            self._token = f"oauth:{bare}"
            self._add_secret(self._token)  # the token as sent, and as it may appear without the prefix
            self._add_secret(bare)
        if self._token is not None and self.nick.startswith("justinfan"):
            log.warning(
                "chat %s: a token is set but the nick is anonymous (%s); set nick to the token's account",
                self.name,
                self.nick,
            )
        if settings.post_replies and self._token is None:
            log.warning("chat %s: post_replies is on but no token_env is set; replies will not be posted", self.name)
        self._limiter = limiter or SlidingWindowLimiter()
        self._login_timeout_s = login_timeout_s
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._ws: ClientConnection | None = None
        self.posted = 0
        self.post_refused = 0
        self.notices = 0

    @property
    def can_post(self) -> bool:
        return self._token is not None and self.settings.post_replies

    async def post(self, text: str) -> bool:
        """``PRIVMSG #channel :text`` when allowed, connected and within 20 per 30 s. Never raises."""
        if not self.can_post:
            return False
        line = sanitize_post(text)
        ws = self._ws
        if not line or ws is None:
            self.post_refused += 1
            return False
        if not self._limiter.try_acquire(self.clock.now()):
            self.post_refused += 1
            log.info("chat %s: reply not posted (20 per 30 s limit)", self.name)
            return False
        try:
            await ws.send(f"PRIVMSG {self.channel} :{line}")
        except Exception as exc:  # closed under us: the read loop reconnects
            self.post_refused += 1
            log.info("chat %s: reply not posted: %s", self.name, self.scrub(repr(exc)))
            return False
        self.posted += 1
        return True

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out.update(
            posted=self.posted,
            post_refused=self.post_refused,
            notices=self.notices,
            posts_in_window=self._limiter.in_window(self.clock.now()),
        )
        return out

    # ---- parsing (pure) ----------------------------------------------------------------------------------------

    def message_from_irc(self, m: IrcMessage) -> ChatMessage | None:
        """A PRIVMSG or USERNOTICE as a :class:`ChatMessage`; None for anything else or an unreadable line."""
        tags = m.tags
        if m.command == "PRIVMSG":
            if len(m.params) < 2:
                return None
            text = m.params[-1]
            login = m.nick
            action = text.startswith("\x01ACTION ") and text.endswith("\x01")
            if action:
                text = text[len("\x01ACTION ") : -1]
            bits = tags.get("bits", "")
            kind: ChatKind = "gift" if bits.isdigit() and int(bits) > 0 else "comment"
        elif m.command == "USERNOTICE":
            notice_kind = USERNOTICE_KINDS.get(tags.get("msg-id", ""))
            if notice_kind is None:
                return None
            kind = notice_kind
            login = tags.get("login", "")
            text = m.params[1] if len(m.params) > 1 else tags.get("system-msg", "")
            action = False
        else:
            return None
        user = tags.get("display-name") or login
        if not user:
            return None
        if kind == "comment" and not text.strip():
            return None
        kept = {k: tags[k] for k in _KEPT_TAGS if k in tags}
        kept.update({k: v for k, v in tags.items() if k.startswith("msg-param-")})
        if action:
            kept["action"] = "1"
        sent_at = _sent_at(tags)
        message_id = tags.get("id") or stable_id([m.command, login, text, tags.get("tmi-sent-ts", "")])
        return ChatMessage(
            source=self.name,
            message_id=message_id,
            user=user,
            text=text,
            kind=kind,
            user_id=tags.get("user-id", ""),
            sent_at_s=sent_at,
            tags=kept,
        )

    # ---- the connection -----------------------------------------------------------------------------------------

    async def _session(self, deliver: Emit) -> None:
        async with (
            open_feed(
                self.settings.url,
                max_size=MAX_FRAME_BYTES,
                open_timeout_s=self._login_timeout_s,
                ping_interval_s=self._ping_interval_s,
                ping_timeout_s=self._ping_timeout_s,
            ) as ws,
            polite_close(ws),
        ):
            await ws.send("CAP REQ :twitch.tv/tags twitch.tv/commands")
            if self._token is not None:
                await ws.send(f"PASS {self._token}")
            await ws.send(f"NICK {self.nick}")
            loop = asyncio.get_running_loop()
            login_deadline = loop.time() + self._login_timeout_s
            logged_in = False
            try:
                while True:
                    if logged_in:
                        frame = await ws.recv()
                    else:
                        remaining = login_deadline - loop.time()
                        try:
                            frame = await asyncio.wait_for(ws.recv(), timeout=max(0.0, remaining))
                        except TimeoutError:
                            raise SourceError(
                                f"Twitch did not accept the login within {self._login_timeout_s:.0f} s",
                                min_backoff_attempt=LOGIN_PENALTY_ATTEMPT,
                            ) from None
                    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
                    for line in text.split("\n"):
                        m = self._read(parse_irc_line, line)
                        if m is None:
                            continue
                        if m.command == "001" and not logged_in:
                            logged_in = True
                            await ws.send(f"JOIN {self.channel}")
                            self._ws = ws
                            self._mark_live()
                            continue
                        await self._handle(ws, m, deliver)
            finally:
                self._ws = None

    async def _handle(self, ws: ClientConnection, m: IrcMessage, deliver: Emit) -> None:
        if m.command == "PING":
            await ws.send(f"PONG :{m.trailing}" if m.params else "PONG")
        elif m.command == "RECONNECT":
            raise ReconnectRequested("RECONNECT")
        elif m.command == "NOTICE":
            self._notice(m)
        elif m.command in ("PRIVMSG", "USERNOTICE"):
            if m.command == "PRIVMSG" and m.nick.lower() == self.nick:
                return
            msg = self._read(self.message_from_irc, m)
            if msg is None:
                self.skipped += 1
            else:
                deliver(msg)
        # CAP ACK, JOIN echoes, 353/366 names, ROOMSTATE, USERSTATE, CLEARCHAT...: nothing to do.

    def _notice(self, m: IrcMessage) -> None:
        self.notices += 1
        text = m.trailing[:200]
        if any(f in text.lower() for f in LOGIN_FAILURE_NOTICES):
            hint = f" (check the token in {self.settings.token_env} and nick {self.nick!r})" if self._token else ""
            raise SourceError(f"Twitch refused the login: {text}{hint}", min_backoff_attempt=LOGIN_PENALTY_ATTEMPT)
        if m.tags.get("msg-id") in ("msg_channel_suspended", "msg_banned"):
            raise SourceError(f"Twitch: {text}", min_backoff_attempt=LOGIN_PENALTY_ATTEMPT)
        self.last_error = self.scrub(f"Twitch notice: {text}")
        log.info("chat %s: %s", self.name, self.last_error)
