"""Phoneme-to-viseme mapping, viseme tracks, per-frame mouth poses, and the silent voice (pure logic, fast)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from streamer.config import VoiceSettings
from streamer.frames import AUDIO_RATE_HZ, VISEME_COUNT, Viseme, VisemeTrack
from streamer.voice import Speech, VoiceError, create_voice
from streamer.voice.silence import SilenceVoice
from streamer.voice.visemes import (
    CROSSFADE_SAMPLES,
    LONG_GAP_SAMPLES,
    mouth_pose,
    open_amount_for_rms,
    spread_durations,
    to_media_samples,
    track_from_phonemes,
    viseme_for_phoneme,
)

V = Viseme
FRAME = AUDIO_RATE_HZ // 30  # one 30 fps video frame's share of audio


def shapes(phonemes: list[str]) -> list[Viseme | None]:
    return [viseme_for_phoneme(p) for p in phonemes]


# ---- mapping ------------------------------------------------------------------------------------------------
# Phoneme lists are what Piper's espeak phonemizer emits for en-us (NFD code points, stress marks inline).


@pytest.mark.parametrize(
    ("word", "phonemes", "expected"),
    [
        ("map", ["m", "ˈ", "æ", "p"], [V.CLOSED, None, V.OPEN, V.CLOSED]),
        ("Bob", ["b", "ˈ", "ɑ", "ː", "b"], [V.CLOSED, None, V.OPEN, None, V.CLOSED]),
        ("five", ["f", "ˈ", "a", "ɪ", "v"], [V.FV, None, V.OPEN, V.WIDE, V.FV]),
        ("show", ["ʃ", "ˈ", "o", "ʊ"], [V.ROUND, None, V.ROUND, V.ROUND]),
        ("see", ["s", "ˈ", "i", "ː"], [V.WIDE, None, V.WIDE, None]),
        ("boot", ["b", "ˈ", "u", "ː", "t"], [V.CLOSED, None, V.ROUND, None, V.WIDE]),
        ("wow", ["w", "ˈ", "a", "ʊ"], [V.ROUND, None, V.OPEN, V.ROUND]),
        ("bottle", ["b", "ˈ", "ɑ", "ː", "ɾ", "ə", "l"], [V.CLOSED, None, V.OPEN, None, V.WIDE, V.OPEN, V.OPEN]),
    ],
)
def test_english_words_map_to_expected_mouth_shapes(word: str, phonemes: list[str], expected: list) -> None:
    assert shapes(phonemes) == expected, word


def test_marks_and_h_have_no_shape_of_their_own() -> None:
    for symbol in ["ˈ", "ˌ", "ː", "ˑ", "\u0303", "ʰ", "ʲ", "3", "h", " ", "ʔ"]:
        assert viseme_for_phoneme(symbol) is None, symbol


def test_punctuation_is_rest() -> None:
    assert shapes([".", ",", "!", "?", "^", "$"]) == [V.REST] * 6


def test_vowel_clusters_take_their_first_shape() -> None:
    assert shapes(["aɪ", "oʊ", "eɪ", "tʃ"]) == [V.OPEN, V.ROUND, V.WIDE, V.WIDE]


def test_every_letter_in_pipers_symbol_set_is_classified() -> None:
    phoneme_ids = pytest.importorskip("piper.phoneme_ids")
    allowed_without_shape = set(" hɦʔX#↑↓") | {"ʲ", "ˈ", "ˌ", "ː", "ˑ", "˞", "ʰ", "ˤ", "ʷ"}
    missing = [
        s
        for s in phoneme_ids.DEFAULT_PHONEME_ID_MAP
        if viseme_for_phoneme(s) is None and s.isalpha() and s not in allowed_without_shape
    ]
    assert missing == []


# ---- tracks -------------------------------------------------------------------------------------------------


def test_track_joins_stress_to_next_and_length_to_previous_and_merges_repeats() -> None:
    # "map." at 48 kHz: m 100, ˈ 50, æ 200, ː 30, p 80, . 300
    track = track_from_phonemes(["m", "ˈ", "æ", "ː", "p", "."], [100, 50, 200, 30, 80, 300], rate_hz=AUDIO_RATE_HZ)
    assert track.starts.tolist() == [0, 100, 380, 460]
    assert track.visemes.tolist() == [V.CLOSED, V.OPEN, V.CLOSED, V.REST]
    assert track.starts.dtype == np.int64 and track.visemes.dtype == np.int8


def test_track_h_takes_the_following_vowel_shape() -> None:
    track = track_from_phonemes(["^", "h", "ˈ", "o", "ʊ"], [500, 100, 60, 300, 200], rate_hz=AUDIO_RATE_HZ)
    assert track.starts.tolist() == [0, 500]
    assert track.visemes.tolist() == [V.REST, V.ROUND]


def test_track_starts_with_rest_at_zero_when_speech_starts_later_or_with_a_mark() -> None:
    track = track_from_phonemes(["ː", "m", "a"], [100, 100, 100], rate_hz=AUDIO_RATE_HZ)
    assert track.starts.tolist() == [0, 100, 200]
    assert track.visemes.tolist() == [V.REST, V.CLOSED, V.OPEN]


def test_track_short_word_gap_joins_previous_long_gap_rests() -> None:
    short = track_from_phonemes(["a", " ", "m"], [1000, LONG_GAP_SAMPLES - 1, 1000], rate_hz=AUDIO_RATE_HZ)
    assert short.visemes.tolist() == [V.OPEN, V.CLOSED]
    long = track_from_phonemes(["a", " ", "m"], [1000, LONG_GAP_SAMPLES, 1000], rate_hz=AUDIO_RATE_HZ)
    assert long.visemes.tolist() == [V.OPEN, V.REST, V.CLOSED]
    assert long.starts.tolist() == [0, 1000, 1000 + LONG_GAP_SAMPLES]


def test_track_drops_zero_length_keys_so_starts_strictly_ascend() -> None:
    track = track_from_phonemes(["a", "m", "i", "f"], [100, 0, 100, 100], rate_hz=AUDIO_RATE_HZ)
    assert track.visemes.tolist() == [V.OPEN, V.WIDE, V.FV]
    assert np.all(np.diff(track.starts) > 0)


def test_track_rescales_cumulative_native_time_without_drift() -> None:
    # 2000 alternating phonemes of 257 samples at 22050 Hz (~23.3 s). Rounding each duration separately would
    # drift by up to 1000 samples; rescaling cumulative time once keeps every key within half a sample.
    n = 2000
    phonemes = ["m", "a"] * (n // 2)
    track = track_from_phonemes(phonemes, [257] * n, rate_hz=22_050)
    exact = np.arange(n) * 257 * AUDIO_RATE_HZ / 22_050
    assert len(track.starts) == n
    assert np.max(np.abs(track.starts - exact)) <= 0.5
    assert to_media_samples(22_050, 22_050).item() == AUDIO_RATE_HZ


def test_track_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        track_from_phonemes(["a", "b"], [1], rate_hz=AUDIO_RATE_HZ)


def test_spread_durations_sum_exactly_and_favour_vowels() -> None:
    phonemes = ["m", "ˈ", "æ", "p", " ", "s", "i", "ː"]
    d = spread_durations(phonemes, 10_007)
    assert d.sum() == 10_007 and d.dtype == np.int64 and np.all(d >= 0)
    assert d[2] > d[0] and d[6] > d[5]  # vowels longer than consonants
    assert d[1] == 0 and d[7] == 0  # marks take no time


# ---- mouth poses --------------------------------------------------------------------------------------------


def two_key_track(boundary: int) -> VisemeTrack:
    return VisemeTrack(starts=np.array([0, boundary], np.int64), visemes=np.array([V.OPEN, V.CLOSED], np.int8))


def loud(n: int, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(n)
    return (amplitude * np.sin(2 * np.pi * 220 * t / AUDIO_RATE_HZ)).astype(np.int16)


def test_pose_weights_are_nonnegative_and_sum_to_one_everywhere() -> None:
    rng = np.random.default_rng(1)
    starts = np.concatenate(([0], np.sort(rng.choice(np.arange(1, 96_000), 60, replace=False)))).astype(np.int64)
    track = VisemeTrack(starts=starts, visemes=rng.integers(0, VISEME_COUNT, starts.size).astype(np.int8))
    pcm = loud(96_000)
    for start in range(-2 * FRAME, 96_000 + 2 * FRAME, 397):
        pose = mouth_pose(track, pcm, start, FRAME)
        assert pose.weights.dtype == np.float32 and pose.weights.shape == (VISEME_COUNT,)
        assert pose.weights.min() >= 0.0
        assert pose.weights.sum() == pytest.approx(1.0, abs=1e-5)
        assert 0.0 <= pose.open_amount <= 1.0


def test_pose_crossfades_linearly_across_a_boundary() -> None:
    boundary = 24_000
    track = two_key_track(boundary)
    pcm = loud(48_000)

    def at_centre(c: float) -> np.ndarray:
        return mouth_pose(track, pcm, int(c - FRAME / 2), FRAME).weights

    mid = at_centre(boundary)
    assert mid[V.OPEN] == pytest.approx(0.5, abs=1e-3) and mid[V.CLOSED] == pytest.approx(0.5, abs=1e-3)
    quarter = at_centre(boundary + CROSSFADE_SAMPLES / 4)
    assert quarter[V.CLOSED] == pytest.approx(0.75, abs=1e-3)
    before = at_centre(boundary - CROSSFADE_SAMPLES)
    after = at_centre(boundary + CROSSFADE_SAMPLES)
    assert before[V.OPEN] == 1.0 and after[V.CLOSED] == 1.0
    # No snapping: consecutive 30 fps frames never change a weight by more than one frame's share of the fade.
    prev = None
    for start in range(boundary - 3 * FRAME, boundary + 3 * FRAME, FRAME):
        w = mouth_pose(track, pcm, start, FRAME).weights
        if prev is not None:
            assert np.abs(w - prev).max() <= FRAME / CROSSFADE_SAMPLES + 1e-6
        prev = w
    assert 0.040 <= CROSSFADE_SAMPLES / AUDIO_RATE_HZ <= 0.060


def test_pose_short_key_never_reaches_full_weight() -> None:
    # A 20 ms "p" between vowels: coarticulation, the lips only partly close.
    track = VisemeTrack(
        starts=np.array([0, 10_000, 10_960], np.int64), visemes=np.array([V.OPEN, V.CLOSED, V.OPEN], np.int8)
    )
    pose = mouth_pose(track, loud(20_000), 10_480 - FRAME // 2, FRAME)
    assert pose.weights[V.CLOSED] == pytest.approx(960 / CROSSFADE_SAMPLES, abs=1e-3)
    assert pose.weights[V.OPEN] == pytest.approx(1 - 960 / CROSSFADE_SAMPLES, abs=1e-3)


def test_pose_is_rest_and_shut_in_silence_and_past_the_end() -> None:
    track = VisemeTrack(starts=np.array([0, 10_000], np.int64), visemes=np.array([V.REST, V.OPEN], np.int8))
    pcm = np.concatenate([np.zeros(10_000, np.int16), loud(10_000)])
    silent = mouth_pose(track, pcm, 2_000, FRAME)
    assert silent.weights[V.REST] == 1.0 and silent.open_amount == 0.0
    past = mouth_pose(track, pcm, 30_000, FRAME)
    assert past.weights[V.REST] == 1.0 and past.open_amount == 0.0
    speaking = mouth_pose(track, pcm, 15_000, FRAME)
    assert speaking.weights[V.OPEN] == 1.0 and speaking.open_amount > 0.3


def test_open_amount_rises_monotonically_with_loudness() -> None:
    track = VisemeTrack(starts=np.zeros(1, np.int64), visemes=np.array([V.OPEN], np.int8))
    amounts = [mouth_pose(track, loud(FRAME, a), 0, FRAME).open_amount for a in (0, 200, 800, 2000, 5000, 12000, 30000)]
    assert amounts[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(amounts))
    assert amounts[-1] > 0.9
    assert open_amount_for_rms(0.0) == 0.0 and open_amount_for_rms(10.0) <= 1.0


def test_open_amount_uses_exactly_this_frames_samples() -> None:
    # Loud frame, then a silent one: the silent frame is shut at once (no smoothing that lags).
    track = VisemeTrack(starts=np.zeros(1, np.int64), visemes=np.array([V.OPEN], np.int8))
    pcm = np.concatenate([loud(FRAME), np.zeros(FRAME, np.int16), loud(FRAME)])
    assert mouth_pose(track, pcm, 0, FRAME).open_amount > 0.5
    assert mouth_pose(track, pcm, FRAME, FRAME).open_amount == 0.0
    assert mouth_pose(track, pcm, 2 * FRAME, FRAME).open_amount > 0.5


def test_open_amount_counts_samples_past_the_end_as_silence() -> None:
    track = VisemeTrack(starts=np.zeros(1, np.int64), visemes=np.array([V.OPEN], np.int8))
    pcm = np.full(FRAME, 4000, np.int16)
    whole = mouth_pose(track, pcm, 0, FRAME).open_amount
    half = mouth_pose(track, pcm, FRAME // 2, FRAME).open_amount  # half the frame lies past the end
    assert half == pytest.approx(open_amount_for_rms(4000 / 32768 / np.sqrt(2)), abs=1e-6)
    assert 0.0 < half < whole


def test_mouth_pose_is_fast() -> None:
    rng = np.random.default_rng(2)
    n = 10 * AUDIO_RATE_HZ
    starts = np.concatenate(([0], np.sort(rng.choice(np.arange(1, n), 150, replace=False)))).astype(np.int64)
    track = VisemeTrack(starts=starts, visemes=rng.integers(0, VISEME_COUNT, starts.size).astype(np.int8))
    pcm = (rng.standard_normal(n) * 3000).astype(np.int16)
    calls = range(0, n, FRAME)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for start in calls:
            mouth_pose(track, pcm, start, FRAME)
        best = min(best, (time.perf_counter() - t0) / len(calls))
    assert best < 100e-6, f"mouth_pose took {best * 1e6:.1f} µs per call"


# ---- the silent voice and the factory -------------------------------------------------------------------------


def test_silence_voice_gives_plausible_duration_and_track() -> None:
    voice = create_voice(VoiceSettings(backend="silence"))
    assert isinstance(voice, SilenceVoice)
    voice.load()
    text = "Hi everyone, welcome to the stream! Bob made a map."  # Piper's joe says this in ~3.3 s
    speech = voice.synthesize(text)
    assert speech.pcm.dtype == np.int16 and not speech.pcm.any()
    assert 2.5 < speech.duration_s < 4.5
    track = speech.visemes
    assert track.starts[0] == 0 and np.all(np.diff(track.starts) > 0) and track.starts[-1] < speech.samples
    present = set(track.visemes.tolist())
    assert {V.CLOSED, V.OPEN, V.WIDE, V.REST} <= present
    assert track.visemes[-1] == V.REST  # trailing pause


def test_silence_voice_follows_speed_and_handles_empty_text() -> None:
    text = "This bottle keeps drinks cold for a whole day."
    normal = SilenceVoice(VoiceSettings(backend="silence")).synthesize(text)
    fast = SilenceVoice(VoiceSettings(backend="silence", speed=2.0)).synthesize(text)
    assert fast.samples == pytest.approx(normal.samples / 2, rel=0.01)
    empty = SilenceVoice().synthesize("  ... ")
    assert empty.samples == 0 and empty.visemes.visemes.tolist() == [V.REST]
    assert Speech.empty().samples == 0


def test_create_voice_rejects_an_unknown_backend() -> None:
    settings = VoiceSettings.model_construct(backend="espnet", voice="x", speed=1.0, speaker_id=None)
    with pytest.raises(VoiceError, match="espnet"):
        create_voice(settings)


def test_explicit_boundaries_replace_word_gaps_and_sit_mid_gap_or_at_the_next_phoneme():
    phonemes = ["^", "n", "i", "2", "χ", "ɑ", "u", "2", " ", "w", "o", "2", "$"]
    durations = [10, 10, 10, 0, 10, 10, 10, 0, 20, 10, 10, 0, 10]
    default = track_from_phonemes(phonemes, durations, rate_hz=AUDIO_RATE_HZ)
    assert default.boundaries.tolist() == [70]  # the middle of the only word gap
    explicit = track_from_phonemes(phonemes, durations, rate_hz=AUDIO_RATE_HZ, boundary_after=[3, 7])
    assert explicit.boundaries.tolist() == [30, 70]  # after 你 (next phoneme starts), after 好 (mid gap)
    assert track_from_phonemes(phonemes, durations, rate_hz=AUDIO_RATE_HZ, boundary_after=[]).boundaries.size == 0
