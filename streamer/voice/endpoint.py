"""``backend: endpoint``: any OpenAI-compatible speech endpoint (``POST {base_url}/audio/speech``), with the
embedded Piper voice as the safety net.

Each sentence is one request (``model``, ``voice``, ``input``, ``response_format: pcm``: 16-bit mono at
``rate_hz``, read as it streams in), under one deadline (``timeout_s``) for the whole answer. The key comes from the
environment variable named by ``api_key_env`` and goes only into the ``Authorization`` header: never into logs,
errors or status.

When the endpoint fails (refused, an HTTP error, a body that is not audio, too slow), that sentence is voiced by
the fallback Piper voice, loaded at start for that purpose, so air is never silent; the status counts each
fallback and names the last error.

The endpoint gives no phoneme timing. The mouth is timed on its audio all the same: the fallback voice also says
the sentence, with its timing, and its viseme keys are moved onto the endpoint's audio through a spectral alignment
of the two renditions (:mod:`streamer.voice.align`; ``mouth_from_reference``, on by default, costs one Piper
synthesis a sentence, about 0.15 of its length on two cores). Without it, the keys are spread over the voiced part
by the text's spelling (:func:`~streamer.voice.audio.speech_from_audio`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np

from streamer.config import EndpointVoiceSettings
from streamer.voice.audio import speech_from_audio
from streamer.voice.base import Speech, VoiceBackend, VoiceBase, VoiceError
from streamer.voice.fallback import PiperSafetyNet

log = logging.getLogger(__name__)

#: Read the streamed body in pieces of this many bytes (about 40 ms of 24 kHz audio).
CHUNK_BYTES = 2048


class EndpointVoice(PiperSafetyNet, VoiceBase):
    """See the module docstring. ``fallback``: the voice used when the endpoint fails (default: Piper with the
    settings' ``fallback_voice``; tests pass another)."""

    def __init__(self, settings: EndpointVoiceSettings, *, fallback: VoiceBackend | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.name = f"endpoint:{settings.voice}"
        self._fallback = fallback
        self.requests = 0

    # ---- loading -------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the fallback voice (the endpoint itself is asked nothing until the first sentence)."""
        self._load_fallback(self.settings.fallback_voice, self.settings.speed)

    def _key(self) -> str | None:
        env = self.settings.api_key_env
        if not env:
            return None
        return os.environ.get(env) or None

    # ---- voicing -------------------------------------------------------------------------------------------

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        if not text.strip():
            return Speech.empty()
        began = time.monotonic()
        self.requests += 1
        try:
            pcm, first_s = self._request(text)
        except VoiceError as exc:
            return self._fall_back(text, exc.cause, urgent=urgent)
        speech = speech_from_audio(pcm.astype(np.float32) / 32768.0, rate_hz=self.settings.rate_hz, text=text)
        if speech.samples == 0:
            return self._fall_back(text, "the endpoint returned no audio", urgent=urgent)
        if self.settings.mouth_from_reference:
            speech = self._with_reference_mouth(text, speech, urgent=urgent)
        self.speed.record(synthesis_s=time.monotonic() - began, audio_s=speech.duration_s, first_audio_s=first_s)
        return speech

    def _request(self, text: str) -> tuple[np.ndarray, float | None]:
        """The endpoint's audio for ``text`` as int16 samples at ``rate_hz``, and when its first bytes came;
        raises :class:`VoiceError` (never with the key in it)."""
        s = self.settings
        body: dict[str, Any] = {
            "model": s.model,
            "voice": s.voice,
            "input": text,
            "response_format": "pcm",
        }
        if s.speed != 1.0:
            body["speed"] = s.speed
        headers = {"Content-Type": "application/json", "Accept": "audio/pcm, application/octet-stream"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            s.base_url.rstrip("/") + "/audio/speech", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        began = time.monotonic()
        deadline = began + s.timeout_s
        first_s: float | None = None
        try:
            with urllib.request.urlopen(request, timeout=s.timeout_s) as response:
                kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if kind.startswith(("application/json", "text/")):
                    raise VoiceError(self.name, f"the endpoint answered {kind}, not audio")
                data = bytearray()
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise VoiceError(self.name, f"no complete answer within {s.timeout_s:g} s")
                    _set_read_timeout(response, left)
                    chunk = response.read1(CHUNK_BYTES) if hasattr(response, "read1") else response.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    if first_s is None:
                        first_s = time.monotonic() - began
                    data += chunk
                    if len(data) > s.max_seconds * s.rate_hz * 2:
                        raise VoiceError(self.name, f"the answer is longer than {s.max_seconds:g} s of audio")
        except VoiceError:
            raise
        except urllib.error.HTTPError as exc:
            raise VoiceError(self.name, f"the endpoint answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise VoiceError(self.name, f"the endpoint did not answer ({reason})") from None
        if len(data) % 2:
            data = data[:-1]
        return np.frombuffer(bytes(data), dtype="<i2").astype(np.int16), first_s

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "fallbacks": self.fallbacks,
            "mouths_aligned": self.mouths_aligned,
            "last_error": self.last_error,
            **self.speed.snapshot(),
        }


def _set_read_timeout(response: Any, seconds: float) -> None:
    """Each read waits at most what is left of the sentence's deadline."""
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(0.05, seconds))
        except OSError:
            pass
