"""The show's own RTMP client (``streamer.publish.rtmp``): addresses, AMF0, the chunk stream both ways, FLV tags
to RTMP messages, and -- the reason it exists -- a server that stalls anywhere in the handshake or the publishing
exchange costs an attempt within its deadline, never the process (FFmpeg's client held the GIL for as long as the
server liked: measured over 60 s with no other thread running)."""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import av
import pytest

from streamer.config import AudioSettings, VideoSettings
from streamer.publish.encoder import AVEncoder
from streamer.publish.rtmp import (
    ChunkReader,
    RtmpError,
    RtmpNoAnswer,
    RtmpPublisher,
    _Ecma,
    amf0,
    amf0_values,
    chunk_message,
    parse_rtmp_url,
)
from streamer.publish.sinks import MuxSink, SinkState, parse_target

from .test_publish import synthetic


def test_addresses_split_into_app_and_stream_name_as_encoders_do():
    u = parse_rtmp_url("rtmp://live.example.com/app/stream-key")
    assert (u.host, u.port, u.secure, u.app, u.name) == ("live.example.com", 1935, False, "app", "stream-key")
    assert u.tc_url == "rtmp://live.example.com/app"
    u = parse_rtmp_url("rtmps://push.example.com:8443/third/live/stream-1?expire=99&sign=ab")
    assert (u.port, u.secure, u.app, u.name) == (8443, True, "third/live", "stream-1?expire=99&sign=ab")
    assert u.tc_url == "rtmps://push.example.com:8443/third/live"
    assert parse_rtmp_url("rtmps://a.example/x/k").port == 443
    for bad in ("rtmp://host/onlyone", "http://host/app/key", "rtmp:///app/key"):
        with pytest.raises(RtmpError) as err:
            parse_rtmp_url(bad)
        assert "key" not in str(err.value).replace("(rtmp://host/app/name)", "")


def test_amf0_round_trips_what_a_server_and_a_publisher_say():
    values: list[Any] = [
        "_result",
        3.0,
        None,
        {"level": "status", "code": "NetStream.Publish.Start", "nested": {"ok": True, "n": 1.5}},
        "x" * 70_000,  # a long string
        False,
    ]
    data = b"".join(amf0(v) for v in values)
    assert amf0_values(data) == values
    ecma = amf0(_Ecma({"width": 1280.0, "AIGC": "label"}))
    assert ecma[0] == 0x08 and amf0_values(ecma) == [{"width": 1280.0, "AIGC": "label"}]
    strict = b"\x0a" + struct.pack(">I", 2) + amf0(1.0) + amf0("a")
    assert amf0_values(strict) == [[1.0, "a"]]
    for broken in (amf0("abc")[:-1], b"\x03" + b"\x00\x01a", b"\x11"):
        with pytest.raises(ValueError):
            amf0_values(broken)
    deep = b"\x03" + b"\x00\x01a\x03" * 40
    with pytest.raises(ValueError):
        amf0_values(deep)


def test_the_chunk_reader_reassembles_messages_fed_a_byte_at_a_time_with_any_header_type():
    big = bytes(range(256)) * 20  # 5,120 bytes: 40 chunks of 128
    stream = (
        chunk_message(3, 20, 0, 0, amf0("onStatus") + amf0(0.0), 128)
        + chunk_message(2, 1, 0, 0, struct.pack(">I", 4096), 128)  # Set Chunk Size: what follows uses 4096
        + chunk_message(70, 9, 1, 0x1000000, big, 4096)  # a 2-byte chunk stream id, an extended timestamp
    )
    # A type-1 header (no stream id) and a type-2 (timestamp delta only) on chunk stream 70, then a type-3 start.
    stream += bytes([0x40 | 0, 70 - 64]) + (5).to_bytes(3, "big") + (3).to_bytes(3, "big") + b"\x08" + b"abc"
    stream += bytes([0x80 | 0, 70 - 64]) + (5).to_bytes(3, "big") + b"def"
    stream += bytes([0xC0 | 0, 70 - 64]) + b"ghi"
    reader = ChunkReader()
    got: list[tuple[int, int, bytes]] = []
    for i in range(len(stream)):
        got += reader.feed(stream[i : i + 1])
    assert [(t, sid) for t, sid, _ in got] == [(20, 0), (1, 0), (9, 1), (8, 1), (8, 1), (8, 1)]
    assert amf0_values(got[0][2]) == ["onStatus", 0.0]
    assert got[2][2] == big and reader.chunk_size == 4096
    assert [p for *_, p in got[3:]] == [b"abc", b"def", b"ghi"]
    assert reader.received == len(stream)


def _flv_bytes() -> tuple[bytes, AVEncoder]:
    enc = AVEncoder(video=VideoSettings(width=320, height=240, fps=30), audio=AudioSettings())
    buf = io.BytesIO()
    with av.open(buf, "w", format="flv", options={"flvflags": "no_duration_filesize"}) as c:
        vs = c.add_stream_from_template(enc.video_stream)
        aus = c.add_stream_from_template(enc.audio_stream)
        c.metadata["AIGC"] = "label-of-the-test"
        for n in range(15):
            for p in enc.encode(*synthetic(enc, n)):
                c.mux(p.to_av(vs if p.kind == "video" else aus))
    return buf.getvalue(), enc


def _publishing_on_a_socketpair() -> tuple[RtmpPublisher, socket.socket, socket.socket]:
    """A publisher past its handshake (stream 1), writing to one end of a socket pair; the test is the server."""
    ours, theirs = socket.socketpair()
    pub = RtmpPublisher("rtmp://127.0.0.1/live/k")
    pub._sock = ours
    pub._stream_id = 1
    return pub, ours, theirs


def test_flv_from_the_muxer_goes_out_as_one_rtmp_message_per_tag_whatever_the_write_sizes():
    flv, enc = _flv_bytes()
    enc.close()
    pub, ours, theirs = _publishing_on_a_socketpair()
    try:
        for i in range(0, len(flv), 777):  # the muxer's writes need not end on tag boundaries
            pub.write(flv[i : i + 777])
        theirs.setblocking(False)
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := theirs.recv(1 << 20):
                data += chunk
    finally:
        ours.close()
        theirs.close()
    reader = ChunkReader()
    reader.chunk_size = 4096  # what the publisher announces right after the handshake
    messages = reader.feed(data)
    # The FLV tags, in order, from the file itself.
    tags = []
    pos = 13
    while pos + 11 <= len(flv):
        size = int.from_bytes(flv[pos + 1 : pos + 4], "big")
        tags.append((flv[pos] & 0x1F, flv[pos + 11 : pos + 11 + size]))
        pos += 11 + size + 4
    assert [t for t, _ in tags] == [t for t, _, _ in messages]
    assert {t for t, _ in tags} == {8, 9, 18} and all(sid == 1 for _, sid, _ in messages)
    for (kind, body), (_, _, payload) in zip(tags, messages, strict=True):
        if kind == 18:  # script data goes out as @setDataFrame onMetaData, the label inside
            values = amf0_values(payload)
            assert values[:2] == ["@setDataFrame", "onMetaData"] and values[2]["AIGC"] == "label-of-the-test"
        else:
            assert payload == body
    assert pub.messages_sent == len(tags)


# ---- servers that stall: the attempt fails within its deadline, the process never stops ----------------------------


@contextlib.contextmanager
def stalling_server(stage: str) -> Iterator[int]:
    """A server that stalls at ``stage``: ``accept`` (takes the connection, never reads or sends a byte), ``s0``
    (answers the first handshake byte only), ``handshake`` (S0 and S1, never S2), ``connect`` (the whole handshake,
    then never answers ``connect``)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            held.append(conn)
            conn.settimeout(2.0)
            if stage == "accept":
                continue
            with contextlib.suppress(OSError):
                got = b""
                while len(got) < 1537:
                    got += conn.recv(1537 - len(got))
                conn.sendall(b"\x03")
                if stage in ("handshake", "connect"):
                    conn.sendall(bytes(1536))
                if stage == "connect":
                    conn.sendall(got[1:])  # S2: C1 echoed

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


@pytest.mark.integration
@pytest.mark.parametrize("stage", ["accept", "s0", "handshake", "connect"])
def test_a_server_stalling_in_the_handshake_or_connect_costs_an_attempt_never_the_process(stage: str):
    with stalling_server(stage) as port:
        pub = RtmpPublisher(f"rtmp://127.0.0.1:{port}/live/secret-key", timeout_s=0.6)
        gaps: list[float] = []
        done = threading.Event()

        def ticker() -> None:
            last = time.monotonic()
            while not done.is_set():
                time.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        t = threading.Thread(target=ticker)
        t.start()
        t0 = time.monotonic()
        try:
            with pytest.raises(RtmpNoAnswer) as err:
                pub.connect()
        finally:
            took = time.monotonic() - t0
            done.set()
            t.join()
    print(f"\nstall at {stage}: given up after {took:.2f} s, worst gap of another thread {max(gaps) * 1000:.0f} ms")
    assert 0.5 <= took < 1.5  # the one deadline, for every step together
    assert max(gaps) < 0.1  # the other threads (the pictures) ran all along
    assert "secret-key" not in str(err.value) and pub.fileno() == -1


@pytest.mark.integration
@pytest.mark.parametrize("stage", ["accept", "handshake"])
def test_a_sink_whose_server_stalls_keeps_trying_and_the_media_thread_never_waits_nor_the_close(stage: str):
    enc = AVEncoder(video=VideoSettings(width=320, height=240, fps=30), audio=AudioSettings())
    with stalling_server(stage) as port:
        sink = MuxSink(
            parse_target(f"rtmp://127.0.0.1:{port}/live/stuck"),
            video_template=enc.video_stream,
            audio_template=enc.audio_stream,
            max_backoff_s=1.0,
        )
        sink.connect_timeout_s = 0.5
        sink.start()
        t0 = time.monotonic()
        worst_lag_s = 0.0
        for n in range(75):  # 2.5 s of frames, paced as the media thread paces them
            due = t0 + n / 30
            worst_lag_s = max(worst_lag_s, time.monotonic() - due)
            sink.offer(enc.encode(*synthetic(enc, n)))
            time.sleep(max(0.0, t0 + (n + 1) / 30 - time.monotonic()))
        failures = sink.failures
        close_t = time.monotonic()
        assert sink.close(drain=True, timeout_s=2.0)
        close_s = time.monotonic() - close_t
    enc.close()
    print(
        f"\nstaller at {stage}: {failures} failed attempts in 2.5 s, worst frame lag {worst_lag_s * 1000:.0f} ms,"
        f" close {close_s:.2f} s"
    )
    assert failures >= 2 and sink.state is SinkState.STOPPED and close_s < 1.5
    assert sink.last_error is not None and "did not answer" in sink.last_error and "stuck" not in sink.last_error
    assert worst_lag_s < 0.1


def test_between_writes_pings_are_answered_the_window_acknowledged_and_an_error_status_ends_the_session():
    flv, enc = _flv_bytes()
    enc.close()
    pub, ours, theirs = _publishing_on_a_socketpair()
    try:
        pub.write(flv[:13])  # the FLV header: nothing to send yet
        theirs.sendall(
            chunk_message(2, 5, 0, 0, struct.pack(">I", 20), 128)  # window: acknowledge every 20 bytes
            + chunk_message(2, 4, 0, 0, struct.pack(">HI", 6, 123456), 128)  # ping request
        )
        time.sleep(0.05)
        pub.write(flv[13:])
        theirs.settimeout(1.0)
        replies = ChunkReader()
        replies.chunk_size = 4096  # what the publisher announces after the handshake
        got: list[tuple[int, int, bytes]] = []
        deadline = time.monotonic() + 2.0
        while not any(t == 4 for t, _, _ in got) and time.monotonic() < deadline:
            got += replies.feed(theirs.recv(1 << 20))
        pongs = [p for t, _, p in got if t == 4]
        assert pongs == [struct.pack(">HI", 7, 123456)] and pub.pings_answered == 1
        assert any(t == 3 for t, _, _ in got)  # an acknowledgement: more than the window came in
        # The server ends the publishing: the next write says so (the sink then reconnects).
        status = {"level": "error", "code": "NetStream.Publish.Denied", "description": "kicked"}
        theirs.sendall(chunk_message(5, 20, 1, 0, amf0("onStatus") + amf0(0.0) + amf0(None) + amf0(status), 128))
        time.sleep(0.05)
        with pytest.raises(RtmpError, match=r"NetStream\.Publish\.Denied - kicked"):
            pub.write(b"")
    finally:
        ours.close()
        theirs.close()
