"""A WHIP endpoint for the outputs benchmark, run as its own process: ``python -m streamer.bench.whip_sink``.

Prints the port it listens on (127.0.0.1), then answers ``POST /whip`` offers (201, Location, answer) with an aiortc
peer connection whose received tracks are read and thrown away, and ``DELETE`` on the session. Its own process, so
what receiving and decoding cost is not counted as the show's. Every ICE candidate stays on loopback. Ends on
SIGTERM or when its standard input closes.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiohttp import web


async def main() -> None:
    import aioice.ice
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError

    from streamer.publish.webrtc import accept_any_h264_profile

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # loopback only
    sessions: dict[str, Any] = {}
    tasks: set[asyncio.Task[None]] = set()
    received = {"video": 0, "audio": 0}

    async def drain(track: Any) -> None:
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            received[track.kind] += 1

    async def post(request: web.Request) -> web.Response:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("track")
        def on_track(track: Any) -> None:
            task = asyncio.ensure_future(drain(track))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        offer = await request.text()
        offer_for_aiortc, answer_for_peer = accept_any_h264_profile(offer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_for_aiortc, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        sid = str(len(sessions) + 1)
        sessions[sid] = pc
        return web.Response(
            status=201,
            text=answer_for_peer(pc.localDescription.sdp),
            content_type="application/sdp",
            headers={"Location": f"/whip/{sid}"},
        )

    async def delete(request: web.Request) -> web.Response:
        pc = sessions.pop(request.match_info["sid"], None)
        if pc is not None:
            await pc.close()
        print(f"received {received['video']} {received['audio']}", flush=True)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/whip", post)
    app.router.add_delete("/whip/{sid}", delete)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent goes
    for pc in sessions.values():
        await pc.close()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
