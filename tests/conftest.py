"""Shared fixtures: a real nginx-rtmp server on a free loopback port, started and stopped by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
RTMP_MODULE_PATHS = ("/usr/lib/nginx/modules/ngx_rtmp_module.so", "/usr/share/nginx/modules/ngx_rtmp_module.so")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


@dataclass
class RtmpServer:
    port: int
    record_dir: Path
    error_log: Path

    def url(self, stream: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{stream}"

    def recording(self, stream: str) -> Path:
        return self.record_dir / f"{stream}.flv"


def _nginx_config(prefix: Path, port: int, extra: str = "") -> str:
    module = next((m for m in RTMP_MODULE_PATHS if Path(m).exists()), None)
    if module is None:
        raise RuntimeError("libnginx-mod-rtmp is not installed (run `make install` as root, or apt-get install it)")
    return f"""
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
load_module {module};
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            record all;
            record_path {prefix}/rec;
            record_unique off;
            {extra}
        }}
    }}
}}
"""


def _start_nginx(prefix: Path, port: int, extra: str = "") -> tuple[subprocess.Popen[bytes], RtmpServer]:
    """nginx-rtmp on 127.0.0.1:``port`` recording every stream; ``extra``: more directives for its application."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("nginx is not installed (run `make install` as root, or apt-get install nginx-light)")
    (prefix / "rec").mkdir(parents=True)
    (prefix / "logs").mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(_nginx_config(prefix, port, extra))
    proc = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc, RtmpServer(port=port, record_dir=prefix / "rec", error_log=prefix / "error.log")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.fixture
def rtmp_server_factory(tmp_path: Path) -> Iterator[Callable[[int], RtmpServer]]:
    """Start nginx-rtmp on a given port when the test says so (for targets that are down at first)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> RtmpServer:
        proc, server = _start_nginx(tmp_path / f"nginx{len(procs)}", port)
        procs.append(proc)
        return server

    try:
        yield start
    finally:
        for p in procs:
            _stop(p)


@pytest.fixture
def rtmp_server(rtmp_server_factory: Callable[[int], RtmpServer]) -> RtmpServer:
    return rtmp_server_factory(free_port())


# ---- the integration marker, kept honest --------------------------------------------------------------------------

#: Programs whose start makes a test an integration test (a show, a server, a browser).
_INTEGRATION_PROGRAMS = ("run_stream.py", "nginx", "chromium", "chrome", "playwright")

#: A virtual-time show this long or longer counts as a show: it plays every frame of its air (5 minutes: 2-4 s).
LONG_VIRTUAL_SHOW_MIN = 5.0


#: What the running test (its fixtures included) started, as the watch below saw it.
_STARTED: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _watch_for_integration() -> Iterator[None]:
    """For the whole session, note every show started, every socket that listens (any server: dashboard, chat,
    RTMP, HTTP) and every launch of the show's process or a server program. Session-wide, so a module fixture that
    starts a show is seen too (it counts for the test whose setup ran it)."""
    listen = socket.socket.listen
    popen_init = subprocess.Popen.__init__

    def listening(self: socket.socket, *args: Any) -> None:
        _STARTED.append("a server")
        listen(self, *args)

    def launching(self: subprocess.Popen[bytes], args: Any, *rest: Any, **kwargs: Any) -> None:
        text = " ".join(str(a) for a in args) if isinstance(args, list | tuple) else str(args)
        if any(p in text for p in _INTEGRATION_PROGRAMS):
            _STARTED.append(f"the program {text[:60]!r}")
        popen_init(self, args, *rest, **kwargs)

    from streamer.app import Channel
    from streamer.bench.virtual_show import VirtualShowReport
    from streamer.brain.embed import Embedder

    start = Channel.start

    async def starting(self: Channel) -> None:
        _STARTED.append("a show")
        await start(self)

    report_init = VirtualShowReport.__init__

    def reporting(self: VirtualShowReport, *args: Any, **kwargs: Any) -> None:
        report_init(self, *args, **kwargs)
        if self.minutes >= LONG_VIRTUAL_SHOW_MIN:
            _STARTED.append(f"a virtual show of {self.minutes:g} minutes")

    embedder_init = Embedder.__init__

    def loading(self: Embedder, *args: Any, **kwargs: Any) -> None:
        _STARTED.append("the MiniLM model")
        embedder_init(self, *args, **kwargs)

    patches: list[tuple[Any, str, Any]] = [
        (socket.socket, "listen", listening),
        (subprocess.Popen, "__init__", launching),
        (Channel, "start", starting),
        (VirtualShowReport, "__init__", reporting),
        (Embedder, "__init__", loading),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, new in patches:
        setattr(owner, name, new)
    try:
        yield
    finally:
        for owner, name, old in saved:
            setattr(owner, name, old)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _STARTED.clear()


@pytest.fixture(autouse=True)
def _integration_tests_are_marked(request: pytest.FixtureRequest, _watch_for_integration: None) -> Iterator[None]:
    """A test that starts a show (or a virtual show of 5 minutes or more), a server, the show's process or loads
    MiniLM (a torch import and seconds of embedding) must carry ``@pytest.mark.integration``, so ``make test-fast``
    (``-m "not integration"``) runs only what needs none of them; an unmarked one fails."""
    if "minilm" in request.fixturenames:  # a module fixture loads it once; every test using it needs it
        _STARTED.append("the MiniLM model")
    yield
    if _STARTED and request.node.get_closest_marker("integration") is None:
        started = ", ".join(sorted(set(_STARTED)))
        pytest.fail(f"this test starts {started}: mark it @pytest.mark.integration", pytrace=False)
