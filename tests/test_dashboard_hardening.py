"""Dashboard hardening: rate-limited sign-in, one-time login links, Host/Origin checks, CSP and framing headers, and
a one-line error (exit 2) for a dashboard token that is too short."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streamer.chat.events import ChatEventLog
from streamer.dashboard.auth import COOKIE, DashboardAuth, TokenError
from streamer.dashboard.hardening import HostPolicy, LoginLimiter, content_security_policy
from streamer.dashboard.server import DashboardServer, _page

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hardening-token-0123456789"


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_failed_sign_ins_are_limited_per_client_and_overall_in_a_sliding_minute() -> None:
    clock = FakeClock()
    limiter = LoginLimiter(per_client=5, overall=8, window_s=60.0, clock=clock)
    for _ in range(5):
        assert limiter.retry_after_s("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
        clock.t += 1.0
    wait = limiter.retry_after_s("10.0.0.1")
    assert 54.0 <= wait <= 55.0  # the first failure (at 100) leaves the window at 160
    assert limiter.retry_after_s("10.0.0.2") == 0  # another client is not held by the first one's failures
    for _ in range(3):
        limiter.failed("10.0.0.2")
    assert limiter.retry_after_s("10.0.0.3") > 0  # 8 failures overall: a guess from anywhere waits
    clock.t += 60.0
    assert limiter.retry_after_s("10.0.0.1") == 0 and limiter.retry_after_s("10.0.0.3") == 0


def test_the_client_table_is_bounded() -> None:
    limiter = LoginLimiter(per_client=2, overall=10**9, max_clients=100, clock=FakeClock())
    for i in range(10_000):
        limiter.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter._by_client) == 100 and len(limiter._all) <= 10**9


def test_host_policy_on_loopback_answers_loopback_names_only() -> None:
    policy = HostPolicy("127.0.0.1")
    for ok in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST", "app.localhost:1"):
        assert policy.host_ok(ok), ok
    for bad in ("evil.example", "evil.example:8080", "192.168.1.5:8080", "", None):
        assert not policy.host_ok(bad), bad
    assert HostPolicy("127.0.0.1", ["studio.example"]).host_ok("studio.example:443")


def test_host_policy_on_all_interfaces_answers_addresses_and_named_hosts_only() -> None:
    policy = HostPolicy("0.0.0.0", ["dash.shop.example"])
    for ok in ("192.168.1.5:8080", "[fe80::1]:80", "dash.shop.example", "localhost"):
        assert policy.host_ok(ok), ok
    assert not policy.host_ok("rebind.attacker.example:8080")


def test_the_csp_allows_exactly_the_dashboard_s_own_script() -> None:
    page = _page()
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = content_security_policy(page)
    assert f"script-src 'sha256-{digest}'" in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "unsafe-eval" not in csp
    assert "script-src 'unsafe-inline'" not in csp


def test_a_short_token_is_a_setting_error_that_does_not_echo_it() -> None:
    with pytest.raises(TokenError) as err:
        DashboardAuth("hunter2")
    assert "7 characters" in str(err.value) and "hunter2" not in str(err.value)


class PauseOnly:
    """Just enough of a show for the controls the test drives."""

    def __init__(self) -> None:
        self.events = ChatEventLog()
        self.paused: list[bool] = []

    def status(self) -> dict[str, Any]:
        return {"summary": {}}

    def pause_patter(self, paused: bool) -> dict[str, Any]:
        self.paused.append(paused)
        return {"paused": paused}


@pytest.mark.integration
def test_a_real_dashboard_checks_host_origin_sign_ins_and_sends_the_security_headers() -> None:
    async def main() -> None:
        show = PauseOnly()
        auth = DashboardAuth(TOKEN, limiter=LoginLimiter(per_client=3, overall=50))
        server = DashboardServer(None, control=show, host="127.0.0.1", port=0, auth=auth)  # type: ignore[arg-type]
        await server.start()
        base = server.url
        origin = base.rstrip("/")
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        try:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as browser:
                # Every response carries the headers, the sign-in page and errors included.
                async with browser.get(base) as r:
                    assert r.status == 401
                    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
                    assert r.headers["X-Frame-Options"] == "DENY"
                    assert r.headers["X-Content-Type-Options"] == "nosniff"
                # The one-time link signs in once; a second use, or a token in a URL, does not.
                code = auth.login_code()
                async with browser.get(base + "login", params={"code": code}, allow_redirects=False) as r:
                    assert r.status == 303 and COOKIE in r.headers["Set-Cookie"]
                async with browser.get(base) as r:
                    assert r.status == 200 and "script-src 'sha256-" in r.headers["Content-Security-Policy"]
                # A same-origin POST from the page works; one from another site does not, even with the cookie.
                pause = base + "api/show/pause"
                async with browser.post(pause, json={"paused": True}, headers={"Origin": origin}) as r:
                    assert r.status == 200
                for foreign in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "http://x.test/"}):
                    async with browser.post(pause, json={"paused": False}, headers=foreign) as r:
                        assert r.status == 403, foreign
                assert show.paused == [True]
                # DNS rebinding: the right address under a foreign name is refused, even signed in.
                async with browser.get(base + "status.json", headers={"Host": "rebind.evil.example"}) as r:
                    assert r.status == 421
            async with aiohttp.ClientSession() as stranger:
                async with stranger.get(base + "login", params={"code": code}, allow_redirects=False) as r:
                    assert r.status == 401  # spent
                async with stranger.get(base + "login", params={"token": TOKEN}, allow_redirects=False) as r:
                    assert r.status == 401  # never from a URL
                async with stranger.post(base + "login", data={"token": "a-wrong-guess-123"}) as r:
                    assert r.status == 401
                # 3 failures from this address so far: the next sign-in is refused unread, even the right one.
                async with stranger.post(base + "login", data={"token": TOKEN}, allow_redirects=False) as r:
                    assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
                assert auth.limiter.refused == 1
            # A program with the token and no Origin (not a browser) may still drive the controls.
            async with aiohttp.ClientSession(headers=bearer) as api:
                async with api.post(pause, json={"paused": False}) as r:
                    assert r.status == 200
            assert show.paused == [True, False]
        finally:
            await server.aclose()

    asyncio.run(main())


@pytest.mark.integration
def test_a_short_dashboard_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "LIVEHOST_DASHBOARD_TOKEN": "short-tok"}
    r = subprocess.run(
        [sys.executable, str(REPO / "run_stream.py"), "run", "--duration", "2", "--out", str(tmp_path / "x.flv")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr[-1000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: LIVEHOST_DASHBOARD_TOKEN is 9 characters long: use at least 12 (or leave it unset "
        "and a random one is made at start)"
    ]
    assert "Traceback" not in r.stderr and "short-tok" not in r.stderr + r.stdout
    assert not (tmp_path / "x.flv").exists()
