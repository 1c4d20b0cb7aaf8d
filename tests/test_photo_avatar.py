"""The photo avatar: one portrait (scikit-image's astronaut, a public-domain NASA portrait) read once with the face
models, animated per frame; bad portraits refused with the file and the reason; consent required."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.avatar.base import build_avatar
from streamer.avatar.photo import PhotoAvatar, jaw_opening
from streamer.avatar.portrait import (
    MIN_FACE_HEIGHT_PX,
    FaceMesher,
    PortraitError,
    eye_aspect_ratio,
    inner_lip_opening,
    read_portrait,
)
from streamer.config import AvatarStyle
from streamer.frames import VISEME_COUNT, MouthPose, Viseme
from streamer.loading import ConfigError, load_persona

from .test_cli import products_dir, run_cli

CONSENT = {"by": "Eileen Collins (NASA public-domain portrait, test use)", "date": "2026-11-30", "reference": "t-1"}


def pose(viseme: Viseme, open_amount: float) -> MouthPose:
    w = np.zeros(VISEME_COUNT, np.float32)
    w[viseme] = 1.0
    return MouthPose(weights=w, open_amount=open_amount)


@pytest.fixture(scope="module")
def portrait_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    path = tmp_path_factory.mktemp("portrait") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def avatar(portrait_file: Path) -> PhotoAvatar:
    style = AvatarStyle(kind="photo", image=str(portrait_file), likeness_consent=CONSENT)
    av = build_avatar(style, height_px=620, seed=3)
    assert isinstance(av, PhotoAvatar)
    return av


@pytest.fixture(scope="module")
def mesher() -> FaceMesher:
    return FaceMesher(static=True)


def _landmarks(mesher: FaceMesher, bgr: np.ndarray) -> np.ndarray:
    faces = mesher.landmarks(bgr)
    assert len(faces) == 1, "the face mesh must find the one face in the picture"
    return faces[0]


# ---- reading the portrait ----------------------------------------------------------------------------------------


def test_the_portrait_gives_one_face_with_iris_landmarks_and_a_person_matte(portrait_file: Path) -> None:
    p = read_portrait(portrait_file)
    assert p.points.shape == (478, 2)
    assert MIN_FACE_HEIGHT_PX <= p.face_height_px < 200
    _, w = p.person.shape
    nose = p.points[1].astype(int)
    assert p.person[nose[1], nose[0]] > 0.9  # the face is the person
    assert p.person[5, 5] < 0.2 and p.person[5, w - 6] < 0.2  # the top corners are the room


def _bad_pictures(tmp: Path, good: Path) -> dict[str, tuple[Path, str]]:
    from skimage import data

    img = cv2.imread(str(good))
    two = tmp / "two.png"
    cv2.imwrite(str(two), np.hstack([img, img]))
    small = tmp / "small.png"
    cv2.imwrite(str(small), cv2.resize(img, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA))
    cup = tmp / "cup.png"
    cv2.imwrite(str(cup), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    text = tmp / "notes.jpg"
    text.write_text("not a picture")
    return {
        "two faces": (two, "2 faces found"),
        "face too small": (small, f"under the {MIN_FACE_HEIGHT_PX} px needed"),
        "no face": (cup, "no face found"),
        "not a picture": (text, "not a picture"),
        "missing": (tmp / "nope.png", "file not found"),
    }


def test_unusable_portraits_are_refused_naming_the_file_and_the_reason(portrait_file: Path, tmp_path: Path) -> None:
    for case, (path, reason) in _bad_pictures(tmp_path, portrait_file).items():
        with pytest.raises(PortraitError) as err:
            read_portrait(path, segment=False)
        assert str(path) in str(err.value), case
        assert reason in str(err.value), (case, str(err.value))


# ---- persona and check -------------------------------------------------------------------------------------------


def _persona(tmp: Path, avatar_yaml: str) -> Path:
    path = tmp / "anna.yaml"
    path.write_text("name: Anna\nvoice:\n  backend: silence\navatar:\n" + avatar_yaml)
    return path


def test_a_photo_avatar_without_consent_or_image_is_refused_with_file_line_and_field(
    portrait_file: Path, tmp_path: Path
) -> None:
    path = _persona(tmp_path, f"  kind: photo\n  image: {portrait_file}\n")
    with pytest.raises(ConfigError) as err:
        load_persona(path)
    problem = next(p for p in err.value.problems if p.field == "avatar.likeness_consent")
    assert problem.line == 5 and "consent" in problem.message
    path = _persona(tmp_path, f"  kind: photo\n  likeness_consent: {CONSENT}\n")
    with pytest.raises(ConfigError) as err:
        load_persona(path)
    assert any(p.field == "avatar.image" for p in err.value.problems)
    path = _persona(tmp_path, f"  kind: photo\n  image: missing.jpg\n  likeness_consent: {CONSENT}\n")
    with pytest.raises(ConfigError) as err:
        load_persona(path)
    assert any(p.field == "avatar.image" and "portrait not found" in p.message for p in err.value.problems)


def test_the_image_path_is_relative_to_the_persona_file(portrait_file: Path, tmp_path: Path) -> None:
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "anna.png").write_bytes(portrait_file.read_bytes())
    path = _persona(tmp_path, f"  kind: photo\n  image: faces/anna.png\n  likeness_consent: {CONSENT}\n")
    persona, _ = load_persona(path)
    assert persona.avatar.image == str((tmp_path / "faces" / "anna.png").resolve())
    assert persona.avatar.likeness_consent is not None and persona.avatar.likeness_consent.by.startswith("Eileen")


@pytest.mark.integration
def test_check_and_run_refuse_a_portrait_without_a_usable_face(portrait_file: Path, tmp_path: Path) -> None:
    cup, reason = _bad_pictures(tmp_path, portrait_file)["no face"]
    persona = _persona(tmp_path, f"  kind: photo\n  image: {cup.name}\n  likeness_consent: {CONSENT}\n")
    products = products_dir(tmp_path)
    r = run_cli("check", "--persona", str(persona), "--products", str(products), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{persona}:6: avatar.image: {cup}: {reason}" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("run", "--persona", str(persona), "--products", str(products), "--duration", "2", cwd=tmp_path)
    assert r.returncode == 2 and reason in r.stderr


# ---- the picture -------------------------------------------------------------------------------------------------


def test_size_backdrop_and_purity(avatar: PhotoAvatar) -> None:
    w, h = avatar.size
    assert (w, h) == (avatar.width, 620) and w % 2 == 0
    avatar.set_backdrop(None)
    clear = avatar.render(1.0, MouthPose.rest())
    assert clear.shape == (h, w, 4) and clear[2, 2, 3] == 0  # the room is cut away
    nose = avatar.points[1].astype(int)
    assert clear[nose[1], nose[0], 3] == 255
    studio = np.full((h, w, 3), (40, 30, 20), np.uint8)
    avatar.set_backdrop(studio)
    a = avatar.render(2.5, pose(Viseme.OPEN, 0.8))
    assert (a[:, :, 3] == 255).all() and tuple(a[2, 2, :3]) == (40, 30, 20)
    avatar.render(7.0, pose(Viseme.WIDE, 0.3))  # whatever came before...
    assert np.array_equal(avatar.render(2.5, pose(Viseme.OPEN, 0.8)), a)  # ...the same inputs give the same picture


def test_the_lips_part_as_far_as_the_viseme_and_loudness_ask(avatar: PhotoAvatar, mesher: FaceMesher) -> None:
    t = 0.35  # between blinks, the head near rest
    assert avatar.blink_amount(t) == 0.0
    measured, wanted = [], []
    for viseme in (Viseme.OPEN, Viseme.ROUND, Viseme.WIDE, Viseme.CLOSED):
        for amount in (0.0, 0.4, 0.8, 1.0):
            m = pose(viseme, amount)
            measured.append(inner_lip_opening(_landmarks(mesher, avatar.render(t, m)[:, :, :3])))
            wanted.append(jaw_opening(m))
    r = float(np.corrcoef(measured, wanted)[0, 1])
    assert r >= 0.9, (r, measured, wanted)
    assert measured[3] > measured[0] + 0.04  # A, wide open, against closed


def test_a_blink_shuts_the_eyes_and_they_open_again(avatar: PhotoAvatar, mesher: FaceMesher) -> None:
    start = avatar.blink_times(0.0, 10.0)[0]
    mid = start + 0.09  # closing 75 ms, shut 40 ms
    assert avatar.blink_amount(mid) == 1.0
    open_ear = eye_aspect_ratio(_landmarks(mesher, avatar.render(start - 0.2, MouthPose.rest())[:, :, :3]))
    shut_ear = eye_aspect_ratio(_landmarks(mesher, avatar.render(mid, MouthPose.rest())[:, :, :3]))
    assert shut_ear < 0.6 * open_ear, (open_ear, shut_ear)
    gaps = np.diff(avatar.blink_times(0.0, 600.0))
    assert gaps.min() >= 2.0 and gaps.max() <= 6.0  # every 2-6 s


def test_in_silence_the_face_is_the_photo_and_never_frozen(avatar: PhotoAvatar) -> None:
    from skimage.metrics import structural_similarity

    studio = np.zeros((avatar.height, avatar.width, 3), np.uint8)
    avatar.set_backdrop(studio)
    frames = [avatar.render(t, MouthPose.rest()) for t in (0.5, 0.6)]
    assert not np.array_equal(frames[0], frames[1])  # the head moves even in silence
    mask = _identity_mask(avatar)
    for t in (0.5, 3.3, 11.0):
        if avatar.blink_amount(t) > 0:
            continue
        back = _undo_head(avatar, avatar.render(t, MouthPose.rest())[:, :, :3], t)
        score = _masked_ssim(structural_similarity, back, avatar.base, mask)
        assert score >= 0.9, (t, score)


def _identity_mask(av: PhotoAvatar) -> np.ndarray:
    """The face without mouth and eyes (the regions the avatar re-draws), a few pixels inside its outline."""
    from streamer.avatar.portrait import FACE_OVAL

    mask = np.zeros((av.height, av.width), np.uint8)
    cv2.fillPoly(mask, [av.points[list(FACE_OVAL)].astype(np.int32)], (255,))
    mask = cv2.erode(mask, np.ones((9, 9), np.uint8))
    x0, y0, x1, y1 = av.mouth_region
    mask[y0:y1, x0:x1] = 0
    for x0, y0, x1, y1 in av.eye_regions:
        mask[y0:y1, x0:x1] = 0
    return mask > 0


def _undo_head(av: PhotoAvatar, bgr: np.ndarray, t: float) -> np.ndarray:
    inverse = cv2.invertAffineTransform(av.head_affine(t))
    return cv2.warpAffine(bgr, inverse, (av.width, av.height), flags=cv2.INTER_LINEAR)


def _masked_ssim(ssim: object, a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    ga = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)
    gb = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)
    _, full = ssim(ga, gb, full=True, data_range=255)  # type: ignore[operator]
    return float(full[mask].mean())


def test_a_picture_as_the_studio_background_is_behind_the_cut_out_presenter(portrait_file: Path, tmp_path: Path):
    from skimage import data

    from streamer.compose.compositor import _cover
    from streamer.scene import Scene

    studio = tmp_path / "studio.jpg"
    cv2.imwrite(str(studio), cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR))
    path = _persona(
        tmp_path,
        f"  kind: photo\n  image: {portrait_file}\n  likeness_consent: {CONSENT}\n  background: studio.jpg\n",
    )
    persona, _ = load_persona(path)
    assert persona.avatar.background == str(studio.resolve())
    scene = Scene(persona=persona, width=640, height=360, seed=1)
    a = scene.compositor.layout.avatar
    expected = _cover(cv2.imread(str(studio)), 640, 360)[a.y : a.bottom, a.x : a.right]
    assert np.array_equal(scene.compositor.avatar_backdrop, expected)
    host = scene.avatar
    assert isinstance(host, PhotoAvatar)
    picture = host.render(1.0, MouthPose.rest())
    assert np.array_equal(picture[2, 2, :3], expected[2, 2])  # the room is gone: the studio picture shows
    # A missing picture or video is an error at its line.
    for missing in ("nope.png", "loop.mp4"):
        path.write_text(path.read_text().replace("studio.jpg", missing))
        with pytest.raises(ConfigError) as err:
            load_persona(path)
        assert any(
            p.field == "avatar.background" and f"background not found: {tmp_path / missing}" in p.message
            for p in err.value.problems
        )
        path.write_text(path.read_text().replace(missing, "studio.jpg"))
