"""Pure geometry of the picture: where the avatar, the product card, the AI label and the notice banner go.

No drawing and no I/O here. Every rect the compositor pastes per frame is even-aligned (x, y, width and height even)
so it maps onto whole 2x2 chroma blocks of I420.

Landscape (width >= height): the AI label sits in the top-left corner, the avatar stands left of centre on the bottom
edge, the product card fills the right half. Portrait: label top-left, card across the top, avatar bottom centre.
The notice banner is a full-width bar in the lower third. The label never overlaps the card; if it overlaps the
avatar rect the compositor re-applies it on top every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Avatar canvas width / height of :class:`streamer.avatar.CartoonAvatar` (a head-and-shoulders bust).
AVATAR_ASPECT = 0.74
#: How far the product card's drop shadow reaches beyond the card, as a fraction of the frame's shorter side. The card
#: is placed so that its shadow never reaches the avatar rect (the avatar is drawn on a backdrop without the card).
CARD_SHADOW_REACH = 0.065
#: Minimum ink height of the AI label's text, as a fraction of the frame's shorter side (the rule asks for 5%).
LABEL_INK_FRACTION = 0.056


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


@dataclass(frozen=True, slots=True)
class Layout:
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
        cy0 = max(_even(0.10 * height), label.y)
        cy1 = height - _even(0.08 * height)
        card = Rect(cx0, cy0, max(0, cx1 - cx0), max(0, cy1 - cy0))
    else:
        ax = _even((width - aw) / 2)
        avatar = Rect(ax, height - ah, aw, ah)
        cy0 = label.bottom + margin
        cy1 = max(cy0, avatar.y - reach - 2)
        card = Rect(margin, cy0, width - 2 * margin, cy1 - cy0)

    ny0 = _even(0.70 * height)
    nh = max(_even(0.13 * height), 2)
    notice = Rect(0, ny0, width, min(nh, height - ny0))
    return Layout(width, height, margin, label, avatar, card, notice)
