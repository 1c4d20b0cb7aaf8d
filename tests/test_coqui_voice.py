"""backend: coqui on tiny random-weight models the tests build through coqui-tts's own classes (XTTS and VITS), run
through the show's real loading, cloning and synthesis path. Their audio is noise: rate, length, timing, the
prepared voice, preemption, the fallback and the checks are what is tested."""

from __future__ import annotations

import json
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from streamer.config import CoquiVoiceSettings, SilenceVoiceSettings, VoiceSettings, with_device
from streamer.frames import AUDIO_RATE_HZ
from streamer.voice.base import VoicePreempted, create_voice
from streamer.voice.silence import SilenceVoice

pytest.importorskip("TTS", reason="coqui-tts is installed by make install")

REPO = Path(__file__).resolve().parent.parent
SENTENCE = "Hello there, welcome to the show."


def _wav(path: Path, seconds: float, rate: int = 16_000, pitch: float = 0.05) -> Path:
    n = int(seconds * rate)
    tone = np.sin(np.arange(n) * pitch) * 8000 * (1 + 0.3 * np.sin(np.arange(n) * 0.0007))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(tone.astype(np.int16).tobytes())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from streamer.bench.coqui_model import build_vits, build_xtts
    from streamer.voice.coqui import prepare_voice

    root = tmp_path_factory.mktemp("coqui")
    xtts = build_xtts(root / "xtts")
    recordings = [_wav(root / "a.wav", 3.0), _wav(root / "b.wav", 2.0, rate=44_100, pitch=0.02)]
    prepare_voice(xtts, recordings, root / "anna", device="cpu")
    return {"xtts": xtts, "vits": build_vits(root / "vits"), "anna": root / "anna", "root": root}


def _xtts(models: dict[str, Path], **kw: object) -> CoquiVoiceSettings:
    base: dict[str, object] = {"model_dir": str(models["xtts"]), "voice_dir": str(models["anna"]), "language": "en"}
    return CoquiVoiceSettings(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.integration  # builds and loads Coqui models (torch): make test, not test-fast
def test_prepare_voice_saves_the_conditioning_once_and_the_voice_loads_exactly_it(models, tmp_path):
    """The CLI clones from recordings of any rate into voice.pt + voice.json; the show's voice loads those tensors,
    which are what the model computes from the same recordings."""
    import torch

    from streamer.cli import main
    from streamer.voice.coqui import read_recordings, xtts_conditioning

    wavs = [str(models["root"] / "a.wav"), str(models["root"] / "b.wav")]
    assert main(["prepare-voice", *wavs, "-o", str(tmp_path / "v"), "--model-dir", str(models["xtts"])]) == 0
    meta = json.loads((tmp_path / "v" / "voice.json").read_text())
    assert meta["seconds"] == pytest.approx(5.0, abs=0.01) and len(meta["recordings"]) == 2
    assert len(meta["model_fingerprint"]) == 16
    voice = loaded_voice(_xtts(models, voice_dir=str(tmp_path / "v"), fallback_voice=None))
    latent, embedding = xtts_conditioning(voice._model, read_recordings(wavs))
    assert torch.allclose(voice._latent, latent, atol=1e-5) and torch.allclose(voice._embedding, embedding, atol=1e-5)
    assert main(["prepare-voice", str(tmp_path / "none.wav"), "-o", str(tmp_path / "w"), "--model-dir", "x"]) == 2
    assert main(["prepare-voice", wavs[0], "-o", str(tmp_path / "w"), "--model-dir", str(models["vits"])]) == 2


def loaded_voice(settings: CoquiVoiceSettings, fallback=None):
    from streamer.voice.coqui import CoquiVoice

    voice = CoquiVoice(settings, fallback=fallback)
    voice.load()
    return voice


@pytest.mark.integration  # builds and loads Coqui models (torch): make test, not test-fast
def test_an_xtts_sentence_is_48_khz_speech_with_its_mouth_timed_through_the_piper_reference(models):
    voice = create_voice(_xtts(models))
    voice.load()
    speech = voice.synthesize(SENTENCE)
    # The tiny GPT never says stop: 40 tokens of 1,024 samples at 22,050 Hz, decoded at 24 kHz, shown at 48 kHz.
    assert speech.pcm.dtype == np.int16 and speech.samples == 2 * 41_216
    assert speech.aligned and voice.mouths_aligned == 1  # type: ignore[attr-defined]
    assert speech.visemes.starts[-1] < speech.samples and len(speech.visemes.starts) > 5
    assert np.abs(speech.pcm).max() > 1000
    snap = voice.speed.snapshot()
    assert snap["sentences"] == 1 and snap["audio_s"] == pytest.approx(speech.samples / AUDIO_RATE_HZ)
    assert voice.stats()["device"] == "cpu" and voice.stats()["fallbacks"] == 0  # type: ignore[attr-defined]


@pytest.mark.integration  # builds and loads Coqui models (torch): make test, not test-fast
def test_an_answer_stops_a_patter_sentence_mid_generation_and_goes_first(models, monkeypatch):
    from streamer.voice import coqui

    voice = loaded_voice(_xtts(models, fallback_voice=None))
    generating = threading.Event()
    real_call = coqui._Stop.__call__

    def slow_call(self, input_ids, scores, **kw):
        generating.set()
        time.sleep(0.02)  # 40 tokens: long enough for the answer to arrive mid-sentence
        return real_call(self, input_ids, scores, **kw)

    monkeypatch.setattr(coqui._Stop, "__call__", slow_call)
    outcome: list[object] = []

    def patter() -> None:
        try:
            outcome.append(voice.synthesize("This sentence is patter and can wait.", urgent=False))
        except VoicePreempted as exc:
            outcome.append(exc)

    thread = threading.Thread(target=patter)
    thread.start()
    assert generating.wait(10)
    began = time.monotonic()
    answer = voice.synthesize("Yes, it ships today.", urgent=True)
    waited = time.monotonic() - began
    thread.join(10)
    assert isinstance(outcome[0], VoicePreempted) and voice.preempted == 1
    assert answer.samples > 0
    print(f"\nanswer voiced {waited:.2f} s after it asked, the patter sentence stopped")


@pytest.mark.integration  # builds and loads Coqui models (torch): make test, not test-fast
def test_a_failing_or_runaway_sentence_is_voiced_by_the_fallback_so_air_is_never_silent(models, monkeypatch):
    from streamer.voice import coqui

    fallback = SilenceVoice(SilenceVoiceSettings())
    voice = loaded_voice(_xtts(models, fallback_voice=None), fallback=fallback)

    def broken(*a, **kw):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(voice._model, "inference", broken)
    speech = voice.synthesize(SENTENCE)
    assert speech.samples > 0 and voice.fallbacks == 1 and "out of memory" in voice.last_error
    monkeypatch.undo()
    monkeypatch.setattr(coqui, "MAX_S_PER_CHAR", 0.0)
    monkeypatch.setattr(coqui, "MAX_EXTRA_S", 0.2)  # 4 tokens: a runaway for this short budget
    voice.synthesize(SENTENCE)
    assert voice.fallbacks == 2 and voice.last_error == "the model ran past the sentence's length"
    assert voice.stats()["fallbacks"] == 2 and voice.stats()["last_error"] == voice.last_error


@pytest.mark.integration  # builds and loads Coqui models (torch): make test, not test-fast
def test_a_vits_model_speaks_at_48_khz_at_the_persona_s_pace(models):
    slow = loaded_voice(CoquiVoiceSettings(model_dir=str(models["vits"]), fallback_voice=None, speed=0.8))
    fast = loaded_voice(CoquiVoiceSettings(model_dir=str(models["vits"]), fallback_voice=None, speed=1.25))
    a, b = slow.synthesize(SENTENCE), fast.synthesize(SENTENCE)
    assert a.samples > b.samples > 0
    assert a.samples / b.samples == pytest.approx(1.25 / 0.8, rel=0.15)
    assert slow.kind == "vits" and slow.speed.rtf is not None


@pytest.mark.integration  # builds and loads Coqui models (torch): make test, not test-fast
def test_check_says_what_to_put_in_a_missing_folder_with_the_licence_and_what_xtts_lacks(models, tmp_path):
    from streamer.voice.check import voice_problems

    def problems(language: str = "en", **kw: object) -> list[tuple[str, str, str]]:
        settings = VoiceSettings.model_validate({"backend": "coqui", "fallback_voice": None, **kw})
        return [(p.field, p.severity, p.message) for p in voice_problems(settings, language=language, file="h", line=3)]

    [(field, severity, message)] = problems(model_dir=str(tmp_path / "nothing"))
    assert field == "voice.model_dir" and severity == "error"
    assert "does not exist" in message and "XTTS v2 (config.json, model.pth, vocab.json" in message
    assert "non-commercial" in message
    found = problems(model_dir=str(models["xtts"]))
    assert ("voice.voice_dir", "error", "XTTS needs the presenter's voice") in found
    assert any(f == "voice.model_dir" and s == "warning" and "non-commercial" in m for f, s, m in found)
    found = problems(model_dir=str(models["xtts"]), voice_dir=str(models["anna"]), language="fr")
    assert [(f, s) for f, s, _ in found if s == "error"] == [("voice.language", "error")]
    assert problems(model_dir=str(models["xtts"]), voice_dir=str(models["anna"]), language="zh") == [
        p for p in problems(model_dir=str(models["xtts"]), voice_dir=str(models["anna"])) if p[1] == "warning"
    ]
    (models["root"] / "half").mkdir(exist_ok=True)
    (models["root"] / "half" / "config.json").write_text('{"model": "xtts"}')
    [(field, _, message)] = problems(model_dir=str(models["root"] / "half"))
    assert "lacks model.pth, vocab.json" in message


@pytest.mark.integration  # builds and loads Coqui models (torch): make test, not test-fast
def test_a_persona_s_coqui_paths_are_read_relative_to_it_and_it_speaks_the_persona_s_language(models, tmp_path):
    import shutil

    from streamer.loading import ConfigError, load_persona

    shutil.copytree(models["anna"], tmp_path / "voices" / "anna")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "xtts").symlink_to(models["xtts"])
    path = tmp_path / "host.yaml"
    path.write_text(
        "name: Mei\nlanguage: zh\nvoice:\n  backend: coqui\n  model_dir: models/xtts\n  voice_dir: voices/anna\n"
        "  fallback_voice: null\n",
        encoding="utf-8",
    )
    persona, _ = load_persona(path)
    assert isinstance(persona.voice, CoquiVoiceSettings)
    assert persona.voice.model_dir == str((tmp_path / "models" / "xtts").resolve())
    assert persona.voice.voice_dir == str((tmp_path / "voices" / "anna").resolve()) and persona.voice.language == "zh"
    path.write_text(path.read_text().replace("voices/anna", "voices/ben"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_persona(path)
    [problem] = err.value.problems
    assert (problem.field, problem.line) == ("voice.voice_dir", 6) and "prepare-voice" in problem.hint
    cuda = with_device(persona, "cuda")
    assert cuda.voice.device == "cuda" and cuda.avatar.lipsync.device == "cuda"  # type: ignore[attr-defined]
    assert persona.voice.device == "auto"  # the persona read from the file is kept
    voice = loaded_voice(cuda.voice)  # type: ignore[arg-type]
    assert voice.device == "cpu"  # no GPU here: said in the log, and the show goes on
    assert voice.synthesize("你好，欢迎来到直播间。").samples > 0  # XTTS's Chinese path (pinyin transliteration)


@pytest.mark.integration  # builds and loads Coqui models (torch): make test, not test-fast
def test_the_voice_bench_measures_an_operator_s_coqui_model_through_the_show_s_path(models):
    import argparse

    from streamer.bench.voice import run_voice

    args = argparse.Namespace(
        backend="coqui",
        sentences=3,
        voice=None,
        base_url=None,
        model="tts-1",
        api_key_env="OPENAI_API_KEY",
        model_dir=str(models["xtts"]),
        voice_dir=str(models["anna"]),
        device="cpu",
    )
    out = run_voice(args)
    assert out["sentences"] == 3 and out["streams"] is False and out["rtf_p50"] > 0
    assert out["coqui"] == {
        "kind": "xtts",
        "device": "cpu",
        "fallbacks": 0,
        "last_error": None,
        "model": str(models["xtts"]),
    }


@pytest.mark.integration
def test_a_live_show_speaks_in_the_cloned_xtts_voice_and_its_video_keeps_its_rate(models, tmp_path):
    """10 s of a real channel whose voice is the tiny XTTS with the prepared voice (real loading path, in the show's
    voice thread): the host talks, nothing falls back, and the recording has its frames."""
    import asyncio

    import av

    from streamer.app import Channel, ChannelSpec
    from streamer.brain.embed import preload_model_libraries
    from streamer.config import StreamConfig
    from streamer.loading import load_persona
    from streamer.publish.sinks import parse_target

    assert preload_model_libraries()
    persona = load_persona(REPO / "personas/host.yaml")[0]
    persona.voice = _xtts(models)
    config = StreamConfig.model_validate(
        {"video": {"width": 426, "height": 240, "fps": 15}, "preview": {"enabled": False}, "show": {"seed": 3}}
    )
    out = tmp_path / "o.flv"
    channel = Channel(
        ChannelSpec(
            name="coqui",
            config=config,
            persona=persona,
            products=str(REPO / "products"),
            outputs=[parse_target(str(out))],
            duration_s=10,
        )
    )
    code = asyncio.run(channel.run())
    voice = channel.voice
    spoken = [h for h in channel.spoken if h.kind in ("patter", "disclosure", "greeting")]
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    stats = voice.stats()  # type: ignore[attr-defined]
    print(
        f"\ncoqui show: {stats['sentences']} sentences voiced, RTF {stats['rtf']}, {len(spoken)} heard, {frames} frames"
    )
    assert code == 0 and voice.name == "coqui:xtts" and stats["fallbacks"] == 0 and stats["sentences"] >= 1
    assert spoken and frames >= 140  # 10 s at 15 fps, whatever the voice costs


def test_a_sentence_s_token_budget_allows_its_slowest_plausible_reading_in_either_script():
    """A runaway is cut at the budget and voiced by the fallback: a real Chinese sentence (a syllable per character,
    4-5 a second) must never reach it, as it would at the per-letter rate."""
    from streamer.voice.coqui import XTTS_TOKENS_PER_S, CoquiVoice

    voice = CoquiVoice(CoquiVoiceSettings(model_dir="unused", fallback_voice=None))
    zh = "欢迎来到直播间，今天给大家带来一款特别舒服的猫窝。"  # 25 characters: about 5.5 s read aloud
    assert voice._token_budget(zh) / XTTS_TOKENS_PER_S >= 25 * 0.3 + 3
    en = "The cover comes off and goes in the washing machine."  # 52 characters: about 3.5 s
    assert 5.0 <= voice._token_budget(en) / XTTS_TOKENS_PER_S <= 10.0
