"""Colour helpers shared by the avatar and the compositor (BGR tuples, as OpenCV draws them)."""

from __future__ import annotations

Colour = tuple[int, int, int]


def hex_bgr(value: str) -> Colour:
    """``"#RRGGBB"`` -> ``(B, G, R)``."""
    v = value.strip().lstrip("#")
    if len(v) != 6:
        raise ValueError(f"colour must look like #RRGGBB, got {value!r}")
    return (int(v[4:6], 16), int(v[2:4], 16), int(v[0:2], 16))


def mix(a: Colour, b: Colour, t: float) -> Colour:
    """Linear blend: ``t=0`` gives ``a``, ``t=1`` gives ``b``."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )
