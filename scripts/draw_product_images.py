"""Draw the demo products' pictures into ``products/images/`` (run once; the PNGs are committed).

``python scripts/draw_product_images.py [--out products/images]``

Each picture is a clean, recognisable illustration of the product itself, drawn with OpenCV at twice the size and
scaled down (anti-aliasing), then saved as a 256-colour PNG (each well under 60 KB). Deterministic: no randomness
without a fixed seed, no clock, no network, so the same script always writes the same pixels on the same libraries.

* ``cat-bed.png``: a round donut cat bed (raised plush rim, sunken cushion) in taupe faux fur.
* ``coffee-beans.png``: a kraft stand-up coffee bag with its label and valve, whole beans in front.
* ``rocket-kit.png``: a Saturn V display model (white stages, black roll pattern) on its stand.
* ``moon-lamp.png``: a glowing moon sphere on a wooden stand.

The Hubble Deep Field poster keeps the real Hubble picture (``package:skimage/data/hubble_deep_field.jpg``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 480
SS = 2  # supersampling factor
S = SIZE * SS

BGR = tuple[int, int, int]


# ---- helpers (all at the supersampled size S x S) --------------------------------------------------------------


def _gradient(top: BGR, bottom: BGR) -> np.ndarray:
    t = np.linspace(0.0, 1.0, S, dtype=np.float32)[:, None, None]
    img = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return np.broadcast_to(img, (S, S, 3)).astype(np.float32).copy()


def _mask(draw: Callable[[np.ndarray], object]) -> np.ndarray:
    """A float mask 0..1 from a drawing function that paints 255 into a uint8 canvas."""
    m = np.zeros((S, S), np.uint8)
    draw(m)
    return m.astype(np.float32) / 255.0


def _ellipse(
    centre: tuple[float, float],
    axes: tuple[float, float],
    angle: float = 0.0,
    arc: tuple[int, int] = (0, 360),
    thickness: int = -1,
) -> np.ndarray:
    """Mask of an (arc of an) ellipse; ``thickness`` -1 fills it."""
    c = (int(centre[0]), int(centre[1]))
    ax = (int(axes[0]), int(axes[1]))
    return _mask(lambda m: cv2.ellipse(m, c, ax, angle, arc[0], arc[1], (255,), thickness, cv2.LINE_AA))


def _line_mask(p0: tuple[int, int], p1: tuple[int, int], thickness: int) -> np.ndarray:
    return _mask(lambda m: cv2.line(m, p0, p1, (255,), thickness, cv2.LINE_AA))


def _fill(img: np.ndarray, mask: np.ndarray, colour: BGR | np.ndarray, opacity: float = 1.0) -> None:
    a = (mask * opacity)[..., None]
    img[:] = img * (1 - a) + np.asarray(colour, np.float32) * a


def _shadow(img: np.ndarray, centre: tuple[int, int], axes: tuple[int, int], strength: float, blur: float) -> None:
    m = _mask(lambda c: cv2.ellipse(c, centre, axes, 0, 0, 360, (255,), -1, cv2.LINE_AA))
    m = cv2.GaussianBlur(m, (0, 0), blur)
    _fill(img, m, (0, 0, 0), strength)


def _radial(cx: float, cy: float, r: float) -> np.ndarray:
    ys, xs = np.mgrid[0:S, 0:S].astype(np.float32)
    return np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) / r


def _font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        from streamer.compose import text as tx

        face = tx.font_for("ABC", bold=bold)
        return ImageFont.truetype(face.path, size=size, index=face.index)
    except Exception:  # the script still draws without the project's fonts
        return ImageFont.load_default(size=size)


def _text(img: np.ndarray, xy: tuple[float, float], text: str, size: int, colour: BGR, anchor: str = "mm") -> None:
    """Draw text with Pillow onto the float BGR canvas (coverage-blended)."""
    cover = Image.new("L", (S, S), 0)
    ImageDraw.Draw(cover).text(xy, text, fill=255, font=_font(size), anchor=anchor)
    _fill(img, np.asarray(cover, np.float32) / 255.0, colour)


def _finish(img: np.ndarray, path: Path) -> int:
    small = cv2.resize(np.clip(img, 0, 255).astype(np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    rgb = Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    pal = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    pal.save(path, optimize=True)
    return path.stat().st_size


# ---- the pictures ------------------------------------------------------------------------------------------------


def cat_bed() -> np.ndarray:
    img = _gradient((236, 240, 244), (205, 212, 220))
    floor = _mask(lambda c: cv2.rectangle(c, (0, int(S * 0.70)), (S, S), (255,), -1))
    _fill(img, cv2.GaussianBlur(floor, (0, 0), 30), (190, 198, 208), 0.6)
    cx, cy, a, b = S // 2, int(S * 0.52), 400.0, 200.0
    _shadow(img, (cx, cy + 215), (400, 80), 0.4, 26)
    ys, xs = np.mgrid[0:S, 0:S].astype(np.float32)
    fur = np.asarray((150, 172, 194), np.float32)  # taupe, BGR
    # the bed's side, seen below the rim: the same ellipse shifted down, darker towards the floor
    rho_side = np.sqrt(((xs - cx) / a) ** 2 + ((ys - cy - 70) / b) ** 2)
    side = np.clip((1.0 - rho_side) * 160, 0, 1) * (ys > cy)
    side_col = fur * (0.78 - 0.25 * np.clip((ys - cy) / 280.0, 0, 1))[..., None]
    _fill(img, side, (0, 0, 0), 0.0)
    img[:] = img * (1 - side[..., None]) + side_col * side[..., None]
    # the plush rim: a torus seen from above; a tube profile lit from the top left
    rho = np.sqrt(((xs - cx) / a) ** 2 + ((ys - cy) / b) ** 2)
    r_in = 0.58
    u = (rho - (1 + r_in) / 2) / ((1 - r_in) / 2)  # -1 inner edge .. 1 outer edge
    tube = np.clip((1.0 - np.abs(u)) * 40, 0, 1)
    height = np.sqrt(np.clip(1 - u**2, 0, 1))
    ang = np.arctan2((ys - cy) / b, (xs - cx) / a)
    light = 0.62 + 0.38 * height - 0.12 * u * np.sin(ang) - 0.05 * u * np.cos(ang)
    rim_col = fur * np.clip(light, 0.45, 1.12)[..., None]
    img[:] = img * (1 - tube[..., None]) + rim_col * tube[..., None]
    # faux fur: short strokes along the tube, deterministic
    rng = np.random.default_rng(7)
    strokes = np.zeros((S, S), np.uint8)
    for _ in range(1800):
        t = rng.uniform(0, 2 * np.pi)
        rr = rng.uniform(r_in + 0.03, 0.99)
        x, y = cx + np.cos(t) * a * rr, cy + np.sin(t) * b * rr
        dx, dy = np.cos(t + 0.6) * 12, np.sin(t + 0.6) * 6
        cv2.line(strokes, (int(x), int(y)), (int(x + dx), int(y + dy)), (255,), 2, cv2.LINE_AA)
    _fill(img, strokes.astype(np.float32) / 255.0 * tube * height, (214, 228, 240), 0.35)
    # the sunken cushion inside the rim, in the rim's shadow at the back
    cush = np.clip((r_in + 0.02 - rho) * 120, 0, 1)
    depth = np.clip(1.0 - rho / r_in, 0, 1)
    back = np.clip(-(ys - cy) / (b * r_in), 0, 1)
    cush_col = fur * (0.72 + 0.3 * depth - 0.25 * back * (1 - depth))[..., None]
    img[:] = img * (1 - cush[..., None]) + cush_col * cush[..., None]
    # a piping seam round the outside of the rim
    seam = _mask(lambda c: cv2.ellipse(c, (cx, cy + 4), (int(a) - 4, int(b) - 2), 0, 8, 172, (255,), 3, cv2.LINE_AA))
    _fill(img, seam, (96, 112, 130), 0.5)
    return img


def coffee_bag() -> np.ndarray:
    img = _gradient((226, 236, 244), (196, 212, 226))
    table = _mask(lambda c: cv2.rectangle(c, (0, int(S * 0.78)), (S, S), (255,), -1))
    _fill(img, table, (150, 176, 204), 1.0)
    _shadow(img, (S // 2, int(S * 0.80)), (260, 40), 0.4, 20)
    # the pouch: slightly tapered, gusseted bottom
    lft, r, top, bot = 250, 710, 150, 770
    body = np.array([[lft + 20, top], [r - 20, top], [r, bot - 30], [r - 30, bot], [lft + 30, bot], [lft, bot - 30]])
    pouch = _mask(lambda c: cv2.fillPoly(c, [body.astype(np.int32)], (255,), cv2.LINE_AA))
    xs = np.linspace(-1, 1, r - lft, dtype=np.float32)
    prof = np.ones(S, np.float32)
    prof[lft:r] = 1.0 - 0.28 * xs**2 + 0.06 * xs
    kraft = np.asarray((92, 140, 190), np.float32) * prof[None, :, None]
    a = pouch[..., None]
    img[:] = img * (1 - a) + kraft * a
    # crimped top seal
    seal = _mask(lambda c: cv2.rectangle(c, (lft + 20, top), (r - 20, top + 55), (255,), -1))
    _fill(img, seal * pouch, (70, 112, 160), 1.0)
    for x in range(lft + 26, r - 20, 14):
        m = _line_mask((x, top + 6), (x, top + 50), 3)
        _fill(img, m, (58, 96, 140), 0.7)
    teeth = np.array([[x, top + (0 if (x // 14) % 2 else 10)] for x in range(lft + 20, r - 19, 14)])
    notch = _mask(lambda c: cv2.polylines(c, [teeth.astype(np.int32)], False, (255,), 3, cv2.LINE_AA))
    _fill(img, notch, (60, 96, 140), 0.8)
    # label
    lab = _mask(lambda c: cv2.rectangle(c, (lft + 70, 300), (r - 70, 640), (255,), -1, cv2.LINE_AA))
    _fill(img, lab, (226, 240, 248), 1.0)
    band = _mask(lambda c: cv2.rectangle(c, (lft + 70, 300), (r - 70, 350), (255,), -1))
    _fill(img, band, (40, 52, 120), 1.0)
    _text(img, (S / 2, 325), "SINGLE ORIGIN", 28, (226, 240, 248))
    # a big bean emblem on the label
    bean_c = (S // 2, 430)
    bean = _mask(lambda c: cv2.ellipse(c, bean_c, (50, 68), 20, 0, 360, (255,), -1, cv2.LINE_AA))
    _fill(img, bean, (40, 62, 96), 1.0)
    crease = _mask(
        lambda c: cv2.ellipse(c, (bean_c[0] + 22, bean_c[1] - 4), (28, 62), 20, 120, 240, (255,), 7, cv2.LINE_AA)
    )
    _fill(img, crease * bean, (150, 190, 226), 0.9)
    _text(img, (S / 2, 540), "YIRGACHEFFE", 44, (40, 44, 60))
    _text(img, (S / 2, 596), "WHOLE BEAN · 1 kg", 26, (70, 86, 110))
    # one-way valve
    valve = _mask(lambda c: cv2.circle(c, (S // 2, 700), 20, (255,), -1, cv2.LINE_AA))
    _fill(img, valve, (60, 90, 124), 1.0)
    valve_in = _mask(lambda c: cv2.circle(c, (S // 2, 700), 8, (255,), -1, cv2.LINE_AA))
    _fill(img, valve_in, (110, 150, 190), 1.0)
    # loose beans in front of the bag
    rng = np.random.default_rng(3)
    for i in range(16):
        bx = int(140 + i * 46 + rng.uniform(-14, 14))
        by = int(S * 0.86 + rng.uniform(-30, 40) + (20 if 5 < i < 11 else 0))
        ang = float(rng.uniform(0, 180))
        shadow = _ellipse((bx + 5, by + 8), (26, 36), ang)
        _fill(img, cv2.GaussianBlur(shadow, (0, 0), 5), (0, 0, 0), 0.3)
        b = _ellipse((bx, by), (26, 36), ang)
        tone = 0.85 + 0.3 * float(rng.random())
        _fill(img, b, tuple(int(v * tone) for v in (34, 56, 92)), 1.0)  # type: ignore[arg-type]
        hl = np.clip(1 - _radial(bx - 8, by - 12, 30), 0, 1) * b
        _fill(img, hl, (90, 124, 170), 0.6)
        cr = _ellipse((bx, by), (8, 30), ang, thickness=4)
        _fill(img, cr * b, (20, 30, 50), 0.8)
    return img


def saturn_v() -> np.ndarray:
    img = _gradient((70, 44, 28), (120, 78, 46))  # night-blue studio
    rng = np.random.default_rng(11)
    for _ in range(70):
        sx, sy = int(rng.uniform(0, S)), int(rng.uniform(0, S * 0.7))
        radius = int(rng.integers(1, 4))
        star = _ellipse((sx, sy), (radius, radius))
        _fill(img, star, (240, 240, 255), float(rng.uniform(0.3, 0.9)))
    cx = S // 2
    w = 104  # first-stage width
    # display stand and plaque
    _shadow(img, (cx, 905), (250, 26), 0.5, 12)
    stand = _mask(lambda c: cv2.rectangle(c, (cx - 230, 870), (cx + 230, 915), (255,), -1, cv2.LINE_AA))
    _fill(img, stand, (38, 38, 44), 1.0)
    top_face = _mask(lambda c: cv2.rectangle(c, (cx - 230, 862), (cx + 230, 872), (255,), -1))
    _fill(img, top_face, (80, 80, 88), 1.0)
    plaque = _mask(lambda c: cv2.rectangle(c, (cx - 110, 879), (cx + 110, 907), (255,), -1, cv2.LINE_AA))
    _fill(img, plaque, (80, 170, 212), 1.0)
    _text(img, (cx, 893), "SATURN V  1:100", 20, (30, 40, 50))
    pieces: list[tuple[str, np.ndarray, BGR]] = []

    def poly(points: list[tuple[float, float]], colour: BGR) -> None:
        pts = np.round(np.asarray(points) * 16).astype(np.int32)
        m = _mask(lambda c: cv2.fillPoly(c, [pts], (255,), cv2.LINE_AA, 4))
        pieces.append(("p", m, colour))

    white, black, grey = (236, 238, 240), (30, 30, 34), (150, 150, 156)
    y = 860.0
    # F-1 engine bells
    for dx in (-36, -12, 12, 36):
        poly([(cx + dx - 13, y), (cx + dx + 13, y), (cx + dx + 8, y - 26), (cx + dx - 8, y - 26)], (40, 40, 46))
    y -= 26
    # fins
    for sx in (-1, 1):
        poly([(cx + sx * w / 2, y), (cx + sx * (w / 2 + 26), y), (cx + sx * w / 2, y - 70)], black)
    # S-IC first stage with the roll pattern
    h1 = 250
    poly([(cx - w / 2, y), (cx + w / 2, y), (cx + w / 2, y - h1), (cx - w / 2, y - h1)], white)
    for y0, y1 in ((y - 70, y - 10), (y - h1 + 10, y - h1 + 60)):
        poly([(cx - w / 2, y0), (cx - w / 6, y0), (cx - w / 6, y1), (cx - w / 2, y1)], black)
        poly([(cx + w / 6, y0), (cx + w / 2, y0), (cx + w / 2, y1), (cx + w / 6, y1)], black)
    y -= h1
    # interstage + S-II second stage
    poly([(cx - w / 2, y), (cx + w / 2, y), (cx + w / 2, y - 16), (cx - w / 2, y - 16)], grey)
    y -= 16
    h2 = 170
    poly([(cx - w / 2, y), (cx + w / 2, y), (cx + w / 2, y - h2), (cx - w / 2, y - h2)], white)
    poly(
        [(cx - w / 2, y - h2 + 8), (cx + w / 2, y - h2 + 8), (cx + w / 2, y - h2 + 30), (cx - w / 2, y - h2 + 30)],
        black,
    )
    y -= h2
    # taper to the S-IVB third stage
    w3 = 0.68 * w
    poly([(cx - w / 2, y), (cx + w / 2, y), (cx + w3 / 2, y - 40), (cx - w3 / 2, y - 40)], white)
    y -= 40
    h3 = 120
    poly([(cx - w3 / 2, y), (cx + w3 / 2, y), (cx + w3 / 2, y - h3), (cx - w3 / 2, y - h3)], white)
    poly([(cx - w3 / 2, y - 20), (cx - w3 / 6, y - 20), (cx - w3 / 6, y - 50), (cx - w3 / 2, y - 50)], black)
    poly([(cx + w3 / 6, y - 20), (cx + w3 / 2, y - 20), (cx + w3 / 2, y - 50), (cx + w3 / 6, y - 50)], black)
    y -= h3
    # instrument unit, adapter, service module, command module, escape tower
    poly([(cx - w3 / 2, y), (cx + w3 / 2, y), (cx + w3 / 2, y - 12), (cx - w3 / 2, y - 12)], black)
    y -= 12
    w4 = 0.55 * w
    poly([(cx - w3 / 2, y), (cx + w3 / 2, y), (cx + w4 / 2, y - 50), (cx - w4 / 2, y - 50)], white)
    y -= 50
    poly([(cx - w4 / 2, y), (cx + w4 / 2, y), (cx + w4 / 2, y - 40), (cx - w4 / 2, y - 40)], (210, 212, 216))
    y -= 40
    poly([(cx - w4 / 2, y), (cx + w4 / 2, y), (cx + 6, y - 48), (cx - 6, y - 48)], (200, 204, 210))
    y -= 48
    poly([(cx - 3, y), (cx + 3, y), (cx + 3, y - 60), (cx - 3, y - 60)], (60, 60, 200))
    poly([(cx - 9, y - 60), (cx + 9, y - 60), (cx, y - 84)], (60, 60, 200))
    rocket = np.zeros((S, S), np.float32)
    for _, m, colour in pieces:
        _fill(img, m, colour)
        rocket = np.maximum(rocket, m)
    # round the body: darken towards both edges of each stage (a cylinder lit from the left)
    xs = (np.arange(S, dtype=np.float32) - cx) / (w / 2)
    shade = np.clip(1.0 - 0.22 * np.clip(xs + 0.35, 0, 2) ** 2 + 0.05 * (xs < -0.6), 0.55, 1.05)
    img[:] = img * (1 - rocket[..., None]) + img * rocket[..., None] * shade[None, :, None]
    _text(img, (cx, 700), "USA", 30, (60, 50, 200))
    return img


def moon_lamp() -> np.ndarray:
    img = _gradient((52, 30, 26), (24, 14, 12))
    cx, cy, r = S // 2, 462, 280
    d = _radial(cx, cy, r)
    glow = np.exp(-(np.clip(d - 0.9, 0, None) ** 2) / 0.18)
    _fill(img, np.clip(glow, 0, 1).astype(np.float32), (120, 200, 255), 0.55)
    # wooden stand under the sphere
    _shadow(img, (cx, 860), (210, 30), 0.5, 14)
    base = _mask(lambda c: cv2.ellipse(c, (cx, 820), (190, 42), 0, 0, 360, (255,), -1, cv2.LINE_AA))
    side = _mask(lambda c: cv2.rectangle(c, (cx - 190, 780), (cx + 190, 820), (255,), -1))
    top = _mask(lambda c: cv2.ellipse(c, (cx, 780), (190, 42), 0, 0, 360, (255,), -1, cv2.LINE_AA))
    _fill(img, np.maximum(base, side), (40, 86, 140), 1.0)
    _fill(img, top, (70, 130, 190), 1.0)
    rng = np.random.default_rng(5)
    for k in range(9):  # wood grain on the top face
        ry = int(18 + k * 7 + rng.uniform(-2, 2))
        grain = _ellipse((cx, 780), (int(ry * 4.5), ry), thickness=2)
        _fill(img, grain * top, (52, 104, 160), 0.6)
    cup = _mask(lambda c: cv2.ellipse(c, (cx, 758), (70, 20), 0, 0, 360, (255,), -1, cv2.LINE_AA))
    _fill(img, cup, (30, 66, 110), 1.0)
    # the sphere: warm light, limb darkening, maria and craters
    sphere = np.clip((1.0 - d) * r / 2.0, 0, 1).astype(np.float32)
    shade = np.clip(1.0 - 0.35 * d**3, 0, 1)
    body = np.asarray((190, 232, 255), np.float32)[None, None, :] * shade[..., None]
    a = sphere[..., None]
    img[:] = img * (1 - a) + body * a
    maria = np.zeros((S, S), np.float32)
    for mx, my, ax, ay, ang in (
        (-0.30, -0.25, 0.32, 0.22, 20),
        (0.15, -0.35, 0.25, 0.15, -10),
        (0.25, 0.05, 0.22, 0.30, 35),
        (-0.15, 0.25, 0.30, 0.16, 0),
        (-0.5, 0.1, 0.12, 0.2, 0),
    ):
        m = _ellipse((cx + mx * r, cy + my * r), (ax * r, ay * r), ang)
        maria = np.maximum(maria, m)
    maria = cv2.GaussianBlur(maria, (0, 0), 16) * sphere
    _fill(img, maria, (118, 160, 196), 0.6)
    for _ in range(38):
        theta = float(rng.uniform(0, 2 * np.pi))
        rad = np.sqrt(rng.uniform(0, 0.8)) * r
        px, py = cx + np.cos(theta) * rad, cy + np.sin(theta) * rad
        cr = rng.uniform(6, 26) * (1 - 0.5 * rad / r)
        squash = np.sqrt(max(0.2, 1 - (rad / r) ** 2))
        crater = _ellipse((px, py), (cr, max(2, int(cr * squash))), float(np.degrees(theta)))
        _fill(img, crater * sphere, (128, 172, 210), 0.5)
        rim = _ellipse((px - 2, py - 2), (cr, max(2, int(cr * squash))), float(np.degrees(theta)), (180, 330), 2)
        _fill(img, rim * sphere, (215, 242, 255), 0.35)
    hl = np.clip(1 - _radial(cx - 90, cy - 110, 160), 0, 1) * sphere
    _fill(img, hl, (235, 250, 255), 0.35)
    return img


PICTURES: dict[str, Callable[[], np.ndarray]] = {
    "cat-bed.png": cat_bed,
    "coffee-beans.png": coffee_bag,
    "rocket-kit.png": saturn_v,
    "moon-lamp.png": moon_lamp,
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "products" / "images")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in PICTURES.items():
        size = _finish(draw(), args.out / name)
        print(f"{args.out / name}: {size} bytes")


if __name__ == "__main__":
    main()
