"""Preparing a presenter's video once (``run_stream.py prepare-avatar``) and reading the prepared folder back.

The clip is analysed frame by frame (face mesh landmarks, shot cuts, mouth opening, eye openness); a calm stretch
with one face in every frame, no cut and the mouth closed is chosen as the idle loop (played forwards then backwards,
so it never jumps); its landmarks are smoothed over time; its frames are framed like the photo avatar (face about a
third of the height), stored as JPEG in one file with an index, next to the landmarks and a ``meta.json``. Loading
reads three files (tens of MB at most) and decodes nothing: frames are decoded one at a time as they are shown.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.avatar.photo import EYE_LINE, FACE_SHARE
from streamer.avatar.portrait import CHIN, FOREHEAD, AvatarFileError, FaceMesher, eye_aspect_ratio, inner_lip_opening

#: Bumped when the folder's layout changes. 2 adds the person's matte per loop frame (``mattes.npz``); a version 1
#: folder still loads (the avatar then shows the clip's own room).
FORMAT_VERSION = 2
_READABLE_FORMATS = (1, 2)
#: Mattes are stored at this fraction of the frame size (soft edges lose nothing; the folder stays small).
MATTE_SCALE = 0.5
#: The idle loop's length (played forwards then backwards: twice as long before it repeats).
LOOP_S = (4.0, 10.0)
#: At most this much of the clip is analysed.
MAX_ANALYSED_S = 240.0
#: A frame whose picture differs from the one before by more than this many times the clip's median change (and by
#: at least MIN_CUT_DIFF grey levels) starts a new shot.
CUT_FACTOR = 8.0
MIN_CUT_DIFF = 12.0
#: Share of frames that must show one face.
MIN_FACE_SHARE = 0.6
JPEG_QUALITY = 92


class ClipError(AvatarFileError):
    """The clip (or a prepared folder) cannot be used."""

    field = "avatar.clip"


@dataclass(slots=True)
class PreparedClip:
    """A prepared folder, loaded: the loop's frames (JPEG bytes, decoded on demand) and their smoothed landmarks."""

    folder: Path
    fps: float
    size: tuple[int, int]  # (width, height) of the stored frames
    jpegs: list[bytes]
    points: np.ndarray  # (n, 478, 2) float32, in stored-frame pixels
    blinks: bool  # whether the loop has blinks of its own often enough
    meta: dict[str, object]
    mattes: np.ndarray | None = None
    """(n, h', w') uint8: where the person is in each loop frame (selfie segmentation, smoothed over time), at
    :data:`MATTE_SCALE` of the frame size; None for a folder prepared before mattes were stored."""

    @property
    def frames(self) -> int:
        return len(self.jpegs)

    def decode(self, k: int) -> np.ndarray:
        picture = cv2.imdecode(np.frombuffer(self.jpegs[k], np.uint8), cv2.IMREAD_COLOR)
        if picture is None:
            raise ClipError(self.folder, f"frame {k} of the prepared loop cannot be decoded")
        return picture


def _decode(path: Path, max_s: float) -> Iterator[tuple[float, np.ndarray]]:
    """(fps, BGR frame) for each frame of the clip, up to ``max_s`` seconds."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise ClipError(path, f"not a video FFmpeg can read ({exc})") from exc
    with container:
        if not container.streams.video:
            raise ClipError(path, "has no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        n = 0
        try:
            for frame in container.decode(stream):
                yield fps, frame.to_ndarray(format="bgr24")
                n += 1
                if n >= max_s * fps:
                    break
        except av.FFmpegError as exc:
            if not n:
                raise ClipError(path, f"cannot be decoded ({exc})") from exc


def _smooth(points: np.ndarray, radius: int = 2) -> np.ndarray:
    """A centred moving average over time (edges use what exists): landmark jitter off, motion kept."""
    n = points.shape[0]
    out = np.empty_like(points)
    csum = np.concatenate([np.zeros((1, *points.shape[1:]), np.float64), np.cumsum(points, axis=0, dtype=np.float64)])
    for i in range(n):
        a, b = max(0, i - radius), min(n, i + radius + 1)
        out[i] = (csum[b] - csum[a]) / (b - a)
    return out.astype(np.float32)


def _choose_loop(
    fps: float, ok: np.ndarray, cut: np.ndarray, lips: np.ndarray, speed: np.ndarray, shut: np.ndarray
) -> tuple[int, int]:
    """The calmest stretch: every frame with a face, no cut inside, mouth closed, little motion; blinks welcome."""
    n = ok.shape[0]
    length = int(min(max(LOOP_S[0], min(LOOP_S[1], n / fps)), LOOP_S[1]) * fps)
    length = min(length, n)
    best: tuple[float, int] | None = None
    step = max(1, int(fps / 2))
    for a in range(0, n - length + 1, step):
        b = a + length
        if not ok[a:b].all() or cut[a + 1 : b].any():
            continue
        blink_bonus = 0.02 if shut[a:b].any() else 0.0
        score = float(np.mean(lips[a:b])) + 0.5 * float(np.mean(speed[a:b])) - blink_bonus
        if best is None or score < best[0]:
            best = (score, a)
    if best is None:
        raise ValueError(f"no stretch of {length / fps:.1f} s with one face in every frame and no cut")
    return best[1], best[1] + length


def prepare_clip(clip: str | Path, out_dir: str | Path, *, height_px: int = 620) -> dict[str, object]:
    """Analyse ``clip`` and write the prepared folder ``out_dir`` for a canvas ``height_px`` tall (the avatar's
    height in the show: 620 at 720p, 928 at 1080p; other sizes are scaled when shown). Returns the meta data.
    Raises :class:`ClipError` for a clip that cannot be used (unreadable, no face in most frames, no calm stretch
    without a cut)."""
    clip = Path(clip)
    out = Path(out_dir)
    if not clip.is_file():
        raise ClipError(clip, "file not found")
    t0 = time.perf_counter()
    # Pass 1: landmarks and a thumbnail per frame (the frames themselves are not kept: minutes of video).
    rates: list[float] = []
    found: list[np.ndarray | None] = []
    small: list[np.ndarray] = []
    shape = (0, 0)
    with FaceMesher(static=False, max_faces=2) as mesher:
        for rate, frame in _decode(clip, MAX_ANALYSED_S):
            rates.append(rate)
            shape = (int(frame.shape[0]), int(frame.shape[1]))
            faces = mesher.landmarks(frame)
            found.append(faces[0] if len(faces) == 1 else None)
            small.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (64, 36), interpolation=cv2.INTER_AREA))
    n = len(found)
    fps = rates[0] if rates else 30.0
    if n < 2:
        raise ClipError(clip, "has fewer than two frames")
    ok = np.array([f is not None for f in found])
    points = np.stack([f if f is not None else np.zeros((478, 2), np.float32) for f in found]).astype(np.float32)
    if ok.mean() < MIN_FACE_SHARE:
        raise ClipError(
            clip,
            f"one face in only {ok.mean():.0%} of the frames (needs {MIN_FACE_SHARE:.0%}); film the presenter alone",
        )
    diff = np.zeros(n, np.float32)
    for i in range(1, n):
        diff[i] = float(np.mean(cv2.absdiff(small[i], small[i - 1])))
    median = float(np.median(diff[1:])) if n > 1 else 0.0
    cut = diff > max(MIN_CUT_DIFF, CUT_FACTOR * median)
    lips = np.array([inner_lip_opening(p) if k else 1.0 for p, k in zip(points, ok, strict=True)], np.float32)
    ear = np.array([eye_aspect_ratio(p) if k else 0.0 for p, k in zip(points, ok, strict=True)], np.float32)
    open_ear = float(np.median(ear[ok])) if ok.any() else 0.0
    shut = ok & (ear < 0.6 * open_ear)
    face_h = np.linalg.norm(points[:, FOREHEAD] - points[:, CHIN], axis=1)
    speed = np.zeros(n, np.float32)
    speed[1:] = np.linalg.norm(points[1:, 1] - points[:-1, 1], axis=1) / np.maximum(face_h[1:], 1.0)
    try:
        a, b = _choose_loop(fps, ok, cut, lips, speed, shut)
    except ValueError as exc:
        cuts = int(cut.sum())
        why = f"{exc} ({cuts} cut{'s' if cuts != 1 else ''} found)" if cuts else str(exc)
        raise ClipError(clip, why) from exc
    loop_points = _smooth(points[a:b])

    # One framing for the whole loop, from the median face: the presenter's own motion stays in the picture.
    h = int(height_px) // 2 * 2
    w = max(2, round(h * 0.74 / 2.0) * 2)
    fh, fw = shape
    face = float(np.median(face_h[a:b]))
    s = max(FACE_SHARE * h / max(face, 1.0), w / fw, h / fh)
    nose_x = float(np.median(loop_points[:, 1, 0])) * s
    eye_y = float(np.median(0.5 * (loop_points[:, 33, 1] + loop_points[:, 263, 1]))) * s
    nw, nh = max(w, math.ceil(fw * s)), max(h, math.ceil(fh * s))
    ox = round(min(max(nose_x - w / 2, 0.0), nw - w))
    oy = round(min(max(eye_y - EYE_LINE * h, 0.0), nh - h))
    interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_CUBIC
    jpegs: list[bytes] = []
    mattes: list[np.ndarray] = []
    matte_size = (max(2, round(w * MATTE_SCALE)), max(2, round(h * MATTE_SCALE)))
    # Pass 2: only the loop's frames, framed and stored, with where the person is in each.
    with _Segmenter() as segmenter:
        for i, (_, frame) in enumerate(_decode(clip, b / fps + 1.0)):
            if i < a:
                continue
            if i >= b:
                break
            scaled = cv2.resize(frame, (nw, nh), interpolation=interp)
            crop = np.ascontiguousarray(scaled[oy : oy + h, ox : ox + w])
            good, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not good:
                raise ClipError(clip, "a frame could not be stored as JPEG")
            jpegs.append(data.tobytes())
            mattes.append(cv2.resize(segmenter.person(crop), matte_size, interpolation=cv2.INTER_AREA))
    if len(jpegs) != b - a:
        raise ClipError(clip, "decoded differently the second time (a damaged file?)")
    stored_points = loop_points * np.float32(s) - np.array([ox, oy], np.float32)

    loop_s = (b - a) / fps
    starts = [i for i in range(a, b) if shut[i] and (i == a or not shut[i - 1])]
    blink_times = [(i - a) / fps for i in starts]
    # Played forwards then backwards, a blink at t also shows at 2 * loop - t: blinks must come every 8 s.
    seen = sorted([*blink_times, *(2 * loop_s - t for t in blink_times)])
    own_blinks = bool(seen) and float(max(np.diff([0.0, *seen, 2 * loop_s]))) <= 8.0
    out.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0, *(len(j) for j in jpegs)]).astype(np.int64)
    (out / "frames.bin").write_bytes(b"".join(jpegs))
    np.save(out / "index.npy", offsets)
    np.save(out / "landmarks.npy", stored_points.astype(np.float32))
    np.savez_compressed(out / "mattes.npz", mattes=_smooth_mattes(mattes))
    stat = clip.stat()
    meta: dict[str, object] = {
        "format": FORMAT_VERSION,
        "clip": clip.name,
        "clip_bytes": stat.st_size,
        "clip_mtime": int(stat.st_mtime),
        "fps": fps,
        "size": [w, h],
        "analysed_frames": n,
        "face_found_share": round(float(ok.mean()), 3),
        "cuts": int(cut.sum()),
        "loop_frames": [a, b],
        "loop_s": round(loop_s, 2),
        "own_blinks_s": [round(t, 2) for t in blink_times],
        "blinks_from_footage": own_blinks,
        "median_frame_change": round(median, 3),
        "mattes": True,
        "prepare_s": round(time.perf_counter() - t0, 2),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def load_prepared(folder: str | Path, *, clip: str | Path | None = None) -> PreparedClip:
    """Read a prepared folder (fast: no decoding). With ``clip``, also check that the folder was prepared from that
    very file (same size and modification time), else say how to prepare it."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    again = f"prepare it with: run_stream.py prepare-avatar {clip or '<clip>'} -o {folder}"
    if not meta_path.is_file():
        raise ClipError(folder, f"not a prepared avatar folder (no meta.json); {again}")
    try:
        meta = json.loads(meta_path.read_text())
        offsets = np.load(folder / "index.npy")
        points = np.load(folder / "landmarks.npy")
        data = (folder / "frames.bin").read_bytes()
    except (OSError, ValueError) as exc:
        raise ClipError(folder, f"cannot be read ({exc}); {again}") from exc
    if meta.get("format") not in _READABLE_FORMATS:
        raise ClipError(folder, f"was prepared by another version of livehost; {again}")
    if clip is not None:
        stat = Path(clip).stat()
        if (meta.get("clip_bytes"), meta.get("clip_mtime")) != (stat.st_size, int(stat.st_mtime)):
            raise ClipError(folder, f"was prepared from another version of {Path(clip).name}; {again}")
    jpegs = [data[int(offsets[i]) : int(offsets[i + 1])] for i in range(len(offsets) - 1)]
    if not jpegs or points.shape != (len(jpegs), 478, 2):
        raise ClipError(folder, f"is incomplete; {again}")
    size = meta.get("size", [0, 0])
    mattes = None
    if (folder / "mattes.npz").is_file():
        try:
            with np.load(folder / "mattes.npz") as stored:
                mattes = np.asarray(stored["mattes"], np.uint8)
        except (OSError, ValueError, KeyError) as exc:
            raise ClipError(folder, f"its mattes cannot be read ({exc}); {again}") from exc
        if mattes.ndim != 3 or mattes.shape[0] != len(jpegs):
            raise ClipError(folder, f"its mattes do not match its frames; {again}")
    return PreparedClip(
        folder=folder,
        fps=float(meta.get("fps", 30.0)),
        size=(int(size[0]), int(size[1])),
        jpegs=jpegs,
        points=points.astype(np.float32),
        blinks=bool(meta.get("blinks_from_footage", False)),
        meta=meta,
        mattes=mattes,
    )


class _Segmenter:
    """Selfie segmentation (the model inside the mediapipe wheel) over a clip's frames, in video mode."""

    def __enter__(self) -> _Segmenter:
        import mediapipe as mp

        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        return self

    def __exit__(self, *exc: object) -> None:
        self._seg.close()

    def person(self, bgr: np.ndarray) -> np.ndarray:
        """uint8 (h, w): 255 where the person is."""
        mask = self._seg.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).segmentation_mask
        if mask is None:
            return np.full(bgr.shape[:2], 255, np.uint8)
        return np.clip(np.rint(np.asarray(mask, np.float32) * 255.0), 0, 255).astype(np.uint8)


def _smooth_mattes(mattes: list[np.ndarray]) -> np.ndarray:
    """Each matte feathered (a soft edge, no halo line) and averaged with its neighbours in time (1-2-1): the edge
    does not flicker from frame to frame. Done once here so that the show only scales them up."""
    stack = np.stack([cv2.GaussianBlur(m, (0, 0), 1.0) for m in mattes]).astype(np.float32)
    if stack.shape[0] < 3:
        return np.clip(np.rint(stack), 0, 255).astype(np.uint8)
    out = stack.copy()
    out[1:-1] = 0.25 * stack[:-2] + 0.5 * stack[1:-1] + 0.25 * stack[2:]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def prepared_folder_for(clip: str | Path) -> Path:
    """Where a clip's prepared folder is looked for when the persona names the clip itself: beside it."""
    clip = Path(clip)
    return clip.with_name(clip.stem + ".avatar")
