"""Product specs said as a presenter says them: "It's 60 cm across", "It comes in slate grey, forest green and
sunset orange", never "For the diameter cm, it's 60". Pure functions; the value is always the sheet's own text
(numbers verbatim), only the words around it are chosen here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from streamer.brain.zh_text import cjk_share
from streamer.lang import LanguageTables, tables

#: Unit suffixes of spec keys (``diameter_cm``) and how English speaks them (other languages: their tables).
UNIT_SUFFIXES: dict[str, str] = dict(tables("en").units)


def _clean(text: str) -> str:
    return " ".join(str(text).split()).strip()


_CJK = re.compile(r"[\u3400-\u9fff]")


def spec_label(key: str, language: str = "en") -> tuple[str, str]:
    """``("diameter", "cm")`` for ``diameter_cm``; ``("best for", "")`` for ``best_for``. In Chinese
    (``language="zh"``): ``("直径", "厘米")`` for ``diameter_cm``, ``("大方巾尺寸", "")`` for ``尺寸_大方巾`` (a
    nested key reads from the inside out)."""
    words = tables(language)
    parts = [p for p in re.split(r"[_\s]+", str(key).strip()) if p]
    unit = ""
    if len(parts) > 1 and parts[-1].lower() in words.units:
        unit = words.units[parts[-1].lower()]
        parts = parts[:-1]
    if words.code == "zh":
        label = " ".join(parts).lower()
        label = words.spec_labels.get(label, label)
        if len(parts) > 1 and all(_CJK.search(p) for p in parts):
            label = "".join(reversed(parts))
        return label, unit
    return " ".join(parts).lower(), unit


def spec_value(key: str, value: object, language: str = "en") -> str:
    """The value verbatim, with the key's unit suffix spelled after it ("60 cm" for ``diameter_cm: 60``;
    "60厘米" in Chinese)."""
    _, unit = spec_label(key, language)
    shown = _clean(str(value))
    if unit and not shown.lower().endswith(unit.lower()):
        sep = "" if tables(language).code == "zh" else " "
        shown = f"{shown}{sep}{unit}"
    return shown


def _sentence(text: str) -> str:
    text = _clean(text)
    if not text:
        return text
    if text[-1] not in ".!?。！？":
        text += "。" if cjk_share(text) >= 0.5 else "."
    return text[0].upper() + text[1:]


def spec_text(key: str, value: object, language: str = "en") -> str:
    """``"Diameter: 60 cm."`` (``"直径：60厘米。"``): label and value, for cards and lists."""
    label, _ = spec_label(key, language)
    if tables(language).code == "zh":
        return _sentence(f"{label}：{spec_value(key, value, language)}")
    return _sentence(f"{label.capitalize()}: {spec_value(key, value)}")


def join_list(text: str) -> str:
    """ "taupe, cloud grey, oatmeal" -> "taupe, cloud grey and oatmeal" (a list said aloud)."""
    parts = [p.strip() for p in re.split(r"\s*[,;/|]\s*", text) if p.strip()]
    if len(parts) < 2 or " and " in text or any(c.isdigit() for c in text):
        return text
    return ", ".join(parts[:-1]) + " and " + parts[-1]


_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")


def _shapes(words: LanguageTables) -> tuple[tuple[re.Pattern[str], str], ...]:
    return _compiled(words.spec_shapes)


@lru_cache(maxsize=8)
def _compiled(shapes: tuple[tuple[str, str], ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(p), t) for p, t in shapes)


def spec_sentence(key: str, value: object, language: str = "en") -> str:
    """One spoken sentence for a spec, in the persona's language: "It's 60 cm across.", "It weighs 0.9 kg.", "It
    comes in taupe, cloud grey and oatmeal.", "It has 16 colours.", else "The scale is 1:100."; in Chinese
    "杯子容量是60毫升。", "颜色有藏青、酒红和米白可选。", "产地是浙江龙泉。". Only the sheet's value carries facts."""
    words = tables(language)
    label, _ = spec_label(key, language)
    v = spec_value(key, value, language)
    if words.code == "zh":
        return _zh_sentence(words, label, v)
    if re.match(words.spec_list_labels, label):
        if _NUMBER.match(v):
            return _sentence(words.spec_count_shape.format(v=v, label=label if label.endswith("s") else label + "s"))
        return _sentence(words.spec_list_shape.format(v=join_list(v)))
    for pattern, shape in _shapes(words):
        if pattern.match(label):
            return _sentence(shape.format(v=v))
    if re.search(r"\b(for|with|in|on|to)$", label):
        return _sentence(f"It's {label} {v}")  # "best for: pour-over" -> "It's best for pour-over."
    if _NUMBER.match(v) and label.endswith("s") and not label.endswith("ss"):
        return _sentence(f"It has {v} {label}")  # "pieces: 120" -> "It has 120 pieces."
    verb = "are" if label.endswith("s") and not label.endswith("ss") else "is"
    return _sentence(words.spec_default_shape.format(label=label, verb=verb, v=v))


def _zh_sentence(words: LanguageTables, label: str, v: str) -> str:
    if re.match(words.spec_list_labels, label):
        if _NUMBER.match(v):
            text = words.spec_count_shape.format(v=v, label=label)
        else:
            text = words.spec_list_shape.format(v=_zh_list(v), label=label)
    else:
        shape = next((s for p, s in _shapes(words) if p.match(label)), words.spec_default_shape)
        text = shape.format(v=v, label=label)
    text = _clean(text)
    return text if text[-1:] in ("。", "！", "？", ".", "!", "?") else text + "。"


def _zh_list(text: str) -> str:
    """ "藏青, 酒红, 米白" -> "藏青、酒红和米白"; a value already joined the Chinese way stays."""
    parts = [p.strip() for p in re.split(r"\s*[,;/|，；、]\s*", text) if p.strip()]
    if len(parts) < 2 or "和" in text:
        return text
    return "、".join(parts[:-1]) + "和" + parts[-1]


__all__ = ["UNIT_SUFFIXES", "join_list", "spec_label", "spec_sentence", "spec_text", "spec_value"]
