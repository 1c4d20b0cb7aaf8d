"""YouTube live chat, polled from the Data API: ``GET {base_url}/liveChat/messages``.

Polling: each call asks for ``part=snippet,authorDetails`` with the API key and the last ``nextPageToken``; the
next call waits ``max(pollingIntervalMillis, 86400 s / (daily_quota_units / 5))`` -- YouTube's own pacing, or
slower so that a whole day of polling fits the project's quota (each list call costs 5 units; 10,000 units give
one call every 43.2 s).

Quota day: YouTube resets quotas at midnight Pacific time, so this source does too (``America/Los_Angeles``
from the system's time-zone data; without it, a fixed UTC-8, which is never early). Every call, failed or not,
is counted. When the counted budget is spent, or the API answers 403 ``quotaExceeded``, polling stops
(state ``quota exhausted``) until that midnight. The count lives in the process: a restart starts it again.

Event kinds (a decision, so the host's reaction is consistent across platforms):

* ``textMessageEvent`` -> ``comment``
* ``superChatEvent``, ``superStickerEvent`` -> ``gift`` (amount in tags)
* ``newSponsorEvent``, ``memberMilestoneChatEvent``, ``membershipGiftingEvent``, ``giftMembershipReceivedEvent``
  -> ``gift``: a membership is paid support, like a Twitch sub, which is also a ``gift``; the host thanks
  rather than welcomes. ``tags["event"]`` keeps the exact type.
* everything else (deletions, bans, polls, chat ended) is skipped.

Backlog: the first call after a (re)connect returns recent history, which is skipped, never answered: on the
first connect everything published before the source started; after a reconnect (an outage, a quota pause)
everything older than ``resume_grace_s`` (30 s) or than the newest message already delivered.

Errors: 5xx, 429, ``rateLimitExceeded`` and network errors back off with jitter; other 4xx (bad key, chat not
found or ended) back off longer. The API key travels in the query string as the API wants, and never appears in
logs, errors or stats.

Posting (``liveChatMessages.insert``) needs OAuth user credentials, not an API key: it is not implemented, and
:meth:`YouTubeSource.post` returns False.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from datetime import time as dtime
from typing import Any

import aiohttp

from streamer.backoff import Backoff
from streamer.chat.sources import (
    ChatSource,
    Emit,
    SourceError,
    SourcePaused,
    SourceState,
    secret_from_env,
)
from streamer.chat.websocket_source import parse_timestamp
from streamer.clock import Clock
from streamer.config import YouTubeChatSource
from streamer.frames import ChatKind, ChatMessage

log = logging.getLogger(__name__)

UNITS_PER_LIST_CALL = 5
DAY_S = 86_400.0
HTTP_PENALTY_ATTEMPT = 4
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RETRYABLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError"})

EVENT_KINDS: dict[str, ChatKind] = {
    "textMessageEvent": "comment",
    "superChatEvent": "gift",
    "superStickerEvent": "gift",
    "newSponsorEvent": "gift",
    "memberMilestoneChatEvent": "gift",
    "membershipGiftingEvent": "gift",
    "giftMembershipReceivedEvent": "gift",
}


def _pacific() -> Any:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("America/Los_Angeles")
    except Exception:  # no tz database: PST all year, so the reset is never assumed early
        return timezone(timedelta(hours=-8))


def seconds_until_pacific_midnight(wall_s: float) -> float:
    """Seconds from Unix time ``wall_s`` to the next midnight in America/Los_Angeles (DST-aware)."""
    tz = _pacific()
    now = datetime.fromtimestamp(wall_s, tz)
    midnight = datetime.combine(now.date() + timedelta(days=1), dtime(0), tzinfo=tz)
    return max(1.0, midnight.timestamp() - wall_s)


class QuotaBudget:
    """The day's API units. Pure: ``now`` is the monotonic clock; ``until_reset_s()`` says when the day ends.

    The day starts at the first call and ends ``until_reset_s()`` later (midnight Pacific in production).
    """

    def __init__(
        self,
        *,
        daily_units: int,
        until_reset_s: Callable[[], float],
        cost_per_call: int = UNITS_PER_LIST_CALL,
    ) -> None:
        if daily_units < cost_per_call:
            raise ValueError(f"daily_units must allow at least one call ({cost_per_call} units)")
        self.daily_units = daily_units
        self.cost_per_call = cost_per_call
        self.used_units = 0
        self._until_reset_s = until_reset_s
        self._day_ends_at: float | None = None

    @property
    def calls_per_day(self) -> int:
        return self.daily_units // self.cost_per_call

    @property
    def min_interval_s(self) -> float:
        """The gap between calls that spreads one day's calls over 24 h."""
        return DAY_S / self.calls_per_day

    def _roll(self, now: float) -> None:
        if self._day_ends_at is not None and now >= self._day_ends_at:
            self.used_units = 0
            self._day_ends_at = None
        if self._day_ends_at is None:
            self._day_ends_at = now + self._until_reset_s()

    def try_spend(self, now: float) -> bool:
        """Charge one call if the day's budget allows it."""
        self._roll(now)
        if self.used_units + self.cost_per_call > self.daily_units:
            return False
        self.used_units += self.cost_per_call
        return True

    def exhaust(self, now: float) -> None:
        """The API says the quota is spent (maybe by another user of the key): nothing more today."""
        self._roll(now)
        self.used_units = self.daily_units

    def resets_in_s(self, now: float) -> float:
        self._roll(now)
        assert self._day_ends_at is not None
        return max(0.0, self._day_ends_at - now)


class YouTubeSource(ChatSource):
    """Polls one live chat. ``wall_time`` gives Unix seconds (for ``publishedAt`` and the Pacific quota day)."""

    kind = "youtube"

    def __init__(
        self,
        settings: YouTubeChatSource,
        *,
        clock: Clock,
        env: Mapping[str, str],
        backoff: Backoff | None = None,
        max_backoff_s: float = 30.0,
        wall_time: Callable[[], float] = time.time,
        request_timeout_s: float = 15.0,
        max_results: int = 200,
        resume_grace_s: float = 30.0,
    ) -> None:
        super().__init__(
            name=settings.name,
            clock=clock,
            backoff=backoff,
            max_backoff_s=max_backoff_s,
        )
        self.settings = settings
        self._key = secret_from_env(settings.api_key_env, env=env, what=f"YouTube chat source {settings.name!r}")
        self._add_secret(self._key)
        self._wall_time = wall_time
        self.quota = QuotaBudget(
            daily_units=settings.daily_quota_units,
            until_reset_s=lambda: seconds_until_pacific_midnight(self._wall_time()),
        )
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._max_results = max_results
        self._resume_grace_s = resume_grace_s
        self._started_wall: float | None = None
        self._newest_sent_at: float | None = None
        self.polls = 0
        self.backlog_skipped = 0
        self.last_wait_s = 0.0
        if settings.post_replies:
            log.warning(
                "chat %s: posting to YouTube chat needs OAuth and is not supported; replies stay local", self.name
            )

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out.update(
            polls=self.polls,
            backlog_skipped=self.backlog_skipped,
            quota_used_units=self.quota.used_units,
            quota_daily_units=self.quota.daily_units,
            poll_interval_s=round(self.last_wait_s, 3),
        )
        return out

    # ---- parsing (pure) ----------------------------------------------------------------------------------------

    def message_from_item(self, item: Any) -> ChatMessage | None:
        """One ``liveChatMessage`` resource -> :class:`ChatMessage`; None for events we do not relay."""
        if not isinstance(item, Mapping):
            return None
        snippet = item.get("snippet") or {}
        author = item.get("authorDetails") or {}
        if not isinstance(snippet, Mapping) or not isinstance(author, Mapping):
            return None
        event = snippet.get("type", "")
        kind = EVENT_KINDS.get(event)
        msg_id = item.get("id")
        user = author.get("displayName")
        if kind is None or not isinstance(msg_id, str) or not isinstance(user, str) or not user.strip():
            return None
        tags: dict[str, str] = {"event": event}
        text = ""
        if event == "textMessageEvent":
            details = snippet.get("textMessageDetails") or {}
            text = details.get("messageText") or snippet.get("displayMessage") or ""
        elif event == "superChatEvent":
            details = snippet.get("superChatDetails") or {}
            text = details.get("userComment") or snippet.get("displayMessage") or ""
            _amount_tags(details, tags)
        elif event == "superStickerEvent":
            details = snippet.get("superStickerDetails") or {}
            text = snippet.get("displayMessage") or ""
            _amount_tags(details, tags)
        elif event == "memberMilestoneChatEvent":
            details = snippet.get("memberMilestoneChatDetails") or {}
            text = details.get("userComment") or snippet.get("displayMessage") or ""
            if details.get("memberMonth") is not None:
                tags["member_months"] = str(details["memberMonth"])
        else:
            text = snippet.get("displayMessage") or ""
        if not isinstance(text, str):
            return None
        if kind == "comment" and not text.strip():
            return None
        for flag, tag in (
            ("isChatModerator", "mod"),
            ("isChatOwner", "owner"),
            ("isChatSponsor", "member"),
            ("isVerified", "verified"),
        ):
            if author.get(flag):
                tags[tag] = "1"
        return ChatMessage(
            source=self.name,
            message_id=msg_id,
            user=user,
            text=text,
            kind=kind,
            user_id=str(author.get("channelId") or snippet.get("authorChannelId") or ""),
            sent_at_s=parse_timestamp(_trim_fraction(snippet.get("publishedAt"))),
            tags=tags,
        )

    # ---- polling ---------------------------------------------------------------------------------------------

    def _url(self) -> str:
        return f"{self.settings.base_url.rstrip('/')}/liveChat/messages"

    async def _session(self, deliver: Emit) -> None:
        # Don't answer history. First connect: skip what was published before we started. Later connects (after an
        # outage or a quota pause): also skip what is older than ``resume_grace_s`` or than what we already relayed.
        now_wall = self._wall_time()
        if self._started_wall is None:
            self._started_wall = now_wall
        cutoff = max(self._started_wall, self._newest_sent_at or 0.0)
        if self.connects or self.polls:
            cutoff = max(cutoff, now_wall - self._resume_grace_s)
        page_token: str | None = None
        async with aiohttp.ClientSession(timeout=self._timeout) as http:
            while True:
                now = self.clock.now()
                if not self.quota.try_spend(now):
                    raise SourcePaused(
                        f"daily quota of {self.quota.daily_units} units spent; polling resumes at midnight Pacific",
                        delay_s=self.quota.resets_in_s(now),
                        state=SourceState.QUOTA_EXHAUSTED,
                    )
                data = await self._list(http, page_token)
                self.polls += 1
                if self.state is not SourceState.LIVE:
                    self._mark_live()
                for item in data.get("items") or []:
                    msg = self._read(self.message_from_item, item)
                    if msg is None:
                        self.skipped += 1
                        continue
                    if msg.sent_at_s is not None:
                        if msg.sent_at_s < cutoff:
                            self.backlog_skipped += 1
                            continue
                        self._newest_sent_at = max(self._newest_sent_at or 0.0, msg.sent_at_s)
                    deliver(msg)
                if data.get("offlineAt"):
                    raise SourceError("the live chat is offline (the stream ended)", min_backoff_attempt=4)
                token = data.get("nextPageToken")
                if isinstance(token, str) and token:
                    page_token = token
                interval_ms = data.get("pollingIntervalMillis")
                platform_wait_s = interval_ms / 1000.0 if isinstance(interval_ms, int | float) else 0.0
                self.last_wait_s = max(platform_wait_s, self.quota.min_interval_s)
                await self.clock.sleep(self.last_wait_s)

    async def _list(self, http: aiohttp.ClientSession, page_token: str | None) -> dict[str, Any]:
        params = {
            "liveChatId": self.settings.live_chat_id,
            "part": "snippet,authorDetails",
            "maxResults": str(self._max_results),
            "key": self._key,
        }
        if page_token:
            params["pageToken"] = page_token
        async with http.get(self._url(), params=params) as resp:
            body = await resp.read()
            status = resp.status
        if status == 200:
            try:
                data = json.loads(body)
            except ValueError:
                raise SourceError("YouTube answered 200 with a body that is not JSON") from None
            if not isinstance(data, dict):
                raise SourceError("YouTube answered 200 with JSON that is not an object")
            return data
        reason, message = _error_reason(body)
        detail = f"HTTP {status} {reason or ''}".strip()
        if message:
            detail += f": {message[:160]}"
        if status == 403 and reason in QUOTA_REASONS:
            now = self.clock.now()
            self.quota.exhaust(now)
            raise SourcePaused(
                f"YouTube API quota exceeded ({detail}); polling resumes at midnight Pacific",
                delay_s=self.quota.resets_in_s(now),
                state=SourceState.QUOTA_EXHAUSTED,
            )
        if status >= 500 or status == 429 or reason in RETRYABLE_REASONS:
            raise SourceError(f"YouTube chat poll failed: {detail}")
        raise SourceError(f"YouTube chat poll refused: {detail}", min_backoff_attempt=HTTP_PENALTY_ATTEMPT)


def _amount_tags(details: Any, tags: dict[str, str]) -> None:
    if not isinstance(details, Mapping):
        return
    for key, tag in (("amountDisplayString", "amount"), ("currency", "currency"), ("amountMicros", "amount_micros")):
        if details.get(key) is not None:
            tags[tag] = str(details[key])


def _trim_fraction(value: Any) -> Any:
    """``2024-05-01T10:00:00.1234567Z`` -> 6 fraction digits, which ``datetime.fromisoformat`` reads."""
    if not isinstance(value, str) or "." not in value:
        return value
    head, _, tail = value.partition(".")
    digits = ""
    while tail and tail[0].isdigit():
        digits, tail = digits + tail[0], tail[1:]
    return f"{head}.{digits[:6] or '0'}{tail}"


def _error_reason(body: bytes) -> tuple[str | None, str | None]:
    """``(reason, message)`` from a Google API error body (``error.errors[0].reason``), if it has one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None, None
    reason = None
    errors = err.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        reason = errors[0].get("reason")
    message = err.get("message")
    return (reason if isinstance(reason, str) else None), (message if isinstance(message, str) else None)


__all__ = ["EVENT_KINDS", "QuotaBudget", "YouTubeSource", "seconds_until_pacific_midnight"]
