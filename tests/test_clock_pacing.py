import asyncio

from streamer.clock import FakeClock, audio_share
from streamer.publish.media_loop import FramePacer


def test_audio_shares_tile_the_timeline_exactly_for_any_fps():
    for fps in (24, 25, 30, 60, 29):
        total = 0
        for n in range(fps * 10):
            start, count = audio_share(n, fps)
            assert start == total
            total += count
        assert total == 48_000 * 10


def test_thirty_fps_gives_1600_samples_per_frame():
    assert {audio_share(n, 30)[1] for n in range(300)} == {1600}


def test_pacer_waits_until_each_frame_is_due():
    p = FramePacer(30)
    p.start(100.0)
    assert abs(p.wait_s(0, 100.0)) < 1e-9
    assert abs(p.wait_s(3, 100.05) - (0.1 - 0.05)) < 1e-9
    assert p.late_frames == 0


def test_pacer_counts_late_frames_without_drifting():
    p = FramePacer(30)
    p.start(0.0)
    # frame 10 is due at 0.333 s; producing it at 0.5 s is late but within max lag: produce now, origin unchanged
    assert p.wait_s(10, 0.5) < 0
    assert p.late_frames == 1
    assert p.due(30) == 1.0


def test_pacer_reanchors_after_a_long_stall_instead_of_bursting():
    p = FramePacer(30, max_lag_s=1.0)
    p.start(0.0)
    assert p.wait_s(30, 5.0) == 0.0  # 4 s late: resync
    assert p.resyncs == 1
    # the next frame is due one frame period after "now", not 4 s in the past
    assert abs(p.wait_s(31, 5.0) - 1 / 30) < 1e-9


def test_fake_clock_wakes_async_sleepers_in_deadline_order():
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append(name)

    async def main() -> None:
        tasks = [asyncio.create_task(sleeper("late", 2.0)), asyncio.create_task(sleeper("early", 1.0))]
        await asyncio.sleep(0)
        clock.advance(1.5)
        await asyncio.sleep(0.01)
        assert woke == ["early"]
        clock.advance(1.0)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert woke == ["early", "late"]
