"""How fast a voice speaks on this machine: ``python -m streamer.bench voice --backend piper|endpoint``.

Voices ``--sentences`` sentences (a show's mix: greetings, prices, long product sentences) one after another, as
the show's voice thread does, and reports JSON:

* ``rtf``: synthesis time over audio length, p50 and p95 (below 1: faster than real time);
* ``first_audio_s``: from asking to the first audio the show can play (a streaming voice hands a sentence over
  while decoding; others when done), p50 and p95, and for a short sentence alone;
* ``load_s``: loading the voice.

``--backend endpoint`` needs ``--base-url`` (and the key in the variable ``--api-key-env`` names): it measures
that endpoint from here, network included. Coqui is not a backend yet.
"""

from __future__ import annotations

import argparse
import time
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


def add_parser(sub: Any) -> None:
    p = sub.add_parser("voice", help="a voice's real-time factor and time to first audio on this machine")
    p.add_argument("--backend", choices=["piper", "endpoint"], default="piper")
    p.add_argument("--sentences", type=int, default=50)
    p.add_argument("--voice", default=None, help="piper: the voice name or .onnx; endpoint: its voice name")
    p.add_argument("--base-url", default=None, help="endpoint: e.g. https://api.openai.com/v1")
    p.add_argument("--model", default="tts-1", help="endpoint: its model")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="endpoint: the variable holding the key")


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
    voice = create_voice(VoiceSettings.model_validate(settings))
    t0 = time.perf_counter()
    voice.load()
    load_s = time.perf_counter() - t0
    streaming = getattr(voice, "streams", False)
    rtfs: list[float] = []
    firsts: list[float] = []
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
    if callable(stats):
        out["endpoint"] = {k: v for k, v in stats().items() if k in ("requests", "fallbacks", "last_error")}
    return out
