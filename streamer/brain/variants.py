"""Which of a product's variants a viewer means ("the green one in L", "king size", "酒红色"). Pure and fast.

A variant is matched by its option values (or its name): a whole value ("Forest Green") or one of its distinctive
words ("green"); a short size value ("M", "XL") only as a word of its own. The variants matching the most values
win; ties are all returned (the green one in every size).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from streamer.brain.intents import STOPWORDS
from streamer.config import ProductSheet, Variant

_CONTRACTION = re.compile(r"'(m|s|ll|re|ve|d|t)\b")
_WORD = re.compile(r"[a-z0-9]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_ZH_SUFFIX = re.compile(r"[色款号码装版]+$")


def _values(v: Variant) -> list[str]:
    values = [str(x) for x in v.options.values() if str(x).strip()]
    return values or [v.name]


def _value_matches(value: str, text: str, words: set[str]) -> int:
    """2 for the whole value, 1 for a distinctive word of it, 0 for none."""
    val = value.strip().lower()
    if not val:
        return 0
    if _CJK.search(val):
        core = _ZH_SUFFIX.sub("", val) or val
        return 2 if val in text else (1 if len(core) >= 2 and core in text else 0)
    vw = _WORD.findall(val)
    if not vw:
        return 0
    if len(vw) == 1 and len(vw[0]) <= 3:
        return 2 if vw[0] in words else 0  # "M", "XL", "42": a word of its own only
    if re.search(rf"(?<![a-z0-9]){re.escape(val)}(?![a-z0-9])", text):
        return 2
    distinct = [w for w in vw if len(w) >= 3 and w not in STOPWORDS]
    return 1 if any(w in words for w in distinct) else 0


def matching_variants(question: str, product: ProductSheet) -> list[Variant]:
    """The variants the question names, best first (all tied ones); empty when it names none."""
    if not product.variants:
        return []
    text = _CONTRACTION.sub(" ", question.lower().replace("’", "'"))
    words = set(_WORD.findall(text))
    scored: list[tuple[int, int, Variant]] = []
    for v in product.variants:
        hits = [_value_matches(value, text, words) for value in _values(v)]
        if any(hits):
            scored.append((sum(1 for h in hits if h), sum(hits), v))
    if not scored:
        return []
    best = max((n, total) for n, total, _ in scored)
    return [v for n, total, v in scored if (n, total) == best]


def matched_label(question: str, variants: Sequence[Variant]) -> str:
    """How to name what the viewer picked: the variant's name for one, else the option values they share that
    the question names ("Forest Green")."""
    if len(variants) == 1:
        return variants[0].name
    text = _CONTRACTION.sub(" ", question.lower())
    words = set(_WORD.findall(text))
    first = _values(variants[0])
    shared = [val for val in first if all(val in _values(v) for v in variants) and _value_matches(val, text, words)]
    return " / ".join(shared) if shared else variants[0].name


def option_rest(variant: Variant, label: str) -> str:
    """The variant's option values other than those in ``label`` ("L" for Forest Green / L named "Forest Green")."""
    rest = [val for val in _values(variant) if val not in label.split(" / ")]
    return " / ".join(rest) if rest else variant.name


__all__ = ["matched_label", "matching_variants", "option_rest"]
