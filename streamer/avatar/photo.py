"""A real presenter from one portrait: lips on the voice's visemes, blinks, gaze, a little head motion.

Outside the mouth and the eyes every pixel is the photo's own (moved only by the small head pose), so the face stays
the presenter's. The portrait is read once (:mod:`streamer.avatar.portrait`: one face, 478 landmarks, the person's
outline) and everything that does not move is prepared then. Per frame the :class:`~streamer.avatar.face_rig.FaceRig`
re-samples the mouth and eye regions (mouth geometry of recent shapes is cached), then the head region (face, hair,
neck) is moved by a small turn, sway and breath about the chin and feathered into the still body at the neck; with
``cutout`` the person is laid onto the studio backdrop through the selfie-segmentation matte (soft edge, edge colours
taken from inside the person so no halo of the old room remains), the still part once and the head region per frame.
Blinks come every 2-6 s (about 0.22 s); between them the eyes drift a little.

:meth:`PhotoAvatar.render` is a pure function of ``(t_s, mouth)``, like the cartoon's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from streamer.avatar.face_rig import FaceRig, jaw_opening, smoothstep
from streamer.avatar.idle import IdleEyes, u01
from streamer.avatar.neural import NeuralFace
from streamer.avatar.portrait import CHIN, FACE_OVAL, Portrait, read_portrait
from streamer.config import AvatarStyle
from streamer.frames import MouthPose

__all__ = ["PhotoAvatar", "jaw_opening"]

#: Where the face sits in the canvas: forehead-to-chin height and eye line, as shares of the canvas height.
FACE_SHARE = 0.3
EYE_LINE = 0.37
#: Mouth shapes whose geometry is kept (~130 KB each at 720p).
_MOUTH_CACHE = 160


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
        self.rig = FaceRig(self._base4, self.points, cache=_MOUTH_CACHE)
        self._phases = [2 * math.pi * u01(self.seed, i, 7) for i in range(6)]
        self.idle = IdleEyes(self.seed)
        self._backdrop: np.ndarray | None = None
        self._neural = NeuralFace(self.points, self.width, self.height)
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

    # ---- the Avatar contract -------------------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every rendered picture, both even."""
        return (self.width, self.height)

    @property
    def mouth_region(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the canvas the mouth and jaw animation may change (head at rest)."""
        return self.rig.mouth_region

    @property
    def eye_regions(self) -> list[tuple[int, int, int, int]]:
        """(x0, y0, x1, y1) of each eye's region that blinks and gaze change (head at rest)."""
        return self.rig.eye_regions

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
        if mouth.crop is not None:
            self._neural.paste(self._work, self._base4, mouth.crop)
        else:
            self.rig.draw_mouth(self._work, mouth)
        self.rig.draw_eyes(self._work, self.blink_amount(t_s), self.gaze(t_s))
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

    # ---- the neural lip-sync engine's face -------------------------------------------------------------------------

    def neural_face_input(self) -> np.ndarray:
        """The neural engine's face input, (6, 96, 96) float32 0..1 (see
        :class:`~streamer.avatar.neural.NeuralFace`)."""
        return self._neural.face_input(self.base)

    def _prepare_head(self) -> None:
        """The region that moves with the head (face, hair, neck, and the mouth and eye regions inside it), and its
        weight: 1 over the head, fading to 0 towards the shoulders and the region's sides."""
        fh = self.face_height
        cx = float(self.points[1, 0])
        chin = float(self.points[CHIN, 1])
        top = float(self.points[10, 1]) - 0.8 * fh
        mx0, my0, mx1, my1 = self.rig.mouth_region
        x0 = int(max(0, min(math.floor(cx - 0.95 * fh), mx0)))
        x1 = int(min(self.width, max(math.ceil(cx + 0.95 * fh), mx1)))
        y0 = int(max(0, min(math.floor(top), my0)))
        y1 = int(min(self.height, max(math.ceil(chin + 0.45 * fh), my1)))
        self._h_roi = (x0, y0, x1, y1)
        ys = np.arange(y0, y1, dtype=np.float32)
        xs = np.arange(x0, x1, dtype=np.float32)
        wy = smoothstep((y1 - ys) / max(y1 - (chin + 0.1 * fh), 1.0))
        if y0 > 0:
            wy = wy * smoothstep((ys - y0) / (0.15 * fh))
        wx = smoothstep(np.minimum(xs - x0 if x0 > 0 else 1e9, x1 - xs if x1 < self.width else 1e9) / (0.15 * fh))
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
        return self.idle.blink_amount(t_s)

    def blink_times(self, t0_s: float, t1_s: float) -> list[float]:
        """Start times of the blinks in ``[t0_s, t1_s)``."""
        return self.idle.blink_times(t0_s, t1_s)

    def gaze(self, t_s: float) -> float:
        """Horizontal eyeball offset at ``t_s``, as a share of the eye's width."""
        return self.idle.gaze(t_s)
