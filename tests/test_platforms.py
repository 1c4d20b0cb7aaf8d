"""Platform profiles: rules as data with their sources, the encode each platform gets, the shows a platform refuses,
and a broadcast rotated before the platform's length cap (against nginx-rtmp on loopback)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streamer.config import AudioSettings, Persona, VideoSettings
from streamer.loading import ConfigError
from streamer.publish.encoder import BROADCAST
from streamer.publish.outputs import open_outputs
from streamer.publish.platforms import (
    load_platforms,
    platform_problems,
    profile_for,
    rotate_after_s,
    spoken_disclosure_every_min,
)
from streamer.publish.sinks import MuxSink, TargetError, parse_target

from .test_publish import ffprobe, make_encoder, run_frames_from, video_packets

PERSONA = Persona.model_validate({"name": "Joe"})


def test_every_shipped_platform_names_its_source_and_when_it_was_checked() -> None:
    platforms = load_platforms()
    assert {"douyin", "taobao", "kuaishou", "tiktok-shop", "youtube", "twitch", "facebook", "custom"} <= set(platforms)
    for name, rules in platforms.items():
        assert rules.source and rules.checked is not None, name
    assert platforms["facebook"].broadcast_max_h == 8 and platforms["twitch"].broadcast_max_h == 48
    assert rotate_after_s(platforms["facebook"]) == 8 * 3600 - 600  # 10 min before the cap
    assert rotate_after_s(platforms["youtube"]) is None


def test_an_output_names_its_platform_in_a_fragment_that_is_never_sent_or_shown() -> None:
    t = parse_target("rtmp://live.twitch.tv/app/live_123_secret#platform=twitch")
    assert (t.platform, t.url) == ("twitch", "rtmp://live.twitch.tv/app/live_123_secret")
    assert "platform" not in t.display and "secret" not in t.display
    assert parse_target("rtmp://host/app/key").platform == "custom"
    with pytest.raises(TargetError, match=r"unknown platform 'myspace'.*known: .*twitch") as info:
        parse_target("rtmp://host/app/live_123_secret#platform=myspace")
    assert "secret" not in str(info.value)


def test_the_encode_follows_the_platform_s_ceilings_and_outputs_within_them_share_one() -> None:
    platforms = load_platforms()
    modest = VideoSettings(bitrate_kbps=3000, keyframe_interval_s=2.0)
    assert profile_for(BROADCAST, platforms["twitch"], modest) is BROADCAST
    rich = VideoSettings(width=640, height=360, bitrate_kbps=8000, keyframe_interval_s=4.0)
    twitch = profile_for(BROADCAST, platforms["twitch"], rich)
    assert (twitch.video_bitrate_kbps, twitch.keyframe_interval_s) == (6000, 2.0)
    youtube = profile_for(BROADCAST, platforms["youtube"], rich)
    assert youtube is BROADCAST  # 8 Mb/s and 4 s are within YouTube's limits

    opened = open_outputs(
        [
            parse_target("rtmp://127.0.0.1:1/live/a#platform=twitch"),
            parse_target("rtmp://127.0.0.1:1/live/b#platform=youtube"),
            parse_target("/tmp/never-opened.flv"),
        ],
        video=rich,
        audio=AudioSettings(),
    )
    try:
        assert [e.profile for e in opened.encodings] == [twitch, BROADCAST]
        assert [len(e.outputs) for e in opened.encodings] == [1, 2]
        enc = opened.encodings[0].encoder
        assert enc.video_stream.codec_context.bit_rate == 6_000_000
        sinks = [o for o in opened.all if isinstance(o, MuxSink)]
        assert [s.rotate_after_s for s in sinks] == [48 * 3600 - 600, None, None]
    finally:
        opened.close()


def test_a_show_a_platform_cannot_take_refuses_to_start_with_the_reason_and_its_source(tmp_path: Path) -> None:
    platforms = load_platforms()
    uhd = VideoSettings(width=3840, height=2160)
    [problem] = platform_problems([parse_target("rtmp://h/app/k#platform=twitch")], PERSONA, uhd, platforms)
    assert "3840x2160" in problem and "1920x1080" in problem and "Broadcast Guidelines" in problem
    assert platform_problems([parse_target("rtmp://h/app/k#platform=youtube")], PERSONA, uhd, platforms) == []
    # An operator's own rules file: a platform that bans synthetic voices.
    own = tmp_path / "platforms.yaml"
    own.write_text(
        "radio-x:\n  title: Radio X\n  source: Radio X partner terms 4.2\n  forbids: [synthetic_voice]\n",
        encoding="utf-8",
    )
    platforms = load_platforms(own)
    radio = parse_target("rtmp://h/app/k#platform=radio-x", platforms=platforms)  # the operator's own platform
    assert radio.platform == "radio-x"
    with pytest.raises(TargetError, match="unknown platform 'radio-x'"):
        parse_target("rtmp://h/app/k#platform=radio-x")  # not among the shipped ones
    [problem] = platform_problems([radio], PERSONA, VideoSettings(), platforms)
    assert "forbids synthetic voices" in problem and "Radio X partner terms 4.2" in problem
    quiet = Persona.model_validate({"name": "Q", "voice": {"backend": "silence"}})
    assert platform_problems([radio], quiet, VideoSettings(), platforms) == []


def test_a_bad_rules_file_is_an_error_at_its_line(tmp_path: Path) -> None:
    own = tmp_path / "platforms.yaml"
    own.write_text("radio-x:\n  title: Radio X\n  source: terms\n  video_kbps_max: lots\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_platforms(own)
    [problem] = info.value.problems
    assert problem.line == 4 and problem.field.endswith("video_kbps_max")


def test_the_spoken_disclosure_cadence_is_the_strictest_of_the_targets_platforms() -> None:
    platforms = load_platforms()
    targets = [parse_target("rtmp://h/app/k#platform=tiktok-shop"), parse_target("rtmp://h/app/k2#platform=douyin")]
    assert spoken_disclosure_every_min(targets, platforms) == 10
    assert spoken_disclosure_every_min([parse_target("rtmp://h/app/k")], platforms) is None


@pytest.mark.integration
def test_a_broadcast_is_ended_and_a_new_one_started_on_a_keyframe_before_the_cap(rtmp_server) -> None:
    enc = make_encoder(keyframe_interval_s=0.5)
    connected: list[bool] = []
    sink = MuxSink(
        parse_target(rtmp_server.url("rotating")),
        video_template=enc.video_stream,
        audio_template=enc.audio_stream,
        on_connected=lambda _sink, reconnect: connected.append(reconnect),
    )
    sink.rotate_after_s = 1.0
    sink.start()
    deadline = time.monotonic() + 10
    while not sink.live and time.monotonic() < deadline:
        time.sleep(0.02)
    run_frames_from(enc, [sink], 0, 105, realtime=True)  # 3.5 s
    assert sink.close(drain=True, timeout_s=5.0)
    print(f"\nrotation: {sink.rotations} broadcasts ended, {sink.connects} started, {sink.dropped_packets} dropped")
    assert sink.rotations >= 2 and sink.connects == sink.rotations + 1
    assert connected == [False] + [True] * sink.rotations  # each new broadcast shows the AI notice again
    assert sink.failures == 0 and sink.dropped_packets == 0
    # The last broadcast, as the server recorded it, starts on a keyframe and plays.
    path = rtmp_server.recording("rotating")
    assert {s["codec_name"] for s in ffprobe(path)["streams"]} == {"h264", "aac"}
    assert video_packets(path)[0][1].startswith("K")
