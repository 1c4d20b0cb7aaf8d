"""Micro-benchmark of the picture path the show ships: :meth:`streamer.scene.Scene.render` per frame (the persona's
avatar + the compositor, wired by the scene as on air).

Run ``python -m streamer.bench.render --size 1280x720 --frames 300 [--persona P]``; prints one JSON object. Measured
single-threaded (OpenCV's thread pool set to 1, as in the live pipeline, where the H.264 encoder owns the other
core), with a product card set and the mouth cycling through every viseme and openness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from decimal import Decimal

import cv2
import numpy as np

from streamer.config import Persona, ProductSheet
from streamer.frames import VISEME_COUNT, MouthPose
from streamer.loading import load_persona
from streamer.scene import Scene
from streamer.stats import percentile

#: Per-frame budget (render + compose, median) next to a ~5.7 ms/frame 720p x264 encode on 2 cores at 30 fps.
BUDGET_MS = {(1280, 720): 1.5, (1920, 1080): 3.0}


def _sample_image() -> np.ndarray:
    try:
        from skimage import data

        return cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)
    except Exception:  # the bench must run without the sample data
        img = np.zeros((400, 600, 3), np.uint8)
        img[:] = (60, 110, 170)
        cv2.circle(img, (300, 200), 120, (230, 235, 240), -1, cv2.LINE_AA)
        return img


def _mouth(i: int) -> MouthPose:
    w = np.zeros(VISEME_COUNT, np.float32)
    a, b = i % VISEME_COUNT, (i // 3) % VISEME_COUNT
    w[a] += 0.7
    w[b] += 0.3
    return MouthPose(weights=w, open_amount=0.5 + 0.5 * np.sin(i * 0.7))


def _pct(values: list[float], q: float) -> float:
    return round(percentile(values, q / 100), 4)


def run(
    width: int, height: int, frames: int, *, threads: int = 1, language: str = "en", persona: Persona | None = None
) -> dict[str, object]:
    cv2.setNumThreads(threads)
    persona = persona or Persona(name="Bench", language=language)
    scene = Scene(persona=persona, width=width, height=height, seed=7)
    product = ProductSheet(
        id="bench",
        name="Barista Espresso Cup & Saucer Set",
        price=Decimal("19.99"),
        list_price=Decimal("29.99"),
        promo="Free shipping today",
        features=["Double-walled porcelain", "Dishwasher safe", "Gift box"],
    )
    scene.update_cards({"bench": (product, _sample_image())})
    render_ms: list[float] = []
    total_ms: list[float] = []
    draw = scene.avatar.render
    last: list[float] = [0.0]

    def timed(t_s: float, mouth: MouthPose) -> np.ndarray:
        t0 = time.perf_counter()
        picture = draw(t_s, mouth)
        last[0] = (time.perf_counter() - t0) * 1e3
        return picture

    scene.avatar.render = timed  # type: ignore[method-assign]
    for i in range(frames + 20):
        t = i / 30.0
        t0 = time.perf_counter()
        frame = scene.render(t, _mouth(i))
        took = (time.perf_counter() - t0) * 1e3
        if i >= 20:  # warm-up frames (the card and the notice are drawn once) are not counted
            render_ms.append(last[0])
            total_ms.append(took)
        assert frame.shape == (height * 3 // 2, width)
    compose_ms = [total - avatar for total, avatar in zip(total_ms, render_ms, strict=True)]
    aw, ah = scene.avatar.size
    budget = BUDGET_MS.get((width, height))
    total_p50 = _pct(total_ms, 50)
    return {
        "what": f"Scene.render per frame ({persona.avatar.kind} avatar, background {persona.avatar.background}, card "
        "set): the avatar, and the compositor with the scene's own wiring",
        "size": f"{width}x{height}",
        "avatar_size": f"{aw}x{ah}",
        "frames": frames,
        "render_ms_p50": _pct(render_ms, 50),
        "render_ms_p95": _pct(render_ms, 95),
        "compose_ms_p50": _pct(compose_ms, 50),
        "compose_ms_p95": _pct(compose_ms, 95),
        "total_ms_p50": total_p50,
        "total_ms_p95": _pct(total_ms, 95),
        "budget_ms": budget,
        "within_budget": None if budget is None else total_p50 <= budget,
        "cv2_threads": threads,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (default 1: single thread)")
    ap.add_argument("--language", default="en")
    ap.add_argument("--persona", default=None, help="a persona YAML (its avatar and studio); default: the cartoon")
    args = ap.parse_args(argv)
    w, _, h = args.size.lower().partition("x")
    persona = load_persona(args.persona)[0] if args.persona else None
    print(json.dumps(run(int(w), int(h), args.frames, threads=args.threads, language=args.language, persona=persona)))


if __name__ == "__main__":
    main()
