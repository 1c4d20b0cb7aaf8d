"""``python -m streamer.bench patter``: what viewers hear over a long stretch of show, on virtual time.

The show's talking part (director, brain, guards, speaker, playout, chat triage) runs for ``--minutes`` of air time
with the demo's simulated chat (``--chat-per-min``, the demo's mix of questions, greetings, gifts, spam...) and a
scripted voice; the figures come from the transcript of what was heard (see :mod:`streamer.bench.virtual_show`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

import yaml

from streamer.stats import percentile

ROOT = Path(__file__).resolve().parents[2]


def run_patter(args: argparse.Namespace) -> dict[str, Any]:
    from streamer.bench.virtual_show import run_virtual_show
    from streamer.brain.embed import load_embedder
    from streamer.config import Persona
    from streamer.loading import ConfigError, errors_in, load_persona
    from streamer.products.catalog import ProductCatalog

    persona_path = args.persona or str(ROOT / "personas" / ("host.yaml" if args.language == "en" else "host-zh.yaml"))
    products_path = args.products or str(ROOT / ("products" if args.language == "en" else "products-zh"))
    try:
        persona, _ = load_persona(persona_path)
    except ConfigError as exc:
        # The virtual show speaks with a scripted voice: a persona whose only error is a voice file the operator
        # has not supplied yet (the zh demo's Piper zh_CN voice) still runs here; `check` reports the file.
        if any(p.field != "voice.voice" for p in errors_in(exc.problems)):
            raise
        persona = Persona.model_validate(yaml.safe_load(Path(persona_path).read_text(encoding="utf-8")))

    async def go() -> dict[str, Any]:
        catalog = ProductCatalog(products_path, refresh_s=3600)
        await catalog.refresh()
        embedder = load_embedder(prefer="lexical" if args.lexical else "minilm")
        t0 = time.perf_counter()
        report = await run_virtual_show(
            persona=persona,
            products=list(catalog.products),
            minutes=args.minutes,
            chat_per_min=args.chat_per_min,
            seed=args.seed,
            embedder=embedder,
        )
        out = report.metrics()
        out["latency_s_by_kind"] = {
            kind: {"n": len(v), "p50": round(percentile(v, 0.5), 2), "p95": round(percentile(v, 0.95), 2)}
            for kind, v in sorted(report.reply_latency_s.items())
        }
        out.update(
            language=args.language,
            persona=persona_path,
            products=products_path,
            embedder=embedder.name,
            chat_per_min=args.chat_per_min,
            wall_s=round(time.perf_counter() - t0, 1),
            cpu_count=os.cpu_count(),
            measured="virtual-time show (director, brain, guards, speaker, playout, triage; scripted voice); "
            "figures from the heard transcript",
        )
        if args.transcript:
            text = (
                "\n".join(
                    f"{h.start_s:8.1f} {h.kind:10s} {h.product_id or '-':24s} "
                    f"{'CUT ' if h.interrupted else ''}{'(rest) ' if h.resumed else ''}{h.text}"
                    for h in report.transcript
                )
                + "\n"
            )
            await asyncio.to_thread(Path(args.transcript).write_text, text, encoding="utf-8")
        return out

    return asyncio.run(go())


def add_parser(sub: Any) -> None:
    pt = sub.add_parser("patter", help="30 min of show on virtual time with the demo's chat: repeats, cuts, rotation")
    pt.add_argument("--language", choices=["en", "zh"], default="en")
    pt.add_argument("--minutes", type=float, default=30.0)
    pt.add_argument("--chat-per-min", type=float, default=8.0, help="simulated comments per minute (demo: 8)")
    pt.add_argument("--seed", type=int, default=7)
    pt.add_argument("--persona", default=None)
    pt.add_argument("--products", default=None)
    pt.add_argument("--lexical", action="store_true", help="use the lexical embedder (no MiniLM load)")
    pt.add_argument("--transcript", default=None, help="write the heard transcript to this file")
