"""Product pictures: resolve a sheet's ``image`` reference, decode it to BGR, or draw a placeholder tile.

A reference is one of:

* a path relative to the product file's folder (``images/mug.jpg``) or an absolute path;
* an ``http(s)://`` URL (use :func:`read_image_async` on the event loop; the sync functions fetch with
  ``urllib`` and block, which is fine for the ``check`` command);
* ``package:<module>/<path inside it>``, read through :mod:`importlib.resources`
  (``package:skimage/data/coffee.png``).

:func:`read_image` raises :class:`ImageLoadError` with a human reason and hint; :func:`load_product_image` logs
that reason and returns ``None`` so a card can fall back to :func:`placeholder_image` (a neutral "No image" tile).
Decoding goes through Pillow (OpenCV for 16-bit pictures and anything Pillow cannot read); transparency is
flattened onto white, 16-bit images are reduced to 8 bits, EXIF rotation is applied.
"""

from __future__ import annotations

import asyncio
import colorsys
import contextlib
import hashlib
import importlib.resources
import io
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from streamer.compose.text import FontNotFoundError, ellipsize, font_for_best_effort, load_font
from streamer.loading import redact_url

log = logging.getLogger(__name__)

#: A product picture bigger than this is refused (a card shows it at a few hundred pixels).
MAX_IMAGE_BYTES = 20_000_000
MAX_IMAGE_PIXELS = 40_000_000

ImageBase = Path | str | None
"""Folder a relative reference is resolved against, or a URL (relative references are then joined to it)."""


class ImageLoadError(Exception):
    """An image could not be found, fetched or decoded. ``reason`` and ``hint`` are meant for the user."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


def _is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def resolve_image_ref(ref: str, base: ImageBase) -> tuple[str, Any]:
    """Classify a reference: ``("url", url)``, ``("package", (module, path))`` or ``("file", Path)``."""
    ref = ref.strip()
    if not ref:
        raise ImageLoadError("the image reference is empty", "leave 'image' out for a placeholder")
    if _is_url(ref):
        return "url", ref
    if ref.startswith("package:"):
        spec = ref[len("package:") :].lstrip("/")
        module, _, rel = spec.partition("/")
        if not module or not rel:
            raise ImageLoadError(
                f"bad package reference {ref!r}", "write package:<module>/<path>, e.g. package:skimage/data/coffee.png"
            )
        if ".." in Path(rel).parts:
            raise ImageLoadError(f"'..' is not allowed in package references: {ref!r}", "")
        return "package", (module, rel)
    if "://" in ref:
        raise ImageLoadError(f"unsupported image URL {redact_url(ref)!r}", "use an http:// or https:// URL")
    if isinstance(base, str) and _is_url(base):
        return "url", urljoin(base, ref)
    path = Path(ref).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return "file", path


def _read_package(module: str, rel: str) -> bytes:
    try:
        root = importlib.resources.files(module)
    except ModuleNotFoundError:
        raise ImageLoadError(f"package {module!r} is not installed", f"pip install {module}, or use a file") from None
    except (TypeError, ValueError):
        raise ImageLoadError(f"{module!r} is not a package with files", "") from None
    target = root.joinpath(*rel.split("/"))
    if not target.is_file():
        parent = root.joinpath(*rel.split("/")[:-1]) if "/" in rel else root
        hint = ""
        try:
            names = sorted(
                p.name
                for p in parent.iterdir()
                if p.name.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif"))
            )
            if names:
                hint = "images there: " + ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        except (OSError, FileNotFoundError, NotADirectoryError):
            pass
        raise ImageLoadError(f"package {module!r} has no file {rel!r}", hint)
    return target.read_bytes()


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ImageLoadError(f"image file is too large ({size} bytes): {path}", "use a picture under 20 MB")
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageLoadError(
            f"image file not found: {path}", "a relative path is taken from the product file's folder"
        ) from None
    except IsADirectoryError:
        raise ImageLoadError(f"image path is a folder: {path}", "name the picture file itself") from None
    except PermissionError:
        raise ImageLoadError(f"image file is not readable: {path}", "fix the file's permissions") from None


def _fetch_sync(url: str, timeout_s: float) -> bytes:
    shown = redact_url(url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            data: bytes = resp.read(MAX_IMAGE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ImageLoadError(f"HTTP {exc.code} fetching image {shown}", "check the image URL") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ImageLoadError(f"could not fetch image {shown}: {reason}", "check the URL and the network") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageLoadError(f"image at {shown} is larger than 20 MB", "use a smaller picture")
    return data


def read_image_bytes(ref: str, base: ImageBase = None, *, timeout_s: float = 10.0) -> tuple[bytes, str]:
    """The raw bytes of a reference and a printable name for it. Blocking. Raises :class:`ImageLoadError`."""
    kind, target = resolve_image_ref(ref, base)
    if kind == "url":
        return _fetch_sync(target, timeout_s), redact_url(target)
    if kind == "package":
        module, rel = target
        return _read_package(module, rel), f"package:{module}/{rel}"
    return _read_file(target), str(target)


def _flatten(img: np.ndarray) -> np.ndarray:
    """Any decoded array -> contiguous BGR uint8 (alpha over white, grey to colour, 16-bit to 8-bit)."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img)


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode picture bytes to BGR uint8 (h, w, 3). Raises :class:`ImageLoadError` for what is not a picture."""
    if not data:
        raise ImageLoadError(f"{name} is empty (0 bytes)", "save the picture again")
    img: np.ndarray | None = None
    # Pillow first: it applies EXIF rotation, reads palettes and GIFs, and does not print libpng warnings to
    # stderr. OpenCV for what Pillow cannot turn into 8-bit colour faithfully (16-bit, float) or read at all.
    try:
        with Image.open(io.BytesIO(data)) as pil:
            if pil.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
                pil.load()
                if pil.width * pil.height > MAX_IMAGE_PIXELS:
                    raise ImageLoadError(f"{name} is too large ({pil.width}x{pil.height} pixels)", "scale it down")
                upright = ImageOps.exif_transpose(pil)
                img = cv2.cvtColor(np.asarray(upright.convert("RGBA")), cv2.COLOR_RGBA2BGRA)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        img = None
    if img is None:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageLoadError(f"{name} is not a picture that can be decoded", "use a PNG, JPEG, WebP or GIF file")
    if img.shape[0] * img.shape[1] > MAX_IMAGE_PIXELS:
        raise ImageLoadError(f"{name} is too large ({img.shape[1]}x{img.shape[0]} pixels)", "scale it down")
    return _flatten(img)


def read_image(ref: str, base: ImageBase = None, *, timeout_s: float = 10.0) -> np.ndarray:
    """Resolve and decode an image reference (blocking). Raises :class:`ImageLoadError`."""
    data, name = read_image_bytes(ref, base, timeout_s=timeout_s)
    return decode_image(data, name)


def load_product_image(ref: str, base_dir: ImageBase = None, *, timeout_s: float = 10.0) -> np.ndarray | None:
    """A product picture as BGR uint8, or ``None`` (the reason is logged) when it cannot be had.

    ``base_dir``: the product file's folder (or the URL it came from). Blocking: on the event loop use
    :func:`read_image_async`.
    """
    try:
        return read_image(ref, base_dir, timeout_s=timeout_s)
    except ImageLoadError as exc:
        log.warning("product image %s: %s", redact_url(ref), exc.reason)
        return None


async def read_body_capped(resp: Any, cap_bytes: int) -> bytes:
    """An aiohttp response body, but no more than ``cap_bytes + 1`` bytes (enough to tell it is too big)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        total += len(chunk)
        if total > cap_bytes:
            break
    return b"".join(chunks)[: cap_bytes + 1]


async def read_image_async(
    ref: str, base: ImageBase = None, *, session: Any = None, timeout_s: float = 10.0
) -> np.ndarray:
    """Like :func:`read_image` without blocking the loop: URLs through aiohttp (``session`` may be shared),
    files and decoding in a worker thread. Raises :class:`ImageLoadError`."""
    kind, target = resolve_image_ref(ref, base)
    if kind != "url":
        return await asyncio.to_thread(read_image, ref, base)
    import aiohttp

    shown = redact_url(target)
    own = session is None
    sess = aiohttp.ClientSession() if own else session
    try:
        async with sess.get(target, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            if resp.status >= 400:
                raise ImageLoadError(f"HTTP {resp.status} fetching image {shown}", "check the image URL")
            data = await read_body_capped(resp, MAX_IMAGE_BYTES)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ImageLoadError(f"could not fetch image {shown}: {exc or type(exc).__name__}", "check the URL") from None
    finally:
        if own:
            await sess.close()
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageLoadError(f"image at {shown} is larger than 20 MB", "use a smaller picture")
    return await asyncio.to_thread(decode_image, data, shown)


# ---- placeholder --------------------------------------------------------------------------------------------


def _font(text: str, size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The compositor's choice of installed face for ``text`` (Latin or CJK, fc-match fallback); Pillow's built-in
    font only when no font is installed at all."""
    try:
        return load_font(font_for_best_effort(text), size_px)
    except FontNotFoundError:
        return ImageFont.load_default(size=size_px)


def initials(name: str) -> str:
    """Up to two initials: first letters of the first two words (one character for CJK names)."""
    words = re.findall(r"[^\W_]+", name)
    if not words:
        return ""
    if any(ord(c) >= 0x2E80 for c in words[0][:1]):
        return words[0][0]
    letters = [w[0] for w in words[:2]]
    return "".join(letters).upper()


def _tile_colours(name: str) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """A calm, nearly grey tint per name (stable across runs): light top, lighter bottom, muted ink, as RGB."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    hue = digest[0] / 255.0

    def rgb(s: float, v: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(hue, s, v)
        return int(r * 255), int(g * 255), int(b * 255)

    return rgb(0.06, 0.90), rgb(0.04, 0.95), rgb(0.10, 0.62)


def _looks_chinese(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def placeholder_image(name: str, size: tuple[int, int] = (480, 480), *, note: str | None = None) -> np.ndarray:
    """A neutral tile for a product without a usable picture: a light, nearly grey tile (tinted per name), a
    picture icon, ``note`` ("No image"; "暂无图片" for a Chinese name when not given) and the product's name
    underneath. Never anyone else's picture. ``size`` is (width, height); returns BGR uint8."""
    width, height = max(16, int(size[0])), max(16, int(size[1]))
    top, bottom, ink = _tile_colours(name or "?")
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    grad = (1.0 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    rgb = np.broadcast_to(grad, (height, width, 3)).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(img)
    short = min(width, height)
    has_caption = height >= 120 and bool(name.strip())
    cx = width / 2
    cy = height * (0.38 if has_caption else 0.45)
    # a picture icon: frame, hills and a sun
    s = short * 0.30
    lw = max(1, round(s / 16))
    x0, y0, x1, y1 = cx - s / 2, cy - s * 0.38, cx + s / 2, cy + s * 0.38
    draw.rounded_rectangle((x0, y0, x1, y1), radius=max(1, s / 14), outline=ink, width=lw)
    draw.polygon(
        [
            (x0 + lw, y1 - lw),
            (cx - s * 0.16, cy),
            (cx + s * 0.02, cy + s * 0.16),
            (cx + s * 0.2, cy + s * 0.03),
            (x1 - lw, y1 - lw),
        ],
        fill=ink,
    )
    sr = s * 0.08
    draw.ellipse((cx + s * 0.22 - sr, cy - s * 0.18 - sr, cx + s * 0.22 + sr, cy - s * 0.18 + sr), fill=ink)
    label = note if note is not None else ("暂无图片" if _looks_chinese(name) else "No image")
    if label and height >= 60:
        size_px = max(8, short // 16)
        draw.text((cx, y1 + size_px * 1.2), label, fill=ink, font=_font(label, size_px), anchor="mm")
    if has_caption:
        caption = name.strip()
        size_px = max(8, short // 20)
        with contextlib.suppress(FontNotFoundError):
            caption = ellipsize(
                caption, size_px=size_px, face=font_for_best_effort(caption), max_width=width * 0.86, at_word=True
            )
        draw.text((cx, height * 0.82), caption, fill=ink, font=_font(caption, size_px), anchor="mm")
    return np.ascontiguousarray(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR))


__all__ = [
    "ImageLoadError",
    "decode_image",
    "initials",
    "load_product_image",
    "placeholder_image",
    "read_image",
    "read_image_async",
    "read_image_bytes",
    "resolve_image_ref",
]
