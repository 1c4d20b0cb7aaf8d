"""Approve-before-speak: written answers wait for the operator, and are dropped if nobody decides in time.

Pure logic on an injected clock reading: no I/O, no tasks. The show calls :meth:`ApprovalDesk.expire` now and
then and speaks what :meth:`ApprovalDesk.approve` hands back.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass
from typing import Any

from streamer.speaker import ReplyJob

#: Answers that may wait at once; past this the oldest is dropped (an operator away from the desk must not let
#: memory grow, and a stale answer is worth less than a fresh one).
MAX_PENDING = 20


@dataclass(slots=True)
class PendingAnswer:
    approval_id: str
    job: ReplyJob
    created_s: float
    expires_s: float

    def as_dict(self, now_s: float) -> dict[str, Any]:
        return {
            "id": self.approval_id,
            "user": self.job.viewer,
            "question": self.job.text,
            "kind": self.job.kind,
            "sentences": list(self.job.sentences),
            "expires_in_s": round(max(0.0, self.expires_s - now_s), 1),
        }


class ApprovalDesk:
    def __init__(self, *, enabled: bool = False, timeout_s: float = 30.0, max_pending: int = MAX_PENDING) -> None:
        self.enabled = enabled
        self.timeout_s = timeout_s
        self._max = max_pending
        self._pending: collections.OrderedDict[str, PendingAnswer] = collections.OrderedDict()
        self._ids = itertools.count(1)
        self.counts: collections.Counter[str] = collections.Counter()

    def configure(self, *, enabled: bool, timeout_s: float | None = None) -> None:
        """Switching the mode off does not release what waits: those answers still need a decision (or expire)."""
        if timeout_s is not None and not 5.0 <= timeout_s <= 600.0:
            raise ValueError("timeout_s must be between 5 and 600 seconds")
        self.enabled = enabled
        if timeout_s is not None:
            self.timeout_s = timeout_s

    def add(self, job: ReplyJob, now_s: float) -> tuple[PendingAnswer, PendingAnswer | None]:
        """Hold ``job`` (its sentences written). Returns it and the oldest answer dropped to make room, if any."""
        evicted = None
        if len(self._pending) >= self._max:
            _, evicted = self._pending.popitem(last=False)
            self.counts["evicted"] += 1
        item = PendingAnswer(f"a{next(self._ids)}", job, now_s, now_s + self.timeout_s)
        self._pending[item.approval_id] = item
        self.counts["held"] += 1
        return item, evicted

    def approve(self, approval_id: str) -> PendingAnswer | None:
        item = self._pending.pop(approval_id, None)
        if item is not None:
            self.counts["approved"] += 1
        return item

    def reject(self, approval_id: str) -> PendingAnswer | None:
        item = self._pending.pop(approval_id, None)
        if item is not None:
            self.counts["rejected"] += 1
        return item

    def expire(self, now_s: float) -> list[PendingAnswer]:
        """Drop (and return) the answers whose time ran out."""
        gone = [item for item in self._pending.values() if item.expires_s <= now_s]
        for item in gone:
            del self._pending[item.approval_id]
        self.counts["expired"] += len(gone)
        return gone

    def pending(self, now_s: float) -> list[dict[str, Any]]:
        return [item.as_dict(now_s) for item in self._pending.values()]

    def __len__(self) -> int:
        return len(self._pending)
