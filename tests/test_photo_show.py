"""A photo-avatar show, measured on its decoded output: the face mesh reads the published frames back (1280x720 H.264
in FLV) and the lips, blinks and identity are checked against what the show asked for."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamer.app import Channel, ChannelSpec
from streamer.avatar.photo import PhotoAvatar, jaw_opening
from streamer.avatar.portrait import FaceMesher, eye_aspect_ratio, inner_lip_opening
from streamer.config import Persona, StreamConfig
from streamer.frames import MouthPose
from streamer.publish.sinks import parse_target
from streamer.scene import Scene

from .conftest import REPO
from .test_photo_avatar import CONSENT, _identity_mask, _masked_ssim

# Every test here runs a show or the show's process (in a module fixture that most of them share).
pytestmark = pytest.mark.integration

SECONDS = 16
FPS = 30


def run_measured_show(
    avatar: dict[str, object], tmp: Path, seconds: int = SECONDS
) -> tuple[Channel, dict[int, float], Path]:
    """One show at 1280x720 with ``avatar`` and the Joe voice, recorded to FLV; what the scene was asked to draw per
    frame (the viseme track's openness) is noted as it goes."""
    persona = Persona.model_validate({"name": "Eileen", "avatar": avatar, "patter": {"sections": ["hook", "features"]}})
    config = StreamConfig.model_validate(
        {"video": {"width": 1280, "height": 720, "fps": FPS}, "preview": {"enabled": False}, "show": {"seed": 5}}
    )
    out = tmp / "out.flv"
    show = Channel(
        ChannelSpec(
            config=config,
            persona=persona,
            products=str(REPO / "products"),
            outputs=[parse_target(str(out))],
            duration_s=seconds,
        )
    )
    asked: dict[int, float] = {}
    original = Scene.render

    def spy(self: Scene, t_s: float, mouth: MouthPose) -> np.ndarray:
        asked[round(t_s * FPS)] = jaw_opening(mouth)
        return original(self, t_s, mouth)

    mp = pytest.MonkeyPatch()
    mp.setattr(Scene, "render", spy)
    try:
        code = asyncio.run(show.run())
    finally:
        mp.undo()
    assert code == 0
    return show, asked, out


def lips_and_blinks(
    frames: list[tuple[int, np.ndarray]], asked: dict[int, float], own_gap: Callable[[int], float] | None = None
) -> dict[str, object]:
    """The face mesh on every decoded frame: lip gap against the viseme track's openness (Pearson per lag), blink
    starts and the longest shut stretch. ``own_gap``: the picture's own lip gap at frame n with the mouth at rest
    (footage that moves), subtracted from the measured gap."""
    mesher = FaceMesher(static=True)
    lips, wanted, ears, times = [], [], [], []
    for n, bgr in frames:
        faces = mesher.landmarks(bgr)
        if len(faces) != 1:
            continue
        lips.append(inner_lip_opening(faces[0]) - (own_gap(n) if own_gap is not None else 0.0))
        wanted.append(asked.get(n, 0.0))
        ears.append(eye_aspect_ratio(faces[0]))
        times.append(n / FPS)
    mesher.close()
    # From the first word on (before it the voice is loading: nothing to follow, only measurement noise).
    start = int(np.argmax(np.array(wanted) > 0))
    o = np.array(lips[start:]) - np.mean(lips[start:])
    e = np.array(wanted[start:]) - np.mean(wanted[start:])
    assert e.std() > 0, "the host never spoke"
    corr = {lag: float(np.corrcoef(np.roll(o, -lag)[4:-4], e[4:-4])[0, 1]) for lag in range(-3, 4)}
    best = max(corr, key=lambda k: corr[k])
    ear = np.array(ears)
    shut = ear < 0.6 * np.median(ear)
    dips = [times[i] for i in range(len(shut)) if shut[i] and (i == 0 or not shut[i - 1])]
    longest = max((len(run) for run in "".join("1" if x else "0" for x in shut).split("0")), default=0)
    return {
        "frames": len(frames),
        "face_found": len(lips),
        "first_word_s": round(times[start], 2),
        "lip_correlation": round(corr[best], 3),
        "lip_best_lag_frames": best,
        "blink_starts_s": [round(t, 2) for t in dips],
        "longest_shut_ms": round(longest * 1000 / FPS),
        "first_s": times[0] if times else 0.0,
        "last_s": times[-1] if times else 0.0,
    }


def check_lips_and_blinks(m: dict[str, object]) -> None:
    assert int(m["face_found"]) >= 0.9 * int(m["frames"]), m  # type: ignore[call-overload]
    assert float(m["lip_correlation"]) >= 0.8 and abs(int(m["lip_best_lag_frames"])) <= 1, m  # type: ignore[call-overload, arg-type]
    edges = [m["first_s"], *m["blink_starts_s"], m["last_s"]]  # type: ignore[misc]
    assert max(np.diff(edges)) <= 8.0, f"no blink for more than 8 s: {m}"
    assert int(m["longest_shut_ms"]) <= 400, m  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def show_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Channel, dict[int, float], Path]:
    from skimage import data

    tmp = tmp_path_factory.mktemp("photo-show")
    portrait = tmp / "astronaut.png"
    cv2.imwrite(str(portrait), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return run_measured_show({"kind": "photo", "image": str(portrait), "likeness_consent": CONSENT}, tmp)


def decoded(path: Path) -> list[tuple[int, np.ndarray]]:
    frames = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        first = None
        for frame in c.decode(stream):
            first = frame.pts if first is None else first  # the muxer starts the file at the audio's priming offset
            n = round(float((frame.pts - first) * stream.time_base) * FPS)
            frames.append((n, frame.to_ndarray(format="bgr24")))
    return frames


def test_lips_blinks_and_identity_hold_in_the_published_video(
    show_output: tuple[Channel, dict[int, float], Path],
) -> None:
    from skimage.metrics import structural_similarity

    show, asked, out = show_output
    assert show.scene is not None
    avatar = show.scene.avatar
    assert isinstance(avatar, PhotoAvatar)
    ox, oy = show.scene.compositor.avatar_origin
    frames = decoded(out)
    assert len(frames) >= (SECONDS - 1) * FPS
    measured = lips_and_blinks(frames, asked)

    # Identity: in silence, between blinks, the face outside mouth and eyes is the photo's own pixels.
    mask = _identity_mask(avatar)
    scores = []
    by_n = dict(frames)
    for n in range(FPS, SECONDS * FPS, FPS // 2):
        t = n / FPS
        if n not in by_n or asked.get(n, 1.0) > 0 or avatar.blink_amount(t) > 0:
            continue
        crop = by_n[n][oy : oy + avatar.height, ox : ox + avatar.width]
        back = cv2.warpAffine(crop, cv2.invertAffineTransform(avatar.head_affine(t)), (avatar.width, avatar.height))
        scores.append(_masked_ssim(structural_similarity, back, avatar.base, mask))

    measured["identity_ssim_min"] = round(min(scores), 3) if scores else None
    measured["identity_frames"] = len(scores)
    print(json.dumps(measured))
    check_lips_and_blinks(measured)
    assert len(scores) >= 3 and min(scores) >= 0.9, scores


def test_the_dashboard_shows_the_avatar_kind_and_its_cost(show_output: tuple[Channel, dict[int, float], Path]) -> None:
    show, _, _ = show_output
    summary = show.status()["summary"]["avatar"]
    assert summary.startswith("photo (lip-sync: warp (CPU)), ") and summary.endswith(" ms/frame")
    cost = float(summary.split(", ")[-1].split(" ")[0])
    assert 0.1 < cost < 40.0
    assert "livehost_avatar_render_seconds 0.0" in show.health.metrics_text()


def test_a_hot_reload_to_a_bad_portrait_keeps_the_avatar_on_air_and_a_good_one_replaces_it(tmp_path: Path) -> None:
    from skimage import data

    from streamer.avatar.cartoon import CartoonAvatar
    from streamer.loading import load_persona

    cv2.imwrite(str(tmp_path / "anna.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "cup.png"), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    persona_path = tmp_path / "persona.yaml"
    cartoon = "name: Quiet\nvoice:\n  backend: silence\n"
    persona_path.write_text(cartoon)
    consent = "  likeness_consent: {by: Anna, date: 2026-11-30, reference: t-2}\n"
    photo = cartoon + "avatar:\n  kind: photo\n  image: anna.png\n" + consent
    no_face = photo.replace("anna.png", "cup.png")
    config = StreamConfig.model_validate(
        {"video": {"width": 640, "height": 360}, "preview": {"enabled": False}, "show": {"seed": 3}}
    )
    show = Channel(
        ChannelSpec(
            config=config,
            persona=load_persona(persona_path)[0],
            products=str(REPO / "products"),
            outputs=[parse_target(str(tmp_path / "out.flv"))],
            duration_s=30,
            persona_path=persona_path,
        )
    )

    async def main() -> int:
        task = asyncio.create_task(show.run())
        while show.media is None or show.media.frames < 10:
            await asyncio.sleep(0.05)
        assert show.scene is not None and isinstance(show.scene.avatar, CartoonAvatar)
        # The editor's Check runs the face models too (Apply would refuse the same edit), and saves nothing.
        checked = await asyncio.to_thread(show.editor.check_config_file, "persona", no_face)
        assert not checked.ok and checked.persona is None
        assert any(p.field == "avatar.image" and p.line == 6 for p in checked.problems), checked.problems
        assert (await asyncio.to_thread(show.editor.check_config_file, "persona", photo)).ok
        # Checked again as the operator types (a line added above): the verdict is kept, the line follows the text.
        again = await asyncio.to_thread(show.editor.check_config_file, "persona", "# Anna's look\n" + no_face)
        assert any(p.field == "avatar.image" and p.line == 7 for p in again.problems), again.problems
        assert persona_path.read_text() == cartoon
        result, applied = await show.editor.apply_config_file("persona", no_face)
        assert not applied
        assert any(
            "no face found" in p.message and p.field == "avatar.image" and p.line == 6 for p in result.problems
        ), result.problems
        frames = show.media.frames
        await asyncio.sleep(0.5)
        assert show.media.frames > frames and isinstance(show.scene.avatar, CartoonAvatar)
        result, applied = await show.editor.apply_config_file("persona", photo)
        assert applied, result.problems
        await asyncio.sleep(0.3)  # the new look goes on air at the next frame
        assert isinstance(show.scene.avatar, PhotoAvatar)
        # The operator replaces the picture under the same name: Check reads it again (the verdict was for the cup).
        shutil.copyfile(tmp_path / "anna.png", tmp_path / "cup.png")
        assert (await asyncio.to_thread(show.editor.check_config_file, "persona", no_face)).ok
        show.request_stop()
        return await task

    assert asyncio.run(main()) == 0
    assert persona_path.read_text() == photo
