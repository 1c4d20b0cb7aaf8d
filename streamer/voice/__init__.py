"""Voice stage: text to 48 kHz speech with viseme keys on the same clock.

Backends (one file each) implement :class:`VoiceBackend`; :func:`create_voice` picks one from the persona's
:class:`~streamer.config.VoiceSettings`. :mod:`streamer.voice.visemes` turns the keys into per-frame mouth poses.
"""

from streamer.voice.base import Speech, VoiceBackend, VoiceError, create_voice
from streamer.voice.visemes import mouth_pose, track_from_phonemes, viseme_for_phoneme

__all__ = [
    "Speech",
    "VoiceBackend",
    "VoiceError",
    "create_voice",
    "mouth_pose",
    "track_from_phonemes",
    "viseme_for_phoneme",
]
