"""Streaming synthesis for VITS voices (Piper): the first audio after a fraction of the decoder's work.

A Piper voice is one ONNX graph: text encoder, duration predictor and flow (phoneme ids -> latent frames ``z``,
one frame per ``hop_length`` samples), then a HiFi-GAN decoder (``z`` -> audio) that does about two thirds of the
work. The decoder is convolutional, so a window of frames decodes to exactly the same samples as the whole
sentence does, except within its receptive field of the window's edges. Here the graph is cut in two at the
decoder's input (``onnx.utils.Extractor``): the encoder part runs once per sentence (it also gives every phoneme's
duration, so the mouth track is known at once), then the decoder runs on the first :data:`LEAD_FRAMES` frames, and
the sentence can start while the remaining frames are decoded in chunks ahead of the media clock. Chunks overlap
by :attr:`SplitVits.overlap` frames on each side, checked at load to give the whole-sentence samples bit for bit
(measured 16 frames for en_US-joe-medium), so there is no seam to hear.

Resampling to the show's rate is done per chunk on the same global sample grid (each piece starts on a multiple
of the rate ratio's denominator, with the decoded margin as filter context), so the pieces join into what
resampling the whole sentence would give.

Why not decode the first clause as its own sentence (what the speaker did before): the decoder would still run on
all of that clause, and the clause had to be long enough (about 1.5 s) for the rest to be voiced while it was
heard; a separately voiced clause also loses the sentence's intonation at the join.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from streamer.voice.resample import resample

_LOG = logging.getLogger(__name__)

#: Frames decoded before a sentence may start (48 frames of 256 samples at 22.05 kHz: 0.56 s of speech). Enough
#: for the next chunk to be decoded while it is heard (the decoder runs at ~0.1-0.3 of real time on two loaded
#: cores); the smaller, the sooner an answer starts.
LEAD_FRAMES = 48
#: Largest chunk decoded after the lead (bounds how long one decoder run holds the engine).
CHUNK_FRAMES = 160
#: Overlaps tried at load, smallest first: the first that reproduces the whole-sentence decode is used.
OVERLAPS = (16, 32, 64)
#: Largest difference from the whole-sentence decode accepted at load (float32 rounding only).
_EXACT = 1e-4


def _decoder_input(model: Any) -> str | None:
    """The tensor the decoder reads: the only input of the ``/dec/`` nodes that no ``/dec/`` node makes and that is
    not a weight. None when the graph has no such node, or its decoder reads more than one tensor (a multi-speaker
    voice's decoder also reads the speaker embedding)."""
    graph = model.graph
    dec = [n for n in graph.node if n.name.startswith("/dec/")]
    if not dec:
        return None
    made = {o for n in dec for o in n.output}
    weights = {i.name for i in graph.initializer}
    consts = {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    read = {i for n in dec for i in n.input if i and i not in made and i not in weights and i not in consts}
    return read.pop() if len(read) == 1 else None


class SplitVits:
    """A VITS voice's graph in two onnxruntime sessions: ``encode`` (ids -> latent frames and frames per id) and
    ``decode`` (a window of frames -> exactly those frames' samples)."""

    def __init__(self, encoder: Any, decoder: Any, *, z_name: str, hop: int, overlap: int = OVERLAPS[0]) -> None:
        self._encoder = encoder
        self._decoder = decoder
        self._z_name = z_name
        self.hop = hop
        self.overlap = overlap
        self.peak = 0.0
        """Peak of the sentence :meth:`verify` decoded (a loudness reference for the voice)."""

    @classmethod
    def build(
        cls, model: bytes, *, durations_tensor: str, hop: int, options: Any, providers: Sequence[str]
    ) -> SplitVits | None:
        """Cut ``model`` at its decoder input, or None (logged) when the graph does not have the expected shape
        (then the voice synthesises whole sentences as before)."""
        try:
            import onnx
            import onnxruntime
            from onnx.utils import Extractor
        except ImportError as e:
            _LOG.info("streaming synthesis off: %s", e)
            return None
        try:
            proto = onnx.load_model_from_string(model)
            z_name = _decoder_input(proto)
            if z_name is None:
                _LOG.info("streaming synthesis off: no single decoder input in the voice's graph")
                return None
            outputs = [o.name for o in proto.graph.output]
            inputs = [i.name for i in proto.graph.input]
            if "sid" in inputs or len(outputs) < 1:
                _LOG.info("streaming synthesis off: a multi-speaker voice")
                return None
            extractor = Extractor(proto)
            enc = extractor.extract_model(inputs, [z_name, durations_tensor])
            dec = extractor.extract_model([z_name], [outputs[0]])
            if [i.name for i in dec.graph.input] != [z_name]:
                _LOG.info("streaming synthesis off: the decoder reads more than the latent frames")
                return None
            encoder = onnxruntime.InferenceSession(enc.SerializeToString(), sess_options=options, providers=providers)
            decoder = onnxruntime.InferenceSession(dec.SerializeToString(), sess_options=options, providers=providers)
        except Exception as e:  # onnx and onnxruntime raise assorted types; streaming is an optimisation
            _LOG.warning("streaming synthesis off: cannot split the voice's graph (%s)", e)
            return None
        return cls(encoder, decoder, z_name=z_name, hop=hop)

    def encode(self, feed: dict[str, np.ndarray], run_options: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(z of shape (1, channels, frames), frames per phoneme id as int64)."""
        z, frames = self._encoder.run(None, feed, run_options)
        return z, np.asarray(frames, dtype=np.float64).reshape(-1).round().astype(np.int64)

    def decode(self, z: np.ndarray, f0: int, f1: int, run_options: Any = None) -> tuple[np.ndarray, int]:
        """Samples of frames ``[f0, f1)`` and of up to :attr:`overlap` frames either side (exact where at least
        ``overlap`` frames from a window edge that is not the sentence's edge), with the sample index the returned
        audio starts at."""
        frames = z.shape[-1]
        w0, w1 = max(0, f0 - self.overlap), min(frames, f1 + self.overlap)
        audio = self._decoder.run(None, {self._z_name: np.ascontiguousarray(z[:, :, w0:w1])}, run_options)[0]
        return np.asarray(audio, np.float32).reshape(-1), w0 * self.hop

    def verify(self, z: np.ndarray) -> bool:
        """Pick the smallest overlap with which two halves decode to the whole (False: none does; do not stream)."""
        frames = z.shape[-1]
        whole = self._decoder.run(None, {self._z_name: z})[0].reshape(-1)
        half = frames // 2
        self.peak = float(np.abs(whole).max())
        scale = max(self.peak, 1e-6)
        for overlap in OVERLAPS:
            if 2 * overlap >= frames:
                break
            self.overlap = overlap
            a, a0 = self.decode(z, 0, half)
            b, b0 = self.decode(z, half, frames)
            cut = half * self.hop
            joined = np.concatenate([a[: cut - a0], b[cut - b0 :]])
            if joined.shape == whole.shape and float(np.abs(joined - whole).max()) / scale <= _EXACT:
                return True
        return False


def resample_piece(
    audio: np.ndarray, audio_start: int, n0: int, n1: int, *, total: int, up: int, down: int
) -> tuple[int, np.ndarray]:
    """The show-rate samples that resampling the whole sentence (``total`` native samples) would give for native
    samples ``[n0, n1)``, from ``audio`` (native samples starting at ``audio_start``, exact around ``[n0, n1)``).
    Returns (first output index, samples). ``up/down`` in lowest terms."""
    m0 = -(-n0 * up // down)
    m1 = -(-n1 * up // down) if n1 < total else -(-total * up // down)
    if up == down:
        return m0, audio[n0 - audio_start : n1 - audio_start].copy()
    # Start on a multiple of ``down``: output j of the piece is then output j + a*up/down of the whole.
    a = math.ceil(audio_start / down) * down
    local = resample(audio[a - audio_start :], up, down)
    j0 = a // down * up
    return m0, local[m0 - j0 : m1 - j0]


def to_pcm(audio: np.ndarray, gain: float, peak: float) -> np.ndarray:
    """float -> int16 at ``gain``; what would pass ``peak`` is bent softly towards full scale instead of clipped
    (the gain of a streamed sentence is set before its loudest sample is known)."""
    y = audio.astype(np.float32) * np.float32(gain)
    over = np.abs(y) > peak
    if over.any():
        knee = 1.0 - peak
        y[over] = np.sign(y[over]) * (peak + knee * np.tanh((np.abs(y[over]) - peak) / knee))
    return np.clip(np.rint(y * 32767.0), -32768, 32767).astype(np.int16)


__all__ = ["CHUNK_FRAMES", "LEAD_FRAMES", "SplitVits", "resample_piece", "to_pcm"]
