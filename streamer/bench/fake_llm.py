"""A scripted OpenAI-compatible chat-completions server on loopback, for tests of LLM backends.

``FakeLlm`` listens on ``127.0.0.1`` (ephemeral port) and answers ``POST /v1/chat/completions`` with ``stream: true``
as Server-Sent Events (``data: {chunk json}`` lines with ``choices[0].delta.content``, then ``data: [DONE]``). Each
request takes the next scripted :class:`Reply` (the last one repeats when the script runs out)::

    async with FakeLlm([fast("Hello there. Nice to see you!"), http_error(500)]) as fake:
        settings = LlmSettings(base_url=fake.base_url, model="fake", api_key_env=None)
        ...
        fake.requests[0].body["messages"]

Behaviours: :func:`fast` (tokens at a steady pace after a time-to-first-token), :func:`slow` (first token after
5 s), :func:`cut_off` (some tokens, then the connection drops mid-body), :func:`junk` (chunks that are not JSON),
:func:`not_sse` (a 200 whose body is an HTML page), :func:`http_error`. Bounded: at most ``max_requests`` requests
(then 503), no reply runs longer than ``max_reply_s``, and :meth:`FakeLlm.aclose` ends every handler in flight.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

ReplyKind = Literal["stream", "cut_off", "junk", "not_sse", "http_error"]


@dataclass(frozen=True, slots=True)
class Reply:
    kind: ReplyKind
    text: str = ""
    ttft_s: float = 0.0
    """Delay before the first token (headers go out at once, like a real server)."""
    token_s: float = 0.005
    """Delay between tokens."""
    token_chars: int = 4
    """Characters per token."""
    status: int = 200
    hold_s: float = 0.0
    """After the last token, wait this long before ending (or dropping) the stream."""
    finish_reason: str = "stop"


def fast(text: str, *, ttft_s: float = 0.0, token_s: float = 0.005, token_chars: int = 4) -> Reply:
    return Reply("stream", text, ttft_s=ttft_s, token_s=token_s, token_chars=token_chars)


def slow(text: str = "Sorry I'm late. Here I am.", *, ttft_s: float = 5.0) -> Reply:
    return Reply("stream", text, ttft_s=ttft_s)


def trickle(text: str, *, token_s: float, hold_s: float = 0.0) -> Reply:
    """Tokens far apart (a stream still running when the consumer stops listening)."""
    return Reply("stream", text, token_s=token_s, hold_s=hold_s)


def cut_off(text_before: str, *, hold_s: float = 0.05) -> Reply:
    """Stream ``text_before``, wait ``hold_s``, then drop the connection without ending the body."""
    return Reply("cut_off", text_before, hold_s=hold_s)


def junk() -> Reply:
    return Reply("junk")


def not_sse() -> Reply:
    return Reply("not_sse")


def http_error(status: int = 500, message: str = "fake failure") -> Reply:
    return Reply("http_error", message, status=status)


def truncated(text: str) -> Reply:
    """A stream that ends with ``finish_reason: length`` (the model hit max_tokens mid-sentence)."""
    return Reply("stream", text, finish_reason="length")


class _ServerClosing(Exception):
    pass


@dataclass(slots=True)
class SeenRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    """``time.monotonic()`` when it arrived."""
    ended: str = "running"
    """How the reply ended: ``done``, ``client_gone`` (the client hung up), ``dropped`` (a :func:`cut_off`),
    ``refused`` (over ``max_requests``), ``too_long`` (over ``max_reply_s``), ``server_closed``."""
    ended_at: float | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def content(self, role: str) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == role)


@dataclass
class FakeLlm:
    script: list[Reply] = field(default_factory=list)
    max_requests: int = 50
    max_reply_s: float = 10.0
    requests: list[SeenRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self._cursor = 0
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def then(self, *replies: Reply) -> None:
        """Append replies to the script (for later requests)."""
        self.script.extend(replies)

    async def start(self) -> FakeLlm:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        # handler_cancellation: a client that hangs up cancels its handler, like a real server stops generating.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def aclose(self) -> None:
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeLlm:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def wait_ended(self, index: int, timeout_s: float = 2.0) -> SeenRequest:
        """Wait until request ``index`` has finished on the server side (any way)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if index < len(self.requests) and self.requests[index].ended != "running":
                return self.requests[index]
            await asyncio.sleep(0.01)
        raise TimeoutError(f"request {index} still running on the fake server after {timeout_s} s")

    # ---- serving ----------------------------------------------------------------------------------------------

    def _next_reply(self) -> Reply:
        if not self.script:
            return fast("Hello from the fake model.")
        reply = self.script[min(self._cursor, len(self.script) - 1)]
        self._cursor += 1
        return reply

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = {"_invalid": True}
        seen = SeenRequest(
            path=request.path,
            body=body if isinstance(body, dict) else {"_invalid": True},
            headers={k.lower(): v for k, v in request.headers.items()},
            at=time.monotonic(),
        )
        self.requests.append(seen)
        if len(self.requests) > self.max_requests:
            seen.ended = "refused"
            return web.json_response({"error": {"message": "fake: too many requests"}}, status=503)
        reply = self._next_reply()
        try:
            async with asyncio.timeout(self.max_reply_s):
                return await self._reply(request, reply, seen)
        except _ServerClosing:
            seen.ended = "server_closed"
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        except TimeoutError:
            seen.ended = "too_long"
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        except (asyncio.CancelledError, ConnectionError):
            seen.ended = "client_gone"
            raise
        finally:
            seen.ended_at = time.monotonic()
            if seen.ended == "running":
                seen.ended = "done"

    async def _pause(self, delay_s: float) -> None:
        """Sleep, but end early when the server closes."""
        if delay_s <= 0:
            return
        try:
            await asyncio.wait_for(self._closing.wait(), delay_s)
        except TimeoutError:
            return
        raise _ServerClosing

    async def _reply(self, request: web.Request, reply: Reply, seen: SeenRequest) -> web.StreamResponse:
        if reply.kind == "http_error":
            return web.json_response({"error": {"message": reply.text, "type": "server_error"}}, status=reply.status)
        if reply.kind == "not_sse":
            return web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        model = str(seen.body.get("model", "fake"))
        if reply.kind == "junk":
            await resp.write(b"data: {this is not json\n\n")
            await resp.write(b"data: <html>oops</html>\n\n")
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp

        await self._pause(reply.ttft_s)
        await resp.write(_sse(_chunk(model, {"role": "assistant", "content": ""})))
        text = reply.text
        for i in range(0, len(text), reply.token_chars):
            if i:
                await self._pause(reply.token_s)
            await resp.write(_sse(_chunk(model, {"content": text[i : i + reply.token_chars]})))
        await self._pause(reply.hold_s)
        if reply.kind == "cut_off":
            # Drop the connection mid-body: no final chunk, no [DONE], no end of the chunked encoding.
            seen.ended = "dropped"
            if request.transport is not None:
                request.transport.abort()
            return resp
        await resp.write(_sse(_chunk(model, {}, finish_reason=reply.finish_reason)))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"
