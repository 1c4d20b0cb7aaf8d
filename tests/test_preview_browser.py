"""A newcomer's view: Debian Chromium (driven by Playwright) plays the live preview of a running show, with sound."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from .conftest import REPO, free_port, wait_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = REPO / "artifacts"


def test_browser_plays_the_live_preview_with_audio(tmp_path: Path):
    assert Path(CHROMIUM).exists(), "Debian chromium is not installed (make install as root installs it)"
    port = free_port()
    show = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "run_stream.py"),
            "run",
            "--persona",
            str(REPO / "personas/host.yaml"),
            "--products",
            str(REPO / "products"),
            "--out",
            str(tmp_path / "rec.flv"),
            "--preview-port",
            str(port),
            "--duration",
            "40",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "LIVEHOST_DASHBOARD_TOKEN": "browser-test-token-42"},
    )
    try:
        wait_port(port, 20)
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            browser = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 800},
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            assert page.locator("input[name=token]").count() == 1  # signed out: the login form
            page.fill("input[name=token]", "browser-test-token-42")
            page.click("button[type=submit]")
            page.wait_for_function("document.getElementById('v').currentTime > 1.0", timeout=20_000)
            t1 = page.evaluate("document.getElementById('v').currentTime")
            page.click("#unmute")
            time.sleep(2.0)
            state = page.evaluate(
                """(() => { const v = document.getElementById('v');
                    const end = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
                    return {t: v.currentTime, paused: v.paused, muted: v.muted, width: v.videoWidth,
                            height: v.videoHeight, audioBytes: v.webkitAudioDecodedByteCount,
                            behind: end - v.currentTime}; })()"""
            )
            page.wait_for_function("document.querySelectorAll('#said li').length > 0", timeout=30_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "preview.png"))
            browser.close()
    finally:
        show.terminate()
        _, err = show.communicate(timeout=30)
    assert state["t"] > t1 + 1.0, state  # the video keeps playing
    assert not state["paused"] and not state["muted"]
    assert (state["width"], state["height"]) == (1280, 720)
    assert state["audioBytes"] > 0, "no audio decoded"
    assert state["behind"] < 1.5, f"preview is {state['behind']:.2f} s behind the newest data it has"
    assert show.returncode == 0, err[-2000:]
