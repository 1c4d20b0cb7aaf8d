import numpy as np

from streamer.frames import SpeechSegment, Viseme, VisemeTrack
from streamer.playout import SpeechPlayout


def seg(i: int, samples: int, value: int = 1000) -> SpeechSegment:
    track = VisemeTrack(
        starts=np.array([0, samples // 2], np.int64), visemes=np.array([Viseme.OPEN, Viseme.CLOSED], np.int8)
    )
    return SpeechSegment(
        segment_id=i, text=f"sentence number {i} here", pcm=np.full(samples, value, np.int16), visemes=track
    )


def test_pull_returns_exact_sample_counts_and_silence_when_idle():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    out = p.pull(1600)
    assert out.pcm.shape == (1600,) and not out.pcm.any()
    assert out.mouth.weights[Viseme.REST] == 1.0


def test_segments_play_in_order_with_a_silent_gap_between_them():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.01)  # 480 samples
    assert p.push(seg(1, 1000, 100)) and p.push(seg(2, 1000, 200))
    a = p.pull(1600)
    assert (a.pcm[:1000] == 100).all() and (a.pcm[1000:1480] == 0).all() and (a.pcm[1480:] == 200).all()
    assert [s.segment_id for s in a.started] == [1, 2]
    assert [h.segment_id for h in a.finished] == [1]
    b = p.pull(1600)
    assert (b.pcm[:880] == 200).all() and not b.pcm[880:].any()
    assert b.finished[0].heard_samples == 1000 and not b.finished[0].interrupted


def test_push_is_bounded_in_media_time():
    p = SpeechPlayout(rate_hz=1000, max_ahead_s=2.0)
    assert p.push(seg(1, 1500))
    assert not p.push(seg(2, 1000))  # would be 2.5 s ahead
    assert abs(p.buffered_s() - 1.5) < 1e-9


def test_interrupt_clears_everything_and_reports_what_was_heard():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    p.push(seg(1, 4800))
    p.push(seg(2, 4800))
    p.pull(1200)  # a quarter of segment 1
    heard = p.interrupt()
    assert heard is not None and heard.interrupted and heard.heard_samples == 1200
    assert heard.text == "sentence"  # 1 of 4 words
    assert p.idle and p.buffered_s() == 0
    assert not p.pull(1600).pcm.any()


def test_mouth_opens_during_speech_and_rests_in_silence():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    p.push(seg(1, 3200, 8000))
    talking = p.pull(1600)
    assert talking.mouth.open_amount > 0.1
    p.pull(1600)
    silent = p.pull(1600)
    assert silent.mouth.open_amount == 0.0


def test_drain_drops_queued_sentences_but_lets_the_current_one_finish():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    p.push(seg(1, 3200, 5))
    p.push(seg(2, 3200, 7))
    p.pull(1600)
    assert p.drop_queued() == 1
    rest = p.pull(1600)
    assert (rest.pcm == 5).all() and rest.finished[0].segment_id == 1
    assert p.idle
