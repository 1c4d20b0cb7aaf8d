"""Operator control: what the dashboard's API may do to a running channel (skip, pin, reorder, pause patter, speak
a line now, approve answers, mute or block viewers, edit config files) and see (state, status, metrics).

:class:`OperatorControl` is the :class:`~streamer.dashboard.server.ShowControl` the dashboard is given: every
request is validated here and answered with a :class:`~streamer.dashboard.server.ControlError` (an HTTP status)
when it cannot be done; every change is recorded in the channel's event log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from streamer.brain.sentences import SentenceSplitter
from streamer.dashboard.editor import CheckResult
from streamer.dashboard.server import ControlError
from streamer.money import format_price
from streamer.speaker import READY_MAX, ReplyJob
from streamer.untrusted import clean_untrusted

if TYPE_CHECKING:
    from streamer.app import Channel

log = logging.getLogger(__name__)

#: How often approvals that ran out are dropped.
APPROVAL_SWEEP_S = 0.5


class OperatorControl:
    """The operator's API on one channel (see the module docstring)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.events = channel.events

    # ---- what the dashboard sees ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.channel.health.status()

    def metrics_text(self) -> str:
        return self.channel.health.metrics_text()

    def show_state(self) -> dict[str, Any]:
        ch = self.channel
        seg = ch.on_air
        on_air = ch.director.get(seg.product_id) if seg is not None and seg.product_id else None
        product = on_air or ch.director.current_product
        return {
            "persona": ch.persona.name,
            "product_id": product.id if product else None,
            "product": product.name if product else None,
            "section": (seg.section or seg.kind) if seg is not None else None,
            "paused": ch.speaker.patter_paused,
            "pinned": ch.director.pinned,
            "queue": [
                {"id": p.id, "name": p.name, "price": format_price(p.price, p.currency)} for p in ch.director.products
            ],
        }

    def dashboard_state(self) -> dict[str, Any]:
        ch = self.channel
        now = ch.clock.now()
        triage = ch.triage
        return {
            "show": self.show_state(),
            "approval": {
                "enabled": ch.approvals.enabled,
                "timeout_s": ch.approvals.timeout_s,
                "pending": ch.approvals.pending(now),
            },
            "viewers": {
                "muted": [
                    {"user": name, "minutes_left": round(max(0.0, until - now) / 60, 1)}
                    for name, until in (triage.muted(now) if triage is not None else [])
                ],
                "blocked": sorted(triage.blocked) if triage is not None else [],
            },
            "takeover_waiting": ch.speaker.ready_count(),
        }

    # ---- the show ------------------------------------------------------------------------------------------

    def _show_event(self, action: str, **data: Any) -> dict[str, Any]:
        self.events.add("show", self.channel.clock.now(), action=action, **data)
        log.info("operator: %s %s", action, data or "")
        return self.show_state()

    def skip_product(self) -> dict[str, Any]:
        nxt = self.channel.director.skip()
        if nxt is None:
            raise ControlError("no products to skip to", 409)
        self.channel.speaker.restart_patter()
        return self._show_event("skip", product_id=nxt.id)

    def pin_product(self, product_id: str | None) -> dict[str, Any]:
        director = self.channel.director
        before = director.current_product
        if not director.pin(product_id):
            raise ControlError(f"no product {product_id!r} in the catalog", 404)
        after = director.current_product
        if before is not None and after is not None and before.id != after.id:
            self.channel.speaker.restart_patter()
        return self._show_event("pin", product_id=product_id)

    def reorder_products(self, product_ids: list[str]) -> dict[str, Any]:
        if not self.channel.director.reorder(product_ids):
            raise ControlError("product_ids must name every product in the catalog exactly once", 400)
        return self._show_event("order", product_ids=product_ids)

    def pause_patter(self, paused: bool) -> dict[str, Any]:
        self.channel.speaker.set_patter_paused(paused)
        return self._show_event("pause" if paused else "resume")

    def takeover(self, text: str) -> dict[str, Any]:
        """The operator's words, spoken next (at the next word boundary), as they were typed: no guard rewrites
        them, because a person is answering for them. Logged as operator speech."""
        ch = self.channel
        clean = clean_untrusted(text, 500)
        splitter = SentenceSplitter(max_chars=300)
        sentences = [s for s in splitter.feed(clean) + splitter.flush() if s.strip()]
        if not sentences:
            raise ControlError("text: nothing speakable in it")
        job = ReplyJob(
            reply_id=ch.router.next_id("op"),
            kind="operator",
            viewer="operator",
            text=clean,
            arrived_s=ch.clock.now(),
            sentences=sentences,
        )
        if ch.voice_state != "ready":
            raise ControlError("the voice is not ready yet", 503)
        if not ch.speaker.say_next(job):
            raise ControlError("too many lines are waiting to be spoken; try again in a moment", 429)
        self.events.add("operator", ch.clock.now(), id=job.reply_id, text=clean)
        log.info("operator takeover queued: %s", clean)
        return {"id": job.reply_id, "sentences": sentences}

    # ---- approvals and viewers -------------------------------------------------------------------------------

    def configure_approval(self, enabled: bool, timeout_s: float | None) -> dict[str, Any]:
        approvals = self.channel.approvals
        try:
            approvals.configure(enabled=enabled, timeout_s=timeout_s)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        log.info("operator: approve-before-speak %s (%.0f s)", "on" if enabled else "off", approvals.timeout_s)
        return {"enabled": approvals.enabled, "timeout_s": approvals.timeout_s}

    def decide_approval(self, approval_id: str, action: str) -> dict[str, Any]:
        ch = self.channel
        if action == "approve":
            if ch.voice_state != "ready":
                raise ControlError("the voice is not ready", 503)
            if ch.speaker.ready_count() >= READY_MAX:
                raise ControlError("too many lines are waiting to be spoken; try again in a moment", 429)
            item = ch.approvals.approve(approval_id)
            if item is None:
                raise ControlError("that answer is no longer waiting (it expired or was decided)", 404)
            ch.router.keep(item.job)  # findable for its latency however long it waited
            ch.speaker.say_next(item.job)
        else:
            item = ch.approvals.reject(approval_id)
            if item is None:
                raise ControlError("that answer is no longer waiting (it expired or was decided)", 404)
        ch.router.approval_event(item, "approved" if action == "approve" else "rejected")
        return {"id": approval_id, "state": "approved" if action == "approve" else "rejected"}

    def viewer_action(self, user: str, action: str, minutes: float | None) -> dict[str, Any]:
        ch = self.channel
        triage = ch.triage
        if triage is None:
            raise ControlError("this show has no chat", 409)
        name = clean_untrusted(user, 80).strip()
        if not name:
            raise ControlError("user: which viewer?")
        if action == "unblock":
            triage.unblock(name)
        elif action == "block":
            triage.block(name)
        else:
            span = 10.0 if minutes is None else minutes
            if not 0.5 <= span <= 24 * 60:
                raise ControlError("minutes: between 0.5 and 1440")
            if not triage.mute(name, until_s=ch.clock.now() + span * 60):
                raise ControlError(f"{name} is blocked; unblock first to mute for a while instead", 409)
        self.events.add("viewer", ch.clock.now(), user=name, action=action, minutes=minutes)
        log.info("operator: %s viewer %s", action, name)
        return {"user": name, "action": action}

    async def run_timers(self) -> None:
        """Approvals that ran out are dropped (checked every half second)."""
        ch = self.channel
        while True:
            await ch.clock.sleep(APPROVAL_SWEEP_S)
            for item in ch.approvals.expire(ch.clock.now()):
                ch.router.approval_event(item, "expired")
                log.info("answer to %s dropped: nobody approved it in time", item.job.viewer)

    # ---- the audit log (see streamer.audit) -------------------------------------------------------------------

    def audit_export(self, since: str, fmt: str) -> tuple[str, Iterator[str]]:
        """The audit log's committed rows since ``since`` (``1h``, ``2026-12-01``...) as ``(content type, chunks)``;
        the chunks read the file lazily (pull them off the event loop, then ``close()`` them)."""
        from streamer.audit import AuditError, SinceError

        audit = getattr(self.channel, "audit", None)
        if audit is None:
            raise ControlError("this show keeps no audit log (audit.enabled is false in stream.yaml)", 404)
        try:
            stream = audit.iter_export(since, fmt)
        except SinceError as exc:
            raise ControlError(f"since: {exc}") from None
        except ValueError as exc:
            raise ControlError(f"format: {exc}") from None
        except AuditError as exc:
            raise ControlError(str(exc), 404) from None
        return stream.content_type, stream

    # ---- config files (see streamer.hot_reload) ------------------------------------------------------------

    def config_files(self) -> list[dict[str, Any]]:
        return self.channel.editor.config_files()

    def read_config_file(self, file_id: str) -> str:
        return self.channel.editor.read_config_file(file_id)

    def check_config_file(self, file_id: str, text: str) -> CheckResult:
        return self.channel.editor.check_config_file(file_id, text)

    async def apply_config_file(self, file_id: str, text: str) -> tuple[CheckResult, bool]:
        return await self.channel.editor.apply_config_file(file_id, text)
