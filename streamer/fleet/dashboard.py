"""The fleet page: one tile per channel (a live thumbnail, its health, a link into its own dashboard), and the
fleet's Prometheus metrics, every sample labelled with its channel.

It is served by the supervisor (``fleet.yaml``'s ``dashboard``: 127.0.0.1:8090 by default), behind the same
sign-in as a channel's dashboard and with the same operator token, which is every channel's token too. ``/open/NAME``
signs the operator into that channel's dashboard with a one-time code (the token never goes into a URL).

Routes: ``/`` (the page), ``/api/fleet`` (the status rows as JSON), ``/thumb/NAME.jpg`` (the channel's latest
picture, 320 px wide), ``/open/NAME``, ``/metrics``, ``/healthz``, ``/login``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from streamer.dashboard.auth import LOGIN_PAGE, DashboardAuth
from streamer.dashboard.hardening import HostPolicy, content_security_policy, request_guard, security_headers
from streamer.dashboard.server import start_site
from streamer.fleet.supervisor import Supervisor

log = logging.getLogger(__name__)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>livehost fleet</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:16px;background:#111;color:#eee}
h1{font-size:18px;margin:0 0 12px}
#tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
.tile{background:#1c1c1c;border-radius:8px;padding:8px;border:2px solid #333}
.tile.live{border-color:#2a6}.tile.restarting,.tile.starting{border-color:#c92}.tile.drained{border-color:#666}
.tile img{width:100%;aspect-ratio:16/9;object-fit:contain;background:#000;display:block;border-radius:4px}
.tile h2{font-size:15px;margin:6px 0 4px;display:flex;justify-content:space-between}
.tile dl{display:grid;grid-template-columns:auto 1fr;gap:2px 8px;margin:0;font-size:12px}
.tile dt{color:#999}.tile dd{margin:0}
a{color:#7cf}
</style></head><body>
<h1>livehost fleet <span id="summary"></span></h1>
<div id="tiles"></div>
<script>
const tiles = document.getElementById("tiles");
function cell(dl, name, value) {
  const dt = document.createElement("dt"); dt.textContent = name;
  const dd = document.createElement("dd"); dd.textContent = value == null ? "\\u2014" : String(value);
  dl.append(dt, dd);
}
async function refresh() {
  let rows;
  try { rows = await (await fetch("/api/fleet")).json(); } catch (e) { return; }
  const t = Date.now();
  tiles.replaceChildren();
  let live = 0;
  for (const r of rows) {
    if (r.state === "live") live++;
    const h = r.health || {};
    const tile = document.createElement("div");
    tile.className = "tile " + r.state;
    const img = document.createElement("img");
    img.alt = r.name; img.src = "/thumb/" + encodeURIComponent(r.name) + ".jpg?t=" + t;
    const h2 = document.createElement("h2");
    const title = document.createElement("span"); title.textContent = r.name;
    const link = document.createElement("a"); link.textContent = "dashboard"; link.target = "_blank";
    link.href = "/open/" + encodeURIComponent(r.name);
    h2.append(title, link);
    const dl = document.createElement("dl");
    cell(dl, "state", r.state); cell(dl, "product", h.product); cell(dl, "fps", h.fps);
    cell(dl, "late frames", h["late frames"]); cell(dl, "replies", h.replies);
    const outs = r.outputs || [];
    cell(dl, "outputs live", outs.filter(o => o.state === "live").length + "/" + outs.length);
    cell(dl, "restarts", r.restarts); cell(dl, "uptime", h.uptime);
    if (r.error) cell(dl, "error", r.error);
    tile.append(img, h2, dl);
    tiles.append(tile);
  }
  document.getElementById("summary").textContent = "(" + live + "/" + rows.length + " live)";
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class FleetDashboardServer:
    def __init__(
        self, supervisor: Supervisor, *, host: str, port: int, token: str, allowed_hosts: Iterable[str] = ()
    ) -> None:
        self.supervisor = supervisor
        self.host = host
        self.port = port
        self._auth = DashboardAuth(token)
        self._hosts = HostPolicy(host, list(allowed_hosts))
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                security_headers(content_security_policy(PAGE, LOGIN_PAGE)),
                request_guard(self._hosts),
                self._auth.middleware(),
            ]
        )
        r = app.router
        r.add_get("/login", self._auth.login)
        r.add_post("/login", self._auth.login)
        r.add_get("/healthz", self._healthz)
        r.add_get("/", self._page)
        r.add_get("/api/fleet", self._fleet)
        r.add_get("/thumb/{name}.jpg", self._thumb)
        r.add_get("/open/{name}", self._open)
        r.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        self._runner, self.bound_port = await start_site(self.app(), self.host, self.port)

    async def aclose(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.bound_port or self.port}/"

    def login_code(self) -> str:
        return self._auth.login_code()

    # ---- routes --------------------------------------------------------------------------------------------

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True, "channels": len(self.supervisor.channels)})

    async def _page(self, _: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def _fleet(self, _: web.Request) -> web.Response:
        return web.json_response(await self.supervisor.status(), dumps=_dumps)

    def _channel(self, request: web.Request) -> Any:
        name = request.match_info["name"]
        w = self.supervisor.channels.get(name) if _NAME.match(name) else None
        if w is None:
            raise web.HTTPNotFound(text="no such channel")
        return w

    async def _thumb(self, request: web.Request) -> web.Response:
        w = self._channel(request)
        try:
            jpeg = await self.supervisor.backend.call(w.handle, "thumbnail", timeout_s=3.0)
        except Exception:
            jpeg = None
        if not jpeg:
            raise web.HTTPServiceUnavailable(text="no picture yet")
        return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def _open(self, request: web.Request) -> web.Response:
        """Into the channel's own dashboard, signed in by a one-time code it made just now."""
        w = self._channel(request)
        try:
            link = await self.supervisor.backend.call(w.handle, "login_link", timeout_s=3.0)
        except Exception:
            link = None
        if not link:
            raise web.HTTPServiceUnavailable(text="that channel has no dashboard right now")
        raise web.HTTPSeeOther(location=link)

    async def _metrics(self, _: web.Request) -> web.Response:
        texts: dict[str, str] = {}
        for name, w in list(self.supervisor.channels.items()):
            try:
                texts[name] = await self.supervisor.backend.call(w.handle, "metrics", timeout_s=3.0)
            except Exception:
                continue
        lines = [
            "# TYPE livehost_fleet_channel_up gauge",
            *(
                f'livehost_fleet_channel_up{{channel="{n}"}} {1 if w.state == "live" else 0}'
                for n, w in self.supervisor.channels.items()
            ),
            "# TYPE livehost_fleet_channel_restarts_total counter",
            *(
                f'livehost_fleet_channel_restarts_total{{channel="{n}"}} {w.restarts}'
                for n, w in self.supervisor.channels.items()
            ),
        ]
        lines += merge_metrics(texts)
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=str)


def merge_metrics(texts: dict[str, str]) -> list[str]:
    """Several channels' Prometheus text as one exposition: each family once (its ``# HELP``/``# TYPE`` first),
    its samples from every channel together, each with a ``channel`` label."""
    families: dict[str, dict[str, Any]] = {}
    for channel, text in texts.items():
        current: str | None = None
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    current = parts[2]
                    fam = families.setdefault(current, {"meta": {}, "samples": []})
                    fam["meta"].setdefault(parts[1], line)
                continue
            name_part, _, value = line.rpartition(" ")
            metric = name_part.split("{", 1)[0]
            family = current if current is not None and metric.startswith(current) else metric
            fam = families.setdefault(family, {"meta": {}, "samples": []})
            fam["samples"].append(_with_channel(name_part, channel) + " " + value)
    out: list[str] = []
    for fam in families.values():
        out += [fam["meta"][k] for k in ("HELP", "TYPE") if k in fam["meta"]]
        out += fam["samples"]
    return out


def _with_channel(name_part: str, channel: str) -> str:
    label = f'channel="{channel}"'
    if "{" not in name_part:
        return f"{name_part}{{{label}}}"
    head, rest = name_part.split("{", 1)
    return f"{head}{{{label}}}" if rest.strip() == "}" else f"{head}{{{label},{rest}"
