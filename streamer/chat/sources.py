"""The chat-source interface and what every source shares: the reconnect loop, duplicate dropping, metrics.

A source turns one platform's chat into :class:`~streamer.frames.ChatMessage` frames. Its contract:

* ``await source.run(emit)`` runs until cancelled. It never raises for network trouble: a lost connection, a
  refused login or a server error is counted, remembered in ``last_error`` (secrets scrubbed) and followed by a
  reconnect after an exponential backoff with jitter (:class:`~streamer.backoff.Backoff`). A
  connection that stayed up for ``stable_after_s`` resets the backoff.
* ``emit`` is called synchronously, once per new message, with ``received_s`` set from the injected clock.
  ``ChatMessage.source`` is the source's configured ``name`` (which defaults to its kind: "twitch", ...).
  Messages already seen (same ``(source, message_id)`` among the last ``dedupe_size``) are dropped, so the replay
  a feed sends after a reconnect is not answered twice.
* ``await source.post(text)`` returns True only when the text went out; sources that cannot reply return False.

Secrets (tokens, API keys) come from environment variables named in the settings; a missing variable is a
:class:`ChatSourceConfigError` at construction that names the variable. Secret values never appear in logs,
``last_error`` or :meth:`ChatSource.stats`.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import enum
import logging
import os
import re
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from streamer.backoff import Backoff, ReconnectPolicy
from streamer.clock import Clock
from streamer.config import SimulatorChatSource, TwitchChatSource, WebSocketChatSource, YouTubeChatSource
from streamer.frames import ChatMessage

log = logging.getLogger(__name__)

T = TypeVar("T")

Emit = Callable[[ChatMessage], None]
"""Receives each new message. Called from the source's task; it should only enqueue (never block)."""

DEFAULT_DEDUPE_SIZE = 5_000
DEFAULT_STABLE_AFTER_S = 10.0


class SourceState(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    LIVE = "live"
    BACKOFF = "backoff"
    QUOTA_EXHAUSTED = "quota exhausted"
    STOPPED = "stopped"


class ChatSourceConfigError(ValueError):
    """A source that cannot be built as configured (missing env var, bad script). Never contains a secret."""


class SourceError(Exception):
    """A session ended for a reason worth telling the operator. The message must not contain secrets.

    ``min_backoff_attempt`` raises the backoff step before the next wait: retrying a refused login right away will
    not fix the token, so such failures wait longer.
    """

    def __init__(self, message: str, *, min_backoff_attempt: int = 0) -> None:
        super().__init__(message)
        self.min_backoff_attempt = min_backoff_attempt


class ReconnectRequested(Exception):
    """The server asked us to reconnect (Twitch ``RECONNECT``): reconnect now, without a backoff penalty."""


class SourcePaused(Exception):
    """Stop for ``delay_s`` in ``state`` (e.g. the daily API quota is spent), then connect again. Not a failure."""

    def __init__(self, reason: str, *, delay_s: float, state: SourceState) -> None:
        super().__init__(reason)
        self.delay_s = delay_s
        self.state = state


def secret_from_env(var: str, *, env: Mapping[str, str], what: str) -> str:
    """The value of environment variable ``var``; a clear error naming the variable (never a value) if unset."""
    value = env.get(var, "")
    if not value.strip():
        raise ChatSourceConfigError(f"{what} needs environment variable {var}, which is not set (export {var}=...)")
    return value.strip()


class MessageDeduper:
    """Remembers the last ``size`` keys (least recently seen forgotten first). Bounded memory on long runs."""

    def __init__(self, size: int = DEFAULT_DEDUPE_SIZE) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._seen: collections.OrderedDict[Hashable, None] = collections.OrderedDict()

    def seen(self, key: Hashable) -> bool:
        """True if ``key`` was seen recently (a duplicate); otherwise remember it and return False."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._seen)


_URL_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?'\"]*)\?[^\s'\"]*")


def display_url(text: str) -> str:
    """``text`` safe for logs: the query string of every URL in it (which may carry a token or key) is cut."""
    return _URL_QUERY.sub(r"\1?…", text)


class ChatSource(abc.ABC):
    """One chat backend. Subclasses implement :meth:`_session` (one connection, until it ends or fails).

    Metrics (read any time, e.g. by the dashboard): ``state``, ``connects``, ``failures``, ``received`` (new
    messages emitted), ``duplicates`` (dropped as already seen), ``skipped`` (frames that were not chat messages
    or could not be read), ``last_error`` (no secrets).
    """

    kind: str = "base"

    def __init__(
        self,
        *,
        name: str,
        clock: Clock,
        backoff: Backoff | None = None,
        max_backoff_s: float = 30.0,
        stable_after_s: float = DEFAULT_STABLE_AFTER_S,
        dedupe: MessageDeduper | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self._reconnect = ReconnectPolicy(
            now=clock.now, max_s=max_backoff_s, stable_after_s=stable_after_s, backoff=backoff
        )
        self._stable_after_s = stable_after_s
        self._dedupe = dedupe or MessageDeduper()
        self._secrets: list[str] = []
        self._last_reconnect_request_s: float | None = None
        self._running = False
        self.state = SourceState.IDLE
        self.connects = 0
        self.failures = 0
        self.received = 0
        self.duplicates = 0
        self.skipped = 0
        self.emit_errors = 0
        self.poisoned = 0
        """Frames or items that broke the parser (deep nesting, bad characters...): dropped, connection kept."""
        self._poison_logged_s: float | None = None
        self.reconnect_requests = 0
        self.last_error: str | None = None

    # ---- the public interface ----------------------------------------------------------------------------------

    @property
    def can_post(self) -> bool:
        """Whether :meth:`post` can ever succeed with this configuration."""
        return False

    async def post(self, text: str) -> bool:
        """Send ``text`` into the chat. True only when it went out; False when not allowed or rate-limited."""
        return False

    async def run(self, emit: Emit) -> None:
        """Connect, emit messages, reconnect on failure; until cancelled. Raises only ``CancelledError``."""
        if self._running:
            raise RuntimeError(f"chat source {self.name!r} is already running")
        self._running = True

        def deliver(msg: ChatMessage) -> None:
            self._deliver(msg, emit)

        try:
            while True:
                self.state = SourceState.CONNECTING
                self._reconnect.attempting()
                penalty = 0
                try:
                    await self._session(deliver)
                    raise SourceError("the server ended the session")
                except asyncio.CancelledError:
                    raise
                except ReconnectRequested as exc:
                    self.reconnect_requests += 1
                    now = self.clock.now()
                    previous, self._last_reconnect_request_s = self._last_reconnect_request_s, now
                    if previous is None or now - previous >= self._stable_after_s:
                        log.info("chat %s: server asked to reconnect (%s); reconnecting now", self.name, exc)
                        continue
                    # Asked again right away: a server in a loop. Back off (not a failure) instead of hammering it.
                    log.warning("chat %s: server asks to reconnect repeatedly; backing off", self.name)
                except SourcePaused as exc:
                    self.state = exc.state
                    self.last_error = self.scrub(str(exc))
                    log.warning("chat %s: %s; pausing %.0f s", self.name, self.last_error, exc.delay_s)
                    await self.clock.sleep(exc.delay_s)
                    continue
                except Exception as exc:
                    self.failures += 1
                    self.last_error = self.scrub(_describe(exc))
                    if isinstance(exc, SourceError):
                        penalty = exc.min_backoff_attempt
                    if _is_expected(exc):
                        log.warning("chat %s: %s", self.name, self.last_error)
                    else:  # a bug, not the network: make it loud, but keep the chat alive
                        log.error("chat %s: unexpected error: %s", self.name, self.last_error, exc_info=exc)
                self.state = SourceState.BACKOFF
                delay = self._reconnect.next_delay(at_least=penalty)
                log.info("chat %s: reconnecting in %.1f s", self.name, delay)
                await self.clock.sleep(delay)
        finally:
            self.state = SourceState.STOPPED
            self._running = False

    def stats(self) -> dict[str, Any]:
        """Counters and state for metrics and the dashboard (never secrets)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state.value,
            "connects": self.connects,
            "failures": self.failures,
            "received": self.received,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "emit_errors": self.emit_errors,
            "poisoned": self.poisoned,
            "reconnect_requests": self.reconnect_requests,
            "last_error": self.last_error,
            "can_post": self.can_post,
        }

    # ---- for subclasses ----------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def _session(self, deliver: Emit) -> None:
        """One connection: connect, call :meth:`_mark_live` once usable, ``deliver`` each parsed message.

        Raise (any exception) when the connection fails or ends; :class:`ReconnectRequested` or
        :class:`SourcePaused` for the two cases that are not failures.
        """

    def _read(self, parse: Callable[..., T], *args: Any) -> T | None:
        """``parse(*args)``, or None when it raises: one bad frame or item is dropped and counted, never the
        connection (a 60 KB frame of ``[`` is a RecursionError in any JSON parser). Logged at most once a minute."""
        try:
            return parse(*args)
        except (ReconnectRequested, SourcePaused):
            raise
        except Exception as exc:
            self.poisoned += 1
            now = self.clock.now()
            if self._poison_logged_s is None or now - self._poison_logged_s >= 60.0:
                self._poison_logged_s = now
                log.warning(
                    "chat %s: dropped a message that could not be read (%s; %d so far); the connection stays",
                    self.name,
                    type(exc).__name__,
                    self.poisoned,
                )
            return None

    def _mark_live(self) -> None:
        self.connects += 1
        self.state = SourceState.LIVE
        self._reconnect.connected()
        log.info("chat %s: live (connection %d)", self.name, self.connects)

    def _add_secret(self, value: str) -> None:
        if value and len(value) >= 4 and value not in self._secrets:
            self._secrets.append(value)

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this source replaced by ``****`` and URL query strings cut."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "****")
        return display_url(text)[:500]

    def _deliver(self, msg: ChatMessage, emit: Emit) -> None:
        if self._dedupe.seen((msg.source, msg.message_id)):
            self.duplicates += 1
            return
        msg.received_s = self.clock.now()
        self.received += 1
        try:
            emit(msg)
        except Exception:
            # The consumer's bug must not tear down the connection; count it and keep reading.
            self.emit_errors += 1
            log.exception("chat %s: emit failed for message %s", self.name, msg.message_id)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, SourceError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_expected(exc: BaseException) -> bool:
    """Network and protocol trouble (expected on a long run) as opposed to a bug in our code."""
    if isinstance(exc, SourceError | OSError | TimeoutError | EOFError | ConnectionError):
        return True
    module = type(exc).__module__
    return module.startswith(("websockets", "aiohttp"))


# ---- factory ------------------------------------------------------------------------------------------------


SourceSettings = WebSocketChatSource | TwitchChatSource | YouTubeChatSource | SimulatorChatSource


def create_source(
    settings: SourceSettings,
    *,
    clock: Clock,
    env: Mapping[str, str] | None = None,
    catalog: Callable[[], Any] | None = None,
    base_dir: Path | None = None,
    max_backoff_s: float = 30.0,
    backoff: Backoff | None = None,
) -> ChatSource:
    """Build the source a config entry describes. Checks env vars and scripts now (a clear error, no secrets).

    ``catalog`` (simulator only) returns the current products, as objects with ``id`` and ``name`` or as
    ``(id, name)`` pairs, so simulated viewers ask about real products. ``base_dir`` resolves a relative
    simulator script path (the config file's folder).
    """
    env = os.environ if env is None else env
    common: dict[str, Any] = {"clock": clock, "max_backoff_s": max_backoff_s, "backoff": backoff}
    if isinstance(settings, WebSocketChatSource):
        from streamer.chat.websocket_source import WebSocketSource

        return WebSocketSource(settings, env=env, **common)
    if isinstance(settings, TwitchChatSource):
        from streamer.chat.twitch import TwitchSource

        return TwitchSource(settings, env=env, **common)
    if isinstance(settings, YouTubeChatSource):
        from streamer.chat.youtube import YouTubeSource

        return YouTubeSource(settings, env=env, **common)
    if isinstance(settings, SimulatorChatSource):
        from streamer.chat.simulator import SimulatorSource

        return SimulatorSource(settings, catalog=catalog, base_dir=base_dir, **common)
    raise TypeError(f"unknown chat source settings: {type(settings).__name__}")
