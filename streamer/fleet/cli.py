"""``run_stream.py fleet up|status|restart|drain|down``.

``fleet up FLEET.yaml`` runs in the foreground like ``run`` (Ctrl-C / SIGTERM drains every channel and ends them;
a second signal ends at once); ``--detach`` returns once every channel is live and leaves the fleet running on a
local Ray started for it (``ray start --head``), or on the cluster named by ``--address`` / ``RAY_ADDRESS`` /
the file's ``ray.address``. Running ``fleet up`` again against a running fleet applies the difference. The other
commands find the running fleet's supervisor through Ray.

Exit codes: 0 done, 1 a runtime failure (no fleet running, a channel that did not come up), 2 a configuration error
(printed with file, line and field).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("streamer.fleet")

EXIT_OK, EXIT_RUNTIME, EXIT_CONFIG = 0, 1, 2
#: How long ``fleet up`` waits for every channel to make frames.
UP_TIMEOUT_S = 120.0
#: ``fleet up --detach`` started this machine's Ray for the fleet: ``fleet down`` stops it again.
LOCAL_HEAD_MARKER = Path.home() / ".livehost" / "fleet-ray-head"


def add_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    fleet = sub.add_parser("fleet", help="many channels, each its own process, on Ray (one machine or a cluster)")
    fsub = fleet.add_subparsers(dest="fleet_command", required=True, parser_class=parser_class)

    def address(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--address", default=None, help="an existing Ray cluster (ray://host:10001); default: RAY_ADDRESS or local"
        )

    up = fsub.add_parser("up", help="start the fleet (or apply an edited fleet file to the running one)")
    up.add_argument("fleet_file", help="fleet.yaml: channels with stream.yaml's keys plus name and resources")
    up.add_argument("--detach", action="store_true", help="return once every channel is live; the fleet runs on")
    address(up)
    up.add_argument("--log-level", default="INFO")
    st = fsub.add_parser("status", help="one line per channel: product, fps, late frames, outputs, restarts")
    st.add_argument("--json", action="store_true", help="the full status as JSON")
    address(st)
    for name, what in (("restart", "restart one channel (a new process)"), ("drain", "finish the sentence, close")):
        p = fsub.add_parser(name, help=what)
        p.add_argument("channel")
        address(p)
    down = fsub.add_parser("down", help="drain every channel and end the fleet")
    address(down)


def main(args: argparse.Namespace) -> int:
    if args.fleet_command == "up":
        return _up(args)
    return _command(args)


# ---- up ----------------------------------------------------------------------------------------------------------


def _up(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from streamer.fleet.plan import FleetPlanError, load_fleet

    try:
        plan = load_fleet(args.fleet_file)
    except FleetPlanError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    for name, warning in plan.warnings:
        print(f"warning: channel {name}: {warning}", file=sys.stderr)
    address = args.address or os.environ.get("RAY_ADDRESS") or plan.ray.address
    import ray

    from streamer.fleet.ray_backend import NAMESPACE, SUPERVISOR_NAME, supervisor_actor_class

    if args.detach:
        if address is None:
            address = _local_head(plan.ray.num_cpus)
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    elif address is not None:
        ray.init(address=address, namespace=NAMESPACE)
    else:
        num_cpus = round(plan.ray.num_cpus) if plan.ray.num_cpus is not None else None
        ray.init(num_cpus=num_cpus, namespace=NAMESPACE, include_dashboard=False)
    wanted = sum(c.resources.num_cpus for c in plan.channels)
    have = float(ray.cluster_resources().get("CPU", 0.0))
    if wanted > have + 1e-9:
        print(
            f"warning: the channels ask for {wanted:g} CPUs and this Ray has {have:g}: the ones that do not fit wait"
            " (lower resources.num_cpus, or add machines to the cluster)",
            file=sys.stderr,
        )
    supervisor: Any
    try:
        supervisor = ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
        again = True
    except ValueError:
        options: dict[str, Any] = {"name": SUPERVISOR_NAME, "namespace": NAMESPACE}
        if args.detach:
            options["lifetime"] = "detached"
        supervisor = supervisor_actor_class().options(**options).remote(NAMESPACE)
        again = False
    diff: dict[str, list[str]] = ray.get(supervisor.apply.remote(plan.without_warnings()))
    print(json.dumps({"fleet": plan.path, "applied_to_running_fleet": again, **diff}), flush=True)
    live = ray.get(supervisor.wait_live.remote(UP_TIMEOUT_S))
    rows = ray.get(supervisor.status.remote())
    _print_table(rows)
    page = ray.get(supervisor.page_url.remote())
    if page is not None:
        print(f"fleet page: {page} (sign in with the dashboard token)", flush=True)
        if plan.token_generated and not again:
            # Printed once, on the console only (never logged): the operator's way in to every dashboard.
            link = ray.get(supervisor.page_login_link.remote())
            token = getattr(plan.channels[0].spec, "dashboard_token", "")
            print(
                f"\n  Open {link}\n  (signs in once, within 15 minutes; the token for the fleet page and every"
                f" channel's dashboard is {token}; set LIVEHOST_DASHBOARD_TOKEN to choose it yourself)\n",
                flush=True,
            )
    if not live:
        print(f"error: not every channel made frames within {UP_TIMEOUT_S:.0f} s", file=sys.stderr)
    if args.detach or again:
        return EXIT_OK if live else EXIT_RUNTIME
    return _foreground(supervisor)


def _foreground(supervisor: Any) -> int:
    """Until SIGINT/SIGTERM: then every channel drains and ends; a second signal ends at once."""
    import ray

    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                os._exit(EXIT_OK)  # a second signal: at once
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await stop.wait()
        print("stopping: every channel finishes its sentence and closes its outputs", file=sys.stderr, flush=True)
        ended = await supervisor.down.remote()
        print(json.dumps({"ended": ended}), flush=True)

    asyncio.run(wait())
    ray.shutdown()
    return EXIT_OK


def _local_head(num_cpus: float | None) -> str:
    """This machine's Ray: the one running, else one started for the fleet (remembered for ``fleet down``)."""
    ray_bin = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    probe = subprocess.run([ray_bin, "status"], capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        return "auto"
    cmd = [ray_bin, "start", "--head", "--include-dashboard=false", "--disable-usage-stats"]
    if num_cpus is not None:
        cmd.append(f"--num-cpus={num_cpus:g}")
    started = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        raise SystemExit(f"error: could not start Ray for the fleet: {started.stderr.strip()[-500:]}")
    LOCAL_HEAD_MARKER.parent.mkdir(parents=True, exist_ok=True)
    LOCAL_HEAD_MARKER.write_text("started by fleet up --detach\n")
    return "auto"


# ---- status, restart, drain, down -------------------------------------------------------------------------------


def _command(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import ray

    from streamer.fleet.ray_backend import NAMESPACE, SUPERVISOR_NAME
    from streamer.fleet.supervisor import short_error

    address = args.address or os.environ.get("RAY_ADDRESS") or "auto"
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    except (ConnectionError, RuntimeError) as exc:
        print(f"error: no Ray to find a fleet in ({short_error(exc)})", file=sys.stderr)
        return EXIT_RUNTIME
    supervisor: Any
    try:
        try:
            supervisor = ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
        except ValueError:
            print("error: no fleet is running (start one with: run_stream.py fleet up fleet.yaml)", file=sys.stderr)
            return EXIT_RUNTIME
        if args.fleet_command == "status":
            rows: list[dict[str, Any]] = ray.get(supervisor.status.remote())
            if args.json:
                print(json.dumps(rows, default=str))
            else:
                _print_table(rows)
            return EXIT_OK
        if args.fleet_command in ("restart", "drain"):
            try:
                result = ray.get(getattr(supervisor, args.fleet_command).remote(args.channel))
            except ray.exceptions.RayTaskError as exc:
                print(f"error: {short_error(exc)}", file=sys.stderr)
                return EXIT_RUNTIME
            print(json.dumps({args.fleet_command: args.channel, "result": result}, default=str))
            return EXIT_OK
        ended: list[str] = ray.get(supervisor.down.remote())
        ray.kill(supervisor, no_restart=True)
        print(json.dumps({"ended": ended}))
    finally:
        ray.shutdown()
    if (
        args.fleet_command == "down"
        and LOCAL_HEAD_MARKER.exists()
        and not (args.address or os.environ.get("RAY_ADDRESS"))
    ):
        ray_bin = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
        subprocess.run([ray_bin, "stop"], capture_output=True, timeout=120)
        LOCAL_HEAD_MARKER.unlink(missing_ok=True)
    return EXIT_OK


def _print_table(rows: list[dict[str, Any]]) -> None:
    """channel, state, product on air, fps, late frames, outputs live, replies a minute, restarts, uptime."""
    header = (
        "channel",
        "state",
        "product",
        "fps",
        "late",
        "outputs live",
        "replies/min",
        "restarts",
        "uptime",
        "dashboard",
    )
    lines = [header]
    for r in rows:
        health = r.get("health") or {}
        outputs = r.get("outputs") or []
        live = sum(1 for o in outputs if o.get("state") == "live")
        lines.append(
            (
                str(r.get("name")),
                str(r.get("state")),
                str(health.get("product", "—")),
                str(health.get("fps", "—")),
                str(health.get("late frames", "—")),
                f"{live}/{len(outputs)}",
                _per_minute(health.get("replies"), r.get("uptime_s")),
                str(r.get("restarts", 0)),
                str(health.get("uptime", "—")),
                str(r.get("dashboard_url") or "—"),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip(), flush=True)


def _per_minute(count: Any, uptime_s: Any) -> str:
    try:
        n, up = float(count), float(uptime_s)
    except (TypeError, ValueError):
        return "—"
    return f"{n / (up / 60):.1f}" if up >= 1 else "—"
