"""The neural lip-sync plug-in: a Wav2Lip-class mouth generator the operator supplies as ONNX, run ahead of the
media clock on the speech it belongs to.

Contract of the model (Wav2Lip's, the common one): two inputs, a face batch ``(B, 6, 96, 96)`` float32 0..1 (the
face with its lower half blanked, then the reference face, channels BGR) and a mel batch ``(B, 1, 80, 16)`` (80 mel
bands x 16 steps = 0.2 s of audio around the frame, Wav2Lip's normalisation, -4..4); one output ``(B, 3, 96, 96)``
0..1, the face with a new lower half. Wav2Lip's published weights are for non-commercial research only (see the
README): livehost ships none, it loads what the operator supplies.

How it runs (a render-ahead stage): when a sentence has been voiced, :meth:`LipSyncStage.submit` computes its mel
frames and a worker thread infers the mouth for each of its video frames in batches, attaching them to the
:class:`~streamer.frames.SpeechSegment` (``segment.mouths``). The playout hands each frame's crop to the avatar with
the mouth pose; a frame whose crop is not ready yet (a slow engine, a GPU busy elsewhere) is drawn by the CPU warp,
and the share is counted for status. The media thread never waits for the engine. A sentence cut short drops its
crops with its audio.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamer.avatar.portrait import FACE_OVAL, AvatarFileError
from streamer.frames import AUDIO_RATE_HZ, PcmFill, SpeechSegment
from streamer.voice.resample import resample

log = logging.getLogger(__name__)

FACE_PX = 96
MEL_BANDS = 80
MEL_STEPS = 16
MEL_RATE_HZ = 16_000
MEL_HOP = 200  # 80 mel frames a second
MEL_FPS = MEL_RATE_HZ / MEL_HOP
BATCH = 16
#: How long the stage waits for a streamed sentence's audio to be complete (it is decoded well before it ends).
FILL_WAIT_S = 10.0


class LipSyncModelError(AvatarFileError):
    """The lip-sync model file cannot be used."""

    field = "avatar.lipsync.model"


# ---- audio features -------------------------------------------------------------------------------------------


def _mel_filterbank(n_fft: int = 800, bands: int = MEL_BANDS, fmin: float = 55.0, fmax: float = 7600.0) -> np.ndarray:
    """Slaney-style triangular mel filters, (bands, n_fft // 2 + 1)."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, np.float64)
        lin = f / (200.0 / 3)
        log_part = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log_part, lin)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, np.float64)
        lin = m * (200.0 / 3)
        log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log_part, lin)

    freqs = np.linspace(0, MEL_RATE_HZ / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(fmin)), hz_to_mel(np.array(fmax)), bands + 2))
    fb = np.zeros((bands, freqs.shape[0]))
    for i in range(bands):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / max(mid - lo, 1e-9)
        down = (hi - freqs) / max(hi - mid, 1e-9)
        fb[i] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / max(hi - lo, 1e-9))
    return fb.astype(np.float32)


_FILTERS = _mel_filterbank()


def mel_frames(pcm: np.ndarray) -> np.ndarray:
    """Wav2Lip-style log-mel of 48 kHz int16 speech: (frames, 80) at 80 frames a second, values -4..4."""
    x = resample(pcm.astype(np.float32) / 32768.0, 1, AUDIO_RATE_HZ // MEL_RATE_HZ)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])  # pre-emphasis
    n_fft = 800
    pad = n_fft // 2
    x = np.pad(x, (pad, pad), mode="reflect") if x.shape[0] > pad else np.pad(x, (pad, pad))
    count = 1 + (x.shape[0] - n_fft) // MEL_HOP
    if count <= 0:
        return np.full((0, MEL_BANDS), -4.0, np.float32)
    idx = np.arange(n_fft)[None, :] + MEL_HOP * np.arange(count)[:, None]
    frames = x[idx] * np.hanning(n_fft + 1)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1))
    mel = power @ _FILTERS.T
    db = 20.0 * np.log10(np.maximum(1e-5, mel)) - 20.0
    return np.clip(8.0 * ((db + 100.0) / 100.0) - 4.0, -4.0, 4.0).astype(np.float32)


def mel_window(mel: np.ndarray, frame: int, fps: float) -> np.ndarray:
    """The 16 mel steps (0.2 s) from video frame ``frame``'s start: (80, 16), padded with silence at the end."""
    start = int(MEL_FPS * frame / fps)
    window = mel[start : start + MEL_STEPS]
    if window.shape[0] < MEL_STEPS:
        window = np.concatenate([window, np.full((MEL_STEPS - window.shape[0], MEL_BANDS), -4.0, np.float32)])
    return window.T


# ---- the engine ------------------------------------------------------------------------------------------------


def _dims(shape: list[Any]) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in shape]


class NeuralLipSync:
    """An ONNX mouth generator (see the module doc). ``device``: auto (CUDA when onnxruntime has it), cpu, cuda
    (falls back to the CPU, logged, when CUDA is not there)."""

    def __init__(self, model: str | Path, *, device: str = "auto") -> None:
        import onnxruntime

        path = Path(model)
        if not path.is_file():
            raise LipSyncModelError(path, "model file not found")
        available = onnxruntime.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            log.warning("lip-sync model %s: CUDA asked for but onnxruntime has no CUDA here; using the CPU", path.name)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
            raise LipSyncModelError(path, f"onnxruntime cannot load it ({str(exc).splitlines()[0][:200]})") from exc
        self.path = path
        self.device = "cuda" if self._session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        face = [i for i in inputs if _dims(i.shape)[1:] == [6, FACE_PX, FACE_PX]]
        mel = [i for i in inputs if _dims(i.shape)[1:] == [1, MEL_BANDS, MEL_STEPS]]
        shapes = ", ".join(f"{i.name} {i.shape}" for i in inputs)
        if len(inputs) != 2 or len(face) != 1 or len(mel) != 1:
            raise LipSyncModelError(
                path,
                f"expected inputs (B, 6, {FACE_PX}, {FACE_PX}) and (B, 1, {MEL_BANDS}, {MEL_STEPS}), got {shapes}",
            )
        if len(outputs) != 1 or _dims(outputs[0].shape)[1:] != [3, FACE_PX, FACE_PX]:
            got = ", ".join(f"{o.name} {o.shape}" for o in outputs)
            raise LipSyncModelError(path, f"expected one output (B, 3, {FACE_PX}, {FACE_PX}), got {got}")
        self._face_name, self._mel_name = face[0].name, mel[0].name
        self._out_name = outputs[0].name

    def infer(self, faces: np.ndarray, mels: np.ndarray) -> np.ndarray:
        """(B, 6, 96, 96) and (B, 1, 80, 16) float32 -> (B, 3, 96, 96) float32 0..1."""
        out = self._session.run([self._out_name], {self._face_name: faces, self._mel_name: mels})[0]
        return np.asarray(out, np.float32)


# ---- render-ahead ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RenderedMouths:
    """A sentence's mouth crops, filled in by the lip-sync stage as they are inferred (frame order)."""

    samples_per_frame: int
    crops: list[np.ndarray | None]
    ready: int = 0
    """How many crops are made (not necessarily the first ones: the stage skips what was shown already)."""
    dropped: bool = False
    """Heard to the end or cut: nothing more is needed (set by the playout)."""
    playing: int = -1
    """The frame on air now (set by the playout; -1 before the sentence starts)."""
    submitted_s: float = 0.0
    """When the sentence was handed to the stage (``time.perf_counter``)."""

    def at(self, sample: int) -> np.ndarray | None:
        """The crop for the video frame that starts at ``sample`` of the sentence, if it is ready (and notes that
        this frame is on air)."""
        k = sample // self.samples_per_frame
        self.playing = k
        if 0 <= k < len(self.crops):
            return self.crops[k]
        return None


@dataclass(slots=True)
class LipSyncStats:
    speaking_frames: int = 0
    neural_frames: int = 0
    batches: int = 0
    batch_s_ewma: float = 0.0
    failures: int = 0
    last_error: str | None = None
    sentences: int = 0
    skipped: int = 0
    recent: collections.deque[bool] = field(default_factory=lambda: collections.deque(maxlen=300))
    first_batch_s_ewma: float = 0.0
    """From handing a sentence over to its first frames being ready (queue wait, features, one batch)."""


#: The most an answer's cut is planned ahead for the neural renderer (see :attr:`LipSyncStage.lead_s`): an engine
#: slower than this leaves the first frames to the warp rather than delay answers.
MAX_LEAD_S = 0.5


class NeuralFace:
    """Where the engine sees a face and where its new lower half goes back, for a face with these landmarks on a
    ``width`` x ``height`` canvas: a square around the face oval, and a feathered weight over the mouth and jaw
    (0 at the eyes and above)."""

    def __init__(self, points: np.ndarray, width: int, height: int) -> None:
        oval = points[list(FACE_OVAL)]
        (fx0, fy0), (fx1, fy1) = oval.min(axis=0), oval.max(axis=0)
        side = min(math.ceil(float(max(fx1 - fx0, fy1 - fy0)) * 1.08), width, height)
        cx, cy = 0.5 * (fx0 + fx1), 0.5 * (fy0 + fy1)
        x0 = int(min(max(round(cx - side / 2), 0), width - side))
        y0 = int(min(max(round(cy - side / 2), 0), height - side))
        self.box = (x0, y0, x0 + side, y0 + side)
        self.canvas = (width, height)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
        ell = ((xx - 0.5) / 0.36) ** 2 + ((yy - 0.72) / 0.3) ** 2
        self.weight = np.clip((1.0 - ell) / 0.35, 0.0, 1.0).astype(np.float32)

    def face_input(self, bgr: np.ndarray) -> np.ndarray:
        """The engine's face input from the canvas picture ``bgr``: (6, 96, 96) float32 0..1, the face with its lower
        half blanked, then the face as it is (channels BGR)."""
        x0, y0, x1, y1 = self.box
        face = cv2.resize(bgr[y0:y1, x0:x1, :3], (FACE_PX, FACE_PX), interpolation=cv2.INTER_AREA)
        ref = np.transpose(face.astype(np.float32) / 255.0, (2, 0, 1))
        masked = ref.copy()
        masked[:, FACE_PX // 2 :, :] = 0.0
        return np.concatenate([masked, ref], axis=0)

    def paste(self, dst: np.ndarray, base: np.ndarray, crop: np.ndarray, offset: tuple[int, int] = (0, 0)) -> None:
        """The engine's face ``crop`` (96 x 96 BGR), its lower half blended into ``dst`` (BGRA, premultiplied or
        opaque) over ``base`` (the same picture with the mouth at rest), the box moved by ``offset`` pixels (a face
        that moved since the input was made); the alpha stays the base's."""
        x0, y0, x1, y1 = self.box
        side = x1 - x0
        dx = int(min(max(offset[0], -x0), self.canvas[0] - x1))
        dy = int(min(max(offset[1], -y0), self.canvas[1] - y1))
        x0, x1, y0, y1 = x0 + dx, x1 + dx, y0 + dy, y1 + dy
        face = cv2.resize(crop, (side, side), interpolation=cv2.INTER_LINEAR)
        under = base[y0:y1, x0:x1]
        w = self.weight[:, :, None]
        alpha = under[:, :, 3:4].astype(np.float32) / 255.0
        mixed = face.astype(np.float32) * alpha * w + under[:, :, :3].astype(np.float32) * (1.0 - w)
        out = dst[y0:y1, x0:x1]
        out[:, :, :3] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        out[:, :, 3] = under[:, :, 3]


class LipSyncStage:
    """Runs ``engine`` ahead of the media clock on each voiced sentence (one worker thread, ``BATCH`` frames per
    call) for a face given as the model's 6-channel input (the avatar prepares it once).

    Sentences are taken in the order they will be heard. One already heard or cut (``mouths.dropped``, set by the
    playout) is skipped, and in one that is on air the engine jumps to the frames still ahead, so an engine slower
    than real time never falls further behind than the sentence on air. At most ``max_waiting`` sentences wait
    (the playout's own bound keeps it far below that; beyond it the oldest is left to the warp)."""

    def __init__(self, engine: Any, face_input: np.ndarray, *, fps: int, max_failures: int = 3, max_waiting: int = 64):
        self.engine = engine
        self.face_input = face_input.astype(np.float32)
        self.fps = fps
        self.samples_per_frame = AUDIO_RATE_HZ // fps
        self.stats = LipSyncStats()
        self._max_failures = max_failures
        self._max_waiting = max_waiting
        self._lock = threading.Lock()
        self._waiting: collections.deque[tuple[np.ndarray, RenderedMouths, PcmFill | None]] = collections.deque()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lipsync", daemon=True)
        self._thread.start()
        self.disabled: str | None = None

    def submit(self, segment: SpeechSegment) -> None:
        """Queue ``segment`` for the engine; its mouths attach to ``segment.mouths`` as batches finish."""
        if self.disabled is not None or self._closed:
            return
        frames = math.ceil(segment.samples / self.samples_per_frame)
        mouths = RenderedMouths(
            samples_per_frame=self.samples_per_frame, crops=[None] * frames, submitted_s=time.perf_counter()
        )
        segment.mouths = mouths
        with self._lock:
            self.stats.sentences += 1
            self._waiting.append((segment.pcm, mouths, segment.filling))
            while len(self._waiting) > self._max_waiting:
                self._waiting.popleft()[1].dropped = True
                self.stats.skipped += 1
        self._wake.set()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(0.5)
            self._wake.clear()
            while not self._closed:
                with self._lock:
                    if not self._waiting:
                        break
                    pcm, mouths, filling = self._waiting.popleft()
                if filling is not None:
                    filling.done.wait(FILL_WAIT_S)  # a streamed sentence: its features need all of its audio
                if mouths.dropped or self.disabled is not None:
                    continue
                self._run(pcm, mouths)

    def _run(self, pcm: np.ndarray, mouths: RenderedMouths) -> None:
        try:
            mel = mel_frames(pcm)
            n = len(mouths.crops)
            a = 0
            while a < n:
                if mouths.dropped or self.disabled is not None or self._closed:
                    return
                if mouths.playing >= 0:
                    # On air already: skip to the frames that will still be ahead when this batch is done.
                    lead = math.ceil(self.stats.batch_s_ewma * self.fps) + 2
                    a = max(a, mouths.playing + lead)
                    if a >= n:
                        return
                b = min(n, a + BATCH)
                mels = np.stack([mel_window(mel, k, self.fps)[None] for k in range(a, b)]).astype(np.float32)
                faces = np.repeat(self.face_input[None], b - a, axis=0)
                t0 = time.perf_counter()
                out = self.engine.infer(faces, mels)
                spent = time.perf_counter() - t0
                with self._lock:
                    s = self.stats
                    s.batches += 1
                    s.batch_s_ewma = spent if s.batches == 1 else 0.8 * s.batch_s_ewma + 0.2 * spent
                crops = np.clip(np.rint(np.transpose(out, (0, 2, 3, 1)) * 255.0), 0, 255).astype(np.uint8)
                for i in range(b - a):
                    mouths.crops[a + i] = crops[i]
                if mouths.ready == 0 and a == 0:
                    first = time.perf_counter() - mouths.submitted_s
                    with self._lock:
                        s = self.stats
                        s.first_batch_s_ewma = (
                            first if not s.first_batch_s_ewma else 0.8 * s.first_batch_s_ewma + 0.2 * first
                        )
                mouths.ready += b - a
                a = b
        except Exception as exc:  # a failing model must never reach the show: the warp takes over
            with self._lock:
                self.stats.failures += 1
                self.stats.last_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                if self.stats.failures >= self._max_failures:
                    self.disabled = f"stopped after {self.stats.failures} failures: {self.stats.last_error}"
                    log.warning("neural lip-sync %s; the CPU warp draws the mouth from now on", self.disabled)

    @property
    def lead_s(self) -> float:
        """How far ahead of the media clock an answer should be planned for its first frames to be rendered: the
        usual time to a sentence's first batch plus half again, at most :data:`MAX_LEAD_S`. Before any batch is
        done it is 0 (the warp covers the first frames)."""
        return min(MAX_LEAD_S, 1.5 * self.stats.first_batch_s_ewma)

    def count(self, neural: bool) -> None:
        """The media thread drew a speaking frame with (``neural``) or without a ready crop."""
        s = self.stats
        s.speaking_frames += 1
        s.neural_frames += neural
        s.recent.append(neural)

    def summary(self) -> str:
        s = self.stats
        if self.disabled is not None:
            return f"neural {self.disabled}; warp (CPU) instead"
        share = sum(s.recent) / len(s.recent) if s.recent else 1.0
        batch = f", {s.batch_s_ewma * 1000:.0f} ms per batch of {BATCH}" if s.batches else ""
        fallback = f"; warp (CPU) for {1 - share:.0%} of recent speaking frames" if share < 1.0 else ""
        return f"neural on {getattr(self.engine, 'device', 'cpu')}{batch}{fallback}"

    def close(self) -> None:
        self._closed = True
        self._wake.set()
