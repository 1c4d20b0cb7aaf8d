"""Compose stage: background, avatar, product card, notice and the always-on AI label, as planar I420."""

from streamer.compose.compositor import Compositor, i420_to_bgr
from streamer.compose.layout import CardLayout, CardText, Layout, Rect, avatar_width_for, default_avatar_height
from streamer.compose.text import FontNotFoundError
from streamer.money import discount_percent, format_amount, format_price

__all__ = [
    "CardLayout",
    "CardText",
    "Compositor",
    "FontNotFoundError",
    "Layout",
    "Rect",
    "avatar_width_for",
    "default_avatar_height",
    "discount_percent",
    "format_amount",
    "format_price",
    "i420_to_bgr",
]
