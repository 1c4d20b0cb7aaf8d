"""A channel's health, read from its stages: the status the dashboard and ``/status.json`` show, the Prometheus
metrics, and the status line logged every 10 s. Read-only: nothing here changes the show.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from streamer.memory import release_free_memory
from streamer.stats import percentile

if TYPE_CHECKING:
    from streamer.app import Channel

log = logging.getLogger(__name__)

#: Seconds between status lines in the log.
STATUS_LOG_S = 10.0


class ChannelHealth:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def status(self) -> dict[str, Any]:
        ch = self.channel
        media = ch.media
        fps = ch.config.video.fps
        frames = media.frames if media else 0
        product = ch.director.current_product
        summary = {
            "host": ch.persona.name,
            "uptime": _hms(frames / fps),
            "product": product.name if product else "—",
            "voice": f"{getattr(ch.voice, 'name', '?')} ({ch.voice_state})",
            "voice speed": self.voice_speed_summary(),
            "other languages": self.languages_summary(),
            "fps": f"{media.fps_measured:.1f} / {fps}" if media else "—",
            "frames": frames,
            "late frames": media.pacer.late_frames if media else 0,
            "dropped frames": media.pacer.skipped_frames if media else 0,
            "worst lag": f"{media.pacer.worst_lag_s * 1000:.0f} ms" if media else "—",
            "frame cost": f"{media.tick_s_ewma * 1000:.1f} ms" if media else "—",
            "avatar": self.avatar_summary(),
            "studio": ch.scene.background_summary() if ch.scene is not None else "—",
            "encoder speed": _speed(media.encode_s_ewma, fps) if media else "—",
            "preview viewers": (ch.preview_hub.viewers if ch.preview_hub else 0)
            + (ch.whep_hub.viewers if ch.whep_hub else 0),
            "brain": self.brain_summary(),
            "patter distinct-2 (1 h)": f"{ch.variety.distinct_2(frames / fps):.2f}",
            "audit log": self.audit_summary(),
        }
        if ch.triage is not None:
            lat = ch.router.latency_summary()
            summary["replies"] = f"{lat['replies']}"
            summary["reply latency"] = (
                f"p50 {lat['p50_s']:.2f} s, p95 {lat['p95_s']:.2f} s" if lat["replies"] else "— (no replies yet)"
            )
            summary["chat waiting"] = ch.triage.pending()
            summary["approval"] = f"on, {len(ch.approvals)} waiting" if ch.approvals.enabled else "off"
        summary["patter"] = "paused" if ch.speaker.patter_paused else "running"
        for src in ch.chat_sources:
            summary[f"chat {src.name}"] = src.stats().get("state", "?")
        stats = [o.stats() for o in ch.target_outputs]
        for st in stats:
            summary[f"out {st['name']}"] = st["state"]
        return {
            "summary": summary,
            "outputs": stats,
            "spoken": [{"text": h.text, "kind": h.kind, "interrupted": h.interrupted} for h in ch.spoken],
            "stats": {
                **ch.speaker.summary(),
                "repeats_blocked": ch.director.repeats_blocked,
                "first_frame_s": ch.stats.first_frame_s,
                "voice_ready_s": ch.stats.voice_ready_s,
                "guard_actions": dict(ch.brain.guard.counts),
                "answers": dict(ch.brain.offline.counts),
                "llm": self.llm_metrics(),
                "reply_latency": ch.router.latency_summary(),
                "chat": ch.triage.stats() if ch.triage is not None else None,
            },
            "chat": [e.as_dict() for e in ch.events.recent(limit=30)],
        }

    def audit_summary(self) -> str:
        """Whether every utterance is being kept (see :mod:`streamer.audit`)."""
        ch = self.channel
        if ch.audit is None:
            return f"NOT KEPT: {ch.audit_problem}" if ch.audit_problem else "off"
        st = ch.audit.stats()
        dropped = f", {st['rows_dropped']} dropped" if st.get("rows_dropped") else ""
        error = f", last error: {st['last_error']}" if st.get("last_error") else ""
        return f"{st.get('rows_written', 0)} rows{dropped}{error}"

    def voice_speed_summary(self) -> str:
        """The voice's measured real-time factor and first-audio time, and how far ahead speech is voiced."""
        voice = self.channel.voice
        speed = getattr(voice, "speed", None)
        snap = speed.snapshot() if speed is not None else {}
        ahead = f"voiced {self.channel.speaker.low_water_s:.1f} s ahead"
        own = voice.stats() if callable(getattr(voice, "stats", None)) else {}  # type: ignore[attr-defined]
        where = f" on {own['device']}" if own.get("device") else ""
        fell = ""
        if own.get("fallbacks"):
            fell = f", {own['fallbacks']} sentences by the fallback voice (last: {own.get('last_error') or '?'})"
        if snap.get("rtf") is None:
            return f"— (not measured yet){where}, {ahead}{fell}"
        return f"RTF {snap['rtf']:.2f}{where}, first audio {snap['first_audio_s'] or 0:.2f} s, {ahead}{fell}"

    def languages_summary(self) -> str:
        """The persona's other languages (``voices``) and whether each one's voice is loaded and answering."""
        ch = self.channel
        wanted = list(ch.persona.voices)
        if not wanted:
            return "—"
        loaded = ch.speaker.voices
        return ", ".join(
            f"{lang}: {getattr(loaded[lang], 'name', '?')}" if lang in loaded else f"{lang}: not loaded"
            for lang in wanted
        )

    def avatar_summary(self) -> str:
        """The avatar kind, how its lips are made, and what drawing it costs per frame."""
        ch = self.channel
        kind = ch.persona.avatar.kind
        if kind == "cartoon":
            how = "drawn"
        elif ch.lipsync is not None:
            how = f"lip-sync: {ch.lipsync.summary()}"
        elif ch.lipsync_problem is not None:
            how = f"lip-sync: warp (CPU); {ch.lipsync_problem}"
        else:
            how = "lip-sync: warp (CPU)"
        cost = f", {ch.scene.avatar_s_ewma * 1000:.1f} ms/frame" if ch.scene is not None else ""
        return f"{kind} ({how}){cost}"

    def metrics_text(self) -> str:
        """The health figures in Prometheus text format (no secrets, no viewer text)."""
        ch = self.channel
        media = ch.media
        scene = ch.scene
        fps = ch.config.video.fps
        lat = list(ch.router.latencies)
        lines = [
            "# TYPE livehost_frames_total counter",
            f"livehost_frames_total {media.frames if media else 0}",
            "# TYPE livehost_late_frames_total counter",
            f"livehost_late_frames_total {media.pacer.late_frames if media else 0}",
            "# TYPE livehost_worst_lag_seconds gauge",
            f"livehost_worst_lag_seconds {media.pacer.worst_lag_s if media else 0:.4f}",
            "# TYPE livehost_frame_cost_seconds gauge",
            f"livehost_frame_cost_seconds {media.tick_s_ewma if media else 0:.5f}",
            "# TYPE livehost_avatar_render_seconds gauge",
            f"livehost_avatar_render_seconds {scene.avatar_s_ewma if scene else 0:.5f}",
            "# TYPE livehost_background_repeated_frames_total counter",
            f"livehost_background_repeated_frames_total {scene.background_repeated if scene else 0}",
            "# TYPE livehost_fps gauge",
            f"livehost_fps {media.fps_measured if media else 0:.2f}",
            "# TYPE livehost_dropped_frames_total counter",
            f"livehost_dropped_frames_total {media.pacer.skipped_frames if media else 0}",
            "# TYPE livehost_encode_seconds gauge",
            f"livehost_encode_seconds {media.encode_s_ewma if media else 0:.5f}",
            "# TYPE livehost_operator_lines_total counter",
            f"livehost_operator_lines_total {ch.speaker.stats.operator_lines}",
            "# TYPE livehost_approvals_total counter",
            *(f'livehost_approvals_total{{outcome="{k}"}} {v}' for k, v in sorted(ch.approvals.counts.items())),
            "# TYPE livehost_uptime_seconds gauge",
            f"livehost_uptime_seconds {(media.frames if media else 0) / fps:.1f}",
            "# TYPE livehost_voice_ready gauge",
            f"livehost_voice_ready {1 if ch.voice_state == 'ready' else 0}",
            "# TYPE livehost_voice_rtf gauge",
            f"livehost_voice_rtf {self._voice_rtf():.3f}",
            "# TYPE livehost_speech_ahead_seconds gauge",
            f"livehost_speech_ahead_seconds {ch.speaker.low_water_s:.2f}",
            "# TYPE livehost_voice_streamed_total counter",
            f"livehost_voice_streamed_total {getattr(ch.voice, 'streamed', 0)}",
            "# TYPE livehost_speech_underrun_frames_total counter",
            f"livehost_speech_underrun_frames_total {ch.playout.underruns}",
            "# TYPE livehost_disclosures_total counter",
            f"livehost_disclosures_total {ch.speaker.stats.disclosures}",
            "# TYPE livehost_replies_total counter",
            f"livehost_replies_total {ch.speaker.stats.replies}",
            "# TYPE livehost_reply_latency_seconds summary",
        ]
        for q in (0.5, 0.95):
            value = percentile(lat, q) if lat else float("nan")
            lines.append(f'livehost_reply_latency_seconds{{quantile="{q}"}} {value:.3f}')
        lines.append("# TYPE livehost_output_up gauge")
        for output in ch.target_outputs:
            lines.append(f'livehost_output_up{{target="{output.name}"}} {int(output.live)}')
        audit = ch.audit.stats() if ch.audit is not None else {}
        lines += [
            "# TYPE livehost_audit_rows_total counter",
            f"livehost_audit_rows_total {audit.get('rows_written', 0)}",
            "# TYPE livehost_audit_rows_dropped_total counter",
            f"livehost_audit_rows_dropped_total {audit.get('rows_dropped', 0)}",
            "# TYPE livehost_audit_kept gauge",
            f"livehost_audit_kept {int(ch.audit is not None and not audit.get('last_error'))}",
        ]
        lines.append("# TYPE livehost_guard_actions_total counter")
        for kind, n in sorted(ch.brain.guard.counts.items()):
            lines.append(f'livehost_guard_actions_total{{kind="{kind}"}} {n}')
        return "\n".join(lines) + "\n"

    def _voice_rtf(self) -> float:
        """Synthesis seconds per second of speech (NaN until a sentence was voiced)."""
        speed = getattr(self.channel.voice, "speed", None)
        rtf = speed.snapshot().get("rtf") if speed is not None else None
        return float("nan") if rtf is None else float(rtf)

    def brain_summary(self) -> str:
        brain = self.channel.brain
        if brain.brain.name == "llm":
            metrics = self.llm_metrics() or {}
            return f"llm (breaker {metrics.get('breaker_state', '?')}), offline fallback"
        return "offline" + (" (lexical fallback)" if brain.offline.degraded else " (MiniLM)")

    def llm_metrics(self) -> dict[str, Any] | None:
        metrics = getattr(self.channel.brain.brain, "metrics", None)
        return metrics() if callable(metrics) else None

    async def run_status_log(self) -> None:
        """One status line every 10 s; free heap pages handed back to the OS every minute."""
        ticks = 0
        while True:
            await self.channel.clock.sleep(STATUS_LOG_S)
            ticks += 1
            if ticks % 6 == 0:
                release_free_memory()
            s = self.status()["summary"]
            outs = " | ".join(f"{k[4:]} {v}" for k, v in s.items() if k.startswith("out "))
            log.info(
                "status [%s]: up %s, product %s, frames %s (late %s, worst lag %s), frame cost %s, voice %s%s",
                self.channel.name,
                s["uptime"],
                s["product"],
                s["frames"],
                s["late frames"],
                s["worst lag"],
                s["frame cost"],
                s["voice"],
                f", outputs: {outs}" if outs else "",
            )


def _speed(encode_s: float, fps: int) -> str:
    return f"{1.0 / (encode_s * fps):.1f}× real time" if encode_s > 0 else "—"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
