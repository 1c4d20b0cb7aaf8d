"""The dashboard's controls against a real running show (silent voice, real aiohttp server on loopback).

One show runs for the whole test; each step drives the JSON API with the bearer token and checks what the show
then does: what is spoken (the transcript of what viewers heard), what triage decides, what the files hold.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from streamer.app import Channel, ChannelSpec
from streamer.config import Persona, SimulatorChatSource, StreamConfig
from streamer.frames import ChatMessage
from streamer.publish.sinks import parse_target

from .conftest import REPO

TOKEN = "dashboard-api-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATTER = ("patter", "transition", "greeting", "invite")


async def until(what: Callable[[], Any], timeout_s: float, step_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        await asyncio.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def spoken(show: Channel, kinds: tuple[str, ...] | None = None, after_seq: int = 0) -> list[dict[str, Any]]:
    return [
        e.data | {"seq": e.seq}
        for e in show.events.recent("spoken", limit=1000)
        if e.seq > after_seq and (kinds is None or e.data["kind"] in kinds)
    ]


@pytest.mark.integration
def test_the_operator_drives_the_running_show_through_the_api(tmp_path: Path):
    persona_file = tmp_path / "host.yaml"
    shutil.copy(REPO / "personas/host.yaml", persona_file)
    text = read(persona_file).replace("backend: piper", "backend: silence")
    persona_file.write_text(text)
    products = tmp_path / "products"
    shutil.copytree(REPO / "products", products)
    script = tmp_path / "quiet.yaml"  # a real chat source, but the test types the comments itself
    script.write_text(yaml.safe_dump([{"after_s": 3600, "user": "later", "text": "hi", "kind": "comment"}]))
    config = StreamConfig.model_validate(
        {
            "video": {"width": 640, "height": 360},
            "preview": {"enabled": True, "port": 0},
            "show": {"seed": 9},
            "chat": {"sources": [SimulatorChatSource(script=str(script)).model_dump()]},
        }
    )
    from streamer.loading import load_persona

    persona, _ = load_persona(persona_file)
    show = Channel(
        ChannelSpec(
            config=config,
            persona=persona,
            persona_path=persona_file,
            products=str(products),
            outputs=[parse_target(str(tmp_path / "out.flv"))],
            duration_s=90,
            dashboard_token=TOKEN,
        )
    )
    log: list[str] = []

    async def drive() -> None:
        try:
            await until(lambda: show.preview_server is not None and show.preview_server.bound_port, 10)
            assert show.preview_server is not None
            url = show.preview_server.url
            await until(lambda: spoken(show, PATTER), 15)
            async with aiohttp.ClientSession(headers=AUTH) as api:
                await steps(api, url, show, persona_file, log)
        finally:
            show.request_stop()

    async def main() -> int:
        runner = asyncio.create_task(show.run())
        try:
            await drive()
        finally:
            code = await runner
        return code

    assert asyncio.run(main()) == 0, log
    assert show.media is not None and show.media.pacer.resyncs == 0  # video flowed throughout
    assert isinstance(show.persona, Persona)


async def post(api: aiohttp.ClientSession, url: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    async with api.post(url, json=body) as r:
        data: dict[str, Any] = await r.json()
        assert r.status == status, (url, r.status, data)
        return data


async def steps(api: aiohttp.ClientSession, url: str, show: Channel, persona_file: Path, log: list[str]) -> None:
    step: Callable[[str], None] = log.append

    step("anonymous and non-JSON requests are refused")
    async with aiohttp.ClientSession() as anon, anon.post(url + "api/takeover", json={"text": "hi"}) as r:
        assert r.status == 401
    async with api.post(url + "api/takeover", data="text=hi") as r:
        assert r.status == 415
    await post(api, url + "api/takeover", {"text": "   "}, 400)

    step("takeover: the operator's words are spoken next and logged as operator speech")
    mark = show.events.history[-1].seq
    line = "Quick note from the team: orders placed today ship tomorrow."
    got = await post(api, url + "api/takeover", {"text": line})
    assert got["ok"] and got["sentences"] == [line]
    said = await until(lambda: spoken(show, ("operator",), mark), 10)
    assert said[0]["text"] == line and not said[0]["interrupted"]
    assert any(e.kind == "operator" and e.data["text"] == line for e in show.events.history)

    step("pause: no patter is said while paused; resume brings it back")
    await post(api, url + "api/show/pause", {"paused": True})
    await asyncio.sleep(1.5)  # the sentence on air stops at its next word boundary
    mark = show.events.history[-1].seq
    await asyncio.sleep(3.0)
    assert spoken(show, PATTER, mark) == []
    state = (await (await api.get(url + "api/state")).json())["show"]
    assert state["paused"] is True
    await post(api, url + "api/show/pause", {"paused": False})
    await until(lambda: spoken(show, PATTER, mark), 12)  # (reported when the sentence has been heard)

    step("skip: the show moves to the next product in the queue")
    state = (await (await api.get(url + "api/state")).json())["show"]
    ids = [p["id"] for p in state["queue"]]
    current = show.director.current_product
    assert current is not None
    nxt = ids[(ids.index(current.id) + 1) % len(ids)]
    await post(api, url + "api/show/skip", {})
    await until(lambda: show.on_air is not None and show.on_air.product_id == nxt, 6)

    step("reorder and pin: the queue follows the operator; a bad order is refused")
    await post(api, url + "api/show/order", {"product_ids": ids[:1]}, 400)
    new_order = list(reversed(ids))
    state = await post(api, url + "api/show/order", {"product_ids": new_order})
    assert [p["id"] for p in state["queue"]] == new_order
    await post(api, url + "api/show/pin", {"product_id": "nope"}, 404)
    target = next(i for i in ids if i != nxt)
    state = await post(api, url + "api/show/pin", {"product_id": target})
    assert state["pinned"] == target
    await until(lambda: show.on_air is not None and show.on_air.product_id == target, 8)
    await post(api, url + "api/show/pin", {"product_id": None})

    step("approve-before-speak: the answer waits, approval speaks it, rejection and timeout drop it")
    await post(api, url + "api/approval", {"enabled": True, "timeout_s": 5})
    await post(api, url + "api/approval", {"enabled": True, "timeout_s": 1}, 400)
    chat(show, "maya_22", "how much is the cat bed?", "m1")
    pending = await until(lambda: show.approvals.pending(show.clock.now()), 8)
    assert pending[0]["user"] == "maya" and any("39 dollars 90" in s for s in pending[0]["sentences"])
    assert not spoken(show, ("reply", "reply_more"))  # nothing said before approval
    mark = show.events.history[-1].seq
    await post(api, url + "api/approval/" + pending[0]["id"], {"action": "approve"})
    await until(lambda: any("39 dollars 90" in s["text"] for s in spoken(show, ("reply", "reply_more"), mark)), 8)
    await post(api, url + "api/approval/" + pending[0]["id"], {"action": "approve"}, 404)
    chat(show, "leo", "does the rocket kit need batteries?", "m2")
    pending = await until(lambda: show.approvals.pending(show.clock.now()), 8)
    await post(api, url + "api/approval/" + pending[0]["id"], {"action": "reject"})
    chat(show, "ana", "is the coffee organic?", "m3")
    await until(lambda: show.approvals.pending(show.clock.now()), 8)
    expired = await until(lambda: [e for e in show.events.recent("approval") if e.data["state"] == "expired"], 8)
    assert expired[0].data["user"] == "ana"
    await post(api, url + "api/approval", {"enabled": False})

    step("mute and block: their comments are dropped with the reason; unblock lets them back")
    await post(api, url + "api/viewers", {"user": "spammy", "action": "mute", "minutes": 5})
    await post(api, url + "api/viewers", {"user": "troll", "action": "block"})
    await post(api, url + "api/viewers", {"user": "troll", "action": "mute"}, 409)  # a mute never lifts a block
    chat(show, "spammy", "how much is the cat bed?", "m4")
    chat(show, "troll", "how much is the cat bed?", "m5")
    outcomes = {e.data["user"]: e.data for e in show.events.recent("comment")}
    assert (outcomes["spammy"]["outcome"], outcomes["spammy"]["reason"]) == ("dropped", "muted")
    assert (outcomes["troll"]["outcome"], outcomes["troll"]["reason"]) == ("dropped", "blocked")
    viewers = (await (await api.get(url + "api/state")).json())["viewers"]
    assert viewers["blocked"] == ["troll"] and viewers["muted"][0]["user"] == "spammy"
    await post(api, url + "api/viewers", {"user": "troll", "action": "unblock"})
    chat(show, "troll", "how much is the coffee?", "m6")
    assert show.events.recent("comment")[-1].data["outcome"] in ("queued", "merged")

    step("persona editing: a bad edit is refused with line and field and changes nothing")
    before = read(persona_file)
    frames_before = show.media.frames if show.media else 0
    bad = before.replace("notice_s: 4.0", "notice_s: 99")
    result = await post(api, url + "api/files/persona", {"text": bad}, 422)
    [problem] = [p for p in result["problems"] if p["severity"] == "error"]
    assert problem["field"] == "disclosure.notice_s"
    assert problem["line"] == bad.splitlines().index(next(s for s in bad.splitlines() if "notice_s: 99" in s)) + 1
    assert read(persona_file) == before and show.persona.disclosure.notice_s == 4.0
    await asyncio.sleep(0.5)
    assert show.media is not None and show.media.frames > frames_before  # the stream kept running

    step("persona editing: a good edit is applied live and the host greets with the new words")
    mark = show.events.history[-1].seq
    greeting = "Good evening, night owls, Joe here with fresh finds!"
    good = before.replace("- Hi everyone, it's Joe, welcome in! Grab a drink and get comfy.", f"- {greeting}")
    good = good.replace("- Hey hey, welcome to the stream! I've got some really fun finds for you today.", "")
    good = good.replace("- Hello and welcome! Today we're starting with the {name}, and I can't wait to show you.", "")
    checked = await post(api, url + "api/files/persona/check", {"text": good})
    assert checked["ok"] and not [p for p in checked["problems"] if p["severity"] == "error"]
    applied = await post(api, url + "api/files/persona", {"text": good})
    assert applied["applied"] is True
    assert read(persona_file) == good
    said = await until(lambda: spoken(show, ("greeting",), mark), 20)
    assert said[0]["text"] == greeting

    step("product editing: a new price reaches the show without a restart")
    product_text = read(show.editor.files.persona_path.parent / "products/cat-bed.yaml")
    await post(
        api, url + "api/files/product:cat-bed.yaml", {"text": product_text.replace("price: 39.90", "price: -1")}, 422
    )
    cat = show.director.get("cat-bed-donut-60")
    assert cat is not None and cat.price == Decimal("39.90")
    await post(
        api, url + "api/files/product:cat-bed.yaml", {"text": product_text.replace("price: 39.90", "price: 35.50")}
    )
    cat = show.director.get("cat-bed-donut-60")
    assert cat is not None and cat.price == Decimal("35.50")
    async with api.get(url + "api/files/product:..%2F..%2Fhost.yaml") as r:
        assert r.status == 404
    step("done")


def read(path: Path) -> str:
    return path.read_text()


def chat(show: Channel, user: str, text: str, message_id: str) -> None:
    show.router.on_chat(
        ChatMessage(source="simulator", message_id=message_id, user=user, text=text, received_s=show.clock.now())
    )
