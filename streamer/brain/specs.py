"""Product specs said as a presenter says them: "It's 60 cm across", "It comes in slate grey, forest green and
sunset orange", never "For the diameter cm, it's 60". Pure functions; the value is always the sheet's own text
(numbers verbatim), only the words around it are chosen here.
"""

from __future__ import annotations

import re

#: Unit suffixes of spec keys (``diameter_cm``) and how they are spoken after the value.
UNIT_SUFFIXES: dict[str, str] = {
    "cm": "cm",
    "mm": "mm",
    "m": "m",
    "km": "km",
    "kg": "kg",
    "g": "g",
    "mg": "mg",
    "lb": "lb",
    "oz": "oz",
    "ml": "ml",
    "l": "litres",
    "qt": "quarts",
    "h": "hours",
    "hrs": "hours",
    "hours": "hours",
    "min": "minutes",
    "s": "seconds",
    "w": "watts",
    "v": "volts",
    "mah": "mAh",
    "gb": "GB",
    "tb": "TB",
    "in": "inches",
    "inch": "inches",
    "c": "°C",
    "gsm": "gsm",
    "pct": "percent",
}


def _clean(text: str) -> str:
    return " ".join(str(text).split()).strip()


def spec_label(key: str) -> tuple[str, str]:
    """``("diameter", "cm")`` for ``diameter_cm``; ``("best for", "")`` for ``best_for``."""
    parts = [p for p in re.split(r"[_\s]+", str(key).strip()) if p]
    unit = ""
    if len(parts) > 1 and parts[-1].lower() in UNIT_SUFFIXES:
        unit = UNIT_SUFFIXES[parts[-1].lower()]
        parts = parts[:-1]
    return " ".join(parts).lower(), unit


def spec_value(key: str, value: object) -> str:
    """The value verbatim, with the key's unit suffix spelled after it ("60 cm" for ``diameter_cm: 60``)."""
    _, unit = spec_label(key)
    shown = _clean(str(value))
    if unit and not shown.lower().endswith(unit.lower()):
        shown = f"{shown} {unit}"
    return shown


def _sentence(text: str) -> str:
    text = _clean(text)
    if not text:
        return text
    if text[-1] not in ".!?。！？":
        text += "."
    return text[0].upper() + text[1:]


def spec_text(key: str, value: object) -> str:
    """``"Diameter: 60 cm."``: label and value, for cards and lists."""
    label, _ = spec_label(key)
    return _sentence(f"{label.capitalize()}: {spec_value(key, value)}")


def join_list(text: str) -> str:
    """ "taupe, cloud grey, oatmeal" -> "taupe, cloud grey and oatmeal" (a list said aloud)."""
    parts = [p.strip() for p in re.split(r"\s*[,;/|]\s*", text) if p.strip()]
    if len(parts) < 2 or " and " in text or any(c.isdigit() for c in text):
        return text
    return ", ".join(parts[:-1]) + " and " + parts[-1]


_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")
#: (pattern on the label, sentence with {v}) — the first match wins.
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), t)
    for p, t in (
        (r"^(diameter|width across|across)$", "It's {v} across."),
        (r"^(height|tall|overall height)$", "It's {v} tall."),
        (r"^(width|wide)$", "It's {v} wide."),
        (r"^(length|long)$", "It's {v} long."),
        (r"^(depth|deep)$", "It's {v} deep."),
        (r"^(thickness)$", "It's {v} thick."),
        (r"^(weight|net weight|mass)$", "It weighs {v}."),
        (r"^(capacity|volume)$", "It holds {v}."),
        (r"^(battery|battery life|runtime|run time|playtime|battery h)$", "The battery lasts {v}."),
        (r"^(material|materials|fabric|composition|made of|shell|upper)$", "It's made of {v}."),
        (r"^(origin|country of origin|made in|region|grown in)$", "It comes from {v}."),
        (r"^(warranty|guarantee)$", "The warranty is {v}."),
        (r"^(dimensions|size|sizes)$", "The size is {v}."),
        (r"^(charging|charger|charge port|port)$", "It charges via {v}."),
    )
)
_PLURAL_LIST = re.compile(r"^(colou?rs|colou?r options|colou?rways|finishes|flavou?rs|scents|options|styles|variants)$")


def spec_sentence(key: str, value: object) -> str:
    """One spoken sentence for a spec: "It's 60 cm across.", "It weighs 0.9 kg.", "It comes in taupe, cloud grey
    and oatmeal.", "It has 16 colours.", else "The scale is 1:100." Only the sheet's value carries facts."""
    label, _ = spec_label(key)
    v = spec_value(key, value)
    if _PLURAL_LIST.match(label) or label in ("colour", "color"):
        if _NUMBER.match(v):
            return _sentence(f"It comes in {v} {label if label.endswith('s') else label + 's'}")
        return _sentence(f"It comes in {join_list(v)}")
    for pattern, shape in _SHAPES:
        if pattern.match(label):
            return _sentence(shape.format(v=v))
    if re.search(r"\b(for|with|in|on|to)$", label):
        return _sentence(f"It's {label} {v}")  # "best for: pour-over" -> "It's best for pour-over."
    if _NUMBER.match(v) and label.endswith("s") and not label.endswith("ss"):
        return _sentence(f"It has {v} {label}")  # "pieces: 120" -> "It has 120 pieces."
    verb = "are" if label.endswith("s") and not label.endswith("ss") else "is"
    return _sentence(f"The {label} {verb} {v}")


__all__ = ["UNIT_SUFFIXES", "join_list", "spec_label", "spec_sentence", "spec_text", "spec_value"]
