"""The Channel's lifecycle (start / drain / aclose, ``async with``) and two channels side by side in one process."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiohttp
import av
import pytest

from streamer.app import Channel, ChannelSpec, default_recording_path
from streamer.config import Persona, StreamConfig
from streamer.publish.sinks import parse_target

from .conftest import REPO


def _spec(tmp_path: Path, name: str, *, seconds: float | None, dashboard: bool = False) -> ChannelSpec:
    config = StreamConfig.model_validate(
        {
            "video": {"width": 426, "height": 240},
            "preview": {"enabled": dashboard, "port": 0},
            "show": {"seed": 1},
            "recordings_dir": str(tmp_path),
        }
    )
    persona = Persona.model_validate({"name": f"Host {name}", "voice": {"backend": "silence"}})
    return ChannelSpec(
        name=name,
        config=config,
        persona=persona,
        products=str(REPO / "products"),
        outputs=[parse_target(str(tmp_path / f"{name}.flv"))],
        duration_s=seconds,
        dashboard_token=f"token-{name}-0123456789",
    )


def _video_frames(path: Path) -> int:
    with av.open(str(path)) as f:
        return sum(1 for _ in f.decode(video=0))


@pytest.mark.integration
def test_two_channels_in_one_process_share_no_ports_recordings_metrics_or_controls(tmp_path: Path) -> None:
    a = Channel(_spec(tmp_path, "alpha", seconds=4, dashboard=True))
    b = Channel(_spec(tmp_path, "beta", seconds=6, dashboard=True))
    seen: dict[str, object] = {}

    async def main() -> tuple[int, int]:
        runs = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
        deadline = time.monotonic() + 15
        while not (a.preview_server and b.preview_server) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert a.preview_server is not None and b.preview_server is not None
        seen["ports"] = (a.preview_server.bound_port, b.preview_server.bound_port)
        async with aiohttp.ClientSession() as http:
            for ch in (a, b):
                assert ch.preview_server is not None
                async with http.get(f"{ch.preview_server.url}healthz") as r:
                    assert r.status == 200
        b.control.pause_patter(True)  # an operator's control on one channel only
        seen["paused"] = (a.speaker.patter_paused, b.speaker.patter_paused)
        done_a, done_b = await asyncio.gather(*runs)
        return done_a, done_b

    assert asyncio.run(main()) == (0, 0)
    port_a, port_b = seen["ports"]  # type: ignore[misc]
    assert port_a and port_b and port_a != port_b
    assert seen["paused"] == (False, True)
    assert a.media is not None and b.media is not None
    assert (a.media.frames, b.media.frames) == (4 * 30, 6 * 30)
    # Each recording holds its own channel's frames, closed and playable.
    assert _video_frames(tmp_path / "alpha.flv") == 4 * 30
    assert _video_frames(tmp_path / "beta.flv") == 6 * 30
    # Metrics and status are each channel's own.
    assert "livehost_frames_total 120\n" in a.health.metrics_text()
    assert "livehost_frames_total 180\n" in b.health.metrics_text()
    assert a.status()["summary"]["host"] == "Host alpha" and b.status()["summary"]["host"] == "Host beta"
    assert a.events is not b.events and a.router is not b.router
    # One audit log per recordings folder, each row naming its channel: what each host said, as heard.
    with sqlite3.connect(tmp_path / "audit.sqlite3") as db:
        rows = db.execute("SELECT channel, source, text, media_s FROM utterances ORDER BY wall_s").fetchall()
    by_channel = {name: [r for r in rows if r[0] == name] for name in ("alpha", "beta")}
    assert by_channel["alpha"] and len(rows) == len(by_channel["alpha"]) + len(by_channel["beta"])
    spoken = {
        name: [h.text for h in ch.spoken if h.text or not h.interrupted] for name, ch in (("alpha", a), ("beta", b))
    }
    assert [r[2] for r in by_channel["alpha"]] == spoken["alpha"] and [r[2] for r in by_channel["beta"]] == spoken[
        "beta"
    ]
    assert all(r[1] in ("patter", "reply", "operator", "disclosure") and r[3] is not None for r in rows)


@pytest.mark.integration
def test_async_with_starts_the_channel_and_closes_it_with_a_playable_recording(tmp_path: Path) -> None:
    ch = Channel(_spec(tmp_path, "solo", seconds=None))

    async def main() -> float:
        async with ch:
            assert ch.media is not None
            began = time.monotonic()
            while ch.media.frames < 45 and time.monotonic() < began + 10:
                await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await ch.aclose()  # idempotent: already closed
        return time.monotonic() - t0

    second_close_s = asyncio.run(main())
    assert second_close_s < 0.1
    assert ch.media is not None and ch.media.join(0.0)  # the media thread has ended
    frames = _video_frames(tmp_path / "solo.flv")
    assert frames >= 45 and frames == ch.media.frames


def test_default_recording_paths_of_channels_started_in_the_same_second_differ(tmp_path: Path) -> None:
    first = default_recording_path(str(tmp_path), "tea-zh")
    Path(first).write_bytes(b"")
    second = default_recording_path(str(tmp_path), "tea-zh")
    other = default_recording_path(str(tmp_path), "shoes-en")
    assert Path(first).name.startswith("tea-zh-") and Path(other).name.startswith("shoes-en-")
    assert second != first
