"""The live preview: real aiohttp server on loopback, real WebSocket client, fragments decoded back with PyAV."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time

import aiohttp
import av
import pytest

from streamer.chat.events import ChatEventLog
from streamer.dashboard.auth import COOKIE, DashboardAuth
from streamer.dashboard.server import DashboardServer
from streamer.publish.preview import PreviewHub, avc_codec_string

from .test_publish import make_encoder, synthetic

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class StaticShow:
    """The read-only half of the dashboard's view of a show (the controls are tested against a real Show)."""

    def __init__(self, status: dict | None = None, metrics: str = "") -> None:
        self.events = ChatEventLog()
        self._status = status or {"summary": {}}
        self._metrics = metrics

    def status(self) -> dict:
        return self._status

    def metrics_text(self) -> str:
        return self._metrics


def serve(hub: PreviewHub, show: StaticShow) -> DashboardServer:
    return DashboardServer(hub, control=show, host="127.0.0.1", port=0, auth=DashboardAuth(TOKEN))  # type: ignore[arg-type]


def test_codec_string_from_annex_b_and_avcc():
    annexb = b"\x00\x00\x00\x01\x67\x64\x00\x1f\xac"
    assert avc_codec_string(annexb) == "avc1.64001f"
    assert avc_codec_string(b"\x01\x42\xc0\x1e\xff") == "avc1.42c01e"


@pytest.mark.integration
def test_viewer_gets_an_init_message_then_playable_fmp4_starting_at_a_keyframe():
    syncs: list[dict] = []

    async def main() -> bytes:
        enc = make_encoder()
        loop = asyncio.get_running_loop()
        hub = PreviewHub(
            video_template=enc.video_stream,
            audio_template=enc.audio_stream,
            want_keyframe=enc.request_keyframe,
            loop=loop,
        )
        server = serve(hub, StaticShow({"summary": {"host": "Joe"}}))
        await server.start()
        received = bytearray()
        try:
            async with aiohttp.ClientSession(headers=AUTH) as http:
                async with http.get(server.url + "status.json") as r:
                    assert (await r.json())["summary"]["host"] == "Joe"
                async with http.get(server.url) as r:
                    assert "MediaSource" in await r.text()
                async with http.ws_connect(server.url + "ws/live") as ws:
                    first = await ws.receive(timeout=5)
                    info = json.loads(first.data)
                    assert info["type"] == "init" and 'codecs="avc1.' in info["mime"] and "mp4a.40.2" in info["mime"]
                    # The show has been running for a while: the viewer joins mid-GOP and must get a keyframe.
                    for n in range(100):
                        v, a = synthetic(enc, n)
                        hub.offer(enc.encode(v, a))
                        await asyncio.sleep(0.002)
                        while True:
                            try:
                                msg = await ws.receive(timeout=0.001)
                            except TimeoutError:
                                break
                            if msg.type == aiohttp.WSMsgType.BINARY:
                                received.extend(msg.data)
                            elif msg.type == aiohttp.WSMsgType.TEXT:
                                syncs.append(json.loads(msg.data) | {"got_ms": time.time() * 1000})
                    assert hub.viewers == 1
        finally:
            await server.aclose()
            enc.close()
        return bytes(received)

    data = asyncio.run(main())
    assert data[4:8] == b"ftyp"
    with av.open(io.BytesIO(data)) as c:
        kinds = {s.type for s in c.streams}
        assert kinds == {"video", "audio"}
        durations = {p.duration for p in c.demux(video=0) if p.size}
    with av.open(io.BytesIO(data)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) >= 90  # keyframe requested at join: almost every frame arrives
    assert frames[0].key_frame
    assert 0 not in durations and None not in durations  # a 0-length sample makes browsers drop the frames
    # Each viewer's timeline starts at 0 at its first keyframe; clock syncs map media time to publish time.
    assert frames[0].time == 0.0
    assert [m["type"] for m in syncs] == ["sync"] * len(syncs) and len(syncs) >= 3
    assert syncs[0]["media_s"] == 0.0
    assert all(b["media_s"] - a["media_s"] >= 1.0 for a, b in itertools.pairwise(syncs))
    assert all(0 <= m["got_ms"] - m["wall_ms"] < 1000 for m in syncs)


@pytest.mark.integration
def test_chat_events_stream_as_server_sent_events():
    async def main() -> list[dict]:
        enc = make_encoder()
        show = StaticShow()
        events = show.events
        events.add("comment", 1.0, user="maya", text="how much?", outcome="queued", reason="question:price")
        hub = PreviewHub(
            video_template=enc.video_stream,
            audio_template=enc.audio_stream,
            want_keyframe=enc.request_keyframe,
            loop=asyncio.get_running_loop(),
        )
        server = serve(hub, show)
        await server.start()
        got: list[dict] = []
        try:
            async with aiohttp.ClientSession(headers=AUTH) as http, http.get(server.url + "events") as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                events.add("reply", 2.0, user="maya", latency_s=0.5)  # live, after the history
                async for line in r.content:
                    if line.startswith(b"data: "):
                        got.append(json.loads(line[6:]))
                    if len(got) == 2:
                        break
        finally:
            await server.aclose()
            enc.close()
        return got

    got = asyncio.run(main())
    assert [(e["kind"], e["data"]["user"]) for e in got] == [("comment", "maya"), ("reply", "maya")]
    assert got[1]["data"]["latency_s"] == 0.5


@pytest.mark.integration
def test_everything_but_healthz_needs_the_token_and_login_sets_an_http_only_cookie():
    async def main() -> None:
        enc = make_encoder()
        hub = PreviewHub(
            video_template=enc.video_stream,
            audio_template=enc.audio_stream,
            want_keyframe=enc.request_keyframe,
            loop=asyncio.get_running_loop(),
        )
        server = serve(hub, StaticShow(metrics="livehost_frames_total 7\n"))
        await server.start()
        try:
            async with aiohttp.ClientSession() as anon:
                for path in ("", "status.json", "events", "metrics", "ws/live", "api/state", "api/files"):
                    async with anon.get(server.url + path) as r:
                        assert r.status == 401, path
                async with anon.get(
                    server.url + "status.json", headers={"Authorization": "Bearer wrong-token-xx"}
                ) as r:
                    assert r.status == 401
                async with anon.get(server.url + "healthz") as r:
                    assert r.status == 200 and await r.text() == "ok"
                async with anon.get(server.url + "login", params={"token": "nope"}) as r:
                    assert r.status == 401
            async with aiohttp.ClientSession(headers=AUTH) as api, api.get(server.url + "metrics") as r:
                assert r.status == 200 and "livehost_frames_total 7" in await r.text()
            # unsafe=True: aiohttp's client ignores cookies from IP-address hosts otherwise (browsers do not).
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
                async with browser.post(server.url + "login", data={"token": TOKEN}, allow_redirects=False) as r:
                    assert r.status == 303
                    cookie = r.headers["Set-Cookie"]
                    assert cookie.startswith(COOKIE) and "HttpOnly" in cookie and "SameSite=Strict" in cookie
                    assert TOKEN not in cookie
                async with browser.get(server.url) as r:
                    assert r.status == 200 and "MediaSource" in await r.text()
        finally:
            await server.aclose()
            enc.close()

    asyncio.run(main())
