"""``backend: endpoint`` against a fake OpenAI-compatible speech endpoint on loopback with scripted answers, delays
and failures: the request it makes, the speech it returns (48 kHz, mouth keys over the voiced part), and the
fallback voice taking every sentence the endpoint cannot voice in time, so air is never silent."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from streamer.config import EndpointVoiceSettings, SilenceVoiceSettings, VoiceSettings
from streamer.frames import AUDIO_RATE_HZ, Viseme
from streamer.voice.endpoint import EndpointVoice
from streamer.voice.silence import SilenceVoice

KEY = "sk-test-secret-0123456789"


def tone(seconds: float, rate: int = 24_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * 220 * t) * 12_000).astype("<i2")
    return b"\x00\x00" * (rate // 10) + pcm.tobytes() + b"\x00\x00" * (rate // 10)  # 0.1 s of silence each side


class Script:
    """What the fake endpoint does with the next request: ``ok``, ``http500``, ``hang``, ``stall`` (first bytes,
    then nothing), ``json`` (200 with an error object)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.seconds = 1.0
        self.audio: bytes | None = None
        """What to answer instead of a tone (24 kHz PCM)."""
        self.requests: list[dict[str, Any]] = []


@contextlib.contextmanager
def fake_endpoint(script: Script) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            mode = script.mode
            if mode == "http500":
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"boom")
                return
            if mode == "json":
                payload = b'{"error": {"message": "quota"}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if mode == "hang":
                time.sleep(3.0)
            audio = script.audio if script.audio is not None else tone(script.seconds)
            self.send_response(200)
            self.send_header("Content-Type", "audio/pcm")
            self.end_headers()
            with contextlib.suppress(OSError):
                for i in range(0, len(audio), 4800):  # streamed in 0.1 s pieces
                    self.wfile.write(audio[i : i + 4800])
                    self.wfile.flush()
                    if mode == "stall" and i > 0:
                        time.sleep(3.0)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def voice_for(url: str, monkeypatch: pytest.MonkeyPatch, timeout_s: float = 2.0) -> tuple[EndpointVoice, SilenceVoice]:
    monkeypatch.setenv("TTS_TEST_KEY", KEY)
    settings = VoiceSettings.model_validate(
        {
            "backend": "endpoint",
            "base_url": url,
            "model": "tts-1",
            "voice": "alloy",
            "api_key_env": "TTS_TEST_KEY",
            "timeout_s": timeout_s,
        }
    )
    assert isinstance(settings, EndpointVoiceSettings)
    fallback = SilenceVoice(SilenceVoiceSettings())
    voice = EndpointVoice(settings, fallback=fallback)
    voice.load()
    return voice, fallback


@pytest.mark.integration
def test_the_endpoint_voices_a_sentence_at_48_khz_with_mouth_keys_and_the_key_only_in_its_header(monkeypatch):
    script = Script()
    with fake_endpoint(script) as url:
        voice, _ = voice_for(url, monkeypatch)
        speech = voice.synthesize("Hello there, the tea is 12 dollars today.")
    req = script.requests[0]
    assert req["path"] == "/v1/audio/speech" and req["auth"] == f"Bearer {KEY}"
    assert req["body"] == {
        "model": "tts-1",
        "voice": "alloy",
        "input": "Hello there, the tea is 12 dollars today.",
        "response_format": "pcm",
    }
    assert abs(speech.duration_s - 1.2) < 0.01  # 1 s of tone and 0.2 s of silence, resampled to 48 kHz
    assert speech.pcm.dtype == np.int16 and AUDIO_RATE_HZ == 48_000
    assert not speech.aligned and len(speech.visemes.starts) > 5
    # The mouth moves over the voiced part only: its first key after the leading silence.
    voiced = [int(s) for s, v in zip(speech.visemes.starts, speech.visemes.visemes, strict=True) if v != Viseme.REST]
    assert voiced and voiced[0] >= int(0.09 * AUDIO_RATE_HZ)
    assert voice.fallbacks == 0 and voice.speed.rtf is not None


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["http500", "json", "hang", "stall", "refused"])
def test_every_failure_is_voiced_by_the_fallback_within_the_deadline_and_never_shows_the_key(mode, monkeypatch):
    script = Script()
    script.mode = mode
    with fake_endpoint(script) as url:
        if mode == "refused":
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"  # nothing listens there now
        voice, _ = voice_for(url, monkeypatch, timeout_s=0.8)
        began = time.monotonic()
        speech = voice.synthesize("Thanks for joining, Mia!")
        took = time.monotonic() - began
    print(f"\nendpoint {mode}: fallback after {took:.2f} s ({voice.last_error})")
    assert voice.fallbacks == 1 and speech.samples > 0  # the silence voice: as long as the sentence takes to say
    assert took < 1.3  # the one deadline (0.8 s), not the endpoint's 3 s
    assert voice.last_error and KEY not in voice.last_error
    assert KEY not in json.dumps(voice.stats())


def test_check_warns_of_an_unset_key_and_refuses_a_fallback_voice_that_cannot_load(monkeypatch, tmp_path):
    from streamer.voice.check import voice_problems

    monkeypatch.delenv("NO_SUCH_TTS_KEY", raising=False)
    settings = VoiceSettings.model_validate(
        {"backend": "endpoint", "base_url": "https://tts.example/v1", "api_key_env": "NO_SUCH_TTS_KEY"}
    )
    problems = voice_problems(settings, language="en", file="host.yaml", line=4)
    assert [(p.field, p.severity) for p in problems] == [("voice.api_key_env", "warning")]
    assert "NO_SUCH_TTS_KEY is not set" in problems[0].message
    broken = VoiceSettings.model_validate(
        {"backend": "endpoint", "base_url": "https://tts.example/v1", "api_key_env": None, "fallback_voice": "xx"}
    )
    [problem] = voice_problems(broken, language="en", file="host.yaml", line=4)
    assert problem.field == "voice.fallback_voice" and problem.severity == "error"
    assert problem.message.startswith("the fallback voice: voice 'xx' cannot load")
    with pytest.raises(ValueError):
        VoiceSettings.model_validate({"backend": "endpoint", "base_url": "ftp://tts.example"})


@pytest.mark.integration
def test_a_live_show_speaks_through_the_endpoint_and_the_fallback_covers_an_outage(monkeypatch, tmp_path):
    """12 s of a real channel: its sentences come from the endpoint; from 6 s the endpoint answers 500 and the
    fallback (here the silence voice, so no Piper load) voices the rest. Nothing goes quiet: the host keeps talking."""
    import asyncio

    from streamer.app import Channel, ChannelSpec
    from streamer.brain.embed import preload_model_libraries
    from streamer.config import StreamConfig
    from streamer.loading import load_persona
    from streamer.publish.sinks import parse_target

    from .conftest import REPO

    assert preload_model_libraries()
    script = Script()
    script.seconds = 1.5
    with fake_endpoint(script) as url:
        voice, _ = voice_for(url, monkeypatch, timeout_s=2.0)
        persona = load_persona(REPO / "personas/host.yaml")[0]
        config = StreamConfig.model_validate(
            {"video": {"width": 426, "height": 240, "fps": 15}, "preview": {"enabled": False}, "show": {"seed": 3}}
        )
        channel = Channel(
            ChannelSpec(
                name="endpoint",
                config=config,
                persona=persona,
                products=str(REPO / "products"),
                outputs=[parse_target(str(tmp_path / "o.flv"))],
                duration_s=12,
            ),
            voice=voice,
        )

        async def main() -> int:
            async def outage() -> None:
                await asyncio.sleep(6.0)
                script.mode = "http500"

            task = asyncio.create_task(outage())
            code = await channel.run()
            task.cancel()
            return code

        code = asyncio.run(main())
    spoken = [h for h in channel.spoken if h.kind in ("patter", "disclosure", "reply")]
    print(f"\nendpoint show: {voice.requests} requests, {voice.fallbacks} voiced by the fallback, {len(spoken)} spoken")
    assert code == 0 and voice.requests >= 2 and len(spoken) >= 2
    assert voice.requests - voice.fallbacks >= 1  # the endpoint's own voice was on air
    assert all(r["body"]["model"] == "tts-1" for r in script.requests)


@pytest.mark.integration
def test_the_endpoint_s_mouth_is_timed_on_its_own_sounds_through_the_fallback_voice_s_rendition(monkeypatch):
    """The endpoint answers with Piper at 0.8 speed (24 kHz, through another channel); the fallback Piper at normal
    speed gives the reference timing. The mouth keys on the endpoint's audio match that audio's own alignment."""
    from streamer.voice.resample import resample

    from .test_voice_align import other_channel, per_frame, piper

    text = "This cat bed is sixty centimetres across and it is machine washable."
    truth = piper(0.8).synthesize(text)
    heard = other_channel(truth.pcm)
    script = Script()
    script.audio = np.clip(resample(heard.astype(np.float64), 1, 2), -32768, 32767).astype("<i2").tobytes()
    with fake_endpoint(script) as url:
        monkeypatch.setenv("TTS_TEST_KEY", KEY)
        settings = VoiceSettings.model_validate(
            {"backend": "endpoint", "base_url": url, "api_key_env": "TTS_TEST_KEY", "timeout_s": 5.0}
        )
        voice = EndpointVoice(settings, fallback=piper(1.0))
        voice.load()
        speech = voice.synthesize(text)
    assert voice.fallbacks == 0 and voice.mouths_aligned == 1 and speech.aligned
    n = min(speech.samples, truth.samples) // 480
    match = float(np.mean(per_frame(speech.visemes, n)[1] == per_frame(truth.visemes, n)[1]))
    spelled = EndpointVoice(settings.model_copy(update={"mouth_from_reference": False}), fallback=piper(1.0))
    with fake_endpoint(script) as url:
        spelled.settings = spelled.settings.model_copy(update={"base_url": url})
        plain = spelled.synthesize(text)
    plain_match = float(np.mean(per_frame(plain.visemes, n)[1] == per_frame(truth.visemes, n)[1]))
    print(f"\nendpoint mouth: keys as the truth's {match:.2f} aligned, {plain_match:.2f} spelled")
    assert match >= 0.85 and match > plain_match + 0.2
