"""A real presenter from one portrait: lips on the voice's visemes, blinks, gaze, a little head motion.

Outside the mouth and the eyes every pixel is the photo's own (moved only by the small head pose), so the face stays
the presenter's. The portrait is read once (:mod:`streamer.avatar.portrait`: one face, 478 landmarks, the person's
outline) and everything that does not move is prepared then; per frame only three small regions are re-sampled:

- **Mouth.** The jaw drops by a column-wise remap of the lower face: rows below the lip line move down (the lower lip,
  chin and jaw together, fading out into the neck), rows above move up a little (the upper lip). The rows that open
  between the lips are painted as the inside of a mouth: a dark cavity, the upper teeth under the upper lip, a hint of
  tongue for open vowels. Wide (E, I) visemes stretch the corners out, round ones (O, U, W) pull them in. How far the
  jaw opens follows :class:`~streamer.frames.MouthPose` exactly like the cartoon: the viseme blend times the loudness
  of this frame's own samples.
- **Eyes.** A blink pulls the lid skin above each eye down over it (a column-wise remap, a darker lash line at the
  edge) every 2-6 s, about 0.22 s long; between blinks the eyeball slides a pixel or two left or right (gaze).
- **Head.** The whole person turns, sways and breathes by a small affine transform about the chin; with ``cutout``
  the person is then laid onto the studio backdrop through the selfie-segmentation matte (soft edge, edge colours
  taken from inside the person so no halo of the old room remains).

:meth:`PhotoAvatar.render` is a pure function of ``(t_s, mouth)``, like the cartoon's.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.avatar.portrait import (
    CHIN,
    EYES,
    FACE_OVAL,
    JAW,
    LOWER_INNER_LIP,
    LOWER_OUTER_LIP,
    NOSE_BASE,
    UPPER_INNER_LIP,
    Portrait,
    read_portrait,
)
from streamer.config import AvatarStyle
from streamer.frames import VISEME_COUNT, MouthPose

#: Per viseme (REST, CLOSED, OPEN, WIDE, ROUND, FV): jaw opening (share of the widest), corner spread (+ out, - in,
#: share of the mouth's half-width), upper teeth shown, tongue shown.
_VISEME_MOUTH = np.array(
    [
        [0.0, 0.0, 0.0, 0.0],  # REST
        [0.0, -0.02, 0.0, 0.0],  # CLOSED: lips pressed
        [1.0, 0.0, 0.75, 1.0],  # OPEN: A
        [0.5, 0.11, 1.0, 0.4],  # WIDE: E, I
        [0.62, -0.17, 0.25, 0.3],  # ROUND: O, U, W
        [0.22, 0.02, 1.0, 0.0],  # FV: upper teeth on the lower lip
    ],
    np.float32,
)
assert _VISEME_MOUTH.shape[0] == VISEME_COUNT

#: Widest jaw opening, as a share of forehead-to-chin height.
JAW_MAX = 0.1
#: Where the face sits in the canvas: forehead-to-chin height and eye line, as shares of the canvas height.
FACE_SHARE = 0.3
EYE_LINE = 0.37
#: Blink shape (seconds): closing, shut, opening.
BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.075, 0.04, 0.11
BLINK_GAP_S = (2.0, 6.0)
_GAZE_SLOT_S = 1.7
_BLINKS_PRECOMPUTED = 1024  # blink times repeat after ~70 min


def jaw_opening(mouth: MouthPose) -> float:
    """How far the jaw is open for ``mouth``, 0..1 of the widest (viseme blend x loudness). The picture's lip gap is
    this times :data:`JAW_MAX` of the face height; lip-sync measurements compare against it."""
    w = np.asarray(mouth.weights, np.float32)
    total = float(w.sum())
    jaw = float(w @ _VISEME_MOUTH[:, 0]) / total if total > 1e-6 else 0.0
    amount = min(max(float(mouth.open_amount), 0.0), 1.0)
    return jaw * amount**0.85


@dataclass(slots=True)
class _Eye:
    """One eye, prepared: its region of the canvas and, per column of it, where the lids are at rest."""

    roi: tuple[int, int, int, int]  # x0, y0, x1, y1
    xs: np.ndarray  # column x positions
    ys: np.ndarray  # row y positions
    upper: np.ndarray  # upper lid's edge per column
    lower: np.ndarray  # lower lid's edge per column
    inside: np.ndarray  # columns between the corners
    taper: np.ndarray  # 1 mid-eye .. 0 at the corners
    gaze_mask: np.ndarray  # (rows, cols) where the eyeball is, soft
    width: float


@dataclass(slots=True)
class _MouthGeometry:
    """One mouth shape's re-sampling maps (fixed point) and where its lips part, per column of the mouth region."""

    map1: np.ndarray
    map2: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    prof: np.ndarray


#: Mouth shapes whose geometry is kept (~130 KB each).
_MOUTH_CACHE = 160


def _u01(seed: int, n: int, salt: int) -> float:
    """A repeatable uniform number in [0, 1) for (seed, n, salt)."""
    x = (seed * 0x9E3779B1 + n * 0x85EBCA77 + salt * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x / 2**32


def _smoothstep(x: np.ndarray | float) -> np.ndarray | float:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _curve(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a landmark polyline sorted by x, for np.interp (duplicates in x nudged apart)."""
    order = np.argsort(points[:, 0], kind="stable")
    x = points[order, 0].astype(np.float64)
    x = x + np.arange(len(x)) * 1e-4
    return x, points[order, 1].astype(np.float64)


def _inverse_columns(y: np.ndarray, src: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Per column, the inverse of a monotone piecewise-linear map given by knots (source ``src`` -> output ``out``,
    both (K, C)): for output rows ``y`` (R,), the source row (R, C). Knots whose outputs coincide give the last one."""
    k = src.shape[0]
    seg = (y[:, None, None] >= out[None, :, :]).sum(axis=1) - 1  # (R, C) segment index
    seg = np.clip(seg, 0, k - 2)
    o0 = np.take_along_axis(out, seg, 0)
    o1 = np.take_along_axis(out, seg + 1, 0)
    s0 = np.take_along_axis(src, seg, 0)
    s1 = np.take_along_axis(src, seg + 1, 0)
    span = o1 - o0
    f = np.where(span > 1e-6, (y[:, None] - o0) / np.where(span > 1e-6, span, 1.0), 0.0)
    return s0 + np.clip(f, 0.0, 1.0) * (s1 - s0)


class PhotoAvatar:
    """A presenter animated from one portrait (see the module doc). ``portrait``: already read (tests, reuse);
    otherwise ``style.image`` is read here (slow: face models; build it off the media thread)."""

    def __init__(self, style: AvatarStyle, *, height_px: int, seed: int = 0, portrait: Portrait | None = None) -> None:
        if height_px < 64:
            raise ValueError(f"height_px must be at least 64, got {height_px}")
        if portrait is None:
            if not style.image:
                raise ValueError("a photo avatar needs avatar.image")
            portrait = read_portrait(style.image, segment=style.cutout)
        self.style = style
        self.seed = int(seed)
        self.cutout = bool(style.cutout)
        self.height = int(height_px) // 2 * 2
        self.width = max(2, round(self.height * 0.74 / 2.0) * 2)
        self.source = portrait.path
        self._frame(portrait)
        self._prepare_mouth()
        self._eyes = [self._prepare_eye(e.upper, e.lower) for e in EYES]
        self._phases = [2 * math.pi * _u01(self.seed, i, 7) for i in range(6)]
        gaps = [BLINK_GAP_S[0] + (BLINK_GAP_S[1] - BLINK_GAP_S[0]) * _u01(self.seed, i, 3) for i in range(1024)]
        self._blinks = np.cumsum([0.8 + 1.5 * _u01(self.seed, 0, 5), *gaps[:-1]]).tolist()
        self._blink_period = self._blinks[-1] + gaps[-1]
        self._backdrop: np.ndarray | None = None
        self._prepare_head()
        self._compose_still()

    # ---- preparation (once) ------------------------------------------------------------------------------------

    def _frame(self, portrait: Portrait) -> None:
        """Scale and crop the portrait into the canvas: face about :data:`FACE_SHARE` of the height, eyes on
        :data:`EYE_LINE`, never past the picture's edges (the scale grows instead)."""
        w, h = self.width, self.height
        ih, iw = portrait.image.shape[:2]
        pts = portrait.points
        s = max(FACE_SHARE * h / portrait.face_height_px, w / iw, h / ih)
        nw, nh = max(w, math.ceil(iw * s)), max(h, math.ceil(ih * s))
        sx, sy = nw / iw, nh / ih
        interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_CUBIC
        scaled = cv2.resize(portrait.image, (nw, nh), interpolation=interp)
        matte = cv2.resize(portrait.person, (nw, nh), interpolation=cv2.INTER_LINEAR)
        p = pts * np.array([sx, sy], np.float32)
        eye_y = 0.5 * (p[33, 1] + p[263, 1])
        ox = round(float(min(max(p[1, 0] - w / 2, 0), nw - w)))
        oy = round(float(min(max(eye_y - EYE_LINE * h, 0), nh - h)))
        self.base: np.ndarray = np.ascontiguousarray(scaled[oy : oy + h, ox : ox + w])
        """The framed portrait (BGR), as shown with the head at rest, mouth closed and eyes open."""
        self.points: np.ndarray = p - np.array([ox, oy], np.float32)
        """The face's 478 landmarks in canvas pixels (head at rest)."""
        self.face_height = float(np.linalg.norm(self.points[10] - self.points[CHIN]))
        alpha = np.ones((h, w), np.float32)
        if self.cutout:
            alpha = np.clip((matte[oy : oy + h, ox : ox + w] - 0.35) / 0.3, 0.0, 1.0)
            oval: np.ndarray = self.points[list(FACE_OVAL)].astype(np.int32)
            cv2.fillPoly(alpha, [oval], (1.0,))  # the face itself is never see-through
            alpha = cv2.erode(alpha, np.ones((3, 3), np.uint8))
            alpha = cv2.GaussianBlur(alpha, (0, 0), 1.2)
            # Edge pixels mix in the old room's colour: take their colour from nearby pixels well inside the person.
            inside = (alpha > 0.97).astype(np.float32)
            num = cv2.GaussianBlur(self.base.astype(np.float32) * inside[:, :, None], (0, 0), 3.0)
            den = cv2.GaussianBlur(inside, (0, 0), 3.0)
            edge = (alpha < 0.97) & (den > 0.05)
            fixed = self.base.copy()
            fixed[edge] = np.clip(num[edge] / den[edge][:, None], 0, 255).astype(np.uint8)
            self.base = fixed
        self.alpha = alpha
        """Where the person is (0..1), head at rest; all ones without ``cutout``."""
        a8 = np.rint(alpha * 255).astype(np.uint8)
        # The person premultiplied by the matte: regions are re-sampled with their matte, and laying the moved person
        # onto the studio is one multiply-add.
        premult = np.rint(self.base.astype(np.float32) * alpha[:, :, None]).astype(np.uint8)
        self._base4 = np.ascontiguousarray(np.dstack([premult, a8]))
        self._work = self._base4.copy()
        # The head pivots about the chin.
        self._pivot = (float(self.points[CHIN, 0]), float(self.points[CHIN, 1]))

    def _prepare_mouth(self) -> None:
        p = self.points
        fh = self.face_height
        ui, li = p[list(UPPER_INNER_LIP)], p[list(LOWER_INNER_LIP)]
        lo = p[list(LOWER_OUTER_LIP)]
        jaw = p[list(JAW)]
        self._m_cx = 0.5 * float(ui[0, 0] + ui[-1, 0])
        self._m_half_i = max(0.5 * float(ui[-1, 0] - ui[0, 0]), 2.0)
        self._m_half_o = max(0.5 * float(lo[-1, 0] - lo[0, 0]), self._m_half_i)
        self._m_half_j = max(0.5 * float(jaw[-1, 0] - jaw[0, 0]), self._m_half_o + 4.0)
        self._m_jaw_cx = 0.5 * float(jaw[0, 0] + jaw[-1, 0])
        self._c_upper = _curve(ui)
        self._c_lower = _curve(li)
        self._c_lower_outer = _curve(lo)
        self._c_chin = _curve(jaw)
        self._nose_y = float(p[NOSE_BASE, 1])
        self._mouth_cache: dict[tuple[int, int], _MouthGeometry] = {}
        self._neck_fall = 0.3 * fh
        self._jaw_px = JAW_MAX * fh
        x0 = int(max(0, math.floor(jaw[:, 0].min() - 4)))
        x1 = int(min(self.width, math.ceil(jaw[:, 0].max() + 5)))
        y0 = int(max(0, math.floor(self._nose_y - 0.04 * fh)))
        y1 = int(min(self.height, math.ceil(float(jaw[:, 1].max()) + self._neck_fall + 3)))
        self._m_roi = (x0, y0, x1, y1)
        ys = np.arange(y0, y1, dtype=np.float64)
        xs = np.arange(x0, x1, dtype=np.float64)
        self._m_ys, self._m_xs = ys, xs
        line_c = float(np.interp(self._m_cx, *self._c_upper) + np.interp(self._m_cx, *self._c_lower)) / 2
        bx = np.exp(-(((xs - self._m_cx) / (1.8 * self._m_half_o)) ** 2))
        by = np.exp(-(((ys - line_c) / (0.09 * fh)) ** 2))
        self._m_spread = (by[:, None] * bx[None, :]).astype(np.float64)  # where the corners' spread reaches
        self._m_X = np.broadcast_to(xs[None, :], (len(ys), len(xs)))
        self._m_line_row = int(min(max(round(line_c) - y0, 0), len(ys) - 1))
        own_gap = float(np.interp(self._m_cx, *self._c_lower) - np.interp(self._m_cx, *self._c_upper))
        self._paint_teeth = 0.0 if own_gap > 0.03 * fh else 1.0

    def _prepare_eye(self, upper_ids: tuple[int, ...], lower_ids: tuple[int, ...]) -> _Eye:
        p = self.points
        upper = p[list(upper_ids)]
        lower = p[list(lower_ids)]
        xl = float(min(upper[:, 0].min(), lower[:, 0].min()))
        xr = float(max(upper[:, 0].max(), lower[:, 0].max()))
        ew = max(xr - xl, 4.0)
        opening = max(float(lower[:, 1].max() - upper[:, 1].min()), 2.0)
        x0 = int(max(0, math.floor(xl - 0.15 * ew)))
        x1 = int(min(self.width, math.ceil(xr + 0.15 * ew) + 1))
        y0 = int(max(0, math.floor(upper[:, 1].min() - 1.4 * opening)))
        y1 = int(min(self.height, math.ceil(lower[:, 1].max() + 0.5 * opening) + 1))
        xs = np.arange(x0, x1, dtype=np.float64)
        ys = np.arange(y0, y1, dtype=np.float64)
        up = np.interp(xs, *_curve(upper))
        low = np.interp(xs, *_curve(lower))
        inside = (xs > xl) & (xs < xr)
        low = np.where(inside, np.maximum(low, up), up)
        # Soft mask of the eye opening (the eyeball), fading towards the corners: only that slides for gaze.
        filled: np.ndarray = np.zeros((y1 - y0, x1 - x0), np.float32)
        poly = np.concatenate([upper, lower[::-1]]) - np.array([x0, y0], np.float32)
        cv2.fillPoly(filled, [np.rint(poly).astype(np.int32)], (1.0,))
        mask = cv2.GaussianBlur(filled, (0, 0), 0.8)
        taper = np.clip(1.0 - np.abs((xs - 0.5 * (xl + xr)) / (0.5 * ew)) ** 4, 0.0, 1.0)
        return _Eye(
            roi=(x0, y0, x1, y1),
            xs=xs,
            ys=ys,
            upper=up,
            lower=low,
            inside=inside,
            taper=taper,
            gaze_mask=(mask * taper[None, :]).astype(np.float64),
            width=ew,
        )

    # ---- the Avatar contract -------------------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every rendered picture, both even."""
        return (self.width, self.height)

    @property
    def mouth_region(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the canvas the mouth and jaw animation may change (head at rest)."""
        return self._m_roi

    @property
    def eye_regions(self) -> list[tuple[int, int, int, int]]:
        """(x0, y0, x1, y1) of each eye's region that blinks and gaze change (head at rest)."""
        return [e.roi for e in self._eyes]

    @property
    def opaque(self) -> bool:
        return self._backdrop is not None

    def set_backdrop(self, bgr: np.ndarray | None) -> None:
        if bgr is not None:
            if bgr.shape != (self.height, self.width, 3) or bgr.dtype != np.uint8:
                raise ValueError(f"backdrop must be uint8 of shape {(self.height, self.width, 3)}, got {bgr.shape}")
            self._backdrop = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2BGRA)
        else:
            self._backdrop = None
        self._compose_still()

    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        """The presenter at ``t_s`` with ``mouth``: a new ``(height, width, 4)`` uint8 BGRA array (opaque once a
        backdrop is set; premultiplied alpha otherwise)."""
        self._draw_mouth(mouth)
        blink = self.blink_amount(t_s)
        gaze = self.gaze(t_s)
        for eye in self._eyes:
            self._draw_eye(eye, blink, gaze)
        # Only the head moves: its region is transformed and feathered into the still body at the neck.
        x0, y0, x1, y1 = self._h_roi
        m = self.head_affine(t_s)
        m[0, 2] -= x0
        m[1, 2] -= y0
        moved = cv2.warpAffine(
            self._work, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        head = cv2.blendLinear(moved, self._work[y0:y1, x0:x1], self._h_weight, self._h_still)
        out = self._still.copy()
        if self.cutout and self._backdrop is not None:
            # Premultiplied "over": person + studio x (1 - alpha), on whole 4-channel images (OpenCV's fast paths);
            # the alpha channel comes out 255.
            inv = cv2.bitwise_not(cv2.extractChannel(head, 3))
            studio = cv2.multiply(self._backdrop[y0:y1, x0:x1], cv2.merge([inv, inv, inv, inv]), scale=1.0 / 255.0)
            head = cv2.add(head, studio)
        out[y0:y1, x0:x1] = head
        return out

    def _prepare_head(self) -> None:
        """The region that moves with the head (face, hair, neck, and the mouth and eye regions inside it), and its
        weight: 1 over the head, fading to 0 towards the shoulders and the region's sides."""
        fh = self.face_height
        cx = float(self.points[1, 0])
        chin = float(self.points[CHIN, 1])
        top = float(self.points[10, 1]) - 0.8 * fh
        mx0, my0, mx1, my1 = self._m_roi
        x0 = int(max(0, min(math.floor(cx - 0.95 * fh), mx0)))
        x1 = int(min(self.width, max(math.ceil(cx + 0.95 * fh), mx1)))
        y0 = int(max(0, min(math.floor(top), my0)))
        y1 = int(min(self.height, max(math.ceil(chin + 0.45 * fh), my1)))
        self._h_roi = (x0, y0, x1, y1)
        ys = np.arange(y0, y1, dtype=np.float32)
        xs = np.arange(x0, x1, dtype=np.float32)
        wy = _smoothstep((y1 - ys) / max(y1 - (chin + 0.1 * fh), 1.0))
        if y0 > 0:
            wy = wy * _smoothstep((ys - y0) / (0.15 * fh))
        wx = _smoothstep(np.minimum(xs - x0 if x0 > 0 else 1e9, x1 - xs if x1 < self.width else 1e9) / (0.15 * fh))
        weight = (np.asarray(wy)[:, None] * np.asarray(wx)[None, :]).astype(np.float32)
        self._h_weight = weight
        self._h_still = (1.0 - weight).astype(np.float32)

    def _compose_still(self) -> None:
        """The picture outside the moving head region, laid onto the studio once (it never changes)."""
        if not self.cutout:
            self._still = self._base4.copy()
            self._still[:, :, 3] = 255
        elif self._backdrop is None:
            self._still = self._base4.copy()
        else:
            inv = cv2.bitwise_not(cv2.extractChannel(self._base4, 3))
            studio = cv2.multiply(self._backdrop, cv2.merge([inv, inv, inv, inv]), scale=1.0 / 255.0)
            self._still = cv2.add(self._base4, studio)

    # ---- motion ------------------------------------------------------------------------------------------------

    def head_affine(self, t_s: float) -> np.ndarray:
        """The 2x3 transform from the resting portrait to the picture at ``t_s``: a slow turn and sway about the
        chin, and breathing."""
        p = self._phases
        angle = 0.9 * math.sin(2 * math.pi * t_s / 7.7 + p[0]) + 0.35 * math.sin(2 * math.pi * t_s / 3.3 + p[1])
        breath = math.sin(2 * math.pi * t_s / 4.4 + p[2])
        scale = 1.0 + 0.003 * breath
        tx = 0.006 * self.width * math.sin(2 * math.pi * t_s / 9.1 + p[3])
        ty = -0.002 * self.height * breath
        m = cv2.getRotationMatrix2D(self._pivot, angle, scale)
        m[0, 2] += tx
        m[1, 2] += ty
        return m

    def blink_amount(self, t_s: float) -> float:
        """How shut the eyes are at ``t_s``: 0 open .. 1 shut."""
        t = t_s % self._blink_period
        i = bisect.bisect_right(self._blinks, t) - 1
        if i < 0:
            return 0.0
        d = t - self._blinks[i]
        if d < BLINK_CLOSE_S:
            return float(_smoothstep(d / BLINK_CLOSE_S))
        d -= BLINK_CLOSE_S
        if d < BLINK_HOLD_S:
            return 1.0
        d -= BLINK_HOLD_S
        if d < BLINK_OPEN_S:
            return float(1.0 - _smoothstep(d / BLINK_OPEN_S))
        return 0.0

    def blink_times(self, t0_s: float, t1_s: float) -> list[float]:
        """Start times of the blinks in ``[t0_s, t1_s)``."""
        out = []
        k0 = math.floor(t0_s / self._blink_period)
        for k in range(k0, math.floor(t1_s / self._blink_period) + 1):
            base = k * self._blink_period
            out += [base + b for b in self._blinks if t0_s <= base + b < t1_s]
        return out

    def gaze(self, t_s: float) -> float:
        """Horizontal eyeball offset at ``t_s``, as a share of the eye's width (mostly 0: looking at the viewer)."""

        def target(n: int) -> float:
            if _u01(self.seed, n, 11) < 0.55:
                return 0.0
            return 0.09 * (2 * _u01(self.seed, n, 12) - 1)

        n = math.floor(t_s / _GAZE_SLOT_S)
        a, b = target(n - 1), target(n)
        k = float(_smoothstep((t_s - n * _GAZE_SLOT_S) / 0.1))
        return a + (b - a) * k

    # ---- drawing -------------------------------------------------------------------------------------------------

    def _draw_mouth(self, mouth: MouthPose) -> None:
        w = np.asarray(mouth.weights, np.float32)
        total = float(w.sum())
        prm = (w @ _VISEME_MOUTH) / total if total > 1e-6 else _VISEME_MOUTH[0]
        # Quantised (0.25 px of jaw, 1% of spread) so that the geometry of recent shapes is reused.
        jaw_q = round(self._jaw_px * jaw_opening(mouth) * 4)
        spread_q = round(float(prm[1]) * min(1.0, 0.35 + float(mouth.open_amount)) * 100)
        x0, y0, x1, y1 = self._m_roi
        roi = self._work[y0:y1, x0:x1]
        if jaw_q == 0 and spread_q == 0:
            roi[...] = self._base4[y0:y1, x0:x1]
            return
        geo = self._mouth_cache.get((jaw_q, spread_q))
        if geo is None:
            geo = self._mouth_geometry(jaw_q / 4, spread_q / 100)
            if len(self._mouth_cache) >= _MOUTH_CACHE:
                self._mouth_cache.pop(next(iter(self._mouth_cache)))
            self._mouth_cache[(jaw_q, spread_q)] = geo
        warped = cv2.remap(self._base4, geo.map1, geo.map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if jaw_q >= 2:
            self._paint_inside(warped, self._m_ys, geo.top, geo.bottom, geo.prof, prm)
        roi[...] = warped

    def _mouth_geometry(self, jaw: float, spread: float) -> _MouthGeometry:
        """Where each pixel of the mouth region comes from for this jaw drop (px) and corner spread, and where the
        lips part (per column)."""
        ys = self._m_ys
        cx = self._m_cx
        map_x = cx + (self._m_X - cx) / (1.0 + spread * self._m_spread)
        sx = map_x[self._m_line_row]  # each column's source x at the lip line
        upper = np.interp(sx, *self._c_upper)
        lower = np.interp(sx, *self._c_lower)
        line = 0.5 * (upper + lower)
        lower_outer = np.maximum(np.interp(sx, *self._c_lower_outer), line + 2.0)
        chin = np.maximum(np.interp(sx, *self._c_chin), lower_outer + 2.0)
        u = (sx - cx) / self._m_half_i
        prof = np.clip(1.0 - u * u, 0.0, 1.0)
        dj = np.abs(sx - self._m_jaw_cx)
        wjaw = _smoothstep((self._m_half_j - dj) / max(self._m_half_j - 0.9 * self._m_half_o, 1.0))
        drop_lip = jaw * prof
        drop_jaw = jaw * np.maximum(wjaw, prof)
        raise_lip = 0.25 * jaw * prof
        top = np.full_like(line, ys[0])
        nose = np.minimum(np.full_like(line, self._nose_y), line - 1.0)
        bottom = np.maximum(np.full_like(line, ys[-1] + 1.0), chin + self._neck_fall + 1.0)
        src = np.stack([top, nose, line - 0.5, line, lower_outer, chin, chin + self._neck_fall, bottom])
        zero = np.zeros_like(line)
        d = np.stack([zero, zero, -raise_lip, drop_lip, drop_jaw, drop_jaw, zero, zero])
        map_y = _inverse_columns(ys, src, src + d)
        map1, map2 = cv2.convertMaps(map_x.astype(np.float32), map_y.astype(np.float32), cv2.CV_16SC2)
        return _MouthGeometry(map1=map1, map2=map2, top=line - raise_lip, bottom=line + drop_lip, prof=prof)

    def _paint_inside(
        self,
        img: np.ndarray,
        ys: np.ndarray,
        top: np.ndarray,
        bottom: np.ndarray,
        prof: np.ndarray,
        prm: np.ndarray,
    ) -> None:
        """Paint the inside of the open mouth between the lips (per column ``top`` .. ``bottom``)."""
        cols = np.nonzero(bottom - top > 0.4)[0]
        if cols.size == 0:
            return
        r0 = int(max(0, math.floor(float(top[cols].min()) - ys[0])))
        r1 = int(min(len(ys), math.ceil(float(bottom[cols].max()) - ys[0]) + 1))
        if r1 <= r0:
            return
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        y = ys[r0:r1, None]
        t, b, pr = top[None, c0:c1], bottom[None, c0:c1], prof[None, c0:c1]
        cover = np.clip(np.minimum(y + 0.5, b) - np.maximum(y - 0.5, t), 0.0, 1.0)
        gap = np.maximum(b - t, 1e-3)
        depth = 0.55 + 0.45 * pr  # darker towards the corners
        colour = np.empty((r1 - r0, c1 - c0, 3), np.float64)
        colour[...] = np.array([34.0, 24.0, 66.0]) * depth[..., None]
        # A portrait that already shows its teeth keeps its own (they move with the lips); else paint upper teeth.
        teeth_h = float(prm[2]) * self._paint_teeth * np.minimum(0.42 * gap, 0.075 * self.face_height) * np.sqrt(pr)
        teeth = np.clip(t + teeth_h - (y - 0.5), 0.0, 1.0) * (teeth_h > 0.4)
        shade = (0.62 + 0.38 * pr) * (0.9 + 0.1 * np.clip((y - t) / np.maximum(teeth_h, 1e-3), 0, 1))
        teeth_rgb = np.array([198.0, 208.0, 220.0]) * shade[..., None]
        colour = colour * (1 - teeth[..., None]) + teeth_rgb * teeth[..., None]
        tongue_h = float(prm[3]) * 0.38 * gap * pr
        tongue = np.clip((y + 0.5) - (b - tongue_h), 0.0, 1.0) * (tongue_h > 0.6)
        colour = colour * (1 - tongue[..., None]) + np.array([88.0, 92.0, 176.0]) * depth[..., None] * tongue[..., None]
        patch = img[r0:r1, c0:c1, :3].astype(np.float64)
        img[r0:r1, c0:c1, :3] = np.rint(patch * (1 - cover[..., None]) + colour * cover[..., None]).astype(np.uint8)
        img[r0:r1, c0:c1, 3] = np.maximum(img[r0:r1, c0:c1, 3], np.rint(cover * 255).astype(np.uint8))

    def _draw_eye(self, eye: _Eye, blink: float, gaze: float) -> None:
        x0, y0, x1, y1 = eye.roi
        roi = self._work[y0:y1, x0:x1]
        if blink < 0.02 and abs(gaze) < 1e-3:
            roi[...] = self._base4[y0:y1, x0:x1]
            return
        lid = eye.upper + blink * (eye.lower - eye.upper)  # where the lid's edge is now
        y = eye.ys[:, None]
        top = float(eye.ys[0])
        # Above the lid's edge: the skin between brow and eye, stretched down over the eye.
        stretched = top + (y - top) * (eye.upper - top) / np.maximum(lid - top, 1e-3)
        map_y = np.where((y <= lid) & eye.inside[None, :], stretched, y)
        map_x = eye.xs[None, :] - gaze * eye.width * eye.gaze_mask
        warped = cv2.remap(
            self._base4,
            map_x.astype(np.float32),
            map_y.astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if blink > 0.2:
            dark = 0.55 * blink * np.exp(-(((y - lid) / 1.1) ** 2)) * (eye.taper * eye.inside)[None, :]
            warped[:, :, :3] = np.rint(warped[:, :, :3] * (1.0 - dark[..., None])).astype(np.uint8)
        roi[...] = warped
