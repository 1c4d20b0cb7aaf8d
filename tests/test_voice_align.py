"""Mouth timing for speech without phoneme timing (``streamer.voice.align``), measured against the truth: Piper
at another speed (and through a different channel: noise and a spectral tilt) plays the endpoint, with its own
native alignment as ground truth; Piper at its normal speed is the reference whose keys are moved onto it."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from streamer.config import PiperVoiceSettings
from streamer.frames import AUDIO_RATE_HZ, Viseme, VisemeTrack
from streamer.voice.align import log_mel, map_track, warp
from streamer.voice.audio import speech_from_audio
from streamer.voice.piper import PiperVoiceBackend

SENTENCES = [
    "Hello there, welcome to the show!",
    "This cat bed is sixty centimetres across and it is machine washable.",
    "Mia, it ships in forty eight hours, and returns are free for thirty days.",
    "Our lamp has three brightness levels and a warm white light.",
]
OPENNESS = {
    Viseme.REST: 0.0,
    Viseme.CLOSED: 0.0,
    Viseme.FV: 0.3,
    Viseme.WIDE: 0.8,
    Viseme.ROUND: 0.75,
    Viseme.OPEN: 1.0,
}


@functools.cache
def piper(speed: float) -> PiperVoiceBackend:
    voice = PiperVoiceBackend(PiperVoiceSettings(speed=speed))
    voice.load()
    return voice


def other_channel(pcm: np.ndarray) -> np.ndarray:
    """The same speech as another voice on another line would differ: a spectral tilt and noise at 25 dB SNR."""
    x = pcm.astype(np.float64)
    tilted = np.concatenate(([x[0]], x[1:] - 0.6 * x[:-1]))
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, np.sqrt(np.mean(tilted**2)) / 10 ** (25 / 20), tilted.size)
    out = tilted + noise
    return np.clip(out / np.abs(out).max() * 29_000, -32768, 32767).astype(np.int16)


def per_frame(track: VisemeTrack, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(openness, viseme) every 10 ms."""
    centers = np.arange(n) * 480 + 240
    keys = track.visemes[np.searchsorted(track.starts, centers, side="right") - 1]
    return np.array([OPENNESS[Viseme(int(v))] for v in keys]), keys


def envelope(pcm: np.ndarray, n: int) -> np.ndarray:
    return np.sqrt(np.mean(pcm[: n * 480].astype(np.float64).reshape(n, 480) ** 2, axis=1))


def test_keys_moved_through_the_warp_land_on_the_other_voice_s_own_sounds():
    rows = []
    for text in SENTENCES:
        truth = piper(0.8).synthesize(text)  # the "endpoint": slower, with its true timing
        heard = other_channel(truth.pcm)
        reference = piper(1.0).synthesize(text)
        n = truth.samples // 480
        env = envelope(heard, n)
        mapped = map_track(reference.visemes, reference.pcm, heard)
        spelled = speech_from_audio(heard.astype(np.float32) / 32768, rate_hz=AUDIO_RATE_HZ, text=text).visemes
        open_t, keys_t = per_frame(truth.visemes, n)
        open_m, keys_m = per_frame(mapped, n)
        open_s, keys_s = per_frame(spelled, n)
        rows.append(
            (
                np.corrcoef(open_t, env)[0, 1],
                np.corrcoef(open_m, env)[0, 1],
                np.corrcoef(open_s, env)[0, 1],
                np.mean(keys_m == keys_t),
                np.mean(keys_s == keys_t),
            )
        )
        assert np.all(np.diff(mapped.starts) >= 0) and mapped.starts[0] == 0
        assert mapped.starts[-1] < heard.shape[0] and np.all(mapped.boundaries < heard.shape[0])
    native, ours, spelled_corr, match, spelled_match = np.mean(rows, axis=0)
    print(
        f"\nmouth vs envelope correlation: native {native:.3f}, aligned {ours:.3f}, spelled {spelled_corr:.3f};"
        f" keys as the truth's: aligned {match:.2f}, spelled {spelled_match:.2f}"
    )
    assert abs(ours - native) <= 0.05  # the measure: as good as the voice's own alignment
    assert match >= 0.85 and match > spelled_match + 0.3  # on the voice's own sounds, not a spread of the text


def test_the_warp_follows_a_known_stretch_and_falls_back_to_a_line_beyond_twice():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 8))
    b = np.repeat(a, 2, axis=0)[:75]  # the same frames, each twice: a stretch of 1.875 (within the 2x steps)
    path = warp(a, b)
    assert path[0] == 0 and path[-1] == 74 and np.all(np.diff(path) >= 0)
    assert np.mean(np.abs(path - np.minimum(2 * np.arange(40), 74))) <= 1.0
    far = warp(a, np.repeat(a, 3, axis=0))  # 3x: beyond what the steps allow
    assert far[0] == 0 and far[-1] == 119 and np.all(np.diff(far) >= 0)
    assert log_mel(np.zeros(100, np.int16)).shape[0] == 1


@pytest.mark.parametrize("seconds", [0.0, 0.004])
def test_empty_or_tiny_audio_gives_a_track_not_an_error(seconds):
    reference = piper(1.0).synthesize("Hi!")
    target = np.zeros(int(seconds * AUDIO_RATE_HZ), np.int16)
    track = map_track(reference.visemes, reference.pcm, target)
    assert track.starts[0] == 0 and len(track.starts) == len(reference.visemes.starts)
