"""Streaming synthesis: the decoder in windows and the resampler in pieces give the whole sentence's samples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streamer.config import VoiceSettings
from streamer.voice.base import VoiceSpeed
from streamer.voice.piper import PEAK_LEVEL, PiperVoiceBackend, resolve_voice
from streamer.voice.resample import resample
from streamer.voice.vits_stream import LEAD_FRAMES, resample_piece, to_pcm


def test_resampling_in_pieces_on_the_global_grid_equals_resampling_the_whole() -> None:
    rng = np.random.default_rng(5)
    hop, frames = 256, 150
    x = rng.standard_normal(hop * frames).astype(np.float32) * 0.3
    whole = resample(x, 320, 147)
    out = np.zeros_like(whole)
    overlap = 16
    cuts = [0, 48, 96, 150]
    for f0, f1 in itertools.pairwise(cuts):
        w0, w1 = max(0, f0 - overlap) * hop, min(frames, f1 + overlap) * hop
        m0, piece = resample_piece(x[w0:w1], w0, f0 * hop, f1 * hop, total=x.shape[0], up=320, down=147)
        out[m0 : m0 + piece.shape[0]] = piece
        if f0:
            assert m0 == -(-f0 * hop * 320 // 147)
    np.testing.assert_allclose(out, whole, atol=1e-6)


def test_to_pcm_bends_what_passes_the_peak_instead_of_clipping() -> None:
    y = to_pcm(np.array([0.0, 0.5, 1.0, 1.05, -1.05, 3.0], np.float32), 0.9, PEAK_LEVEL)
    assert y[1] == round(0.45 * 32767) and y[2] == round(0.9 * 32767)
    assert round(0.9 * 32767) < y[3] < round(0.945 * 32767) and y[4] == -y[3]  # bent below the straight line
    assert y[5] <= 32767


@pytest.fixture(scope="module")
def joe() -> PiperVoiceBackend:
    backend = PiperVoiceBackend(VoiceSettings(voice=str(resolve_voice("en_US-joe-medium")[0])))
    backend.load()
    return backend


def test_a_streamed_sentence_starts_before_it_is_decoded_and_joins_into_the_whole_sentence(
    joe: PiperVoiceBackend,
) -> None:
    assert joe.streams
    split = joe._split
    assert split is not None and split.overlap == 16  # measured for this voice: exact with 16 frames each side
    seen: list[np.ndarray] = []
    encode = split.encode

    def keep(feed, run_options=None):  # type: ignore[no-untyped-def]
        z, frames = encode(feed, run_options)
        seen.append(z)
        return z, frames

    split.encode = keep  # type: ignore[method-assign]
    joe._speed = speed = VoiceSpeed()  # this sentence's measurement alone
    try:
        text = "Priya, it's 89 dollars today; the regular price is 109 dollars, and it ships tomorrow."
        speech = joe.synthesize_streaming(text, urgent=True)
        fill = speech.filling
        assert fill is not None and fill.ready >= LEAD_FRAMES * split.hop * 2  # > 0.5 s at 48 kHz
        assert fill.done.wait(10) and not fill.failed and fill.ready == speech.samples
    finally:
        del split.encode
    # Measured when all of it was decoded: the first audio came well before the whole synthesis.
    assert speed.sentences == 1 and speed.total_audio_s == pytest.approx(speech.duration_s)
    assert speed.first_audio_s is not None and 0.0 < speed.first_audio_s < 0.8 * speed.total_synthesis_s
    assert 3.0 < speech.duration_s < 9.0 and speech.aligned
    assert speech.visemes.starts[-1] < speech.samples and speech.visemes.boundaries.shape[0] >= 10
    # The same latent frames decoded whole and resampled whole: the streamed sentence is that, at one gain.
    (z,) = seen
    whole = resample(split._decoder.run(None, {split._z_name: z})[0].reshape(-1), 320, 147)
    got = speech.pcm.astype(np.float64)
    assert got.shape == whole.shape
    quiet = (np.abs(got) < 0.8 * 32767) & (np.abs(whole) > 0.01)  # away from the soft knee and from silence
    gain = float(np.median(got[quiet] / whole[quiet]))
    linear = np.abs(got) < 0.8 * 32767
    assert np.abs(got[linear] - whole[linear] * gain).max() <= 1.0  # int16 rounding only: no seam between chunks
    assert gain * np.abs(whole).max() < 32767 * 1.6  # the loudness guess was about right (the knee takes the rest)
    assert np.abs(speech.pcm).max() <= 32767


def test_short_or_several_sentences_are_voiced_whole(joe: PiperVoiceBackend) -> None:
    short = joe.synthesize_streaming("Yes!", urgent=True)
    two = joe.synthesize_streaming("It ships tomorrow. It comes with a stand.", urgent=True)
    assert short.filling is None and short.samples > 0
    assert two.filling is None and two.duration_s > 1.5


def test_a_patter_sentence_waits_for_a_streamed_answer_to_be_decoded(joe: PiperVoiceBackend) -> None:
    import threading

    speech = joe.synthesize_streaming(
        "Leo, the Moon Night Light is 34 dollars 50 today, and it ships the next business day.", urgent=True
    )
    assert speech.filling is not None
    done_at: list[bool] = []
    t = threading.Thread(target=lambda: done_at.append(bool(joe.synthesize("And one more.").samples)))
    t.start()
    t.join(10)
    assert done_at == [True]
    assert speech.filling.done.is_set()  # the engine was not shared half-way through the answer
