"""Reading a presenter's portrait once: one face, its 478 mesh landmarks (with irises), and the person's outline.

Everything here runs once per portrait (at ``check`` and when the look is built), never per output frame. The models
are the ones inside the ``mediapipe`` 0.10.21 wheel (legacy ``solutions`` API): BlazeFace full-range detection to
count faces, the face mesh with refined iris landmarks, and selfie segmentation. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: Smallest usable face: forehead-to-chin height in the portrait, in pixels. The face is shown about 190 px tall in
#: a 720p frame, so this allows at most ~2x enlargement; below it the lips are only a few pixels high. (A common
#: 512 px head-and-shoulders shot, like scikit-image's astronaut, measures ~106 px.)
MIN_FACE_HEIGHT_PX = 96

#: A second face counts when the detector is at least this sure (posters and reflections score lower).
SECOND_FACE_SCORE = 0.6


class AvatarFileError(ValueError):
    """A file an avatar needs (portrait, clip, prepared folder, lip-sync model) cannot be used; the message names the
    file and what is wrong with it. ``field``: the persona field that names the file."""

    field = "avatar"

    def __init__(self, path: str | Path, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = str(path)
        self.cause = cause


class PortraitError(AvatarFileError):
    """The portrait cannot be used."""

    field = "avatar.image"


# ---- landmark indices of the MediaPipe face mesh (canonical topology) --------------------------------------------

FOREHEAD = 10
CHIN = 152
NOSE_BASE = 2
#: Inner lip contours, from the image-left inner corner (78) to the image-right one (308).
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
#: Outer lip contours, from the image-left corner (61) to the image-right one (291).
UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
#: The lower face outline, image-left jaw angle to image-right jaw angle through the chin.
JAW = (172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397)
#: Face outline (closed).
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EyeLandmarks:
    """One eye's landmarks: corners (outer, inner), upper and lower lid from corner to corner, iris centre."""

    corners: tuple[int, int]
    upper: tuple[int, ...]
    lower: tuple[int, ...]
    iris: int


#: Eyes, image-left then image-right.
EYES = (
    EyeLandmarks(
        (33, 133), (33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133), 468
    ),
    EyeLandmarks(
        (263, 362), (362, 398, 384, 385, 386, 387, 388, 466, 263), (362, 382, 381, 380, 374, 373, 390, 249, 263), 473
    ),
)  # fmt: skip


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes from (478, 2) landmarks: lid opening over eye width (~0.25-0.35 open,
    under ~0.12 shut)."""

    def one(p1: int, p2: int, p3: int, p5: int, p6: int, p4: int) -> float:
        a = float(np.linalg.norm(points[p2] - points[p6]) + np.linalg.norm(points[p3] - points[p5]))
        return a / (2.0 * max(float(np.linalg.norm(points[p1] - points[p4])), 1e-6))

    return 0.5 * (one(33, 160, 158, 153, 144, 133) + one(362, 385, 387, 373, 380, 263))


#: Facing pairs of inner-lip landmarks (upper, lower) across the middle of the mouth.
_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))


def inner_lip_opening(points: np.ndarray) -> float:
    """Gap between the inner lips across the middle of the mouth (three facing pairs averaged, which steadies the
    measure on compressed video), as a share of forehead-to-chin height."""
    face = float(np.linalg.norm(points[FOREHEAD] - points[CHIN]))
    gaps = [float(np.linalg.norm(points[a] - points[b])) for a, b in _LIP_PAIRS]
    return sum(gaps) / len(gaps) / max(face, 1e-6)


class FaceMesher:
    """The face mesh (478 points with irises) on BGR pictures. For portraits (``static=True``) and for reading
    frames back in measurements (``static=False``: tracks between consecutive frames)."""

    def __init__(self, *, static: bool = True, max_faces: int = 1) -> None:
        import mediapipe as mp

        # (TFLite prints a few INFO/W lines straight to stderr as the graph starts: native code, not our log.)
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static, max_num_faces=max_faces, refine_landmarks=True, min_detection_confidence=0.5
        )

    def landmarks(self, bgr: np.ndarray) -> list[np.ndarray]:
        """One (478, 2) float32 array of pixel positions per face found."""
        h, w = bgr.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(bgr[:, :, ::-1]))
        faces = result.multi_face_landmarks or []
        return [np.array([(p.x * w, p.y * h) for p in f.landmark], np.float32) for f in faces]

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceMesher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(slots=True)
class Portrait:
    """A usable portrait: the picture (BGR), the face's landmarks in its pixels, and the person's outline."""

    path: str
    image: np.ndarray  # (h, w, 3) uint8 BGR
    points: np.ndarray  # (478, 2) float32, pixels
    person: np.ndarray  # (h, w) float32 0..1, selfie segmentation

    @property
    def face_height_px(self) -> float:
        return float(np.linalg.norm(self.points[FOREHEAD] - self.points[CHIN]))


def read_portrait(path: str | Path, *, segment: bool = True) -> Portrait:
    """Load ``path`` and find exactly one face of usable size in it; raises :class:`PortraitError` naming the file
    and the problem (unreadable, no face, several faces, face too small)."""
    path = Path(path)
    if not path.is_file():
        raise PortraitError(path, "file not found")
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise PortraitError(path, "not a picture OpenCV can read (use JPEG or PNG)")
    import mediapipe as mp

    rgb = np.ascontiguousarray(image[:, :, ::-1])
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as detector:
        detections = detector.process(rgb).detections or []
    sure = [d for d in detections if d.score and d.score[0] >= SECOND_FACE_SCORE]
    if len(sure) > 1:
        raise PortraitError(path, f"{len(sure)} faces found; crop the picture to the one presenter")
    with FaceMesher(static=True, max_faces=2) as mesher:
        faces = mesher.landmarks(image)
    if not faces:
        raise PortraitError(path, "no face found (a front-facing head-and-shoulders picture works best)")
    if len(faces) > 1:
        raise PortraitError(path, f"{len(faces)} faces found; crop the picture to the one presenter")
    points = faces[0]
    height = float(np.linalg.norm(points[FOREHEAD] - points[CHIN]))
    if height < MIN_FACE_HEIGHT_PX:
        raise PortraitError(
            path,
            f"the face is {height:.0f} px from forehead to chin, under the {MIN_FACE_HEIGHT_PX} px needed; "
            "use a larger or closer picture",
        )
    person = np.ones(image.shape[:2], np.float32)
    if segment:
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
            mask = seg.process(rgb).segmentation_mask
        if mask is not None:
            person = np.clip(np.asarray(mask, np.float32), 0.0, 1.0)
    return Portrait(path=str(path), image=image, points=points, person=person)
