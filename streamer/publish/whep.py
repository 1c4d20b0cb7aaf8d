"""The dashboard's low-latency live preview over WebRTC, WHEP-style: the browser POSTs an SDP offer (receive only)
to ``/whep``, gets ``201`` + ``Location`` + the answer, and plays the show's
:data:`~streamer.publish.encoder.WEBRTC_VP8` encode (VP8: every WebRTC browser decodes it; Debian's Chromium offers
H.264 but cannot decode it) in a ``<video>``; ``DELETE`` of the ``Location`` ends it. The MSE
preview (:mod:`streamer.publish.preview`) stays for browsers without WebRTC or when the WebRTC session fails.

:class:`WhepHub` is an :class:`~streamer.publish.outputs.Output`: the media thread offers it packets (copied to the
hub's event loop only while somebody watches). Each viewer has its own :class:`~streamer.publish.webrtc.PacketFeed`
(at most ``max_queue_s`` queued, a new viewer starts at a keyframe it asks for) and its own peer connection, so a
slow viewer only ever loses its own pictures.

Latency: a viewer's offer may carry a data channel; the hub then sends it, 4 times a second, the RTP timestamp of
the newest picture sent and the wall-clock time it was sent (read from aiortc's sender, which keeps both for its RTCP
sender reports). The page compares that with the RTP timestamp of the picture on screen (``requestVideoFrameCallback``)
and shows how far behind the published stream it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from typing import Any

from streamer.publish.encoder import WEBRTC_VP8, EncodedPacket, EncoderProfile
from streamer.publish.webrtc import PacketFeed, host_candidates, route_picture_loss

log = logging.getLogger(__name__)

#: Seconds between the latency sync messages a viewer's data channel gets.
SYNC_EVERY_S = 0.25
#: NTP seconds at the Unix epoch.
_NTP_UNIX_OFFSET_S = 2_208_988_800


class WhepError(Exception):
    """A viewer that cannot be taken (``status``: the HTTP status to answer with)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _Viewer:
    def __init__(self, viewer_id: str, pc: Any, feed: PacketFeed) -> None:
        self.id = viewer_id
        self.pc = pc
        self.feed = feed
        self.video_sender: Any = None
        self.sync_task: asyncio.Task[None] | None = None


class WhepHub:
    """See the module docstring. Lives on ``loop`` (the dashboard's); ``offer`` may be called from any thread."""

    profile: EncoderProfile = WEBRTC_VP8
    name = "webrtc-preview"

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        max_viewers: int = 4,
        max_queue_s: float = 0.5,
        host_addresses: list[str] | None = None,
    ) -> None:
        self._loop = loop
        self.host_addresses = host_addresses
        """ICE host candidates (None: every interface); the channel gives loopback for a dashboard bound to it."""
        self.max_viewers = max_viewers
        self._max_queue_s = max_queue_s
        self._viewers: dict[str, _Viewer] = {}
        self._ids = itertools.count(1)
        self.want_keyframe: Any = None
        self.sessions = 0
        self._closed = False

    # ---- the Output contract ---------------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return bool(self._viewers)

    @property
    def wants_packets(self) -> bool:
        """The media loop encodes for this hub only while somebody watches."""
        return bool(self._viewers)

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def start(self) -> None:
        return None

    def offer(self, packets: list[EncodedPacket]) -> None:
        if not self._viewers or not packets:
            return  # nobody watching: nothing copied
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._deliver, packets)

    def _deliver(self, packets: list[EncodedPacket]) -> None:
        for viewer in list(self._viewers.values()):
            viewer.feed.deliver(packets)

    def close(self, *, drain: bool = False, timeout_s: float = 1.0) -> bool:
        """Hang up every viewer, from a thread other than the hub's loop (as the channel closes its outputs); waits
        up to ``timeout_s``. On the loop itself, await :meth:`aclose`."""
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self.aclose(), self._loop).result(timeout_s)
        except Exception:
            return False
        return True

    async def aclose(self) -> None:
        """Hang up every viewer (on the hub's loop); no new one is taken. Idempotent."""
        self._closed = True
        for viewer_id in list(self._viewers):
            await self.hang_up(viewer_id)

    def stats(self) -> dict[str, Any]:
        return {"name": self.name, "state": "live" if self._viewers else "idle", "viewers": self.viewers}

    def request_keyframe(self) -> None:
        if self.want_keyframe is not None:
            self.want_keyframe()

    # ---- viewers (on the hub's loop) -------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> tuple[str, str]:
        """A new viewer from its SDP offer: (viewer id, SDP answer). Raises :class:`WhepError`."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

        if self._closed:
            raise WhepError("the show is stopping", 503)
        if len(self._viewers) >= self.max_viewers:
            raise WhepError(f"at most {self.max_viewers} WebRTC preview viewers", 503)
        if "m=video" not in offer_sdp:
            raise WhepError("the offer has no video")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        feed = PacketFeed(max_queue_s=self._max_queue_s, want_keyframe=self.request_keyframe)
        viewer = _Viewer(str(next(self._ids)), pc, feed)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            for transceiver in pc.getTransceivers():
                track = feed.video if transceiver.kind == "video" else feed.audio
                transceiver.direction = "sendonly"
                transceiver.sender.replaceTrack(track)
                prefer = "video/VP8" if transceiver.kind == "video" else "audio/opus"
                transceiver.setCodecPreferences(
                    [c for c in RTCRtpSender.getCapabilities(transceiver.kind).codecs if c.mimeType == prefer]
                )
                if transceiver.kind == "video":
                    viewer.video_sender = transceiver.sender
                    route_picture_loss(transceiver.sender, self.request_keyframe)

            @pc.on("datachannel")
            def on_channel(channel: Any) -> None:
                viewer.sync_task = asyncio.ensure_future(self._send_sync(viewer, channel))

            @pc.on("connectionstatechange")
            async def on_state() -> None:
                if pc.connectionState in ("failed", "closed"):
                    await self.hang_up(viewer.id)

            with host_candidates(self.host_addresses):
                await pc.setLocalDescription(await pc.createAnswer())
        except WhepError:
            await pc.close()
            raise
        except Exception as exc:
            await pc.close()
            raise WhepError(f"cannot answer that offer: {exc}") from None
        self._viewers[viewer.id] = viewer
        self.sessions += 1
        self.request_keyframe()  # the new viewer's picture starts at once
        log.info("WebRTC preview viewer %s joined (%d watching)", viewer.id, len(self._viewers))
        return viewer.id, pc.localDescription.sdp

    async def hang_up(self, viewer_id: str) -> bool:
        viewer = self._viewers.pop(viewer_id, None)
        if viewer is None:
            return False
        if viewer.sync_task is not None:
            viewer.sync_task.cancel()
        viewer.feed.stop()
        await viewer.pc.close()
        log.info("WebRTC preview viewer %s left (%d watching)", viewer_id, len(self._viewers))
        return True

    async def _send_sync(self, viewer: _Viewer, channel: Any) -> None:
        """Send the viewer (rtp, wall_ms) of the newest picture sent, as aiortc's sender recorded them."""
        while True:
            await asyncio.sleep(SYNC_EVERY_S)
            sender = viewer.video_sender
            rtp = getattr(sender, "_RTCRtpSender__rtp_timestamp", None)
            ntp = getattr(sender, "_RTCRtpSender__ntp_timestamp", None)
            if not rtp or not ntp or channel.readyState != "open":
                continue
            wall_ms = ((ntp >> 32) - _NTP_UNIX_OFFSET_S + (ntp & 0xFFFFFFFF) / 2**32) * 1000
            channel.send(json.dumps({"rtp": rtp, "wall_ms": wall_ms}))
