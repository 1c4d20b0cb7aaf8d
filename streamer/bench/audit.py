"""``python -m streamer.bench audit``: the audit log over a long show, on an accelerated wall clock.

``--hours`` of show (default 24) with ``--per-min`` utterances a minute (default 40, a sentence every 1.5 s) go
through :class:`streamer.audit.AuditLog` as the show would send them: each row recorded from the caller's thread,
committed by the writer thread once per simulated second that has rows (so a commit holds what one second of show
said), the hourly retention purge driven by the same fake clock. Run twice: with the default retention (180 days:
a day only grows the file) and with ``--short-retention-h`` (6 h: the file must stay flat once it is full).

Printed per simulated hour: rows in the file, file size (database + WAL), bytes per row, and the write cost per
row (insert + commit in the writer, p50/p95 of the commits that hour) and per call of ``record`` (the cost the
event loop pays, p50/p95).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from streamer.stats import percentile

START_WALL_S = 1_796_083_200.0  # 2026-12-01T00:00:00Z

_PHRASES = (
    "This cosy cat bed is 39 dollars today, down from 49.",
    "It comes in slate grey and forest green.",
    "The cover zips off and goes straight in the washing machine.",
    "Free shipping on every order over 30 dollars this week.",
    "Only 12 left in stock, so don't wait too long.",
    "It's 60 cm across, room for even the biggest cat.",
)
_COMMENTS = ("how much is it?", "is the green one in stock?", "does it ship to Canada?", "what size is it??")
_VIEWERS = ("maya", "leo_88", "小雨", "kat")
_OUTPUTS = ["rtmp://live.twitch.tv/app/****", "recordings/show-20261201.flv"]


def add_parser(sub: Any) -> None:
    a = sub.add_parser("audit", help="audit log: write cost and file size over a long show on an accelerated clock")
    a.add_argument("--hours", type=float, default=24.0, help="simulated hours of show (default 24)")
    a.add_argument("--per-min", type=float, default=40.0, help="utterances per minute (default 40)")
    a.add_argument(
        "--short-retention-h", type=float, default=6.0, help="retention of the second run, in hours (default 6)"
    )
    a.add_argument("--seed", type=int, default=5)
    a.add_argument("--dir", default=None, help="where the databases go (default: a temporary folder)")


def run_audit(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="livehost-audit-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    runs = {
        "retention_180d": _run_one(folder / "audit-180d.sqlite3", args, retention_days=180.0),
        f"retention_{args.short_retention_h:g}h": _run_one(
            folder / "audit-short.sqlite3", args, retention_days=args.short_retention_h / 24.0
        ),
    }
    return {
        "bench": "audit",
        "measured": (
            f"{args.hours:g} h of show at {args.per_min:g} utterances/min on an accelerated wall clock: one commit per "
            "simulated second that has rows, hourly retention purge; write_us = insert + commit per row in the writer "
            "thread, record_us = AuditLog.record() per call (the event loop's cost); bytes = database + WAL"
        ),
        "cpu_count": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "hours": args.hours,
        "per_min": args.per_min,
        "runs": runs,
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def _run_one(path: Path, args: argparse.Namespace, *, retention_days: float) -> dict[str, Any]:
    from streamer.audit import AuditLog

    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    rng = random.Random(args.seed)
    now = [START_WALL_S]
    # commit_interval_s is real time: the bench commits by hand (flush) once per simulated second instead.
    log = AuditLog(path, retention_days=retention_days, clock=lambda: now[0], commit_interval_s=3600.0)
    step_s = 60.0 / args.per_min
    total = int(args.hours * 3600 / step_s)
    hours: list[dict[str, Any]] = []
    write_us: list[float] = []
    record_us: list[float] = []
    next_hour = START_WALL_S + 3600.0
    committed_second = int(START_WALL_S)
    pending = False
    t_run = time.perf_counter()
    for i in range(total):
        t = START_WALL_S + i * step_s
        if int(t) != committed_second and pending:  # a new second: what the last one said is committed
            now[0] = float(committed_second + 1)
            log.flush()
            s = log.stats()
            if s["last_write_rows"]:
                write_us.append(s["last_write_s"] * 1e6 / s["last_write_rows"])
            pending = False
        committed_second = int(t)
        while t >= next_hour:
            now[0] = next_hour
            log.flush()  # the writer purges here when an hour has passed on the fake clock
            hours.append(_hour_figures(log, path, len(hours) + 1, write_us, record_us))
            write_us, record_us = [], []
            next_hour += 3600.0
        now[0] = t
        rec = _utterance(rng, i, t)
        c = time.perf_counter()
        log.record(rec)
        record_us.append((time.perf_counter() - c) * 1e6)
        pending = True
    now[0] = next_hour
    log.flush()
    if write_us or record_us:
        hours.append(_hour_figures(log, path, len(hours) + 1, write_us, record_us))
    log.close()
    stats = log.stats()
    return {
        "retention_h": round(retention_days * 24, 3),
        "rows_recorded": total,
        "rows_written": stats["rows_written"],
        "rows_purged": stats["rows_purged"],
        "rows_dropped": stats["rows_dropped"],
        "commits": stats["commits"],
        "run_s": round(time.perf_counter() - t_run, 2),
        "final_bytes": stats["db_bytes"] + stats["wal_bytes"],
        "per_hour": hours,
    }


def _hour_figures(log: Any, path: Path, hour: int, write_us: list[float], record_us: list[float]) -> dict[str, Any]:
    stats = log.stats()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT count(*) FROM utterances").fetchone()[0]
    size = stats["db_bytes"] + stats["wal_bytes"]
    return {
        "hour": hour,
        "rows": rows,
        "db_bytes": stats["db_bytes"],
        "wal_bytes": stats["wal_bytes"],
        "bytes_per_row": round(stats["db_bytes"] / rows, 1) if rows else None,
        "write_us_p50": round(percentile(write_us, 0.5), 1) if write_us else None,
        "write_us_p95": round(percentile(write_us, 0.95), 1) if write_us else None,
        "record_us_p50": round(percentile(record_us, 0.5), 2) if record_us else None,
        "record_us_p95": round(percentile(record_us, 0.95), 2) if record_us else None,
        "purge_ms": round(stats["last_purge_s"] * 1000, 2),
        "total_bytes": size,
    }


def _utterance(rng: random.Random, i: int, t: float) -> Any:
    from streamer.audit import AuditRecord

    roll = rng.random()
    if roll < 0.25:  # a reply to a viewer's comment
        n = rng.randrange(len(_COMMENTS))
        return AuditRecord(
            text=f"{_VIEWERS[n]}, {_PHRASES[rng.randrange(len(_PHRASES))]}",
            kind="reply",
            channel="show",
            wall_s=t,
            media_s=t - START_WALL_S,
            heard_s=3.2,
            product_id="cat-bed",
            reply_to=f"c{i}",
            viewer=_VIEWERS[n],
            comment=_COMMENTS[n],
            guard_actions=[{"rule": "superlative", "action": "rewrite"}] if rng.random() < 0.1 else None,
            outputs_live=_OUTPUTS,
            segment_id=i,
        )
    return AuditRecord(
        text=_PHRASES[rng.randrange(len(_PHRASES))],
        kind="patter" if roll < 0.97 else "disclosure",
        channel="show",
        wall_s=t,
        media_s=t - START_WALL_S,
        heard_s=3.4,
        interrupted=rng.random() < 0.05,
        product_id="cat-bed",
        outputs_live=_OUTPUTS,
        segment_id=i,
    )
