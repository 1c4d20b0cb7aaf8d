"""Encoders: planar I420 + mono PCM in, H.264 + AAC or Opus packets out (PyAV / FFmpeg), one per distinct profile.

An :class:`EncoderProfile` says how one encode is made (H.264 profile, where the parameter sets go, the audio
codec). Each output wants one profile; the show encodes every frame once per *distinct* profile and every output
of that profile gets copies of the same packets (see :func:`~streamer.publish.outputs.open_outputs`).

The encoder streams live in a ``null`` container so that every sink (RTMP, FLV/MP4 file, preview) can build its
own muxer streams from them as templates and mux copies of the same packets: nothing is encoded twice.

A profile may take its *video* from another encode (:attr:`EncoderProfile.shared_video`): the WHIP output sends
the broadcast's own H.264 packets (SPS/PPS from the broadcast encoder's extradata put before each keyframe, as RTP
wants them) and encodes only its Opus audio. RTMP, recordings and WHIP then cost one video encode together.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Protocol

import av
import numpy as np
from av.codec.context import Flags

from streamer.clock import AUDIO_TIME_BASE, video_time_base
from streamer.config import AudioSettings, VideoSettings
from streamer.frames import AUDIO_RATE_HZ, AudioFrame, VideoFrame


@dataclass(frozen=True, slots=True)
class EncoderProfile:
    """How one encode is made. Settings left ``None`` come from the show's :class:`VideoSettings` /
    :class:`AudioSettings` (size, frame rate and x264 preset always do). Never B-frames: every profile is
    zero-latency, a packet leaves the encoder with its frame.

    Two profiles that compare equal share one encoder; ``name`` identifies it in stats and logs.
    """

    name: str
    h264_profile: Literal["high", "constrained_baseline"]
    inband_parameter_sets: bool
    """True: SPS/PPS are written in the stream before every keyframe (Annex B, as RTP wants them) and the encoder
    has no extradata. False: only in the extradata (global header), which FLV and MP4 want."""
    audio_codec: Literal["aac", "opus"]
    video_codec: Literal["h264", "vp8"] = "h264"
    """``vp8`` (libvpx, realtime): for WebRTC peers that cannot decode H.264 (``h264_profile`` then does not
    apply; VP8 has no parameter sets)."""
    video_bitrate_kbps: int | None = None
    """None: the show's ``video.bitrate_kbps``."""
    keyframe_interval_s: float | None = None
    """None: the show's ``video.keyframe_interval_s``."""
    audio_bitrate_kbps: int | None = None
    """None: the show's ``audio.bitrate_kbps``."""
    audio_rate_hz: int = AUDIO_RATE_HZ
    """The encoded sample rate; the show's audio is ``AUDIO_RATE_HZ`` and is not resampled."""
    shared_video: bool = False
    """True: this profile encodes no video of its own. Its video packets are those of the encode with the same
    video settings and the parameter sets in its extradata (:meth:`video_key`; e.g. :data:`BROADCAST`), with
    SPS/PPS put before each keyframe when ``inband_parameter_sets``. Only the audio is encoded for it."""

    def video_key(self, video: VideoSettings) -> tuple[object, ...]:
        """What decides the video packets (the show's settings filled in): two profiles with equal keys could send
        the same video."""
        return (
            self.video_codec,
            self.h264_profile if self.video_codec == "h264" else None,
            self.video_bitrate_kbps or video.bitrate_kbps,
            self.keyframe_interval_s or video.keyframe_interval_s,
        )

    def video_source(self) -> EncoderProfile:
        """For a :attr:`shared_video` profile: the profile of the encode whose video it takes (parameter sets in
        the extradata, AAC audio, as the broadcast's)."""
        return dataclasses.replace(
            self,
            name=f"{self.name}-video",
            inband_parameter_sets=False,
            audio_codec="aac",
            audio_bitrate_kbps=None,
            shared_video=False,
        )


#: RTMP, FLV/MP4 recordings and the dashboard's MSE preview: H.264 High, SPS/PPS in the extradata, AAC-LC.
BROADCAST = EncoderProfile(name="broadcast", h264_profile="high", inband_parameter_sets=False, audio_codec="aac")

#: The WHIP output: the broadcast's own H.264 video (High, no B-frames) with SPS/PPS put before every keyframe (a
#: viewer that joins or loses packets decodes from the next one), and its own Opus audio at 48 kHz. RTMP, the
#: recordings and WHIP share one video encode.
WHIP = EncoderProfile(
    name="whip",
    h264_profile="high",
    inband_parameter_sets=True,
    audio_codec="opus",
    audio_bitrate_kbps=64,
    shared_video=True,
)

#: WebRTC with an encode of its own: constrained-baseline H.264 with SPS/PPS before every keyframe, Opus at 48 kHz,
#: for a peer that decodes nothing above Constrained Baseline (a second video encode: about as costly as the first).
WEBRTC = EncoderProfile(
    name="webrtc",
    h264_profile="constrained_baseline",
    inband_parameter_sets=True,
    audio_codec="opus",
    audio_bitrate_kbps=64,
)

#: The dashboard's WebRTC preview: VP8 (libvpx, realtime), which every WebRTC browser decodes (Debian's Chromium,
#: for one, offers H.264 but has no decoder for it), and Opus. Encoded only while somebody watches.
WEBRTC_VP8 = EncoderProfile(
    name="webrtc-vp8",
    h264_profile="constrained_baseline",
    inband_parameter_sets=True,
    audio_codec="opus",
    video_codec="vp8",
    audio_bitrate_kbps=64,
)

PROFILES: dict[str, EncoderProfile] = {p.name: p for p in (BROADCAST, WHIP, WEBRTC, WEBRTC_VP8)}

#: libx264's name for each H.264 profile (its "baseline" is constrained baseline: no FMO/ASO, constraint_set1).
_X264_PROFILE = {"high": "high", "constrained_baseline": "baseline"}
_AUDIO_ENCODER = {"aac": "aac", "opus": "libopus"}


@dataclass(slots=True)
class EncodedPacket:
    """An encoded access unit shared by all sinks (immutable bytes; each sink muxes its own copy)."""

    kind: Literal["video", "audio"]
    data: bytes
    pts: int
    dts: int
    time_base: Fraction
    keyframe: bool
    duration: int

    @property
    def time_s(self) -> float:
        return float(self.dts * self.time_base)

    def to_av(self, stream: av.stream.Stream) -> av.Packet:
        pkt = av.Packet(self.data)
        pkt.pts = self.pts
        pkt.dts = self.dts
        pkt.time_base = self.time_base
        pkt.duration = self.duration
        pkt.is_keyframe = self.keyframe
        pkt.stream = stream
        return pkt


class FrameEncoder(Protocol):
    """What the media loop needs of an encoder (:class:`AVEncoder`, or a test's fake)."""

    @property
    def profile(self) -> EncoderProfile: ...

    def encode(self, video: VideoFrame, audio: AudioFrame) -> list[EncodedPacket]: ...

    def flush(self) -> list[EncodedPacket]: ...

    def request_keyframe(self) -> None: ...

    def close(self) -> None: ...


class AVEncoder:
    """H.264 (libx264, yuv420p, fixed GOP, bitrate-capped, zero-latency) + AAC-LC or Opus, 48 kHz mono, made as
    ``profile`` says (default :data:`BROADCAST`).

    ``video_source``: for a :attr:`~EncoderProfile.shared_video` profile, the encoder whose video packets it takes
    (it then encodes only its audio). Owned by one thread (the media thread, with its source); only
    :meth:`request_keyframe` may be called from elsewhere.
    """

    profile: EncoderProfile

    def __init__(
        self,
        *,
        video: VideoSettings,
        audio: AudioSettings,
        profile: EncoderProfile = BROADCAST,
        video_source: AVEncoder | None = None,
    ) -> None:
        if profile.audio_rate_hz != AUDIO_RATE_HZ:
            raise ValueError(f"profile {profile.name!r}: audio_rate_hz must be {AUDIO_RATE_HZ} (no resampling)")
        if profile.shared_video != (video_source is not None):
            raise ValueError(f"profile {profile.name!r}: a video_source is given exactly when the profile shares video")
        if video_source is not None:
            src = video_source.profile
            if src.shared_video or src.inband_parameter_sets or src.video_key(video) != profile.video_key(video):
                raise ValueError(
                    f"profile {profile.name!r} cannot take its video from {src.name!r} (different video settings, "
                    "or no parameter sets in its extradata)"
                )
        self.profile = profile
        self.width = video.width
        self.height = video.height
        self.fps = video.fps
        self._container = av.open(io.BytesIO(), "w", format="null")
        self._video_source = video_source
        self._last_video: tuple[int, list[EncodedPacket]] | None = None
        """(pts, packets) of the newest frame this encoder's video encode made: an encode sharing it takes the
        same packets, whichever of the two is asked first."""
        if video_source is None:
            self.video_stream = self._add_video_stream(video, profile)
        else:
            self.video_stream = video_source.video_stream
        aus = self._container.add_stream(_AUDIO_ENCODER[profile.audio_codec], rate=AUDIO_RATE_HZ)
        assert isinstance(aus, av.audio.stream.AudioStream)
        aus.layout = "mono"
        aus.bit_rate = (profile.audio_bitrate_kbps or audio.bitrate_kbps) * 1000
        aus.time_base = AUDIO_TIME_BASE
        aus.codec_context.flags |= Flags.global_header
        self._container.start_encoding()  # opens the encoders so extradata exists for the sinks' templates
        self.audio_stream = aus
        self._vtb = video_time_base(video.fps)
        self._fifo = av.AudioFifo()
        self._audio_next_pts: int | None = None
        self._fifo_base = 0
        """The show's audio pts of the fifo's sample 0."""
        self._keyframe_wanted = threading.Event()
        self._closed = False
        self.frames_encoded = 0
        self.samples_encoded = 0
        self.keyframes_forced = 0
        """Frames made keyframes on request (a (re)connect, a resync, a viewer joining, a lost-picture report)."""

    def _add_video_stream(self, video: VideoSettings, profile: EncoderProfile) -> av.video.stream.VideoStream:
        bitrate_kbps = profile.video_bitrate_kbps or video.bitrate_kbps
        keyframe_interval_s = profile.keyframe_interval_s or video.keyframe_interval_s
        gop = max(1, round(keyframe_interval_s * video.fps))
        vs = self._container.add_stream("libvpx" if profile.video_codec == "vp8" else "libx264", rate=video.fps)
        vs.width = video.width
        vs.height = video.height
        vs.pix_fmt = "yuv420p"
        vs.time_base = video_time_base(video.fps)
        vs.bit_rate = bitrate_kbps * 1000
        cc = vs.codec_context
        cc.gop_size = gop
        cc.max_b_frames = 0
        if profile.video_codec == "vp8":
            vs.options = {
                "deadline": "realtime",
                "cpu-used": "8",  # libvpx's fastest realtime setting: a preview, not the broadcast
                "lag-in-frames": "0",
                "error-resilient": "1",
                "auto-alt-ref": "0",
                "keyint_min": str(gop),
                "maxrate": f"{bitrate_kbps}k",
                "bufsize": f"{bitrate_kbps * 2}k",
            }
        else:
            x264_params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0"
            if profile.inband_parameter_sets:
                x264_params += ":repeat-headers=1"  # SPS/PPS before every IDR (FFmpeg's default, no global header)
            else:
                cc.flags |= Flags.global_header  # SPS/PPS in extradata: FLV and MP4 want them there
            vs.options = {
                "preset": video.preset,
                "tune": "zerolatency",
                "profile": _X264_PROFILE[profile.h264_profile],
                "forced-idr": "1",
                "maxrate": f"{bitrate_kbps}k",
                "bufsize": f"{bitrate_kbps * 2}k",
                "x264-params": x264_params,
                "colorspace": "smpte170m",
                "color_range": "tv",
            }
        assert isinstance(vs, av.video.stream.VideoStream)
        return vs

    @property
    def parameter_sets(self) -> bytes:
        """The H.264 SPS/PPS of this encode as an Annex B byte string (empty when they are in-band, or for VP8)."""
        if self._video_source is not None:
            return self._video_source.parameter_sets
        extradata = self.video_stream.codec_context.extradata
        return bytes(extradata) if extradata and self.profile.video_codec == "h264" else b""

    @property
    def h264_profile_level_id(self) -> str | None:
        """The SDP ``profile-level-id`` of what this encode sends (profile_idc, constraint flags, level_idc of its
        SPS, as hex), e.g. ``64001f`` (High, level 3.1); None when the SPS is not known ahead (in-band only, VP8)."""
        ps = self.parameter_sets
        start = ps.find(b"\x00\x00\x01")
        while start >= 0:
            nal = ps[start + 3 :]
            if nal and nal[0] & 0x1F == 7 and len(nal) >= 4:  # a sequence parameter set
                return nal[1:4].hex()
            start = ps.find(b"\x00\x00\x01", start + 3)
        return None

    def request_keyframe(self) -> None:
        """The next frame becomes an IDR (a sink (re)connected or a viewer joined). Thread-safe. An encode that
        shares its video asks the one that makes it."""
        if self._video_source is not None:
            self._video_source.request_keyframe()
        else:
            self._keyframe_wanted.set()

    def encode(self, video: VideoFrame, audio: AudioFrame) -> list[EncodedPacket]:
        """Encode one video frame and exactly its share of audio; returns the packets ready so far."""
        if self._video_source is None:
            out = list(self.video_packets(video))
        else:
            ps = self.parameter_sets
            out = [
                dataclasses.replace(p, data=ps + p.data) if p.keyframe and ps else p
                for p in self._video_source.video_packets(video)
            ]
        self.frames_encoded += 1
        out.extend(self._encode_audio(audio))
        return out

    def video_packets(self, video: VideoFrame) -> list[EncodedPacket]:
        """This encode's video packets for ``video``, encoding it unless this frame was encoded already (an encode
        sharing the video asked first, or this encoder's own :meth:`encode` did). Not for a sharing encoder."""
        assert self._video_source is None
        if self._last_video is not None and self._last_video[0] == video.pts:
            return self._last_video[1]
        vf = av.VideoFrame.from_ndarray(video.i420, format="yuv420p")
        vf.pts = video.pts
        vf.time_base = self._vtb
        if video.keyframe or self._keyframe_wanted.is_set():
            self._keyframe_wanted.clear()
            vf.pict_type = av.video.frame.PictureType.I
            self.keyframes_forced += 1
        packets = [self._wrap("video", p) for p in self.video_stream.encode(vf)]
        self._last_video = (video.pts, packets)
        return packets

    def _encode_audio(self, audio: AudioFrame) -> list[EncodedPacket]:
        pcm = np.ascontiguousarray(audio.pcm, dtype=np.int16).reshape(1, -1)
        af = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        af.sample_rate = AUDIO_RATE_HZ
        if self._audio_next_pts is None or audio.pts != self._audio_next_pts:
            # The first audio, or the first after a pause (an encode nobody took, e.g. a preview nobody watched):
            # the fifo (which wants its pts to run on from 0) starts again here; a partial frame left from before
            # the gap belongs to another moment and goes.
            self._fifo = av.AudioFifo()
            self._fifo_base = audio.pts
        self._audio_next_pts = audio.pts + pcm.shape[1]
        af.pts = audio.pts - self._fifo_base
        af.time_base = AUDIO_TIME_BASE
        self._fifo.write(af)
        self.samples_encoded += pcm.shape[1]
        out: list[EncodedPacket] = []
        # AAC: 1024 samples a frame; Opus: 960 (20 ms).
        frame_size = self.audio_stream.codec_context.frame_size or 1024
        while self._fifo.samples >= frame_size:
            chunk = self._fifo.read(frame_size)
            if chunk is None:
                break
            chunk.pts = (chunk.pts or 0) + self._fifo_base
            out.extend(self._wrap("audio", p) for p in self.audio_stream.encode(chunk))
        # A packet the codec still held from before a pause comes out now with its old time: it is not sent.
        return [p for p in out if p.pts >= self._fifo_base - frame_size]

    def flush(self) -> list[EncodedPacket]:
        """Drain both encoders (end of show). Remaining audio shorter than one audio frame is padded by FFmpeg."""
        # A sharing encode flushes only its audio: the video encoder is the source's, which flushes it (zero-latency
        # H.264 holds no frame back, so nothing of the video is left for the sharing outputs).
        out = [self._wrap("video", p) for p in self.video_stream.encode(None)] if self._video_source is None else []
        rest = self._fifo.read()
        if rest is not None:
            rest.pts = (rest.pts or 0) + self._fifo_base
            out.extend(self._wrap("audio", p) for p in self.audio_stream.encode(rest))
        out.extend(self._wrap("audio", p) for p in self.audio_stream.encode(None))
        return out

    def _wrap(self, kind: Literal["video", "audio"], p: av.Packet) -> EncodedPacket:
        tb = p.time_base
        assert tb is not None and p.pts is not None
        duration = p.duration or 0
        if not duration and kind == "video":
            # libx264 leaves it 0; fragmented MP4 needs it (a 0-length sample makes browsers drop frames).
            duration = max(1, round(1 / (self.fps * tb)))
        return EncodedPacket(
            kind=kind,
            data=bytes(p),
            pts=p.pts,
            dts=p.dts if p.dts is not None else p.pts,
            time_base=tb,
            keyframe=p.is_keyframe,
            duration=duration,
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()
