"""The voice stage's backend interface: text in, 48 kHz speech plus viseme keys out, and how fast that is.

A backend is loaded once (``load``, blocking, may take seconds) and then voices one sentence at a time
(``synthesize``, blocking). The app runs both in a worker thread; a backend never touches the event loop.

Streaming: a backend whose ``streams`` is True can hand a sentence over before all of it is synthesised
(``synthesize_streaming``): the :class:`Speech` it returns already has its full length and mouth track, and its
``filling`` (:class:`~streamer.frames.PcmFill`) says how many samples of ``pcm`` are final while the backend's own
worker writes the rest, ahead of the media clock. That needs the sentence's length before its audio (a duration
predictor: VITS/Piper). An engine that yields audio chunks of a length not known in advance (XTTS, an HTTP stream)
returns whole sentences: ``streams = False``, and ``synthesize_streaming`` is ``synthesize`` (:class:`VoiceBase`).

Speed: every backend measures itself in ``speed`` (:class:`VoiceSpeed`: real-time factor and time to first audio,
over recent sentences); the speaker voices further ahead for a slower voice.

A new backend is one file: a class on :class:`VoiceBase` taking its settings (a
:class:`~streamer.config.VoiceSettings` subclass in :mod:`streamer.config`), named in :data:`VOICE_BACKENDS`.
:mod:`streamer.voice.audio` has the shared audio steps (resampling, loudness, estimated mouth timing).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from streamer.config import VoiceSettings
from streamer.frames import AUDIO_RATE_HZ, PcmFill, VisemeTrack


class VoicePreempted(Exception):
    """A sentence's synthesis was abandoned half-way because an urgent one (an answer) needed the engine; voice
    it again later. Only raised for ``synthesize(..., urgent=False)`` on backends that can stop mid-run."""


class VoiceError(RuntimeError):
    """Loading a voice or voicing a sentence failed. The message names the voice and the cause."""

    def __init__(self, voice: str, cause: str) -> None:
        super().__init__(f"voice {voice!r}: {cause}")
        self.voice = voice
        self.cause = cause


@dataclass(slots=True)
class Speech:
    """One voiced text: mono int16 PCM at ``AUDIO_RATE_HZ`` and its viseme keys on the same sample clock.

    ``aligned`` is False when the viseme timing was estimated (no phoneme alignments from the model).
    """

    pcm: np.ndarray  # int16, shape (samples,)
    visemes: VisemeTrack
    aligned: bool = True
    filling: PcmFill | None = None
    """From a streaming synthesis: the end of ``pcm`` is still being decoded (see :class:`PcmFill`). The array's
    length and the viseme track are final; only ``filling.ready`` samples are, until ``filling.done``."""

    @property
    def samples(self) -> int:
        return int(self.pcm.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples / AUDIO_RATE_HZ

    @classmethod
    def empty(cls) -> Speech:
        return cls(pcm=np.zeros(0, np.int16), visemes=VisemeTrack.silent())


class VoiceSpeed:
    """How fast a voice synthesises, measured on the sentences it voiced (not its speaking pace, which is
    ``settings.speed``).

    ``rtf``: the real-time factor, seconds of synthesis per second of audio (0.15: six times faster than it is
    spoken; 2.0: twice as slow). ``first_audio_s``: seconds from the start of a sentence's synthesis to its first
    playable audio (the whole synthesis, unless the voice streams). Both are exponentially weighted over recent
    sentences (a sentence ``half_life`` sentences ago counts half), so they follow a machine that gets busier; the
    RTF weighs sentences by length (it is the ratio of the weighted synthesis and audio seconds), so a fixed
    overhead on a short "Yes!" does not swing it. None until a sentence was measured.

    Written by the voice's worker threads (:meth:`record`, once per sentence voiced in full, never for one that
    failed or was preempted), read from the event loop: one lock around each.
    """

    def __init__(self, *, half_life: float = 8.0) -> None:
        if half_life <= 0:
            raise ValueError("half_life must be positive")
        self._keep = 0.5 ** (1.0 / half_life)
        self._lock = threading.Lock()
        self._synthesis_s = 0.0  # weighted sums
        self._audio_s = 0.0
        self._first_s = 0.0
        self._weight = 0.0
        self.sentences = 0
        """Sentences measured."""
        self.total_synthesis_s = 0.0
        self.total_audio_s = 0.0

    def record(self, *, synthesis_s: float, audio_s: float, first_audio_s: float | None = None) -> None:
        """One sentence voiced in full: ``synthesis_s`` seconds of work gave ``audio_s`` seconds of audio, the first
        of it playable after ``first_audio_s`` (default: ``synthesis_s``, a voice that does not stream). A sentence
        with no audio is not counted."""
        if audio_s <= 0:
            return
        synthesis_s = max(0.0, synthesis_s)
        first = synthesis_s if first_audio_s is None else max(0.0, first_audio_s)
        with self._lock:
            k = self._keep
            self._synthesis_s = self._synthesis_s * k + synthesis_s
            self._audio_s = self._audio_s * k + audio_s
            self._first_s = self._first_s * k + first
            self._weight = self._weight * k + 1.0
            self.sentences += 1
            self.total_synthesis_s += synthesis_s
            self.total_audio_s += audio_s

    @property
    def rtf(self) -> float | None:
        with self._lock:
            return self._synthesis_s / self._audio_s if self._audio_s > 0 else None

    @property
    def first_audio_s(self) -> float | None:
        with self._lock:
            return self._first_s / self._weight if self._weight > 0 else None

    def snapshot(self) -> dict[str, float | int | None]:
        """For metrics and the dashboard: rtf, first_audio_s, sentences, total seconds of synthesis and audio."""
        with self._lock:
            return {
                "rtf": self._synthesis_s / self._audio_s if self._audio_s > 0 else None,
                "first_audio_s": self._first_s / self._weight if self._weight > 0 else None,
                "sentences": self.sentences,
                "synthesis_s": self.total_synthesis_s,
                "audio_s": self.total_audio_s,
            }


class EngineTurn:
    """Whose turn it is on a voice engine that voices one sentence at a time, with answers first.

    :meth:`acquire` waits until the engine is free. An urgent caller (an answer a viewer waits for) calls the
    running non-urgent synthesis's ``stop`` (which makes it end early and raise :class:`VoicePreempted`) and goes
    before non-urgent callers already waiting. :meth:`release` hands the engine on. Shared by the backends that can
    stop a synthesis mid-run (Piper between graph nodes, Coqui between generated tokens)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0
        self._stop_running: Callable[[], None] | None = None
        self._running_urgent = False

    def acquire(self, *, urgent: bool, stop: Callable[[], None] | None = None) -> None:
        """Wait for the engine; ``stop`` is what an urgent caller calls to end this (non-urgent) run early."""
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
                if self._busy and not self._running_urgent and self._stop_running is not None:
                    self._stop_running()
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    self._cond.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            self._busy = True
            self._stop_running, self._running_urgent = stop, urgent

    def release(self) -> None:
        with self._cond:
            self._busy = False
            self._stop_running = None
            self._cond.notify_all()


@runtime_checkable
class VoiceBackend(Protocol):
    """A text-to-speech engine.

    Contract: ``load`` must be called once before ``synthesize``; both block and belong in a worker thread.
    ``synthesize`` is called from one thread at a time; it returns int16 mono PCM at ``AUDIO_RATE_HZ`` and a
    :class:`VisemeTrack` whose starts are sample offsets into that PCM. It raises :class:`VoiceError`, never
    a backend-specific exception. Empty or unpronounceable text gives :meth:`Speech.empty`.
    ``urgent``: a viewer is waiting for this sentence (an answer). A backend that can may stop a non-urgent
    synthesis already running (which then raises :class:`VoicePreempted`) and voices the urgent one first.
    ``synthesize_streaming``: the same speech, possibly handed over before all of it is made (``Speech.filling``;
    see the module docstring); only where ``streams`` is True. ``speed``: measured as sentences are voiced.
    :class:`VoiceBase` gives the defaults (no streaming, a fresh meter).
    """

    name: str

    @property
    def streams(self) -> bool: ...

    @property
    def speed(self) -> VoiceSpeed: ...

    def load(self) -> None: ...

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech: ...

    def synthesize_streaming(self, text: str, *, urgent: bool = False) -> Speech: ...


class VoiceBase:
    """Defaults for a :class:`VoiceBackend`: nothing to load, no streaming (``synthesize_streaming`` voices the
    sentence whole), a :class:`VoiceSpeed` the subclass records into. Subclasses set ``name`` and implement
    ``synthesize``; they call ``super().__init__()``."""

    name = "voice"

    def __init__(self) -> None:
        self._speed = VoiceSpeed()

    @property
    def speed(self) -> VoiceSpeed:
        """How fast this voice synthesises (see :class:`VoiceSpeed`)."""
        return self._speed

    @property
    def streams(self) -> bool:
        """Whether :meth:`synthesize_streaming` may hand a sentence over before all of it is made."""
        return False

    def load(self) -> None:
        return None

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        raise NotImplementedError

    def synthesize_streaming(self, text: str, *, urgent: bool = False) -> Speech:
        return self.synthesize(text, urgent=urgent)


VOICE_BACKENDS: dict[str, str] = {
    "piper": "streamer.voice.piper:PiperVoiceBackend",
    "silence": "streamer.voice.silence:SilenceVoice",
    "endpoint": "streamer.voice.endpoint:EndpointVoice",
    "coqui": "streamer.voice.coqui:CoquiVoice",
}
"""``backend`` -> ``module:class`` of its implementation, imported on first use (a show that does not use Piper never
imports onnxruntime). The one place that names every voice backend's code; their settings are in
:data:`streamer.config.VOICE_SETTINGS`."""


def create_voice(settings: VoiceSettings) -> VoiceBackend:
    """The backend named by ``settings.backend``, not yet loaded (call ``load()`` in a worker thread)."""
    where = VOICE_BACKENDS.get(settings.backend)
    if where is None:
        known = ", ".join(VOICE_BACKENDS)
        raise VoiceError(settings.backend, f"unknown voice backend {settings.backend!r} (known: {known})")
    module, _, name = where.partition(":")
    backend: VoiceBackend = getattr(importlib.import_module(module), name)(settings)
    return backend
