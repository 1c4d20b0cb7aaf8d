"""Encoder profiles: what each named profile really encodes (read back with PyAV), and one encoder per distinct
profile with each output getting only its own profile's packets and keyframes."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from streamer.clock import FakeClock, audio_share
from streamer.config import AudioSettings, VideoSettings
from streamer.frames import AUDIO_RATE_HZ, AudioFrame, MouthPose, SpeechSegment, VideoFrame
from streamer.playout import SpeechPlayout
from streamer.publish.encoder import (
    BROADCAST,
    PROFILES,
    WEBRTC,
    WEBRTC_VP8,
    WHIP,
    AVEncoder,
    EncodedPacket,
    EncoderProfile,
)
from streamer.publish.media_loop import MediaLoop
from streamer.publish.outputs import Output, Outputs, open_outputs
from streamer.publish.sinks import parse_target

FPS = 30
W, H = 320, 240
VIDEO = VideoSettings(width=W, height=H, fps=FPS)


def synthetic(n: int) -> tuple[VideoFrame, AudioFrame]:
    """A moving bar and a 440 Hz tone, exactly frame n's share of audio."""
    i420 = np.full((H * 3 // 2, W), 128, np.uint8)
    i420[:H, (n * 8) % W : (n * 8) % W + 40] = 235
    start, count = audio_share(n, FPS)
    t = (start + np.arange(count)) / AUDIO_RATE_HZ
    pcm = (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)
    return VideoFrame(pts=n, i420=i420), AudioFrame(pts=start, pcm=pcm)


def nal_types(data: bytes) -> list[int]:
    """The NAL unit types of an Annex B access unit, in order."""
    out = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        out.append(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return out


def sps_of(data: bytes) -> bytes:
    """The first SPS's profile_idc, constraint flags and level_idc."""
    i = data.index(b"\x00\x00\x01\x67")
    return data[i + 4 : i + 7]


def encode(profile: EncoderProfile, frames: int, *, keyframe_before: int | None = None) -> tuple[AVEncoder, list]:
    """Per frame, the packets the encoder returned for it; the flush last."""
    enc = AVEncoder(video=VIDEO, audio=AudioSettings(), profile=profile)
    per_frame: list[list[EncodedPacket]] = []
    for n in range(frames):
        if n == keyframe_before:
            enc.request_keyframe()
        per_frame.append(enc.encode(*synthetic(n)))
    per_frame.append(enc.flush())
    return enc, per_frame


def still_loop(opened: Outputs, *, max_frames: int | None = None, pipelined: bool = True) -> MediaLoop:
    """The media loop over ``opened``'s encodings, drawing a still picture, on a fake clock."""
    return MediaLoop(
        fps=FPS,
        renderer=StillRenderer(),
        playout=SpeechPlayout(rate_hz=AUDIO_RATE_HZ),
        clock=FakeClock(),
        encodings=opened.encodings,
        max_frames=max_frames,
        pipelined=pipelined,
    )


def test_webrtc_profile_is_constrained_baseline_with_sps_pps_before_every_keyframe_and_opus_48k():
    enc, per_frame = encode(WEBRTC, 75, keyframe_before=40)  # 2.5 s; GOP 2 s, a keyframe asked for at 1.33 s
    try:
        video = [p for ps in per_frame for p in ps if p.kind == "video"]
        audio = [p for ps in per_frame for p in ps if p.kind == "audio"]
        assert len(video) == 75
        # No global header: the parameter sets travel in the stream only.
        assert not enc.video_stream.codec_context.extradata
        keys = [p for p in video if p.keyframe]
        assert [p.pts for p in keys] == [0, 40]  # the first, and the one asked for (the GOP restarts from it)
        for p in video:
            types = nal_types(p.data)
            assert p.data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))  # Annex B, as RTP wants it
            if p.keyframe:
                assert 7 in types and 8 in types and 5 in types, (p.pts, types)
                assert types.index(7) < types.index(5) and types.index(8) < types.index(5)
            else:
                assert 7 not in types and 8 not in types and 5 not in types, (p.pts, types)
        profile_idc, constraints, _level = sps_of(keys[0].data)
        assert profile_idc == 66 and constraints & 0x40  # Baseline with constraint_set1: Constrained Baseline
        # Decoded back without any extradata: every picture, no B-frames, no reordering.
        dec = av.CodecContext.create("h264", "r")
        pictures = [f for p in video for f in dec.decode(av.Packet(p.data))]
        pictures += dec.decode(None)
        assert len(pictures) == 75
        assert dec.profile == "Constrained Baseline"
        assert {PictureType(f.pict_type) for f in pictures} == {PictureType.I, PictureType.P}
        assert all(p.dts == p.pts for p in video)
        assert [p.pts for p in video] == list(range(75))
        # Opus, 48 kHz, 20 ms packets, and it decodes to (about) the tone that went in.
        assert enc.audio_stream.codec_context.name in {"libopus", "opus"}
        assert {p.duration for p in audio[:-1]} == {960}  # the flush's last one is shorter
        adec = av.CodecContext.create("opus", "r")
        adec.extradata = enc.audio_stream.codec_context.extradata
        decoded = [f for p in audio for f in adec.decode(av.Packet(p.data))]
        assert {f.sample_rate for f in decoded} == {48_000}
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in decoded]).astype(np.float32)
        sent = 75 * 1600
        assert sent <= pcm.shape[0] <= sent + 2 * 960  # all of it, plus the encoder's delay and padding
        if pcm.dtype.kind == "f" and np.abs(pcm).max() <= 1.0:
            pcm = pcm * 32768
        rms = float(np.sqrt(np.mean(pcm[2000:sent] ** 2)))
        assert 3000 < rms < 5000  # a 6000-peak sine: 4243 RMS
    finally:
        enc.close()


def test_webrtc_keyframe_request_is_met_by_the_very_next_frame():
    enc = AVEncoder(video=VIDEO, audio=AudioSettings(), profile=WEBRTC)
    try:
        for n in range(10):
            enc.encode(*synthetic(n))
        enc.request_keyframe()
        packets = enc.encode(*synthetic(10))
        key = [p for p in packets if p.kind == "video"]
        assert len(key) == 1 and key[0].pts == 10 and key[0].keyframe
        assert 7 in nal_types(key[0].data) and 8 in nal_types(key[0].data)
        nxt = [p for p in enc.encode(*synthetic(11)) if p.kind == "video"]
        assert not nxt[0].keyframe  # once only
        assert enc.keyframes_forced == 1
    finally:
        enc.close()


def test_broadcast_profile_keeps_high_profile_aac_and_parameter_sets_in_the_extradata_only():
    enc, per_frame = encode(BROADCAST, 65)
    try:
        video = [p for ps in per_frame for p in ps if p.kind == "video"]
        extradata = bytes(enc.video_stream.codec_context.extradata or b"")
        assert 7 in nal_types(extradata) and 8 in nal_types(extradata)
        assert sps_of(extradata)[0] == 100  # High
        for p in video:
            assert 7 not in nal_types(p.data) and 8 not in nal_types(p.data), p.pts
        assert [p.pts for p in video if p.keyframe] == [0, 60]
        assert enc.audio_stream.codec_context.name == "aac"
        assert enc.audio_stream.codec_context.extradata  # AudioSpecificConfig, for FLV/MP4
        assert {p.duration for p in per_frame[0] + per_frame[1] if p.kind == "audio"} <= {1024}
    finally:
        enc.close()


def test_the_preview_s_vp8_profile_decodes_keys_on_request_and_survives_a_pause_in_its_encode():
    import av

    enc = AVEncoder(video=VIDEO, audio=AudioSettings(), profile=WEBRTC_VP8)
    try:
        packets: list[EncodedPacket] = []
        for n in range(20):
            packets += enc.encode(*synthetic(n))
        # Nobody watched for a while (the media loop skipped this encode), then a viewer joined and asked for a key.
        enc.request_keyframe()
        resumed = enc.encode(*synthetic(95))
        for n in range(96, 100):
            resumed += enc.encode(*synthetic(n))
        resumed += enc.flush()
    finally:
        enc.close()
    video = [p for p in resumed if p.kind == "video"]
    assert video[0].keyframe and not any(p.keyframe for p in video[1:])
    audio = [p for p in resumed if p.kind == "audio"]
    assert audio and all(p.pts >= synthetic(95)[1].pts - 960 for p in audio)  # timed after the pause
    decoder = av.CodecContext.create("vp8", "r")
    frames = [f for p in video for f in decoder.decode(av.Packet(p.data))]
    assert len(frames) == len(video) and (frames[0].width, frames[0].height) == (VIDEO.width, VIDEO.height)


def test_profiles_are_named_and_settings_not_given_come_from_the_show():
    assert PROFILES == {"broadcast": BROADCAST, "whip": WHIP, "webrtc": WEBRTC, "webrtc-vp8": WEBRTC_VP8}
    enc = AVEncoder(
        video=VideoSettings(width=W, height=H, fps=FPS, bitrate_kbps=900, keyframe_interval_s=1.0),
        audio=AudioSettings(bitrate_kbps=96),
        profile=WEBRTC,
    )
    try:
        assert enc.video_stream.codec_context.bit_rate == 900_000
        assert enc.video_stream.codec_context.gop_size == 30
        assert enc.audio_stream.codec_context.bit_rate == 64_000  # the profile's own
    finally:
        enc.close()
    with pytest.raises(ValueError, match="audio_rate_hz"):
        AVEncoder(
            video=VIDEO,
            audio=AudioSettings(),
            profile=EncoderProfile(
                name="odd", h264_profile="high", inband_parameter_sets=False, audio_codec="opus", audio_rate_hz=24_000
            ),
        )


# ---- one encoder per distinct profile ------------------------------------------------------------------------


class FakeOutput:
    """An :class:`Output` that keeps every offer."""

    def __init__(self, name: str, profile: EncoderProfile) -> None:
        self.name = name
        self.profile = profile
        self.want_keyframe: Any = None
        self.live = True
        self.offers: list[list[EncodedPacket]] = []

    def start(self) -> None:
        pass

    def offer(self, packets: list[EncodedPacket]) -> None:
        self.offers.append(packets)

    def close(self, *, drain: bool, timeout_s: float) -> bool:
        return True

    def stats(self) -> dict[str, Any]:
        return {"name": self.name, "state": "live"}

    @property
    def packets(self) -> list[EncodedPacket]:
        return [p for ps in self.offers for p in ps]


class StillRenderer:
    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        return synthetic(round(t_s * FPS))[0].i420

    def on_speech_started(self, segment: SpeechSegment) -> None:
        pass


def count_encodes(enc: Any) -> tuple[list[int], set[int]]:
    """Wraps ``enc.encode`` and ``enc.flush``: the video pts of each encode call, and the ids of the packets made."""
    calls: list[int] = []
    made: set[int] = set()
    encode, flush = enc.encode, enc.flush

    def counted(video: VideoFrame, audio: AudioFrame) -> list[EncodedPacket]:
        calls.append(video.pts)
        out = encode(video, audio)
        made.update(id(p) for p in out)
        return out

    def flushed() -> list[EncodedPacket]:
        out = flush()
        made.update(id(p) for p in out)
        return out

    enc.encode, enc.flush = counted, flushed
    return calls, made


def test_two_profiles_make_two_encoders_each_frame_encoded_once_per_profile_and_routed_to_its_own_outputs():
    rtmp_like = FakeOutput("rtmp-like", BROADCAST)
    browser = FakeOutput("browser", WEBRTC)
    opened = open_outputs([], video=VIDEO, audio=AudioSettings(), extra=[rtmp_like, browser])
    try:
        assert all(isinstance(o, Output) for o in opened.all)
        assert [e.profile for e in opened.encodings] == [BROADCAST, WEBRTC]
        assert [e.outputs for e in opened.encodings] == [[rtmp_like], [browser]]
        assert opened.encoder_for(browser) is opened.encodings[1].encoder
        counts = [count_encodes(e.encoder) for e in opened.encodings]
        loop = still_loop(opened, max_frames=45)
        loop.run()  # pipelined: packets leave one frame late, the last ones at the flush
        assert loop.error is None and loop.frames == 45
        for calls, _ in counts:
            assert calls == list(range(45))  # every frame once, per profile
        assert [e.encoder.frames_encoded for e in opened.encodings] == [45, 45]
        (_, made_broadcast), (_, made_webrtc) = counts
        assert {id(p) for p in rtmp_like.packets} == made_broadcast
        assert {id(p) for p in browser.packets} == made_webrtc
        assert len(rtmp_like.offers) == len(browser.offers) == 46  # one offer a frame, then the flush
        # What each got is really its own encode: in-band parameter sets and Opus only on the WebRTC side.
        for out, inband in ((rtmp_like, False), (browser, True)):
            keys = [p for p in out.packets if p.kind == "video" and p.keyframe]
            assert keys and all((7 in nal_types(p.data)) is inband for p in keys)
            assert [p.pts for p in out.packets if p.kind == "video"] == list(range(45))
        opus = [p for p in browser.packets if p.kind == "audio"]
        assert {p.duration for p in opus[:-1]} == {960}  # Opus's 20 ms (the flush's last one is shorter)
        # The cost the status shows is the sum over encoders.
        by_profile = loop.encode_s_ewma_by_profile
        assert set(by_profile) == {"broadcast", "webrtc"} and all(v > 0 for v in by_profile.values())
        assert loop.encode_s_ewma == pytest.approx(sum(by_profile.values()), rel=1e-6)
    finally:
        opened.close()


def test_a_keyframe_request_from_an_output_goes_to_its_own_profiles_encoder_only():
    rtmp_like = FakeOutput("rtmp-like", BROADCAST)
    browser = FakeOutput("browser", WEBRTC)
    opened = open_outputs([], video=VIDEO, audio=AudioSettings(), extra=[rtmp_like, browser])
    loop = still_loop(opened, pipelined=False)

    def keyframe_in(out: FakeOutput) -> bool:
        return any(p.kind == "video" and p.keyframe for p in out.offers[-1])

    try:
        for n in range(5):
            loop.tick(n)
        assert browser.want_keyframe is not None and rtmp_like.want_keyframe is not None
        browser.want_keyframe()  # e.g. an RTCP picture-loss report
        loop.tick(5)
        assert keyframe_in(browser) and not keyframe_in(rtmp_like)
        rtmp_like.want_keyframe()  # e.g. a target reconnected
        loop.tick(6)
        assert keyframe_in(rtmp_like) and not keyframe_in(browser)
        opened.request_keyframe()
        loop.tick(7)
        assert keyframe_in(rtmp_like) and keyframe_in(browser)
        loop.tick(8)
        assert not keyframe_in(rtmp_like) and not keyframe_in(browser)
    finally:
        loop.finish()
        opened.close()


def test_outputs_of_the_same_profile_share_one_encoder(tmp_path):
    a, b = FakeOutput("a", WEBRTC), FakeOutput("b", WEBRTC)
    opened = open_outputs([], video=VIDEO, audio=AudioSettings(), extra=[a, b])
    try:
        assert len(opened.encodings) == 1 and opened.encodings[0].profile == WEBRTC
        assert opened.encodings[0].outputs == [a, b]
        loop = still_loop(opened, max_frames=10)
        loop.run()
        assert a.packets and [id(p) for p in a.packets] == [id(p) for p in b.packets]  # the same packets
    finally:
        opened.close()
    # The show's own kinds (a recording, the MSE preview) want the broadcast encode: one encoder; the WebRTC
    # preview beside them has its own, which runs only while somebody watches.
    preview_loop = asyncio.new_event_loop()
    try:
        opened = open_outputs(
            [parse_target(str(tmp_path / "a.flv")), parse_target(str(tmp_path / "b.mp4"))],
            video=VIDEO,
            audio=AudioSettings(),
            preview_loop=preview_loop,
        )
        try:
            assert [e.profile for e in opened.encodings] == [BROADCAST, WEBRTC_VP8]
            assert opened.encodings[1].outputs == [opened.whep] and opened.whep is not None
            assert not opened.whep.wants_packets  # nobody watching: the media loop skips that encode
            broadcast = opened.encodings[0]
            assert broadcast.outputs == [o for o in opened.all if o is not opened.whep]
            assert opened.preview in broadcast.outputs
            assert all(o.want_keyframe == broadcast.encoder.request_keyframe for o in broadcast.outputs)
        finally:
            opened.close()
    finally:
        preview_loop.close()
    # No output at all: the broadcast encode still runs (a show's frame cost is that of a real show).
    opened = open_outputs([], video=VIDEO, audio=AudioSettings())
    assert [e.profile for e in opened.encodings] == [BROADCAST] and opened.encodings[0].outputs == []
    opened.close()


def test_two_different_profiles_may_not_share_a_name():
    impostor = EncoderProfile(name="webrtc", h264_profile="high", inband_parameter_sets=True, audio_codec="opus")
    with pytest.raises(ValueError, match="webrtc"):
        open_outputs([], video=VIDEO, audio=AudioSettings(), extra=[FakeOutput("a", WEBRTC), FakeOutput("b", impostor)])


# ---- one video encode for RTMP, recordings and WHIP ----------------------------------------------------------


def test_whip_takes_the_broadcast_video_with_sps_pps_before_each_keyframe_and_encodes_only_its_opus():
    rtmp_like = FakeOutput("rtmp-like", BROADCAST)
    whip_like = FakeOutput("whip-like", WHIP)
    opened = open_outputs([], video=VIDEO, audio=AudioSettings(), extra=[rtmp_like, whip_like])
    try:
        assert [e.profile for e in opened.encodings] == [BROADCAST, WHIP]
        broadcast, whip = (e.encoder for e in opened.encodings)
        assert whip.video_stream is broadcast.video_stream  # no video encoder of its own
        assert whip.h264_profile_level_id == broadcast.h264_profile_level_id
        assert broadcast.h264_profile_level_id is not None and broadcast.h264_profile_level_id.startswith("64")
        loop = still_loop(opened, pipelined=False)
        for n in range(45):
            if n == 20:
                assert whip_like.want_keyframe is not None
                whip_like.want_keyframe()  # a viewer's picture-loss report: the one video encode makes a keyframe
            loop.tick(n)
        loop.finish()
        rtmp_video = [p for p in rtmp_like.packets if p.kind == "video"]
        whip_video = [p for p in whip_like.packets if p.kind == "video"]
        assert [p.pts for p in rtmp_video] == [p.pts for p in whip_video] == list(range(45))
        assert [p.pts for p in rtmp_video if p.keyframe] == [0, 20]
        ps = broadcast.parameter_sets
        assert nal_types(ps) == [7, 8]
        for r, w in zip(rtmp_video, whip_video, strict=True):
            # The very same coded picture; a keyframe carries the SPS/PPS in front of it (RTP wants them in-band).
            assert w.data == (ps + r.data if r.keyframe else r.data) and w.keyframe == r.keyframe
            assert 7 not in nal_types(r.data)
            assert (w is r) is not r.keyframe  # a P-frame is the very packet object the broadcast made
        assert broadcast.keyframes_forced == 1 and whip.keyframes_forced == 0
        # What a WebRTC viewer decodes: every picture, with no extradata, High profile.
        dec = av.CodecContext.create("h264", "r")
        pictures = [f for p in whip_video for f in dec.decode(av.Packet(p.data))] + dec.decode(None)
        assert len(pictures) == 45 and dec.profile == "High"
        # The audio is its own: Opus for WHIP, AAC for the broadcast.
        assert whip.audio_stream.codec_context.name in {"libopus", "opus"}
        assert broadcast.audio_stream.codec_context.name == "aac"
        assert {p.duration for p in whip_like.packets if p.kind == "audio"} >= {960}
    finally:
        opened.close()


def test_a_whip_only_show_still_encodes_its_video_once_and_no_aac():
    whip_like = FakeOutput("whip-like", WHIP)
    opened = open_outputs([], video=VIDEO, audio=AudioSettings(), extra=[whip_like])
    try:
        source, whip = opened.encodings
        assert source.profile == WHIP.video_source() and source.outputs == [] and not source.profile.shared_video
        assert whip.profile == WHIP and whip.outputs == [whip_like]
        loop = still_loop(opened, max_frames=30)
        loop.run()
        assert [p.pts for p in whip_like.packets if p.kind == "video"] == list(range(30))
        assert source.encoder.frames_encoded == 0 and source.encoder.samples_encoded == 0  # no AAC for nobody
        assert set(loop.encode_s_ewma_by_profile) == {"whip-video", "whip"}
    finally:
        opened.close()


def test_a_sharing_profile_takes_video_only_from_an_encode_with_the_same_settings():
    with pytest.raises(ValueError, match="video_source"):
        AVEncoder(video=VIDEO, audio=AudioSettings(), profile=WHIP)
    slower = AVEncoder(
        video=VIDEO,
        audio=AudioSettings(),
        profile=EncoderProfile(**{**_fields(BROADCAST), "name": "slow", "video_bitrate_kbps": 300}),
    )
    inband = AVEncoder(video=VIDEO, audio=AudioSettings(), profile=WEBRTC)
    try:
        for wrong in (slower, inband):
            with pytest.raises(ValueError, match="cannot take its video"):
                AVEncoder(video=VIDEO, audio=AudioSettings(), profile=WHIP, video_source=wrong)
        assert inband.h264_profile_level_id is None  # in-band only: the SPS is not known ahead
    finally:
        slower.close()
        inband.close()
    # A platform's lower ceilings: WHIP and the RTMP target of that platform share that encode, not the show's.
    lower = EncoderProfile(**{**_fields(WHIP), "name": "whip@300k", "video_bitrate_kbps": 300})
    lower_rtmp = EncoderProfile(**{**_fields(BROADCAST), "name": "broadcast@300k", "video_bitrate_kbps": 300})
    a, b, c = FakeOutput("rec", BROADCAST), FakeOutput("rtmp", lower_rtmp), FakeOutput("whip", lower)
    opened = open_outputs([], video=VIDEO, audio=AudioSettings(), extra=[a, b, c])
    try:
        assert [e.profile.name for e in opened.encodings] == ["broadcast", "broadcast@300k", "whip@300k"]
        assert opened.encodings[2].encoder.video_stream is opened.encodings[1].encoder.video_stream
    finally:
        opened.close()


def _fields(profile: EncoderProfile) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(profile, f.name) for f in dataclasses.fields(profile)}
