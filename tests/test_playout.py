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


def worded(i: int, samples: int, value: int, boundaries: list[int], words: int) -> SpeechSegment:
    s = seg(i, samples, value)
    s.text = " ".join(f"w{k}" for k in range(words))
    s.visemes.boundaries = np.array(boundaries, np.int64)
    return s


def test_a_reply_cuts_in_at_the_next_word_boundary_with_a_fade_then_a_pause():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    p.push(worded(1, 48_000, 1000, [10_000, 30_000], words=3))
    p.push(seg(2, 4800, 7))  # queued patter: dropped by the reply
    p.pull(8000)
    p.replace_at_boundary([seg(9, 4800, 3000)], max_wait_s=1.0, pause_s=0.01)
    out = p.pull(4000)  # samples 8000..12000 of segment 1; the boundary at 10000 falls inside
    assert (out.pcm[:1700] == 1000).all()  # untouched before the fade
    assert out.pcm[1999] < 100 and not out.pcm[2000:2480].any()  # faded to the boundary, then a 10 ms pause
    assert (out.pcm[2480:] == 3000).all()  # the reply
    assert out.finished[0].interrupted and out.finished[0].heard_samples == 10_000
    assert out.finished[0].text == "w0"  # exactly the words heard
    assert out.finished[0].sentence == "w0 w1 w2"  # what the speaker lets the director say again
    assert [s.segment_id for s in out.started] == [9]
    assert p.cuts == 1
    rest = p.pull(48_000)
    assert 7 not in set(rest.pcm.tolist())


def test_without_a_boundary_the_cut_comes_at_the_deadline():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    p.push(worded(1, 96_000, 1000, [], words=1))
    p.pull(1600)
    p.replace_at_boundary([seg(9, 4800, 3000)], max_wait_s=0.1, pause_s=0.0)  # 4800 samples
    a = p.pull(1600)
    b = p.pull(1600)
    c = p.pull(1600)
    d = p.pull(1600)
    assert (a.pcm == 1000).all() and (b.pcm == 1000).all()
    assert c.pcm[0] == 1000 and c.pcm[-1] == 0 and c.finished[0].heard_samples == 1600 + 4800
    assert (d.pcm == 3000).all()


def test_a_reply_starts_at_once_when_the_host_is_silent_and_later_pushes_join_it():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    p.replace_at_boundary([seg(9, 800, 3000)], pause_s=0.0)
    assert p.push(seg(10, 800, 4000))
    out = p.pull(1600)
    assert (out.pcm[:800] == 3000).all() and (out.pcm[800:] == 4000).all()
    assert [s.segment_id for s in out.started] == [9, 10]


def test_dropping_one_kind_keeps_the_rest_in_order():
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    kinds = ["reply", "patter", "reply_more", "patter"]
    for i, kind in enumerate(kinds):
        s = seg(i, 480)
        s.kind = kind
        assert p.push(s)
    assert p.drop_queued(kinds=("patter",)) == 2
    assert p.buffered_s() == 2 * 480 / 48_000
    played = p.pull(2000).started
    assert [s.kind for s in played] == ["reply", "reply_more"]


def _chinese(text: str, samples: int, boundaries: list[int]) -> SpeechSegment:
    track = VisemeTrack(
        starts=np.zeros(1, np.int64),
        visemes=np.array([Viseme.OPEN], np.int8),
        boundaries=np.array(boundaries, np.int64),
    )
    return SpeechSegment(segment_id=7, text=text, pcm=np.full(samples, 1000, np.int16), visemes=track)


def test_chinese_heard_text_is_the_characters_before_the_cut_without_spaces():
    # 6 units (你 好， 欢 迎 大 家。): one boundary between each pair.
    p = SpeechPlayout(rate_hz=1000, gap_s=0.0)
    p.push(_chinese("你好，欢迎大家。", 600, [100, 200, 300, 400, 500]))
    p.pull(250)
    p.replace_at_boundary([seg(8, 100)], max_wait_s=1.0)
    out = p.pull(100)
    heard = out.finished[0]
    assert heard.interrupted and heard.heard_samples == 300  # the next character boundary, not the deadline
    assert heard.text == "你好，欢"


def test_chinese_heard_text_without_matching_boundaries_is_proportional():
    p = SpeechPlayout(rate_hz=1000, gap_s=0.0)
    p.push(_chinese("你好，欢迎大家。", 600, [300]))  # boundaries that do not match the characters
    p.pull(200)
    heard = p.interrupt()
    assert heard is not None and heard.text == "你好，"  # 2 of 6 characters


def test_a_cut_that_leaves_one_word_keeps_no_rest_but_two_words_are_resumed():
    bounds = [8_000, 16_000, 24_000, 32_000, 40_000]
    # (cut at, rest kept): one word left -> none; a few words heard of a first clause -> the whole sentence again (a
    # fragment like "made of faux fur." after an answer sounds like a glitch). The rest from the cut itself, for a
    # long clause, is tested with 10 words below.
    for cut_after, rest, start in (
        (40_000, None, None),
        (24_000, "w0 w1 w2 w3 w4 w5", 0),
        (16_000, "w0 w1 w2 w3 w4 w5", 0),
        (8_000, "w0 w1 w2 w3 w4 w5", 0),
    ):
        p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
        s = worded(1, 48_000, 1000, bounds, words=6)
        s.pcm[:] = np.arange(48_000) % 30_000  # each sample says where it came from
        s.kind = "patter"
        p.push(s)
        p.pull(cut_after - 2000)
        p.replace_at_boundary([seg(9, 4800, 3000)], max_wait_s=1.0, pause_s=0.0)
        p.pull(4000)  # the cut falls at the boundary inside
        kept = p.peek_cut_rest()
        assert (kept.text if kept is not None else None) == rest, cut_after
        if kept is not None:
            assert kept.resumes == s.text and kept.pcm[0] == start % 30_000 and kept.samples == 48_000 - start


def test_past_twelve_words_of_a_sentence_and_six_of_a_clause_the_rest_is_resumed_from_the_cut() -> None:
    bounds = [4_000 * i for i in range(1, 18)]
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    s = worded(1, 72_000, 1000, bounds, words=18)
    s.pcm[:] = np.arange(72_000) % 30_000
    s.kind = "patter"
    p.push(s)
    p.pull(52_000 - 2000)
    p.replace_at_boundary([seg(9, 4800, 3000)], max_wait_s=1.0, pause_s=0.0)
    p.pull(4000)
    kept = p.peek_cut_rest()
    assert kept is not None and kept.text == "w13 w14 w15 w16 w17"
    assert kept.pcm[0] == 52_000 % 30_000 and kept.samples == 20_000


def test_a_sentence_still_being_decoded_plays_what_is_ready_then_waits_in_silence_without_skipping() -> None:
    from streamer.frames import PcmFill

    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    s = seg(1, 4800, 0)
    s.pcm[:] = np.arange(1, 4801, dtype=np.int16)  # every sample tells where it came from
    s.filling = PcmFill(4800)
    s.filling.advance(2000)
    assert p.push(s) and p.push(seg(2, 1600, 7))
    a = p.pull(1600)
    assert (a.pcm == np.arange(1, 1601)).all() and p.underruns == 0
    b = p.pull(1600)  # 400 ready samples, then the decoder is behind: silence, and the next sentence waits
    assert (b.pcm[:400] == np.arange(1601, 2001)).all() and not b.pcm[400:].any()
    assert p.underruns == 1 and not b.finished
    c = p.pull(1600)
    assert not c.pcm.any() and p.underruns == 2
    s.filling.advance(4000)
    d = p.pull(1600)  # it goes on from the sample where it stopped
    assert (d.pcm == np.arange(2001, 3601)).all()
    s.filling.complete()
    e = p.pull(1600)
    assert (e.pcm[:1200] == np.arange(3601, 4801)).all() and (e.pcm[1200:] == 7).all()
    assert [h.segment_id for h in e.finished] == [1] and not e.finished[0].interrupted


def test_a_cut_is_planned_when_the_reply_arrives_leaving_the_renderer_its_lead():
    for lead_s, cut_at in ((0.0, 10_000), (0.2, 30_000)):
        p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
        s = worded(1, 48_000, 1000, [10_000, 30_000], words=3)
        s.kind = "patter"
        p.push(s)
        p.pull(8000)
        p.replace_at_boundary([seg(9, 4800, 3000)], max_wait_s=1.0, pause_s=0.0, lead_s=lead_s)
        heard = []
        pulled = 8000
        while not heard:
            heard = [h for h in p.pull(1000).finished if h.segment_id == 1]
            pulled += 1000
        # 0.2 s ahead of 8000 is 17 600: the boundary at 10 000 is too soon for the renderer, 30 000 is the cut.
        assert heard[0].interrupted and heard[0].heard_samples == cut_at, (lead_s, heard[0])
    # In silence the reply waits out the lead (the first frames are being rendered), then starts.
    p = SpeechPlayout(rate_hz=48_000, gap_s=0.0)
    p.replace_at_boundary([seg(9, 4800, 3000)], pause_s=0.0, lead_s=0.1)
    a = p.pull(4000)
    b = p.pull(4000)
    assert not a.pcm.any() and (b.pcm[800:] == 3000).all() and not b.pcm[:800].any()
