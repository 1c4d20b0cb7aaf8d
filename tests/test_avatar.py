"""CartoonAvatar: fixed-size pure rendering, the mouth-colour contract, blinking and idle motion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streamer.avatar import (
    MOUTH_INTERIOR_BGR,
    CartoonAvatar,
    count_mouth_interior,
    mouth_interior_mask,
)
from streamer.avatar.cartoon import BLINK_S
from streamer.config import AvatarStyle
from streamer.frames import VISEME_COUNT, MouthPose, Viseme

HEIGHT = 400


def pose(viseme: Viseme, open_amount: float) -> MouthPose:
    w = np.zeros(VISEME_COUNT, np.float32)
    w[viseme] = 1.0
    return MouthPose(weights=w, open_amount=open_amount)


@pytest.fixture(scope="module")
def avatar() -> CartoonAvatar:
    av = CartoonAvatar(AvatarStyle(), height_px=HEIGHT, seed=3)
    av.set_backdrop(np.full((av.height, av.width, 3), (60, 50, 40), np.uint8))
    return av


def interior(av: CartoonAvatar, t: float, mouth: MouthPose) -> int:
    return count_mouth_interior(av.render(t, mouth), av.mouth_box(t))


def test_size_is_even_and_fixed_and_render_is_bgra() -> None:
    av = CartoonAvatar(AvatarStyle(), height_px=301)
    w, h = av.size
    assert (w % 2, h % 2) == (0, 0) and h == 300
    for t in (0.0, 1.7, 3600.0):
        img = av.render(t, pose(Viseme.OPEN, 1.0))
        assert img.shape == (h, w, 4) and img.dtype == np.uint8


def test_transparent_render_has_transparent_corners_and_opaque_face() -> None:
    av = CartoonAvatar(AvatarStyle(), height_px=HEIGHT)
    img = av.render(0.0, MouthPose.rest())
    assert img[0, 0, 3] == 0 and img[0, -1, 3] == 0
    assert img[int(av.height * 0.38), av.width // 2, 3] == 255
    assert not av.opaque


def test_backdrop_makes_every_pixel_opaque_and_shows_behind(avatar: CartoonAvatar) -> None:
    img = avatar.render(2.0, MouthPose.rest())
    assert avatar.opaque
    assert int(img[..., 3].min()) == 255
    assert tuple(img[1, 1, :3]) == (60, 50, 40)


def test_render_is_a_pure_function_of_time_and_mouth(avatar: CartoonAvatar) -> None:
    first = avatar.render(3.3, pose(Viseme.WIDE, 0.7))
    for t in (0.0, 9.1, 3.25):  # render other things in between
        avatar.render(t, pose(Viseme.ROUND, 1.0))
    assert np.array_equal(first, avatar.render(3.3, pose(Viseme.WIDE, 0.7)))
    twin = CartoonAvatar(AvatarStyle(), height_px=HEIGHT, seed=3)
    twin.set_backdrop(np.full((twin.height, twin.width, 3), (60, 50, 40), np.uint8))
    assert np.array_equal(first, twin.render(3.3, pose(Viseme.WIDE, 0.7)))


@pytest.mark.parametrize("viseme", [Viseme.REST, Viseme.CLOSED])
@pytest.mark.parametrize("open_amount", [0.0, 0.5, 1.0])
def test_no_mouth_interior_for_rest_and_closed(avatar: CartoonAvatar, viseme: Viseme, open_amount: float) -> None:
    for t in (0.0, 1.3, 4.8):
        assert interior(avatar, t, pose(viseme, open_amount)) == 0


@pytest.mark.parametrize("viseme", list(Viseme))
def test_no_mouth_interior_when_not_open(avatar: CartoonAvatar, viseme: Viseme) -> None:
    assert interior(avatar, 0.5, pose(viseme, 0.0)) == 0


@pytest.mark.parametrize("viseme", [Viseme.OPEN, Viseme.WIDE, Viseme.ROUND])
def test_mouth_interior_grows_with_open_amount(avatar: CartoonAvatar, viseme: Viseme) -> None:
    for t in (0.0, 2.2, 7.9):
        counts = [interior(avatar, t, pose(viseme, a)) for a in (0.3, 0.45, 0.6, 0.8, 1.0)]
        assert counts[0] > 0
        assert all(b > a for a, b in itertools.pairwise(counts)), counts


def test_mouth_interior_grows_for_blended_visemes(avatar: CartoonAvatar) -> None:
    w = np.zeros(VISEME_COUNT, np.float32)
    w[Viseme.OPEN], w[Viseme.ROUND], w[Viseme.REST] = 0.5, 0.3, 0.2
    counts = [count_mouth_interior(avatar.render(1.0, MouthPose(w, a)), avatar.mouth_box(1.0)) for a in (0.3, 0.6, 1.0)]
    assert 0 < counts[0] < counts[1] < counts[2]


def test_open_mouth_colour_is_inside_mouth_box_and_nowhere_else(avatar: CartoonAvatar) -> None:
    for t in np.linspace(0.0, 12.0, 17):
        img = avatar.render(float(t), pose(Viseme.OPEN, 1.0))
        total = int(np.count_nonzero(mouth_interior_mask(img)))
        assert total > 0
        assert count_mouth_interior(img, avatar.mouth_box(float(t))) == total


def test_mouth_box_is_small_and_inside_the_canvas(avatar: CartoonAvatar) -> None:
    for t in (0.0, 3.0, 6.5):
        x, y, w, h = avatar.mouth_box(t)
        assert x >= 0 and y >= 0 and x + w <= avatar.width and y + h <= avatar.height
        assert w * h < 0.05 * avatar.width * avatar.height
        assert 0.4 * avatar.height < y < 0.6 * avatar.height  # the lower face


STYLES = [
    AvatarStyle(hair_style=h, outfit_style=o, outfit=c, skin=s)
    for (h, o), c, s in zip(
        itertools.product(["short", "long", "bun", "bald"], ["tshirt", "blazer", "hoodie"]),
        itertools.cycle(["#781a46", "#2f6fdb", "#e05a7a", "#46237a"]),  # the first is exactly the mouth colour
        itertools.cycle(["#f2c6a0", "#8d5a3b", "#5a3825", "#ffe0c8"]),
        strict=False,
    )
]


@pytest.mark.parametrize("style", STYLES, ids=lambda s: f"{s.hair_style}-{s.outfit_style}-{s.outfit}")
def test_only_the_open_mouth_reads_as_mouth_colour_inside_the_mouth_box(style: AvatarStyle) -> None:
    av = CartoonAvatar(style, height_px=HEIGHT, seed=1)
    av.set_backdrop(np.full((av.height, av.width, 3), (40, 35, 30), np.uint8))
    palette = np.array([[getattr(av.palette, f) for f in av.palette.__dataclass_fields__]], np.uint8)
    assert not mouth_interior_mask(palette).any()  # no colour of the character is the mouth colour
    for t in (0.0, 2.5, 6.1):
        for viseme in (Viseme.REST, Viseme.CLOSED):
            assert count_mouth_interior(av.render(t, pose(viseme, 1.0)), av.mouth_box(t)) == 0
        assert count_mouth_interior(av.render(t, pose(Viseme.OPEN, 1.0)), av.mouth_box(t)) > 100


EVERYDAY_STYLES = [
    AvatarStyle(),
    AvatarStyle(hair_style="long", outfit_style="hoodie", outfit="#e05a7a", skin="#c68a5e", hair="#1a1a1a"),
    AvatarStyle(hair_style="bun", outfit_style="tshirt", outfit="#2e8b57", skin="#8d5a3b"),
    AvatarStyle(hair_style="bald", outfit_style="blazer", outfit="#333333", accent="#e63946", skin="#f5d0b5"),
    AvatarStyle(hair_style="short", outfit_style="hoodie", outfit="#46237a", hair="#b5651d", skin="#5a3825"),
]


@pytest.mark.parametrize("style", EVERYDAY_STYLES, ids=lambda s: f"{s.hair_style}-{s.outfit_style}-{s.outfit}")
def test_mouth_colour_appears_nowhere_else_in_the_picture(style: AvatarStyle) -> None:
    av = CartoonAvatar(style, height_px=HEIGHT, seed=1)
    av.set_backdrop(np.full((av.height, av.width, 3), (40, 35, 30), np.uint8))
    assert not mouth_interior_mask(av.render(0.0, MouthPose.rest())).any()
    img = av.render(1.0, pose(Viseme.OPEN, 1.0))
    assert count_mouth_interior(img, av.mouth_box(1.0)) == np.count_nonzero(mouth_interior_mask(img)) > 0


def test_mouth_mask_matches_the_contract_colour_and_rejects_skin() -> None:
    px = np.array([[MOUTH_INTERIOR_BGR, (37, 56, 90), (160, 198, 242), (24, 38, 59), (240, 245, 248)]], np.uint8)
    assert mouth_interior_mask(px).tolist() == [[True, False, False, False, False]]


@pytest.mark.parametrize("seed", [0, 1, 2, 17, 12345])
def test_a_blink_starts_in_every_six_second_window(seed: int) -> None:
    av = CartoonAvatar(AvatarStyle(), height_px=128, seed=seed)
    starts = av.blink_times(0.0, 300.0)
    for t0 in np.arange(0.0, 294.0, 0.25):
        assert any(t0 <= s < t0 + 6.0 for s in starts), t0
    gaps = np.diff(starts)
    singles = gaps[gaps > 1.0]
    assert singles.min() >= 2.0 and singles.max() <= 6.0
    for s in starts[:10]:
        closure = [av.blink_amount(s + d) for d in np.arange(0.0, BLINK_S, 0.005)]
        assert max(closure) == pytest.approx(1.0)
        assert av.blink_amount(s + BLINK_S + 0.01) == 0.0 or any(abs(s + 0.32 - o) < 1e-9 for o in starts)


def test_blink_closes_the_eyes_in_the_picture(avatar: CartoonAvatar) -> None:
    start = avatar.blink_times(10.0, 20.0)[0]

    def eye_white_pixels(t: float) -> int:
        img = avatar.render(t, MouthPose.rest())[: int(avatar.height * 0.5)]
        return int(np.count_nonzero(np.all(img[..., :3] >= 240, axis=-1)))

    open_px, shut_px = eye_white_pixels(start - 0.4), eye_white_pixels(start + 0.065)
    assert open_px > 100
    assert shut_px < 0.1 * open_px


def test_picture_is_never_frozen_in_silence(avatar: CartoonAvatar) -> None:
    rest = MouthPose.rest()
    assert not np.array_equal(avatar.render(0.0, rest), avatar.render(1.0, rest))
    frames = [avatar.render(t, rest) for t in np.arange(0.0, 20.0, 0.5)]
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(frames))


def test_zero_weights_are_treated_as_rest(avatar: CartoonAvatar) -> None:
    silent = MouthPose(np.zeros(VISEME_COUNT, np.float32), 1.0)
    assert np.array_equal(avatar.render(1.0, silent), avatar.render(1.0, MouthPose(MouthPose.rest().weights, 1.0)))


def test_bad_backdrop_and_height_are_rejected() -> None:
    av = CartoonAvatar(AvatarStyle(), height_px=128)
    with pytest.raises(ValueError, match="backdrop"):
        av.set_backdrop(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="height_px"):
        CartoonAvatar(AvatarStyle(), height_px=10)
