"""The embedded Piper voice as the safety net of a voice that has none of its own (the speech endpoint, Coqui).

A sentence the voice fails is voiced by the fallback instead, so air is never silent (:meth:`PiperSafetyNet.
_fall_back`, counted in ``fallbacks``, the cause in ``last_error``); and, as the voice gives no phoneme timing, the
fallback's rendition of each sentence times the mouth on the voice's own audio (:meth:`_with_reference_mouth`, see
:func:`streamer.voice.align.with_reference_mouth`, counted in ``mouths_aligned``).
"""

from __future__ import annotations

import logging

from streamer.config import PiperVoiceSettings
from streamer.voice.align import with_reference_mouth
from streamer.voice.base import Speech, VoiceBackend, VoiceError

log = logging.getLogger(__name__)


class PiperSafetyNet:
    """Mixin for a voice backend (before :class:`~streamer.voice.base.VoiceBase` in its bases). The backend sets
    ``_fallback`` (a voice tests pass, or None) in ``__init__`` and calls :meth:`_load_fallback` in ``load``."""

    name: str
    _fallback: VoiceBackend | None = None
    fallbacks: int = 0
    """Sentences voiced by the fallback."""
    mouths_aligned: int = 0
    """Sentences whose mouth was timed on the fallback's rendition."""
    last_error: str | None = None
    """Why the last fallback happened."""

    def _load_fallback(self, voice: str | None, speed: float) -> None:
        """Load the fallback: the one given at construction, else the Piper ``voice`` (None: no fallback)."""
        if self._fallback is None and voice:
            from streamer.voice.piper import PiperVoiceBackend

            self._fallback = PiperVoiceBackend(PiperVoiceSettings(voice=voice, speed=speed))
        if self._fallback is not None:
            self._fallback.load()

    def _fall_back(self, text: str, why: str, *, urgent: bool) -> Speech:
        self.fallbacks += 1
        self.last_error = why[:200]
        log.warning("voice %s failed (%s); this sentence is voiced by the fallback voice", self.name, self.last_error)
        if self._fallback is None:
            raise VoiceError(self.name, f"{why}, and no fallback voice is set (fallback_voice)")
        return self._fallback.synthesize(text, urgent=urgent)

    def _with_reference_mouth(self, text: str, speech: Speech, *, urgent: bool) -> Speech:
        timed = with_reference_mouth(speech, text, self._fallback, urgent=urgent) if self._fallback else None
        if timed is None:
            return speech
        self.mouths_aligned += 1
        return timed
