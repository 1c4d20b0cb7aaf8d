"""A real presenter from their own footage: the prepared idle loop plays as the host's motion, and the mouth is
re-synthesised to the speech frame by frame.

The loop (see :mod:`streamer.avatar.clip`) plays forwards then backwards, so it never jumps; each frame is decoded
when it is shown (one JPEG) and the :class:`~streamer.avatar.face_rig.FaceRig` for that frame's own landmarks moves
the jaw and lips (nothing is re-drawn while the host is silent). The footage's own blinks are kept; when the loop has
none often enough, blinks are added with the eyelid warp. With ``cutout`` (the default) and a folder prepared with
mattes, each frame is laid onto the studio ``background`` through its own matte (selfie segmentation at prepare
time, smoothed over time, feathered), once per loop frame shown; otherwise the clip's own room is shown.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import weakref
from pathlib import Path

import cv2
import numpy as np

from streamer.avatar.clip import PreparedClip, load_prepared, prepared_folder_for
from streamer.avatar.face_rig import JAW_MAX, FaceRig, jaw_opening, mouth_centre
from streamer.avatar.idle import IdleEyes
from streamer.avatar.neural import NeuralFace
from streamer.config import AvatarStyle
from streamer.frames import MouthPose
from streamer.process import lower_thread_priority


def prepared_for(style: AvatarStyle) -> PreparedClip:
    """The prepared folder a persona's ``avatar.clip`` names: the folder itself, or the clip with its folder beside
    it (checked to be prepared from that very file)."""
    if not style.clip:
        raise ValueError("a video avatar needs avatar.clip")
    clip = Path(style.clip)
    if clip.is_dir():
        return load_prepared(clip)
    return load_prepared(prepared_folder_for(clip), clip=clip)


class VideoAvatar:
    """A presenter from a prepared video loop (see the module doc); ``prepared``: already loaded (tests, reuse)."""

    def __init__(
        self,
        style: AvatarStyle,
        *,
        height_px: int,
        seed: int = 0,
        prepared: PreparedClip | None = None,
        bake_studio: bool = False,
    ) -> None:
        if height_px < 64:
            raise ValueError(f"height_px must be at least 64, got {height_px}")
        self.clip = prepared if prepared is not None else prepared_for(style)
        self.height = int(height_px) // 2 * 2
        self.width = max(2, round(self.height * 0.74 / 2.0) * 2)
        sw, sh = self.clip.size
        self._resize = (sw, sh) != (self.width, self.height)
        scale = np.array([self.width / sw, self.height / sh], np.float32)
        self.points = self.clip.points * scale
        """Per loop frame, the face's 478 landmarks in canvas pixels."""
        self._shown: tuple[int, np.ndarray, FaceRig | None] | None = None
        self._backdrop: np.ndarray | None = None
        self.cutout = bool(style.cutout) and self.clip.mattes is not None
        """Whether the presenter is laid onto the studio (needs mattes in the prepared folder)."""
        # The next loop frame is decoded (and laid onto the studio) on a worker while this one is encoded: OpenCV
        # releases the GIL, so the media thread only picks it up.
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="video-avatar")
        weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        self._ahead: dict[int, concurrent.futures.Future[np.ndarray]] = {}
        self._bake_studio = bake_studio
        self._baked: list[bytes] | None = None
        self._baked_for: np.ndarray | None = None
        self.baked = threading.Event()
        """Set once every loop frame has been laid onto the current studio and kept (``bake_studio``)."""
        n = self.clip.frames
        self._period = max(1, 2 * (n - 1))
        self.idle = None if self.clip.blinks else IdleEyes(seed)
        # One rig (the loop's middle frame) makes every mouth shape once; other frames take it shifted to where
        # their own mouth is (the loop is calm: the face moves a little, it does not turn away).
        ref = n // 2
        self._ref = ref
        self._ref_rig = FaceRig(self._frame(ref)[1], self.points[ref], cache=160)
        self._offsets = np.array([mouth_centre(p) for p in self.points]) - self._ref_rig.mouth_centre
        self._neural = NeuralFace(self.points[ref], self.width, self.height)

    def neural_face_input(self) -> np.ndarray:
        """A neural lip-sync engine's face input: the loop's middle frame (see
        :class:`~streamer.avatar.neural.NeuralFace`); its mouths are pasted where each frame's mouth is, as the
        warp's are."""
        return self._neural.face_input(self._picture(self._ref, self._backdrop))

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def bakes(self) -> bool:
        """Whether the loop is being (or has been) laid onto the current studio once (``bake_studio``, cut out, a
        still studio): :attr:`baked` is set when it is done."""
        return self._bake_studio and self.cutout and self._backdrop is not None

    @property
    def fps(self) -> float:
        return self.clip.fps

    def set_backdrop(self, bgr: np.ndarray | None) -> None:
        """The studio behind the presenter (``cutout``); None: cut out onto transparency (premultiplied alpha).
        Without cutout the footage's own room is shown either way."""
        if bgr is not None and bgr.shape[:2] != (self.height, self.width):
            raise ValueError(f"backdrop must be of shape {(self.height, self.width, 3)}, got {bgr.shape}")
        self._backdrop = None if bgr is None else cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2BGRA)
        self._shown = None
        self._ahead = {}  # made for the old studio
        self._baked = None
        self.baked.clear()
        if self.bakes:
            threading.Thread(target=self._bake, args=(self._backdrop,), name="video-avatar-bake", daemon=True).start()

    def frame_index(self, t_s: float) -> int:
        """The loop frame shown at ``t_s``: forwards, then backwards, then forwards again."""
        i = math.floor(t_s * self.clip.fps + 1e-6) % self._period
        n = self.clip.frames
        return i if i < n else self._period - i

    def footage(self, k: int) -> np.ndarray:
        """Loop frame ``k`` as shown with the mouth closed: BGRA of :attr:`size`, opaque."""
        return self._frame(k)[1]

    def blink_amount(self, t_s: float) -> float:
        """Added blink at ``t_s`` (0 when the footage blinks by itself)."""
        return self.idle.blink_amount(t_s) if self.idle is not None else 0.0

    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        """The presenter at ``t_s`` with ``mouth``: a new ``(height, width, 4)`` uint8 BGRA array, opaque unless cut
        out with no backdrop (premultiplied alpha then)."""
        k = self.frame_index(t_s)
        _, base, rig = self._frame(k)
        following = self.frame_index(t_s + 1.0 / self.clip.fps)
        if following != k and following not in self._ahead:
            self._ahead = {i: f for i, f in self._ahead.items() if i == k}  # at most this one and the next
            self._ahead[following] = self._pool.submit(self._picture, following, self._backdrop)
        blink = self.blink_amount(t_s)
        speaking = jaw_opening(mouth) * rig_jaw_px(self.points[k]) >= 0.25
        if not speaking and blink <= 0.0 and mouth.crop is None:
            return base.copy()
        work = base.copy()
        dx, dy = (float(v) for v in self._offsets[k])
        if mouth.crop is not None:  # the neural engine's face, made ahead for this frame
            self._neural.paste(work, base, mouth.crop, offset=(round(dx), round(dy)))
        elif speaking:
            self._ref_rig.draw_mouth(work, mouth, base=base, offset=(dx, dy))
        if blink > 0.0:
            if rig is None:
                rig = FaceRig(base, self.points[k])
                self._shown = (k, base, rig)
            rig.draw_eyes(work, blink, 0.0)
        return work

    def _frame(self, k: int) -> tuple[int, np.ndarray, FaceRig | None]:
        if self._shown is not None and self._shown[0] == k:
            return self._shown
        ready = self._ahead.pop(k, None)
        bgra = ready.result() if ready is not None else self._picture(k, self._backdrop)
        self._shown = (k, bgra, None)
        return self._shown

    def _bake(self, backdrop: np.ndarray) -> None:
        """Lay every loop frame onto this (still) studio once and keep them as JPEG (about 100 kB each): from then on
        a frame shown costs one decode instead of a decode and a blend. At low priority, off the media thread; a new
        studio meanwhile discards the work."""
        lower_thread_priority()
        baked: list[bytes] = []
        for k in range(self.clip.frames):
            if self._backdrop is not backdrop:
                return
            ok, jpeg = cv2.imencode(".jpg", self._picture(k, backdrop, baked=False)[:, :, :3], _BAKE_JPEG)
            if not ok:
                return
            baked.append(jpeg.tobytes())
        if self._backdrop is backdrop:
            self._baked_for, self._baked = backdrop, baked
            self.baked.set()

    def _picture(self, k: int, backdrop: np.ndarray | None, *, baked: bool = True) -> np.ndarray:
        """Loop frame ``k`` at the canvas size, BGRA, on the studio ``backdrop`` when cut out (any thread)."""
        kept = self._baked
        if baked and kept is not None and backdrop is not None and backdrop is self._baked_for:
            laid = cv2.imdecode(np.frombuffer(kept[k], np.uint8), cv2.IMREAD_COLOR)
            return cv2.cvtColor(laid, cv2.COLOR_BGR2BGRA)
        picture = self.clip.decode(k)
        if self._resize:
            shrink = picture.shape[0] > self.height
            interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            picture = cv2.resize(picture, (self.width, self.height), interpolation=interp)
        bgra = cv2.cvtColor(picture, cv2.COLOR_BGR2BGRA)
        if self.cutout and self.clip.mattes is not None:
            if backdrop is not None:
                return self._over_studio(bgra, self.clip.mattes[k], backdrop)
            return self._premultiplied(bgra, self.clip.mattes[k])
        return bgra

    def _premultiplied(self, person: np.ndarray, matte: np.ndarray) -> np.ndarray:
        """``person`` cut out through ``matte`` onto transparency (premultiplied BGRA): a moving studio behind it is
        blended in by the compositor."""
        alpha = cv2.resize(matte, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        out = cv2.multiply(person, cv2.merge([alpha, alpha, alpha, alpha]), scale=1.0 / 255.0)
        out[:, :, 3] = alpha
        return out

    def _over_studio(self, person: np.ndarray, matte: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
        """``person`` laid onto ``backdrop`` through ``matte`` (scaled up): opaque BGRA (both are opaque)."""
        # The matte is feathered when prepared; here it is only scaled up (linear: soft edges). One weighted sum
        # with float weights is the cheapest blend OpenCV has (about 3 ms for a 1080p show's avatar).
        # Only the box around the person is blended; the rest of the canvas is the studio as it is.
        x, y, w, h = cv2.boundingRect(cv2.threshold(matte, 2, 255, cv2.THRESH_BINARY)[1])
        if w == 0 or h == 0:
            return backdrop.copy()
        sx, sy = self.width / matte.shape[1], self.height / matte.shape[0]
        x0, y0 = max(0, int((x - 1) * sx)), max(0, int((y - 1) * sy))
        x1, y1 = min(self.width, math.ceil((x + w + 1) * sx)), min(self.height, math.ceil((y + h + 1) * sy))
        alpha = cv2.resize(matte, (self.width, self.height), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
        a = alpha.astype(np.float32) * np.float32(1.0 / 255.0)
        out = backdrop.copy()
        out[y0:y1, x0:x1] = cv2.blendLinear(person[y0:y1, x0:x1], backdrop[y0:y1, x0:x1], a, 1.0 - a)
        return out


#: The baked loop's JPEG quality: the footage's own JPEGs are re-encoded once, near-losslessly.
_BAKE_JPEG = [int(cv2.IMWRITE_JPEG_QUALITY), 95]


def rig_jaw_px(points: np.ndarray) -> float:
    """The widest jaw drop for a face with these landmarks, in pixels."""
    return JAW_MAX * float(np.linalg.norm(points[10] - points[152]))
