"""The neural lip-sync plug-in through its real path, on a tiny random-weight network with Wav2Lip's inputs and
output that the test builds and exports to ONNX; a slow engine falls back to the warp without stalling the show."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from streamer.app import Channel, ChannelSpec
from streamer.avatar.neural import (
    FACE_PX,
    MAX_LEAD_S,
    LipSyncModelError,
    LipSyncStage,
    NeuralLipSync,
    mel_frames,
    mel_window,
)
from streamer.avatar.photo import PhotoAvatar
from streamer.config import AvatarStyle, Persona, StreamConfig
from streamer.frames import AUDIO_RATE_HZ, MouthPose, SpeechSegment, VisemeTrack
from streamer.playout import SpeechPlayout
from streamer.publish.sinks import parse_target

from .conftest import REPO
from .test_photo_avatar import CONSENT


def export_tiny(path: Path, *, face_channels: int = 6) -> Path:
    """A random-weight network with Wav2Lip's shapes: mel (B, 1, 80, 16) and face (B, 6, 96, 96) in, (B, 3, 96, 96)
    out (``face_channels`` other than 6 makes a model with the wrong input)."""
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.face = nn.Conv2d(face_channels, 8, 3, padding=1)
            self.audio = nn.Linear(80 * 16, 8)
            self.out = nn.Conv2d(8, 3, 3, padding=1)

        def forward(self, mel: Any, face: Any) -> Any:
            a = self.audio(mel.flatten(1))[:, :, None, None]
            return torch.sigmoid(self.out(torch.relu(self.face(face) + a)))

    from streamer.bench.lipsync import export_lipsync_onnx

    torch.manual_seed(0)
    return export_lipsync_onnx(Tiny().eval(), path, face_channels=face_channels)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny(tmp_path_factory.mktemp("lipsync") / "tiny.onnx")


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("lipsync-face") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def test_the_model_is_checked_for_wav2lip_shapes_and_bad_files_are_named(tiny: Path, tmp_path: Path) -> None:
    engine = NeuralLipSync(tiny, device="auto")
    assert engine.device == "cpu"  # no CUDA on this machine
    out = engine.infer(np.zeros((3, 6, 96, 96), np.float32), np.zeros((3, 1, 80, 16), np.float32))
    assert out.shape == (3, 3, 96, 96) and 0.0 <= out.min() and out.max() <= 1.0
    wrong = export_tiny(tmp_path / "wrong.onnx", face_channels=3)
    with pytest.raises(LipSyncModelError, match="expected inputs") as err:
        NeuralLipSync(wrong)
    assert str(wrong) in str(err.value)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(LipSyncModelError, match="onnxruntime cannot load it"):
        NeuralLipSync(broken)
    with pytest.raises(LipSyncModelError, match="not found"):
        NeuralLipSync(tmp_path / "missing.onnx")


def test_mel_features_have_wav2lip_rate_range_and_window() -> None:
    t = np.arange(AUDIO_RATE_HZ) / AUDIO_RATE_HZ
    tone = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
    mel = mel_frames(tone)
    assert abs(mel.shape[0] - 81) <= 1 and mel.shape[1] == 80  # 80 frames a second
    assert mel.min() >= -4.0 and mel.max() <= 4.0
    assert 8 <= int(mel.mean(axis=0).argmax()) <= 12  # 440 Hz: band 10 of 80 (55-7600 Hz, Slaney mel)
    assert mel[:, 9:12].mean() > mel[:, 60:].mean() + 3.0
    quiet = mel_frames(np.zeros(AUDIO_RATE_HZ, np.int16))
    assert quiet.max() < -3.0
    window = mel_window(mel, 29, 30.0)
    assert window.shape == (80, 16)
    assert mel_window(mel, 30, 30.0)[:, -1].max() == -4.0  # past the end: silence


def _segment(pcm: np.ndarray) -> SpeechSegment:
    track = VisemeTrack(starts=np.zeros(1, np.int64), visemes=np.array([2], np.int8))
    return SpeechSegment(segment_id=1, text="hello there", pcm=pcm, visemes=track, kind="patter")


def test_the_stage_renders_ahead_and_the_avatar_pastes_the_engine_face(tiny: Path, portrait: Path) -> None:
    host = PhotoAvatar(AvatarStyle(kind="photo", image=str(portrait), likeness_consent=CONSENT), height_px=620)
    face = host.neural_face_input()
    assert face.shape == (6, FACE_PX, FACE_PX) and face[:3, FACE_PX // 2 :].max() == 0.0  # lower half blanked
    stage = LipSyncStage(NeuralLipSync(tiny), face, fps=30)
    rng = np.random.default_rng(1)
    seg = _segment((rng.standard_normal(AUDIO_RATE_HZ) * 6000).astype(np.int16))  # 1 s: 30 frames
    stage.submit(seg)
    deadline = time.monotonic() + 20
    while seg.mouths.ready < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seg.mouths.ready == 30 and all(c is not None and c.shape == (96, 96, 3) for c in seg.mouths.crops)
    # What it took to the first frames sets how far ahead an answer's cut is planned (capped).
    assert 0.0 < stage.lead_s <= MAX_LEAD_S
    assert stage.lead_s == min(MAX_LEAD_S, 1.5 * stage.stats.first_batch_s_ewma)
    # The playout hands frame k's face over with the mouth pose.
    playout = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    playout.push(seg)
    pulled = [playout.pull(1600) for _ in range(5)]
    assert all(p.mouth.crop is not None for p in pulled)
    assert np.array_equal(pulled[3].mouth.crop, seg.mouths.crops[3])
    # The avatar blends the engine's lower face over its own: a green face shows green at the mouth, not above.
    host.set_backdrop(np.zeros((host.height, host.width, 3), np.uint8))
    green = np.zeros((96, 96, 3), np.uint8)
    green[:, :, 1] = 255
    t = 0.35
    plain = host.render(t, MouthPose.rest())
    pasted = host.render(t, MouthPose(weights=MouthPose.rest().weights, open_amount=0.5, crop=green))
    mouth = host.points[13].astype(int)
    brow = host.points[9].astype(int)
    assert pasted[mouth[1], mouth[0], 1] > plain[mouth[1], mouth[0], 1] + 60
    assert abs(int(pasted[brow[1], brow[0], 1]) - int(plain[brow[1], brow[0], 1])) <= 2
    assert stage.summary().startswith("neural on cpu")
    stage.close()


class SlowEngine:
    """A neural engine slower than real time: 800 ms for a batch of 16 frames (533 ms of video), a busy GPU."""

    device = "cpu"

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.calls = 0

    def infer(self, faces: np.ndarray, mels: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(0.05 * faces.shape[0])
        return np.full((faces.shape[0], 3, 96, 96), 0.5, np.float32)


@pytest.mark.integration
def test_a_slow_engine_never_makes_frames_late_and_status_shows_the_fallback(
    tiny: Path, portrait: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamer.avatar.neural as neural

    monkeypatch.setattr(neural, "NeuralLipSync", SlowEngine)
    persona = Persona.model_validate(
        {
            "name": "Eileen",
            "avatar": {
                "kind": "photo",
                "image": str(portrait),
                "likeness_consent": CONSENT,
                "lipsync": {"engine": "neural", "model": str(tiny)},
            },
        }
    )
    config = StreamConfig.model_validate(
        {"video": {"width": 640, "height": 360}, "preview": {"enabled": False}, "show": {"seed": 2}}
    )
    show = Channel(
        ChannelSpec(
            config=config,
            persona=persona,
            products=str(REPO / "products"),
            outputs=[parse_target(str(tmp_path / "out.flv"))],
            duration_s=32,
        )
    )
    seen: dict[str, Any] = {}

    def settled() -> bool:  # voice, lip-sync and answer models loaded (loading them makes frames late at start)
        return show.lipsync is not None and show._models_imported and not show.brain.offline.degraded

    async def main() -> int:
        task = asyncio.create_task(show.run())
        while not settled() or show.lipsync.stats.speaking_frames < 60:
            if task.done():
                return task.result()
            await asyncio.sleep(0.1)
        assert show.media is not None
        await asyncio.sleep(2.0)  # from here on no frame may be late
        seen["late_before"] = show.media.pacer.late_frames
        await asyncio.sleep(6.0)
        seen["late_after"] = show.media.pacer.late_frames
        seen["status"] = show.status()["summary"]["avatar"]
        seen["stats"] = show.lipsync.stats
        stage = show.lipsync
        # A reload to the warp stops the engine's stage (its face belonged to the old look).
        warp = persona.model_copy(deep=True)
        warp.avatar.lipsync.engine = "warp"
        show.apply_persona(warp)
        await asyncio.sleep(0.5)
        seen["after_reload"] = (show.lipsync, stage._closed, show.status()["summary"]["avatar"])
        return await task

    assert asyncio.run(main()) == 0
    stats = seen["stats"]
    print({k: v for k, v in seen.items() if k != "stats"}, stats.speaking_frames, stats.neural_frames)
    assert seen["late_after"] == seen["late_before"], seen
    assert 0 < stats.neural_frames < stats.speaking_frames  # some faces in time, the rest warped
    assert "warp (CPU) for" in seen["status"] and "ms per batch of 16" in seen["status"], seen["status"]
    lipsync, closed, status = seen["after_reload"]
    assert lipsync is None and closed and status.startswith("photo (lip-sync: warp (CPU)), "), status


@pytest.mark.integration
def test_check_names_a_lip_sync_model_with_the_wrong_shapes_and_a_neural_engine_without_a_photo(
    portrait: Path, tmp_path: Path
) -> None:
    from streamer.loading import ConfigError, load_persona

    from .test_cli import products_dir, run_cli

    wrong = export_tiny(tmp_path / "wrong.onnx", face_channels=3)
    persona = tmp_path / "anna.yaml"
    persona.write_text(
        "name: Anna\nvoice:\n  backend: silence\navatar:\n  kind: photo\n"
        f"  image: {portrait}\n  likeness_consent: {CONSENT}\n  lipsync:\n    engine: neural\n    model: wrong.onnx\n"
    )
    r = run_cli("check", "--persona", str(persona), "--products", str(products_dir(tmp_path)), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"{persona}:10: avatar.lipsync.model: {wrong.resolve()}: expected inputs" in r.stderr, r.stderr
    cartoon = tmp_path / "joe.yaml"
    cartoon.write_text("name: Joe\navatar:\n  lipsync: {engine: neural, model: wrong.onnx}\n")
    with pytest.raises(ConfigError) as err:
        load_persona(cartoon)
    assert any(p.field == "avatar.lipsync.engine" and "not the cartoon" in p.message for p in err.value.problems), (
        err.value.problems
    )


def test_the_lipsync_bench_builds_wav2lip_s_architecture_and_runs_it_through_the_show_s_loader(tmp_path: Path) -> None:
    from streamer.bench.lipsync import bench, export_wav2lip_shaped, parameters

    assert 35_000_000 < parameters(1.0) < 38_000_000  # Wav2Lip's size: its compute is in these shapes
    path = export_wav2lip_shaped(tmp_path / "slim.onnx", width=1 / 16)
    engine = NeuralLipSync(path, device="cpu")  # the same shape checks as a model an operator supplies
    out = engine.infer(np.zeros((3, 6, FACE_PX, FACE_PX), np.float32), np.zeros((3, 1, 80, 16), np.float32))
    assert out.shape == (3, 3, FACE_PX, FACE_PX) and 0.0 <= out.min() and out.max() <= 1.0
    result = bench(model=str(path), device="cpu", batches=[1, 4], seconds=0.05)
    rows = result["by_batch"]
    assert isinstance(rows, list) and [r["batch"] for r in rows] == [1, 4]
    assert all(r["frames_per_s"] > 0 and r["calls"] >= 1 for r in rows)
    assert result["device"] == "cpu" and result["best_batch"] in (1, 4)
