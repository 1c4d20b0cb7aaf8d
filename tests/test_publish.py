"""Encoder + sinks against real files and a real nginx-rtmp server on loopback (no avatar, synthetic frames)."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from streamer.clock import audio_share
from streamer.config import AudioSettings, VideoSettings
from streamer.frames import AudioFrame, VideoFrame
from streamer.publish.encoder import AVEncoder
from streamer.publish.sinks import MuxSink, SinkState, parse_target

from .conftest import free_port


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def video_packets(path: Path) -> list[tuple[float, str]]:
    """(pts_time, flags) of every video packet, as ffprobe reads them."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [(float(t), f) for t, f in (line.split(",")[:2] for line in out.split())]


def synthetic(encoder: AVEncoder, n: int) -> tuple[VideoFrame, AudioFrame]:
    w, h = encoder.width, encoder.height
    i420 = np.full((h * 3 // 2, w), 128, np.uint8)
    i420[:h, (n * 8) % w : (n * 8) % w + 40] = 235
    start, count = audio_share(n, encoder.fps)
    t = (start + np.arange(count)) / 48_000
    pcm = (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)
    return VideoFrame(pts=n, i420=i420), AudioFrame(pts=start, pcm=pcm)


def run_frames_from(
    encoder: AVEncoder, sinks: list[MuxSink], first: int, count: int, *, realtime: bool = False, pause_s: float = 0.034
) -> None:
    """Encode frames ``first..first+count`` and offer them; paced in real time, or ``pause_s`` apart."""
    t0 = time.monotonic()
    for i, n in enumerate(range(first, first + count)):
        v, a = synthetic(encoder, n)
        pk = encoder.encode(v, a)
        for s in sinks:
            s.offer(pk)
        delay = t0 + (i + 1) / encoder.fps - time.monotonic() if realtime else pause_s
        if delay > 0:
            time.sleep(delay)


def run_frames(encoder: AVEncoder, sinks: list[MuxSink], frames: int) -> None:
    """A whole short show: ``frames`` frames as fast as possible, then the encoder flushed."""
    run_frames_from(encoder, sinks, 0, frames, pause_s=0.0)
    tail = encoder.flush()
    for s in sinks:
        s.offer(tail)


def make_encoder(**video) -> AVEncoder:
    return AVEncoder(video=VideoSettings(**{"width": 320, "height": 240, "fps": 30, **video}), audio=AudioSettings())


def test_one_encode_fans_out_to_flv_and_mp4_files_with_exact_durations(tmp_path: Path):
    enc = make_encoder()
    sinks = []
    for name in ("a.flv", "b.mp4"):
        s = MuxSink(
            parse_target(str(tmp_path / name)), video_template=enc.video_stream, audio_template=enc.audio_stream
        )
        s.start()
        sinks.append(s)
    deadline = time.monotonic() + 5
    while any(s.state is not SinkState.LIVE for s in sinks) and time.monotonic() < deadline:
        time.sleep(0.01)
    run_frames(enc, sinks, 90)
    assert all(s.close(drain=True) for s in sinks)
    enc.close()
    for name in ("a.flv", "b.mp4"):
        info = ffprobe(tmp_path / name)
        v = next(s for s in info["streams"] if s["codec_type"] == "video")
        a = next(s for s in info["streams"] if s["codec_type"] == "audio")
        assert (v["codec_name"], v["width"], v["height"], v["pix_fmt"]) == ("h264", 320, 240, "yuv420p")
        assert v["r_frame_rate"] == "30/1"
        assert (a["codec_name"], a["sample_rate"], a["channels"]) == ("aac", "48000", 1)
        assert abs(float(info["format"]["duration"]) - 3.0) < 0.1, name
    assert sinks[0].dropped_packets == 0


def test_keyframes_every_two_seconds(tmp_path: Path):
    enc = make_encoder()
    sink = MuxSink(
        parse_target(str(tmp_path / "k.flv")), video_template=enc.video_stream, audio_template=enc.audio_stream
    )
    sink.start()
    run_frames(enc, [sink], 150)
    sink.close(drain=True)
    keys = [round(t, 2) for t, flags in video_packets(tmp_path / "k.flv") if "K" in flags]
    # FLV shifts every timestamp by the AAC priming delay (21 ms); the spacing is what matters.
    assert len(keys) == 3 and keys[0] < 0.05
    assert [round(b - a, 2) for a, b in itertools.pairwise(keys)] == [2.0, 2.0]


def test_rtmp_target_down_at_start_is_retried_until_the_server_appears(tmp_path: Path, rtmp_server_factory):
    port = free_port()
    enc = make_encoder()
    sink = MuxSink(
        parse_target(f"rtmp://127.0.0.1:{port}/live/late"),
        video_template=enc.video_stream,
        audio_template=enc.audio_stream,
        max_backoff_s=1.0,
    )
    sink.start()
    run_frames_from(enc, [sink], 0, 30, realtime=True)  # 1 s with nobody listening
    assert sink.state is not SinkState.LIVE and sink.failures >= 1
    assert "late" not in (sink.last_error or "")  # the stream key never appears in errors
    server = rtmp_server_factory(port)
    deadline = time.monotonic() + 10
    n = 30
    while sink.state is not SinkState.LIVE and time.monotonic() < deadline:
        run_frames_from(enc, [sink], n, 3)
        n += 3
    assert sink.state is SinkState.LIVE
    run_frames_from(enc, [sink], n, 90, realtime=True)
    assert sink.close(drain=True)
    info = ffprobe(server.recording("late"))
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    assert float(info["format"]["duration"]) > 2.0


def test_rtmp_target_that_drops_mid_stream_reconnects_and_resumes_on_a_keyframe(tmp_path: Path):
    from .conftest import _start_nginx, _stop

    port = free_port()
    proc, _ = _start_nginx(tmp_path / "n1", port)
    enc = make_encoder()
    connected: list[int] = []
    sink = MuxSink(
        parse_target(f"rtmp://127.0.0.1:{port}/live/drop"),
        video_template=enc.video_stream,
        audio_template=enc.audio_stream,
        max_backoff_s=1.0,
        on_connected=lambda s: (connected.append(s.connects), enc.request_keyframe()),
    )
    sink.want_keyframe = enc.request_keyframe
    sink.start()
    n = 0
    try:
        deadline = time.monotonic() + 10
        while sink.state is not SinkState.LIVE and time.monotonic() < deadline:
            run_frames_from(enc, [sink], n, 3)
            n += 3
        run_frames_from(enc, [sink], n, 45, realtime=True)
        n += 45
        _stop(proc)  # the server goes away mid-stream
        deadline = time.monotonic() + 15
        while sink.failures == 0 and time.monotonic() < deadline:
            run_frames_from(enc, [sink], n, 3)
            n += 3
        assert sink.failures >= 1 and sink.state is not SinkState.LIVE
        proc, server2 = _start_nginx(tmp_path / "n2", port)  # back on the same address
        deadline = time.monotonic() + 15
        while sink.state is not SinkState.LIVE and time.monotonic() < deadline:
            run_frames_from(enc, [sink], n, 3)
            n += 3
        assert sink.state is SinkState.LIVE and sink.connects == 2 and connected == [1, 2]
        run_frames_from(enc, [sink], n, 75, realtime=True)
        assert sink.close(drain=True)
    finally:
        _stop(proc)
    packets = video_packets(server2.recording("drop"))
    assert packets and "K" in packets[0][1]  # the new connection starts on a keyframe
    assert packets[-1][0] - packets[0][0] > 1.5
