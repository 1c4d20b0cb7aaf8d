"""The video avatar: a clip made here (the photo avatar's own output filmed with a moving camera) is prepared once
with ``prepare-avatar`` and played as the host; clips with cuts or without a face are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamer.avatar.clip import ClipError, load_prepared, prepare_clip
from streamer.avatar.face_rig import jaw_opening
from streamer.avatar.portrait import FaceMesher, inner_lip_opening
from streamer.avatar.video import VideoAvatar
from streamer.bench.clips import make_clip
from streamer.config import AvatarStyle
from streamer.frames import VISEME_COUNT, MouthPose, Viseme
from streamer.loading import load_persona

from .test_cli import products_dir, run_cli
from .test_photo_avatar import CONSENT
from .test_photo_show import FPS, check_lips_and_blinks, decoded, lips_and_blinks, run_measured_show

# Every test here runs a show or the show's process (in a module fixture that most of them share).
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The clip, prepared through the command line (``<clip>.avatar`` beside it)."""
    from skimage import data

    tmp = tmp_path_factory.mktemp("video-avatar")
    portrait = tmp / "astronaut.png"
    cv2.imwrite(str(portrait), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    clip = make_clip(tmp / "anna.mp4", portrait)
    r = run_cli("prepare-avatar", str(clip), cwd=tmp, timeout_s=300)
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout.strip().splitlines()[-1])
    return clip, meta


def pose(viseme: Viseme, amount: float) -> MouthPose:
    w = np.zeros(VISEME_COUNT, np.float32)
    w[viseme] = 1.0
    return MouthPose(weights=w, open_amount=amount)


def test_prepare_finds_the_face_in_every_frame_and_a_loop_without_cuts(prepared: tuple[Path, dict[str, object]]):
    clip, meta = prepared
    folder = clip.with_name("anna.avatar")
    assert meta["prepared"] == str(folder) and (folder / "meta.json").is_file()
    assert meta["face_found_share"] == 1.0 and meta["cuts"] == 0
    a, b = meta["loop_frames"]  # type: ignore[misc]
    assert 4.0 * FPS <= b - a <= 10.0 * FPS
    loaded = load_prepared(folder, clip=clip)
    assert loaded.frames == b - a and loaded.points.shape == (b - a, 478, 2)
    assert loaded.size == (458, 620)  # stored for the 1280x720 show's avatar canvas


def test_the_loop_plays_back_and_forth_without_a_jump(prepared: tuple[Path, dict[str, object]]):
    clip, _ = prepared
    host = VideoAvatar(AvatarStyle(kind="video", clip=str(clip)), height_px=620)
    n = host.clip.frames
    frames = [host.render(k / FPS, MouthPose.rest()) for k in range(2 * n + 2)]  # past both turns
    assert [host.frame_index(k / FPS) for k in (0, n - 1, n, 2 * n - 2, 2 * n - 1)] == [0, n - 1, n - 2, 0, 1]
    change = [float(np.mean(cv2.absdiff(frames[k], frames[k + 1]))) for k in range(len(frames) - 1)]
    own = float(np.median(change))
    seams = [change[n - 2], change[n - 1], change[2 * n - 3], change[2 * n - 2]]
    print(json.dumps({"median_change": round(own, 3), "seam_changes": [round(c, 3) for c in seams]}))
    assert max(seams) <= 3 * own
    # In silence the footage is shown as it is.
    assert np.array_equal(frames[5], host.footage(5))


def test_with_cutout_the_presenter_stands_in_the_studio_and_the_face_is_the_footage_s_own(
    prepared: tuple[Path, dict[str, object]],
):
    clip, meta = prepared
    loaded = load_prepared(clip.with_name("anna.avatar"), clip=clip)
    assert meta["mattes"] is True and loaded.mattes is not None
    assert loaded.mattes.shape == (loaded.frames, 310, 229)  # half size
    person = loaded.mattes.astype(np.float32) / 255.0
    assert person.mean() > 0.2 and person[:, :20, :20].max() < 0.2  # someone there, not in the top corner
    own = VideoAvatar(AvatarStyle(kind="video", clip=str(clip), cutout=False), height_px=620, prepared=loaded)
    cut = VideoAvatar(AvatarStyle(kind="video", clip=str(clip)), height_px=620, prepared=loaded)
    green = np.zeros((620, 458, 3), np.uint8)
    green[:, :, 1] = 200
    own.set_backdrop(green)
    cut.set_backdrop(green)
    assert cut.cutout and not own.cutout
    a, b = own.render(0.5, MouthPose.rest()), cut.render(0.5, MouthPose.rest())
    assert np.array_equal(a, own.footage(own.frame_index(0.5)))  # no cutout: the footage's own room
    assert np.abs(b[:40, :40, :3].astype(int) - (0, 200, 0)).max() <= 2  # the studio where nobody stands
    face = cut.points[cut.frame_index(0.5)]
    lo, hi = face.min(axis=0), face.max(axis=0)
    (x0, y0), (x1, y1) = (lo + 0.25 * (hi - lo)).astype(int), (hi - 0.25 * (hi - lo)).astype(int)  # inner face
    diff = np.abs(a[y0:y1, x0:x1, :3].astype(int) - b[y0:y1, x0:x1, :3].astype(int))
    print(json.dumps({"inner_face_mean_abs_diff": round(float(np.mean(diff)), 3)}))
    assert float(np.mean(diff)) < 1.0  # the face is the footage's own pixels
    assert b[:, :, 3].min() == 255
    # With no studio patch (a moving background is blended by the compositor) the cut-out is premultiplied.
    cut.set_backdrop(None)
    alone = cut.render(0.5, MouthPose.rest())
    assert alone[:40, :40, 3].max() <= 2 and alone[:40, :40, :3].max() <= 2
    inner = (slice(y0, y1), slice(x0, x1))
    assert (
        alone[inner][:, :, 3].min() >= 250
        and np.abs(alone[inner][:, :, :3].astype(int) - a[inner][:, :, :3]).max() <= 3
    )


def test_a_neural_engine_s_face_is_pasted_where_each_frame_s_mouth_is(prepared: tuple[Path, dict[str, object]]):
    from streamer.avatar.neural import FACE_PX

    clip, _ = prepared
    host = VideoAvatar(AvatarStyle(kind="video", clip=str(clip)), height_px=620)
    host.set_backdrop(np.zeros((host.height, host.width, 3), np.uint8))
    face = host.neural_face_input()
    assert face.shape == (6, FACE_PX, FACE_PX) and face[:3, FACE_PX // 2 :].max() == 0.0
    green = np.zeros((FACE_PX, FACE_PX, 3), np.uint8)
    green[:, :, 1] = 255
    shift = np.linalg.norm(host._offsets - host._offsets[0], axis=1)
    far = int(np.argmax(shift))  # the loop frame whose mouth moved furthest from frame 0's
    assert shift[far] >= 2.0
    for k in (0, far):
        t = (k + 0.5) / FPS
        assert host.frame_index(t) == k
        plain = host.render(t, MouthPose.rest())
        pasted = host.render(t, MouthPose(weights=MouthPose.rest().weights, open_amount=0.5, crop=green))
        mouth, brow = host.points[k][13].astype(int), host.points[k][9].astype(int)
        assert pasted[mouth[1], mouth[0], 1] > plain[mouth[1], mouth[0], 1] + 60
        assert abs(int(pasted[brow[1], brow[0], 1]) - int(plain[brow[1], brow[0], 1])) <= 2


def test_a_folder_prepared_before_mattes_loads_and_shows_the_clip_s_own_room(
    prepared: tuple[Path, dict[str, object]], tmp_path: Path
):
    import shutil

    clip, _ = prepared
    old = tmp_path / "old.avatar"
    shutil.copytree(clip.with_name("anna.avatar"), old)
    (old / "mattes.npz").unlink()
    meta = json.loads((old / "meta.json").read_text())
    meta["format"] = 1
    meta.pop("mattes")
    (old / "meta.json").write_text(json.dumps(meta))
    loaded = load_prepared(old)
    host = VideoAvatar(AvatarStyle(kind="video", clip=str(old)), height_px=620, prepared=loaded)
    assert loaded.mattes is None and not host.cutout


def test_the_lips_follow_the_viseme_openness_on_the_footage(prepared: tuple[Path, dict[str, object]]):
    clip, _ = prepared
    host = VideoAvatar(AvatarStyle(kind="video", clip=str(clip)), height_px=620)
    measured, wanted = [], []
    with FaceMesher(static=True) as mesher:
        for i, (viseme, amount) in enumerate(
            [(v, a) for v in (Viseme.OPEN, Viseme.ROUND, Viseme.WIDE, Viseme.REST) for a in (0.0, 0.5, 1.0)]
        ):
            t = 0.4 + 0.7 * i  # a different footage frame each time
            m = pose(viseme, amount)
            faces = mesher.landmarks(host.render(t, m)[:, :, :3])
            assert len(faces) == 1
            # The footage's own lip gap at that frame is the zero point.
            base = inner_lip_opening(mesher.landmarks(host.footage(host.frame_index(t))[:, :, :3])[0])
            measured.append(inner_lip_opening(faces[0]) - base)
            wanted.append(jaw_opening(m))
    r = float(np.corrcoef(measured, wanted)[0, 1])
    assert r >= 0.9, (r, measured, wanted)


def test_clips_without_a_face_or_with_cuts_are_refused(prepared: tuple[Path, dict[str, object]], tmp_path: Path):
    from skimage import data

    clip, _ = prepared
    cup = tmp_path / "cup.png"
    cv2.imwrite(str(cup), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    no_face = tmp_path / "cup.mp4"
    with av.open(str(no_face), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 600, 400, "yuv420p"
        frame = cv2.imread(str(cup))
        for _ in range(20):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    r = run_cli("prepare-avatar", str(no_face), cwd=tmp_path)
    assert r.returncode == 2 and f"{no_face}: one face in only 0% of the frames" in r.stderr, r.stderr
    portrait = clip.parent / "astronaut.png"
    cuts = make_clip(tmp_path / "cuts.mp4", portrait, seconds=6.0, shots_every_s=1.5)
    with pytest.raises(ClipError) as err:
        prepare_clip(cuts, tmp_path / "cuts.avatar")
    assert str(cuts) in str(err.value) and "no cut" in str(err.value) and "cuts found" in str(err.value)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(ClipError, match="not a video"):
        prepare_clip(text, tmp_path / "x.avatar")


def test_a_persona_with_an_unprepared_or_changed_clip_fails_check_saying_how_to_prepare_it(
    prepared: tuple[Path, dict[str, object]], tmp_path: Path
):
    clip, _ = prepared
    shutil.copy(clip, tmp_path / "anna.mp4")
    persona = tmp_path / "anna.yaml"
    persona.write_text(f"name: Anna\nvoice:\n  backend: silence\navatar:\n  kind: video\n  clip: anna.mp4\n"
                       f"  likeness_consent: {CONSENT}\n")  # fmt: skip
    products = products_dir(tmp_path)
    r = run_cli("check", "--persona", str(persona), "--products", str(products), cwd=tmp_path)
    assert r.returncode == 2 and f"{persona}:6: avatar.clip:" in r.stderr
    assert "prepare-avatar" in r.stderr and "Traceback" not in r.stderr
    shutil.copytree(clip.with_name("anna.avatar"), tmp_path / "anna.avatar")
    r = run_cli("check", "--persona", str(persona), "--products", str(products), cwd=tmp_path)
    assert "was prepared from another version of anna.mp4" in r.stderr  # a copy has another modification time
    r = run_cli("prepare-avatar", str(tmp_path / "anna.mp4"), cwd=tmp_path, timeout_s=300)
    assert r.returncode == 0, r.stderr
    r = run_cli("check", "--persona", str(persona), "--products", str(products), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert load_persona(persona)[0].avatar.clip == str((tmp_path / "anna.mp4").resolve())


def test_a_video_avatar_show_keeps_lips_and_blinks_in_the_published_video(
    prepared: tuple[Path, dict[str, object]], tmp_path: Path
):
    clip, _ = prepared
    show, asked, out = run_measured_show(
        {"kind": "video", "clip": str(clip), "likeness_consent": CONSENT}, tmp_path, seconds=14
    )
    assert show.scene is not None and isinstance(show.scene.avatar, VideoAvatar)
    host = show.scene.avatar
    # The footage's own lip gap (from the landmarks found when the clip was prepared) is the zero point.
    measured = lips_and_blinks(
        decoded(out), asked, own_gap=lambda n: inner_lip_opening(host.points[host.frame_index(n / FPS)])
    )
    print(json.dumps(measured))
    check_lips_and_blinks(measured)


def test_on_a_still_studio_the_loop_is_laid_on_once_and_shown_from_then_on(prepared: tuple[Path, dict[str, object]]):
    clip, _ = prepared
    host = VideoAvatar(AvatarStyle(kind="video", clip=str(clip)), height_px=620, bake_studio=True)
    green = np.zeros((host.height, host.width, 3), np.uint8)
    green[:, :, 1] = 200
    host.set_backdrop(green)
    assert host.baked.wait(60)
    for k in (0, host.clip.frames // 2, host.clip.frames - 1):
        baked = host._picture(k, host._backdrop).astype(np.int16)
        live = host._picture(k, host._backdrop, baked=False).astype(np.int16)
        diff = np.abs(baked - live)
        assert float(diff.mean()) < 1.0 and baked[:, :, 3].min() == 255, (k, float(diff.mean()))
    # A new studio: the old bake is dropped at once and a new one made.
    host.set_backdrop(np.zeros_like(green))
    assert not host.baked.is_set() and host._picture(0, host._backdrop)[5, 5, 1] < 10
    assert host.baked.wait(60)
