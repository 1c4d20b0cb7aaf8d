"""A chat feed for the flood test, run as its own process (a real feed is on another machine; in the show's process
its sending would take the show's CPU): ``python flood_feed.py TOTAL SECONDS``.

Prints the port it listens on (127.0.0.1), then serves WebSocket connections: to each it sends TOTAL comments over
SECONDS, one frame in 25 poison (60 KB of '[', a lone surrogate with no id, junk bytes, objects that are not
messages), one comment in 400 a real question; then it prints ``sent FRAMES POISON`` and keeps the connection open.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import websockets

POISON: list[str | bytes] = [
    "[" * 60_000,
    '{"user": "eve", "text": "hi \\ud800 there"}',
    b"\xff\xfe\x00garbage",
    '{"user": {"n": 1}, "text": "x"}',
    "null",
]
QUESTIONS = ["how much is the cat bed?", "does the coffee ship to Canada?", "is the lamp dimmable?"]


async def main() -> None:
    total, seconds = int(sys.argv[1]), float(sys.argv[2])

    async def feed(ws: websockets.ServerConnection) -> None:
        t0 = time.monotonic()
        poison = 0
        for i in range(total):
            if i % 25 == 24:
                await ws.send(POISON[(i // 25) % len(POISON)])
                poison += 1
            text = QUESTIONS[(i // 400) % 3] if i % 400 == 0 else f"wow {i}"
            await ws.send(json.dumps({"id": f"m{i}", "user": f"viewer{i % 700}", "text": text}))
            await asyncio.sleep(max(0.0, t0 + (i + 1) * seconds / total - time.monotonic()))
        print(f"sent {total} {poison}", flush=True)
        await ws.wait_closed()

    async with websockets.serve(feed, "127.0.0.1", 0, compression=None) as server:
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
