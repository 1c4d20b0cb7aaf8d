"""Geometry of the picture: where the avatar, the product card (and everything on it), the AI label and the notice go.

No drawing here. Every rect the compositor pastes per frame is even-aligned (x, y, width and height even) so it maps
onto whole 2x2 chroma blocks of I420. :func:`plan_card` measures text with the installed fonts
(:mod:`streamer.compose.text`) but draws nothing; its :class:`CardLayout` is what the compositor draws and what the
tests check (every rect of the card is readable).

Landscape (width >= height): the AI label sits in the top-left corner, the avatar stands left of centre on the bottom
edge, the product card fills the right half from the top margin down to the notice band. Portrait: label top-left,
card across the top, avatar bottom centre. The notice is a full-width band along the bottom edge that the card never
reaches, so the opening AI notice can never cover a price or an offer; it may cover the avatar's shoulders. The label
never overlaps the card; if it overlaps the avatar rect the compositor re-applies it on top every frame.

The card never cuts an offer: the price and list price shrink to fit their row (down to a legible minimum) and move to
a second row rather than disappear; the promo wraps onto up to three lines, then shrinks, and if it still does not fit
it is split at clause boundaries into pages that the compositor shows one after the other. Only the product name and
the features (not offers) may be shortened, at a word boundary, with an ellipsis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streamer import money
from streamer.compose import text as tx
from streamer.config import ProductSheet

#: Avatar canvas width / height of :class:`streamer.avatar.CartoonAvatar` (a head-and-shoulders bust).
AVATAR_ASPECT = 0.74
#: How far the product card's drop shadow reaches beyond the card, as a fraction of the frame's shorter side. The card
#: is placed so that its shadow never reaches the avatar rect (the avatar is drawn on a backdrop without the card).
CARD_SHADOW_REACH = 0.065
#: Minimum ink height of the AI label's text, as a fraction of the frame's shorter side (the rule asks for 5%).
LABEL_INK_FRACTION = 0.056
#: Height of the notice band along the bottom edge, as a fraction of the frame's shorter side.
NOTICE_FRACTION = 0.12
#: Smallest font size for a price or an offer, as a fraction of the frame's shorter side (the frame height in
#: landscape): below this an offer is paged rather than shrunk further.
MIN_OFFER_TEXT_FRACTION = 0.022
#: Lines a promo may wrap onto before it is shrunk, then paged.
PROMO_MAX_LINES = 3
#: Seconds each page of a paged promo stays on screen.
PROMO_PAGE_S = 4.0
#: Most pages a promo is split into (a promo longer than this many full pages is not an on-screen offer; the last
#: page then ends in an ellipsis and :attr:`CardLayout.promo_cut` says so).
PROMO_MAX_PAGES = 12


@dataclass(frozen=True, slots=True)
class Rect:
    """Pixel rectangle: top-left (x, y), size (w, h)."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return max(0, self.w) * max(0, self.h)

    def intersection(self, other: Rect) -> Rect | None:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        if x1 <= x0 or y1 <= y0:
            return None
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def intersects(self, other: Rect) -> bool:
        return self.intersection(other) is not None

    def contains(self, other: Rect) -> bool:
        return self.x <= other.x and self.y <= other.y and other.right <= self.right and other.bottom <= self.bottom

    def even_outer(self) -> Rect:
        """The smallest even-aligned rect containing this one."""
        x0, y0 = self.x - (self.x % 2), self.y - (self.y % 2)
        x1, y1 = self.right + (self.right % 2), self.bottom + (self.bottom % 2)
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def clipped(self, width: int, height: int) -> Rect | None:
        return self.intersection(Rect(0, 0, width, height))

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    def union(self, other: Rect) -> Rect:
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1, y1 = max(self.right, other.right), max(self.bottom, other.bottom)
        return Rect(x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the big parts go. ``notice`` is the full-width band of the opening AI notice; ``card`` ends above it."""

    width: int
    height: int
    margin: int
    label: Rect
    avatar: Rect
    card: Rect
    notice: Rect


def _even(v: float) -> int:
    return round(v / 2.0) * 2


def label_ink_px(width: int, height: int) -> int:
    """Target ink height of the AI label text for a frame (>= 5% of the shorter side, with a little headroom)."""
    return max(12, int(-(-min(width, height) * LABEL_INK_FRACTION // 1)))


def default_avatar_height(width: int, height: int) -> int:
    """A good avatar canvas height for a frame: 86% of the height in landscape, smaller in portrait."""
    if width >= height:
        h = 0.86 * height
    else:
        h = min(0.56 * height, 0.96 * width / AVATAR_ASPECT)
    return max(64, _even(h))


def avatar_width_for(height_px: int) -> int:
    return max(2, _even(height_px * AVATAR_ASPECT))


def plan(width: int, height: int, *, avatar_size: tuple[int, int], label_size: tuple[int, int]) -> Layout:
    """Place everything for a ``width`` x ``height`` frame.

    ``avatar_size`` is the avatar canvas (w, h), ``label_size`` the AI label pill (w, h); both must fit the frame.
    """
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive and even, got {width}x{height}")
    aw, ah = avatar_size
    if aw % 2 or ah % 2 or aw <= 0 or ah <= 0:
        raise ValueError(f"avatar size must be positive and even, got {aw}x{ah}")
    if aw > width or ah > height:
        raise ValueError(f"avatar {aw}x{ah} does not fit a {width}x{height} frame")
    short = min(width, height)
    margin = max(2, _even(0.03 * short))
    nh = max(_even(NOTICE_FRACTION * short), 2)
    notice = Rect(0, height - nh, width, nh)
    reach = int(-(-CARD_SHADOW_REACH * short // 1))
    lw, lh = label_size
    label = Rect(margin, margin, lw, lh)
    if label.right > width or label.bottom > height:
        raise ValueError(f"AI label {lw}x{lh} does not fit a {width}x{height} frame")

    if width >= height:
        ax = _even(min(max(0.0, 0.27 * width - aw / 2), width - aw))
        avatar = Rect(ax, height - ah, aw, ah)
        cx0 = max(_even(0.52 * width), avatar.right + reach + 2)
        cx1 = width - _even(1.3 * margin)
        cy0 = label.y
        cy1 = notice.y - max(2, _even(margin / 2))
        card = Rect(cx0, cy0, max(0, cx1 - cx0), max(0, cy1 - cy0))
    else:
        ax = _even((width - aw) / 2)
        avatar = Rect(ax, height - ah, aw, ah)
        cy0 = label.bottom + margin
        cy1 = max(cy0, min(avatar.y - reach - 2, notice.y - margin))
        card = Rect(margin, cy0, width - 2 * margin, cy1 - cy0)
    return Layout(width, height, margin, label, avatar, card, notice)


# ---- the product card ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardText:
    """What the card says, as text: ``price``/``list_price`` formatted by :mod:`streamer.money`, ``badge`` the
    discount ("-20%"), ``promo`` the offer, whitespace normalised."""

    name: str
    price: str
    list_price: str | None = None
    badge: str | None = None
    promo: str | None = None
    features: tuple[str, ...] = ()

    @classmethod
    def of(cls, product: ProductSheet, *, max_features: int = 3) -> CardText:
        """The card text of a sheet: a list price only when it is higher than the price."""
        list_price = badge = None
        if product.list_price is not None and product.list_price > product.price:
            list_price = money.format_price(product.list_price, product.currency)
            pct = money.discount_percent(product.price, product.list_price)
            badge = f"-{pct}%" if pct is not None else None
        features = tuple(f for f in (" ".join(str(x).split()) for x in product.features) if f)[:max_features]
        promo = " ".join(product.promo.split()) if product.promo else None
        return cls(
            name=" ".join(product.name.split()),
            price=money.format_price(product.price, product.currency),
            list_price=list_price,
            badge=badge,
            promo=promo or None,
            features=features,
        )


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text placed in the frame: pen origin ``(x, baseline)``, ``size_px`` and ``face``. ``box`` holds
    every pixel the line can ink (font ascent to descent, pen start to advance). ``text`` may end in the space the
    line was broken at (invisible; :func:`streamer.compose.text.join_lines` needs it)."""

    text: str
    x: int
    baseline: int
    size_px: int
    face: tx.FontFace
    box: Rect


@dataclass(frozen=True, slots=True)
class CardLayout:
    """Everything on the product card, in frame pixels.

    ``promo_pages`` holds the promo's lines page by page (one page when it fits; more when it had to be split at
    clause boundaries, shown :data:`PROMO_PAGE_S` each); ``promo_page_texts`` the exact text of each page, so that
    ``"".join(promo_page_texts).rstrip()`` is the whole promo. ``promo_region`` is the box plus its page dots: the
    part of the card that changes from page to page. ``image`` is None when there is no room for a picture.
    """

    card: Rect
    pad: int
    radius: float
    image: Rect | None
    name: tuple[TextLine, ...]
    price: TextLine
    list_price: TextLine | None
    badge: Rect | None
    badge_text: TextLine | None
    promo_box: Rect | None
    promo_region: Rect | None
    promo_pages: tuple[tuple[TextLine, ...], ...]
    promo_page_texts: tuple[str, ...]
    promo_page_s: float
    promo_dots: tuple[tuple[int, int], ...]
    promo_dot_r: int
    promo_cut: bool
    features: tuple[TextLine, ...]
    bullet_r: int

    @property
    def price_rect(self) -> Rect:
        """The price, the struck list price and the discount badge together."""
        r = self.price.box
        for other in (self.list_price.box if self.list_price else None, self.badge):
            if other is not None:
                r = r.union(other)
        return r

    @property
    def offer_rects(self) -> tuple[Rect, ...]:
        """What nothing may cover: the price row(s) and the promo (box and page dots)."""
        rects = [self.price_rect]
        if self.promo_region is not None:
            rects.append(self.promo_region)
        return tuple(rects)

    @property
    def promo_text(self) -> str:
        """The promo as the pages show it, all pages together."""
        return "".join(self.promo_page_texts).rstrip()

    def promo_page_at(self, t_s: float) -> int:
        """Which promo page is on screen at media time ``t_s``."""
        n = len(self.promo_pages)
        return 0 if n <= 1 else int(max(0.0, t_s) // self.promo_page_s) % n


def min_offer_text_px(width: int, height: int) -> int:
    """The smallest font size a price or an offer is drawn at on a ``width`` x ``height`` frame."""
    return max(10, math.ceil(MIN_OFFER_TEXT_FRACTION * min(width, height)))


def _line(text: str, x: float, baseline: float, size_px: int, face: tx.FontFace) -> TextLine:
    font = tx.load_font(face, size_px)
    ascent, descent = font.getmetrics()
    left, _, right, _ = font.getbbox(text.rstrip() or " ", anchor="ls")
    x0 = math.floor(x + min(0, left)) - 1
    x1 = math.ceil(x + max(right, font.getlength(text.rstrip()))) + 1
    return TextLine(
        text,
        round(x),
        round(baseline),
        size_px,
        face,
        Rect(x0, round(baseline) - ascent - 1, x1 - x0, ascent + descent + 2),
    )


def _fit_size(text: str, start_px: int, floor_px: int, face: tx.FontFace, max_width: float) -> int:
    size = start_px
    while size > floor_px and tx.text_width(text, size_px=size, face=face) > max_width:
        size -= 1
    return size


def _paginate(text: str, *, size_px: int, face: tx.FontFace, max_width: float, max_lines: int) -> list[str]:
    """``text`` cut into pages of at most ``max_lines`` wrapped lines: whole clauses where a clause fits a page,
    lines of a longer clause otherwise. ``"".join(pages).rstrip()`` is ``text``."""

    def n_lines(t: str) -> int:
        return len(tx.wrap_all(t, size_px=size_px, face=face, max_width=max_width))

    pages: list[str] = []
    cur = ""
    for clause in tx.split_clauses(text):
        if n_lines(cur + clause) <= max_lines:
            cur += clause
            continue
        if cur:
            pages.append(cur)
            cur = ""
        if n_lines(clause) <= max_lines:
            cur = clause
            continue
        lines = tx.wrap_all(clause, size_px=size_px, face=face, max_width=max_width)
        chunks = ["".join(lines[i : i + max_lines]) for i in range(0, len(lines), max_lines)]
        if clause.endswith(" ") and not chunks[-1].endswith(" "):
            chunks[-1] += " "
        pages += chunks[:-1]
        cur = chunks[-1]
    if cur:
        pages.append(cur)
    return pages


def plan_card(card: Rect, text: CardText, *, frame_width: int, frame_height: int) -> CardLayout | None:
    """Lay out the product card in ``card`` (frame pixels); None when the card is too small to hold anything.

    Top to bottom: picture, name (two lines at most, shortened at a word if longer), price row (price, struck list
    price, discount badge; the list price moves to a second row rather than being dropped), promo box, up to three
    features (shortened at a word; dropped from the last when there is no room). Room is given to the offer first:
    features go, then the picture shrinks (and goes), before the promo is paged.
    """
    r = card
    if r.w < 40 or r.h < 40:
        return None
    landscape = frame_width >= frame_height
    scale = frame_height if landscape else 0.85 * frame_width
    floor_px = min_offer_text_px(frame_width, frame_height)
    pad = round(0.055 * r.w)
    inner_w = r.w - 2 * pad
    budget = r.h - 2 * pad
    radius = 0.045 * min(r.w, r.h)
    s_name = max(floor_px, round(0.040 * scale))
    s_price = max(floor_px, round(0.074 * scale))
    s_list = max(floor_px, round(0.036 * scale))
    s_promo = max(floor_px, round(0.030 * scale))
    s_feat = max(floor_px, round(0.029 * scale))
    gap = round(0.02 * scale)
    min_img = round(0.36 * r.h)
    x = r.x + pad

    name_face = tx.font_for_best_effort(text.name)
    name_lines = tx.wrap(text.name, size_px=s_name, face=name_face, max_width=inner_w, max_lines=2)
    if len(name_lines) == 2 and name_lines[-1].endswith(("…", "...")):
        name_lines[-1] = tx.ellipsize(
            tx.join_lines(tx.wrap_all(text.name, size_px=s_name, face=name_face, max_width=inner_w)[1:]),
            size_px=s_name,
            face=name_face,
            max_width=inner_w,
            at_word=True,
        )
    name_h = len(name_lines) * s_name * 1.25 + gap * 0.6

    # Price row(s): the price alone always fits its row; list price and badge join it or take a second row.
    price_face = tx.font_for_best_effort(text.price)
    s_p = _fit_size(text.price, s_price, floor_px, price_face, inner_w)
    price_w = tx.text_width(text.price, size_px=s_p, face=price_face)
    list_face = tx.font_for_best_effort(text.list_price) if text.list_price else None
    badge_face = tx.font_for_best_effort(text.badge) if text.badge else None

    def second_row_width(size: int) -> float:
        w = tx.text_width(text.list_price or "", size_px=size, face=list_face) if list_face else 0.0
        if badge_face and text.badge:
            bs = round(0.8 * size)
            w += round(0.35 * size) + tx.text_width(text.badge, size_px=bs, face=badge_face) + round(0.7 * bs) + 2
        return w

    s_l = s_list
    two_rows = False
    if text.list_price:
        if price_w + round(0.35 * s_p) + second_row_width(s_l) > inner_w:
            two_rows = True
            while s_l > floor_px and second_row_width(s_l) > inner_w:
                s_l -= 1
    price_h = s_p * 1.12 + (s_l * 1.25 if two_rows else 0.0)

    # Promo: wrap, then shrink, then page.
    promo_lines: list[list[str]] = []
    page_texts: list[str] = []
    s_pr = s_promo
    promo_face = tx.font_for_best_effort(text.promo) if text.promo else None
    cut = False

    def promo_h(n_lines: int, size: int, paged: bool) -> float:
        return 0.0 if n_lines == 0 else gap + n_lines * size * 1.32 + size * 0.48 + (size * 0.8 if paged else 0.0)

    def block_h(promo: float, n_feat: int) -> float:
        feats = gap * 0.8 + n_feat * s_feat * 1.55 if n_feat else 0.0
        return name_h + price_h + promo + feats

    if text.promo and promo_face is not None:
        box_text_w = inner_w - 1.2 * s_pr
        chosen: list[str] | None = None
        for size in range(s_promo, floor_px - 1, -1):
            lines = tx.wrap_all(text.promo, size_px=size, face=promo_face, max_width=inner_w - 1.2 * size)
            if len(lines) <= PROMO_MAX_LINES and block_h(promo_h(len(lines), size, False), 0) + gap + min_img <= budget:
                chosen, s_pr = lines, size
                break
        if chosen is not None:
            promo_lines, page_texts = [chosen], [text.promo]
        else:
            s_pr = floor_px
            box_text_w = inner_w - 1.2 * s_pr
            max_lines = PROMO_MAX_LINES
            while True:
                pages = _paginate(text.promo, size_px=s_pr, face=promo_face, max_width=box_text_w, max_lines=max_lines)
                if len(pages) == 1:  # fits on one page once the picture gives way
                    lines = tx.wrap_all(text.promo, size_px=s_pr, face=promo_face, max_width=box_text_w)
                    if block_h(promo_h(len(lines), s_pr, False), 0) <= budget or max_lines == 1:
                        break
                elif block_h(promo_h(max_lines, s_pr, True), 0) <= budget or max_lines == 1:
                    break
                max_lines -= 1
            # Paging is needed anyway: take the largest size that needs no more pages than the smallest does.
            for size in range(s_promo, floor_px, -1):
                w = inner_w - 1.2 * size
                bigger = _paginate(text.promo, size_px=size, face=promo_face, max_width=w, max_lines=max_lines)
                rows = max(len(tx.wrap_all(p, size_px=size, face=promo_face, max_width=w)) for p in bigger)
                if len(bigger) <= len(pages) and block_h(promo_h(rows, size, len(bigger) > 1), 0) <= budget:
                    pages, s_pr, box_text_w = bigger, size, w
                    break
            if len(pages) > PROMO_MAX_PAGES:
                cut = True
                pages = pages[:PROMO_MAX_PAGES]
            page_texts = pages
            promo_lines = [tx.wrap_all(p, size_px=s_pr, face=promo_face, max_width=box_text_w) for p in pages]
            if cut:
                last = promo_lines[-1]
                last[-1] = tx.ellipsize(last[-1], size_px=s_pr, face=promo_face, max_width=box_text_w, force=True)
    paged = len(promo_lines) > 1
    n_promo = max((len(p) for p in promo_lines), default=0)
    p_h = promo_h(n_promo, s_pr, paged)

    n_feat = len(text.features)
    while n_feat > 0 and block_h(p_h, n_feat) + gap + min_img > budget:
        n_feat -= 1
    img_h = int(budget - block_h(p_h, n_feat) - gap)
    img_h = min(img_h, round(inner_w * 0.9))
    show_img = img_h >= max(24, round(0.12 * r.h))

    y: float = r.y + pad
    image = None
    if show_img:
        image = Rect(x, r.y + pad, inner_w, img_h)
        y += img_h + gap
    names: list[TextLine] = []
    for i, ln in enumerate(name_lines):
        names.append(_line(ln, x, y + s_name * 0.95 + i * s_name * 1.25, s_name, name_face))
    y += len(name_lines) * s_name * 1.25 + gap * 0.6

    base = y + s_p * 0.9
    price = _line(text.price, x, base, s_p, price_face)
    list_line = badge = badge_line = None
    if text.list_price and list_face is not None:
        if two_rows:
            lx, lbase = float(x), y + s_p * 1.12 + s_l * 0.95
        else:
            lx, lbase = x + price_w + round(0.35 * s_p), base
        list_line = _line(text.list_price, lx, lbase, s_l, list_face)
        if text.badge and badge_face is not None:
            bs = round(0.8 * s_l)
            bx = list_line.box.right + round(0.35 * s_l)
            bw = round(tx.text_width(text.badge, size_px=bs, face=badge_face)) + round(0.7 * bs)
            bh = round(1.45 * bs)
            by = round(lbase - 0.5 * s_l - bh / 2)
            if bx + bw <= r.right - pad // 2:
                badge = Rect(bx, by, bw, bh)
                ink_w = tx.text_width(text.badge, size_px=bs, face=badge_face)
                badge_line = _line(text.badge, bx + (bw - ink_w) / 2, by + bh / 2 + 0.36 * bs, bs, badge_face)
    y += price_h

    promo_box = promo_region = None
    pages_out: list[tuple[TextLine, ...]] = []
    dots: list[tuple[int, int]] = []
    dot_r = max(2, round(0.16 * s_pr))
    if promo_lines and promo_face is not None:
        y += gap
        bh = round(n_promo * s_pr * 1.32 + s_pr * 0.48)
        if not paged and n_promo == 1:
            bw = min(
                inner_w, round(tx.text_width(promo_lines[0][0].rstrip(), size_px=s_pr, face=promo_face) + 1.2 * s_pr)
            )
        else:
            bw = inner_w
        promo_box = Rect(x, round(y), bw, bh)
        for lines in promo_lines:
            top = promo_box.y + (bh - len(lines) * s_pr * 1.32) / 2  # a shorter page sits in the middle
            pages_out.append(
                tuple(
                    _line(ln, x + 0.6 * s_pr, top + s_pr * 1.32 * (i + 0.5) + 0.36 * s_pr, s_pr, promo_face)
                    for i, ln in enumerate(lines)
                )
            )
        region = promo_box
        if paged:
            cy = promo_box.bottom + round(0.4 * s_pr)
            step = round(0.62 * s_pr)
            x0 = promo_box.x + promo_box.w // 2 - step * (len(promo_lines) - 1) // 2
            dots = [(x0 + i * step, cy) for i in range(len(promo_lines))]
            region = region.union(
                Rect(dots[0][0] - dot_r - 1, cy - dot_r - 1, dots[-1][0] - dots[0][0] + 2 * dot_r + 3, 2 * dot_r + 3)
            )
        promo_region = region.even_outer()
        y += p_h - gap

    feats: list[TextLine] = []
    bullet_r = max(2, round(0.26 * s_feat))
    if n_feat:
        y += gap * 0.8
        for feat in text.features[:n_feat]:
            face = tx.font_for_best_effort(feat)
            shown = tx.ellipsize(
                feat, size_px=s_feat, face=face, max_width=inner_w - 3 * bullet_r - 0.5 * s_feat, at_word=True
            )
            line_y = y + s_feat * 1.55 / 2
            feats.append(_line(shown, x + 2 * bullet_r + 0.5 * s_feat, line_y + 0.36 * s_feat, s_feat, face))
            y += s_feat * 1.55

    return CardLayout(
        card=r,
        pad=pad,
        radius=radius,
        image=image,
        name=tuple(names),
        price=price,
        list_price=list_line,
        badge=badge,
        badge_text=badge_line,
        promo_box=promo_box,
        promo_region=promo_region,
        promo_pages=tuple(pages_out),
        promo_page_texts=tuple(page_texts),
        promo_page_s=PROMO_PAGE_S,
        promo_dots=tuple(dots),
        promo_dot_r=dot_r,
        promo_cut=cut,
        features=tuple(feats),
        bullet_r=bullet_r,
    )
