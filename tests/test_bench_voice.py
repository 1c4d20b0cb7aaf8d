"""``python -m streamer.bench voice``: the voice's speed figures come from real synthesis (Piper here)."""

from __future__ import annotations

import argparse

import pytest

from streamer.bench.voice import run_voice


def test_the_voice_bench_measures_piper_and_asks_for_an_endpoint_s_address():
    out = run_voice(
        argparse.Namespace(
            backend="piper", sentences=4, voice=None, base_url=None, model="tts-1", api_key_env="OPENAI_API_KEY"
        )
    )
    assert out["sentences"] == 4 and out["streams"] is True and out["load_s"] > 0
    assert 0 < out["rtf_p50"] <= out["rtf_p95"] < 1.0  # Piper is faster than real time on any machine we run
    assert 0 < out["first_audio_s_p50"] <= out["first_audio_s_p95"] and out["short_sentence_first_audio_s"] > 0
    with pytest.raises(SystemExit, match="--base-url"):
        run_voice(
            argparse.Namespace(
                backend="endpoint", sentences=1, voice=None, base_url=None, model="tts-1", api_key_env="OPENAI_API_KEY"
            )
        )
