"""A fleet on a local Ray (``num_cpus=2``, one start for the module): two channels, each its own process,
publishing to the test's nginx-rtmp. One channel's process is killed: it is back within 15 s, opening with the AI
notice, and the other never dropped a frame. ``fleet status`` and ``fleet down`` through the command line; nothing is
left running afterwards. And the fleet file's errors, with file, line and field."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import cv2
import numpy as np
import pytest

from streamer.fleet.plan import FleetPlanError, load_fleet

from .conftest import REPO, RtmpServer

PERSONA = """name: Fleet Host
voice: {backend: silence}
"""


def _fleet_file(tmp_path: Path, server: RtmpServer | None, names: tuple[str, ...] = ("tea", "shoes")) -> Path:
    (tmp_path / "host.yaml").write_text(PERSONA)
    channels = []
    for name in names:
        outs = [f"rec/{name}.flv"] + ([server.url(name)] if server is not None else [])
        channels.append(
            {
                "name": name,
                "persona": "host.yaml",
                "products": str(REPO / "products"),
                "out": outs,
                "size": "426x240",
                "fps": 15,
                "resources": {"num_cpus": 0.5},
            }
        )
    path = tmp_path / "fleet.yaml"
    path.write_text(json.dumps({"ray": {"num_cpus": 2}, "dashboard": {"port": 0}, "channels": channels}))
    return path


@pytest.fixture(scope="module")
def local_ray() -> Iterator[str]:
    """One local Ray for the module; yields its address (for the command line's RAY_ADDRESS)."""
    import ray

    ray.init(num_cpus=2, namespace="livehost", include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.integration
def test_a_killed_channel_is_back_within_15_s_and_the_other_never_drops_a_frame(
    tmp_path: Path, local_ray: str, rtmp_server: RtmpServer
) -> None:
    from streamer.fleet.ray_backend import RayBackend
    from streamer.fleet.supervisor import Supervisor

    plan = load_fleet(_fleet_file(tmp_path, rtmp_server))
    figures: dict[str, Any] = {}

    async def main() -> list[dict[str, Any]]:
        sup = Supervisor(RayBackend("livehost"))
        await sup.apply(plan)
        sup.start_watching()
        deadline = time.monotonic() + 90
        while not all(w.state == "live" for w in sup.channels.values()):
            assert time.monotonic() < deadline, {n: w.state for n, w in sup.channels.items()}
            await asyncio.sleep(0.5)
        await asyncio.sleep(3.0)  # both on air a while, on nginx
        tea, shoes = sup.channels["tea"], sup.channels["shoes"]
        # What the fleet page shows of a channel: its picture, its metrics, a way into its own dashboard.
        jpeg = await sup.backend.call(shoes.handle, "thumbnail", timeout_s=5.0)
        thumb = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        figures["thumbnail"] = list(thumb.shape)
        metrics = await sup.backend.call(shoes.handle, "metrics", timeout_s=5.0)
        assert "livehost_frames_total " in metrics
        link = await sup.backend.call(shoes.handle, "login_link", timeout_s=5.0)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(link, allow_redirects=False) as r:
                assert r.status == 303 and "livehost_session_" in r.headers["Set-Cookie"]
            async with http.get(link, allow_redirects=False) as r:
                assert r.status == 401  # the code signs in once
        old_pid = tea.pid
        assert old_pid is not None and shoes.pid is not None
        shoes_before = shoes.frames
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while not (tea.pid != old_pid and tea.state == "live"):
            assert time.monotonic() - killed_at < 30, tea.state
            await asyncio.sleep(0.2)
        figures["back_after_s"] = round(time.monotonic() - killed_at, 2)
        await asyncio.sleep(3.0)  # the new process publishes a while
        figures["shoes_frames_meanwhile"] = shoes.frames - shoes_before
        rows = await sup.status()
        ended = await sup.down()
        figures["ended"] = sorted(ended)
        figures["pids"] = [old_pid, tea.pid, shoes.pid]
        return rows

    rows = asyncio.run(main())
    by_name = {r["name"]: r for r in rows}
    figures["shoes_skipped"] = by_name["shoes"]["skipped_frames"]
    figures["shoes_late"] = by_name["shoes"]["late_frames"]
    assert by_name["shoes"]["health"]["dropped frames"] == 0
    figures["tea_restarts"] = by_name["tea"]["restarts"]
    print("\nfleet: " + json.dumps(figures))
    assert figures["thumbnail"] == [180, 320, 3]  # 426x240 scaled to 320 wide
    assert figures["back_after_s"] <= 15.0
    assert figures["tea_restarts"] == 1 and by_name["shoes"]["restarts"] == 0
    assert figures["shoes_skipped"] == 0 and figures["shoes_frames_meanwhile"] > 0
    assert figures["ended"] == ["shoes", "tea"]
    # Both channels' recordings are whole and playable; tea's second process wrote a new part beside the first.
    with av.open(str(tmp_path / "rec" / "shoes.flv")) as f:
        shoes_frames = sum(1 for _ in f.decode(video=0))
    assert shoes_frames >= 15 * 6
    tea_parts = sorted((tmp_path / "rec").glob("tea*.flv"))
    assert len(tea_parts) >= 1
    # The restarted channel's new broadcast (nginx keeps the latest publishing) opens with the full AI notice.
    from streamer.loading import load_persona
    from streamer.scene import Scene

    from .test_faults import _gray_frames

    persona, _ = load_persona(tmp_path / "host.yaml")
    notice = Scene(persona=persona, width=426, height=240, seed=0).compositor.layout.notice
    assert notice is not None

    def band(img: np.ndarray) -> np.ndarray:
        return img[notice.y : notice.y + notice.h, notice.x : notice.x + notice.w].astype(np.float32)

    shoes_local = _gray_frames(tmp_path / "rec" / "shoes.flv")
    with_notice = band(shoes_local[1][1])
    without = band(next(img for t, img in shoes_local if t >= 4.0))
    tea_first = band(_gray_frames(rtmp_server.recording("tea"))[0][1])
    d_on = float(np.abs(tea_first - with_notice).mean())
    d_off = float(np.abs(tea_first - without).mean())
    print(f"fleet: restarted channel's first picture, notice band |dY| {d_on:.2f} to the notice, {d_off:.2f} without")
    assert d_on * 4 < d_off
    # Nothing left: the channel processes (the killed one and the ones ended by down) are gone.
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in figures["pids"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in figures["pids"])
    import ray

    assert [a for a in ray.util.list_named_actors() if a.startswith("channel:")] == []


@pytest.mark.integration
def test_fleet_up_status_down_from_the_command_line(tmp_path: Path, local_ray: str) -> None:
    env = {**os.environ, "RAY_ADDRESS": local_ray, "LIVEHOST_DASHBOARD_TOKEN": "fleet-token-0123456789"}
    fleet = _fleet_file(tmp_path, None, names=("hats",))
    run = [sys.executable, str(REPO / "run_stream.py"), "fleet"]
    up = subprocess.run([*run, "up", str(fleet), "--detach"], capture_output=True, text=True, env=env, timeout=180)
    assert up.returncode == 0, up.stderr[-3000:]
    assert '"added": ["hats"]' in up.stdout and "hats" in up.stdout
    assert "fleet page: http://127.0.0.1:" in up.stdout and "fleet-token" not in up.stdout + up.stderr
    again = subprocess.run([*run, "up", str(fleet), "--detach"], capture_output=True, text=True, env=env, timeout=180)
    assert again.returncode == 0 and '"unchanged": ["hats"]' in again.stdout, again.stderr[-2000:]
    status = subprocess.run([*run, "status", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert status.returncode == 0, status.stderr[-2000:]
    rows = json.loads(status.stdout.strip().splitlines()[-1])
    assert [r["name"] for r in rows] == ["hats"] and rows[0]["state"] == "live"
    assert rows[0]["frames"] > 0 and "fleet-token" not in status.stdout
    pid = rows[0]["pid"]
    down = subprocess.run([*run, "down"], capture_output=True, text=True, env=env, timeout=120)
    assert down.returncode == 0 and '"ended": ["hats"]' in down.stdout, down.stderr[-2000:]
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid)
    gone = subprocess.run([*run, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert gone.returncode == 1 and "no fleet is running" in gone.stderr
    with av.open(str(tmp_path / "rec" / "hats.flv")) as f:
        assert sum(1 for _ in f.decode(video=0)) > 0


def test_a_fleet_file_s_problems_name_the_file_line_field_and_channel(tmp_path: Path) -> None:
    (tmp_path / "host.yaml").write_text(PERSONA)
    bad = tmp_path / "fleet.yaml"
    bad.write_text(
        "channels:\n"
        "  - name: tea\n"
        "    persona: host.yaml\n"
        f"    products: {REPO / 'products'}\n"
        "    out: [rec/a.flv]\n"
        "  - name: tea\n"
        "    persona: nowhere.yaml\n"
        f"    products: {REPO / 'products'}\n"
        "  - name: hats\n"
        "    persona: host.yaml\n"
        f"    products: {REPO / 'products'}\n"
        "    out: [rec/a.flv]\n"
        "  - name: bags\n"
        "    persona: host.yaml\n"
        f"    products: {REPO / 'products'}\n"
        "    out: ['rtmp://x.example/live/${NO_SUCH_KEY}']\n"
    )
    with pytest.raises(FleetPlanError) as err:
        load_fleet(bad, env={})
    text = "\n".join(err.value.problems)
    assert "channels.1 (tea): name: 'tea' is also channel 0's name" in text
    assert "channels tea and hats both write" in text and "a.flv" in text
    assert "fleet.yaml:16: channels.3.out.0: environment variable NO_SUCH_KEY is not set" in text
    field_error = tmp_path / "fields.yaml"
    field_error.write_text("channels:\n  - name: Tea Room\n    resources: {num_cpus: 0}\n")
    with pytest.raises(FleetPlanError) as err:
        load_fleet(field_error, env={})
    text = "\n".join(err.value.problems)
    assert "fields.yaml:2: channels.0.name" in text and "fields.yaml:3: channels.0.resources.num_cpus" in text


def test_the_example_fleet_file_loads_with_every_path_absolute_and_a_dashboard_port_each() -> None:
    plan = load_fleet(REPO / "fleet.example.yaml", env={})
    assert [c.name for c in plan.channels] == ["demo-en", "demo-small"] and plan.warnings == ()
    for c in plan.channels:
        spec: Any = c.spec
        assert Path(spec.persona_path).is_absolute() and Path(spec.products).is_absolute()
        assert all(Path(t.url).is_absolute() for t in spec.outputs)
        assert spec.config.preview.port == 0  # any free port: two channels never fight over 8080
        assert spec.config.audit.path == f"audit-{c.name}.sqlite3"
        assert spec.dashboard_token and len(spec.dashboard_token) >= 12
    assert len({c.digest for c in plan.channels}) == 2
    assert plan.channels[0].spec.dashboard_token == plan.channels[1].spec.dashboard_token  # one token  # type: ignore[attr-defined]
    assert plan.token_generated and plan.dashboard.port == 8090


@pytest.mark.integration
def test_fleet_up_in_the_foreground_drains_every_channel_on_sigterm(tmp_path: Path, local_ray: str) -> None:
    import threading

    env = {**os.environ, "RAY_ADDRESS": local_ray, "LIVEHOST_DASHBOARD_TOKEN": "fleet-token-0123456789"}
    fleet = _fleet_file(tmp_path, None, names=("socks",))
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "run_stream.py"), "fleet", "up", str(fleet)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any(line.startswith("fleet page:") for line in lines):
            assert proc.poll() is None and time.monotonic() < deadline, lines
            time.sleep(0.2)
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        code = proc.wait(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    print(f"\nfleet up (foreground): SIGTERM to exit {took:.2f} s, exit {code}")
    assert code == 0 and any('"ended": ["socks"]' in line for line in lines), lines
    assert took < 15.0
    with av.open(str(tmp_path / "rec" / "socks.flv")) as f:
        assert sum(1 for _ in f.decode(video=0)) > 0  # drained: closed and playable


def test_a_channel_s_device_reaches_its_show_and_cuda_without_a_reserved_gpu_is_refused(tmp_path: Path) -> None:
    (tmp_path / "host.yaml").write_text(PERSONA)
    fleet = tmp_path / "fleet.yaml"

    def channel(name: str, extra: str) -> str:
        return (
            f"  - name: {name}\n    persona: host.yaml\n    products: {REPO / 'products'}\n"
            f"    out: [rec/{name}.flv]\n{extra}"
        )

    fleet.write_text(
        "channels:\n"
        + channel("gpu", "    device: cuda\n    resources: {num_gpus: 1}\n")
        + channel("cpu", "    device: cpu\n")
        + channel("plain", "")
    )
    plan = load_fleet(fleet, env={})
    devices = {c.name: c.spec.device for c in plan.channels}  # type: ignore[attr-defined]
    assert devices == {"gpu": "cuda", "cpu": "cpu", "plain": None}
    assert plan.by_name()["gpu"].resources.num_gpus == 1
    fleet.write_text("channels:\n" + channel("gpu", "    device: cuda\n"))
    with pytest.raises(FleetPlanError) as err:
        load_fleet(fleet, env={})
    assert "fleet.yaml:6: channels.0.device (gpu): cuda needs resources.num_gpus" in "\n".join(err.value.problems)
    # A changed device is a changed channel: the fleet restarts it.
    fleet.write_text("channels:\n" + channel("gpu", "    device: cpu\n"))
    cpu = load_fleet(fleet, env={}).channels[0].digest
    fleet.write_text("channels:\n" + channel("gpu", "    device: auto\n"))
    assert load_fleet(fleet, env={}).channels[0].digest != cpu
