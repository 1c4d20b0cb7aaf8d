"""AIGC implicit labels: the GB 45438-style tags, read back from real FLV/MP4 recordings and an RTMP stream (ffprobe
and PyAV), and each recording's sidecar with the SHA-256 of the closed file."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import av
import pytest

from streamer import __version__
from streamer.config import AigcSettings, StreamConfig, VideoSettings
from streamer.publish.aigc import (
    AIGC_FIELDS,
    HashingFile,
    aigc_metadata,
    new_production_id,
    parse_label,
    sidecar_path,
)
from streamer.publish.encoder import AVEncoder
from streamer.publish.outputs import open_outputs
from streamer.publish.sinks import MuxSink, SinkState, parse_target

from .conftest import _nginx_config, _stop, free_port, wait_port
from .test_publish import make_encoder, synthetic

SETTINGS = AigcSettings(producer="Acme Live Ltd", propagator="", shop="Acme Home Store")
CREATED_S = 1_796_112_000.0  # 2026-12-01T08:00:00Z
#: ffprobe of a live stream: the tags are in the first script tag; no need to wait for seconds of packets.
QUICK_PROBE = ("-analyzeduration", "300000", "-probesize", "32768")


def tags_for(persona: str = "Mia", channel: str = "home-show") -> dict[str, str]:
    return aigc_metadata(SETTINGS, persona, channel, "home-show-20261201T080000Z-0a1b2c3d", created_s=CREATED_S)


def format_tags(path: Path | str, *probe: str) -> dict[str, str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", *probe, "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return dict(json.loads(out)["format"].get("tags", {}))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_live(sinks: list[MuxSink], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(s.state is not SinkState.LIVE for s in sinks) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(s.state is SinkState.LIVE for s in sinks)


def offer_frames(encoder: AVEncoder, sinks: list[MuxSink], first: int, count: int) -> None:
    for n in range(first, first + count):
        v, a = synthetic(encoder, n)
        packets = encoder.encode(v, a)
        for s in sinks:
            s.offer(packets)


# ---- the tags --------------------------------------------------------------------------------------------------


def test_metadata_carries_the_gb45438_label_as_json_and_flat_tags_with_persona_shop_and_generator():
    tags = tags_for()
    label = parse_label(tags)
    assert list(label) == list(AIGC_FIELDS)  # all seven keys, in the standard's order
    assert label == {
        "Label": "1",
        "ContentProducer": "Acme Live Ltd",
        "ProduceID": "home-show-20261201T080000Z-0a1b2c3d",
        "ReservedCode1": "",
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    }
    assert tags["aigc_label"] == "1"
    assert tags["aigc_content_producer"] == "Acme Live Ltd"
    assert tags["aigc_produce_id"] == "home-show-20261201T080000Z-0a1b2c3d"
    assert "aigc_content_propagator" not in tags  # empty flat tags are left out; the JSON keeps the key
    assert (tags["persona"], tags["channel"], tags["shop"]) == ("Mia", "home-show", "Acme Home Store")
    assert tags["generator"] == f"livehost {__version__}"
    assert tags["created"] == "2026-12-01T08:00:00Z"
    assert all(isinstance(v, str) and v for v in tags.values())


def test_a_named_propagator_gets_the_production_id_and_an_empty_shop_is_left_out():
    tags = aigc_metadata(AigcSettings(propagator="douyin:12345"), "小美", "show", "show-1", created_s=CREATED_S)
    label = parse_label(tags)
    assert (label["ContentProducer"], label["ContentPropagator"], label["PropagateID"]) == (
        "livehost",
        "douyin:12345",
        "show-1",
    )
    assert tags["aigc_propagate_id"] == "show-1"
    assert "shop" not in tags
    assert tags["persona"] == "小美"
    assert "小美" not in tags["AIGC"]  # the persona is a tag of its own, not part of the label


def test_operator_text_cannot_break_a_tag():
    tags = aigc_metadata(AigcSettings(shop="Shop\nName\x00"), "Mia\r\nEvil: 1 " + "x" * 500, "show", "p-1")
    assert tags["shop"] == "Shop Name"
    assert tags["persona"].startswith("Mia Evil: 1 x") and len(tags["persona"]) == 200
    assert all("\n" not in v and "\x00" not in v for v in tags.values())


def test_production_ids_are_unique_and_name_the_channel_and_time():
    a = new_production_id("Home show #1", wall_s=CREATED_S)
    b = new_production_id("Home show #1", wall_s=CREATED_S)
    assert a != b
    assert a.startswith("Home-show-1-20261201T080000Z-") and len(a.rsplit("-", 1)[1]) == 8


def test_stream_config_has_aigc_defaults_and_refuses_unknown_keys():
    cfg = StreamConfig()
    assert (cfg.aigc.producer, cfg.aigc.propagator, cfg.aigc.shop) == ("livehost", "", "")
    assert StreamConfig.model_validate({"aigc": {"shop": "Acme"}}).aigc.shop == "Acme"
    with pytest.raises(ValueError, match="produce"):
        StreamConfig.model_validate({"aigc": {"produce": "x"}})


# ---- recordings ------------------------------------------------------------------------------------------------


def test_flv_and_mp4_recordings_carry_the_label_and_get_a_sidecar_with_the_closed_files_sha256(tmp_path: Path):
    tags = tags_for(persona="小美")
    targets = [parse_target(str(tmp_path / "rec" / "show.flv")), parse_target(str(tmp_path / "rec" / "show.mp4"))]
    outs = open_outputs(targets, video=VideoSettings(width=320, height=240, fps=30), metadata=tags)
    sinks = [o for o in outs.all if isinstance(o, MuxSink)]
    assert len(sinks) == 2
    for s in sinks:
        s.start()
    wait_live(sinks)
    enc = outs.encodings[0].encoder
    assert isinstance(enc, AVEncoder)
    offer_frames(enc, sinks, 0, 30)  # one second
    tail = enc.flush()
    for s in sinks:
        s.offer(tail)
    assert all(s.close(drain=True) for s in sinks)
    outs.close()
    assert [s.sidecar for s in sinks] == [sidecar_path(t.url) for t in targets]

    for name, fmt in (("show.flv", "flv"), ("show.mp4", "mp4")):
        path = tmp_path / "rec" / name
        probed = format_tags(path)
        for key, value in tags.items():
            assert probed.get(key) == value, (name, key)
        assert parse_label(probed)["Label"] == "1"
        with av.open(str(path)) as c:
            assert c.metadata["AIGC"] == tags["AIGC"]
            assert c.metadata["persona"] == "小美"
            assert c.metadata["shop"] == "Acme Home Store"
            assert len(c.streams.video) == 1 and len(c.streams.audio) == 1

        sidecar = sidecar_path(path)
        assert sidecar == tmp_path / "rec" / f"{name}.aigc.json"
        body = json.loads(sidecar.read_text(encoding="utf-8"))
        assert body["sha256"] == sha256_file(path)
        assert body["bytes"] == path.stat().st_size
        assert (body["file"], body["format"]) == (name, fmt)
        assert body["AIGC"] == parse_label(tags)
        for key in ("aigc_label", "aigc_content_producer", "aigc_produce_id", "persona", "shop", "generator"):
            assert body[key] == tags[key]
        assert body["created"] == "2026-12-01T08:00:00Z"
        assert body["opened"].endswith("Z") and body["closed"].endswith("Z") and body["opened"] <= body["closed"]
        assert not list((tmp_path / "rec").glob(".*.tmp"))  # the temporary file was renamed, not left behind
    # The FLV is written once, in order (no seek back to patch the duration), yet its length still reads right.
    with av.open(str(tmp_path / "rec" / "show.flv")) as c:
        assert c.duration is not None and 0.9 < c.duration / 1_000_000 < 1.2


def test_a_recording_that_fails_to_open_gets_no_sidecar(tmp_path: Path):
    blocked = tmp_path / "blocked.flv"
    blocked.mkdir()  # a folder where the file should be: opening it fails, again and again
    enc = make_encoder()
    sink = MuxSink(
        parse_target(str(blocked)),
        video_template=enc.video_stream,
        audio_template=enc.audio_stream,
        metadata=tags_for(),
    )
    sink.start()
    deadline = time.monotonic() + 5
    while sink.failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    offer_frames(enc, [sink], 0, 5)
    assert sink.failures >= 1 and sink.connects == 0
    assert sink.close(drain=True)
    enc.close()
    assert not sidecar_path(blocked).exists() and sink.sidecar is None


def test_without_metadata_a_recording_is_written_as_before_and_gets_no_sidecar(tmp_path: Path):
    enc = make_encoder()
    sink = MuxSink(
        parse_target(str(tmp_path / "plain.mp4")), video_template=enc.video_stream, audio_template=enc.audio_stream
    )
    sink.start()
    wait_live([sink])
    offer_frames(enc, [sink], 0, 10)
    sink.offer(enc.flush())
    assert sink.close(drain=True)
    enc.close()
    assert "AIGC" not in format_tags(tmp_path / "plain.mp4")
    assert not sidecar_path(tmp_path / "plain.mp4").exists()


def test_hashing_file_hashes_in_order_writes_and_rehashes_a_file_patched_after_a_seek(tmp_path: Path):
    in_order = HashingFile(tmp_path / "a.bin")
    in_order.write(b"x" * 1000)
    in_order.write(b"y" * 10)
    assert in_order.digest() == (hashlib.sha256(b"x" * 1000 + b"y" * 10).hexdigest(), 1010)
    assert in_order.in_order

    patched = HashingFile(tmp_path / "b.bin")
    patched.write(b"header--" + b"z" * 100)
    patched.seek(6)
    patched.write(b"OK")  # what FLV's muxer does to patch the duration at the end
    patched.seek(0, 2)
    patched.write(b"tail")
    assert not patched.in_order
    assert patched.digest() == (sha256_file(tmp_path / "b.bin"), 112)
    assert (tmp_path / "b.bin").read_bytes().startswith(b"headerOK")


def test_reopening_a_recording_removes_the_sidecar_that_described_its_old_content(tmp_path: Path):
    path = tmp_path / "show.flv"
    path.write_bytes(b"old")
    sidecar_path(path).write_text("{}")
    HashingFile(path).close()
    assert not sidecar_path(path).exists() and path.read_bytes() == b""


# ---- RTMP ------------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_rtmp_carries_the_label_in_onmetadata_and_sends_it_again_on_each_new_broadcast(tmp_path: Path):
    """Read back as a viewer does: ffprobe plays the stream from nginx-rtmp (with ``meta copy``: its default
    rebuilds ``onMetaData`` from the codec fields only, and its recordings keep none), before and after the sink
    starts a new broadcast (a new RTMP session, whose metadata is the only one the server then holds)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = tmp_path / "nginx"
    (prefix / "rec").mkdir(parents=True)
    (prefix / "logs").mkdir()
    port = free_port()
    conf = _nginx_config(prefix, port).replace("live on;", "live on;\n            meta copy;")
    assert "meta copy;" in conf
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    clock = [0.0]
    stop = threading.Event()
    rotate = threading.Event()
    enc = make_encoder()
    tags = tags_for()
    sink = MuxSink(
        parse_target(f"rtmp://127.0.0.1:{port}/live/aigc"),
        video_template=enc.video_stream,
        audio_template=enc.audio_stream,
        metadata=tags,
        now=lambda: clock[0],
    )
    sink.rotate_after_s = 10.0  # a new broadcast at the first keyframe 10 s (on this fake clock) after going live

    def publish() -> None:  # the media thread: real time, so a player gets a live stream
        t0 = time.monotonic()
        n = 0
        while not stop.is_set():
            if rotate.is_set() and clock[0] == 0.0:
                clock[0] = 11.0
                enc.request_keyframe()
            offer_frames(enc, [sink], n, 1)
            n += 1
            time.sleep(max(0.0, t0 + n / enc.fps - time.monotonic()))

    media = threading.Thread(target=publish, daemon=True)
    try:
        wait_port(port)
        sink.start()
        media.start()
        wait_live([sink])
        played = format_tags(f"rtmp://127.0.0.1:{port}/live/aigc", *QUICK_PROBE)
        assert {k: played.get(k) for k in tags} == tags
        rotate.set()
        deadline = time.monotonic() + 5
        while sink.connects < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.connects == 2 and sink.rotations == 1
        played = format_tags(f"rtmp://127.0.0.1:{port}/live/aigc", *QUICK_PROBE)
        assert {k: played.get(k) for k in tags} == tags
    finally:
        stop.set()
        media.join(5)
        sink.close(drain=False)
        enc.close()
        _stop(proc)
    assert not list(tmp_path.rglob("*.aigc.json"))  # a network target gets no sidecar
