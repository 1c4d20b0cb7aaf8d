"""WHIP output (RFC 9725): the show's own encode sent over WebRTC with aiortc.

``--out whip+https://host/path`` (``whip+http://`` for loopback tests). The session: POST the SDP offer
(``application/sdp``, ``Authorization: Bearer`` from ``$LIVEHOST_WHIP_TOKEN`` when set) -> ``201 Created`` with a
``Location`` and the SDP answer -> ICE/DTLS -> media -> ``DELETE`` of the ``Location`` when the output stops. A failed
or ended session is retried with the one :class:`~streamer.backoff.ReconnectPolicy`, like an RTMP target.

What it sends is the :data:`~streamer.publish.encoder.WHIP` encode: the broadcast's own H.264 packets (the very ones
RTMP and the recordings mux; High profile, no B-frames) with SPS/PPS put before every keyframe, and Opus 48 kHz
audio, the one thing encoded for it. The media loop makes them on the show's one clock; the tracks here hand aiortc
those packets as they are offered (aiortc packetises an ``av.Packet`` instead of encoding a frame), so the WebRTC
timeline is the media clock and the video is encoded once for every output. The SDP offer names the profile really
sent (``profile-level-id`` from the broadcast's SPS, e.g. ``64001f``; aiortc by itself offers Constrained Baseline
only). A picture-loss report (RTCP PLI/FIR) from the peer asks the broadcast encoder for a keyframe, at most once a
second. A platform whose ceilings lower the bitrate or keyframe interval gets its own encode (shared with the RTMP
targets of that platform).

Isolation: aiortc runs on this output's own thread and event loop. The media thread only *offers* packets
(``call_soon_threadsafe``, never waits); each track keeps at most ``max_queue_s`` of media and, past that, drops its
backlog (video then waits for the next keyframe, which it asks for). A slow or failed peer never slows the media loop,
the show's event loop or the other outputs.

ICE: host candidates only, no STUN server (aiortc would otherwise ask a public one, which a show's machine may not
reach); a WHIP server that needs its clients behind NAT to use TURN is not supported yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from streamer.backoff import ReconnectPolicy
from streamer.publish.encoder import WHIP, EncodedPacket, EncoderProfile
from streamer.publish.webrtc import PacketFeed, declare_h264_profile, prefer_codecs, route_picture_loss

if TYPE_CHECKING:
    from streamer.publish.sinks import Target

log = logging.getLogger(__name__)

#: The environment variable holding the WHIP bearer token (never logged, never shown).
TOKEN_ENV = "LIVEHOST_WHIP_TOKEN"
#: How long a session may take from the POST to media flowing (ICE + DTLS on a good network: well under 2 s).
CONNECT_TIMEOUT_S = 10.0
#: The DELETE that ends a session on stop: best effort, short.
DELETE_TIMEOUT_S = 1.0


class WhipError(RuntimeError):
    """A WHIP exchange that failed (status, missing answer). Never contains the token."""


class WhipState(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    BACKOFF = "backoff"
    STOPPED = "stopped"


class WhipOutput:
    """One WHIP target: see the module docstring. An :class:`~streamer.publish.outputs.Output` of the
    :data:`~streamer.publish.encoder.WHIP` encode (or another WebRTC profile given as ``profile``)."""

    profile: EncoderProfile = WHIP

    def __init__(
        self,
        target: Target,
        *,
        on_connected: Callable[[WhipOutput, bool], float | None] | None = None,
        max_backoff_s: float = 30.0,
        max_queue_s: float = 1.0,
        now: Callable[[], float] = time.monotonic,
        token: str | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.target = target
        self.want_keyframe: Callable[[], None] | None = None
        self._on_connected = on_connected
        self._policy = ReconnectPolicy(now=now, max_s=max_backoff_s)
        self._max_queue_s = max_queue_s
        self._token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self._connect_timeout_s = connect_timeout_s
        self.state = WhipState.CONNECTING
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._session: _Session | None = None
        self.sessions = 0
        self.packets_sent = 0
        self.packets_dropped = 0
        self.keyframe_requests = 0
        self.last_error: str | None = None
        self.rotate_after_s: float | None = None
        """A platform that caps a broadcast's length: after this long live the session is ended cleanly (DELETE)
        and the next one starts at once, with the AI notice again (see :mod:`streamer.publish.platforms`)."""
        self.rotations = 0
        self.h264_profile_level_id: str | None = None
        """The H.264 profile the video really is (from its encoder's SPS, set by ``open_outputs``), declared in the
        offer; None: aiortc's own offer (Constrained Baseline) stands."""

    # ---- the Output contract ---------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return "whip+" + self.target.display

    @property
    def live(self) -> bool:
        return self.state is WhipState.LIVE

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, args=(ready,), name="whip", daemon=True)
        self._thread.start()
        ready.wait(5.0)

    def offer(self, packets: list[EncodedPacket]) -> None:
        loop, session = self._loop, self._session
        if loop is None or session is None or not packets:
            return  # not connected: nothing to send to (a fresh session starts at a keyframe)
        with contextlib.suppress(RuntimeError):  # the loop closed under us (stopping)
            loop.call_soon_threadsafe(session.deliver, packets)

    def close(self, *, drain: bool, timeout_s: float) -> bool:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("%s: did not stop within %.1f s", self.name, timeout_s)
                return False
        self.state = WhipState.STOPPED
        return True

    def stats(self) -> dict[str, Any]:
        session = self._session
        return {
            "name": self.name,
            "state": self.state.value,
            "sessions": self.sessions,
            "rotations": self.rotations,
            # The sessions before, and the one live now.
            "packets_sent": self.packets_sent + (session.feed.sent if session is not None else 0),
            "packets_dropped": self.packets_dropped + (session.feed.dropped_total if session is not None else 0),
            "keyframe_requests": self.keyframe_requests,
            "last_error": self.last_error,
        }

    # ---- the output's thread ---------------------------------------------------------------------------------

    def _thread_main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run(ready))
        finally:
            self._loop = None
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _run(self, ready: threading.Event) -> None:
        self._stop = stop = asyncio.Event()
        ready.set()
        reconnect = False
        while not stop.is_set():
            self.state = WhipState.CONNECTING
            self._policy.attempting()
            session = _Session(self, self._max_queue_s)
            rotate = False
            try:
                await session.open(self._token, self._connect_timeout_s)
                self._session = session
                self.sessions += 1
                self.state = WhipState.LIVE
                self._policy.connected()
                log.info("%s: live (session %d)", self.name, self.sessions)
                self.request_keyframe()
                if self._on_connected is not None:
                    # The show's AI notice starts again on a keyframe after this time: the session starts there.
                    session.feed.start_after_s = self._on_connected(self, reconnect)
                reconnect = True
                if self.rotate_after_s is None:
                    await session.wait_closed(stop)
                else:
                    try:
                        await asyncio.wait_for(session.wait_closed(stop), self.rotate_after_s)
                    except TimeoutError:
                        rotate = True
                if rotate:
                    self.rotations += 1
                    log.info(
                        "%s: session %d ended before the platform's cap; starting the next", self.name, self.sessions
                    )
                elif not stop.is_set():
                    self.last_error = f"connection {session.pc_state}"
                    log.warning("%s: the WebRTC connection is %s", self.name, session.pc_state)
            except Exception as exc:  # any failure of one session: retry with backoff, never crash the show
                self.last_error = str(exc) or type(exc).__name__
                log.warning("%s: %s", self.name, self.last_error)
            finally:
                self._session = None
                self.packets_sent += session.feed.sent
                self.packets_dropped += session.feed.dropped_total
                await session.aclose()
            if stop.is_set():
                break
            if rotate:
                continue  # a planned end: the next session at once, no backoff
            self.state = WhipState.BACKOFF
            delay = self._policy.next_delay()
            log.info("%s: next attempt in %.1f s", self.name, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        self.state = WhipState.STOPPED

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        if self.want_keyframe is not None:
            self.want_keyframe()


class _Session:
    """One WHIP session: its peer connection, its two tracks, its resource URL."""

    def __init__(self, output: WhipOutput, max_queue_s: float) -> None:
        self.output = output
        self.feed = PacketFeed(max_queue_s=max_queue_s, want_keyframe=output.request_keyframe)
        self.pc: Any = None
        self.location: str | None = None
        self._headers: dict[str, str] = {}
        self._http: Any = None
        self._closed = asyncio.Event()

    @property
    def pc_state(self) -> str:
        return str(self.pc.connectionState) if self.pc is not None else "new"

    async def open(self, token: str | None, timeout_s: float) -> None:
        import aiohttp
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("connectionstatechange")
        def _changed() -> None:
            if pc.connectionState in ("failed", "closed", "disconnected"):
                self._closed.set()

        video, _audio = prefer_codecs(pc, self.feed)
        route_picture_loss(video.sender, self.output.request_keyframe)
        await pc.setLocalDescription(await pc.createOffer())  # waits for ICE gathering: the offer has candidates
        offer = pc.localDescription.sdp
        answer_for_aiortc: Callable[[str], str] = str
        if self.output.h264_profile_level_id is not None:
            offer, answer_for_aiortc = declare_h264_profile(offer, self.output.h264_profile_level_id)
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        headers = {"Content-Type": "application/sdp", **self._headers}
        url = self.output.target.url
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))
        async with self._http.post(url, data=offer, headers=headers) as resp:
            if resp.status != 201:
                raise WhipError(f"the WHIP server answered {resp.status} {resp.reason} (expected 201 Created)")
            location = resp.headers.get("Location")
            if not location:
                raise WhipError("the WHIP server gave no Location for the session")
            self.location = urljoin(url, location)
            answer = await resp.text()
        if "h264" not in answer.lower():
            raise WhipError("the WHIP server's answer takes no H.264 video (it may want Constrained Baseline only)")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_for_aiortc(answer), type="answer"))
        deadline = time.monotonic() + timeout_s
        while pc.connectionState != "connected":
            if pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
                raise WhipError(f"the WebRTC connection did not come up ({pc.connectionState})")
            await asyncio.sleep(0.02)

    def deliver(self, packets: list[EncodedPacket]) -> None:
        self.feed.deliver(packets)

    async def wait_closed(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._closed.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def aclose(self) -> None:
        self.feed.stop()
        if self.location is not None and self._http is not None:
            try:
                async with asyncio.timeout(DELETE_TIMEOUT_S):
                    async with self._http.delete(self.location, headers=self._headers) as resp:
                        if resp.status >= 400:
                            log.info("WHIP DELETE answered %s", resp.status)
            except Exception as exc:  # the server may be gone: the session ends anyway
                log.info("WHIP DELETE failed: %s", exc)
        if self._http is not None:
            await self._http.close()
        if self.pc is not None:
            await self.pc.close()
