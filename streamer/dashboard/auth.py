"""Access to the preview/dashboard server: one operator token, bearer for APIs, an HTTP-only session cookie for
the browser. ``/healthz`` alone is open (it says "ok" and nothing else).

The token comes from ``LIVEHOST_DASHBOARD_TOKEN`` or is generated at start and printed once to the console (never
logged). Comparisons are constant-time. Sessions are random, bounded in number and in age.
"""

from __future__ import annotations

import collections
import hmac
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

TOKEN_ENV = "LIVEHOST_DASHBOARD_TOKEN"
COOKIE = "livehost_session"
OPEN_PATHS = frozenset({"/healthz", "/login", "/favicon.ico"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dashboard_token(env: dict[str, str] | None = None) -> tuple[str, bool]:
    """(token, generated): the operator's token from the environment, or a fresh random one."""
    value = (os.environ if env is None else env).get(TOKEN_ENV, "").strip()
    if value:
        return value, False
    return secrets.token_urlsafe(24), True


class DashboardAuth:
    def __init__(self, token: str, *, max_sessions: int = 100, session_ttl_s: float = 7 * 24 * 3600) -> None:
        if len(token) < 12:
            raise ValueError(f"{TOKEN_ENV} must be at least 12 characters")
        self._token = token.encode()
        self._sessions: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._max = max_sessions
        self._ttl = session_ttl_s

    def token_ok(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self._token)  # type: ignore[union-attr]

    def new_session(self) -> str:
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = time.monotonic()
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return sid

    def session_ok(self, sid: str | None) -> bool:
        if not sid:
            return False
        for known, created in list(self._sessions.items()):
            if hmac.compare_digest(known.encode(), sid.encode()):
                if time.monotonic() - created > self._ttl:
                    del self._sessions[known]
                    return False
                return True
        return False

    def allowed(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and self.token_ok(header[7:].strip()):
            return True
        return self.session_ok(request.cookies.get(COOKIE))

    def middleware(self) -> Any:
        """An aiohttp middleware enforcing the rules above."""

        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path in OPEN_PATHS or self.allowed(request):
                return await handler(request)
            if request.path == "/" and request.method == "GET":
                return web.Response(status=401, text=LOGIN_PAGE, content_type="text/html")
            return web.json_response({"error": "authentication required"}, status=401)

        return check

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``GET /login?token=...`` (the link printed at start) or ``POST /login`` (the form): sets the cookie."""
        if request.method == "POST":
            form = await request.post()
            candidate = str(form.get("token", ""))
        else:
            candidate = request.query.get("token", "")
        if not self.token_ok(candidate):
            return web.Response(status=401, text=LOGIN_PAGE, content_type="text/html")
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            COOKIE,
            self.new_session(),
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            max_age=int(self._ttl),
            path="/",
        )
        return response


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>livehost — sign in</title>
<style>body{font-family:system-ui,sans-serif;background:#0f1218;color:#e8ecf3;display:grid;place-items:center;
height:100vh;margin:0}form{display:flex;gap:8px}input{padding:8px;border-radius:6px;border:1px solid #334;
background:#161b24;color:inherit;width:22em}button{padding:8px 14px;border-radius:6px;border:0;background:#2f6fdb;
color:white}</style></head><body><form method="post" action="/login"><input name="token" type="password"
placeholder="Dashboard token (printed when the show started)" autocomplete="current-password"><button
type="submit">Sign in</button></form></body></html>"""
