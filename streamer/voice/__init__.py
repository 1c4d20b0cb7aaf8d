"""Voice stage: text to 48 kHz speech with viseme keys on the same clock.

Backends (one file each) implement :class:`VoiceBackend` (most on :class:`VoiceBase`) and measure their speed
(:class:`VoiceSpeed`); :func:`create_voice` picks one from the persona's :class:`~streamer.config.VoiceSettings`.
:mod:`streamer.voice.audio` has the audio steps they share; :mod:`streamer.voice.visemes` turns the keys into
per-frame mouth poses.
"""

from streamer.voice.base import (
    Speech,
    VoiceBackend,
    VoiceBase,
    VoiceError,
    VoicePreempted,
    VoiceSpeed,
    create_voice,
)
from streamer.voice.visemes import mouth_pose, track_from_phonemes, viseme_for_phoneme

__all__ = [
    "Speech",
    "VoiceBackend",
    "VoiceBase",
    "VoiceError",
    "VoicePreempted",
    "VoiceSpeed",
    "create_voice",
    "mouth_pose",
    "track_from_phonemes",
    "viseme_for_phoneme",
]
