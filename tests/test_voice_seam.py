"""The voice seam: the speed every voice measures (real-time factor, first audio), the speech-ahead mark that follows
it, the voice config discriminated on ``backend``, and the shared audio helpers. Pure logic and virtual time: no
model is loaded here (Piper's own speed is tested with the real voice in test_piper_voice.py)."""

from __future__ import annotations

import asyncio
import math
import statistics
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from streamer.bench.virtual_show import ScriptedVoice, run_virtual_show
from streamer.config import (
    Persona,
    PiperVoiceSettings,
    ProductSheet,
    SilenceVoiceSettings,
    VoiceSettings,
)
from streamer.director import ShowDirector
from streamer.frames import AUDIO_RATE_HZ, Viseme
from streamer.loading import ConfigError, read_persona
from streamer.speaker import (
    SPEECH_LOW_WATER_MAX_S,
    SPEECH_LOW_WATER_S,
    Speaker,
    speech_low_water_s,
)
from streamer.voice import create_voice
from streamer.voice.audio import (
    PEAK_LEVEL,
    estimated_timing,
    normalise_peak,
    speech_from_audio,
    spelled_phonemes,
    to_pcm16,
    to_show_rate,
)
from streamer.voice.base import VoiceBackend, VoiceSpeed
from streamer.voice.silence import SilenceVoice

# ---- the speed meter ----------------------------------------------------------------------------------------


def test_speed_meter_weighs_recent_sentences_by_length() -> None:
    speed = VoiceSpeed(half_life=1.0)  # each older sentence counts half
    assert speed.rtf is None and speed.first_audio_s is None and speed.sentences == 0
    speed.record(synthesis_s=2.0, audio_s=1.0)
    assert speed.rtf == pytest.approx(2.0) and speed.first_audio_s == pytest.approx(2.0)  # not streamed: all of it
    speed.record(synthesis_s=1.0, audio_s=2.0, first_audio_s=0.2)
    # Weighted sums: synthesis 2 * 0.5 + 1 = 2, audio 1 * 0.5 + 2 = 2.5; first audio (2 * 0.5 + 0.2) / 1.5.
    assert speed.rtf == pytest.approx(0.8)
    assert speed.first_audio_s == pytest.approx(0.8)
    speed.record(synthesis_s=5.0, audio_s=0.0)  # nothing voiced: not a measurement
    snap = speed.snapshot()
    assert snap == {
        "rtf": pytest.approx(0.8),
        "first_audio_s": pytest.approx(0.8),
        "sentences": 2,
        "synthesis_s": pytest.approx(3.0),
        "audio_s": pytest.approx(3.0),
    }


def test_speed_meter_follows_a_voice_that_slows_down() -> None:
    speed = VoiceSpeed()  # half-life 8 sentences
    for _ in range(40):
        speed.record(synthesis_s=0.6, audio_s=4.0)
    assert speed.rtf == pytest.approx(0.15)
    for _ in range(16):  # the machine got busy: RTF 0.6
        speed.record(synthesis_s=2.4, audio_s=4.0)
    assert speed.rtf == pytest.approx(0.25 * 0.15 + 0.75 * 0.6, abs=0.01)  # two half-lives on: 3/4 the new speed
    with pytest.raises(ValueError):
        VoiceSpeed(half_life=0)


# ---- the speech-ahead mark ----------------------------------------------------------------------------------


def test_low_water_mark_is_the_floor_for_a_piper_fast_voice_and_rises_for_slow_ones() -> None:
    assert speech_low_water_s(None, None) == SPEECH_LOW_WATER_S  # nothing measured yet
    assert speech_low_water_s(0.15, 0.7) == SPEECH_LOW_WATER_S  # Piper next to the encoder
    assert speech_low_water_s(0.2, 1.0) == pytest.approx(1.5)
    assert speech_low_water_s(0.3, 1.4) == pytest.approx(2.0)  # Piper on a loaded box: a little more
    assert speech_low_water_s(2.0, 8.0) == pytest.approx(10.5)  # twice as slow as it speaks
    assert speech_low_water_s(0.05, 1.8) == pytest.approx(2.3)  # fast, but a second and more to the first audio
    assert speech_low_water_s(6.0, 30.0) == SPEECH_LOW_WATER_MAX_S  # capped


def _speech_ahead(voice: ScriptedVoice) -> tuple[list[float], list[float], Speaker]:
    """(queued speech each frame from 10 s to 30 s, the speaker's mark each frame, the speaker) for the first
    40 s of a virtual show voiced by ``voice`` (one product: its patter runs out after about 40 s)."""
    bed = ProductSheet(id="bed", name="Calming Donut Cat Bed", price=Decimal("39.90"), features=["Raised rim"])
    queued: list[float] = []
    marks: list[float] = []
    seen: list[Speaker] = []

    def watch(now: float, director: ShowDirector, speaker: Speaker) -> None:
        if not seen:
            seen.append(speaker)
        marks.append(speaker.low_water_s)
        if 10.0 < now < 30.0:
            queued.append(speaker.playout.buffered_s())

    asyncio.run(
        run_virtual_show(
            persona=Persona(name="Joe"), products=[bed], minutes=40 / 60, chat_per_min=0, on_frame=watch, voice=voice
        )
    )
    return queued, marks, seen[0]


def test_a_slow_voice_is_voiced_further_ahead_and_a_fast_one_just_ahead() -> None:
    fast_queued, fast_marks, fast = _speech_ahead(ScriptedVoice(rtf=0.15))
    slow_queued, slow_marks, slow = _speech_ahead(ScriptedVoice(rtf=2.0))
    assert set(fast_marks) == {SPEECH_LOW_WATER_S}
    assert slow_marks[0] == SPEECH_LOW_WATER_S  # before the first sentence is measured
    assert slow_marks[-1] >= 10.5
    # Synthesis takes no virtual time here, so what is queued shows the mark alone: about one sentence above it.
    assert statistics.median(fast_queued) < 7.0
    assert min(slow_queued) > 9.0 and statistics.median(slow_queued) > statistics.median(fast_queued) + 6.0
    # The app's raise while a model imports: at least that much, then back to the voice's own mark.
    fast.low_water_s = 9.0
    slow.low_water_s = 9.0
    assert fast.low_water_s == 9.0 and slow.low_water_s == slow.normal_low_water_s >= 10.5
    fast.restore_low_water()
    assert fast.low_water_s == SPEECH_LOW_WATER_S
    fast.low_water_s = SPEECH_LOW_WATER_S  # what app.py does today: the same as restore_low_water()
    assert fast.low_water_s == SPEECH_LOW_WATER_S and slow.normal_low_water_s >= 10.5


# ---- the voice config ---------------------------------------------------------------------------------------


def test_voice_config_picks_the_backend_class_and_defaults_to_piper() -> None:
    assert type(Persona(name="Joe").voice) is PiperVoiceSettings
    joe = Persona.model_validate({"name": "Joe", "voice": {"voice": "en_US-joe-medium", "speed": 1.05}})
    assert type(joe.voice) is PiperVoiceSettings and joe.voice.speed == 1.05
    quiet = Persona.model_validate({"name": "Q", "voice": {"backend": "silence", "speed": 1.5}})
    assert type(quiet.voice) is SilenceVoiceSettings and quiet.voice.speed == 1.5
    assert "voice" not in SilenceVoiceSettings.model_fields  # each backend only has its own fields
    # Serialised with the backend's own fields (not only the shared ones), and read back the same.
    dumped = joe.model_dump()["voice"]
    assert dumped == {"backend": "piper", "speed": 1.05, "voice": "en_US-joe-medium", "speaker_id": None}
    assert Persona.model_validate(joe.model_dump()) == joe
    # The single-class constructor of older call sites builds the backend's settings.
    assert type(VoiceSettings(backend="silence")) is SilenceVoiceSettings
    assert type(VoiceSettings(voice="x.onnx")) is PiperVoiceSettings and VoiceSettings().backend == "piper"
    assert isinstance(create_voice(quiet.voice), SilenceVoice)


def test_voice_config_errors_name_the_field_and_another_backend_s_setting_is_set_aside_with_a_warning(
    tmp_path: Path,
) -> None:
    persona = tmp_path / "host.yaml"
    persona.write_text("name: Quiet\nvoice:\n  backend: silence\n  voice: en_US-joe-medium\n  sped: 1.2\n")
    with pytest.raises(ConfigError) as info:
        read_persona(persona)
    [typo] = info.value.problems  # the typo is an error; the Piper voice left from before is not
    assert (typo.field, typo.line, typo.message) == ("voice.sped", 5, "unknown key")
    assert typo.hint == "did you mean 'speed'? known keys here: backend, speed"  # the silence backend's keys
    # Switching a persona to the silent voice for a while keeps its Piper lines: they are set aside, and said so.
    persona.write_text("name: Quiet\nvoice:\n  backend: silence\n  voice: en_US-joe-medium\n  speaker_id: 2\n")
    loaded, warnings = read_persona(persona)
    assert type(loaded.voice) is SilenceVoiceSettings
    left = {p.field: p for p in warnings if p.field.startswith("voice.")}
    assert set(left) == {"voice.voice", "voice.speaker_id"} and {p.severity for p in left.values()} == {"warning"}
    assert (left["voice.voice"].line, left["voice.speaker_id"].line) == (4, 5)
    assert left["voice.voice"].message == "ignored: backend silence does not use it (a setting of backend piper)"
    assert left["voice.voice"].hint == "set backend: piper to use it, or remove the line"

    persona.write_text("name: Joe\nvoice:\n  backend: pipr\n")
    with pytest.raises(ConfigError) as info:
        read_persona(persona)
    [problem] = info.value.problems
    assert (problem.line, problem.field) == (3, "voice.backend")
    assert "'piper', 'silence', 'endpoint' or 'coqui'" in problem.message and "did you mean 'piper'?" in problem.hint
    with pytest.raises(ValidationError):
        VoiceSettings(backend="coqui")


# ---- shared audio helpers -----------------------------------------------------------------------------------


def test_to_show_rate_gives_the_show_rate_length_and_keeps_a_tones_pitch() -> None:
    rate = 22_050
    t = np.arange(rate // 2) / rate
    tone = (0.5 * np.sin(2 * math.pi * 440.0 * t)).astype(np.float32)
    out = to_show_rate(tone, rate)
    assert out.shape[0] == math.ceil(tone.shape[0] * AUDIO_RATE_HZ / rate)
    spectrum = np.abs(np.fft.rfft(out[AUDIO_RATE_HZ // 10 : -AUDIO_RATE_HZ // 10]))
    peak_hz = np.argmax(spectrum) * AUDIO_RATE_HZ / (out.shape[0] - 2 * (AUDIO_RATE_HZ // 10))
    assert abs(peak_hz - 440.0) < 5.0
    same = np.zeros(10, np.float32)
    assert to_show_rate(same, AUDIO_RATE_HZ) is same


def test_normalise_peak_sets_the_peak_and_leaves_silence_silent() -> None:
    audio = np.array([0.0, 0.1, -0.25, 0.05], np.float32)
    out, peak = normalise_peak(audio)
    assert peak == pytest.approx(0.25) and float(np.abs(out).max()) == pytest.approx(PEAK_LEVEL)
    quiet, quiet_peak = normalise_peak(np.full(4, 1e-9, np.float32))
    assert quiet_peak < 1e-8 and not quiet.any()
    assert to_pcm16(np.array([1.5, -1.5, 0.5], np.float32)).tolist() == [32767, -32768, 16384]


def test_estimated_timing_spreads_phonemes_over_the_voiced_part() -> None:
    rate = 16_000
    audio = np.zeros(rate, np.float32)
    audio[4000:12000] = 0.5 * np.sin(np.arange(8000) * 0.3)  # speech from 0.25 s to 0.75 s
    symbols, durations = estimated_timing(["h", "ə", "l", "oʊ"], audio, rate)
    assert symbols == ["^", "h", "ə", "l", "oʊ", "$"]
    assert sum(durations) == rate and durations[0] == 4000 and durations[-1] == 4000
    assert durations[2] > durations[1]  # a vowel lasts longer than a consonant


def test_speech_from_audio_is_show_speech_with_estimated_mouths() -> None:
    rate = 24_000  # what XTTS gives
    audio = np.zeros(rate, np.float32)
    audio[2400:21600] = 0.2 * np.sin(np.arange(19200) * 0.2)
    speech = speech_from_audio(audio, rate_hz=rate, text="Hello, and welcome.")
    assert speech.pcm.dtype == np.int16 and speech.samples == 2 * rate and not speech.aligned
    assert np.abs(speech.pcm.astype(np.int32)).max() == pytest.approx(PEAK_LEVEL * 32767, rel=0.02)
    visemes = speech.visemes
    assert visemes.starts[0] == 0 and visemes.visemes[0] == Viseme.REST and visemes.starts[1] >= 4000
    assert {Viseme.OPEN, Viseme.WIDE} <= set(visemes.visemes.tolist())
    aligned = speech_from_audio(audio, rate_hz=rate, phonemes=["a", "m"], durations=[12_000, 12_000])
    assert aligned.aligned
    assert speech_from_audio(np.zeros(0, np.float32), rate_hz=rate).samples == 0
    assert spelled_phonemes(" ... ") == ([], [])


# ---- the backends follow the interface ----------------------------------------------------------------------


def test_silence_and_scripted_voices_follow_the_interface_and_report_their_speed() -> None:
    for voice in (SilenceVoice(SilenceVoiceSettings()), ScriptedVoice(rtf=0.5)):
        assert isinstance(voice, VoiceBackend) and not voice.streams
        speech = voice.synthesize_streaming("Hello there, and welcome to the stream.")
        assert speech.samples > 0 and speech.filling is None
        assert voice.speed.sentences == 1 and voice.speed.rtf is not None
    assert voice.speed.rtf == pytest.approx(0.5)
