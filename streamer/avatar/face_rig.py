"""The parts of a real face that move: jaw and lips, eyelids, eyeballs — re-sampled from one still picture of the
face (premultiplied BGRA) with its 478 face-mesh landmarks.

- **Mouth.** The jaw drops by a column-wise remap of the lower face: rows below the lip line move down (the lower lip,
  chin and jaw together, fading out into the neck), rows above move up a little (the upper lip). The rows that open
  between the lips are painted as the inside of a mouth: a dark cavity, the upper teeth under the upper lip (unless
  the picture shows its own), a hint of tongue for open vowels. Wide (E, I) visemes stretch the corners out, round
  ones (O, U, W) pull them in. How far the jaw opens follows :class:`~streamer.frames.MouthPose` like the cartoon's
  mouth: the viseme blend times the loudness of this frame's own samples (:func:`jaw_opening`).
- **Eyes.** A blink pulls the lid skin above each eye down over it (a column-wise remap, a darker lash line at the
  edge); gaze slides the eyeball a pixel or two while the corners stay.

A photo avatar keeps one rig for its portrait (and caches mouth shapes); a video avatar makes one per footage frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.avatar.portrait import CHIN, EYES, JAW, LOWER_INNER_LIP, LOWER_OUTER_LIP, NOSE_BASE, UPPER_INNER_LIP
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


def smoothstep(x: np.ndarray | float) -> np.ndarray | float:
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


#: OpenCV's fixed-point maps keep the fraction of a pixel in 1/32 steps (cv2.INTER_TAB_SIZE).
_TAB = 32


def _shift_maps(map1: np.ndarray, map2: np.ndarray, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point remap maps (CV_16SC2 + the fraction table index) that sample ``(dx, dy)`` further on, to 1/32 px."""
    fx = (map2 & (_TAB - 1)).astype(np.int32) + round(dx * _TAB)
    fy = (map2 >> 5).astype(np.int32) + round(dy * _TAB)
    shifted = np.empty_like(map1)
    shifted[..., 0] = map1[..., 0] + np.floor_divide(fx, _TAB)
    shifted[..., 1] = map1[..., 1] + np.floor_divide(fy, _TAB)
    return shifted, (np.mod(fy, _TAB) * _TAB + np.mod(fx, _TAB)).astype(np.uint16)


def mouth_centre(points: np.ndarray) -> np.ndarray:
    """The middle of the inner lips (corners and mid points), (x, y) pixels."""
    return points[[78, 308, 13, 14]].mean(axis=0)


class FaceRig:
    """Moves the mouth and eyes of ``base`` (premultiplied BGRA, ``(h, w, 4)`` uint8) whose face has ``points``
    (478 landmarks, pixels). ``draw_mouth`` and ``draw_eyes`` write only their regions of the picture passed in;
    ``cache`` mouth shapes' geometry is kept (0 for a picture used once)."""

    def __init__(self, base: np.ndarray, points: np.ndarray, *, cache: int = 0) -> None:
        self.base = base
        self.points = points
        self.height, self.width = base.shape[:2]
        self.face_height = float(np.linalg.norm(points[10] - points[CHIN]))
        self._cache_size = cache
        self._prepare_mouth()
        self._eyes = [self._prepare_eye(e.upper, e.lower) for e in EYES]

    @property
    def mouth_centre(self) -> np.ndarray:
        """Where the mouth is: the middle of the inner lips, (x, y) pixels."""
        return mouth_centre(self.points)

    @property
    def mouth_region(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the picture the mouth and jaw animation may change."""
        return self._m_roi

    @property
    def eye_regions(self) -> list[tuple[int, int, int, int]]:
        """(x0, y0, x1, y1) of each eye's region that blinks and gaze change."""
        return [e.roi for e in self._eyes]

    def draw_eyes(self, work: np.ndarray, blink: float, gaze: float) -> None:
        """Both eyes into ``work`` (same size as the base): ``blink`` 0 open .. 1 shut, ``gaze`` as a share of
        the eye's width."""
        for eye in self._eyes:
            self._draw_eye(work, eye, blink, gaze)

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

    def draw_mouth(
        self,
        work: np.ndarray,
        mouth: MouthPose,
        *,
        base: np.ndarray | None = None,
        offset: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """The mouth for ``mouth`` into ``work`` (same size as the base). ``base`` and ``offset``: draw onto another
        picture of the same face whose mouth sits ``offset`` pixels (dx, dy) from this one's (a frame of footage),
        re-using this rig's mouth geometry."""
        source = self.base if base is None else base
        w = np.asarray(mouth.weights, np.float32)
        total = float(w.sum())
        prm = (w @ _VISEME_MOUTH) / total if total > 1e-6 else _VISEME_MOUTH[0]
        # Quantised (0.25 px of jaw, 1% of spread) so that the geometry of recent shapes is reused.
        jaw_q = round(self._jaw_px * jaw_opening(mouth) * 4)
        spread_q = round(float(prm[1]) * min(1.0, 0.35 + float(mouth.open_amount)) * 100)
        fdx, fdy = offset
        dx, dy = round(fdx), round(fdy)
        x0, y0, x1, y1 = self._m_roi
        if x0 + dx < 0 or y0 + dy < 0 or x1 + dx > self.width or y1 + dy > self.height:
            fdx = fdy = 0.0  # the face moved to the picture's edge: draw where this rig's mouth is
            dx = dy = 0
        x0, y0, x1, y1 = x0 + dx, y0 + dy, x1 + dx, y1 + dy
        roi = work[y0:y1, x0:x1]
        if jaw_q == 0 and spread_q == 0:
            roi[...] = source[y0:y1, x0:x1]
            return
        geo = self._mouth_cache.get((jaw_q, spread_q))
        if geo is None:
            geo = self._mouth_geometry(jaw_q / 4, spread_q / 100)
            if self._cache_size:
                if len(self._mouth_cache) >= self._cache_size:
                    self._mouth_cache.pop(next(iter(self._mouth_cache)))
                self._mouth_cache[(jaw_q, spread_q)] = geo
        map1, map2 = (geo.map1, geo.map2) if not (fdx or fdy) else _shift_maps(geo.map1, geo.map2, fdx, fdy)
        warped = cv2.remap(source, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if jaw_q >= 2:
            # The region sits at a whole-pixel offset; the lips' parting keeps the fraction.
            ry = fdy - dy
            self._paint_inside(warped, self._m_ys, geo.top + ry, geo.bottom + ry, geo.prof, prm)
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
        wjaw = smoothstep((self._m_half_j - dj) / max(self._m_half_j - 0.9 * self._m_half_o, 1.0))
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

    def _draw_eye(self, work: np.ndarray, eye: _Eye, blink: float, gaze: float) -> None:
        x0, y0, x1, y1 = eye.roi
        roi = work[y0:y1, x0:x1]
        if blink < 0.02 and abs(gaze) < 1e-3:
            roi[...] = self.base[y0:y1, x0:x1]
            return
        lid = eye.upper + blink * (eye.lower - eye.upper)  # where the lid's edge is now
        y = eye.ys[:, None]
        top = float(eye.ys[0])
        # Above the lid's edge: the skin between brow and eye, stretched down over the eye.
        stretched = top + (y - top) * (eye.upper - top) / np.maximum(lid - top, 1e-3)
        map_y = np.where((y <= lid) & eye.inside[None, :], stretched, y)
        map_x = eye.xs[None, :] - gaze * eye.width * eye.gaze_mask
        warped = cv2.remap(
            self.base,
            map_x.astype(np.float32),
            map_y.astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if blink > 0.2:
            dark = 0.55 * blink * np.exp(-(((y - lid) / 1.1) ** 2)) * (eye.taper * eye.inside)[None, :]
            warped[:, :, :3] = np.rint(warped[:, :, :3] * (1.0 - dark[..., None])).astype(np.uint8)
        roi[...] = warped
