"""``backend: coqui``: a Coqui TTS model from a folder the operator supplies, with the presenter's own voice.

Models: XTTS v2 (``config.json`` with ``"model": "xtts"``, ``model.pth``, ``vocab.json``; clones a voice from a
few recordings, 17 languages, Chinese included) or a VITS-family model (``"model": "vits"``, ``config.json`` and
``model.pth``; one voice, or the speakers it was trained on). The folder is read as it is: nothing is downloaded,
ever (``check`` says what to put there, and warns that XTTS v2's published weights are licensed for non-commercial
use only). The ``coqui-tts`` package and torch are imported on ``load``, in the voice's worker thread.

Cloning: the speaker conditioning XTTS computes from the presenter's recordings (a GPT conditioning latent and a
speaker embedding) is computed once by ``run_stream.py prepare-voice recordings/*.wav -o voices/anna/``
(:func:`prepare_voice`) and saved in that folder (``voice.pt`` and ``voice.json``: which model, which recordings,
how many seconds); the show loads it in milliseconds. ``speaker_wav`` clones at every start instead.

Speed: XTTS is an autoregressive GPT (about 21.5 audio tokens per second of speech) then a HiFi-GAN decoder; on two
CPU cores it runs slower than real time, so the speaker voices patter further ahead and the speech cache keeps
every sentence voiced (see :mod:`streamer.speaker`), and an answer stops a patter sentence's generation at its
next token (:class:`~streamer.voice.base.EngineTurn`) so a viewer waits for one sentence, not two. On a GPU
(``device: cuda`` or ``run --device cuda``) it runs several times faster than real time.

Safety nets: a sentence the model fails (an exception, no audio, or a generation that runs past a sentence's
plausible length, which a damaged model does) is voiced by the Piper ``fallback_voice``, so air is never silent. The
mouth is timed like the speech endpoint's (:mod:`streamer.voice.align`): the fallback voice's phoneme timing is moved
onto the model's audio by spectral alignment.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamer.config import CoquiVoiceSettings
from streamer.voice.audio import speech_from_audio
from streamer.voice.base import EngineTurn, Speech, VoiceBackend, VoiceBase, VoiceError, VoicePreempted
from streamer.voice.fallback import PiperSafetyNet
from streamer.voice.zh import is_han

log = logging.getLogger(__name__)

#: Model kinds this backend runs (``config.json``'s ``model``) and the files each needs besides ``config.json``.
MODEL_FILES: dict[str, tuple[str, ...]] = {"xtts": ("model.pth", "vocab.json"), "vits": ("model.pth",)}
#: What the operator is told about the weights' licence (``check`` warns; the README repeats it).
XTTS_LICENCE = (
    "XTTS v2's published weights are under the Coqui Public Model License (non-commercial use only): a shop needs "
    "a commercial licence for them, or a model it may use commercially"
)
#: What a missing model folder needs (``check``'s hint).
FOLDER_HINT = (
    "put a Coqui model there: XTTS v2 (config.json, model.pth, vocab.json; its published weights are licensed for "
    "non-commercial use only) or a VITS model (config.json, model.pth); livehost never downloads one"
)
#: The prepared voice's files (:func:`prepare_voice`).
VOICE_TENSORS = "voice.pt"
VOICE_META = "voice.json"
#: XTTS reads reference audio at this rate (its conditioning encoders' rate).
XTTS_REFERENCE_HZ = 22_050
#: Seconds of the recordings the GPT conditioning reads (XTTS's own default is 6; more is steadier).
GPT_COND_S = 30
#: XTTS makes this many audio tokens per second of speech (22,050 Hz / 1,024-sample codes).
XTTS_TOKENS_PER_S = 22_050 / 1024
#: The longest plausible sentence: this many seconds per character, plus :data:`MAX_EXTRA_S`. Generation is stopped
#: past it (a model that never says "stop" would otherwise talk for its whole token budget).
MAX_S_PER_CHAR = 0.12
MAX_EXTRA_S = 3.0
#: The same for a Chinese (or Japanese) character: one syllable each, read at 4-5 a second.
MAX_S_PER_HAN = 0.4
#: Languages XTTS names differently from the persona's code.
_XTTS_LANGUAGE = {"zh": "zh-cn"}


class CoquiModelError(VoiceError):
    """The model folder cannot be used (missing files, an unknown model kind); the message says what to put there."""


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not folder.is_dir():
        raise CoquiModelError(str(folder), f"model folder {folder} does not exist; {FOLDER_HINT}")
    if not path.is_file():
        raise CoquiModelError(str(folder), f"no config.json in {folder}; {FOLDER_HINT}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CoquiModelError(str(folder), f"{path}:{exc.lineno} is not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CoquiModelError(str(folder), f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise CoquiModelError(str(folder), f"{path} is not a JSON object")
    return data


def model_kind(folder: str | Path) -> str:
    """``xtts`` or ``vits`` for a usable model folder; raises :class:`CoquiModelError` saying what is missing."""
    folder = Path(folder)
    config = _read_config(folder)
    kind = str(config.get("model", "")).lower()
    if kind not in MODEL_FILES:
        raise CoquiModelError(
            str(folder),
            f"{folder / 'config.json'} is a {kind or 'unnamed'!r} model; this backend runs "
            f'{" and ".join(MODEL_FILES)} models (config.json\'s "model")',
        )
    missing = [name for name in MODEL_FILES[kind] if not (folder / name).is_file()]
    if missing:
        raise CoquiModelError(str(folder), f"{folder} lacks {', '.join(missing)} (an {kind} model needs them)")
    return kind


def model_languages(folder: str | Path) -> list[str]:
    """The languages a model folder's config lists (empty: not listed, e.g. a one-language VITS)."""
    languages = _read_config(Path(folder)).get("languages") or []
    return [str(x) for x in languages] if isinstance(languages, list) else []


def xtts_language(language: str) -> str:
    """XTTS's code for a persona language (``zh`` -> ``zh-cn``; a region is dropped otherwise)."""
    base = language.split("-")[0].lower()
    if language.lower() == "zh-cn":
        return "zh-cn"
    return _XTTS_LANGUAGE.get(base, base)


def fingerprint(folder: str | Path) -> str:
    """Which model a prepared voice was made with: a hash of its config and its weights' size and time."""
    folder = Path(folder)
    weights = (folder / "model.pth").stat()
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    digest.update(f"{weights.st_size}:{int(weights.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def read_recordings(paths: Sequence[str | Path], rate_hz: int = XTTS_REFERENCE_HZ) -> list[np.ndarray]:
    """Each recording as mono float32 at ``rate_hz`` (any format FFmpeg reads). Raises :class:`VoiceError`
    naming the file that cannot be read or holds no audio."""
    import av

    out: list[np.ndarray] = []
    for path in paths:
        try:
            with av.open(str(path)) as container:
                if not container.streams.audio:
                    raise VoiceError(str(path), "the file has no audio")
                resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_hz)
                parts: list[np.ndarray] = []
                for frame in container.decode(audio=0):
                    for res in resampler.resample(frame):
                        parts.append(res.to_ndarray().reshape(-1))
                for res in resampler.resample(None):
                    parts.append(res.to_ndarray().reshape(-1))
        except VoiceError:
            raise
        except (OSError, av.error.FFmpegError) as exc:
            raise VoiceError(str(path), f"cannot read the recording: {exc}") from None
        audio = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        if audio.size < rate_hz // 2:
            raise VoiceError(str(path), "the recording holds less than half a second of audio")
        out.append(audio)
    return out


def torch_device(device: str) -> str:
    """``cuda`` when asked for (or ``auto``) and torch sees a GPU, else ``cpu`` (a ``cuda`` that is not there is
    logged, and the CPU used: a show still goes on air)."""
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        log.warning("voice: device cuda asked for, but torch sees no GPU; the voice runs on the CPU")
    return "cpu"


def load_model(folder: str | Path, device: str = "auto") -> tuple[str, Any]:
    """(kind, the loaded model in eval mode on ``device``) through the library's own config and model classes."""
    folder = Path(folder)
    kind = model_kind(folder)
    try:
        from TTS.config import load_config
        from TTS.tts.models import setup_model
    except ImportError as exc:
        raise VoiceError(str(folder), f"the coqui-tts package is not installed ({exc}); run make install") from None
    try:
        config = load_config(str(folder / "config.json"))
        model = setup_model(config)
        if kind == "xtts":
            model.load_checkpoint(config, checkpoint_dir=str(folder), eval=True)
        else:
            model.load_checkpoint(config, str(folder / "model.pth"), eval=True)
        model.to(torch_device(device))
        model.eval()
    except VoiceError:
        raise
    except Exception as exc:  # the library raises assorted types for a damaged or mismatched folder
        raise VoiceError(str(folder), f"the model cannot load: {type(exc).__name__}: {exc}") from None
    return kind, model


def xtts_conditioning(model: Any, recordings: Sequence[np.ndarray]) -> tuple[Any, Any]:
    """XTTS's speaker conditioning from recordings at :data:`XTTS_REFERENCE_HZ`: the GPT conditioning latent (from
    the first :data:`GPT_COND_S` seconds of all of them, in 6 s chunks) and the mean speaker embedding."""
    import torch

    rate = XTTS_REFERENCE_HZ
    embeddings = []
    tensors = []
    with torch.inference_mode():
        for audio in recordings:
            t = torch.from_numpy(np.ascontiguousarray(audio[: rate * 30]))[None].to(model.device)
            embeddings.append(model.get_speaker_embedding(t, rate))
            tensors.append(t)
        latent = model.get_gpt_cond_latents(torch.cat(tensors, dim=-1), rate, length=GPT_COND_S, chunk_length=6)
    return latent.cpu(), torch.stack(embeddings).mean(dim=0).cpu()


def prepare_voice(
    model_dir: str | Path, recordings: Sequence[str | Path], out: str | Path, *, device: str = "auto"
) -> dict[str, Any]:
    """Clone a voice once: compute XTTS's speaker conditioning from ``recordings`` and save it in ``out``
    (``voice.pt``, ``voice.json``). Returns what ``voice.json`` says. Raises :class:`VoiceError`."""
    import torch

    if not recordings:
        raise VoiceError(str(out), "no recordings given: name the presenter's WAV files (a few sentences or more)")
    kind, model = load_model(model_dir, device)
    if kind != "xtts":
        raise VoiceError(
            str(model_dir), f"a {kind} model does not clone voices: pick one of its speakers with speaker:"
        )
    audio = read_recordings(recordings)
    began = time.monotonic()
    latent, embedding = xtts_conditioning(model, audio)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"gpt_cond_latent": latent, "speaker_embedding": embedding}, out / VOICE_TENSORS)
    meta = {
        "model": str(Path(model_dir).resolve()),
        "model_fingerprint": fingerprint(model_dir),
        "recordings": [str(Path(p)) for p in recordings],
        "seconds": round(sum(a.size for a in audio) / XTTS_REFERENCE_HZ, 2),
        "conditioning_s": round(time.monotonic() - began, 3),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    (out / VOICE_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def prepared_voice_problem(voice_dir: str | Path, model_dir: str | Path | None = None) -> str | None:
    """Why a prepared voice folder cannot be used (None: it can). ``model_dir``: warn-worthy mismatch is not an
    error here; only missing or unreadable files are."""
    folder = Path(voice_dir)
    if not (folder / VOICE_TENSORS).is_file():
        return f"no {VOICE_TENSORS} in {folder}: make it with run_stream.py prepare-voice recordings/*.wav -o {folder}"
    try:
        json.loads((folder / VOICE_META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{folder / VOICE_META} cannot be read ({exc}): prepare the voice again"
    return None


class _Stop:
    """A ``transformers`` stopping criterion: ends XTTS's generation when an answer needs the engine (``stop``) or
    when the sentence runs past ``max_tokens`` new tokens."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.stopped = threading.Event()
        self.too_long = False
        self._start: int | None = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        length = int(input_ids.shape[-1])
        if self._start is None:
            self._start = length
        if length - self._start >= self.max_tokens:
            self.too_long = True
        done = self.stopped.is_set() or self.too_long
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class CoquiVoice(PiperSafetyNet, VoiceBase):
    """See the module docstring. ``fallback``: the voice for failed sentences and mouth timing (default: Piper with
    the settings' ``fallback_voice``, or none; tests pass another)."""

    def __init__(self, settings: CoquiVoiceSettings, *, fallback: VoiceBackend | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.name = f"coqui:{Path(settings.model_dir).name}"
        self._fallback = fallback
        self._turn = EngineTurn()
        self.kind: str | None = None
        self.device = "cpu"
        self._model: Any = None
        self._latent: Any = None
        self._embedding: Any = None
        self._rate = 0
        self.load_s: float | None = None
        self.preempted = 0

    # ---- loading -------------------------------------------------------------------------------------------

    def load(self) -> None:
        began = time.monotonic()
        s = self.settings
        kind, model = load_model(s.model_dir, s.device)
        self.kind, self._model = kind, model
        self.device = str(getattr(model, "device", "cpu"))
        if kind == "xtts":
            self._rate = int(model.args.output_sample_rate)
            self._load_speaker()
            languages = model_languages(s.model_dir)
            lang = self._language()
            if languages and lang not in languages:
                raise VoiceError(self.name, f"the model does not speak {lang!r} (it speaks {', '.join(languages)})")
        else:
            self._rate = int(model.config.audio.sample_rate)
            model.length_scale = 1.0 / s.speed
        self._load_fallback(s.fallback_voice, s.speed)
        self.load_s = time.monotonic() - began
        log.info("voice %s (%s) loaded on %s in %.1f s", self.name, kind, self.device, self.load_s)

    def _load_speaker(self) -> None:
        """XTTS's conditioning: the prepared voice, else cloned from ``speaker_wav`` now, else a built-in speaker."""
        import torch

        s = self.settings
        if s.voice_dir:
            why = prepared_voice_problem(s.voice_dir)
            if why:
                raise VoiceError(self.name, why)
            data = torch.load(Path(s.voice_dir) / VOICE_TENSORS, map_location="cpu", weights_only=True)
            self._latent, self._embedding = data["gpt_cond_latent"], data["speaker_embedding"]
            meta = json.loads((Path(s.voice_dir) / VOICE_META).read_text(encoding="utf-8"))
            if meta.get("model_fingerprint") != fingerprint(s.model_dir):
                log.warning(
                    "voice %s: %s was prepared with another model (%s); prepare it again for this one",
                    self.name,
                    s.voice_dir,
                    meta.get("model"),
                )
        elif s.speaker_wav:
            self._latent, self._embedding = xtts_conditioning(self._model, read_recordings(s.speaker_wav))
        elif s.speaker:
            manager = getattr(self._model, "speaker_manager", None)
            speakers = getattr(manager, "speakers", None) or {}
            if s.speaker not in speakers:
                known = ", ".join(sorted(speakers)[:10]) or "none"
                raise VoiceError(self.name, f"the model has no speaker {s.speaker!r} (it has: {known})")
            self._latent = speakers[s.speaker]["gpt_cond_latent"]
            self._embedding = speakers[s.speaker]["speaker_embedding"]
        else:
            raise VoiceError(
                self.name, "XTTS needs a voice: voice_dir (from prepare-voice), speaker_wav recordings, or speaker"
            )

    #: Whether a generation stopped at :meth:`_token_budget` is a failure (voiced by the fallback). The bench's
    #: random-weight XTTS, whose GPT never emits its stop token, ends every sentence at its budget instead.
    runaway_is_failure = True

    def _token_budget(self, text: str) -> int:
        """The most audio tokens one sentence may take: the longest plausible reading of ``text``."""
        han = sum(1 for ch in text if is_han(ch) or "\u3040" <= ch <= "\u30ff")
        seconds = han * MAX_S_PER_HAN + (len(text) - han) * MAX_S_PER_CHAR + MAX_EXTRA_S
        return int(seconds * XTTS_TOKENS_PER_S)

    def _language(self) -> str:
        return xtts_language(self.settings.language or "en")

    # ---- voicing -------------------------------------------------------------------------------------------

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        if self._model is None:
            raise VoiceError(self.name, "synthesize() called before load()")
        if not text.strip():
            return Speech.empty()
        stop = _Stop(self._token_budget(text))
        self._turn.acquire(urgent=urgent, stop=stop.stopped.set)
        began = time.monotonic()
        try:
            try:
                audio = self._run(text, stop)
            except Exception as exc:  # torch and the library raise assorted types; air must not go silent
                if stop.stopped.is_set():
                    self.preempted += 1
                    raise VoicePreempted(text[:60]) from exc
                return self._fall_back(text, f"{type(exc).__name__}: {exc}", urgent=urgent)
            if stop.stopped.is_set():
                self.preempted += 1
                raise VoicePreempted(text[:60])
            if stop.too_long and self.runaway_is_failure:
                return self._fall_back(text, "the model ran past the sentence's length", urgent=urgent)
            speech = speech_from_audio(audio, rate_hz=self._rate, text=text)
            if speech.samples == 0:
                return self._fall_back(text, "the model made no audio", urgent=urgent)
            speech = self._with_reference_mouth(text, speech, urgent=urgent)
            self.speed.record(synthesis_s=time.monotonic() - began, audio_s=speech.duration_s)
            return speech
        finally:
            self._turn.release()

    def _run(self, text: str, stop: _Stop) -> np.ndarray:
        import torch
        from transformers import StoppingCriteriaList

        s = self.settings
        model = self._model
        with torch.inference_mode():
            if self.kind == "xtts":
                out = model.inference(
                    text,
                    self._language(),
                    self._latent,
                    self._embedding,
                    temperature=s.temperature,
                    speed=s.speed,
                    enable_text_splitting=False,
                    stopping_criteria=StoppingCriteriaList([stop]),
                )
            else:
                out = model.synthesize(text, speaker=s.speaker, language=s.language)
        wav = out["wav"]
        if hasattr(wav, "detach"):
            wav = wav.detach().cpu().numpy()
        return np.asarray(wav, dtype=np.float32).reshape(-1)

    def stats(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "device": self.device,
            "fallbacks": self.fallbacks,
            "preempted": self.preempted,
            "mouths_aligned": self.mouths_aligned,
            "last_error": self.last_error,
            **self.speed.snapshot(),
        }
