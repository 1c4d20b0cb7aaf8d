"""The picture viewers see: studio background, the avatar, the product card, the notice and the AI label, as I420.

Layers, bottom to top: background (a studio gradient from the persona colour, drawn once), avatar (left of centre),
product card (right), notice banner (while set, along the bottom edge, below the card), AI label (always). Everything
but the avatar is static, so it is drawn once into a *base* frame that is kept pre-converted to I420;
:meth:`Compositor.compose` copies the base, converts only the avatar's rect to I420 and pastes it, then re-applies any
static layer that must stay on top of the avatar (the AI label if it overlaps, the notice banner). Nothing is ever
drawn over the AI label, and nothing over the card's price or promo (the layout keeps the notice band clear of them).

A promo too long for the card even at the smallest legible size is split into pages (see
:func:`streamer.compose.layout.plan_card`); each page's promo box is pre-converted to an I420 patch once, and
:meth:`Compositor.compose` pastes the page due at ``t_s`` (a few kilobytes; nothing is redrawn per frame).

Thread use: :meth:`set_product` and :meth:`set_notice` build the new base aside and swap it in with one assignment,
so they may run on another thread while a render thread calls :meth:`compose`.

Colour: I420 is BT.601 limited range, exactly what ``cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)`` produces;
:func:`i420_to_bgr` converts back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.colour import Colour, hex_bgr, mix
from streamer.compose import layout as lay
from streamer.compose import text as tx
from streamer.compose.layout import CardLayout, CardText, Rect
from streamer.compose.studio_loop import StudioLoop, i420_planes, is_video_background
from streamer.config import ProductSheet, ai_label_for
from streamer.lang import SCREEN_TEXTS

_INK: Colour = (48, 36, 32)  # near-black, warm
_MUTED: Colour = (120, 112, 108)
_PRICE: Colour = (56, 52, 222)  # sale red
_WHITE: Colour = (255, 255, 255)

#: What a card without a picture says in the picture's place, by language (English for others).
NO_IMAGE_TEXT: dict[str, str] = {code: texts.no_image for code, texts in SCREEN_TEXTS.items()}


def no_image_text(language: str) -> str:
    return NO_IMAGE_TEXT.get(language.split("-")[0].lower(), NO_IMAGE_TEXT["en"])


def _luma(c: Colour) -> float:
    return 0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2]


def i420_to_bgr(i420: np.ndarray) -> np.ndarray:
    """Planar I420 (``(h * 3 // 2, w)`` uint8) to a BGR picture."""
    return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)


def rounded_rect_mask(w: int, h: int, radius: float, *, supersample: int = 4) -> np.ndarray:
    """Anti-aliased coverage mask (uint8 0..255, shape (h, w)) of a rounded rectangle filling the box."""
    k = supersample
    big = np.zeros((h * k, w * k), np.uint8)
    r = int(max(0.0, min(radius, w / 2.0, h / 2.0)) * k)
    W, H = w * k, h * k
    if r > 0:
        cv2.rectangle(big, (r, 0), (W - 1 - r, H - 1), (255,), -1)
        cv2.rectangle(big, (0, r), (W - 1, H - 1 - r), (255,), -1)
        for cx, cy in ((r, r), (W - 1 - r, r), (r, H - 1 - r), (W - 1 - r, H - 1 - r)):
            cv2.circle(big, (cx, cy), r, (255,), -1, cv2.LINE_AA)
    else:
        big[:] = 255
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)


def _paint(dst: np.ndarray, mask: np.ndarray, x: int, y: int, colour: Colour, opacity: float = 1.0) -> None:
    tx.blend_mask(dst, mask, x, y, colour, opacity)


def _paste_image(dst: np.ndarray, img: np.ndarray, x: int, y: int, mask: np.ndarray) -> None:
    h, w = mask.shape
    roi = dst[y : y + h, x : x + w].astype(np.float32)
    a = mask.astype(np.float32)[..., None] / 255.0
    dst[y : y + h, x : x + w] = np.clip(roi + (img.astype(np.float32) - roi) * a + 0.5, 0, 255).astype(np.uint8)


def _cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """``img`` scaled to cover ``w`` x ``h`` and centre-cropped."""
    ih, iw = img.shape[:2]
    scale = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(img, (nw, nh), interpolation=interp)
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    return big[y0 : y0 + h, x0 : x0 + w]


def _paste_i420(out: np.ndarray, width: int, height: int, patch: np.ndarray, r: Rect) -> None:
    """Paste an I420 ``patch`` of the even-aligned rect ``r`` into the I420 frame ``out``."""
    oy, ou, ov = i420_planes(out, width, height)
    py, pu, pv = i420_planes(patch, r.w, r.h)
    oy[r.y : r.bottom, r.x : r.right] = py
    ys, xs = slice(r.y // 2, r.bottom // 2), slice(r.x // 2, r.right // 2)
    ou[ys, xs] = pu
    ov[ys, xs] = pv


def _paste_promo_page(out: np.ndarray, width: int, height: int, promo: _Promo | None, t_s: float) -> None:
    """The page of a paged promo due at ``t_s`` over the frame (page 0 is in the base already)."""
    if promo is not None:
        page = promo.layout.promo_page_at(t_s)
        if page:
            _paste_i420(out, width, height, promo.pages[page], promo.rect)


def _fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """``img`` shown whole in a ``w`` x ``h`` box: scaled to fit and centred on a blurred, softened cover of
    itself (a product picture is never cropped to a strip of its middle). Near the box's shape it simply covers."""
    ih, iw = img.shape[:2]
    if abs((iw / ih) / (w / h) - 1.0) < 0.12:
        return _cover(img, w, h)
    scale = min(w / iw, h / ih)
    nw, nh = max(1, min(w, round(iw * scale))), max(1, min(h, round(ih * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    fg = cv2.resize(img, (nw, nh), interpolation=interp)
    small = _cover(img, max(2, w // 16), max(2, h // 16))
    back = cv2.resize(cv2.GaussianBlur(small, (0, 0), 1.5), (w, h), interpolation=cv2.INTER_LINEAR)
    out = cv2.addWeighted(back, 0.75, np.full_like(back, 247), 0.25, 0.0)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = fg
    return out


@dataclass(frozen=True, slots=True)
class _Promo:
    """The pages of a paged promo: one I420 patch of ``rect`` per page (page 0 is also in the base)."""

    rect: Rect
    pages: tuple[np.ndarray, ...]
    layout: CardLayout


@dataclass(frozen=True, slots=True)
class _Base:
    """One static picture, what must be re-applied over the avatar each frame, and the promo pages."""

    i420: np.ndarray
    overlays: tuple[Rect, ...]
    promo: _Promo | None = None
    layers: tuple[_Layer, ...] = ()
    """Over a moving background: the static layers, blended onto each frame."""


@dataclass(frozen=True, slots=True)
class _Layer:
    """A static layer's box over a moving background: per I420 plane, its premultiplied colour and how much of what
    is under it shows through (0..255)."""

    rect: Rect
    planes: tuple[tuple[np.ndarray, np.ndarray], ...]


def _layers_from(black: np.ndarray, black_i420: np.ndarray, white: np.ndarray) -> tuple[_Layer, ...]:
    """The static layers as drawn over black and over white (every drawing step is a linear blend): coverage is
    what separates the two. Over a background of luma ``Y`` a layer pixel then shows
    ``Y_black + (1 - coverage) * (Y - 16)`` (likewise for chroma, about 128), which is what drawing it onto that
    background would have given. One box per connected patch (card and its
    shadow, label, notice); a pixel is blended by its own patch only."""
    h, w = black.shape[:2]
    spread = white.astype(np.int16) - black.astype(np.int16)
    cover8 = np.clip(255 - spread.mean(axis=2), 0, 255).astype(np.uint8)
    cover8[cover8 <= 2] = 0  # rounding, not a layer
    count, labels, stats, _ = cv2.connectedComponentsWithStats((cover8 > 0).astype(np.uint8), connectivity=8)
    yb, ub, vb = i420_planes(black_i420, w, h)
    cover = cover8.astype(np.float32) * np.float32(1.0 / 255.0)
    layers = []
    for i in range(1, count):
        x, y, rw, rh = (int(v) for v in stats[i, :4])
        r = Rect(x, y, rw, rh).even_outer().clipped(w, h)
        if r is None:
            continue
        # Boxes may overlap; each pixel belongs to one patch, and the other patches' pixels in this box keep 0.
        a = np.where(labels[r.y : r.bottom, r.x : r.right] == i, cover[r.y : r.bottom, r.x : r.right], 0.0)
        a = np.ascontiguousarray(a, np.float32)
        ac = np.ascontiguousarray(a[::2, ::2])  # OpenCV's BGR->I420 takes chroma from each 2x2 block's first pixel
        ys, xs = slice(r.y // 2, r.bottom // 2), slice(r.x // 2, r.right // 2)
        planes = []
        for plane, cov, zero in (
            (yb[r.y : r.bottom, r.x : r.right], a, 16.0),
            (ub[ys, xs], ac, 128.0),
            (vb[ys, xs], ac, 128.0),
        ):
            # Shown over a plane value B: colour + rest * B / 255, with colour = black - zero * (1 - coverage) (never
            # below 0: over black every value is at least zero * (1 - coverage)) -- two saturating uint8 operations.
            colour = np.where(cov > 0, plane.astype(np.float32) - zero * (1.0 - cov), 0.0)  # other patches: 0
            colour = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
            rest = np.clip(np.rint(255.0 * (1.0 - cov)), 0, 255).astype(np.uint8)
            planes.append((colour, rest))
        layers.append(_Layer(r, tuple(planes)))
    return tuple(layers)


def _apply_layers(out: np.ndarray, w: int, h: int, layers: tuple[_Layer, ...]) -> None:
    """Blend the static ``layers`` onto the I420 frame ``out`` in place."""
    oy, ou, ov = i420_planes(out, w, h)
    for layer in layers:
        r = layer.rect
        ys, xs = slice(r.y // 2, r.bottom // 2), slice(r.x // 2, r.right // 2)
        for dst, (colour, rest) in zip(
            (oy[r.y : r.bottom, r.x : r.right], ou[ys, xs], ov[ys, xs]), layer.planes, strict=True
        ):
            dst[...] = cv2.add(colour, cv2.multiply(dst, rest, scale=1.0 / 255.0))


#: ``round(zero * i / 255)`` for i in 0..255: the luma (16) and chroma (128) zero points scaled by what shows through.
_ZERO_SHARE = {
    zero: np.clip(np.rint(np.arange(256) * (zero / 255.0)), 0, 255).astype(np.uint8) for zero in (16.0, 128.0)
}


def _blend_premultiplied_i420(out: np.ndarray, w: int, h: int, bgra: np.ndarray, r: Rect) -> None:
    """Lay the premultiplied ``bgra`` onto the I420 frame ``out`` at the even-aligned rect ``r``, in I420: the
    picture converted as it is (that is, over black), less each zero point's share where the frame shows through,
    plus the frame times that share (chroma takes each 2x2 block's first pixel, as OpenCV's conversion does)."""
    over_black = cv2.cvtColor(bgra, cv2.COLOR_BGRA2YUV_I420)
    rest = cv2.bitwise_not(cv2.extractChannel(bgra, 3))
    rest_c = np.ascontiguousarray(rest[::2, ::2])
    ys, xs = slice(r.y // 2, r.bottom // 2), slice(r.x // 2, r.right // 2)
    oy, ou, ov = i420_planes(out, w, h)
    for dst, black, share, zero in zip(
        (oy[r.y : r.bottom, r.x : r.right], ou[ys, xs], ov[ys, xs]),
        i420_planes(over_black, r.w, r.h),
        (rest, rest_c, rest_c),
        (16.0, 128.0, 128.0),
        strict=True,
    ):
        colour = cv2.subtract(black, cv2.LUT(share, _ZERO_SHARE[zero]))
        dst[...] = cv2.add(colour, cv2.multiply(dst, share, scale=1.0 / 255.0))


class Compositor:
    """Builds each output frame as planar I420 (``(height * 3 // 2, width)`` uint8, BT.601 limited range).

    ``language`` picks the AI label (:func:`streamer.config.ai_label_for`); ``background`` and ``accent`` are
    ``#rrggbb`` (the persona's ``avatar.background`` and ``avatar.accent``); ``avatar_size`` is the avatar canvas
    (width, height), both even. Raises :class:`~streamer.compose.text.FontNotFoundError` if no installed font can
    render the AI label, and ValueError for sizes that cannot work.

    Wiring for speed: ``avatar.set_backdrop(compositor.avatar_backdrop)`` lets the avatar draw onto the studio
    background, so ``compose(avatar.render(t, mouth), t, opaque=True)`` pastes without any blending.
    """

    def __init__(
        self,
        *,
        width: int,
        height: int,
        language: str,
        background: str,
        avatar_size: tuple[int, int],
        accent: str = "#ffd166",
    ) -> None:
        self.width, self.height = int(width), int(height)
        self.language = language
        self._loop: StudioLoop | None = None
        self._bg_picture: np.ndarray | None = None
        self.background_wait_s = 0.0
        """How long :meth:`compose` may wait for a moving background's frame (0 on air: it never waits; benchmarks
        that run faster than real time wait, so they count the decoding)."""
        if background.startswith("#"):
            self._bg_colour = hex_bgr(background)
        else:
            if is_video_background(background):
                self._loop = StudioLoop(background, self.width, self.height)  # raises BackgroundClipError
                shown = i420_to_bgr(self._loop.first)
            else:
                shown = self._bg_picture = _read_picture(background)
            b, g, r = (int(v) for v in shown.reshape(-1, 3).mean(axis=0))
            self._bg_colour = (b, g, r)
        self._accent = hex_bgr(accent)
        self.label_text = ai_label_for(language)
        short = min(self.width, self.height)
        if short < 32:
            raise ValueError(f"frame {width}x{height} is too small")
        self._label_face = tx.font_for(self.label_text, bold=True)  # raises FontNotFoundError
        self.label_ink_target_px = lay.label_ink_px(self.width, self.height)
        self.label_font_px = tx.size_for_ink_height(self.label_text, self.label_ink_target_px, face=self._label_face)
        self._label_img = tx.render_line(self.label_text, size_px=self.label_font_px, face=self._label_face)
        ink_h = self._label_img.height
        pad_x, pad_y = round(0.5 * ink_h), round(0.32 * ink_h)
        label_w = self._label_img.width + 2 * pad_x
        label_h = ink_h + 2 * pad_y
        self.layout = lay.plan(
            self.width,
            self.height,
            avatar_size=(int(avatar_size[0]), int(avatar_size[1])),
            label_size=(label_w + label_w % 2, label_h + label_h % 2),
        )
        self._background = self._draw_background()
        a = self.layout.avatar
        self._backdrop = self._background[a.y : a.bottom, a.x : a.right].copy()
        self._product: ProductSheet | None = None
        self._product_image: np.ndarray | None = None
        self._notice: str | None = None
        self._with_card = self._background.copy()
        # A moving background: every static layer is drawn twice, over black (``_with_card``) and over white, and
        # the two give each layer's colour and coverage (see :func:`_layers_from`).
        self._with_card_white = np.full_like(self._background, 255) if self._loop is not None else None
        self._card_layout: CardLayout | None = None
        self._promo: _Promo | None = None
        self._state = self._build_base()

    # ---- geometry ----------------------------------------------------------------------------------------------

    @property
    def label_rect(self) -> Rect:
        """The AI label's pill in frame pixels."""
        return self.layout.label

    @property
    def avatar_rect(self) -> Rect:
        return self.layout.avatar

    @property
    def card_rect(self) -> Rect:
        """Where the product card goes (empty background while no product is set)."""
        return self.layout.card

    @property
    def notice_rect(self) -> Rect:
        """The full-width notice band along the bottom edge (clear of the card)."""
        return self.layout.notice

    @property
    def card_layout(self) -> CardLayout | None:
        """Where everything on the current card is (None without a product): price, promo pages, features."""
        return self._card_layout

    @property
    def offer_rects(self) -> tuple[Rect, ...]:
        """The current card's price row(s) and promo: never covered by the notice or the label."""
        return self._card_layout.offer_rects if self._card_layout is not None else ()

    @property
    def avatar_origin(self) -> tuple[int, int]:
        """Frame position of the avatar canvas's top-left pixel: add it to ``CartoonAvatar.mouth_box`` (x, y)."""
        return (self.layout.avatar.x, self.layout.avatar.y)

    @property
    def avatar_backdrop(self) -> np.ndarray | None:
        """A copy of the background under the avatar rect, ``(h, w, 3)`` BGR, for ``Avatar.set_backdrop``; None for
        a moving background (the avatar then draws onto transparency and :meth:`compose` blends it per frame)."""
        return None if self._loop is not None else self._backdrop.copy()

    @property
    def moving_background(self) -> StudioLoop | None:
        """The looping video behind everything, when the background is one."""
        return self._loop

    def close(self) -> None:
        """Stop decoding a moving background (also done when the compositor is dropped)."""
        if self._loop is not None:
            self._loop.close()

    @property
    def label_ink_height_px(self) -> int:
        """Measured height of the label text's ink (>= 5% of the frame's shorter side)."""
        return self._label_img.height

    @property
    def notice(self) -> str | None:
        return self._notice

    # ---- static layers -----------------------------------------------------------------------------------------

    def set_product(self, product: ProductSheet | None, image_bgr: np.ndarray | None = None) -> None:
        """Show ``product`` on the card (None: no card). ``image_bgr`` is its picture (BGR or BGRA uint8, any size;
        None draws a placeholder). Rebuilds the static base; takes milliseconds, never done per frame."""
        if image_bgr is not None:
            if image_bgr.ndim == 2:
                image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
            elif image_bgr.shape[2] == 4:
                image_bgr = _flatten_bgra(image_bgr, (250, 250, 250))
        with_card = self._background.copy()
        white = None if self._with_card_white is None else np.full_like(with_card, 255)
        card_layout = promo = None
        if product is not None:
            card_layout = lay.plan_card(
                self.layout.card, CardText.of(product), frame_width=self.width, frame_height=self.height
            )
            if card_layout is not None:
                promo = self._draw_card(with_card, card_layout, image_bgr)
                if white is not None:
                    self._draw_card(white, card_layout, image_bgr)
        self._product, self._product_image = product, image_bgr
        self._with_card, self._card_layout, self._promo = with_card, card_layout, promo
        self._with_card_white = white
        self._state = self._build_base()

    def set_notice(self, text: str | None) -> None:
        """Show a full-width banner with ``text`` (e.g. ``Persona.notice_text``) until called with None."""
        text = " ".join(text.split()) if text else None
        if text == self._notice:
            return
        self._notice = text
        self._state = self._build_base()

    def _build_base(self) -> _Base:
        bgr = self._with_card.copy()
        overlays: list[Rect] = []
        a = self.layout.avatar
        if self._notice:
            self._draw_notice(bgr, self._notice)
            n = self.layout.notice.even_outer().clipped(self.width, self.height)
            if n is not None and n.intersects(a):
                overlays.append(n)
        self._draw_label(bgr)
        lab = self.layout.label.even_outer().clipped(self.width, self.height)
        if lab is not None and lab.intersects(a):
            overlays.append(lab)
        i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
        if self._with_card_white is None:
            return _Base(i420, tuple(overlays), self._promo)
        white = self._with_card_white.copy()
        if self._notice:
            self._draw_notice(white, self._notice)
        self._draw_label(white)
        return _Base(i420, (), self._promo, _layers_from(bgr, i420, white))

    def base_bgr(self) -> np.ndarray:
        """The current static picture (no avatar) as BGR, for previews and tests (over a moving background's first
        frame)."""
        state = self._state
        if self._loop is None:
            return i420_to_bgr(state.i420)
        out = self._loop.first.copy()
        _apply_layers(out, self.width, self.height, state.layers)
        return i420_to_bgr(out)

    # ---- per frame -----------------------------------------------------------------------------------------------

    def compose(self, avatar_bgra: np.ndarray, t_s: float, *, opaque: bool | None = None) -> np.ndarray:
        """One frame (a new I420 array) with ``avatar_bgra`` pasted at :attr:`avatar_rect`.

        ``avatar_bgra``: ``(h, w, 4)`` BGRA with premultiplied alpha, or ``(h, w, 3)`` BGR (opaque), of
        ``avatar_size``. ``opaque=True`` promises alpha is 255 everywhere (an avatar with a backdrop), skipping the
        check and the blend; None checks. ``t_s`` is the frame's media time: it picks the page of a paged promo.
        """
        state = self._state
        a = self.layout.avatar
        if avatar_bgra.shape[:2] != (a.h, a.w):
            raise ValueError(f"avatar picture is {avatar_bgra.shape[1]}x{avatar_bgra.shape[0]}, expected {a.w}x{a.h}")
        if self._loop is not None:
            return self._compose_moving(state, avatar_bgra, t_s, opaque)
        if avatar_bgra.ndim == 3 and avatar_bgra.shape[2] == 4:
            if opaque is None:
                opaque = cv2.minMaxLoc(cv2.extractChannel(avatar_bgra, 3))[0] >= 255.0
            if opaque:
                region = cv2.cvtColor(avatar_bgra, cv2.COLOR_BGRA2YUV_I420)
            else:
                region = cv2.cvtColor(self._blend_premultiplied(avatar_bgra), cv2.COLOR_BGR2YUV_I420)
        elif avatar_bgra.ndim == 3 and avatar_bgra.shape[2] == 3:
            region = cv2.cvtColor(avatar_bgra, cv2.COLOR_BGR2YUV_I420)
        else:
            raise ValueError(f"avatar picture must be BGRA or BGR, got shape {avatar_bgra.shape}")
        out = state.i420.copy()
        W, H = self.width, self.height
        oy, ou, ov = i420_planes(out, W, H)
        ry, ru, rv = i420_planes(region, a.w, a.h)
        oy[a.y : a.bottom, a.x : a.right] = ry
        cy, cx = a.y // 2, a.x // 2
        ou[cy : cy + a.h // 2, cx : cx + a.w // 2] = ru
        ov[cy : cy + a.h // 2, cx : cx + a.w // 2] = rv
        if state.overlays:
            by, bu, bv = i420_planes(state.i420, W, H)
            for r in state.overlays:
                oy[r.y : r.bottom, r.x : r.right] = by[r.y : r.bottom, r.x : r.right]
                ys, xs = slice(r.y // 2, r.bottom // 2), slice(r.x // 2, r.right // 2)
                ou[ys, xs] = bu[ys, xs]
                ov[ys, xs] = bv[ys, xs]
        _paste_promo_page(out, W, H, state.promo, t_s)
        return out

    def _compose_moving(self, state: _Base, avatar: np.ndarray, t_s: float, opaque: bool | None) -> np.ndarray:
        """:meth:`compose` over a moving background: its frame, the avatar blended onto it, then every static
        layer blended over both (the AI label stays on top)."""
        assert self._loop is not None
        W, H = self.width, self.height
        a = self.layout.avatar
        out = self._loop.frame_at(t_s, wait_s=self.background_wait_s).copy()
        if avatar.ndim != 3 or avatar.shape[2] not in (3, 4):
            raise ValueError(f"avatar picture must be BGRA or BGR, got shape {avatar.shape}")
        if avatar.shape[2] == 4 and opaque is None:
            opaque = cv2.minMaxLoc(cv2.extractChannel(avatar, 3))[0] >= 255.0
        if avatar.shape[2] == 3:
            region = cv2.cvtColor(avatar, cv2.COLOR_BGR2YUV_I420)
        elif opaque:
            region = cv2.cvtColor(avatar, cv2.COLOR_BGRA2YUV_I420)
        else:
            _blend_premultiplied_i420(out, W, H, avatar, a)
            region = None
        if region is not None:
            _paste_i420(out, W, H, region, a)
        _apply_layers(out, W, H, state.layers)
        _paste_promo_page(out, W, H, state.promo, t_s)
        return out

    def _blend_premultiplied(self, bgra: np.ndarray) -> np.ndarray:
        inv = cv2.bitwise_not(cv2.extractChannel(bgra, 3))
        under = cv2.multiply(self._backdrop, cv2.merge([inv, inv, inv]), scale=1.0 / 255.0)
        return cv2.add(cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR), under)

    # ---- drawing (static, once per change) ------------------------------------------------------------------------

    def _draw_background(self) -> np.ndarray:
        W, H = self.width, self.height
        if self._loop is not None:
            return np.zeros((H, W, 3), np.uint8)  # layers are drawn over black (and white); the clip goes under
        if self._bg_picture is not None:
            return np.ascontiguousarray(_cover(self._bg_picture, W, H))
        c = np.asarray(self._bg_colour, np.float32)
        white = np.float32(255.0)
        ys = (np.arange(H, dtype=np.float32) / max(1, H - 1))[:, None]
        xs = (np.arange(W, dtype=np.float32) / max(1, W - 1))[None, :]
        top, bottom = c + (white - c) * 0.1, c * 0.62
        img: np.ndarray = (top + (bottom - top) * ys[..., None]) * np.ones((1, W, 1), np.float32)
        a = self.layout.avatar
        gx, gy = (a.x + a.w / 2) / W, (a.y + 0.35 * a.h) / H
        aspect = W / H
        d2 = ((xs - gx) * aspect) ** 2 + (ys - gy) ** 2
        glow = np.exp(-d2 / (2 * 0.32**2))[..., None]
        light = c + (white - c) * 0.33
        img += (light - img) * glow * 0.55
        # Soft bokeh discs, a studio feel; fixed positions (relative) so every build looks the same.
        accent = np.asarray(self._accent, np.float32)
        for fx, fy, fr, strength, tint in (
            (0.06, 0.30, 0.060, 0.07, 0.0),
            (0.47, 0.18, 0.045, 0.06, 0.6),
            (0.52, 0.62, 0.080, 0.05, 0.0),
            (0.03, 0.78, 0.050, 0.05, 0.5),
            (0.44, 0.86, 0.040, 0.05, 0.4),
            (0.97, 0.95, 0.070, 0.05, 0.3),
            (0.96, 0.06, 0.050, 0.06, 0.5),
        ):
            d = np.sqrt(((xs - fx) * aspect) ** 2 + (ys - fy) ** 2)
            disc = np.clip((fr - d) / (0.18 * fr), 0.0, 1.0)[..., None]
            col = white + (accent - white) * tint
            img += (col - img) * disc * strength
        dx, dy = (xs - 0.5) * 2.0, (ys - 0.5) * 2.0
        vig = 1.0 - 0.42 * np.clip((dx**2 + dy**2) / 2.0, 0.0, 1.0) ** 1.3
        img *= vig[..., None]
        noise = np.random.default_rng(0).random((H, W, 1), dtype=np.float32) - 0.5  # dither against banding
        return np.clip(img + noise + 0.5, 0, 255).astype(np.uint8)

    def _draw_label(self, bgr: np.ndarray) -> None:
        r = self.layout.label
        mask = rounded_rect_mask(r.w, r.h, r.h / 2.0)
        _paint(bgr, mask, r.x, r.y, (22, 18, 20), 0.8)
        ring = mask.astype(np.int16) - cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(np.int16)
        _paint(bgr, np.clip(ring, 0, 255).astype(np.uint8), r.x, r.y, _WHITE, 0.35)
        img = self._label_img
        _paint(bgr, img.mask, r.x + (r.w - img.width) // 2, r.y + (r.h - img.height) // 2, _WHITE)

    def _draw_notice(self, bgr: np.ndarray, text: str) -> None:
        r = self.layout.notice
        W, H = self.width, self.height
        base = mix(self._bg_colour, (0, 0, 0), 0.55)
        top, bottom = mix(base, (255, 255, 255), 0.06), mix(base, (0, 0, 0), 0.3)
        ys = np.linspace(0.0, 1.0, r.h, dtype=np.float32)[:, None, None]
        t0, b0 = np.asarray(top, np.float32), np.asarray(bottom, np.float32)
        bgr[r.y : r.bottom] = np.clip(t0 + (b0 - t0) * ys + 0.5, 0, 255).astype(np.uint8)
        line = max(2, round(0.006 * H))
        bgr[r.y : r.y + line] = self._accent
        bgr[r.bottom - line : r.bottom] = self._accent
        margin = self.layout.margin
        # "AI" badge
        badge = round(0.62 * r.h)
        bx, by = margin * 2, r.y + (r.h - badge) // 2
        _paint(bgr, rounded_rect_mask(badge, badge, 0.22 * badge), bx, by, self._accent)
        badge_face = tx.font_for("AI")
        ai = tx.render_line("AI", size_px=tx.size_for_ink_height("AI", round(0.42 * badge), face=badge_face))
        ink = _INK if _luma(self._accent) > 150 else _WHITE
        _paint(bgr, ai.mask, bx + (badge - ai.width) // 2, by + (badge - ai.height) // 2, ink)
        x0 = bx + badge + margin
        max_w = W - x0 - margin * 2
        face = tx.font_for_best_effort(text)
        size = round(0.05 * min(W, H))
        lines = [text]
        while size > 10:
            lines = tx.wrap(text, size_px=size, face=face, max_width=max_w, max_lines=2)
            fits_h = len(lines) * size * 1.3 <= 0.82 * r.h
            cut = lines and lines[-1].endswith(("…", "..."))
            if fits_h and not cut:
                break
            size -= 1
        lh = size * 1.3
        block = lh * len(lines)
        asc = size * 0.78
        y = r.y + (r.h - block) / 2 + (lh - size) / 2 + asc
        for ln in lines:
            tx.draw_line(bgr, ln, (x0, y), size_px=size, colour_bgr=_WHITE, face=face)
            y += lh

    def _draw_card(self, bgr: np.ndarray, cl: CardLayout, image: np.ndarray | None) -> _Promo | None:
        """Draw the card as laid out by :func:`streamer.compose.layout.plan_card`; returns the promo pages when the
        promo is paged (page 0 is drawn into ``bgr``)."""
        r = cl.card
        short = min(self.width, self.height)
        # drop shadow: reaches at most sh_pad + offset (< layout.CARD_SHADOW_REACH) beyond the card
        sh_pad = round(0.05 * short)
        sm = np.zeros((r.h + 2 * sh_pad, r.w + 2 * sh_pad), np.uint8)
        sm[sh_pad : sh_pad + r.h, sh_pad : sh_pad + r.w] = rounded_rect_mask(r.w, r.h, cl.radius)
        shadow = cv2.GaussianBlur(sm, (0, 0), 0.018 * short)
        _paint(bgr, shadow, r.x - sh_pad, r.y - sh_pad + round(0.012 * short), (0, 0, 0), 0.5)
        _paint(bgr, rounded_rect_mask(r.w, r.h, cl.radius), r.x, r.y, (250, 248, 247), 0.97)

        if cl.image is not None:
            im = cl.image
            mask = rounded_rect_mask(im.w, im.h, 0.6 * cl.radius)
            if image is not None:
                _paste_image(bgr, _fit(image, im.w, im.h), im.x, im.y, mask)
            else:
                self._placeholder(bgr, im.x, im.y, im.w, im.h, mask)
        for ln in cl.name:
            self._text(bgr, ln, _INK)
        self._text(bgr, cl.price, _PRICE)
        if cl.list_price is not None:
            lx, _, lwi, _ = self._text(bgr, cl.list_price, _MUTED)
            s_list = cl.list_price.size_px
            thick = max(2, round(s_list / 12))
            sy = round(cl.list_price.baseline - 0.36 * s_list)
            cv2.line(bgr, (lx - 2, sy), (lx + lwi + 2, sy), _MUTED, thick, cv2.LINE_AA)
        if cl.badge is not None and cl.badge_text is not None:
            b = cl.badge
            _paint(bgr, rounded_rect_mask(b.w, b.h, b.h / 2), b.x, b.y, _PRICE)
            self._text(bgr, cl.badge_text, _WHITE)
        promo: _Promo | None = None
        if cl.promo_region is not None:
            reg = cl.promo_region
            under = bgr[reg.y : reg.bottom, reg.x : reg.right].copy()
            pages: list[np.ndarray] = []
            for k in range(len(cl.promo_pages)):
                tile = under.copy()
                self._draw_promo_page(tile, cl, k, reg.x, reg.y)
                if k == 0:
                    bgr[reg.y : reg.bottom, reg.x : reg.right] = tile
                pages.append(cv2.cvtColor(tile, cv2.COLOR_BGR2YUV_I420))
            if len(pages) > 1:
                promo = _Promo(reg, tuple(pages), cl)
        if cl.features:
            dot = mix(self._accent, (0, 0, 0), 0.25) if _luma(self._accent) > 150 else self._accent
            x = cl.card.x + cl.pad
            for ln in cl.features:
                cy = round(ln.baseline - 0.36 * ln.size_px)
                cv2.circle(bgr, (x + cl.bullet_r, cy), cl.bullet_r, dot, -1, cv2.LINE_AA)
                self._text(bgr, ln, _INK)
        return promo

    @staticmethod
    def _text(bgr: np.ndarray, ln: lay.TextLine, colour: Colour, ox: int = 0, oy: int = 0) -> tuple[int, int, int, int]:
        return tx.draw_line(
            bgr, ln.text.rstrip(), (ln.x - ox, ln.baseline - oy), size_px=ln.size_px, colour_bgr=colour, face=ln.face
        )

    def _draw_promo_page(self, tile: np.ndarray, cl: CardLayout, page: int, ox: int, oy: int) -> None:
        """Promo box and page ``page`` of its text into ``tile``, the crop of the frame at (``ox``, ``oy``)."""
        box = cl.promo_box
        assert box is not None
        lines = cl.promo_pages[page]
        size = lines[0].size_px if lines else box.h
        single = len(cl.promo_pages) == 1 and len(lines) == 1
        rad = box.h / 2 if single else 0.55 * size
        _paint(tile, rounded_rect_mask(box.w, box.h, rad), box.x - ox, box.y - oy, self._accent)
        ink = _INK if _luma(self._accent) > 150 else _WHITE
        for ln in lines:
            self._text(tile, ln, ink, ox, oy)
        if cl.promo_dots:
            rr = cl.promo_dot_r
            on = mix(self._accent, (0, 0, 0), 0.35) if _luma(self._accent) > 150 else self._accent
            off = mix(_MUTED, (255, 255, 255), 0.45)
            for i, (dx, dy) in enumerate(cl.promo_dots):
                cv2.circle(tile, (dx - ox, dy - oy), rr, on if i == page else off, -1, cv2.LINE_AA)

    def _placeholder(self, bgr: np.ndarray, x: int, y: int, w: int, h: int, mask: np.ndarray) -> None:
        """A neutral tile that says the product has no picture (never someone else's picture)."""
        tile = np.empty((h, w, 3), np.uint8)
        tile[:] = (236, 233, 231)
        ink = (176, 170, 166)
        s = min(w, h) * 0.34
        cx, cy = w / 2, h * 0.42
        th = max(2, round(s / 18))
        x0, y0, x1, y1 = round(cx - s / 2), round(cy - s * 0.38), round(cx + s / 2), round(cy + s * 0.38)
        cv2.rectangle(tile, (x0, y0), (x1, y1), ink, th, cv2.LINE_AA)
        hills = np.array(
            [
                [x0 + th, y1 - th],
                [cx - s * 0.18, cy - s * 0.02],
                [cx + s * 0.02, cy + s * 0.16],
                [cx + s * 0.2, cy + s * 0.02],
                [x1 - th, y1 - th],
            ]
        )
        cv2.fillPoly(tile, [np.round(hills * 16).astype(np.int32)], ink, cv2.LINE_AA, 4)
        cv2.circle(tile, (round(cx + s * 0.22), round(cy - s * 0.18)), max(2, round(s * 0.08)), ink, -1, cv2.LINE_AA)
        label = no_image_text(self.language)
        size = max(10, round(min(w, h) * 0.075))
        face = tx.font_for_best_effort(label)
        tw = tx.text_width(label, size_px=size, face=face)
        if tw <= w - 8 and y1 + 1.6 * size < h:
            tx.draw_line(
                tile, label, ((w - tw) / 2, y1 + 1.5 * size), size_px=size, colour_bgr=(140, 134, 130), face=face
            )
        _paste_image(bgr, tile, x, y, mask)


def _flatten_bgra(bgra: np.ndarray, under: Colour) -> np.ndarray:
    a = bgra[..., 3:4].astype(np.float32) / 255.0
    out = bgra[..., :3].astype(np.float32) * a + np.asarray(under, np.float32) * (1 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


__all__ = ["NO_IMAGE_TEXT", "Compositor", "i420_to_bgr", "no_image_text", "rounded_rect_mask"]


def _read_picture(path: str) -> np.ndarray:
    """A background picture as BGR; raises ValueError naming the file when it cannot be read."""
    data = np.fromfile(path, np.uint8) if Path(path).is_file() else np.zeros(0, np.uint8)
    picture = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if picture is None:
        raise ValueError(f"{path}: background picture cannot be read (use JPEG or PNG)")
    return picture
