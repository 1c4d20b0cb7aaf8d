"""The media loop on a fake clock: a fake renderer, a real SpeechPlayout fed scripted speech, a fake encoder and
fake outputs. Driven synchronously through :meth:`MediaLoop.run` (its sleeps move the fake time on)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest

from streamer.clock import FakeClock, audio_share
from streamer.frames import AUDIO_RATE_HZ, AudioFrame, MouthPose, SpeechSegment, VideoFrame, Viseme, VisemeTrack
from streamer.playout import SpeechPlayout
from streamer.publish.encoder import BROADCAST, EncodedPacket, EncoderProfile
from streamer.publish.media_loop import MediaEvents, MediaLoop
from streamer.publish.outputs import Encoding

GAP_S = 0.25


class FakeRenderer:
    """Records what it is asked to draw and when (on the fake clock); ``slow_s[n]``: frame n takes that long."""

    def __init__(self, clock: FakeClock, fps: int, slow_s: dict[int, float] | None = None) -> None:
        self.clock = clock
        self.fps = fps
        self.slow_s = slow_s or {}
        self.frames: list[tuple[int, float, MouthPose]] = []  # (frame, clock time, mouth)
        self.started: list[tuple[int, int]] = []  # (frame about to be drawn, segment id)
        self.on_render: dict[int, object] = {}

    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        n = round(t_s * self.fps)
        self.frames.append((n, self.clock.now(), mouth))
        hook = self.on_render.get(n)
        if callable(hook):
            hook()
        if n in self.slow_s:
            self.clock.advance(self.slow_s[n])
        return np.full((24, 32), n % 256, np.uint8)

    def on_speech_started(self, segment: SpeechSegment) -> None:
        self.started.append((len(self.frames), segment.segment_id))


class FakeEncoder:
    """One video packet per frame (a keyframe when asked for), one audio packet per frame's share."""

    def __init__(self, fps: int, profile: EncoderProfile = BROADCAST) -> None:
        self.profile = profile
        self.fps = fps
        self.video: list[VideoFrame] = []
        self.audio: list[AudioFrame] = []
        self.flushes = 0
        self._key = True

    def encode(self, video: VideoFrame, audio: AudioFrame) -> list[EncodedPacket]:
        self.video.append(video)
        self.audio.append(audio)
        key, self._key = self._key, False
        return [
            EncodedPacket("video", b"v", video.pts, video.pts, Fraction(1, self.fps), key, 1),
            EncodedPacket("audio", b"a", audio.pts, audio.pts, Fraction(1, AUDIO_RATE_HZ), True, len(audio.pcm)),
        ]

    def flush(self) -> list[EncodedPacket]:
        self.flushes += 1
        return [EncodedPacket("audio", b"end", -1, -1, Fraction(1, AUDIO_RATE_HZ), True, 0)]

    def request_keyframe(self) -> None:
        self._key = True

    def close(self) -> None:
        pass


class FakeOutput:
    def __init__(self) -> None:
        self.offers: list[list[EncodedPacket]] = []

    def offer(self, packets: list[EncodedPacket]) -> None:
        self.offers.append(packets)


def segment(segment_id: int, text: str, seed: int) -> SpeechSegment:
    """Scripted speech as :class:`~streamer.bench.virtual_show.ScriptedVoice` makes it (kept here so that this test
    does not import the show): quiet noise, 14 characters a second, one mouth key per word."""
    words = text.split()
    lengths = [round((len(w) + 1) / 14.0 * AUDIO_RATE_HZ) for w in words]
    ends = np.cumsum(lengths)
    pcm = (np.random.default_rng(seed).standard_normal(int(ends[-1])) * 800).astype(np.int16)
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    keys = np.array([Viseme.OPEN if i % 2 == 0 else Viseme.WIDE for i in range(len(words))], np.int8)
    track = VisemeTrack(starts=starts, visemes=keys, boundaries=ends[:-1].astype(np.int64))
    return SpeechSegment(segment_id=segment_id, text=text, pcm=pcm, visemes=track)


@dataclass
class Rig:
    loop: MediaLoop
    clock: FakeClock
    renderer: FakeRenderer
    playout: SpeechPlayout
    encoder: FakeEncoder
    output: FakeOutput
    events: list[MediaEvents]
    finished: list[bool]


def make_loop(
    fps: int, *, slow_s: dict[int, float] | None = None, max_frames: int | None, pipelined: bool = False
) -> Rig:
    clock = FakeClock(start=1000.0)
    renderer = FakeRenderer(clock, fps, slow_s)
    playout = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=GAP_S)
    encoder = FakeEncoder(fps)
    output = FakeOutput()
    events: list[MediaEvents] = []
    finished: list[bool] = []
    loop = MediaLoop(
        fps=fps,
        renderer=renderer,
        playout=playout,
        encodings=[Encoding(profile=BROADCAST, encoder=encoder, outputs=[output])],
        clock=clock,
        on_events=events.append,
        max_frames=max_frames,
        on_finished=lambda: finished.append(True),
        pipelined=pipelined,
    )
    return Rig(loop, clock, renderer, playout, encoder, output, events, finished)


def frame_of(sample: int, fps: int) -> int:
    """The video frame whose audio share holds ``sample``."""
    n = sample * fps // AUDIO_RATE_HZ
    while audio_share(n, fps)[0] > sample:
        n -= 1
    while sum(audio_share(n, fps)) <= sample:
        n += 1
    return n


@pytest.mark.parametrize("fps", [30, 29])  # 29: 48000/29 is not whole, shares are 1655 or 1656 samples
def test_each_frame_carries_exactly_its_share_of_the_speech_and_the_shares_tile_the_timeline(fps: int):
    frames = fps * 6
    rig = make_loop(fps, max_frames=frames)
    a = segment(1, "Welcome to the stream, everyone.", seed=1)
    b = segment(2, "This mug keeps coffee hot for hours.", seed=2)
    assert rig.playout.push(a) and rig.playout.push(b)
    rig.loop.run()
    assert rig.loop.error is None and rig.finished == [True] and rig.loop.frames == frames
    assert [v.pts for v in rig.encoder.video] == list(range(frames))
    position = 0
    for n, audio in enumerate(rig.encoder.audio):
        assert (audio.pts, len(audio.pcm)) == audio_share(n, fps)
        assert audio.pts == position  # no gap, no overlap
        position += len(audio.pcm)
    assert position == frames * AUDIO_RATE_HZ // fps
    # The speech, sample for sample, where the playout put it: A, a 250 ms gap, B, then silence.
    heard = np.concatenate([x.pcm for x in rig.encoder.audio])
    gap = round(GAP_S * AUDIO_RATE_HZ)
    b_at = a.samples + gap
    assert np.array_equal(heard[: a.samples], a.pcm)
    assert not heard[a.samples : b_at].any()
    assert np.array_equal(heard[b_at : b_at + b.samples], b.pcm)
    assert b_at + b.samples < heard.shape[0] and not heard[b_at + b.samples :].any()
    assert rig.encoder.flushes == 1


def test_speech_started_and_finished_events_arrive_with_the_frames_that_carry_them():
    fps = 29
    rig = make_loop(fps, max_frames=fps * 6)
    a = segment(7, "Welcome to the stream, everyone.", seed=1)
    b = segment(8, "This mug keeps coffee hot for hours.", seed=2)
    rig.playout.push(a)
    rig.playout.push(b)
    rig.loop.run()
    b_at = a.samples + round(GAP_S * AUDIO_RATE_HZ)
    got = [
        (ev.frame, [s.segment_id for s in ev.started], [(h.segment_id, h.interrupted) for h in ev.finished])
        for ev in rig.events
    ]
    assert got == [
        (0, [7], []),
        (frame_of(a.samples - 1, fps), [], [(7, False)]),
        (frame_of(b_at, fps), [8], []),
        (frame_of(b_at + b.samples - 1, fps), [], [(8, False)]),
    ]
    heard = [h for ev in rig.events for h in ev.finished]
    assert [(h.text, h.heard_samples) for h in heard] == [(a.text, a.samples), (b.text, b.samples)]
    # The renderer hears of each sentence just before it draws the frame the sentence starts in.
    assert rig.renderer.started == [(0, 7), (frame_of(b_at, fps), 8)]
    # Lips move while a sentence is heard and rest in the gap and after the speech.
    rest = MouthPose.rest().weights
    mouths = {n: m for n, _, m in rig.renderer.frames}
    assert not np.array_equal(mouths[frame_of(a.samples // 2, fps)].weights, rest)
    gap_frame = frame_of(a.samples + 1, fps) + 1
    assert gap_frame < frame_of(b_at, fps)
    assert np.array_equal(mouths[gap_frame].weights, rest)
    assert np.array_equal(mouths[fps * 6 - 1].weights, rest)


def test_frames_keep_flowing_on_the_clock_with_silence_and_a_resting_mouth_when_nothing_is_buffered():
    fps = 30
    rig = make_loop(fps, max_frames=90)
    rig.loop.run()
    assert rig.finished == [True] and rig.loop.frames == 90 and not rig.events
    assert [v.pts for v in rig.encoder.video] == list(range(90))
    assert all(not a.pcm.any() and len(a.pcm) == 1600 for a in rig.encoder.audio)
    rest = MouthPose.rest().weights
    assert all(np.array_equal(m.weights, rest) and m.open_amount == 0.0 for _, _, m in rig.renderer.frames)
    # Paced by the clock: frame n is drawn when it is due, not as fast as possible.
    for n, at, _ in rig.renderer.frames:
        assert at == pytest.approx(1000.0 + n / fps, abs=1e-9), n
    assert rig.loop.pacer.late_frames == 0
    # 90 frames, then the flush.
    assert len(rig.output.offers) == 91 and all(len(o) == 2 for o in rig.output.offers[:90])
    assert [p.pts for o in rig.output.offers for p in o if p.kind == "video"] == list(range(90))


def test_a_render_slower_than_a_frame_makes_the_next_frame_late_and_counted_without_dropping_any():
    fps = 30
    # Frame 10 takes 2.5 frame times, frame 20 2.7: the frames after them start 1.5 and 1.7 frames late.
    slow = {10: 2.5 / fps, 20: 2.7 / fps}
    rig = make_loop(fps, slow_s=slow, max_frames=60)
    rig.loop.run()
    assert rig.loop.frames == 60 and [v.pts for v in rig.encoder.video] == list(range(60))
    assert rig.loop.pacer.late_frames == 2
    assert rig.loop.pacer.worst_lag_s == pytest.approx(1.7 / fps)
    assert (rig.loop.pacer.resyncs, rig.loop.pacer.skipped_frames) == (0, 0)
    at = {n: t for n, t, _ in rig.renderer.frames}
    assert at[11] == pytest.approx(1000.0 + 12.5 / fps)  # at once, not waiting
    assert at[13] == pytest.approx(1000.0 + 13 / fps)  # and back on the schedule, not shifted
    assert at[59] == pytest.approx(1000.0 + 59 / fps)


def test_a_stall_past_a_second_moves_the_schedule_on_instead_of_bursting_and_timestamps_stay_continuous():
    fps = 30
    rig = make_loop(fps, slow_s={30: 1.5}, max_frames=60)
    rig.loop.run()
    # 1.47 s of frame slots were never produced: the schedule moved on.
    assert rig.loop.pacer.resyncs == 1 and abs(rig.loop.pacer.skipped_frames - 44) <= 1
    assert [v.pts for v in rig.encoder.video] == list(range(60))  # nothing skipped in the stream itself
    assert [a.pts for a in rig.encoder.audio] == [audio_share(n, fps)[0] for n in range(60)]
    at = {n: t for n, t, _ in rig.renderer.frames}
    assert at[32] - at[31] == pytest.approx(1 / fps)  # paced again right after, no burst


def test_pipelined_packets_leave_one_frame_later_and_a_stop_ends_after_the_current_frame_with_one_flush():
    fps = 30
    rig = make_loop(fps, max_frames=None, pipelined=True)
    rig.renderer.on_render[20] = rig.loop.stop  # asked from elsewhere while frame 20 is being drawn
    rig.loop.run()
    assert rig.finished == [True] and rig.loop.frames == 21 and rig.encoder.flushes == 1
    video = [[p.pts for p in o if p.kind == "video"] for o in rig.output.offers]
    assert video[0] == [] and video[1] == [0] and video[20] == [19]  # one frame behind
    assert video[21] == [20]  # the frame still in the encoder thread is collected at the end
    assert [b"end"] == [p.data for p in rig.output.offers[-1] if p.data == b"end"]


def test_a_renderer_that_raises_stops_the_loop_and_says_so():
    fps = 30
    rig = make_loop(fps, max_frames=30)

    def boom() -> None:
        raise RuntimeError("gpu fell off")

    rig.renderer.on_render[5] = boom
    rig.loop.run()
    assert isinstance(rig.loop.error, RuntimeError) and rig.finished == [True] and rig.loop.frames == 5
