"""One encode for every output: planar I420 + mono PCM in, H.264 + AAC packets out (PyAV / FFmpeg).

The encoder streams live in a ``null`` container so that every sink (RTMP, FLV/MP4 file, preview) can build its
own muxer streams from them as templates and mux copies of the same packets: nothing is encoded twice.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import numpy as np
from av.codec.context import Flags

from streamer.clock import AUDIO_TIME_BASE, video_time_base
from streamer.config import AudioSettings, VideoSettings
from streamer.frames import AUDIO_RATE_HZ, AudioFrame, VideoFrame


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


class AVEncoder:
    """H.264 (libx264, yuv420p, fixed GOP, bitrate-capped, zero-latency) + AAC-LC 48 kHz mono.

    Owned by one thread (the media thread); only :meth:`request_keyframe` may be called from elsewhere.
    """

    def __init__(self, *, video: VideoSettings, audio: AudioSettings) -> None:
        self.width = video.width
        self.height = video.height
        self.fps = video.fps
        self._container = av.open(io.BytesIO(), "w", format="null")
        gop = max(1, round(video.keyframe_interval_s * video.fps))
        vs = self._container.add_stream("libx264", rate=video.fps)
        vs.width = video.width
        vs.height = video.height
        vs.pix_fmt = "yuv420p"
        vs.time_base = video_time_base(video.fps)
        vs.bit_rate = video.bitrate_kbps * 1000
        cc = vs.codec_context
        cc.flags |= Flags.global_header  # SPS/PPS in extradata: FLV and MP4 want them there
        cc.gop_size = gop
        cc.max_b_frames = 0
        vs.options = {
            "preset": video.preset,
            "tune": "zerolatency",
            "profile": "high",
            "forced-idr": "1",
            "maxrate": f"{video.bitrate_kbps}k",
            "bufsize": f"{video.bitrate_kbps * 2}k",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0",
            "colorspace": "smpte170m",
            "color_range": "tv",
        }
        aus = self._container.add_stream("aac", rate=AUDIO_RATE_HZ)
        aus.layout = "mono"
        aus.bit_rate = audio.bitrate_kbps * 1000
        aus.time_base = AUDIO_TIME_BASE
        aus.codec_context.flags |= Flags.global_header
        self._container.start_encoding()  # opens both encoders so extradata exists for the sinks' templates
        self.video_stream = vs
        self.audio_stream = aus
        self._vtb = video_time_base(video.fps)
        self._fifo = av.AudioFifo()
        self._keyframe_wanted = threading.Event()
        self._closed = False
        self.frames_encoded = 0
        self.samples_encoded = 0

    def request_keyframe(self) -> None:
        """The next frame becomes an IDR (a sink (re)connected or a viewer joined). Thread-safe."""
        self._keyframe_wanted.set()

    def encode(self, video: VideoFrame, audio: AudioFrame) -> list[EncodedPacket]:
        """Encode one video frame and exactly its share of audio; returns the packets ready so far."""
        vf = av.VideoFrame.from_ndarray(video.i420, format="yuv420p")
        vf.pts = video.pts
        vf.time_base = self._vtb
        if self._keyframe_wanted.is_set():
            self._keyframe_wanted.clear()
            vf.pict_type = av.video.frame.PictureType.I
        out = [self._wrap("video", p) for p in self.video_stream.encode(vf)]
        self.frames_encoded += 1
        out.extend(self._encode_audio(audio))
        return out

    def _encode_audio(self, audio: AudioFrame) -> list[EncodedPacket]:
        pcm = np.ascontiguousarray(audio.pcm, dtype=np.int16).reshape(1, -1)
        af = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        af.sample_rate = AUDIO_RATE_HZ
        af.pts = audio.pts
        af.time_base = AUDIO_TIME_BASE
        self._fifo.write(af)
        self.samples_encoded += pcm.shape[1]
        out: list[EncodedPacket] = []
        frame_size = self.audio_stream.codec_context.frame_size or 1024
        while self._fifo.samples >= frame_size:
            chunk = self._fifo.read(frame_size)
            if chunk is None:
                break
            out.extend(self._wrap("audio", p) for p in self.audio_stream.encode(chunk))
        return out

    def flush(self) -> list[EncodedPacket]:
        """Drain both encoders (end of show). Remaining audio shorter than one AAC frame is padded by FFmpeg."""
        out = [self._wrap("video", p) for p in self.video_stream.encode(None)]
        rest = self._fifo.read()
        if rest is not None:
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
