"""Compositor: I420 output, the always-on AI label, the product card, the notice banner and price text."""

from __future__ import annotations

from decimal import Decimal

import cv2
import numpy as np
import pytest

from streamer.avatar import CartoonAvatar, count_mouth_interior
from streamer.compose import Compositor, FontNotFoundError, default_avatar_height, format_price, i420_to_bgr
from streamer.compose import text as tx
from streamer.compose.layout import Rect
from streamer.config import AvatarStyle, ProductSheet, ai_label_for
from streamer.frames import VISEME_COUNT, MouthPose, Viseme
from streamer.money import discount_percent

STYLE = AvatarStyle()


def pose(viseme: Viseme, open_amount: float) -> MouthPose:
    w = np.zeros(VISEME_COUNT, np.float32)
    w[viseme] = 1.0
    return MouthPose(weights=w, open_amount=open_amount)


def make(width: int, height: int, language: str = "en", avatar_height: int | None = None):
    av = CartoonAvatar(STYLE, height_px=avatar_height or default_avatar_height(width, height), seed=5)
    comp = Compositor(width=width, height=height, language=language, background=STYLE.background, avatar_size=av.size)
    av.set_backdrop(comp.avatar_backdrop)
    return comp, av


def product(**kw) -> ProductSheet:
    base = dict(
        id="mug",
        name="Barista Espresso Cup",
        price=Decimal("19.99"),
        promo="Free shipping today",
        features=["Porcelain", "Dishwasher safe"],
    )
    base.update(kw)
    return ProductSheet(**base)


def sample_image() -> np.ndarray:
    img = np.zeros((300, 400, 3), np.uint8)
    img[:] = (40, 90, 160)
    cv2.circle(img, (200, 150), 100, (230, 235, 240), -1, cv2.LINE_AA)
    return img


def crop(bgr: np.ndarray, r: Rect) -> np.ndarray:
    return bgr[r.y : r.bottom, r.x : r.right]


def label_planes(i420: np.ndarray, width: int, height: int, r: Rect) -> list[np.ndarray]:
    r = r.even_outer()
    flat = i420.reshape(-1)
    ysz, csz = width * height, (width // 2) * (height // 2)
    u = flat[ysz : ysz + csz].reshape(height // 2, width // 2)
    v = flat[ysz + csz :].reshape(height // 2, width // 2)
    cs = (slice(r.y // 2, r.bottom // 2), slice(r.x // 2, r.right // 2))
    return [i420[r.y : r.bottom, r.x : r.right].copy(), u[cs].copy(), v[cs].copy()]


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_output_is_i420_of_the_frame_size(size: tuple[int, int]) -> None:
    w, h = size
    comp, av = make(w, h)
    frame = comp.compose(av.render(0.0, MouthPose.rest()), 0.0, opaque=True)
    assert frame.shape == (h * 3 // 2, w) and frame.dtype == np.uint8
    assert i420_to_bgr(frame).shape == (h, w, 3)
    # The static part is exactly what OpenCV's BT.601 conversion of the base picture gives.
    assert np.array_equal(frame[:10], cv2.cvtColor(comp.base_bgr(), cv2.COLOR_BGR2YUV_I420)[:10])


@pytest.mark.parametrize(
    ("size", "language"),
    [((1280, 720), "en"), ((1920, 1080), "en"), ((1280, 720), "zh"), ((1920, 1080), "zh"), ((720, 1280), "de")],
)
def test_ai_label_is_burned_in_with_tall_high_contrast_text(size: tuple[int, int], language: str) -> None:
    w, h = size
    comp, av = make(w, h, language)
    assert comp.label_text == ai_label_for(language)
    frame = i420_to_bgr(comp.compose(av.render(1.0, pose(Viseme.OPEN, 0.8)), 1.0, opaque=True))
    pill = crop(frame, comp.label_rect).astype(np.int16)
    text = np.all(pill >= 200, axis=-1)
    rows = np.where(text.sum(axis=1) >= 2)[0]
    ink_height = rows.max() - rows.min() + 1
    assert ink_height >= 0.05 * min(w, h), (ink_height, min(w, h))
    assert comp.label_ink_height_px >= 0.05 * min(w, h)
    background = pill[~text].mean(axis=0)
    assert background.max() < 70  # white on a dark pill
    # In a corner: inside the frame's top-left quarter.
    r = comp.label_rect
    assert r.x < 0.05 * w and r.y < 0.05 * h and r.right < w / 2


def test_label_pixels_are_identical_whatever_the_avatar_does() -> None:
    comp, av = make(1280, 720)
    frames = [
        comp.compose(av.render(t, m), t, opaque=True)
        for t, m in [(0.0, MouthPose.rest()), (1.3, pose(Viseme.OPEN, 1.0)), (7.7, pose(Viseme.ROUND, 0.6))]
    ]
    comp.set_notice("This host is an AI-generated virtual presenter.")
    frames.append(comp.compose(av.render(2.0, pose(Viseme.WIDE, 1.0)), 2.0, opaque=True))
    ref = label_planes(frames[0], 1280, 720, comp.label_rect)
    for f in frames[1:]:
        for a, b in zip(ref, label_planes(f, 1280, 720, comp.label_rect), strict=True):
            assert np.array_equal(a, b)


def test_avatar_never_draws_over_the_label_even_when_their_rects_overlap() -> None:
    w, h = 640, 360
    comp = Compositor(width=w, height=h, language="en", background="#1d2333", avatar_size=(358, 356))
    assert comp.avatar_rect.intersects(comp.label_rect)
    white = np.full((356, 358, 3), 255, np.uint8)
    black = np.zeros((356, 358, 3), np.uint8)
    a = label_planes(comp.compose(white, 0.0), w, h, comp.label_rect)
    b = label_planes(comp.compose(black, 0.0), w, h, comp.label_rect)
    for pa, pb in zip(a, b, strict=True):
        assert np.array_equal(pa, pb)
    # ...while the avatar itself did land in the frame.
    avatar_px = i420_to_bgr(comp.compose(white, 0.0))[h - 10, comp.avatar_rect.x + 10]
    assert avatar_px.min() > 240


def test_mouth_opening_is_measurable_in_frame_coordinates() -> None:
    comp, av = make(1280, 720)
    ox, oy = comp.avatar_origin

    def count(t: float, m: MouthPose) -> int:
        frame = i420_to_bgr(comp.compose(av.render(t, m), t, opaque=True))
        x, y, bw, bh = av.mouth_box(t)
        return count_mouth_interior(frame, (x + ox, y + oy, bw, bh))

    for t in (0.4, 5.1):
        assert count(t, MouthPose.rest()) == 0
        assert count(t, pose(Viseme.CLOSED, 1.0)) == 0
        opened = [count(t, pose(Viseme.OPEN, a)) for a in (0.25, 0.5, 1.0)]
        assert 0 < opened[0] < opened[1] < opened[2]


def test_notice_banner_shows_while_set_and_goes_away() -> None:
    comp, av = make(1280, 720)
    pic = av.render(0.5, MouthPose.rest())
    before = comp.compose(pic, 0.5, opaque=True)
    comp.set_notice("This host is an AI-generated virtual presenter.")
    during = comp.compose(pic, 0.5, opaque=True)
    n = comp.notice_rect
    assert n.w == 1280 and n.h >= 0.1 * 720
    assert not np.array_equal(before[n.y : n.bottom], during[n.y : n.bottom])
    # The banner covers the avatar too: the same rows are identical whatever the avatar shows.
    other = comp.compose(av.render(3.0, pose(Viseme.OPEN, 1.0)), 3.0, opaque=True)
    assert np.array_equal(during[n.y : n.bottom], other[n.y : n.bottom])
    comp.set_notice(None)
    assert np.array_equal(before, comp.compose(pic, 0.5, opaque=True))


def test_cjk_notice_renders() -> None:
    comp, _ = make(1280, 720, "zh")
    before = comp.base_bgr()
    comp.set_notice("本主播为AI生成的虚拟主播。")
    n = comp.notice_rect
    banner = crop(comp.base_bgr(), n)
    assert not np.array_equal(crop(before, n), banner)
    assert np.count_nonzero(np.all(banner >= 230, axis=-1)) > 500  # white glyphs, not empty boxes


def test_card_is_drawn_and_list_price_only_when_higher() -> None:
    comp, _ = make(1280, 720)
    empty = crop(comp.base_bgr(), comp.card_rect).copy()
    comp.set_product(product(), sample_image())
    plain = crop(comp.base_bgr(), comp.card_rect).copy()
    assert not np.array_equal(empty, plain)
    comp.set_product(product(list_price=Decimal("19.99")), sample_image())  # equal: no strike-through price
    assert np.array_equal(plain, crop(comp.base_bgr(), comp.card_rect))
    comp.set_product(product(list_price=Decimal("29.99")), sample_image())
    assert not np.array_equal(plain, crop(comp.base_bgr(), comp.card_rect))
    comp.set_product(None, None)
    assert np.array_equal(empty, crop(comp.base_bgr(), comp.card_rect))


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (720, 1280), (854, 480), (640, 360)])
def test_layout_keeps_card_label_and_avatar_apart(size: tuple[int, int]) -> None:
    w, h = size
    comp, _ = make(w, h)
    frame = Rect(0, 0, w, h)
    assert not comp.card_rect.intersects(comp.label_rect)
    assert not comp.card_rect.intersects(comp.avatar_rect)
    assert not comp.card_rect.intersects(comp.notice_rect)  # the opening notice never covers the card
    assert comp.notice_rect.bottom == h and comp.notice_rect.w == w
    assert frame.contains(comp.avatar_rect) and frame.contains(comp.card_rect)
    assert comp.avatar_rect.x % 2 == 0 and comp.avatar_rect.y % 2 == 0
    # The card and its shadow stay off the avatar's backdrop, so the avatar blends into the picture seamlessly.
    comp.set_product(product(list_price=Decimal("25")), sample_image())
    under = crop(comp.base_bgr(), comp.avatar_rect).astype(int)
    expected = cv2.cvtColor(cv2.cvtColor(comp.avatar_backdrop, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    keep = np.ones(under.shape[:2], bool)
    lab = comp.label_rect.even_outer().intersection(comp.avatar_rect)
    if lab is not None:
        keep[
            lab.y - comp.avatar_rect.y : lab.bottom - comp.avatar_rect.y,
            lab.x - comp.avatar_rect.x : lab.right - comp.avatar_rect.x,
        ] = False
    assert np.abs(under - expected.astype(int))[keep].max() <= 2


def test_product_without_image_gets_a_placeholder_and_cjk_name_renders() -> None:
    comp, av = make(1920, 1080, "zh")
    comp.set_product(product(name="手冲咖啡礼盒", price=Decimal("89"), currency="CNY", features=["中度烘焙"]), None)
    card = crop(comp.base_bgr(), comp.card_rect)
    dark_ink = np.all(card <= 80, axis=-1)
    assert np.count_nonzero(dark_ink) > 500
    assert comp.compose(av.render(0.0, MouthPose.rest()), 0.0).shape == (1620, 1920)


def test_transparent_avatar_is_blended_over_the_background() -> None:
    comp, av = make(1280, 720)
    av.set_backdrop(None)
    pic = av.render(0.0, MouthPose.rest())
    blended = i420_to_bgr(comp.compose(pic, 0.0))  # opaque=None: detects the transparency
    y = comp.avatar_rect.h // 3  # beside the head: only background there
    corner = crop(blended, comp.avatar_rect)[y, 2].astype(int)
    backdrop = comp.avatar_backdrop[y, 2].astype(int)
    assert np.abs(corner - backdrop).max() <= 3
    av.set_backdrop(comp.avatar_backdrop)
    opaque = i420_to_bgr(comp.compose(av.render(0.0, MouthPose.rest()), 0.0, opaque=True))
    assert np.abs(blended.astype(int) - opaque.astype(int)).mean() < 1.0


def test_compose_rejects_a_picture_of_the_wrong_size() -> None:
    comp, _ = make(1280, 720)
    with pytest.raises(ValueError, match="expected"):
        comp.compose(np.zeros((10, 10, 4), np.uint8), 0.0)


def test_missing_label_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    latin_only = tuple(f for f in tx.candidate_faces(True) if "dejavu" in f.path.lower())
    assert latin_only, "DejaVu Sans Bold is expected on the test machine"
    monkeypatch.setattr(tx, "candidate_faces", lambda bold=True: latin_only)
    with pytest.raises(FontNotFoundError, match="生成"):
        Compositor(width=1280, height=720, language="zh", background="#1d2333", avatar_size=(470, 634))


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("19.99", "USD", "$19.99"),
        ("20", "USD", "$20"),
        ("20.00", "USD", "$20"),
        ("19.9", "USD", "$19.90"),
        ("0.5", "GBP", "£0.50"),
        ("5", "EUR", "€5"),
        ("1980", "JPY", "¥1980"),
        ("89.00", "CNY", "¥89"),
        ("12.50", "CHF", "CHF 12.50"),
        ("1234567.89", "USD", "$1234567.89"),
        ("1.005", "USD", "$1.005"),
        ("0", "USD", "$0"),
    ],
)
def test_price_text_keeps_every_digit(amount: str, currency: str, expected: str) -> None:
    assert format_price(Decimal(amount), currency) == expected


def test_discount_badge_never_overstates_the_saving() -> None:
    assert discount_percent(Decimal("19.99"), Decimal("29.99")) == 33  # 33.34% rounds down
    assert discount_percent(Decimal("10"), Decimal("15")) == 33
    assert discount_percent(Decimal("20"), Decimal("20")) is None
    assert discount_percent(Decimal("20"), None) is None
    assert discount_percent(Decimal("99.5"), Decimal("100")) is None


def test_wrap_keeps_to_the_line_budget_and_marks_cut_text() -> None:
    face = tx.font_for("Barista Espresso Cup and Saucer Set")
    lines = tx.wrap(
        "Barista Espresso Cup and Saucer Set with Gift Box", size_px=30, face=face, max_width=260, max_lines=2
    )
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(tx.text_width(ln, size_px=30, face=face) <= 260 for ln in lines)
    assert tx.wrap("Short", size_px=30, face=face, max_width=260, max_lines=2) == ["Short"]
    cjk = tx.font_for("手冲咖啡礼盒精选阿拉比卡豆")
    lines = tx.wrap("手冲咖啡礼盒精选阿拉比卡豆", size_px=30, face=cjk, max_width=150, max_lines=3)
    assert len(lines) >= 2 and "".join(lines).replace("…", "") in "手冲咖啡礼盒精选阿拉比卡豆"
