"""The voice's resampler (numpy only, so speech never waits for a torch import): the same zero-phase polyphase
filter as scipy's resample_poly, to float32 precision, at every length."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from streamer.voice.resample import resample


@pytest.mark.parametrize(("rate", "n"), [(22_050, 1), (22_050, 7), (22_050, 4_000), (22_050, 110_257), (16_000, 9_001)])
def test_matches_scipy_resample_poly(rate: int, n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n) * 0.3
    g = np.gcd(48_000, rate)
    from scipy.signal import resample_poly  # here, not at collection: scipy.signal takes a second to import

    want = resample_poly(x, 48_000 // g, rate // g)
    got = resample(x, 48_000, rate)
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) < 2e-6


def test_a_tone_keeps_its_pitch_level_and_timing() -> None:
    t = np.arange(22_050) / 22_050
    y = resample(np.sin(2 * np.pi * 440 * t), 48_000, 22_050)
    assert y.shape == (48_000,)
    spectrum = np.abs(np.fft.rfft(y[4_000:-4_000]))
    assert abs(np.argmax(spectrum) * 48_000 / (y.shape[0] - 8_000) - 440) < 2
    assert abs(float(np.sqrt(np.mean(y[4_000:-4_000] ** 2))) - 0.5**0.5) < 0.01
    # Zero phase: a click stays where it was (no filter delay).
    click = np.zeros(2_205)
    click[1_000] = 1.0
    assert int(np.argmax(resample(click, 48_000, 22_050))) == round(1_000 * 48_000 / 22_050)


def test_empty_and_same_rate() -> None:
    assert resample(np.zeros(0), 48_000, 22_050).shape == (0,)
    x = np.arange(5, dtype=np.float64)
    assert np.array_equal(resample(x, 48_000, 48_000), x.astype(np.float32))


def test_the_voice_path_does_not_import_scipy() -> None:
    import subprocess

    code = "import sys, streamer.voice.piper; print(any(m.startswith('scipy') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
