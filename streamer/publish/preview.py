"""Local live preview: the published packets, remuxed (not re-encoded) to fragmented MP4 over a WebSocket.

A browser plays it with Media Source Extensions. Each viewer gets its own tiny fMP4 muxer that starts at a
keyframe (a join asks the encoder for one, so the picture appears at once). A slow viewer is never allowed to
hold memory: past ``max_backlog`` fragments it is reset to the next keyframe (it sees the latest picture).
Nobody watching costs nothing: with no viewers, packets are not even copied.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import av

from streamer.publish.encoder import BROADCAST, EncodedPacket, EncoderProfile

log = logging.getLogger(__name__)


def avc_codec_string(extradata: bytes | None) -> str:
    """RFC 6381 codec string (``avc1.PPCCLL``) from H.264 extradata, Annex B or avcC."""
    if not extradata:
        return "avc1.64001f"
    data = bytes(extradata)
    if data[0] == 1 and len(data) >= 4:  # avcC
        return f"avc1.{data[1]:02x}{data[2]:02x}{data[3]:02x}"
    # Annex B: find the SPS (nal type 7) after a start code.
    i = 0
    while i + 4 < len(data):
        if data[i : i + 3] == b"\x00\x00\x01":
            nal = data[i + 3]
            if nal & 0x1F == 7 and i + 6 < len(data):
                return f"avc1.{data[i + 4]:02x}{data[i + 5]:02x}{data[i + 6]:02x}"
            i += 3
        else:
            i += 1
    return "avc1.64001f"


class _Collector(io.RawIOBase):
    """A write-only file object that hands over what the muxer wrote since the last :meth:`take`."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._chunks.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


#: How often a viewer is told which media time was published when (for its latency readout).
SYNC_EVERY_S = 1.0


class PreviewViewer:
    """One browser: its own fMP4 muxer and a bounded queue of messages to send: fMP4 bytes, a JSON text (a clock
    sync), or ``b""`` (restart: a new init segment follows).

    Each viewer's media timeline starts at 0 at its first keyframe. Now and then it gets
    ``{"type": "sync", "media_s", "wall_ms"}``: the media time that left the encoder (for every output at once) at
    that wall-clock time. The page compares it with what it shows to measure its own latency.
    """

    def __init__(self, hub: PreviewHub, *, max_backlog: int) -> None:
        self.hub = hub
        self.queue: asyncio.Queue[bytes | str] = asyncio.Queue()
        self.max_backlog = max_backlog
        self._container: Any = None
        self._vs: Any = None
        self._as: Any = None
        self._io: _Collector | None = None
        self.resets = 0
        self._t0_s = 0.0  # show time of this viewer's first keyframe: its media time 0
        self._next_sync_s = 0.0

    def _open(self) -> None:
        self._io = _Collector()
        self._container = av.open(
            self._io,
            "w",
            format="mp4",
            options={"movflags": "empty_moov+default_base_moof+frag_every_frame+separate_moof", "flush_packets": "1"},
        )
        self._vs = self._container.add_stream_from_template(self.hub.video_template)
        self._as = self._container.add_stream_from_template(self.hub.audio_template)
        self._container.start_encoding()

    def _close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self._container = None

    def feed(self, packets: list[EncodedPacket], wall_ms: float | None = None) -> None:
        sync: float | None = None
        for p in packets:
            if self._container is None:
                if not (p.kind == "video" and p.keyframe):
                    continue
                self._open()
                self._t0_s = float(p.pts * p.time_base)
                self._next_sync_s = 0.0
            stream = self._vs if p.kind == "video" else self._as
            offset = round(self._t0_s / p.time_base)
            if p.pts - offset < 0:
                continue  # audio from before this viewer's first picture
            pkt = p.to_av(stream)
            pkt.pts = p.pts - offset
            pkt.dts = p.dts - offset
            try:
                self._container.mux(pkt)
            except Exception as exc:  # a muxer hiccup must not hurt the show: restart this viewer
                log.warning("preview muxer error, resetting viewer: %s", exc)
                self.reset()
                return
            if p.kind == "video":
                media_s = float(p.pts * p.time_base) - self._t0_s
                if media_s >= self._next_sync_s:
                    sync = media_s
                    self._next_sync_s = media_s + SYNC_EVERY_S
        assert self._io is not None or self._container is None
        if self._io is not None:
            data = self._io.take()
            if data:
                if self.queue.qsize() >= self.max_backlog:
                    self.reset()
                    return
                self.queue.put_nowait(data)
                if sync is not None and wall_ms is not None:
                    self.queue.put_nowait(json.dumps({"type": "sync", "media_s": sync, "wall_ms": wall_ms}))

    def reset(self) -> None:
        """Drop the backlog; start again at the next keyframe with a fresh init segment."""
        self.resets += 1
        self._close()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(b"")  # tells the sender to announce a restart
        self.hub.request_keyframe()

    def close(self) -> None:
        self._close()


class PreviewHub:
    """Fans packets out to browser viewers on the event loop. ``offer`` is safe to call from the media thread. An
    :class:`~streamer.publish.outputs.Output` of the :data:`~streamer.publish.encoder.BROADCAST` encode (named
    ``preview``; live while somebody watches)."""

    name = "preview"
    profile: EncoderProfile = BROADCAST

    def __init__(
        self,
        *,
        video_template: Any,
        audio_template: Any,
        want_keyframe: Callable[[], None] | None,
        loop: asyncio.AbstractEventLoop,
        max_backlog: int = 60,
    ) -> None:
        self.video_template = video_template
        self.audio_template = audio_template
        self.want_keyframe: Callable[[], None] | None = want_keyframe
        self._loop = loop
        self._viewers: set[PreviewViewer] = set()
        self._max_backlog = max_backlog
        self.mime = f'video/mp4; codecs="{avc_codec_string(video_template.codec_context.extradata)}, mp4a.40.2"'

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def offer(self, packets: list[EncodedPacket]) -> None:
        if self._viewers and packets:
            # The moment these packets left the encoder, for every output at once: a viewer's latency is measured
            # from here (wall clock, because the browser compares it with its own Date.now()).
            wall_ms = time.time() * 1000.0
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self._loop.call_soon_threadsafe(self._feed, packets, wall_ms)

    def _feed(self, packets: list[EncodedPacket], wall_ms: float | None = None) -> None:
        for v in list(self._viewers):
            v.feed(packets, wall_ms)

    def add(self) -> PreviewViewer:
        v = PreviewViewer(self, max_backlog=self._max_backlog)
        self._viewers.add(v)
        self.request_keyframe()
        return v

    def request_keyframe(self) -> None:
        """Ask the encoder for a keyframe (a viewer joined or was reset: it starts on one)."""
        if self.want_keyframe is not None:
            self.want_keyframe()

    def remove(self, v: PreviewViewer) -> None:
        self._viewers.discard(v)
        v.close()

    @property
    def live(self) -> bool:
        return bool(self._viewers)

    def start(self) -> None:
        """Nothing to connect: viewers come and go through the dashboard."""

    def close(self, *, drain: bool = False, timeout_s: float = 1.0) -> bool:
        """Every viewer is let go (their sockets end); from any thread (the viewers live on the hub's loop)."""
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            here = False
        if here:
            self._close_viewers()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody is left to let go
                self._loop.call_soon_threadsafe(self._close_viewers)
        return True

    def _close_viewers(self) -> None:
        for v in list(self._viewers):
            self.remove(v)

    def stats(self) -> dict[str, object]:
        return {"name": self.name, "state": "watched" if self._viewers else "idle", "viewers": len(self._viewers)}
