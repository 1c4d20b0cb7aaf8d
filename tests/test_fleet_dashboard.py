"""The fleet page on loopback with fake channel processes: sign-in with the fleet's one token, tiles' data, the
thumbnail, the jump into a channel's dashboard by one-time code, and Prometheus metrics labelled by channel."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from streamer.fleet.dashboard import FleetDashboardServer, merge_metrics
from streamer.fleet.supervisor import Supervisor

from .test_fleet_supervisor import Clock, FakeBackend, FakeProcess, plan, rounds

TOKEN = "fleet-token-0123456789"


class PictureBackend(FakeBackend):
    async def call(self, handle: FakeProcess, method: str, *args: Any, timeout_s: float) -> Any:
        if method == "thumbnail":
            return b"\xff\xd8 jpeg of " + handle.name.encode()
        if method == "login_link":
            return f"http://127.0.0.1:9999/login?code=one-time-{handle.name}"
        if method == "metrics":
            return (
                "# TYPE livehost_frames_total counter\n"
                f"livehost_frames_total {handle.frames}\n"
                "# TYPE livehost_approvals_total counter\n"
                'livehost_approvals_total{outcome="approved"} 2\n'
            )
        return await super().call(handle, method, *args, timeout_s=timeout_s)


def test_metrics_of_several_channels_merge_into_one_family_each_with_a_channel_label():
    merged = merge_metrics(
        {
            "tea": "# HELP livehost_fps frames a second\n# TYPE livehost_fps gauge\nlivehost_fps 30.00\n"
            '# TYPE livehost_up gauge\nlivehost_up{output="rtmp"} 1\n',
            "shoes": "# TYPE livehost_fps gauge\nlivehost_fps 29.90\n# TYPE livehost_up gauge\nlivehost_up{} 0\n",
        }
    )
    assert merged == [
        "# HELP livehost_fps frames a second",
        "# TYPE livehost_fps gauge",
        'livehost_fps{channel="tea"} 30.00',
        'livehost_fps{channel="shoes"} 29.90',
        "# TYPE livehost_up gauge",
        'livehost_up{channel="tea",output="rtmp"} 1',
        'livehost_up{channel="shoes"} 0',
    ]


@pytest.mark.integration
def test_the_fleet_page_signs_in_once_and_shows_every_channel_with_links_thumbnails_and_metrics():
    async def main() -> None:
        backend, clock = PictureBackend(), Clock()
        sup = Supervisor(backend, clock=clock)
        await sup.apply(plan(("tea", "a"), ("shoes", "b")))
        await rounds(sup, backend, clock, 3)
        server = FleetDashboardServer(sup, host="127.0.0.1", port=0, token=TOKEN)
        await server.start()
        base = server.url.rstrip("/")
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.get(base + "/api/fleet") as r:
                    assert r.status == 401  # nothing without signing in
                async with http.get(base + "/") as r:
                    assert r.status == 401 and "token" in (await r.text()).lower()
                    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
                async with http.get(base + "/login?token=" + TOKEN) as r:
                    assert r.status == 401  # a token in a URL is never taken
                async with http.post(base + "/login", data={"token": TOKEN}, allow_redirects=False) as r:
                    assert r.status == 303
                async with http.get(base + "/") as r:
                    page = await r.text()
                    assert r.status == 200 and "livehost fleet" in page
                async with http.get(base + "/api/fleet") as r:
                    rows = await r.json()
                    assert [x["name"] for x in rows] == ["tea", "shoes"]
                    assert {x["state"] for x in rows} == {"live"} and TOKEN not in str(rows)
                async with http.get(base + "/thumb/tea.jpg") as r:
                    assert r.status == 200 and r.content_type == "image/jpeg"
                    assert await r.read() == b"\xff\xd8 jpeg of tea"
                    assert r.headers["Cache-Control"] == "no-store"
                async with http.get(base + "/thumb/nobody.jpg") as r:
                    assert r.status == 404
                async with http.get(base + "/open/shoes", allow_redirects=False) as r:
                    assert r.status == 303
                    assert r.headers["Location"] == "http://127.0.0.1:9999/login?code=one-time-shoes"
                async with http.get(base + "/metrics") as r:
                    text = await r.text()
            assert 'livehost_fleet_channel_up{channel="tea"} 1' in text
            assert 'livehost_fleet_channel_restarts_total{channel="shoes"} 0' in text
            assert text.count("# TYPE livehost_frames_total counter") == 1
            assert 'livehost_frames_total{channel="tea"} ' in text and 'livehost_frames_total{channel="shoes"} ' in text
            assert 'livehost_approvals_total{channel="tea",outcome="approved"} 2' in text
        finally:
            await server.aclose()

    asyncio.run(main())
