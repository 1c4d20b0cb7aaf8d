"""Product card layout: offers are never cut, nothing covers a price or a promo, demo pictures show the product."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from streamer.avatar import CartoonAvatar
from streamer.compose import Compositor, default_avatar_height, i420_to_bgr
from streamer.compose import layout as lay
from streamer.compose import text as tx
from streamer.compose.layout import CardLayout, CardText, Rect
from streamer.config import AvatarStyle, ProductSheet
from streamer.frames import MouthPose

ROOT = Path(__file__).resolve().parent.parent
STYLE = AvatarStyle()
NOTICE = "This host is an AI-generated virtual presenter."
COFFEE_PROMO = "Live-only deal: free burr hand grinder with every two bags, today while the stream is on"
LONG_PROMO = (
    "Live-only deal: free burr hand grinder with every two bags, plus a tasting card and a recipe booklet for "
    "pour-over, AeroPress and French press; today only while the stream is on, limited to the first 200 orders, "
    "one grinder per household, and free shipping on every order over 35 dollars."
)
ZH_PROMO = "直播间专享：每买两袋送一台手摇磨豆机，活动仅限直播期间，数量有限，送完即止，另享满199元包邮。"


def make(width: int, height: int, language: str = "en") -> tuple[Compositor, CartoonAvatar]:
    av = CartoonAvatar(STYLE, height_px=default_avatar_height(width, height), seed=5)
    comp = Compositor(width=width, height=height, language=language, background=STYLE.background, avatar_size=av.size)
    av.set_backdrop(comp.avatar_backdrop)
    return comp, av


def sheet(promo: str | None, **kw: object) -> ProductSheet:
    base: dict[str, object] = dict(
        id="coffee",
        name="Ethiopian Yirgacheffe Coffee Beans, 1 kg",
        price=Decimal("24.99"),
        list_price=Decimal("32.00"),
        promo=promo,
        features=[
            "Single origin from the Gedeo zone, Ethiopia",
            "Light-medium roast with jasmine, bergamot and lemon notes",
            "Roasted to order and shipped within 48 hours",
        ],
    )
    base.update(kw)
    return ProductSheet(**base)


def assert_promo_complete(cl: CardLayout, promo: str, *, spaced: bool) -> None:
    """Every word of the promo is on the card, in order, uncut; each page's lines are exactly its text."""
    assert cl.promo_text == " ".join(promo.split())
    assert not cl.promo_cut
    for lines, page_text in zip(cl.promo_pages, cl.promo_page_texts, strict=True):
        texts = [ln.text for ln in lines]
        assert tx.join_lines(texts) == page_text.rstrip()
        assert all("…" not in t and "..." not in t for t in texts)
    all_lines = [ln.text.strip() for page in cl.promo_pages for ln in page]
    if spaced:  # Latin: the wrapped lines, joined by spaces, give back the promo word for word
        assert " ".join(all_lines) == " ".join(promo.split())
    else:  # Chinese: no spaces, lines break between characters
        assert "".join(all_lines) == promo


def assert_nothing_covers_offers(comp: Compositor) -> None:
    offers = comp.offer_rects
    assert offers, "a card with a price has offer rects"
    for r in offers:
        assert comp.card_rect.contains(r), (r, comp.card_rect)
        assert not r.intersects(comp.notice_rect), (r, comp.notice_rect)
        assert not r.intersects(comp.label_rect), (r, comp.label_rect)
        assert not r.intersects(comp.avatar_rect), (r, comp.avatar_rect)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (720, 1280)])
@pytest.mark.parametrize("promo", [COFFEE_PROMO, LONG_PROMO], ids=["coffee", "long"])
def test_notice_and_label_never_cover_price_or_promo_and_the_promo_is_whole(size: tuple[int, int], promo: str) -> None:
    w, h = size
    comp, av = make(w, h)
    comp.set_product(sheet(promo), None)
    comp.set_notice(NOTICE)
    cl = comp.card_layout
    assert cl is not None
    assert_nothing_covers_offers(comp)
    assert_promo_complete(cl, promo, spaced=True)
    # The label stays at least 5% of the shorter side tall, and the notice spans the frame.
    assert comp.label_ink_height_px >= 0.05 * min(w, h)
    assert comp.notice_rect.w == w and comp.notice_rect.bottom <= h
    # Offers are drawn no smaller than the legible minimum, and every promo line fits inside its box.
    floor = lay.min_offer_text_px(w, h)
    assert cl.price.size_px >= floor
    assert cl.promo_box is not None
    for page in cl.promo_pages:
        for ln in page:
            assert ln.size_px >= floor
            assert cl.promo_box.contains(Rect(ln.box.x, cl.promo_box.y, ln.box.w, 1)), (ln, cl.promo_box)
            assert tx.text_width(ln.text.rstrip(), size_px=ln.size_px, face=ln.face) <= cl.promo_box.w
    # Price and list price are shown in full.
    assert cl.price.text == "$24.99"
    assert cl.list_price is not None and cl.list_price.text == "$32"
    # Pixel check: the notice changes no pixel of the price or the promo.
    pic = av.render(0.0, MouthPose.rest())
    with_notice = i420_to_bgr(comp.compose(pic, 0.0, opaque=True))
    comp.set_notice(None)
    without = i420_to_bgr(comp.compose(pic, 0.0, opaque=True))
    for r in comp.offer_rects:
        a, b = with_notice[r.y : r.bottom, r.x : r.right], without[r.y : r.bottom, r.x : r.right]
        assert np.array_equal(a, b)
    n = comp.notice_rect
    assert not np.array_equal(with_notice[n.y : n.bottom], without[n.y : n.bottom])  # the notice did show


def test_short_promo_is_one_line_at_full_size_and_long_promo_pages_at_clause_boundaries() -> None:
    comp, _ = make(1280, 720)
    comp.set_product(sheet("Free shipping today"), None)
    short = comp.card_layout
    assert short is not None and len(short.promo_pages) == 1 and len(short.promo_pages[0]) == 1
    comp.set_product(sheet(LONG_PROMO), None)
    cl = comp.card_layout
    assert cl is not None and len(cl.promo_pages) >= 2
    assert all(len(page) <= lay.PROMO_MAX_LINES for page in cl.promo_pages)
    # Pages break after a clause (punctuation), not in the middle of one.
    for page_text in cl.promo_page_texts[:-1]:
        assert page_text.rstrip()[-1] in ",;:.!?", page_text
    # A promo that needs paging is at least as large as the smallest legible size, never below.
    assert cl.promo_pages[0][0].size_px >= lay.min_offer_text_px(1280, 720)


def test_paged_promo_rotates_every_few_seconds_and_only_the_promo_changes() -> None:
    comp, av = make(1280, 720)
    comp.set_product(sheet(LONG_PROMO), None)
    cl = comp.card_layout
    assert cl is not None and cl.promo_region is not None
    n = len(cl.promo_pages)
    page_s = cl.promo_page_s
    assert 2.0 <= page_s <= 8.0
    pic = av.render(0.0, MouthPose.rest())
    frames = [comp.compose(pic, (k + 0.5) * page_s, opaque=True) for k in range(n + 1)]
    assert [cl.promo_page_at((k + 0.5) * page_s) for k in range(n + 1)] == [*range(n), 0]
    assert np.array_equal(frames[0], frames[n])  # back to the first page
    r = cl.promo_region
    for k in range(1, n):
        diff = np.any(frames[k] != frames[0], axis=1)
        rows = np.where(diff[:720])[0]
        assert rows.size and rows.min() >= r.y and rows.max() < r.bottom
        cols = np.where(np.any(frames[k][:720] != frames[0][:720], axis=0))[0]
        assert cols.min() >= r.x and cols.max() < r.right


def test_chinese_promo_wraps_between_characters_and_keeps_every_character() -> None:
    comp, _ = make(1920, 1080, "zh")
    name = "埃塞俄比亚耶加雪菲咖啡豆 1公斤"
    p = sheet(ZH_PROMO, name=name, currency="CNY", price=Decimal("168"), list_price=Decimal("218"))
    comp.set_product(p, None)
    comp.set_notice("本主播为AI生成的虚拟主播。")
    cl = comp.card_layout
    assert cl is not None
    assert_nothing_covers_offers(comp)
    assert_promo_complete(cl, ZH_PROMO, spaced=False)
    lines = [ln.text for page in cl.promo_pages for ln in page]
    assert len(lines) >= 2
    assert not any(ln[0] in "，。、；：！？" for ln in lines)  # no line starts with closing punctuation
    assert cl.price.text == "¥168" and cl.list_price is not None and cl.list_price.text == "¥218"


def test_a_narrow_card_puts_the_list_price_on_its_own_row_rather_than_dropping_it() -> None:
    text = CardText(name="Mug", price="CHF 1234567.89", list_price="CHF 2345678.90", badge="-47%", promo="Today")
    cl = lay.plan_card(Rect(0, 0, 300, 600), text, frame_width=1280, frame_height=720)
    assert cl is not None and cl.list_price is not None and cl.badge is not None
    assert cl.list_price.baseline > cl.price.baseline  # second row
    for r in (cl.price.box, cl.list_price.box, cl.badge):
        assert r.right <= 300 - cl.pad // 2
    assert cl.price.size_px >= lay.min_offer_text_px(1280, 720)


def test_features_are_shortened_only_at_a_word_and_never_with_a_dangling_word() -> None:
    comp, _ = make(1280, 720)
    feats = ["Three separable stages and a removable Apollo capsule with a display stand", "Short one"]
    comp.set_product(sheet("Free shipping today", features=feats), None)
    cl = comp.card_layout
    assert cl is not None and cl.features
    for ln, original in zip(cl.features, feats, strict=False):
        shown = ln.text
        if shown.endswith("…"):
            body = shown[:-1]
            assert original.startswith(body) and original[len(body)] in " ,"
            assert body.rsplit(" ", 1)[-1].lower() not in {"a", "an", "the", "and", "with", "of"}
        else:
            assert shown == original


def test_wrap_all_and_clauses_never_lose_text() -> None:
    face = tx.font_for("Abc")
    texts = [COFFEE_PROMO, LONG_PROMO, "Supercalifragilisticexpialidocious-deal-for-everyone today", "$29.90, now."]
    for t in texts:
        for width in (60, 140, 400):
            lines = tx.wrap_all(t, size_px=20, face=face, max_width=width)
            assert tx.join_lines(lines) == " ".join(t.split())
            assert all(tx.text_width(ln.rstrip(), size_px=20, face=face) <= width for ln in lines)
        assert "".join(tx.split_clauses(t)).rstrip() == " ".join(t.split())
    assert tx.split_clauses("Save $29.90 now, today only") == ["Save $29.90 now, ", "today only"]
    cjk = tx.font_for(ZH_PROMO)
    assert tx.join_lines(tx.wrap_all(ZH_PROMO, size_px=24, face=cjk, max_width=150)) == ZH_PROMO


def test_product_without_a_picture_gets_a_neutral_no_image_tile() -> None:
    comp, _ = make(1280, 720)
    comp.set_product(sheet("Free shipping today"), None)
    cl = comp.card_layout
    assert cl is not None and cl.image is not None
    tile = comp.base_bgr()[cl.image.y : cl.image.bottom, cl.image.x : cl.image.right].astype(int)
    saturation = tile.max(axis=-1) - tile.min(axis=-1)
    assert np.percentile(saturation, 99) <= 24  # grey: nobody's picture, no colour photo
    assert tile.std() > 3  # an icon and the words are drawn on it
    from streamer.products.images import placeholder_image

    a = placeholder_image("Calming Donut Cat Bed", (320, 240))
    b = placeholder_image("猫窝", (320, 240))
    assert not np.array_equal(a, b)
    assert np.percentile(a.max(axis=-1).astype(int) - a.min(axis=-1), 99) <= 40


DEMO_PICTURES = {
    "cat-bed.yaml": "images/cat-bed.png",
    "coffee-beans.yaml": "images/coffee-beans.png",
    "rocket-kit.json": "images/rocket-kit.png",
}


def test_demo_sheets_point_at_drawn_pictures_of_their_products() -> None:
    from streamer.loading import load_product_file
    from streamer.products.images import read_image

    seen = {}
    for path in sorted((ROOT / "products").glob("*.*")):
        products, problems = load_product_file(path)
        assert problems == [], problems
        for p in products:
            assert p.image
            seen[p.id] = p.image
            img = read_image(p.image, path.parent)
            assert img.ndim == 3 and img.std() > 10
            if not p.image.startswith("package:"):
                file = path.parent / p.image
                assert file.stat().st_size <= 60_000 and img.shape[:2] == (480, 480)
    assert seen["cat-bed-donut-60"] == DEMO_PICTURES["cat-bed.yaml"]
    assert seen["coffee-yirgacheffe-1kg"] == DEMO_PICTURES["coffee-beans.yaml"]
    assert seen["rocket-kit-saturn-1-100"] == DEMO_PICTURES["rocket-kit.json"]
    assert seen["lamp-moon-15"] == "images/moon-lamp.png"
    assert seen["poster-hubble-deep-field"] == "package:skimage/data/hubble_deep_field.jpg"  # the real picture
    assert not any("chelsea" in ref for ref in seen.values())
