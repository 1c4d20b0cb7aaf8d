"""A procedural 2D cartoon host, drawn with OpenCV from an :class:`~streamer.config.AvatarStyle` (no asset files).

:meth:`CartoonAvatar.render` is a pure function of ``(t_s, mouth)`` for a given style, size and seed: the same inputs
give the same picture, whatever was rendered before. The character is never frozen: it breathes, sways, nods, looks
around and blinks (every 2-6 s, ~150 ms) even in silence.

Speed: the torso is pre-drawn for a few breathing phases (on the compositor's backdrop when one is set); per frame only
the head is drawn, as ~30 anti-aliased polygons transformed by the head pose in one batch.

Lip-sync measurement contract (used by integration tests on decoded video):

- The inside of the open mouth is painted :data:`MOUTH_INTERIOR_BGR` and nothing else of the character is allowed to
  match :func:`mouth_interior_mask` (palette colours that would are nudged at construction).
- Its area grows monotonically with ``MouthPose.open_amount`` for fixed viseme weights; it is zero for
  ``Viseme.REST`` and ``Viseme.CLOSED`` at any ``open_amount`` and for any pose at ``open_amount == 0``.
- :meth:`CartoonAvatar.mouth_box` gives, for a time, a rect in avatar-canvas pixels that contains the whole mouth
  (lips included) at every mouth pose, following the head's motion; add the compositor's ``avatar_origin`` to get
  frame coordinates. Count with :func:`count_mouth_interior`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.colour import Colour, hex_bgr, mix
from streamer.config import AvatarStyle
from streamer.frames import VISEME_COUNT, MouthPose

# ---- the mouth-colour contract ---------------------------------------------------------------------------------

#: Colour (B, G, R) of the inside of the open mouth. A dark raspberry: unlike any skin tone its blue exceeds its green.
MOUTH_INTERIOR_BGR: tuple[int, int, int] = (70, 26, 120)
#: Per-channel distance from :data:`MOUTH_INTERIOR_BGR` still counted as mouth interior (survives I420 + H.264).
MOUTH_MASK_TOLERANCE = 40
#: Mouth-interior pixels also need ``B - G`` at least this (the interior has 44; skin, lips and teeth have <= 0).
MOUTH_MASK_MIN_BLUE_OVER_GREEN = 24


def mouth_interior_mask(bgr: np.ndarray, *, tolerance: int = MOUTH_MASK_TOLERANCE) -> np.ndarray:
    """Boolean mask of pixels that read as mouth interior in a BGR (or BGRA) picture."""
    px = bgr[..., :3].astype(np.int16)
    b, g, r = px[..., 0], px[..., 1], px[..., 2]
    rb, rg, rr = MOUTH_INTERIOR_BGR
    return (
        (np.abs(b - rb) <= tolerance)
        & (np.abs(g - rg) <= tolerance)
        & (np.abs(r - rr) <= tolerance)
        & ((b - g) >= MOUTH_MASK_MIN_BLUE_OVER_GREEN)
    )


def count_mouth_interior(bgr: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """Mouth-interior pixels of ``bgr`` inside ``box`` = (x, y, w, h) (clipped to the picture)."""
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    roi = bgr[y0 : max(y0, y + h), x0 : max(x0, x + w)]
    return int(np.count_nonzero(mouth_interior_mask(roi))) if roi.size else 0


# ---- colours -----------------------------------------------------------------------------------------------------


def _scale(c: Colour, f: float) -> Colour:
    return (min(255, round(c[0] * f)), min(255, round(c[1] * f)), min(255, round(c[2] * f)))


_FACE_COLOURS = frozenset(
    {"skin", "skin_shadow", "skin_line", "skin_light", "blush", "lip_upper", "lip_lower", "lip_line", "teeth"}
)
_SAFE_BLUE_OVER_GREEN = MOUTH_MASK_MIN_BLUE_OVER_GREEN - 12


def _face_safe(c: Colour) -> Colour:
    """Face colours (everything that can appear in the mouth box) keep ``B - G`` well under the mask's minimum.

    ``B - G`` is linear, so no anti-aliased blend of two such colours can read as mouth interior either.
    Every human skin tone already satisfies this (its blue is below its green); only fantasy skins are changed.
    """
    b, g, r = c
    excess = b - g - _SAFE_BLUE_OVER_GREEN
    if excess > 0:
        b, g = max(0, b - (2 * excess + 2) // 3), min(255, g + (excess + 2) // 3)
        while b - g > _SAFE_BLUE_OVER_GREEN:
            b, g = max(0, b - 1), min(255, g + 1)
    return (b, g, r)


def _off_mouth(c: Colour) -> Colour:
    """Other colours (hair, eyes, outfit) never appear in the mouth box; they are moved (less blue, a little more
    green) only if they themselves would read as mouth interior, with a margin."""
    b, g, r = c
    rb, rg, rr = MOUTH_INTERIOR_BGR
    near = MOUTH_MASK_TOLERANCE + 8
    while abs(b - rb) <= near and abs(g - rg) <= near and abs(r - rr) <= near and b - g >= _SAFE_BLUE_OVER_GREEN:
        b, g = max(0, b - 8), min(255, g + 4)
    return (b, g, r)


@dataclass(frozen=True, slots=True)
class _Palette:
    skin: Colour
    skin_shadow: Colour
    skin_line: Colour
    skin_light: Colour
    blush: Colour
    lip_upper: Colour
    lip_lower: Colour
    lip_line: Colour
    teeth: Colour
    eye_white: Colour
    iris: Colour
    iris_dark: Colour
    pupil: Colour
    line: Colour
    hair: Colour
    hair_dark: Colour
    hair_light: Colour
    brow: Colour
    outfit: Colour
    outfit_shadow: Colour
    outfit_dark: Colour
    accent: Colour
    accent_light: Colour
    accent_dark: Colour

    @classmethod
    def from_style(cls, style: AvatarStyle) -> _Palette:
        skin = _face_safe(hex_bgr(style.skin))
        hair = _off_mouth(hex_bgr(style.hair))
        eyes = _off_mouth(hex_bgr(style.eyes))
        outfit = _off_mouth(hex_bgr(style.outfit))
        accent = _off_mouth(hex_bgr(style.accent))
        lum = 0.114 * hair[0] + 0.587 * hair[1] + 0.299 * hair[2]
        raw = {
            "skin": skin,
            "skin_shadow": mix(_scale(skin, 0.88), (110, 90, 170), 0.12),
            "skin_line": mix(_scale(skin, 0.6), (70, 75, 150), 0.3),
            "skin_light": mix(skin, (255, 255, 255), 0.35),
            "blush": mix(skin, (150, 130, 255), 0.38),
            "lip_upper": mix(skin, (95, 95, 200), 0.55),
            "lip_lower": mix(skin, (120, 125, 225), 0.45),
            "lip_line": mix(skin, (40, 45, 100), 0.7),
            "teeth": (240, 245, 248),
            "eye_white": (250, 250, 248),
            "iris": mix(eyes, (255, 255, 255), 0.12),
            "iris_dark": _scale(eyes, 0.6),
            "pupil": (22, 18, 20),
            "line": (38, 30, 42),
            "hair": hair,
            "hair_dark": _scale(hair, 0.62),
            "hair_light": mix(hair, (255, 255, 255), 0.22 if lum < 110 else 0.35),
            "brow": _scale(hair, 0.8) if lum < 150 else _scale(hair, 0.55),
            "outfit": outfit,
            "outfit_shadow": _scale(outfit, 0.8),
            "outfit_dark": _scale(outfit, 0.55),
            "accent": accent,
            "accent_light": mix(accent, (255, 255, 255), 0.45),
            "accent_dark": _scale(accent, 0.6),
        }
        return cls(**{k: _face_safe(v) if k in _FACE_COLOURS else _off_mouth(v) for k, v in raw.items()})


# ---- deterministic randomness -----------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1


def _u01(seed: int, n: int, salt: int) -> float:
    """A uniform number in [0, 1) from (seed, n, salt): splitmix64, so any slot can be evaluated directly."""
    z = (seed * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return (z >> 11) / float(1 << 53)


#: Blinks: one per slot of this length, starting at a random offset in [0, BLINK_JITTER_S), so consecutive blinks are
#: 2.2-5.8 s apart and every 6 s window holds at least one blink start.
BLINK_SLOT_S = 4.0
BLINK_JITTER_S = 1.8
BLINK_S = 0.15
_DOUBLE_BLINK_GAP_S = 0.32
_GAZE_SLOT_S = 2.3


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


# ---- shapes (local units: 1 = 1% of the canvas height) -----------------------------------------------------------


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 40, a0: float = 0.0, a1: float = 360.0) -> np.ndarray:
    th = np.radians(np.linspace(a0, a1, n, endpoint=(a1 - a0) < 360.0))
    return np.stack([cx + rx * np.cos(th), cy + ry * np.sin(th)], 1).astype(np.float32)


def _catmull(points: list[tuple[float, float]], per_seg: int = 6, closed: bool = False) -> np.ndarray:
    """Smooth curve through ``points`` (centripetal-free, uniform Catmull-Rom)."""
    p = np.asarray(points, np.float64)
    if closed:
        p = np.concatenate([p[-1:], p, p[:2]])
    else:
        p = np.concatenate([p[:1], p, p[-1:]])
    out = []
    t = np.linspace(0.0, 1.0, per_seg, endpoint=False)[:, None]
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    if not closed:
        out.append(p[-2:-1])
    return np.concatenate(out).astype(np.float32)


def _ribbon(pts: np.ndarray, half_width: np.ndarray | float) -> np.ndarray:
    """A filled stroke along ``pts`` (n, 2) with per-point half width: outline polygon of 2n points."""
    d = np.gradient(pts, axis=0)
    nrm = np.stack([-d[:, 1], d[:, 0]], 1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-6
    hw = np.asarray(half_width, np.float32)
    if hw.ndim == 1:
        hw = hw[:, None]
    return np.concatenate([pts + nrm * hw, (pts - nrm * hw)[::-1]]).astype(np.float32)


def _taper(n: int, start: float, mid: float, end: float) -> np.ndarray:
    u = np.linspace(0.0, 1.0, n)
    return np.where(u < 0.5, start + (mid - start) * np.sin(u * np.pi), end + (mid - end) * np.sin(u * np.pi))


# Head geometry, relative to the head centre.
_FACE_RX, _FACE_RY = 16.2, 18.6
_EYE_X, _EYE_Y, _EYE_RX, _EYE_RY = 6.5, 2.2, 3.05, 3.45
_IRIS_R, _PUPIL_R = 2.3, 1.12
_REST_LID = 0.14
_MOUTH_Y = 12.9
_HEAD_CY = 37.5  # head centre, % of canvas height from the top
_PIVOT_DY = 22.0  # head turns about the neck, this far below the head centre
_NECK_TOP = 47.0  # the torso sprite starts here (hidden under the head); it breathes, the rows above do not

# Viseme mouth shapes: half width, gap at full opening, corner lift, roundness, upper teeth shown, lip press, bite.
_VISEME_PARAMS = np.array(
    [
        [3.9, 0.0, 0.85, 0.0, 0.0, 0.0, 0.0],  # REST: relaxed smile
        [3.6, 0.0, 0.35, 0.0, 0.0, 1.0, 0.0],  # CLOSED: M B P
        [3.8, 5.2, 0.45, 0.3, 1.0, 0.0, 0.0],  # OPEN: A
        [4.6, 2.7, 1.1, 0.0, 1.0, 0.0, 0.0],  # WIDE: E I
        [2.4, 3.7, 0.0, 1.0, 0.3, 0.0, 0.0],  # ROUND: O U W
        [3.9, 1.3, 0.45, 0.0, 1.0, 0.0, 1.0],  # FV: teeth on the lower lip
    ],
    np.float32,
)
assert _VISEME_PARAMS.shape[0] == VISEME_COUNT
_MOUTH_HALF_W_MAX = float(_VISEME_PARAMS[:, 0].max())
_MOUTH_GAP_MAX = float(_VISEME_PARAMS[:, 1].max())
_MOUTH_U = np.cos(np.linspace(np.pi, 0.0, 15)).astype(np.float32)  # -1..1, denser at the corners
_MOUTH_U2 = _MOUTH_U * _MOUTH_U
_MOUTH_1MU2 = np.clip(1.0 - _MOUTH_U2, 0.0, 1.0)
_TEETH_SEL = np.abs(_MOUTH_U) <= 0.8
_LID_STEPS = 24  # eyelid positions are quantised to 1/24 of a blink and cached


def _band(x: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Polygon between two curves over the same x samples."""
    n = len(x)
    out = np.empty((2 * n, 2), np.float32)
    out[:n, 0] = x
    out[:n, 1] = top
    out[n:, 0] = x[::-1]
    out[n:, 1] = bottom[::-1]
    return out


Ops = list[tuple[tuple[int, int, int, int], tuple[int, ...]]]


def _pack(groups: list[tuple[Colour, list[np.ndarray]]]) -> tuple[np.ndarray, Ops]:
    """Concatenate groups of polygons into one point array plus (colour, polygon lengths) draw steps."""
    arrays = [a for _, polys in groups for a in polys]
    ops: Ops = [((*c, 255), tuple(len(a) for a in polys)) for c, polys in groups if polys]
    pts = np.concatenate(arrays).astype(np.float32) if arrays else np.zeros((0, 2), np.float32)
    return pts, ops


_UPPER_SHARE = 0.25  # the upper lip moves a quarter of the opening, the jaw the rest


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Head motion at a time: tilt in degrees (positive: clockwise on screen), offset in canvas pixels."""

    angle_deg: float
    dx_px: float
    dy_px: float


class CartoonAvatar:
    """A head-and-shoulders cartoon presenter.

    ``height_px`` is rounded down to even; :attr:`size` is (width, height), both even. ``seed`` picks the blink
    times, glances and sway phases. :meth:`render` returns a new ``(height, width, 4)`` uint8 BGRA array each call:
    premultiplied alpha over transparency, or -- after :meth:`set_backdrop` -- drawn onto the backdrop with alpha 255
    everywhere (:attr:`opaque`), which lets the compositor paste it without blending.
    """

    def __init__(self, style: AvatarStyle, *, height_px: int, seed: int = 0, backdrop: np.ndarray | None = None):
        if height_px < 64:
            raise ValueError(f"height_px must be at least 64, got {height_px}")
        self.style = style
        self.seed = int(seed)
        self.height = int(height_px) // 2 * 2
        self.width = max(2, round(self.height * 0.74 / 2.0) * 2)
        self.unit = self.height / 100.0
        self.palette = _Palette.from_style(style)
        ph = _u01(self.seed, 0, 99)
        self._phases = [2 * math.pi * _u01(self.seed, i, 7) for i in range(8)]
        self._breath_period_s = 4.2 + 0.6 * ph
        self._build_head_shapes()
        self._breath_levels = 12
        self._backdrop: np.ndarray | None = None
        self.set_backdrop(backdrop)

    # ---- public API ----------------------------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every rendered picture, both even."""
        return (self.width, self.height)

    @property
    def opaque(self) -> bool:
        """True when a backdrop is set: rendered pictures have alpha 255 everywhere."""
        return self._backdrop is not None

    def set_backdrop(self, bgr: np.ndarray | None) -> None:
        """Draw onto ``bgr`` (``(height, width, 3)`` uint8, e.g. ``Compositor.avatar_backdrop``) instead of onto
        transparency, or go back to transparency with None. Re-draws the cached torso (a few ms)."""
        if bgr is not None:
            if bgr.shape != (self.height, self.width, 3) or bgr.dtype != np.uint8:
                raise ValueError(f"backdrop must be uint8 of shape {(self.height, self.width, 3)}, got {bgr.shape}")
            self._backdrop = np.ascontiguousarray(bgr).copy()
        else:
            self._backdrop = None
        self._build_body_sprites()

    def breath(self, t_s: float) -> float:
        """Breathing in -1 (out) .. 1 (in)."""
        return math.sin(2 * math.pi * t_s / self._breath_period_s + self._phases[0])

    def head_pose(self, t_s: float, mouth: MouthPose | None = None) -> HeadPose:
        """The head's tilt and offset at ``t_s`` (a slow sway and nod, a lift when breathing in)."""
        p = self._phases
        tau = 2 * math.pi
        angle = 1.5 * math.sin(tau * t_s / 6.1 + p[1]) + 0.55 * math.sin(tau * t_s / 2.7 + p[2])
        dx = 0.32 * math.sin(tau * t_s / 7.3 + p[3]) + 0.1 * math.sin(tau * t_s / 3.1 + p[4])
        dy = 0.22 * math.sin(tau * t_s / 3.4 + p[5]) - 0.28 * self.breath(t_s)
        if mouth is not None:
            dy += 0.1 * _clamp01(mouth.open_amount)
        return HeadPose(angle, dx * self.unit, dy * self.unit)

    def blink_amount(self, t_s: float) -> float:
        """How closed the eyes are from blinking: 0 open .. 1 shut (a blink closes in 50 ms, opens in 70 ms)."""
        n = math.floor(t_s / BLINK_SLOT_S)
        start = n * BLINK_SLOT_S + BLINK_JITTER_S * _u01(self.seed, n, 1)
        amount = _blink_curve(t_s - start)
        if _u01(self.seed, n, 2) < 0.18:  # now and then a double blink
            amount = max(amount, _blink_curve(t_s - start - _DOUBLE_BLINK_GAP_S))
        return amount

    def blink_times(self, t0_s: float, t1_s: float) -> list[float]:
        """Start times of the blinks in [t0_s, t1_s) (for tests and tools)."""
        out: list[float] = []
        for n in range(math.floor(t0_s / BLINK_SLOT_S) - 1, math.floor(t1_s / BLINK_SLOT_S) + 1):
            start = n * BLINK_SLOT_S + BLINK_JITTER_S * _u01(self.seed, n, 1)
            starts = [start]
            if _u01(self.seed, n, 2) < 0.18:
                starts.append(start + _DOUBLE_BLINK_GAP_S)
            out += [s for s in starts if t0_s <= s < t1_s]
        return out

    def mouth_box(self, t_s: float) -> tuple[int, int, int, int]:
        """(x, y, w, h) in canvas pixels that holds the whole mouth at ``t_s`` for every mouth pose.

        Follows the head's motion at ``t_s`` (the speech nod included); stable across versions in the sense that it
        always contains the lips and the interior and stays within the lower face.
        """
        hx = _MOUTH_HALF_W_MAX + 0.55 + 0.2  # corner dimples, anti-aliasing
        top = -(_UPPER_SHARE * _MOUTH_GAP_MAX + 0.85 + 0.55)
        bottom = (1.0 - _UPPER_SHARE) * _MOUTH_GAP_MAX + 1.25 + 0.06 + 0.3
        corners = np.array([[-hx, top], [hx, top], [hx, bottom], [-hx, bottom]], np.float32)
        corners[:, 1] += _MOUTH_Y
        xs, ys = [], []
        for amount in (0.0, 1.0):  # the speech nod moves the head down by up to 0.1% of the height
            m = self._affine(self.head_pose(t_s, MouthPose.rest()), extra_dy_px=0.1 * self.unit * amount)
            q = corners @ m[:, :2].T + m[:, 2]
            xs += list(q[:, 0])
            ys += list(q[:, 1])
        x0, y0 = max(0, math.floor(min(xs)) - 1), max(0, math.floor(min(ys)) - 1)
        x1, y1 = min(self.width, math.ceil(max(xs)) + 2), min(self.height, math.ceil(max(ys)) + 2)
        return (x0, y0, x1 - x0, y1 - y0)

    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        """The character at ``t_s`` with ``mouth``: a new ``(height, width, 4)`` uint8 BGRA array (see class doc)."""
        k = round((self.breath(t_s) + 1.0) * 0.5 * (self._breath_levels - 1))
        out = np.empty((self.height, self.width, 4), np.uint8)
        out[: self._split] = self._top
        out[self._split :] = self._body[k]
        pose = self.head_pose(t_s, mouth)
        self._draw_head(out, self._affine(pose), t_s, mouth)
        return out

    # ---- geometry --------------------------------------------------------------------------------------------------

    def _affine(self, pose: HeadPose, extra_dy_px: float = 0.0) -> np.ndarray:
        """2x3 map from head-local units to canvas pixels."""
        s = self.unit
        a = math.radians(pose.angle_deg)
        c, si = math.cos(a), math.sin(a)
        cx, cy = self.width / 2.0, _HEAD_CY * s
        px, py = cx, cy + _PIVOT_DY * s
        rx, ry = cx - px, cy - py
        tx = c * rx - si * ry + px + pose.dx_px
        ty = si * rx + c * ry + py + pose.dy_px + extra_dy_px
        return np.array([[s * c, -s * si, tx], [s * si, s * c, ty]], np.float32)

    def _build_head_shapes(self) -> None:
        p = self.palette
        th = np.radians(np.linspace(0, 360, 64, endpoint=False)).astype(np.float32)
        sin = np.sin(th)
        low = np.clip(sin, 0, None)
        face = np.stack([_FACE_RX * np.cos(th) * (1 - 0.17 * low**1.6), _FACE_RY * sin], 1).astype(np.float32)
        jaw_w = (low**2).astype(np.float32)  # how much each contour point follows the jaw
        out_dir = face / np.linalg.norm(face, axis=1, keepdims=True)
        # Cel shade on the side away from the light (viewer's right, lower half).
        deg = np.degrees(th)
        sel = np.where((deg >= 320) | (deg <= 105))[0]
        sel = np.concatenate([sel[sel >= 32], sel[sel < 32]])  # one run through 0 deg
        depth = (2.3 * np.sin(np.pi * np.linspace(0, 1, len(sel))) ** 0.8)[:, None]
        edge = face[sel]
        shade = np.concatenate([edge, (edge - out_dir[sel] * depth)[::-1]])
        shade_w = np.concatenate([jaw_w[sel], jaw_w[sel][::-1]])
        self._face_pts, self._face_ops = _pack(
            [(p.skin_line, [face + out_dir * 0.5]), (p.skin, [face]), (p.skin_shadow, [shade])]
        )
        jw = np.concatenate([jaw_w, jaw_w, shade_w]).astype(np.float32)
        self._face_jaw = np.stack([np.zeros_like(jw), jw], 1)

        ears_outline = [_ellipse(side * (_FACE_RX - 0.4), 2.0, 2.85, 3.85, 24) for side in (-1, 1)]
        ears = [_ellipse(side * (_FACE_RX - 0.4), 2.0, 2.4, 3.4, 24) for side in (-1, 1)]
        ears_inner = [_ellipse(side * (_FACE_RX + 0.1), 2.3, 1.1, 2.0, 16) for side in (-1, 1)]
        self._build_hair()
        back: list[tuple[Colour, list[np.ndarray]]] = []
        if self._hair_back:
            back = [(p.hair_dark, [self._hair_back[0] + np.array([0, 0.35], np.float32)]), (p.hair, self._hair_back)]
        self._pre_pts, self._pre_ops = _pack(
            [*back, (p.skin_line, ears_outline), (p.skin, ears), (p.skin_shadow, ears_inner)]
        )
        nose = _catmull([(-1.0, 7.6), (-0.5, 8.3), (0.3, 8.45), (0.95, 7.8)], 4)
        self._mid_pts, self._mid_ops = _pack(
            [
                (p.blush, [_ellipse(side * 10.0, 8.9, 2.6, 1.45, 20) for side in (-1, 1)]),
                (p.skin_line, [_ribbon(nose, _taper(len(nose), 0.1, 0.26, 0.12))]),
                (p.skin_light, self._head_light),
            ]
        )
        # Eyes: the ring and whites are fixed; irises follow the gaze; lids are cached per blink step.
        self._eye_pts, self._eye_ops = _pack(
            [
                (p.skin_line, [_ellipse(side * _EYE_X, _EYE_Y, _EYE_RX + 0.4, _EYE_RY + 0.4, 28) for side in (-1, 1)]),
                (p.eye_white, [_ellipse(side * _EYE_X, _EYE_Y, _EYE_RX, _EYE_RY, 28) for side in (-1, 1)]),
            ]
        )
        circle = _ellipse(0, 0, 1, 1, 24)
        small = _ellipse(0, 0, 1, 1, 12)
        irises, iris_in, pupils, glints = [], [], [], []
        for side in (-1, 1):
            ix, iy = side * _EYE_X, _EYE_Y + 0.25
            irises.append(circle * _IRIS_R + (ix, iy))
            iris_in.append(circle * (_IRIS_R - 0.45) + (ix, iy + 0.1))
            pupils.append(circle * _PUPIL_R + (ix, iy + 0.05))
            glints += [small * 0.72 + (ix - 0.75, iy - 0.85), small * 0.32 + (ix + 0.8, iy + 0.75)]
        self._iris_pts, self._iris_ops = _pack(
            [(p.iris_dark, irises), (p.iris, iris_in), (p.pupil, pupils), (p.eye_white, glints)]
        )
        lid_u = np.cos(np.linspace(np.pi, 0, 13)).astype(np.float32)
        self._lid_u = lid_u
        self._lid_cache: dict[int, tuple[np.ndarray, Ops]] = {}
        brows = []
        bu = np.linspace(0, 1, 10).astype(np.float32)
        for side in (-1, 1):
            bx = side * (3.7 + 6.3 * bu)
            by = -4.6 - 1.05 * np.sin(np.pi * (0.25 + 0.75 * bu)) + 0.25 * bu
            brows.append(_ribbon(np.stack([bx, by], 1).astype(np.float32), _taper(10, 0.62, 0.56, 0.2)))
        self._brow_pts, self._brow_ops = _pack([(p.brow, brows)])
        top: list[tuple[Colour, list[np.ndarray]]] = []
        if self._bun:
            top += [(p.hair_dark, [self._bun[0] * 1.04]), (p.hair, self._bun), (p.accent, self._bun_tie)]
        if self._hair_cap:
            top += [
                (p.skin_shadow, self._hair_shadow),
                (p.hair_dark, self._hair_outline),
                (p.hair, self._hair_cap),
                (p.hair_light, self._hair_light),
            ]
        self._top_pts, self._top_ops = _pack(top)
        self._dimple = _ribbon(
            np.array([[-0.1, 0.15], [0.35, -0.2], [0.55, -0.7]], np.float32), np.array([0.16, 0.14, 0.06], np.float32)
        )
        self._dimple_l = self._dimple * np.array([-1.0, 1.0], np.float32)
        self._lip_l_shape = _MOUTH_1MU2**0.6
        self._lip_u_shape = _MOUTH_1MU2**0.5 * (1.0 - 0.28 * np.exp(-((_MOUTH_U / 0.16) ** 2)))
        self._seam_hw = (0.08 + 0.12 * _MOUTH_1MU2**0.3).astype(np.float32)

    def _lids(self, blink: float) -> tuple[np.ndarray, Ops]:
        """Eyelids and lash lines at a blink amount (0 open .. 1 shut), cached per 1/24 step."""
        key = round(blink * _LID_STEPS)
        hit = self._lid_cache.get(key)
        if hit is not None:
            return hit
        c = key / _LID_STEPS
        u = self._lid_u
        ring_rx, ring_ry = _EYE_RX + 0.45, _EYE_RY + 0.45
        out_rx, out_ry = _EYE_RX + 0.8, _EYE_RY + 0.8
        xo = u * out_rx
        top = -out_ry * np.sqrt(np.clip(1 - u**2, 0, 1)) - 0.3
        # The lid edge slides from the top of the eye's ring to its bottom: at 1 it is a closed, smiling arc.
        line_o = (2 * c - 1) * ring_ry * np.sqrt(np.clip(1 - (xo / ring_rx) ** 2, 0, 1))
        line_r = (2 * c - 1) * ring_ry * np.sqrt(np.clip(1 - u**2, 0, 1))
        lash_w = _taper(len(u), 0.22, 0.42, 0.5).astype(np.float32)
        lids, lashes = [], []
        for side in (-1.0, 1.0):
            ex, ey = side * _EYE_X, _EYE_Y
            lids.append(_band(xo + ex, top + ey, line_o + ey))
            lash = np.stack([u * ring_rx + ex, line_r + ey], 1).astype(np.float32)
            lashes.append(_ribbon(lash, lash_w if side > 0 else lash_w[::-1]))
            fx = ex + side * ring_rx
            lashes.append(
                np.array(
                    [[fx - side * 0.6, ey - 0.25], [fx + side * 0.9, ey - 1.2 + 0.6 * c], [fx - side * 0.2, ey + 0.45]],
                    np.float32,
                )
            )
        p = self.palette
        packed = _pack([(p.skin, lids), (p.line, lashes)])
        self._lid_cache[key] = packed
        return packed

    def _build_hair(self) -> None:
        rx, ry = _FACE_RX, _FACE_RY
        style = self.style.hair_style
        self._hair_back: list[np.ndarray] = []
        self._hair_cap: list[np.ndarray] = []
        self._hair_outline: list[np.ndarray] = []
        self._hair_shadow: list[np.ndarray] = []
        self._hair_light: list[np.ndarray] = []
        self._bun: list[np.ndarray] = []
        self._bun_tie: list[np.ndarray] = []
        self._head_light: list[np.ndarray] = []
        if style == "bald":
            self._head_light = [_ellipse(-6.0, -12.5, 4.2, 2.2, 20)]
            return
        if style == "short":
            outer = _ellipse(0, -1.8, rx + 1.7, ry + 2.0, 36, 168, 372)
            line = [
                (rx + 0.2, 1.5),
                (rx - 1.0, -3.0),
                (12.5, -8.8),
                (8.5, -11.8),
                (4.8, -10.2),
                (0.0, -8.6),
                (-5.0, -7.7),
                (-10.0, -6.8),
                (-13.6, -4.0),
                (-rx + 0.4, 0.0),
                (-rx - 0.3, 1.8),
            ]
        elif style == "long":
            outer = np.concatenate(
                [
                    np.array([[-rx - 2.1, 12.0], [-rx - 2.3, 6.0]], np.float32),
                    _ellipse(0, -1.5, rx + 2.2, ry + 2.2, 36, 172, 368),
                    np.array([[rx + 2.3, 6.0], [rx + 2.1, 12.0]], np.float32),
                ]
            )
            line = [
                (rx + 0.6, 12.0),
                (rx - 1.6, 7.5),
                (rx - 2.4, 0.0),
                (12.0, -7.0),
                (6.5, -11.5),
                (2.4, -13.2),
                (-0.5, -11.0),
                (-6.5, -8.8),
                (-12.0, -6.2),
                (-rx + 2.4, 0.0),
                (-rx + 1.6, 7.5),
                (-rx - 0.6, 12.0),
            ]
            back_r = [
                (rx + 2.0, 0.0),
                (rx + 3.0, 8.0),
                (rx + 3.6, 17.0),
                (rx + 3.9, 25.0),
                (rx + 2.8, 30.5),
                (rx - 0.5, 31.8),
                (rx - 4.0, 29.5),
                (rx - 6.2, 23.0),
                (rx - 7.0, 16.0),
            ]
            right = _catmull(back_r, 4)
            left = right[::-1] * np.array([-1, 1], np.float32)
            top = _ellipse(0, -1.5, rx + 2.4, ry + 2.4, 32, 180, 360)
            self._hair_back = [np.concatenate([top, right, left]).astype(np.float32)]
        else:  # bun
            outer = _ellipse(0, -1.2, rx + 1.0, ry + 1.1, 36, 170, 370)
            line = [
                (rx + 0.1, 1.2),
                (rx - 0.8, -4.0),
                (11.5, -9.8),
                (5.5, -12.0),
                (0.0, -11.0),
                (-5.5, -12.0),
                (-11.5, -9.8),
                (-rx + 0.8, -4.0),
                (-rx - 0.1, 1.2),
            ]
            bun_c = (0.0, -ry - 3.4)
            self._bun = [_ellipse(bun_c[0], bun_c[1], 6.2, 5.6, 32)]
            self._bun_tie = [_ellipse(0.0, -ry - 0.9, 3.8, 1.3, 20)]
        hairline = _catmull(line, 4)
        cap = np.concatenate([outer, hairline]).astype(np.float32)
        self._hair_cap = [cap]
        self._hair_outline = [(cap - np.array([0, -2.0], np.float32)) * 1.035 + np.array([0, -2.0], np.float32)]
        self._hair_shadow = [_ribbon(hairline + np.array([0.3, 0.9], np.float32), 0.9)]
        arc = _ellipse(-0.5, -2.5, rx - 1.2, ry - 0.6, 16, 205, 252)
        if style == "bun":
            arc = _ellipse(-0.5, -2.0, rx - 1.5, ry - 1.5, 16, 205, 250)
        self._hair_light = [_ribbon(arc, _taper(len(arc), 0.1, 0.75, 0.1))]
        if style == "bun":
            self._hair_light.append(_ribbon(_ellipse(-1.5, -ry - 4.6, 3.6, 2.8, 12, 200, 270), 0.45))

    # ---- the torso (pre-drawn) -----------------------------------------------------------------------------------

    def _body_outline(self, style: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
        right = [
            (6.6, 63.0),
            (12.0, 65.0),
            (20.0, 66.9),
            (26.5, 68.9),
            (30.6, 71.6),
            (32.9, 75.6),
            (33.9, 81.0),
            (34.5, 90.0),
            (34.9, 103.0),
        ]
        r = _catmull(right, 6)
        left = (r * np.array([-1, 1], np.float32))[::-1]
        if style == "blazer":
            neck = _catmull([(-6.2, 63.0), (-3.4, 74.0), (0.0, 88.0), (3.4, 74.0), (6.2, 63.0)], 5)
        else:
            neck = _catmull([(-6.2, 63.0), (-4.0, 67.2), (0.0, 68.4), (4.0, 67.2), (6.2, 63.0)], 5)
        return np.concatenate([r, left, neck[1:-1]]).astype(np.float32), right

    def _build_body_sprites(self) -> None:
        s, w, h = self.unit, self.width, self.height
        split = max(0, math.floor((_NECK_TOP - 0.6) * s) - 2)
        self._split = split
        if self._backdrop is not None:
            blank = cv2.cvtColor(self._backdrop, cv2.COLOR_BGR2BGRA)
        else:
            blank = np.zeros((h, w, 4), np.uint8)
        self._top = blank[:split].copy()
        self._body = []
        for k in range(self._breath_levels):
            b = -1.0 + 2.0 * k / (self._breath_levels - 1)
            img = blank.copy()
            self._draw_body(img, b)
            self._body.append(img[split:].copy())

    def _draw_body(self, img: np.ndarray, breath: float) -> None:
        p, s = self.palette, self.unit
        lift = 0.42 * breath
        cx = self.width / 2.0

        def px(pts: np.ndarray) -> np.ndarray:
            q = np.asarray(pts, np.float32).copy()
            wgt = np.clip((100.0 - q[:, 1]) / (100.0 - _NECK_TOP), 0.0, 1.0)
            q[:, 1] -= lift * wgt
            return np.round(np.stack([cx + q[:, 0] * s, q[:, 1] * s], 1) * 16).astype(np.int32)

        def fill(colour: Colour, *polys: np.ndarray) -> None:
            cv2.fillPoly(img, [px(q) for q in polys], (*colour, 255), cv2.LINE_AA, 4)

        def stroke(colour: Colour, pts: np.ndarray, width: float, closed: bool = False) -> None:
            cv2.polylines(img, [px(pts)], closed, (*colour, 255), max(1, round(width * s)), cv2.LINE_AA, 4)

        outfit = self.style.outfit_style
        if outfit == "hoodie":
            fill(p.outfit_dark, _ellipse(0, 62.6, 12.0, 5.4, 40))
            stroke(_scale(p.outfit_dark, 0.8), _ellipse(0, 62.6, 12.0, 5.4, 40), 0.3, closed=True)
        nt = _NECK_TOP
        neck = np.array([(-6.0, nt), (6.0, nt), (6.2, 60), (6.6, 66), (-6.6, 66), (-6.2, 60)], np.float32)
        fill(p.skin, neck)
        chin = _HEAD_CY + _FACE_RY
        fill(
            p.skin_shadow,
            _catmull(
                [(-6.1, nt), (6.1, nt), (6.2, chin + 1.2), (3.0, chin + 2.6), (0, chin + 3.0), (-3.0, chin + 2.6)], 4
            ),
        )
        stroke(p.skin_line, np.array([(-6.1, chin - 2), (-6.25, 60), (-6.6, 65)], np.float32), 0.28)
        stroke(p.skin_line, np.array([(6.1, chin - 2), (6.25, 60), (6.6, 65)], np.float32), 0.28)
        if outfit == "blazer":
            shirt = np.concatenate(
                [
                    _catmull([(-6.2, 63.0), (-3.4, 66.8), (0.0, 67.6), (3.4, 66.8), (6.2, 63.0)], 4),
                    np.array([(8.8, 64.0), (0.0, 92.0), (-8.8, 64.0)], np.float32),
                ]
            )
            fill(p.accent, shirt)
            for side in (-1, 1):
                collar = np.array([(side * 6.5, 62.6), (side * 1.0, 68.9), (side * 8.0, 70.2)], np.float32)
                fill(p.accent_light, collar)
                stroke(p.accent_dark, collar, 0.22, closed=True)
        body, right = self._body_outline(outfit)
        fill(p.outfit, body)
        shade_r = _catmull(right[3:], 5)
        depth = np.linspace(0.0, 1.0, len(shade_r))[:, None] * np.array([[4.5, 0.0]], np.float32)
        fill(p.outfit_shadow, np.concatenate([shade_r, (shade_r - depth)[::-1]]))
        for side in (-1, 1):
            seam = _catmull([(side * 24.0, 80.0), (side * 25.2, 90.0), (side * 26.0, 103.0)], 5)
            stroke(p.outfit_dark, seam, 0.3)
        if outfit == "tshirt":
            for side in (-1, 1):
                seam = _catmull([(side * 7.6, 64.1), (side * 15.5, 70.5), (side * 22.5, 78.5), (side * 24.0, 80.0)], 5)
                stroke(p.accent, seam, 0.75)
            neckline = _catmull([(-6.4, 63.0), (-4.1, 67.3), (0.0, 68.5), (4.1, 67.3), (6.4, 63.0)], 5)
            stroke(p.accent, neckline, 0.85)
            star_c = (13.5, 84.5)
            fill(p.accent, _ellipse(star_c[0], star_c[1], 3.2, 3.2, 36))
            fill(p.outfit, _ellipse(star_c[0], star_c[1], 2.2, 2.2, 36))
            fill(p.accent, _ellipse(star_c[0], star_c[1], 1.1, 1.1, 24))
        elif outfit == "hoodie":
            neckline = _catmull([(-6.4, 63.0), (-4.1, 67.3), (0.0, 68.5), (4.1, 67.3), (6.4, 63.0)], 5)
            stroke(p.outfit_dark, neckline, 0.9)
            for side in (-1, 1):
                string = _catmull([(side * 2.7, 67.9), (side * 2.9, 74.0), (side * 3.4, 81.5)], 5)
                stroke(p.accent, string, 0.55)
                fill(p.accent_light, _ellipse(side * 3.45, 82.6, 0.55, 1.3, 16))
                fill(p.outfit_dark, _ellipse(side * 2.7, 67.7, 0.6, 0.6, 16))
        else:  # blazer
            for side in (-1, 1):
                lapel = _catmull(
                    [
                        (side * 6.2, 63.0),
                        (side * 3.0, 74.0),
                        (side * 0.6, 87.0),
                        (side * 5.0, 83.5),
                        (side * 11.2, 73.5),
                        (side * 12.4, 70.6),
                        (side * 9.6, 70.0),
                        (side * 8.2, 64.2),
                    ],
                    4,
                )
                fill(p.outfit_shadow, lapel)
                stroke(p.outfit_dark, lapel, 0.25, closed=True)
            stroke(p.outfit_dark, np.array([(0.0, 87.5), (0.0, 103.0)], np.float32), 0.25)
            for y in (94.0, 100.5):
                fill(p.outfit_dark, _ellipse(0.9, y, 0.95, 0.95, 20))
                fill(_scale(p.outfit, 1.15), _ellipse(0.75, y - 0.15, 0.5, 0.5, 16))
            stroke(p.outfit_dark, np.array([(13.0, 84.0), (21.0, 84.0)], np.float32), 0.3)
            fill(p.accent, np.array([(14.2, 84.0), (15.6, 81.6), (17.0, 83.0), (18.4, 81.4), (19.6, 84.0)], np.float32))
        stroke(p.outfit_dark, body, 0.32, closed=True)

    # ---- the head (per frame) --------------------------------------------------------------------------------------

    def _mouth(self, prm: list[float], gap: float) -> tuple[np.ndarray, Ops]:
        """Mouth polygons for blended viseme parameters and the effective opening ``gap`` (local units)."""
        p = self.palette
        half_w, _, smile, roundness, teeth, press, bite = prm
        f = _MOUTH_1MU2 ** (0.9 - 0.4 * roundness)
        x = _MOUTH_U * half_w
        base = _MOUTH_Y - smile * _MOUTH_U2
        upper = base - _UPPER_SHARE * gap * f
        lower = base + (1.0 - _UPPER_SHARE) * gap * f
        groups: list[tuple[Colour, list[np.ndarray]]] = []
        if gap > 0.04:
            groups.append((MOUTH_INTERIOR_BGR, [_band(x, upper, lower)]))
        lip_l = 1.25 * (1.0 - 0.3 * press) * (1.0 - 0.2 * bite)
        groups.append((p.lip_lower, [_band(x, lower, lower + lip_l * self._lip_l_shape + 0.06)]))
        sel = _TEETH_SEL
        th = teeth * (1.0 - bite) * min(1.0, 0.24 * gap) + bite * (gap * f[sel] + 0.55)
        tu = upper[sel]
        tl = np.minimum(tu + th, lower[sel] + 0.55 * bite)
        if float(np.max(tl - tu)) > 0.05:
            groups.append((p.teeth, [_band(x[sel], tu - 0.05, tl)]))
        lip_u = 0.85 * (1.0 - 0.35 * press)
        groups.append((p.lip_upper, [_band(x, upper - lip_u * self._lip_u_shape - 0.04, upper)]))
        # The lip seam sits on the parting; once the lips part it moves onto the upper lip, off the opening.
        below = max(0.0, 1.0 - gap / 0.6)
        groups.append((p.lip_line, [_band(x, upper - self._seam_hw, upper + self._seam_hw * below)]))
        cy = _MOUTH_Y - smile
        groups.append(
            (
                p.lip_line,
                [
                    self._dimple_l + np.array([-half_w, cy], np.float32),
                    self._dimple + np.array([half_w, cy], np.float32),
                ],
            )
        )
        return _pack(groups)

    def _gaze(self, t_s: float) -> tuple[float, float]:
        def target(n: int) -> tuple[float, float]:
            if _u01(self.seed, n, 11) < 0.55:
                return (0.0, 0.0)
            return (0.55 * (2 * _u01(self.seed, n, 12) - 1), 0.35 * (2 * _u01(self.seed, n, 13) - 1))

        n = math.floor(t_s / _GAZE_SLOT_S)
        a, b = target(n - 1), target(n)
        k = _smoothstep((t_s - n * _GAZE_SLOT_S) / 0.12)
        return (a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k)

    def _draw_head(self, img: np.ndarray, m: np.ndarray, t_s: float, mouth: MouthPose) -> None:
        openness = _clamp01(mouth.open_amount)
        w = np.asarray(mouth.weights, np.float32)
        total = float(w.sum())
        prm = ((w @ _VISEME_PARAMS) / total).tolist() if total > 1e-6 else _VISEME_PARAMS[0].tolist()
        gap = prm[1] * openness**0.85
        blink = max(_REST_LID, self.blink_amount(t_s))
        gx, gy = self._gaze(t_s)
        brow_up = 0.35 * openness + 0.25 * max(0.0, math.sin(2 * math.pi * t_s / 5.3 + self._phases[6])) ** 8
        mouth_pts, mouth_ops = self._mouth(prm, gap)
        lid_pts, lid_ops = self._lids(blink)
        chunks = [
            self._pre_pts,
            self._face_pts + self._face_jaw * (0.5 * gap),
            self._mid_pts,
            mouth_pts,
            self._eye_pts,
            self._iris_pts + np.array([gx, gy], np.float32),
            lid_pts,
            self._brow_pts + np.array([0.0, -brow_up], np.float32),
            self._top_pts,
        ]
        ops = (
            self._pre_ops
            + self._face_ops
            + self._mid_ops
            + mouth_ops
            + self._eye_ops
            + self._iris_ops
            + lid_ops
            + self._brow_ops
            + self._top_ops
        )
        pts = np.concatenate(chunks)
        q = (pts @ (m[:, :2].T * 16.0) + (m[:, 2] * 16.0 + 0.5)).astype(np.int32)
        i = 0
        for colour, lens in ops:
            batch = []
            for n in lens:
                batch.append(q[i : i + n])
                i += n
            cv2.fillPoly(img, batch, colour, cv2.LINE_AA, 4)


def _clamp01(v: float) -> float:
    return 0.0 if v <= 0.0 else 1.0 if v >= 1.0 else float(v)


def _blink_curve(tau: float) -> float:
    """Eyelid closure over one blink, ``tau`` seconds after it starts."""
    if tau < 0.0 or tau >= BLINK_S:
        return 0.0
    if tau < 0.05:
        return _smoothstep(tau / 0.05)
    if tau < 0.08:
        return 1.0
    return 1.0 - _smoothstep((tau - 0.08) / 0.07)
