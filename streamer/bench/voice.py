"""How fast a voice speaks on this machine: ``python -m streamer.bench voice --backend piper|coqui|endpoint``.

Voices ``--sentences`` sentences (a show's mix: greetings, prices, long product sentences) one after another, as
the show's voice thread does, and reports JSON:

* ``rtf``: synthesis time over audio length, p50 and p95 (below 1: faster than real time);
* ``first_audio_s``: from asking to the first audio the show can play (a streaming voice hands a sentence over
  while decoding; others when done), p50 and p95, and for a short sentence alone;
* ``load_s``: loading the voice.

``--backend endpoint`` needs ``--base-url`` (and the key in the variable ``--api-key-env`` names): it measures
that endpoint from here, network included.

``--backend coqui`` measures the operator's model with ``--model-dir`` (and ``--voice-dir``, a prepared voice).
Without one (no Coqui weights are packaged anywhere), it builds XTTS v2's full-size architecture with random weights
(:mod:`streamer.bench.coqui_model`), saves it as a model folder, clones a voice for it from a generated recording,
and measures that through the same loading and synthesis path. The compute per second of audio is that of a real
XTTS v2; only the length of each sentence is set differently: the random GPT never emits its stop token, so each
sentence ends at the length a presenter takes to say it (:data:`RANDOM_CHARS_PER_S` characters a second).
``--device cuda`` runs it on a GPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from streamer.stats import percentile

SENTENCES = [
    "Hi everyone, welcome in!",
    "The Calming Donut Cat Bed is 39 dollars today.",
    "It is sixty centimetres across, with a raised rim that cats love to lean on.",
    "The cover comes off and goes in the washing machine, and the base is non-slip and waterproof.",
    "Mia, it ships in 48 hours, and returns are free for thirty days.",
    "Questions? Ask me in the chat.",
    "Tap the card on screen to order.",
    "Our moon lamp has three brightness levels, a warm white light, and a battery that lasts all night.",
    "Thanks for the follow, Leo!",
    "Just so you know, I'm an AI host, and every price I say comes from the product sheet.",
]
SHORT = "Thanks for joining!"
#: How fast a presenter reads (characters a second, spaces included): where the random-weight XTTS ends a sentence.
RANDOM_CHARS_PER_S = 14.0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("voice", help="a voice's real-time factor and time to first audio on this machine")
    p.add_argument("--backend", choices=["piper", "coqui", "endpoint"], default="piper")
    p.add_argument("--sentences", type=int, default=50)
    p.add_argument("--voice", default=None, help="piper: the voice name or .onnx; endpoint: its voice name")
    p.add_argument("--base-url", default=None, help="endpoint: e.g. https://api.openai.com/v1")
    p.add_argument("--model", default="tts-1", help="endpoint: its model")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="endpoint: the variable holding the key")
    p.add_argument(
        "--model-dir", default=None, help="coqui: the model folder (default: XTTS v2's shape with random weights)"
    )
    p.add_argument("--voice-dir", default=None, help="coqui: a voice prepared with prepare-voice")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="coqui: where it runs")


def run_voice(args: argparse.Namespace) -> dict[str, Any]:
    from streamer.config import VoiceSettings
    from streamer.process import bootstrap_process
    from streamer.voice.base import create_voice

    bootstrap_process()
    settings: dict[str, Any] = {"backend": args.backend}
    if args.backend == "piper" and args.voice:
        settings["voice"] = args.voice
    if args.backend == "endpoint":
        if not args.base_url:
            raise SystemExit("error: --backend endpoint needs --base-url (the endpoint to measure)")
        settings.update(base_url=args.base_url, model=args.model, api_key_env=args.api_key_env)
        if args.voice:
            settings["voice"] = args.voice
    random_model = None
    if args.backend == "coqui":
        if args.model_dir is None:
            random_model = tempfile.TemporaryDirectory(prefix="xtts-random-")
            args.model_dir, args.voice_dir = _random_xtts(Path(random_model.name), args.device)
        settings.update(model_dir=args.model_dir, device=args.device, fallback_voice=None)
        if args.voice_dir:
            settings["voice_dir"] = args.voice_dir
    voice = create_voice(VoiceSettings.model_validate(settings))
    if random_model is not None:
        voice = _ends_at_reading_length(voice)
    t0 = time.perf_counter()
    voice.load()
    load_s = time.perf_counter() - t0
    streaming = getattr(voice, "streams", False)
    rtfs: list[float] = []
    firsts: list[float] = []
    audio_lengths: list[float] = []
    for i in range(args.sentences):
        text = SENTENCES[i % len(SENTENCES)]
        t0 = time.perf_counter()
        speech = voice.synthesize_streaming(text) if streaming else voice.synthesize(text)
        first = time.perf_counter() - t0
        if speech.filling is not None:
            speech.filling.done.wait(60.0)
        took = time.perf_counter() - t0
        if speech.samples:
            rtfs.append(took / speech.duration_s)
            firsts.append(first)
            audio_lengths.append(speech.duration_s)
    t0 = time.perf_counter()
    short = voice.synthesize_streaming(SHORT) if streaming else voice.synthesize(SHORT)
    short_first = time.perf_counter() - t0
    if short.filling is not None:
        short.filling.done.wait(60.0)
    out: dict[str, Any] = {
        "what": "voice speed on this machine: synthesis time over audio length, and time to the first playable audio",
        "backend": args.backend,
        "voice": getattr(voice, "name", args.backend),
        "streams": bool(streaming),
        "sentences": len(rtfs),
        "load_s": round(load_s, 2),
        "rtf_p50": round(percentile(rtfs, 0.5), 3) if rtfs else None,
        "rtf_p95": round(percentile(rtfs, 0.95), 3) if rtfs else None,
        "first_audio_s_p50": round(percentile(firsts, 0.5), 3) if firsts else None,
        "first_audio_s_p95": round(percentile(firsts, 0.95), 3) if firsts else None,
        "short_sentence_first_audio_s": round(short_first, 3),
    }
    stats = getattr(voice, "stats", None)
    if callable(stats) and args.backend == "endpoint":
        out["endpoint"] = {k: v for k, v in stats().items() if k in ("requests", "fallbacks", "last_error")}
    if callable(stats) and args.backend == "coqui":
        out["coqui"] = {
            **{k: v for k, v in stats().items() if k in ("kind", "device", "fallbacks", "last_error")},
            "model": "XTTS v2 architecture, random weights" if random_model is not None else args.model_dir,
        }
        out["audio_s_total"] = round(sum(audio_lengths), 1)
    if random_model is not None:
        random_model.cleanup()
    return out


def _random_xtts(root: Path, device: str) -> tuple[str, str]:
    """XTTS v2's full-size architecture with random weights as a model folder, and a voice prepared for it from a
    generated 8 s recording (see the module docstring)."""
    import wave

    import numpy as np

    from streamer.bench.coqui_model import build_xtts
    from streamer.voice.coqui import prepare_voice

    model = build_xtts(root / "xtts", layers=30, model_dim=1024, heads=16, max_audio_tokens=605, decoder_dim=1024)
    rate = 22_050
    t = np.arange(8 * rate) / rate
    tone = np.sin(2 * np.pi * (140 + 30 * np.sin(2 * np.pi * 0.7 * t)) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    with wave.open(str(root / "reference.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((tone * 12_000).astype(np.int16).tobytes())
    prepare_voice(model, [root / "reference.wav"], root / "voice", device=device)
    return str(model), str(root / "voice")


def _ends_at_reading_length(voice: Any) -> Any:
    """The random-weight XTTS ends each sentence where a presenter would (:data:`RANDOM_CHARS_PER_S`)."""
    from streamer.voice.coqui import XTTS_TOKENS_PER_S

    voice.runaway_is_failure = False
    voice._token_budget = lambda text: max(1, int(len(text) / RANDOM_CHARS_PER_S * XTTS_TOKENS_PER_S))
    return voice
