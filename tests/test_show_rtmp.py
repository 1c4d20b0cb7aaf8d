"""End to end: the real CLI publishes 15 s to a real nginx-rtmp server on loopback; the recording is read back.

Checks what a viewer gets: H.264 1280x720 at 30 fps and AAC 48 kHz, the right duration, the AI label in every
frame, sound while the host talks, and a mouth that opens with the loudness of the speech (best lag within a frame).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.avatar.cartoon import count_mouth_interior
from streamer.config import Persona
from streamer.frames import MouthPose
from streamer.loading import load_persona
from streamer.scene import Scene

from .conftest import REPO, RtmpServer

# Every test here runs a show or the show's process (in a module fixture that most of them share).
pytestmark = pytest.mark.integration

SECONDS = 15
FPS = 30
W, H = 1280, 720


def _run_show(args: list[str], tmp_path: Path, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, str(REPO / "run_stream.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """One 15 s show to nginx-rtmp, shared by the checks below (they read the same recording)."""
    from .conftest import _start_nginx, _stop, free_port

    tmp = tmp_path_factory.mktemp("show")
    proc, server = _start_nginx(tmp / "nginx", free_port())
    try:
        cfg = tmp / "stream.yaml"
        cfg.write_text("show:\n  seed: 7\npreview:\n  enabled: false\n")
        result = _run_show(
            [
                "run",
                "--persona",
                str(REPO / "personas/host.yaml"),
                "--products",
                str(REPO / "products"),
                "--config",
                str(cfg),
                "--out",
                server.url("show"),
                "--duration",
                str(SECONDS),
            ],
            tmp,
        )
    finally:
        _stop(proc)
    return result, server


def test_show_exits_cleanly_and_never_logs_the_stream_key(
    published: tuple[subprocess.CompletedProcess[str], RtmpServer],
):
    result, _ = published
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "/live/show" not in result.stderr and "/live/****" in result.stderr
    assert "says [" in result.stderr  # the host spoke during the run


def test_recording_is_h264_720p30_and_aac_48k_of_the_requested_duration(published):
    _, server = published
    info = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(server.recording("show"))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    v = next(s for s in info["streams"] if s["codec_type"] == "video")
    a = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert (v["codec_name"], v["width"], v["height"], v["pix_fmt"]) == ("h264", W, H, "yuv420p")
    assert v["r_frame_rate"] in ("30/1", "30000/1000")
    assert (a["codec_name"], int(a["sample_rate"])) == ("aac", 48_000)
    with av.open(str(server.recording("show"))) as c:
        vs = c.streams.video[0]
        pts = [f.pts * vs.time_base for f in c.decode(vs)]
    assert len(pts) == SECONDS * FPS
    duration = float(pts[-1] - pts[0]) + 1 / FPS
    assert abs(duration - SECONDS) <= 0.2


def _decode(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Video frames as (Y plane, BGR) and the audio as float mono at 48 kHz."""
    ys, bgrs, audio = [], [], []
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            assert frame.format.name == "yuv420p"
            ys.append(frame.to_ndarray()[: frame.height])  # the raw Y plane (no range conversion)
            bgrs.append(frame.to_ndarray(format="bgr24"))
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48_000)
        for frame in c.decode(c.streams.audio[0]):
            for out in resampler.resample(frame):
                audio.append(out.to_ndarray().reshape(-1))
    return ys, bgrs, np.concatenate(audio)


def _reference_scene() -> Scene:
    persona: Persona = load_persona(REPO / "personas/host.yaml")[0]
    return Scene(persona=persona, width=W, height=H, seed=7)


def test_ai_label_is_in_every_frame_and_tall_enough(published):
    _, server = published
    ys, _, _ = _decode(server.recording("show"))
    scene = _reference_scene()
    ref = scene.render(10.0, MouthPose.rest())[:H]
    r = scene.compositor.label_rect
    assert scene.compositor.label_ink_height_px >= 0.05 * min(W, H)
    want = ref[r.y : r.bottom, r.x : r.right].astype(np.int16)
    diffs = [float(np.abs(y[r.y : r.bottom, r.x : r.right].astype(np.int16) - want).mean()) for y in ys]
    assert len(diffs) == SECONDS * FPS
    assert max(diffs) < 8.0, f"label differs in some frame: worst mean |dY| = {max(diffs):.1f}"


def test_audio_is_not_silent_while_the_host_talks_and_the_mouth_follows_it(published):
    _, server = published
    _, bgrs, audio = _decode(server.recording("show"))
    spf = 48_000 // FPS
    n = min(len(bgrs), len(audio) // spf)
    rms = np.array([np.sqrt(np.mean(audio[i * spf : (i + 1) * spf] ** 2)) for i in range(n)])
    talking = rms > 0.01
    # Voice loads in the background (about 3 s); from then on the host talks most of the time.
    assert talking[FPS * 6 :].mean() > 0.5, "the host was mostly silent after the voice loaded"

    scene = _reference_scene()
    ox, oy = scene.compositor.avatar_origin
    opening = []
    for i in range(n):
        x, y, w, h = scene.avatar.mouth_box(i / FPS)
        opening.append(count_mouth_interior(bgrs[i], (x + ox, y + oy, w, h)))
    opening_arr = np.array(opening, float)
    start = FPS * 5  # after the full-width notice and while speech is under way
    o = opening_arr[start:] - opening_arr[start:].mean()
    e = rms[start:] - rms[start:].mean()
    assert o.std() > 0 and e.std() > 0, "mouth never moved or audio never changed"
    lags = range(-6, 7)
    corr = {lag: float(np.corrcoef(np.roll(o, -lag)[6:-6], e[6:-6])[0, 1]) for lag in lags}
    best = max(corr, key=lambda k: corr[k])
    print(
        json.dumps(
            {
                "mouth_envelope_best_lag_frames": best,
                "correlation": round(corr[best], 3),
                "talking_fraction_after_6s": round(float(talking[FPS * 6 :].mean()), 3),
            }
        )
    )
    assert corr[best] > 0.3, f"mouth does not follow the speech envelope: {corr}"
    assert abs(best) <= 1, f"mouth lags the audio by {best} frames: {corr}"
