"""Encoder + sinks against real files and a real nginx-rtmp server on loopback (no avatar, synthetic frames)."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.integration
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


@pytest.mark.integration
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
        on_connected=lambda s, _reconnect: (connected.append(s.connects), enc.request_keyframe()),
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


def _packets(encoder: AVEncoder, frames: int) -> list:
    out = []
    for n in range(frames):
        v, a = synthetic(encoder, n)
        out.extend(encoder.encode(v, a))
    return out


def test_a_backlog_past_max_queue_s_is_dropped_whole_and_the_target_resyncs_on_the_next_keyframe(tmp_path: Path):
    """The media thread never waits for a slow target: past ``max_queue_s`` of queued media the queue is dropped, a
    keyframe is asked for, and the writer skips everything until that keyframe (a decoder needs it)."""
    encoder = make_encoder(keyframe_interval_s=2.0)
    packets = _packets(encoder, 150)  # 5 s: keyframes at 0 s, 2 s, 4 s
    asked: list[int] = []
    sink = MuxSink(
        parse_target(str(tmp_path / "slow.flv")),
        video_template=encoder.video_stream,
        audio_template=encoder.audio_stream,
        max_queue_s=1.0,
    )
    sink.want_keyframe = lambda: asked.append(1)
    sink.state = SinkState.LIVE  # connected, but its writer is stuck (never started): the queue only grows
    sink.offer(packets[: len(packets) // 10])  # 0.5 s: kept
    assert sink.dropped_packets == 0 and len(sink._queue) == len(packets) // 10
    sink.offer(packets[len(packets) // 10 :])  # now 5 s are queued
    assert sink.dropped_packets > 0 and not sink._queue and asked, (sink.dropped_packets, len(sink._queue))
    assert sink._resync  # the writer will wait for a keyframe
    # While not connected, only what follows the newest keyframe is kept (a reconnect starts on it).
    down = MuxSink(
        parse_target(str(tmp_path / "down.flv")),
        video_template=encoder.video_stream,
        audio_template=encoder.audio_stream,
        max_queue_s=10.0,
    )
    down.state = SinkState.BACKOFF
    down.offer(packets)
    first = down._queue[0]
    assert first.kind == "video" and first.keyframe and abs(first.time_s - 4.0) < 1e-6


def test_the_writer_starts_on_a_keyframe_after_a_resync(tmp_path: Path):
    encoder = make_encoder(keyframe_interval_s=1.0)
    packets = _packets(encoder, 75)  # keyframes at 0, 1, 2 s
    key1 = next(i for i, p in enumerate(packets) if p.kind == "video" and p.keyframe and p.time_s > 0.5)
    path = tmp_path / "resync.flv"
    sink = MuxSink(parse_target(str(path)), video_template=encoder.video_stream, audio_template=encoder.audio_stream)
    sink.start()
    deadline = time.monotonic() + 5
    while sink.state is not SinkState.LIVE and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.state is SinkState.LIVE
    # Mid-GOP packets first (as after a dropped backlog): they are skipped until the keyframe at 1 s.
    mid = [p for p in packets[:key1] if p.time_s > 0.3]
    sink.offer(mid)
    sink.offer(packets[key1:])
    assert sink.close(drain=True, timeout_s=5.0)
    written = video_packets(path)
    assert written and written[0][1].startswith("K")  # the file starts on a keyframe
    assert abs(written[0][0] - 1.0) < 0.05, written[:3]
    assert len(written) == sum(1 for p in packets[key1:] if p.kind == "video")


def test_every_output_kind_keeps_the_one_contract_and_closes_from_any_thread(tmp_path: Path):
    import asyncio

    from streamer.publish.encoder import BROADCAST
    from streamer.publish.outputs import Output, open_outputs

    async def main() -> tuple[list[str], int, int]:
        opened = open_outputs(
            [parse_target(str(tmp_path / "a.flv")), parse_target(str(tmp_path / "b.mp4"))],
            video=VideoSettings(width=320, height=240, fps=30),
            audio=AudioSettings(),
            preview_loop=asyncio.get_running_loop(),
        )
        assert all(isinstance(o, Output) for o in opened.all) and opened.preview in opened.all
        assert [o.profile.name for o in opened.all] == ["broadcast"] * 3 + ["webrtc-vp8"] and len(opened.encodings) == 2
        assert opened.encodings[0].profile == BROADCAST
        encoder = opened.encodings[0].encoder
        for o in opened.all:
            o.start()
        assert opened.preview is not None
        opened.preview.add()
        watching = opened.preview.stats()["viewers"]
        await asyncio.to_thread(run_frames, encoder, opened.encodings[0].outputs, 30)
        # The show closes every output the same way, off its loop; the preview lets its viewers go on its loop.
        closed = await asyncio.gather(*(asyncio.to_thread(o.close, drain=True, timeout_s=5.0) for o in opened.all))
        await asyncio.sleep(0.05)
        assert all(closed)
        opened.close()
        opened.close()  # idempotent
        return [o.name for o in opened.all], watching, opened.preview.stats()["viewers"]

    names, watching, left = asyncio.run(main())
    assert names == [str(tmp_path / "a.flv"), str(tmp_path / "b.mp4"), "preview", "webrtc-preview"]
    assert (watching, left) == (1, 0)
    for name in ("a.flv", "b.mp4"):
        streams = {s["codec_type"]: s for s in ffprobe(tmp_path / name)["streams"]}
        assert (streams["video"]["codec_name"], streams["video"]["profile"]) == ("h264", "High")
        assert streams["audio"]["codec_name"] == "aac"
