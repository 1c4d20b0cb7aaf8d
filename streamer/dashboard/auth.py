"""Access to the preview/dashboard server: one operator token, bearer for APIs, an HTTP-only session cookie for
the browser. ``/healthz`` alone is open (it says "ok" and nothing else).

The token comes from ``LIVEHOST_DASHBOARD_TOKEN`` or is generated at start and printed once to the console (never
logged). Comparisons are constant-time. Sessions are random, bounded in number and in age.

The link printed at start carries a **one-time login code**, not the token: it signs in once, within
``LOGIN_CODE_TTL_S``, and is then spent (a link left in a browser's history or a chat log opens nothing). The token
itself is accepted by the sign-in form (POST) and as a bearer header, never in a URL. Failed sign-ins are rate
limited (:class:`~streamer.dashboard.hardening.LoginLimiter`).
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

from streamer.dashboard.hardening import LoginLimiter

TOKEN_ENV = "LIVEHOST_DASHBOARD_TOKEN"

#: The shortest operator token accepted (characters).
MIN_TOKEN_CHARS = 12

#: How long a printed one-time login link stays usable (seconds).
LOGIN_CODE_TTL_S = 15 * 60.0


class TokenError(ValueError):
    """The operator's dashboard token is unusable: a setting to fix (the CLI prints it on one line, exit 2)."""


COOKIE = "livehost_session"
OPEN_PATHS = frozenset({"/healthz", "/login", "/favicon.ico"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def check_token(token: str) -> None:
    """Raises :class:`TokenError` for a token too short to be a secret."""
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenError(
            f"{TOKEN_ENV} is {len(token)} characters long: use at least {MIN_TOKEN_CHARS} "
            "(or leave it unset and a random one is made at start)"
        )


def dashboard_token(env: dict[str, str] | None = None) -> tuple[str, bool]:
    """(token, generated): the operator's token from the environment, or a fresh random one."""
    value = (os.environ if env is None else env).get(TOKEN_ENV, "").strip()
    if value:
        return value, False
    return secrets.token_urlsafe(24), True


class DashboardAuth:
    def __init__(
        self,
        token: str,
        *,
        max_sessions: int = 100,
        session_ttl_s: float = 7 * 24 * 3600,
        limiter: LoginLimiter | None = None,
    ) -> None:
        check_token(token)
        self._token = token.encode()
        self._sessions: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._max = max_sessions
        self._ttl = session_ttl_s
        self._codes: dict[str, float] = {}
        """One-time login codes -> when each expires (monotonic)."""
        self.limiter = limiter or LoginLimiter()
        self.cookie = f"{COOKIE}_{secrets.token_hex(4)}"
        """This dashboard's own cookie name: browsers keep cookies per host, not per port, so a fleet's dashboards
        on one machine (and its fleet page) must not overwrite each other's sessions."""

    def login_code(self, ttl_s: float = LOGIN_CODE_TTL_S) -> str:
        """A fresh code for ``/login?code=...``: it signs in once, within ``ttl_s`` seconds."""
        now = time.monotonic()
        self._codes = {c: t for c, t in self._codes.items() if t > now}
        while len(self._codes) >= 16:  # a handful at most: the oldest goes
            self._codes.pop(min(self._codes, key=self._codes.__getitem__))
        code = secrets.token_urlsafe(24)
        self._codes[code] = now + ttl_s
        return code

    def _spend_code(self, candidate: str) -> bool:
        now = time.monotonic()
        for code, expires in list(self._codes.items()):
            if hmac.compare_digest(code.encode(), candidate.encode()):
                del self._codes[code]  # spent, whatever the outcome
                return expires > now
        return False

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
        return self.session_ok(request.cookies.get(self.cookie))

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
        """``GET /login?code=...`` (the one-time link printed at start) or ``POST /login`` (the form, with the
        token): sets the session cookie. A token in a URL is refused: URLs end up in histories and logs."""
        client = request.remote or "?"
        wait = self.limiter.retry_after_s(client)
        if wait > 0:
            self.limiter.refused += 1
            return web.Response(
                status=429,
                text="too many failed sign-ins: wait a minute",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        if request.method == "POST":
            form = await request.post()
            ok = self.token_ok(str(form.get("token", "")))
        elif "code" in request.query:
            ok = self._spend_code(request.query["code"])
        elif not request.query:
            return web.Response(status=200, text=LOGIN_PAGE, content_type="text/html")
        else:  # ?token=...: never taken from a URL
            ok = False
        if not ok:
            self.limiter.failed(client)
            return web.Response(status=401, text=LOGIN_PAGE, content_type="text/html")
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            self.cookie,
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
