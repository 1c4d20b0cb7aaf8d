"""What keeps the dashboard safe beyond its token: browser security headers, Host/Origin checks, a login rate limit.

* **Headers** on every response: a Content-Security-Policy that lets the page run only its own script (by hash)
  and talk only to its own origin, ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY``) so no other site can
  frame the controls, ``nosniff``, ``Referrer-Policy: same-origin``.
* **Host check** on every request (DNS rebinding: a page on ``evil.example`` that re-points its name to 127.0.0.1
  arrives with ``Host: evil.example``): a dashboard on loopback answers only loopback names; one on another
  address answers IP literals, this machine's own names and the names in ``preview.allowed_hosts``.
* **Origin check** on every state-changing request (POST, PUT, PATCH, DELETE): a browser's request must come from
  the dashboard's own origin (``Origin``, else ``Referer``). A request with neither is a program with the token
  (a browser always sends ``Origin`` on a cross-site POST), and is let through to the token check.
* **Login rate limit**: failed sign-ins are counted per client address and overall in a sliding minute; past the
  limit the login answers 429 with ``Retry-After`` without looking at the token.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)

#: Methods that change something: their Origin must be the dashboard's own.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def content_security_policy(*pages: str) -> str:
    """The CSP for pages whose only scripts are the inline ``<script>`` blocks in ``pages`` (allowed by hash)."""
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"
            for page in pages
            for body in _SCRIPT.findall(page)
        }
    )
    return "; ".join(
        (
            "default-src 'none'",
            "script-src " + (" ".join(hashes) if hashes else "'none'"),
            "style-src 'self' 'unsafe-inline'",  # the page's own <style> and style attributes; no script runs from CSS
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",  # the MSE preview plays from a blob: URL
            "connect-src 'self'",  # fetch, the event stream, the preview WebSocket (same origin)
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(csp: str) -> Any:
    """An aiohttp middleware adding the browser security headers to every response (errors included)."""
    headers = {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",  # not no-referrer: under it a form POST says `Origin: null`
        "Cross-Origin-Opener-Policy": "same-origin",
    }

    @web.middleware
    async def add(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        if not response.prepared:  # a stream (events, preview) already sent its headers: they were added in prepare
            for name, value in headers.items():
                response.headers.setdefault(name, value)
        return response

    return add


def _is_loopback_name(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host(value: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8080`` -> ``::1``, ``example.com:80`` -> ``example.com``)."""
    value = value.strip()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostPolicy:
    """Which ``Host`` names the dashboard answers (see the module docstring)."""

    def __init__(self, bind_host: str, allowed: Iterable[str] = ()) -> None:
        self.loopback_only = _is_loopback_name(bind_host) if bind_host else False
        names = {a.strip().lower().rstrip(".") for a in allowed if a.strip()}
        if not self.loopback_only:
            try:  # no getfqdn(): it may ask DNS, and this runs on the show's event loop
                names.add(socket.gethostname().lower())
            except OSError:  # pragma: no cover - a machine without a name
                pass
        self.allowed = frozenset(names)

    def host_ok(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        host = _split_host(host_header).lower().rstrip(".")
        if _is_loopback_name(host):
            return True
        if self.loopback_only:
            return host in self.allowed
        if host in self.allowed:
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True  # an address literal: no name to re-point


def same_origin(request: web.Request) -> bool | None:
    """True when the request's ``Origin`` (else ``Referer``) is the dashboard's own; None when it has neither."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        referer = request.headers.get("Referer")
        if not referer:
            return None if origin is None else False
        origin = referer
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return parts.netloc.lower() == (request.host or "").lower() and parts.scheme == request.scheme


def request_guard(policy: HostPolicy) -> Any:
    """An aiohttp middleware refusing a foreign ``Host`` (421) and a cross-origin state change (403)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/healthz" and not policy.host_ok(request.headers.get("Host")):
            refusal = {"ok": False, "error": "this dashboard does not answer that host name"}
            return web.json_response(refusal, status=421)
        if request.method in UNSAFE_METHODS and same_origin(request) is False:
            return web.json_response({"ok": False, "error": "cross-origin request refused"}, status=403)
        return await handler(request)

    return check


class LoginLimiter:
    """Failed sign-ins in a sliding window, per client address and overall. ``clock``: monotonic seconds."""

    def __init__(
        self,
        *,
        per_client: int = 5,
        overall: int = 30,
        window_s: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self.window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._by_client: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._all: collections.deque[float] = collections.deque()
        self.refused = 0
        """Sign-ins answered 429 (for the status and the tests)."""

    def _trim(self, q: collections.deque[float], now: float) -> None:
        while q and now - q[0] >= self.window_s:
            q.popleft()

    def retry_after_s(self, client: str) -> float:
        """0 when ``client`` may try now, else the seconds until it may."""
        now = self._clock()
        self._trim(self._all, now)
        waits = []
        if len(self._all) >= self.overall:
            waits.append(self.window_s - (now - self._all[0]))
        q = self._by_client.get(client)
        if q is not None:
            self._trim(q, now)
            if len(q) >= self.per_client:
                waits.append(self.window_s - (now - q[0]))
        return max(waits, default=0.0)

    def failed(self, client: str) -> None:
        now = self._clock()
        self._all.append(now)
        q = self._by_client.pop(client, None) or collections.deque(maxlen=self.per_client)
        q.append(now)
        self._by_client[client] = q  # most recent last: the oldest clients go first when the table is full
        while len(self._by_client) > self._max_clients:
            self._by_client.popitem(last=False)
        while len(self._all) > self.overall:
            self._all.popleft()
