"""The show's event stream for the dashboard: every comment with its triage decision, every reply with its latency,
every sentence as heard, operator lines, approvals and config changes.

Bounded history for late joiners (the dashboard), and bounded per-subscriber queues: a slow subscriber loses the
oldest events, never holds memory or slows the show.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EventKind = Literal["comment", "reply", "spoken", "operator", "approval", "viewer", "config", "show"]


@dataclass(slots=True)
class ChatEvent:
    kind: EventKind
    at_s: float
    """Show clock (monotonic seconds)."""
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChatEventLog:
    def __init__(self, *, history: int = 500, subscriber_queue: int = 200) -> None:
        self.history: collections.deque[ChatEvent] = collections.deque(maxlen=history)
        self._subscribers: set[asyncio.Queue[ChatEvent]] = set()
        self._queue_max = subscriber_queue
        self._seq = itertools.count(1)
        self.dropped_for_slow_subscribers = 0

    def add(self, event_kind: EventKind, at_s: float, /, **data: Any) -> ChatEvent:
        event = ChatEvent(kind=event_kind, at_s=at_s, data=data, seq=next(self._seq))
        self.history.append(event)
        for q in self._subscribers:
            if q.full():
                q.get_nowait()
                self.dropped_for_slow_subscribers += 1
            q.put_nowait(event)
        return event

    def subscribe(self) -> asyncio.Queue[ChatEvent]:
        q: asyncio.Queue[ChatEvent] = asyncio.Queue(maxsize=self._queue_max)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[ChatEvent]) -> None:
        self._subscribers.discard(q)

    def recent(self, kind: EventKind | None = None, limit: int = 50) -> list[ChatEvent]:
        items = [e for e in self.history if kind is None or e.kind == kind]
        return items[-limit:]
