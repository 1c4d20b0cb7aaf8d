"""Faults an RTMP server can throw at an output, on loopback, each with the figure it was measured at: a server that
accepts the connection and never answers. The output gives up within its connect deadline, retries with backoff,
never blocks the media thread (FFmpeg's own connect holds the GIL: it is never handed a server that does not
answer), and closes on time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from streamer.publish.sinks import MuxSink, SinkState, parse_target

from .test_publish import make_encoder, synthetic


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never sends or reads a byte (an RTMP server stuck before its handshake)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
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
def test_a_server_that_accepts_and_never_answers_is_given_up_on_and_retried_without_blocking() -> None:
    enc = make_encoder()
    with silent_server() as port:
        sink = MuxSink(
            parse_target(f"rtmp://127.0.0.1:{port}/live/stuck"),
            video_template=enc.video_stream,
            audio_template=enc.audio_stream,
            max_backoff_s=1.0,
        )
        sink.connect_timeout_s = 0.5
        sink.start()
        t0 = time.monotonic()
        worst_offer_s = 0.0
        for n in range(90):  # 3 s of frames, offered as the media thread does
            v_a = enc.encode(*synthetic(enc, n))
            began = time.perf_counter()
            sink.offer(v_a)
            worst_offer_s = max(worst_offer_s, time.perf_counter() - began)
            time.sleep(max(0.0, t0 + (n + 1) / 30 - time.monotonic()))
        failures = sink.failures
        close_t = time.monotonic()
        closed = sink.close(drain=True, timeout_s=2.0)
        close_s = time.monotonic() - close_t
    print(
        f"\nsilent server: {failures} failed attempts in 3 s, worst offer {worst_offer_s * 1000:.2f} ms,"
        f" close {close_s:.2f} s"
    )
    assert failures >= 2 and sink.state is SinkState.STOPPED and sink.last_error
    assert worst_offer_s < 0.01 and closed and close_s < 1.5
