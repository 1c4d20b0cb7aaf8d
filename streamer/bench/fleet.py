"""How many channels one machine sustains: ``python -m streamer.bench fleet --channels 1,2,3,4 --size 854x480``.

For each N, a local Ray with this machine's CPUs runs N real channels as the fleet does (one actor each, CPUs shared
equally): the bundled persona with its Piper voice, the bundled products, the chat simulator asking questions (real
chat, answered and spoken), each recording to a file. After a warm-up (voice and models loaded, first answers), it
samples every channel for ``--seconds`` and reports per channel and together:

* ``cpu_cores``: the CPU each channel's process used (all its threads: pictures, encode, voice, brain) per second;
  ``aggregate_rtf``: the machine's CPUs over what the N channels used together (how many times over the machine
  could do their work: the channels are paced, so this is their real-time factor as a group);
* ``media_thread_rtf``: the frame budget over the media thread's own time per frame (render and hand-off);
* ``late_share``: frames made later than their slot (one frame or more) over frames made, in the window;
* ``skipped``: frame slots never made (the loop fell more than 1 s behind);
* ``rss_mb``: each channel process's resident memory at the end.

A size is *sustained* by N channels when ``aggregate_rtf >= 1.2``, every channel's late share is under 1 % and no
frame slot was skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RTF_NEEDED = 1.2
LATE_SHARE_MAX = 0.01


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fleet", help="channels per machine: N real channels under Ray, per-channel speed and memory")
    p.add_argument("--channels", default="1,2,3,4", help="the channel counts to try, comma-separated")
    p.add_argument("--size", default="854x480")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per channel count")
    p.add_argument("--warmup", type=float, default=25.0, help="seconds before measuring (voices and models load)")
    p.add_argument("--persona", default=str(REPO / "personas" / "host.yaml"))
    p.add_argument("--products", default=str(REPO / "products"))


def _fleet_file(folder: Path, n: int, args: argparse.Namespace, cpus: float) -> Path:
    import json

    channels = [
        {
            "name": f"ch{i}",
            "persona": args.persona,
            "products": args.products,
            "out": [f"rec/ch{i}.flv"],
            "size": args.size,
            "fps": args.fps,
            "simulate_chat": True,
            "preview": {"enabled": False},
            "resources": {"num_cpus": math.floor(cpus / n * 1000) / 1000},  # never more than the machine in all
        }
        for i in range(n)
    ]
    path = folder / f"fleet-{n}.json"
    path.write_text(json.dumps({"channels": channels}))
    return path


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


async def _one(n: int, args: argparse.Namespace, folder: Path, cpus: int) -> dict[str, Any]:
    from streamer.fleet.plan import load_fleet
    from streamer.fleet.ray_backend import RayBackend
    from streamer.fleet.supervisor import Supervisor

    plan = load_fleet(_fleet_file(folder, n, args, cpus))
    backend = RayBackend("livehost-bench")
    sup = Supervisor(backend)
    await sup.apply(plan)
    sup.start_watching()
    began = time.monotonic()
    while not all(w.state == "live" for w in sup.channels.values()):
        if time.monotonic() - began > 300:
            raise RuntimeError(f"{n} channels did not all start within 300 s")
        await asyncio.sleep(0.5)
    started_s = round(time.monotonic() - began, 1)
    await asyncio.sleep(args.warmup)

    async def sample() -> dict[str, dict[str, Any]]:
        out = {}
        for name, w in sup.channels.items():
            out[name] = await backend.call(w.handle, "ping", timeout_s=10.0)
        return out

    first = await sample()
    cpu0 = {name: _cpu_s(int(a["pid"])) for name, a in first.items()}
    t0 = time.monotonic()
    await asyncio.sleep(args.seconds)
    last = await sample()
    wall = time.monotonic() - t0
    cpu1 = {name: _cpu_s(int(b["pid"])) for name, b in last.items()}
    rows = []
    budget_s = 1.0 / args.fps
    for name in sorted(last):
        a, b = first[name], last[name]
        frames = b["frames"] - a["frames"]
        late = b["late_frames"] - a["late_frames"]
        tick = b.get("tick_s") or 0.0
        c0, c1 = cpu0.get(name), cpu1.get(name)
        used_cores = (c1 - c0) / wall if c0 is not None and c1 is not None and a["pid"] == b["pid"] else None
        rows.append(
            {
                "channel": name,
                "frames": frames,
                "fps": round(frames / args.seconds, 2),
                "cpu_cores": round(used_cores, 3) if used_cores is not None else None,
                "media_thread_rtf": round(budget_s / tick, 2) if tick else None,
                "late_share": round(late / frames, 4) if frames else None,
                "skipped": b["skipped_frames"] - a["skipped_frames"],
                "rss_mb": _rss_mb(int(b["pid"])),
                "restarts": sup.channels[name].restarts,
            }
        )
    await sup.down()
    cores = [r["cpu_cores"] for r in rows if r["cpu_cores"] is not None]
    lates = [r["late_share"] for r in rows if r["late_share"] is not None]
    used = sum(cores)
    rtf = cpus / used if cores and used > 0 else None
    return {
        "channels": n,
        "cpus_per_channel": math.floor(cpus / n * 1000) / 1000,
        "all_live_after_s": started_s,
        "cpu_cores_used": round(used, 3),
        "cpu_cores_per_channel": round(used / len(cores), 3) if cores else None,
        "aggregate_rtf": round(rtf, 2) if rtf is not None else None,
        "late_share_max": max(lates) if lates else None,
        "skipped": sum(r["skipped"] for r in rows),
        "rss_mb_mean": round(sum(r["rss_mb"] or 0 for r in rows) / len(rows), 1),
        "sustained": bool(
            rtf is not None
            and rtf >= RTF_NEEDED
            and lates
            and max(lates) < LATE_SHARE_MAX
            and len(cores) == n
            and sum(r["skipped"] for r in rows) == 0
        ),
        "per_channel": rows,
    }


def run_fleet(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from streamer.process import usable_cpus

    cpus = usable_cpus()
    counts = [int(c) for c in str(args.channels).split(",") if c.strip()]
    folder = Path(tempfile.mkdtemp(prefix="livehost-bench-fleet-"))
    results = []
    for n in counts:
        ray.init(num_cpus=cpus, namespace="livehost-bench", include_dashboard=False, log_to_driver=False)
        try:
            results.append(asyncio.run(_one(n, args, folder, cpus)))
        finally:
            ray.shutdown()
        time.sleep(2.0)
    sustained = [r["channels"] for r in results if r["sustained"]]
    return {
        "what": f"channels per machine at {args.size}@{args.fps}: real channels (Piper voice, simulated chat, a "
        "recording each) under Ray, measured per channel while paced",
        "size": args.size,
        "fps": args.fps,
        "machine_cpus": cpus,
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "needed": {"aggregate_rtf": RTF_NEEDED, "late_share_max": LATE_SHARE_MAX, "skipped": 0},
        "results": results,
        "max_sustained_channels": max(sustained) if sustained else 0,
    }
