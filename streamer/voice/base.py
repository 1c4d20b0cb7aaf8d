"""The voice stage's backend interface: text in, 48 kHz speech plus viseme keys out.

A backend is loaded once (``load``, blocking, may take seconds) and then voices one sentence at a time
(``synthesize``, blocking). The app runs both in a worker thread; a backend never touches the event loop.
"""

from __future__ import annotations

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
    """From a streaming synthesis: the end of ``pcm`` is still being decoded (see :class:`PcmFill`)."""

    @property
    def samples(self) -> int:
        return int(self.pcm.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples / AUDIO_RATE_HZ

    @classmethod
    def empty(cls) -> Speech:
        return cls(pcm=np.zeros(0, np.int16), visemes=VisemeTrack.silent())


@runtime_checkable
class VoiceBackend(Protocol):
    """A text-to-speech engine.

    Contract: ``load`` must be called once before ``synthesize``; both block and belong in a worker thread.
    ``synthesize`` is called from one thread at a time; it returns int16 mono PCM at ``AUDIO_RATE_HZ`` and a
    :class:`VisemeTrack` whose starts are sample offsets into that PCM. It raises :class:`VoiceError`, never
    a backend-specific exception. Empty or unpronounceable text gives :meth:`Speech.empty`.
    ``urgent``: a viewer is waiting for this sentence (an answer). A backend that can may stop a non-urgent
    synthesis already running (which then raises :class:`VoicePreempted`) and voices the urgent one first.
    """

    name: str

    def load(self) -> None: ...

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech: ...


def create_voice(settings: VoiceSettings) -> VoiceBackend:
    """The backend named by ``settings.backend``, not yet loaded (call ``load()`` in a worker thread)."""
    if settings.backend == "silence":
        from streamer.voice.silence import SilenceVoice

        return SilenceVoice(settings)
    if settings.backend == "piper":
        # Imported here so the silence backend (tests, benchmarks) never pays for onnxruntime.
        from streamer.voice.piper import PiperVoiceBackend

        return PiperVoiceBackend(settings)
    raise VoiceError(settings.voice, f"unknown voice backend {settings.backend!r} (known: piper, silence)")
