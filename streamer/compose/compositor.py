"""The picture viewers see: studio background, the avatar, the product card, the notice and the AI label, as I420.

Layers, bottom to top: background (a studio gradient from the persona colour, drawn once), avatar (left of centre),
product card (right), notice banner (while set), AI label (always). Everything but the avatar is static, so it is
drawn once into a *base* frame that is kept pre-converted to I420; :meth:`Compositor.compose` copies the base,
converts only the avatar's rect to I420 and pastes it, then re-applies any static layer that must stay on top of the
avatar (the AI label if it overlaps, the notice banner). Nothing is ever drawn over the AI label.

Thread use: :meth:`set_product` and :meth:`set_notice` build the new base aside and swap it in with one assignment,
so they may run on another thread while a render thread calls :meth:`compose`.

Colour: I420 is BT.601 limited range, exactly what ``cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)`` produces;
:func:`i420_to_bgr` converts back.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer import money
from streamer.colour import Colour, hex_bgr, mix
from streamer.compose import layout as lay
from streamer.compose import text as tx
from streamer.compose.layout import Rect
from streamer.config import ProductSheet, ai_label_for

_INK: Colour = (48, 36, 32)  # near-black, warm
_MUTED: Colour = (120, 112, 108)
_PRICE: Colour = (56, 52, 222)  # sale red
_WHITE: Colour = (255, 255, 255)


def _luma(c: Colour) -> float:
    return 0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2]


def i420_to_bgr(i420: np.ndarray) -> np.ndarray:
    """Planar I420 (``(h * 3 // 2, w)`` uint8) to a BGR picture."""
    return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)


def _planes(buf: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V views of an I420 buffer of a ``w`` x ``h`` picture (both even)."""
    flat = buf.reshape(-1)
    ysz, csz = w * h, (w // 2) * (h // 2)
    return (
        buf[:h],
        flat[ysz : ysz + csz].reshape(h // 2, w // 2),
        flat[ysz + csz : ysz + 2 * csz].reshape(h // 2, w // 2),
    )


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


@dataclass(frozen=True, slots=True)
class _Base:
    """One static picture and what must be re-applied over the avatar each frame."""

    i420: np.ndarray
    overlays: tuple[Rect, ...]


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
        self._bg_colour = hex_bgr(background)
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
        return self.layout.notice

    @property
    def avatar_origin(self) -> tuple[int, int]:
        """Frame position of the avatar canvas's top-left pixel: add it to ``CartoonAvatar.mouth_box`` (x, y)."""
        return (self.layout.avatar.x, self.layout.avatar.y)

    @property
    def avatar_backdrop(self) -> np.ndarray:
        """A copy of the background under the avatar rect, ``(h, w, 3)`` BGR, for ``CartoonAvatar.set_backdrop``."""
        return self._backdrop.copy()

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
        if product is not None:
            self._draw_card(with_card, product, image_bgr)
        self._product, self._product_image = product, image_bgr
        self._with_card = with_card
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
        return _Base(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), tuple(overlays))

    def base_bgr(self) -> np.ndarray:
        """The current static picture (no avatar) as BGR, for previews and tests."""
        return i420_to_bgr(self._state.i420)

    # ---- per frame -----------------------------------------------------------------------------------------------

    def compose(self, avatar_bgra: np.ndarray, t_s: float, *, opaque: bool | None = None) -> np.ndarray:
        """One frame (a new I420 array) with ``avatar_bgra`` pasted at :attr:`avatar_rect`.

        ``avatar_bgra``: ``(h, w, 4)`` BGRA with premultiplied alpha, or ``(h, w, 3)`` BGR (opaque), of
        ``avatar_size``. ``opaque=True`` promises alpha is 255 everywhere (an avatar with a backdrop), skipping the
        check and the blend; None checks. ``t_s`` is the frame time (the static layers do not animate yet).
        """
        del t_s  # reserved for animated overlays
        state = self._state
        a = self.layout.avatar
        if avatar_bgra.shape[:2] != (a.h, a.w):
            raise ValueError(f"avatar picture is {avatar_bgra.shape[1]}x{avatar_bgra.shape[0]}, expected {a.w}x{a.h}")
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
        oy, ou, ov = _planes(out, W, H)
        ry, ru, rv = _planes(region, a.w, a.h)
        oy[a.y : a.bottom, a.x : a.right] = ry
        cy, cx = a.y // 2, a.x // 2
        ou[cy : cy + a.h // 2, cx : cx + a.w // 2] = ru
        ov[cy : cy + a.h // 2, cx : cx + a.w // 2] = rv
        if state.overlays:
            by, bu, bv = _planes(state.i420, W, H)
            for r in state.overlays:
                oy[r.y : r.bottom, r.x : r.right] = by[r.y : r.bottom, r.x : r.right]
                ys, xs = slice(r.y // 2, r.bottom // 2), slice(r.x // 2, r.right // 2)
                ou[ys, xs] = bu[ys, xs]
                ov[ys, xs] = bv[ys, xs]
        return out

    def _blend_premultiplied(self, bgra: np.ndarray) -> np.ndarray:
        inv = cv2.bitwise_not(cv2.extractChannel(bgra, 3))
        under = cv2.multiply(self._backdrop, cv2.merge([inv, inv, inv]), scale=1.0 / 255.0)
        return cv2.add(cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR), under)

    # ---- drawing (static, once per change) ------------------------------------------------------------------------

    def _draw_background(self) -> np.ndarray:
        W, H = self.width, self.height
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
        size = round(0.05 * H)
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

    def _draw_card(self, bgr: np.ndarray, product: ProductSheet, image: np.ndarray | None) -> None:
        r = self.layout.card
        if r.w < 40 or r.h < 40:
            return
        H = self.height
        short = min(self.width, self.height)
        radius = 0.045 * min(r.w, r.h)
        # drop shadow: reaches at most sh_pad + offset (< layout.CARD_SHADOW_REACH) beyond the card
        sh_pad = round(0.05 * short)
        sm = np.zeros((r.h + 2 * sh_pad, r.w + 2 * sh_pad), np.uint8)
        sm[sh_pad : sh_pad + r.h, sh_pad : sh_pad + r.w] = rounded_rect_mask(r.w, r.h, radius)
        shadow = cv2.GaussianBlur(sm, (0, 0), 0.018 * short)
        _paint(bgr, shadow, r.x - sh_pad, r.y - sh_pad + round(0.012 * short), (0, 0, 0), 0.5)
        panel = rounded_rect_mask(r.w, r.h, radius)
        _paint(bgr, panel, r.x, r.y, (250, 248, 247), 0.97)

        pad = round(0.055 * r.w)
        inner_w = r.w - 2 * pad
        scale = H if self.width >= self.height else 0.85 * self.width
        s_name, s_price, s_list = round(0.040 * scale), round(0.074 * scale), round(0.036 * scale)
        s_promo, s_feat = round(0.029 * scale), round(0.029 * scale)
        gap = round(0.02 * scale)

        name_face = tx.font_for_best_effort(product.name)
        name_lines = tx.wrap(product.name, size_px=s_name, face=name_face, max_width=inner_w, max_lines=2)
        price = money.format_price(product.price, product.currency)
        list_price = None
        if product.list_price is not None and product.list_price > product.price:
            list_price = money.format_price(product.list_price, product.currency)
        features = [f for f in (" ".join(x.split()) for x in product.features) if f][:3]
        promo = " ".join(product.promo.split()) if product.promo else None

        def block_height(n_feat: int) -> float:
            h = len(name_lines) * s_name * 1.25 + gap * 0.6 + s_price * 1.1
            if promo:
                h += gap + s_promo * 1.8
            if n_feat:
                h += gap * 0.8 + n_feat * s_feat * 1.55
            return h

        min_img = 0.26 * r.h
        n_feat = len(features)
        while n_feat > 0 and r.h - 2 * pad - block_height(n_feat) - gap < min_img:
            n_feat -= 1
        img_h = max(0, int(r.h - 2 * pad - block_height(n_feat) - gap))
        img_h = min(img_h, round(inner_w * 0.9))
        x = r.x + pad
        y: float = r.y + pad
        if img_h > 8:
            mask = rounded_rect_mask(inner_w, img_h, 0.6 * radius)
            if image is not None:
                _paste_image(bgr, _cover(image, inner_w, img_h), x, r.y + pad, mask)
            else:
                self._placeholder(bgr, x, r.y + pad, inner_w, img_h, mask)
            y += img_h + gap
        # name
        y_base = y + s_name * 0.95
        for ln in name_lines:
            tx.draw_line(bgr, ln, (x, y_base), size_px=s_name, colour_bgr=_INK, face=name_face)
            y_base += s_name * 1.25
        y = y_base - s_name * 1.25 + s_name * 0.3 + gap * 0.6
        # price row
        y_base = y + s_price * 0.9
        pface = tx.font_for_best_effort(price)
        _, _, pw, _ = tx.draw_line(bgr, price, (x, y_base), size_px=s_price, colour_bgr=_PRICE, face=pface)
        cx = x + pw + round(0.35 * s_price)
        if list_price is not None:
            lface = tx.font_for_best_effort(list_price)
            lw = tx.text_width(list_price, size_px=s_list, face=lface)
            if cx + lw <= x + inner_w:
                lx, _, lwi, _ = tx.draw_line(
                    bgr, list_price, (cx, y_base), size_px=s_list, colour_bgr=_MUTED, face=lface
                )
                thick = max(2, round(s_list / 12))
                sy = round(y_base - 0.36 * s_list)
                cv2.line(bgr, (lx - 2, sy), (lx + lwi + 2, sy), _MUTED, thick, cv2.LINE_AA)
                cx = lx + lwi + round(0.35 * s_list)
                pct = money.discount_percent(product.price, product.list_price)
                if pct is not None:
                    badge = f"-{pct}%"
                    bface = tx.font_for("-0123456789%")
                    bs = round(0.8 * s_list)
                    bimg = tx.render_line(badge, size_px=bs, face=bface)
                    bw, bh = bimg.width + round(0.7 * bs), round(1.45 * bs)
                    if cx + bw <= x + inner_w:
                        by = round(y_base - 0.5 * s_list - bh / 2)
                        _paint(bgr, rounded_rect_mask(bw, bh, bh / 2), cx, by, _PRICE)
                        _paint(bgr, bimg.mask, cx + (bw - bimg.width) // 2, by + (bh - bimg.height) // 2, _WHITE)
        y = y_base + s_price * 0.22
        # promo pill
        if promo:
            y += gap
            face = tx.font_for_best_effort(promo)
            ph = round(s_promo * 1.8)
            text = tx.ellipsize(promo, size_px=s_promo, face=face, max_width=inner_w - 1.2 * s_promo)
            tw = tx.text_width(text, size_px=s_promo, face=face)
            pw_ = min(inner_w, round(tw + 1.2 * s_promo))
            _paint(bgr, rounded_rect_mask(pw_, ph, ph / 2), x, round(y), self._accent)
            ink = _INK if _luma(self._accent) > 150 else _WHITE
            tx.draw_line(
                bgr, text, (x + 0.6 * s_promo, y + ph / 2 + 0.36 * s_promo), size_px=s_promo, colour_bgr=ink, face=face
            )
            y += ph
        # features
        if n_feat:
            y += gap * 0.8
            dot = mix(self._accent, (0, 0, 0), 0.25) if _luma(self._accent) > 150 else self._accent
            for feat in features[:n_feat]:
                face = tx.font_for_best_effort(feat)
                line_y = y + s_feat * 1.55 / 2
                rr = max(2, round(0.26 * s_feat))
                cv2.circle(bgr, (x + rr, round(line_y)), rr, dot, -1, cv2.LINE_AA)
                text = tx.ellipsize(feat, size_px=s_feat, face=face, max_width=inner_w - 3 * rr - 0.5 * s_feat)
                tx.draw_line(
                    bgr,
                    text,
                    (x + 2 * rr + 0.5 * s_feat, line_y + 0.36 * s_feat),
                    size_px=s_feat,
                    colour_bgr=_INK,
                    face=face,
                )
                y += s_feat * 1.55

    def _placeholder(self, bgr: np.ndarray, x: int, y: int, w: int, h: int, mask: np.ndarray) -> None:
        tile = np.empty((h, w, 3), np.uint8)
        c0, c1 = mix(self._accent, (255, 255, 255), 0.75), mix(self._accent, (255, 255, 255), 0.45)
        g = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        tile[:] = np.clip(
            np.asarray(c0, np.float32) + (np.asarray(c1, np.float32) - np.asarray(c0, np.float32)) * g, 0, 255
        )
        ink = mix(self._accent, (0, 0, 0), 0.45)
        s = min(w, h) * 0.32
        cx, cy = w / 2, h / 2 + s * 0.12
        body = np.array(
            [
                [cx - s / 2, cy - s / 3],
                [cx + s / 2, cy - s / 3],
                [cx + s * 0.58, cy + s / 2],
                [cx - s * 0.58, cy + s / 2],
            ]
        )
        cv2.fillPoly(tile, [np.round(body * 16).astype(np.int32)], ink, cv2.LINE_AA, 4)
        cv2.ellipse(
            tile,
            (round(cx), round(cy - s / 3)),
            (round(s / 4.5), round(s / 3.5)),
            0,
            180,
            360,
            ink,
            max(2, round(s / 14)),
            cv2.LINE_AA,
        )
        _paste_image(bgr, tile, x, y, mask)


def _flatten_bgra(bgra: np.ndarray, under: Colour) -> np.ndarray:
    a = bgra[..., 3:4].astype(np.float32) / 255.0
    out = bgra[..., :3].astype(np.float32) * a + np.asarray(under, np.float32) * (1 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


__all__ = ["Compositor", "i420_to_bgr", "rounded_rect_mask"]
