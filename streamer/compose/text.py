"""Font lookup, text measuring and text rendering for the static layers of the picture.

Everything here runs when a layer is (re)built -- a product switch, a notice -- never per frame.

Fonts: DejaVu Sans (Latin, Greek, Cyrillic, currency signs) first, WenQuanYi Micro Hei / Noto CJK for Chinese and
Japanese; the first face that has a glyph for *every* character of a text is used, so a line is never a patchwork of
faces. :func:`font_for` raises :class:`FontNotFoundError` (naming the characters and the files tried) when no installed
face covers a text; callers that must show the text (the AI label) let it propagate, the others use
:func:`font_for_best_effort`.

Prices are formatted by :mod:`streamer.money` (never rounded).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# ---- font faces -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FontFace:
    """One face inside a font file (``index`` selects the face of a ``.ttc`` collection)."""

    path: str
    index: int = 0


class FontNotFoundError(RuntimeError):
    """No installed font has glyphs for all characters of a text."""


_DEJAVU_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
)
_CJK_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
# fc-match names, used only when none of the known paths exists (other distributions, macOS with fontconfig).
_FC_NAMES_BOLD = ("DejaVu Sans:bold", "WenQuanYi Micro Hei", "Noto Sans CJK SC:bold")
_FC_NAMES_REGULAR = ("DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC")


@functools.cache
def _fc_match(pattern: str) -> FontFace | None:
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-f", "%{file}\\n%{index}", pattern], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.strip().splitlines()
    if not lines or not os.path.isfile(lines[0]):
        return None
    index = int(lines[1]) if len(lines) > 1 and lines[1].strip().isdigit() else 0
    return FontFace(lines[0], index)


@functools.cache
def candidate_faces(bold: bool = True) -> tuple[FontFace, ...]:
    """Installed faces in order of preference (Latin first, then CJK). May be empty."""
    names = ("DejaVuSans-Bold.ttf",) if bold else ("DejaVuSans.ttf",)
    found: list[FontFace] = []
    for d in _DEJAVU_DIRS:
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p):
                found.append(FontFace(p))
                break
        if found:
            break
    found += [FontFace(p) for p in _CJK_FILES if os.path.isfile(p)]
    for pattern in _FC_NAMES_BOLD if bold else _FC_NAMES_REGULAR:
        face = _fc_match(pattern)
        if face is not None and face not in found:
            found.append(face)
    return tuple(found)


@functools.lru_cache(maxsize=128)
def load_font(face: FontFace, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(face.path, size=max(1, int(size_px)), index=face.index)


_PROBE_PX = 32
_MISSING = "\U0010fffd"  # a private-use code point no font maps: renders as the face's .notdef glyph


@functools.lru_cache(maxsize=8192)
def _has_glyph(face: FontFace, ch: str) -> bool:
    if unicodedata.category(ch) in {"Zs", "Zl", "Zp", "Cc", "Cf"}:
        return True
    font = load_font(face, _PROBE_PX)
    glyph, notdef = font.getmask(ch), font.getmask(_MISSING)
    return not (glyph.size == notdef.size and bytes(glyph) == bytes(notdef))


def covers(face: FontFace, text: str) -> bool:
    """Whether ``face`` has a real glyph (not the .notdef box) for every character of ``text``."""
    return all(_has_glyph(face, ch) for ch in set(text))


def font_for(text: str, *, bold: bool = True) -> FontFace:
    """The preferred installed face that covers every character of ``text``.

    Raises :class:`FontNotFoundError` naming the uncovered characters and the faces tried.
    """
    faces = candidate_faces(bold)
    for face in faces:
        if covers(face, text):
            return face
    missing = sorted({ch for ch in text if not any(_has_glyph(f, ch) for f in faces)})
    tried = ", ".join(f.path for f in faces) or "none found"
    raise FontNotFoundError(
        f"no installed font can render {text!r} (missing {''.join(missing)!r}); tried: {tried}. "
        "Install fonts-dejavu-core and fonts-wqy-microhei (Debian/Ubuntu)."
    )


def font_for_best_effort(text: str, *, bold: bool = True) -> FontFace:
    """Like :func:`font_for`, but falls back to the face covering the most characters (product text is
    shown even if a rare character becomes a box). Raises :class:`FontNotFoundError` only if no font is installed."""
    faces = candidate_faces(bold)
    if not faces:
        raise FontNotFoundError("no fonts found; install fonts-dejavu-core and fonts-wqy-microhei")
    try:
        return font_for(text, bold=bold)
    except FontNotFoundError:
        return max(faces, key=lambda f: sum(_has_glyph(f, ch) for ch in set(text)))


# ---- measuring and drawing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextImage:
    """A rendered line of text: ``mask`` is the coverage (0..255) of its ink box.

    ``left``/``top`` place the ink box relative to the pen origin on the baseline (``top`` is negative: above the
    baseline); ``advance`` is the pen advance in pixels.
    """

    mask: np.ndarray
    left: int
    top: int
    advance: float

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])


@functools.lru_cache(maxsize=64)
def is_bold_face(face: FontFace) -> bool:
    return (
        "bold" in (load_font(face, _PROBE_PX).getname()[1] or "").lower()
        or "bold" in os.path.basename(face.path).lower()
    )


def render_line(text: str, *, size_px: int, face: FontFace | None = None, bold: bool = True) -> TextImage:
    """Render one line to a coverage mask (Pillow/FreeType, anti-aliased). With ``bold`` and a face that has no
    bold weight (WenQuanYi Micro Hei), strokes are thickened a little so CJK text keeps the same visual weight."""
    face = face or font_for_best_effort(text, bold=bold)
    font = load_font(face, size_px)
    stroke = max(1, round(size_px / 32)) if bold and not is_bold_face(face) else 0
    left, top, right, bottom = font.getbbox(text, anchor="ls", stroke_width=stroke)
    w, h = max(1, int(right - left)), max(1, int(bottom - top))
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text(
        (-left, -top), text, font=font, fill=255, anchor="ls", stroke_width=stroke, stroke_fill=255
    )
    return TextImage(np.asarray(img, dtype=np.uint8).copy(), int(left), int(top), float(font.getlength(text)))


def ink_height(text: str, *, size_px: int, face: FontFace) -> int:
    """Height in pixels of the inked part of ``text`` (top of the tallest glyph to the lowest descender)."""
    _, top, _, bottom = load_font(face, size_px).getbbox(text, anchor="ls")
    return int(bottom - top)


def size_for_ink_height(text: str, ink_px: int, *, face: FontFace) -> int:
    """The smallest font size (px) whose ink height for ``text`` is at least ``ink_px``."""
    size = max(4, int(ink_px))
    while ink_height(text, size_px=size, face=face) > ink_px and size > 4:
        size -= 1
    while ink_height(text, size_px=size, face=face) < ink_px:
        size += 1
    return size


@functools.lru_cache(maxsize=16384)
def _length(face: FontFace, size_px: int, text: str) -> float:
    return float(load_font(face, size_px).getlength(text))


def text_width(text: str, *, size_px: int, face: FontFace) -> float:
    """Pen advance of ``text`` in pixels (cached: layouts measure the same prefixes many times)."""
    return _length(face, size_px, text)


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in {"W", "F"}


#: Characters a line must not start with (closing punctuation, CJK and Latin): they stay with what precedes them.
_NO_LINE_START = frozenset("，。、；：！？）」』】》〉”’％,.;:!?)]}%…")


def _tokens(text: str) -> list[str]:
    """Break opportunities: after spaces, and between wide (CJK) characters; never before closing punctuation."""
    out: list[str] = []
    cur = ""
    for ch in text:
        if ch in _NO_LINE_START and not cur and out and not out[-1].endswith(" "):
            out[-1] += ch  # "送完即止。" keeps its full stop on the same line
        elif _is_wide(ch):
            if cur:
                out.append(cur)
                cur = ""
            out.append(ch)
        elif ch == " ":
            cur += ch
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def wrap(text: str, *, size_px: int, face: FontFace, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap (character wrap for CJK) into at most ``max_lines`` lines; the last line ends in an
    ellipsis when text was cut. A single word longer than a line is cut by characters."""
    font = load_font(face, size_px)
    toks = _tokens(" ".join(text.split()))
    lines: list[str] = []
    cur = ""
    i = 0
    while i < len(toks):
        trial = cur + toks[i]
        if font.getlength(trial.rstrip()) <= max_width:
            cur = trial
            i += 1
            continue
        if cur:
            lines.append(cur.rstrip())
            cur = ""
        else:  # one token wider than a line: cut it by characters
            tok = toks[i]
            k = len(tok)
            while k > 1 and font.getlength(tok[:k]) > max_width:
                k -= 1
            lines.append(tok[:k])
            toks[i] = tok[k:]
        if len(lines) == max_lines:
            if "".join(toks[i:]).strip():
                lines[-1] = ellipsize(lines[-1], size_px=size_px, face=face, max_width=max_width, force=True)
            return lines
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def wrap_all(text: str, *, size_px: int, face: FontFace, max_width: float) -> list[str]:
    """Greedy word wrap (character wrap for CJK) that never drops or shortens anything: every line fits
    ``max_width`` and :func:`join_lines` of the result gives back ``text`` (whitespace normalised). Only a single
    word wider than a whole line is broken inside (by characters), never elided."""
    toks = _tokens(" ".join(text.split()))
    lines: list[str] = []
    cur = ""
    i = 0
    while i < len(toks):
        trial = cur + toks[i]
        if _length(face, size_px, trial.rstrip()) <= max_width:
            cur = trial
            i += 1
            continue
        if cur:
            lines.append(cur)
            cur = ""
            continue
        tok = toks[i]  # one token wider than a line: break it by characters
        k = len(tok)
        while k > 1 and _length(face, size_px, tok[:k]) > max_width:
            k -= 1
        lines.append(tok[:k])
        toks[i] = tok[k:]
    if cur:
        lines.append(cur)
    # A line keeps its trailing space until here so that the join below knows which breaks were at spaces.
    out: list[str] = []
    for ln in lines:
        out.append(ln.rstrip() + (" " if ln.endswith(" ") else ""))
    return [ln for ln in out if ln.strip()]


def join_lines(lines: list[str] | tuple[str, ...]) -> str:
    """The text that :func:`wrap_all` lines came from: lines are concatenated as they are (a line broken at a space
    still ends in that space), then the trailing space is dropped."""
    return "".join(lines).rstrip()


#: Clause boundaries for splitting a long offer into pieces shown one after the other: after a comma, semicolon,
#: colon, full stop, dash or CJK punctuation.
_CLAUSE_END = re.compile(r"(?<=[,;:.!?])\s+|\s+(?=[—–]\s)|(?<=[，。；：！？、])\s*")


def split_clauses(text: str) -> list[str]:
    """``text`` (whitespace normalised) cut into clauses, each keeping its punctuation and the space after it, so
    that ``"".join(split_clauses(t)).rstrip() == " ".join(t.split())``. A decimal point ("29.90") is no boundary."""
    norm = " ".join(text.split())
    pieces: list[str] = []
    start = 0
    for m in _CLAUSE_END.finditer(norm):
        end = m.end()
        if end <= start or end >= len(norm):
            continue
        pieces.append(norm[start:end])
        start = end
    if start < len(norm):
        pieces.append(norm[start:])
    return [p for p in pieces if p.strip()]


def ellipsize(
    text: str, *, size_px: int, face: FontFace, max_width: float, force: bool = False, at_word: bool = False
) -> str:
    """``text`` shortened with a trailing ellipsis so it fits ``max_width`` (``force``: always end in one).
    ``at_word``: cut at a word boundary (for Latin text), so no word is shown half."""
    font = load_font(face, size_px)
    if not force and font.getlength(text) <= max_width:
        return text
    ell = "…" if _has_glyph(face, "…") else "..."
    t = text.rstrip()
    while t and font.getlength(t + ell) > max_width:
        if at_word and " " in t and not _is_wide(t[-1]):
            t = t[: t.rstrip().rfind(" ")].rstrip(" ,;:-–—")
        else:
            t = t[:-1].rstrip()
    if at_word:  # "stages and a…" reads as cut mid-thought: end on a content word
        while " " in t and t.rsplit(" ", 1)[1].lower() in _DANGLING:
            t = t.rsplit(" ", 1)[0].rstrip(" ,;:-–—")
    return t + ell


_DANGLING = frozenset("a an the and or of for with to in on at by from per".split())


def draw_line(
    dst_bgr: np.ndarray,
    text: str,
    origin: tuple[float, float],
    *,
    size_px: int,
    colour_bgr: tuple[int, int, int],
    face: FontFace | None = None,
    bold: bool = True,
    opacity: float = 1.0,
) -> tuple[int, int, int, int]:
    """Draw ``text`` with its pen origin (left end of the baseline) at ``origin``; returns the ink box (x, y, w, h)."""
    img = render_line(text, size_px=size_px, face=face, bold=bold)
    x, y = round(origin[0]) + img.left, round(origin[1]) + img.top
    blend_mask(dst_bgr, img.mask, x, y, colour_bgr, opacity)
    return x, y, img.width, img.height


def blend_mask(
    dst_bgr: np.ndarray, mask: np.ndarray, x: int, y: int, colour_bgr: tuple[int, int, int], opacity: float = 1.0
) -> None:
    """Paint ``colour_bgr`` into ``dst_bgr`` through a coverage ``mask`` placed with its top-left at (x, y)."""
    h, w = mask.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, dst_bgr.shape[1]), min(y + h, dst_bgr.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    a = mask[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)[..., None] * (opacity / 255.0)
    roi = dst_bgr[y0:y1, x0:x1].astype(np.float32)
    col = np.asarray(colour_bgr, np.float32)
    dst_bgr[y0:y1, x0:x1] = np.clip(roi + (col - roi) * a + 0.5, 0, 255).astype(np.uint8)
