"""What every WebRTC peer of the show shares (the WHIP output, the dashboard's WHEP preview): a pair of send-only
aiortc tracks fed with packets the show has already encoded (:data:`~streamer.publish.encoder.WHIP`: the broadcast's
own H.264; the preview's VP8), and the SDP and RTCP glue around them.

:class:`PacketFeed` lives on the event loop that runs the peer connection. ``deliver`` takes one frame's packets
(called there, e.g. through ``call_soon_threadsafe`` from the media thread): video waits for a keyframe, then both
tracks' timestamps count from that keyframe's media time (so a peer's timeline starts at 0 and audio before the
first picture is left out). Each track holds at most ``max_queue_s`` of media; past that its backlog is dropped and
video waits for the next keyframe, which it asks for. aiortc's sender packetises these ``av.Packet`` as they come:
the media clock that offered them paces the peer, nothing is encoded twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import av

from streamer.publish.encoder import EncodedPacket

#: RTP clock of video (H.264 and VP8).
VIDEO_RTP_HZ = 90_000


@functools.cache
def _track_class() -> type:
    """The send-only track (built here so aiortc is imported only by a show with a WebRTC peer)."""
    from aiortc.mediastreams import MediaStreamTrack

    class PacketTrack(MediaStreamTrack):
        def __init__(self, kind: str, max_queue_s: float) -> None:
            super().__init__()
            self.kind = kind
            self.queue: asyncio.Queue[av.Packet] = asyncio.Queue()
            self.max_queue_s = max_queue_s
            self.queued_s = 0.0
            self.dropped = 0

        async def recv(self) -> av.Packet:
            packet = await self.queue.get()
            self.queued_s = max(0.0, self.queued_s - float((packet.duration or 0) * packet.time_base))
            return packet

        def put(self, packet: av.Packet) -> bool:
            """Queue one packet; False when the backlog was dropped first (over ``max_queue_s``)."""
            dropped = False
            if self.queued_s > self.max_queue_s:
                while not self.queue.empty():
                    self.queue.get_nowait()
                    self.dropped += 1
                self.queued_s = 0.0
                dropped = True
            self.queue.put_nowait(packet)
            self.queued_s += float((packet.duration or 0) * packet.time_base)
            return not dropped

    return PacketTrack


class PacketFeed:
    """Two send-only tracks (``video``, ``audio``) fed with an encode made for them; see the module docstring."""

    def __init__(self, *, max_queue_s: float = 1.0, want_keyframe: Callable[[], None] | None = None) -> None:
        track = _track_class()
        self.video: Any = track("video", max_queue_s)
        self.audio: Any = track("audio", max_queue_s)
        self._want_keyframe = want_keyframe
        self.base_s: float | None = None
        """Media time of the first keyframe sent: both tracks' timestamps count from it."""
        self._need_keyframe = True
        self.start_after_s: float | None = None
        """The feed starts on the first keyframe after this media time (the show's AI notice), None: the first."""
        self.sent = 0
        self.dropped = 0
        self.last_video: tuple[float, float] | None = None
        """(media seconds since ``base_s`` of the newest picture queued, wall-clock ms when it was queued): what a
        viewer compares the picture on its screen with to tell its latency."""

    @property
    def dropped_total(self) -> int:
        return self.dropped + self.video.dropped + self.audio.dropped

    def deliver(self, packets: list[EncodedPacket]) -> None:
        """One frame's packets, rebased to the feed's timeline and queued per track."""
        for p in packets:
            if p.kind == "video":
                if self._need_keyframe:
                    if not p.keyframe or (self.start_after_s is not None and p.time_s <= self.start_after_s):
                        self.dropped += 1
                        continue
                    self._need_keyframe = False
                    if self.base_s is None:
                        self.base_s = p.time_s
                if not self.video.put(self._rebased(p)):
                    self._need_keyframe = True  # the backlog went: start again at a keyframe
                    if self._want_keyframe is not None:
                        self._want_keyframe()
                assert self.base_s is not None
                self.last_video = (p.time_s - self.base_s, time.time() * 1000)
            elif self.base_s is not None and float(p.pts * p.time_base) >= self.base_s:
                self.audio.put(self._rebased(p))
            else:
                self.dropped += 1  # audio before the first picture
                continue
            self.sent += 1

    def _rebased(self, p: EncodedPacket) -> av.Packet:
        assert self.base_s is not None
        base = round(self.base_s / p.time_base)
        pkt = av.Packet(p.data)
        pkt.pts = p.pts - base
        pkt.dts = p.dts - base
        pkt.time_base = fractions.Fraction(p.time_base)
        pkt.duration = p.duration
        return pkt

    def stop(self) -> None:
        self.video.stop()
        self.audio.stop()


def prefer_codecs(pc: Any, feed: PacketFeed, direction: str = "sendonly") -> list[Any]:
    """Add the feed's tracks to ``pc`` with H.264 and Opus as the only codecs offered or accepted; the
    transceivers, video first."""
    from aiortc import RTCRtpSender

    transceivers = []
    for track in (feed.video, feed.audio):
        transceiver = pc.addTransceiver(track, direction=direction)
        wanted = "video/H264" if track.kind == "video" else "audio/opus"
        transceiver.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities(track.kind).codecs if c.mimeType == wanted]
        )
        transceivers.append(transceiver)
    return transceivers


_scope = threading.local()
_scope_lock = threading.Lock()
_scope_installed = False


@contextlib.contextmanager
def host_candidates(addresses: Sequence[str] | None) -> Iterator[None]:
    """ICE host candidates gathered on this thread inside the block come from ``addresses`` only (None: every
    interface, aioice's own choice). The dashboard's WebRTC preview, bound to loopback, offers loopback only: a
    preview meant for this machine never opens media ports on the others (and aioice by itself leaves 127.0.0.1
    out). aioice has no per-connection setting for this, so its one address function is wrapped once, per thread."""
    global _scope_installed
    if addresses is None:
        yield
        return
    import aioice.ice

    with _scope_lock:
        if not _scope_installed:
            everywhere = aioice.ice.get_host_addresses

            def scoped(use_ipv4: bool, use_ipv6: bool) -> list[str]:
                only = getattr(_scope, "addresses", None)
                return list(only) if only is not None else everywhere(use_ipv4, use_ipv6)

            aioice.ice.get_host_addresses = scoped
            _scope_installed = True
    _scope.addresses = list(addresses)
    try:
        yield
    finally:
        _scope.addresses = None


#: At most one keyframe a second for a peer's picture-loss reports: the WHIP video is the broadcast's own encode,
#: and a lossy viewer asking again and again must not turn the recording and the RTMP stream into keyframes.
PICTURE_LOSS_MIN_INTERVAL_S = 1.0


def route_picture_loss(
    sender: Any,
    want_keyframe: Callable[[], None],
    *,
    min_interval_s: float = PICTURE_LOSS_MIN_INTERVAL_S,
    now: Callable[[], float] = time.monotonic,
) -> None:
    """aiortc answers a PLI/FIR by asking its own encoder for a keyframe; these packets come from the show's
    encoder, so the request goes there (at most once per ``min_interval_s``; a report inside that time is served
    by the keyframe already asked for)."""
    original = sender._send_keyframe
    last: list[float] = []

    def send_keyframe() -> None:
        original()
        t = now()
        if last and t - last[0] < min_interval_s:
            return
        last[:] = [t]
        want_keyframe()

    sender._send_keyframe = send_keyframe


_FMTP = re.compile(r"^a=fmtp:(\d+) ([^\r\n]*)", re.MULTILINE)


def _h264_payloads(sdp: str) -> dict[str, str]:
    """Payload type -> profile-level-id of each H.264 format in ``sdp``."""
    found: dict[str, str] = {}
    for pt, params in _FMTP.findall(sdp):
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "profile-level-id":
                found[pt] = value.strip()
    return found


def _set_profile_level_ids(sdp: str, by_payload: dict[str, str]) -> str:
    def swap(m: re.Match[str]) -> str:
        pt, params = m.group(1), m.group(2)
        if pt not in by_payload:
            return m.group(0)
        parts = []
        for param in params.split(";"):
            key, _, _value = param.strip().partition("=")
            parts.append(f"{key}={by_payload[pt]}" if key.lower() == "profile-level-id" else param.strip())
        return f"a=fmtp:{pt} {';'.join(parts)}"

    return _FMTP.sub(swap, sdp)


def declare_h264_profile(offer_sdp: str, profile_level_id: str) -> tuple[str, Callable[[str], str]]:
    """aiortc offers H.264 as Constrained Baseline only (its own encoder's profile), and negotiates nothing else.
    The WHIP video is the broadcast's encode (e.g. High, ``64001f``), so the offer sent to the server names what
    is really sent: each H.264 format's ``profile-level-id`` becomes ``profile_level_id``. Returns that offer and a
    function that turns the server's answer back into what aiortc offered (same payload types), for
    ``setRemoteDescription``. A server that cannot take the profile rejects the offer (or answers without H.264)."""
    return _swap_h264_profile(offer_sdp, profile_level_id)


#: The profile aiortc's own H.264 formats are matched on (Constrained Baseline, level 3.1).
AIORTC_H264_PROFILE = "42e01f"


def accept_any_h264_profile(offer_sdp: str) -> tuple[str, Callable[[str], str]]:
    """For an aiortc *receiver* (a test's or the bench's WHIP endpoint): its decoder (FFmpeg) takes every H.264
    profile, but its negotiation matches Constrained Baseline only. Returns the offer as aiortc can accept it and a
    function that puts the peer's own profile back into aiortc's answer."""
    return _swap_h264_profile(offer_sdp, AIORTC_H264_PROFILE)


def _swap_h264_profile(sdp: str, profile_level_id: str) -> tuple[str, Callable[[str], str]]:
    original = _h264_payloads(sdp)
    swapped = _set_profile_level_ids(sdp, dict.fromkeys(original, profile_level_id))

    def restore(reply_sdp: str) -> str:
        answered = _h264_payloads(reply_sdp)
        return _set_profile_level_ids(reply_sdp, {pt: v for pt, v in original.items() if pt in answered})

    return swapped, restore
