"""An operator's view: Debian Chromium (driven by Playwright) signs in to the dashboard of a running show, watches
the live preview with sound, sees a simulated viewer's comment answered, takes over the host's voice, and edits
the persona (a bad edit is refused inline while the stream runs on; a good one changes the greeting)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, sync_playwright

from streamer.bench.browser import CHROMIUM, CHROMIUM_ARGS

from .conftest import REPO, free_port, wait_port

ARTIFACTS = REPO / "artifacts"
TOKEN = "browser-test-token-42"
GREETING = "Good evening, night owls, Joe here with fresh finds!"
TAKEOVER = "Hello from the shop team, we are watching the chat with you."


def video_time(page: Page) -> float:
    return float(page.evaluate("document.getElementById('v').currentTime"))


@pytest.mark.integration
def test_operator_dashboard_in_a_real_browser(tmp_path: Path):
    assert Path(CHROMIUM).exists(), "Debian chromium is not installed (make install as root installs it)"
    persona = tmp_path / "host.yaml"
    shutil.copy(REPO / "personas/host.yaml", persona)
    shutil.copytree(REPO / "products", tmp_path / "products")
    script = tmp_path / "chat.yaml"
    script.write_text(
        yaml.safe_dump([{"after_s": 10.0, "user": "maya_22", "text": "how much is the cat bed?", "kind": "comment"}])
    )
    config = tmp_path / "stream.yaml"
    config.write_text(yaml.safe_dump({"chat": {"sources": [{"kind": "simulator", "script": str(script)}]}}))
    port = free_port()
    show = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "run_stream.py"),
            "run",
            "--config",
            str(config),
            "--persona",
            str(persona),
            "--products",
            str(tmp_path / "products"),
            "--out",
            str(tmp_path / "rec.flv"),
            "--dashboard",
            f"127.0.0.1:{port}",
            "--duration",
            "120",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "LIVEHOST_DASHBOARD_TOKEN": TOKEN},
    )
    checks: dict[str, object] = {}
    try:
        wait_port(port, 20)
        base = f"http://127.0.0.1:{port}/"
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            browser = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1600, "height": 1000},
            )
            page = browser.new_page()
            refused: list[str] = []  # the page must run whole under its Content-Security-Policy
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

            # Signed out: the page is the login form and the API answers 401.
            response = page.goto(base)
            assert response is not None and response.status == 401
            assert page.locator("input[name=token]").count() == 1
            assert page.request.get(base + "api/state").status == 401
            page.fill("input[name=token]", "wrong-token-123456")
            page.click("button[type=submit]")
            assert page.locator("input[name=token]").count() == 1
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")

            # The preview plays, with sound, less than a second behind the published stream.
            page.wait_for_function("() => document.getElementById('v').currentTime > 1.0", timeout=25_000)
            t1 = video_time(page)
            page.click("#unmute")
            latencies = []
            for _ in range(12):
                time.sleep(0.25)
                value = page.evaluate("window.livehost && window.livehost.latencyMs")
                if value is not None:
                    latencies.append(float(value))
            media = page.evaluate(
                """(async () => { const v = document.getElementById('v');
                    return {t: v.currentTime, paused: v.paused, muted: v.muted, width: v.videoWidth,
                            height: v.videoHeight, mode: window.livehost.mode,
                            audioBytes: window.livehost.mode === 'webrtc' ? await window.livehost.audioBytes()
                                                                          : v.webkitAudioDecodedByteCount}; })()"""
            )
            checks["media"] = media
            checks["latency_ms"] = latencies
            assert media["mode"] == "webrtc", media  # Chromium has WebRTC: the low-latency preview is chosen
            assert media["t"] > t1 + 1.5 and not media["paused"] and not media["muted"], media
            assert (media["width"], media["height"]) == (1280, 720)
            assert media["audioBytes"] > 0, "no audio received"
            print(f"\nWebRTC preview latency ms: p50 {statistics.median(latencies):.0f}, all {latencies}")
            assert latencies and statistics.median(latencies) < 300, latencies

            # A simulated viewer's comment appears with its triage decision, then with the host's reply.
            comment = page.locator('#chat li.comment[data-user="maya 22"]')
            comment.wait_for(timeout=40_000)
            assert "how much is the cat bed" in comment.inner_text()
            # The greeting and the opening AI disclosure go first (never cut), then the answer.
            page.locator("#chat li.reply", has_text="maya").wait_for(timeout=35_000)
            assert "answered" in comment.locator(".why").inner_text()

            # Takeover: the operator's text is spoken next and shows in the transcript as operator speech.
            page.fill("#say-text", TAKEOVER)
            page.click("#say")
            page.locator("#said li.operator", has_text=TAKEOVER).wait_for(timeout=25_000)

            # Persona editing: an invalid edit is refused inline (line and field) and the stream keeps running.
            page.wait_for_function("() => document.getElementById('editor').value.includes('notice_s')", timeout=10_000)
            original = page.input_value("#editor")
            bad = original.replace("notice_s: 4.0", "notice_s: 99")
            bad_line = next(i for i, s in enumerate(bad.splitlines(), 1) if "notice_s: 99" in s)
            page.fill("#editor", bad)
            page.click("#apply")
            problem = page.locator("#problems li.problem.error", has_text="disclosure.notice_s")
            problem.wait_for(timeout=10_000)
            assert f"line {bad_line}" in problem.inner_text()
            assert "Not applied" in page.inner_text("#apply-result")
            t2 = video_time(page)
            time.sleep(1.5)
            assert video_time(page) > t2 + 1.0  # still live
            assert persona.read_text() == original

            # A valid edit is applied live: the host greets again with the new words.
            good = original.replace("Hi everyone, it's Joe, welcome in! Grab a drink and get comfy.", GREETING)
            good = good.replace(
                "    - Hey hey, welcome to the stream! I've got some really fun finds for you today.\n", ""
            )
            good = good.replace(
                "    - Hello and welcome! Today we're starting with the {name}, and I can't wait to show you.\n", ""
            )
            assert good.count(GREETING) == 1 and "Hey hey" not in good
            page.fill("#editor", good)
            page.click("#apply")
            page.locator("#apply-result", has_text="Applied").wait_for(timeout=10_000)
            page.locator('#said li[data-kind="greeting"]', has_text=GREETING).wait_for(timeout=30_000)
            assert persona.read_text() == good

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            request = urllib.request.Request(base + "metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(request, timeout=5) as r:
                metrics = r.read().decode()
            assert "livehost_operator_lines_total 1" in metrics
            # The audit export, from the page's own link (the session cookie is the browser's).
            links = page.locator("a.audit")
            assert links.count() == 3
            href = links.first.get_attribute("href")
            assert href is not None and "format=csv" in href
            export = page.request.get(base.rstrip("/") + href)
            assert export.status == 200 and "attachment" in export.headers.get("content-disposition", "")
            assert export.text().splitlines()[0].startswith("id,wall_time")
            assert not refused, refused[:3]
            browser.close()
    finally:
        show.terminate()
        _, err = show.communicate(timeout=30)
    (ARTIFACTS / "dashboard-checks.json").write_text(json.dumps(checks, indent=2))
    assert show.returncode == 0, err[-2000:]
    assert TOKEN not in err
