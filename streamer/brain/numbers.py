"""Find every quantity a sentence claims, in English and Chinese: pure text in, :class:`Quantity` list out.

The fact guard (:mod:`streamer.brain.guards`) runs this on every sentence the host would speak *and* on the text of
each product sheet, so the two sides are read by the same rules; a form this module reads in one place it reads in the
other. It never does I/O and never raises on odd text (an unreadable number is skipped, not guessed).

What is read
------------
* **Digits**: ``39``, ``39.5``, ``1,299.00`` (a comma followed by exactly three digits groups thousands),
  ``19,99 €`` (a comma with two decimals only next to a euro sign or word), ``1.5 million``, ``3万``, ``1.5万``.
* **English words**: ``thirty-nine``, ``two hundred and fifty``, ``four thousand``, ``four point eight``,
  ``a hundred``, ``a dozen``/``two dozen``. Two adjacent groups like ``nineteen ninety-nine`` or
  ``thirty-nine ninety`` read as a price (19.99, 39.90) after a price cue (``price``, ``costs``, ``only``, ``just``,
  ``for``, ``today``, ``usually``, ``it's``...) or when the first group is over 20 (it cannot be a year); otherwise as
  a year (1999). ``four ninety-nine`` is 4.99 after a price cue, else two counts.
* **Chinese numerals**: ``三十九``, ``一百二十``, ``一百二`` (=120), ``两``, ``一九九九`` (digit by digit), ``四点八``.
  A run of numerals counts only when a unit or measure word follows (``三十九元``, ``两件``, ``24小时``), a cue
  precedes it (``满``, ``减``, ``价``, ``剩``, ``百分之``...), or it is unmistakably a number (two or more characters
  with 十/百/千/万, or three or more digits). So ``一起``, ``一样``, ``十分``, ``万一`` and ``千万`` are words, not
  numbers. ``第一``-style ordinals and weekdays (``星期一``, ``周三``) are skipped.
* **Money** (``kind="money"``): a currency sign or code before or after (``$39``, ``US$39``, ``€5``, ``5€``,
  ``£0.50``, ``¥1980``, ``CHF 12``, ``39 USD``), a currency word after (``39 dollars``, ``twenty bucks``,
  ``5 euros``, ``12 Swiss francs``), the spoken price form of :func:`streamer.money.spoken_price`
  (``19 dollars 99`` = 19.99, ``1 euro 05`` = 1.05, ``34 dollars 5`` = 34.05, ``nineteen dollars ninety-nine``),
  ``19 dollars and 99 cents``, ``99 cents``/``99¢`` = 0.99, Chinese ``39元``, ``39块9`` = 39.9, ``三十九块九``,
  ``9毛`` = 0.9, ``美元``/``欧元``/``日元``/``人民币``, ``满200减30`` (both amounts are money), and a bare number
  right after a strong price cue (``price``/``priced``/``costs``/``pay``, ``价``/``只要``/``仅需``/``仅售``;
  never the word ``one``: "for the price of one" is a deal, not a price). ``pounds`` is money (GBP) only after
  ``£``, in the spoken form (``12 pounds 50``) or after a price cue; otherwise it is a weight (a count with unit
  ``pounds``). ``currency`` is an ISO code, or ``"$"`` / ``"¥"`` when only a sign or ``dollars`` says it (any
  dollar; yen or yuan): see :func:`currency_matches`. ``一块`` alone (``一块儿`` "together") is not money.
* **Percentages** (``kind="percent"``): ``20%``, ``20 percent``, ``twenty per cent``, ``百分之二十``.
  ``discount`` is True for a percentage *off*: ``20% off``, ``save 20%``, ``a 20% discount``,
  ``half price``/``half off`` (50), Chinese ``八折`` (20 off: price factor 0.8), ``八五折``/``8.5折`` (15 off),
  ``五折``/``半价``/``对折`` (50 off).
* **Time spans** (``kind="duration"``, ``unit`` one of second/minute/hour/day/week/month/year): ``24 hours``,
  ``48h``, ``3-5 business days`` (two durations: 3 and 5 days; a range's unit, currency or ``%`` applies to both
  ends: also ``3 to 5``, ``between 3 and 5``, ``3~5``, ``3到5天``), ``a 30-day return``, ``二十四小时``,
  ``3个工作日``, ``两周``.
  ``10-year-old`` and ``10 years old`` are ages (counts), ``2024年`` is a year (a count). ``一天``/``一年``/``一周``
  are spans only next to a delivery or duration word (``一天内发货``, ``一天到货``, ``需要一周``); in idioms
  (``一年四季``, ``一天到晚``) they are plain counts of one.
* **Everything else** is a ``count``: ``64 in stock``, ``two bags``, ``4.8 stars``, ``50x70 cm`` (two counts),
  times of day (``3pm``, ``8:30``, ``5 o'clock``, ``下午三点``: counts with ``cue="time"``), dates, ``1:100``.
  ``unit`` is the word right after it, when there is one. ``cue`` says which claim a count is attached to:
  ``"stock"`` (``12 left``, ``in stock``, ``remaining``, ``available``, ``sold``, ``库存``, ``仅剩``, ``已售``),
  ``"deal"`` (``buy 2``, ``get 1 free``, ``every two bags``, ``2 for $30``, ``$30 for two``,
  ``two for the price of one``, ``买二送一``) or ``"time"`` (a time of
  day); None when it is a plain count.

What is ignored (never a quantity)
----------------------------------
* Ordinal words (``first of all``, ``a second bed``, ``third``): discourse, not amounts. Digit ordinals (``5th``) are
  counts.
* ``one`` as a pronoun or in set phrases: ``this one``, ``the one``, ``which one``, ``one of``,
  ``one thing I love``, ``one more thing``, ``no one``, ``one-of-a-kind``, ``one day`` (unless after
  ``in``/``within``/``for``/``about``/``only``/``just``). ``a``/``an`` are never numbers on their own
  (``within a day`` is not a claim of 1), only before ``hundred``/``thousand``/``million``/``dozen``.
* ``half`` anywhere except ``half price``/``half-price``/``half off``/``half the price``.
* Numbers glued to letters, which are model names rather than amounts: ``3D``, ``4K``, ``X200``, ``USB-C``, ``v2``,
  ``Saturn-1``, ``USB-3`` (a word, a hyphen and digits). Digits followed by a known unit stay numbers
  (``24h``, ``5kg``, ``60cm``, ``2pcs``, ``3pm``, ``1st``).
* Product names passed as ``names``: the whole name, each name token that mixes digits with letters or punctuation
  (``Saturn-1``, ``50x70``, ``1:100``), and a bare number together with the word before it (``Series 5``). The
  matched text is blanked before reading, so ``the Series 5 watch`` claims nothing.
* The scale of a rating: ``5`` in ``4.8 out of 5`` (the 4.8 is read).
* Signs: ``-5`` reads as 5 (signs are not claims a shop makes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from streamer.money import CURRENCY_WORDS

QuantityKind = Literal["money", "percent", "count", "duration"]
ClaimCue = Literal["stock", "deal", "time"]

__all__ = [
    "ClaimCue",
    "Quantity",
    "QuantityKind",
    "currency_matches",
    "find_quantities",
    "normalise_text",
    "parse_number",
]


@dataclass(frozen=True, slots=True)
class Quantity:
    """One number a sentence states.

    ``start``/``end`` index the text given to :func:`find_quantities` (one quantity may span ``19 dollars 99``).
    ``value`` is exact (``Decimal``); a percentage holds the percent (20 for 20 %), a discount the percent *off*.
    """

    kind: QuantityKind
    value: Decimal
    text: str
    start: int
    end: int
    currency: str | None = None
    """Money: an ISO code (``USD``, ``CNY``), or ``"$"`` (some dollar) / ``"¥"`` (yen or yuan); None when unstated."""
    unit: str | None = None
    """Duration: second|minute|hour|day|week|month|year. Count: the word after it (``bags``, ``kg``, ``件``)."""
    discount: bool = False
    """Percent: a percentage off (``20% off``, ``八折``)."""
    cue: ClaimCue | None = None
    """Count: the claim it is attached to (see the module docstring)."""
    spelled: bool = False
    """Written in words (English or Chinese numerals) rather than digits."""


# ---- currencies --------------------------------------------------------------------------------------------

DOLLAR_CODES = frozenset({"USD", "CAD", "AUD", "NZD", "HKD", "SGD", "TWD", "MXN"})
YEN_YUAN_CODES = frozenset({"JPY", "CNY"})


def currency_matches(stated: str | None, iso: str) -> bool:
    """Whether money said as ``stated`` (a :attr:`Quantity.currency`) can be an amount in ``iso``."""
    if stated is None:
        return True
    if stated == "$":
        return iso in DOLLAR_CODES
    if stated == "¥":
        return iso in YEN_YUAN_CODES
    return stated == iso


_SIGNS = {"$": "$", "€": "EUR", "£": "GBP", "¥": "¥", "₩": "KRW", "₹": "INR", "円": "JPY"}
_DOLLAR_PREFIX = {"us": "USD", "c": "CAD", "ca": "CAD", "a": "AUD", "au": "AUD", "hk": "HKD", "s": "SGD", "nz": "NZD"}
# Every currency a sheet may use (money.CURRENCY_WORDS), plus aliases a viewer or an LLM may write.
_CODES = {code: code for code in CURRENCY_WORDS} | {"USD": "USD", "EUR": "EUR", "RMB": "CNY"}
_CURRENCY_WORDS = {
    "dollar": "$",
    "dollars": "$",
    "buck": "$",
    "bucks": "$",
    "euro": "EUR",
    "euros": "EUR",
    "yen": "JPY",
    "yuan": "CNY",
    "renminbi": "CNY",
    "rmb": "CNY",
    "franc": "CHF",
    "francs": "CHF",
    "rupee": "INR",
    "rupees": "INR",
    "pound": "GBP",
    "pounds": "GBP",
}
# Currency names of several words, longest first: the words before the last one say which currency it is.
_CURRENCY_PHRASES: dict[tuple[str, ...], str] = dict(
    sorted(
        (
            (tuple(name.lower().split()), code)
            for code, names in CURRENCY_WORDS.items()
            for name in names
            if " " in name
        ),
        key=lambda item: -len(item[0]),
    )
)
# The words money.spoken_price says for the other currencies ("12 Swedish kronor 50" is SEK); dollar words stay
# "$" (any dollar currency), and the adjectives before them are read by _DOLLAR_ADJ.
for _code, (_one, _many) in CURRENCY_WORDS.items():
    for _word in (_one.split()[-1].lower(), _many.split()[-1].lower()):
        _CURRENCY_WORDS.setdefault(_word, _code)
_DOLLAR_ADJ = {"us": "USD", "american": "USD", "canadian": "CAD", "australian": "AUD", "singapore": "SGD"}
_CENT_WORDS = frozenset({"cent", "cents", "pence", "penny"})
_ZH_CURRENCY_PREFIX = {"美": "USD", "欧": "EUR", "日": "JPY", "港": "HKD", "澳": "AUD", "加": "CAD"}

# ---- words -------------------------------------------------------------------------------------------------

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORDS = frozenset({*_UNITS, *_TEENS, *_TENS, "hundred", *_SCALES, "dozen"})

DURATION_WORDS = {
    "second": "second",
    "seconds": "second",
    "sec": "second",
    "secs": "second",
    "minute": "minute",
    "minutes": "minute",
    "min": "minute",
    "mins": "minute",
    "hour": "hour",
    "hours": "hour",
    "hr": "hour",
    "hrs": "hour",
    "h": "hour",
    "day": "day",
    "days": "day",
    "d": "day",
    "week": "week",
    "weeks": "week",
    "wk": "week",
    "wks": "week",
    "month": "month",
    "months": "month",
    "mo": "month",
    "year": "year",
    "years": "year",
    "yr": "year",
    "yrs": "year",
}
#: Letters that may follow digits directly and keep them a number ("24h", "5kg", "3pm", "1st").
_GLUED_SUFFIXES = frozenset(
    {
        *(DURATION_WORDS.keys() - {"d"}),  # "3D" is a model, not three days
        "kg",
        "g",
        "mg",
        "lb",
        "lbs",
        "oz",
        "cm",
        "mm",
        "m",
        "km",
        "ml",
        "l",
        "ft",
        "gsm",
        "w",
        "kw",
        "v",
        "mah",
        "gb",
        "tb",
        "mb",
        "hz",
        "khz",
        "ghz",
        "mp",
        "px",
        "pcs",
        "pc",
        "pk",
        "x",
        "am",
        "pm",
        "st",
        "nd",
        "rd",
        "th",
        "s",
        "c",
        "f",
        *_CODES.keys(),
        *(c.lower() for c in _CODES),
    }
)
_ONE_PRONOUN_BEFORE = frozenset(
    {
        "this",
        "that",
        "the",
        "which",
        "each",
        "every",
        "any",
        "no",
        "some",
        "another",
        "such",
        "my",
        "your",
        "our",
        "its",
        "their",
        "his",
        "her",
        "last",
        "next",
        "right",
        "good",
        "great",
        "new",
        "old",
        "favorite",
        "favourite",
        "little",
        "big",
        "small",
        "same",
        "cute",
        "lucky",
        "other",
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
    }
)
_ONE_PRONOUN_AFTER = frozenset(
    {"of", "thing", "things", "more", "another", "who", "that", "which", "s", "'s", "i", "you", "we", "way"}
)
_STRONG_PRICE_CUES = frozenset({"price", "priced", "prices", "cost", "costs", "costing", "pay", "pays", "paying"})
_PRICE_CUES = _STRONG_PRICE_CUES | frozenset(
    {
        "only",
        "just",
        "was",
        "now",
        "usually",
        "regularly",
        "normally",
        "today",
        "for",
        "at",
        "from",
        "down",
        "instead",
        "sale",
        "deal",
        "it's",
        "that's",
        "is",
        "of",
    }
)
_STOCK_AFTER = frozenset({"left", "remaining", "remain", "available", "stock", "sold", "inventory"})
_STOCK_BEFORE = frozenset({"stock", "inventory", "sold", "remaining"})
_DEAL_BEFORE = frozenset({"buy", "get", "every", "purchase", "order", "orders", "grab", "pick", "add"})
_DISCOUNT_AFTER = frozenset({"off", "discount", "discounted", "cheaper", "savings", "saving"})
_DISCOUNT_BEFORE = frozenset({"save", "saves", "saving", "savings", "discount", "off"})
#: Words after a number that are not what it counts ("64 in stock", "3 and 5").
_NOT_UNITS = frozenset(
    {"in", "left", "of", "to", "and", "or", "for", "at", "on", "the", "a", "an", "is", "are", "was", "with", "by"}
    | {"from", "per", "off", "get", "free", "this", "that", "it", "you", "we", "i", "more", "less", "than", "but"}
    | {"remaining", "available", "sold", "today", "now", "only", "just", "so", "if", "when", "times", "out"}
)
_RANGE_WORDS = frozenset({"to", "and", "or"})
_RANGE_SYMS = frozenset({"-", "~", "/"})

# ---- Chinese -----------------------------------------------------------------------------------------------

_ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
_ZH_NUMERALS = frozenset({*_ZH_DIGITS, *_ZH_SMALL_UNITS, *_ZH_BIG_UNITS})
_ZH_START = frozenset({*_ZH_DIGITS, "十"})
#: First characters of units and measure words that make a numeral run a number ("两件", "24小时", "3折").
_ZH_UNIT_START = frozenset(
    "个件只双套款瓶盒包袋支台把张条颗粒片层色种号岁位次份箱罐杯对根枚卷本页斤克公千米厘毫升度寸英码瓦伏倍人"
    "元块圆角毛钱秒分小钟天日周星月年点折"
)
_ZH_CUES_BEFORE = frozenset("满减省价售剩存送赠买付要需仅只才共约达超过")
_ZH_STOCK_BEFORE = ("库存", "剩", "现货", "已售", "售出", "卖出", "还有")
_ZH_DEAL_BEFORE = frozenset("买购拍满送赠")
_ZH_MEASURE_SKIP_TIME = frozenset("钟前后半")

# ---- text normalisation ------------------------------------------------------------------------------------

_TRANSLATE = {i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)}
_TRANSLATE.update(
    {
        0x3000: 0x20,
        0x00A0: 0x20,
        0x202F: 0x20,
        0x2009: 0x20,
        0xFFE5: ord("¥"),
        0x2018: ord("'"),
        0x2019: ord("'"),
        0x2013: ord("-"),
        0x2014: ord("-"),
        0x2212: ord("-"),
        0xFF5E: ord("~"),
        0x301C: ord("~"),
    }
)


def normalise_text(text: str) -> str:
    """Full-width digits, letters and signs to ASCII, curly apostrophes to ``'``, dashes to ``-``. Keeps length, so
    spans into the result are spans into the input."""
    return text.translate(_TRANSLATE)


_TOKEN_RE = re.compile(
    r"(?P<n>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?(?![0-9])|[0-9]+(?:\.[0-9]+)?)"
    r"|(?P<z>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])"
    r"|(?P<w>[A-Za-z]+(?:'[A-Za-z]+)*)"
    r"|(?P<s>[^\s\w]|_)"
)

#: A cheap first look (on lower-cased text): most sentences have no number at all.
_MAYBE_NUMBER = re.compile(
    r"[0-9零〇一二两三四五六七八九十半]|(?<![a-z])(?:"
    + "|".join(sorted({*_NUMBER_WORDS, "half"}, key=len, reverse=True))
    + r")(?![a-z])"
)


class _Tok:
    __slots__ = ("end", "kind", "low", "start", "text")

    def __init__(self, kind: str, text: str, start: int, end: int) -> None:
        self.kind = kind
        self.text = text
        self.low = text.lower()
        self.start = start
        self.end = end

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.kind}:{self.text}"


def _tokenise(text: str) -> list[_Tok]:
    return [_Tok(m.lastgroup or "s", m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


@dataclass(slots=True)
class _Raw:
    """A number found by the first pass, before its kind is decided from the words around it."""

    value: Decimal
    i0: int
    i1: int
    spelled: bool = False
    alt_price: Decimal | None = None
    kind: QuantityKind | None = None
    discount: bool = False
    cue: ClaimCue | None = None


# ---- name masking ------------------------------------------------------------------------------------------


def _name_pattern_parts(name: str) -> list[str]:
    parts = [r"\s+".join(re.escape(w) for w in name.split())]
    chunks = [c.strip(",.;()[]") for c in name.split()]
    for k, chunk in enumerate(chunks):
        if not chunk or not any(ch.isdigit() for ch in chunk):
            continue
        if re.fullmatch(r"[0-9]+(?:[.,][0-9]+)*", chunk):
            if k > 0 and chunks[k - 1]:
                parts.append(rf"(?<![\w-]){re.escape(chunks[k - 1])}[\s,]+{re.escape(chunk)}(?![\w])")
            elif k + 1 < len(chunks) and chunks[k + 1]:
                parts.append(rf"(?<![\w.,]){re.escape(chunk)}\s+{re.escape(chunks[k + 1])}(?![\w-])")
        else:
            parts.append(rf"(?<![\w-]){re.escape(chunk)}(?![\w-])")
    return parts


@lru_cache(maxsize=64)
def _name_mask(names: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern (matched on lower-cased text) for the numbers inside ``names``; None when no name has digits."""
    parts: set[str] = set()
    for name in names:
        if any(c.isdigit() for c in name):
            parts.update(_name_pattern_parts(same_length_lower(normalise_text(name))))
    if not parts:
        return None
    return re.compile("|".join(sorted(parts, key=len, reverse=True)))


def same_length_lower(text: str) -> str:
    """Lower case with the same length (spans found in it are spans of ``text``)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _masked(text: str, mask: re.Pattern[str]) -> str:
    spans = [m.span() for m in mask.finditer(same_length_lower(text))]
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


# ---- the parser --------------------------------------------------------------------------------------------


def find_quantities(text: str, *, names: Iterable[str] = ()) -> list[Quantity]:
    """Every quantity ``text`` states, in order (see the module docstring for the rules).

    ``names`` are product names whose numbers are part of a name (``Saturn-1``, ``Series 5``), not claims.
    """
    norm = normalise_text(text)
    if not _MAYBE_NUMBER.search(same_length_lower(norm)):
        return []
    mask = _name_mask(tuple(names)) if names else None
    if mask is not None:
        norm = _masked(norm, mask)
    return _Parser(norm, text).run()


def parse_number(text: str) -> Decimal | None:
    """The value of a number written alone: ``"1,299.00"``, ``"thirty-nine"``, ``"two hundred and fifty"``,
    ``"一百二十"``, ``"四点八"``. None when ``text`` is not exactly one number."""
    norm = normalise_text(text.strip())
    p = _Parser(norm, text.strip(), standalone=True)
    raws = p.raws()
    if len(raws) == 1 and raws[0].i0 == 0 and raws[0].i1 == len(p.toks) and raws[0].kind is None:
        return raws[0].value
    return None


def _zh_value(chars: Sequence[str]) -> Decimal:
    if not any(c in _ZH_SMALL_UNITS or c in _ZH_BIG_UNITS for c in chars):
        return Decimal("".join(str(_ZH_DIGITS[c]) for c in chars))
    total = 0
    section = 0
    num = 0
    last_unit = 0
    for c in chars:
        if c in _ZH_DIGITS:
            num = _ZH_DIGITS[c]
            if c in "零〇":
                last_unit = 0
        elif c in _ZH_SMALL_UNITS:
            unit = _ZH_SMALL_UNITS[c]
            section += (num or (1 if c == "十" else 0) or 1) * unit
            num = 0
            last_unit = unit
        else:
            big = _ZH_BIG_UNITS[c]
            total += (section + num) * big
            section = 0
            num = 0
            last_unit = big
    if num and last_unit >= 100 and chars[-1] in _ZH_DIGITS and chars[-2] in (*_ZH_SMALL_UNITS, *_ZH_BIG_UNITS):
        # Colloquial short form: 一百二 = 120, 三千五 = 3500, 一万五 = 15000.
        num *= last_unit // 10
    return Decimal(total + section + num)


class _Parser:
    def __init__(self, norm: str, original: str, *, standalone: bool = False) -> None:
        self.norm = norm
        self.original = original
        self.toks = _tokenise(norm)
        self.standalone = standalone

    # ---- token helpers ----------------------------------------------------------------------------------

    def glued(self, i: int) -> bool:
        """Token ``i`` touches token ``i - 1`` (no space between)."""
        return 0 < i < len(self.toks) and self.toks[i].start == self.toks[i - 1].end

    def low(self, i: int) -> str:
        return self.toks[i].low if 0 <= i < len(self.toks) else ""

    def kind(self, i: int) -> str:
        return self.toks[i].kind if 0 <= i < len(self.toks) else ""

    def words_before(self, i: int, count: int) -> list[str]:
        """Up to ``count`` word tokens before ``i``, nearest first, stopping at a sentence break or a number."""
        out: list[str] = []
        k = i - 1
        while k >= 0 and len(out) < count:
            t = self.toks[k]
            if t.kind == "w":
                out.append(t.low)
            elif t.kind == "n" or t.text in ".!?;。！？；":
                break
            k -= 1
        return out

    def zh_before(self, i: int, count: int) -> str:
        """Up to ``count`` glued Chinese characters ending right before token ``i``."""
        chars: list[str] = []
        k = i - 1
        while k >= 0 and len(chars) < count and self.toks[k].kind == "z":
            chars.append(self.toks[k].text)
            if not self.glued(k):
                break
            k -= 1
        return "".join(reversed(chars))

    def zh_after(self, i: int, count: int) -> str:
        chars: list[str] = []
        k = i
        while k < len(self.toks) and len(chars) < count and self.toks[k].kind == "z" and (k == i or self.glued(k)):
            chars.append(self.toks[k].text)
            k += 1
        return "".join(chars)

    # ---- pass 1: numbers --------------------------------------------------------------------------------

    def raws(self) -> list[_Raw]:
        out: list[_Raw] = []
        toks = self.toks
        n = len(toks)
        i = 0
        while i < n:
            t = toks[i]
            if t.kind == "n":
                i = self._digits(i, out)
            elif t.kind == "w":
                i = self._words(i, out)
            elif t.kind == "z":
                i = self._zh(i, out)
            else:
                i += 1
        return out

    def _skip_model(self, i: int) -> int:
        """Skip a glued chain of letters, digits and hyphens (a model name like ``X200-3D``)."""
        n = len(self.toks)
        j = i + 1
        while j < n and self.glued(j) and (self.toks[j].kind in ("w", "n") or self.toks[j].text == "-"):
            j += 1
        return j

    def _digits(self, i: int, out: list[_Raw]) -> int:
        toks = self.toks
        n = len(toks)
        t = toks[i]
        if self.glued(i):
            prev = toks[i - 1]
            if (
                prev.kind == "w"
                and prev.text not in _CODES
                and not (prev.low == "x" and self.glued(i - 1) and self.kind(i - 2) == "n")
            ):
                return self._skip_model(i)
            if (
                prev.text == "-"
                and self.glued(i - 1)
                and self.kind(i - 2) == "w"
                and self.low(i - 2) not in (_NUMBER_WORDS)
            ):
                return self._skip_model(i)
        try:
            value = Decimal(t.text.replace(",", ""))
        except InvalidOperation:  # pragma: no cover - the token pattern only admits valid numbers
            return i + 1
        j = i + 1
        euro_comma = self._euro_comma(i)
        if euro_comma is not None:
            value, j = euro_comma
        if j < n and self.glued(j) and toks[j].kind == "w":
            suffix = toks[j].low
            if suffix == "x" and j + 1 < n and self.glued(j + 1) and toks[j + 1].kind == "n":
                out.append(_Raw(value, i, i + 1))
                return j + 1
            if suffix not in _GLUED_SUFFIXES:
                return self._skip_model(i)
        # "1.5 million", "4 thousand", "2 dozen", "3万", "1.5万"
        if j < n and toks[j].kind == "w" and toks[j].low in _SCALES:
            value *= _SCALES[toks[j].low]
            j += 1
        elif j < n and toks[j].kind == "w" and toks[j].low == "dozen":
            value *= 12
            j += 1
        elif j < n and self.glued(j) and toks[j].text in _ZH_BIG_UNITS:
            value *= _ZH_BIG_UNITS[toks[j].text]
            j += 1
        elif (
            j < n
            and self.glued(j)
            and toks[j].text in ("千", "百")
            and self.zh_after(j + 1, 1) not in ("克", "米", "瓦", "卡", "分")
        ):
            value *= _ZH_SMALL_UNITS[toks[j].text]
            j += 1
        # "8:30", "1:100": both numbers; a clock reading marks the hour as a time of day.
        if j + 1 < n and toks[j].text == ":" and self.glued(j) and self.glued(j + 1) and toks[j + 1].kind == "n":
            minutes = toks[j + 1].text
            is_clock = len(minutes) == 2 and value <= 24 and int(minutes) < 60
            cue: ClaimCue | None = "time" if is_clock else None
            out.append(_Raw(value, i, j, cue=cue))
            out.append(_Raw(Decimal(minutes), j + 1, j + 2, cue=cue))
            return j + 2
        out.append(_Raw(value, i, j))
        return j

    def _euro_comma(self, i: int) -> tuple[Decimal, int] | None:
        """``19,99 €`` / ``€19,99`` / ``19,99 EUR``: a decimal comma, read only next to a euro sign or word."""
        toks = self.toks
        t = toks[i]
        if not (
            t.text.isdigit()
            and i + 2 < len(toks)
            and toks[i + 1].text == ","
            and self.glued(i + 1)
            and self.glued(i + 2)
            and toks[i + 2].kind == "n"
            and toks[i + 2].text.isdigit()
            and len(toks[i + 2].text) == 2
        ):
            return None
        before = toks[i - 1].text if i > 0 else ""
        after = toks[i + 3] if i + 3 < len(toks) else None
        euro_after = after is not None and (after.text in ("€", "EUR") or after.low in ("euro", "euros"))
        if before in ("€", "EUR") or euro_after:
            return Decimal(f"{t.text}.{toks[i + 2].text}"), i + 3
        return None

    def _words(self, i: int, out: list[_Raw]) -> int:
        toks = self.toks
        n = len(toks)
        low = toks[i].low
        if low == "half":
            k = i + 1
            if k < n and toks[k].text == "-":
                k += 1
            nxt = self.low(k)
            if nxt in ("price", "off", "priced") or (nxt == "the" and self.low(k + 1) == "price"):
                end = k + (2 if nxt == "the" else 1)
                out.append(_Raw(Decimal(50), i, end, spelled=True, kind="percent", discount=True))
                return end
            return i + 1
        if low in ("a", "an"):
            nxt = self.low(i + 1)
            if nxt in ("hundred", "dozen", *_SCALES):
                group = self._word_group(i + 1, implicit_one=True)
                if group is not None:
                    value, j, _ = group
                    out.append(_Raw(Decimal(value), i, j, spelled=True))
                    return self._word_decimals(j, out)
            return i + 1
        if low not in _NUMBER_WORDS or low in ("hundred", "dozen", *_SCALES):
            return i + 1
        group = self._word_group(i)
        if group is None:
            return i + 1
        value, j, parts = group
        if value == 1 and j == i + 1 and self._one_is_pronoun(i):
            return j
        # A second group right after ("nineteen ninety-nine", "thirty-nine ninety"): a price or a year.
        if 10 <= value <= 99 or (1 <= value <= 9 and parts == 1):
            second = self._word_group(j) if self.kind(j) == "w" and self.low(j) in _NUMBER_WORDS else None
            if second is not None:
                v2, j2, _ = second
                if 10 <= v2 <= 99:
                    price = Decimal(value) + Decimal(v2) / 100
                    if value >= 10:
                        out.append(_Raw(Decimal(value * 100 + v2), i, j2, spelled=True, alt_price=price))
                        return j2
                    if set(self.words_before(i, 3)) & _PRICE_CUES:  # "only four ninety-nine"
                        out.append(_Raw(price, i, j2, spelled=True, kind="money"))
                        return j2
        out.append(_Raw(Decimal(value), i, j, spelled=True))
        return self._word_decimals(j, out)

    def _word_decimals(self, j: int, out: list[_Raw]) -> int:
        """``four point eight``: append decimals to the number just read."""
        if self.low(j) != "point":
            return j
        digits: list[str] = []
        k = j + 1
        while self.kind(k) == "w" and self.low(k) in _UNITS:
            digits.append(str(_UNITS[self.low(k)]))
            k += 1
        if digits:
            raw = out[-1]
            raw.value = Decimal(f"{int(raw.value)}.{''.join(digits)}")
            raw.i1 = k
            return k
        return j

    def _word_group(self, i: int, *, implicit_one: bool = False) -> tuple[int, int, int] | None:
        """One English number (``two hundred and fifty``) starting at token ``i``: (value, end index, words used)."""
        toks = self.toks
        n = len(toks)
        total = 0
        current = 0
        last = "a" if implicit_one else ""
        k = i
        end = i
        parts = 0
        while k < n:
            t = toks[k]
            if t.kind == "s" and t.text == "-" and last == "tens" and self.glued(k) and self.low(k + 1) in _UNITS:
                k += 1
                continue
            if (
                t.kind == "w"
                and t.low == "and"
                and last in ("hundred", "scale")
                and self.low(k + 1)
                in (
                    *_UNITS,
                    *_TEENS,
                    *_TENS,
                )
            ):
                k += 1
                continue
            if t.kind != "w":
                break
            w = t.low
            if w in _UNITS and w != "zero" and last in ("", "tens", "hundred", "scale"):
                current += _UNITS[w]
                last = "unit"
            elif (w in _TEENS or w == "zero") and last in ("", "hundred", "scale"):
                current += _TEENS.get(w, 0)
                last = "teen"
            elif w in _TENS and last in ("", "hundred", "scale"):
                current += _TENS[w]
                last = "tens"
            elif w == "hundred" and last in ("unit", "teen", "a"):
                current = (current or 1) * 100
                last = "hundred"
            elif w in _SCALES and last in ("unit", "teen", "tens", "hundred", "a"):
                total += (current or 1) * _SCALES[w]
                current = 0
                last = "scale"
            elif w == "dozen" and last in ("unit", "a"):
                current = (current or 1) * 12
                last = "dozen"
            else:
                break
            parts += 1
            k += 1
            end = k
        if parts == 0:
            return None
        return total + current, end, parts

    def _one_is_pronoun(self, i: int) -> bool:
        before = self.low(i - 1) if self.kind(i - 1) == "w" else ""
        after = self.low(i + 1) if self.kind(i + 1) == "w" else ""
        if self.kind(i + 1) == "s" and self.toks[i + 1].text == "-" and self.glued(i + 1):
            return self.low(i + 2) == "of"  # "one-of-a-kind"
        if before in _ONE_PRONOUN_BEFORE or after in _ONE_PRONOUN_AFTER:
            return True
        if before == "only" and self.low(i - 2) in ("the", "my", "your", "our", "their"):
            return True  # "the only one" (but "only one left" is a stock claim)
        return after == "day" and before not in ("in", "within", "for", "about", "only", "just")

    def _zh(self, i: int, out: list[_Raw]) -> int:
        toks = self.toks
        ch = toks[i].text
        if ch == "百" and self.zh_after(i + 1, 2) == "分之":
            k = i + 3
            if self.zh_after(k, 1) == "百":
                out.append(_Raw(Decimal(100), i, k + 1, spelled=True, kind="percent"))
                return k + 1
            tmp: list[_Raw] = []
            if self.kind(k) == "n":
                self._digits(k, tmp)
            elif self.zh_after(k, 1) in _ZH_START:
                self._zh_run(k, tmp, forced=True)
            if tmp:
                out.append(_Raw(tmp[0].value, i, tmp[0].i1, spelled=self.kind(k) == "z", kind="percent"))
                return tmp[0].i1
            return i + 3
        if ch == "半" and self.zh_after(i + 1, 1) == "价":
            out.append(_Raw(Decimal(50), i, i + 2, spelled=True, kind="percent", discount=True))
            return i + 2
        if ch == "对" and self.zh_after(i + 1, 1) == "折":
            out.append(_Raw(Decimal(50), i, i + 2, spelled=True, kind="percent", discount=True))
            return i + 2
        if ch == "半" and self.zh_after(i + 1, 2) in ("小时", "个月", "年"):
            out.append(_Raw(Decimal("0.5"), i, i + 1, spelled=True))
            return i + 1
        if ch in _ZH_START:
            return self._zh_run(i, out)
        return i + 1

    def _zh_run(self, i: int, out: list[_Raw], *, forced: bool = False) -> int:
        toks = self.toks
        n = len(toks)
        j = i
        chars: list[str] = []
        while j < n and toks[j].kind == "z" and toks[j].text in _ZH_NUMERALS and (j == i or self.glued(j)):
            chars.append(toks[j].text)
            j += 1
        before = self.zh_before(i, 2)
        if before.endswith("第") or before[-1:] in ("周",) or before.endswith(("星期", "礼拜")):
            return j
        decimals = ""
        if self.zh_after(j, 1) == "点" and self.zh_after(j + 1, 1) in _ZH_DIGITS:
            k = j + 1
            while k < n and self.zh_after(k, 1) in _ZH_DIGITS and self.zh_after(k, 1) != "":
                decimals += str(_ZH_DIGITS[toks[k].text])
                k += 1
            j_end = k
        else:
            j_end = j
        nxt = self.zh_after(j_end, 1)
        has_units = any(c in _ZH_SMALL_UNITS or c in _ZH_BIG_UNITS for c in chars)
        accepted = (
            forced
            or bool(decimals)
            or (nxt != "" and nxt in _ZH_UNIT_START)
            or self.kind(j_end) in ("n",)
            or (j_end < n and toks[j_end].text == "%")
            or (before[-1:] in _ZH_CUES_BEFORE and before != "")
            or (has_units and len(chars) >= 2)
            or (not has_units and len(chars) >= 3)
        )
        if nxt == "点" and not decimals and not forced:
            # 三点 is 3 o'clock only as a clock reading (三点钟, 三点前, 三点半, 下午三点); 一点 is usually "a bit".
            after_dian = self.zh_after(j_end + 1, 1)
            clock = after_dian in _ZH_MEASURE_SKIP_TIME or before.endswith(("午", "上", "晨", "晚"))
            if not clock:
                accepted = has_units and len(chars) >= 2  # 十二点; but 一点 / 买一点 is "a bit"
        if nxt == "分" and self.zh_after(j_end + 1, 1) != "钟" and len(chars) == 1 and chars[0] == "十":
            accepted = False  # 十分 = "very"
        if not accepted:
            return j_end
        value = _zh_value(chars)
        if decimals:
            value = Decimal(f"{int(value)}.{decimals}")
        out.append(_Raw(value, i, j_end, spelled=True))
        return j_end

    # ---- pass 2: kinds ----------------------------------------------------------------------------------

    def run(self) -> list[Quantity]:
        raws = self.raws()
        if not raws:
            return []
        by_start = {r.i0: r for r in raws}
        results: list[tuple[Quantity, _Raw, bool]] = []
        consumed = -1
        for raw in raws:
            if raw.i0 < consumed:
                continue
            if self.low(raw.i0 - 1) == "of" and self.low(raw.i0 - 2) == "out":
                continue  # the scale of a rating ("4.8 out of 5"): its numerator is the claim
            q, end, bare = self._classify(raw, by_start)
            consumed = end
            results.append((q, raw, bare))
        self._spread_ranges(results)
        return [q for q, _, _ in results]

    def _make(
        self,
        raw: _Raw,
        end_tok: int,
        kind: QuantityKind,
        value: Decimal | None = None,
        *,
        start_tok: int | None = None,
        currency: str | None = None,
        unit: str | None = None,
        discount: bool = False,
        cue: ClaimCue | None = None,
    ) -> Quantity:
        """The quantity for ``raw``, spanning tokens ``start_tok`` (default: the number's first) to ``end_tok``."""
        start = self.toks[raw.i0 if start_tok is None else start_tok].start
        end = self.toks[end_tok - 1].end
        return Quantity(
            kind=kind,
            value=raw.value if value is None else value,
            text=self.original[start:end],
            start=start,
            end=end,
            currency=currency,
            unit=unit,
            discount=discount,
            cue=cue,
            spelled=raw.spelled,
        )

    def _prefix_currency(self, i0: int) -> tuple[str, int] | None:
        """A currency sign or code right before token ``i0``: (currency, index of its first token)."""
        k = i0 - 1
        if k < 0:
            return None
        t = self.toks[k]
        if t.kind == "s" and t.text in _SIGNS:
            cur = _SIGNS[t.text]
            if t.text == "$" and self.glued(k) and self.kind(k - 1) == "w" and self.low(k - 1) in _DOLLAR_PREFIX:
                return _DOLLAR_PREFIX[self.low(k - 1)], k - 1
            return cur, k
        if t.kind == "w" and t.text in _CODES:
            return _CODES[t.text], k
        if t.kind == "z":
            before = self.zh_before(i0, 3)
            if before.endswith("人民币"):
                return "CNY", i0 - 3
            if before.endswith(("美金", "美元")):
                return "USD", i0 - 2
        return None

    def _cents_after(self, j: int, by_start: dict[int, _Raw]) -> tuple[Decimal, int] | None:
        """``... dollars 99`` / ``... dollars and 99 cents`` / ``... dollars ninety-nine``: (fraction, end)."""
        k = j
        has_and = False
        if self.low(k) == "and":
            has_and = True
            k += 1
        raw = by_start.get(k)
        if raw is None or raw.kind is not None or raw.value != raw.value.to_integral_value():
            return None
        end = raw.i1
        if self.low(end) in _CENT_WORDS:
            return raw.value / 100, end + 1
        if has_and:
            return None
        if self.kind(end) == "s" and self.toks[end].text == "%":
            return None
        if self.low(end) in DURATION_WORDS or self.low(end) in ("percent", "per"):
            return None
        tok = self.toks[raw.i0]
        if tok.kind == "n":
            digits = tok.text
            if raw.i1 != raw.i0 + 1 or not digits.isdigit():
                return None
            # Spoken cents: "1 euro 05" and "34 dollars 5" are both 5 cents; "19 dollars 99" is 99 cents.
            return (Decimal(digits) / 100 if len(digits) == 1 else Decimal(f"0.{digits}")), end
        if 1 <= raw.value <= 99:
            return raw.value / 100, end
        return None

    def _zh_cents_after(self, j: int) -> tuple[Decimal, int]:
        """``39块9``, ``39元9角``, ``三十九块九毛九``: the fraction after 元/块 and the end index."""
        toks = self.toks
        n = len(toks)
        if j < n and self.glued(j) and toks[j].kind == "n" and toks[j].text.isdigit() and len(toks[j].text) <= 2:
            d = toks[j].text
            frac = Decimal(d) / (10 if len(d) == 1 else 100)
            k = j + 1
            if self.zh_after(k, 1) in ("角", "毛"):
                k += 1
            return frac, k
        if self.zh_after(j, 1) in _ZH_DIGITS and self.glued(j):
            frac = Decimal(_ZH_DIGITS[toks[j].text]) / 10
            k = j + 1
            if self.zh_after(k, 1) in ("角", "毛"):
                k += 1
                if self.zh_after(k, 1) in _ZH_DIGITS:
                    frac += Decimal(_ZH_DIGITS[toks[k].text]) / 100
                    k += 1
                    if self.zh_after(k, 1) == "分":
                        k += 1
            return frac, k
        return Decimal(0), j

    def _classify(self, raw: _Raw, by_start: dict[int, _Raw]) -> tuple[Quantity, int, bool]:
        """Kind, unit and cue of one number from the words around it: (quantity, end token index, bare)."""
        toks = self.toks
        n = len(toks)
        j = raw.i1
        if raw.kind == "money":
            return self._make(raw, j, "money"), j, False
        if raw.kind == "percent":
            after = {self.low(j), self.low(j + 1)}
            disc = raw.discount or bool(after & _DISCOUNT_AFTER) or self._zh_discount_near(raw.i0, j)
            return self._make(raw, j, "percent", discount=disc), j, False
        prefix = self._prefix_currency(raw.i0)
        nxt = toks[j] if j < n else None
        nlow = nxt.low if nxt else ""
        # ---- percent
        if nxt is not None and (nxt.text == "%" or nlow in ("percent", "pct")):
            end = j + 1
        elif nlow == "per" and self.low(j + 1) == "cent":
            end = j + 2
        else:
            end = 0
        if end:
            before = self.words_before(raw.i0, 3)
            disc = (
                bool({self.low(end), self.low(end + 1)} & _DISCOUNT_AFTER)
                or bool(set(before) & _DISCOUNT_BEFORE)
                or self._zh_discount_near(raw.i0, end)
            )
            return self._make(raw, end, "percent", discount=disc), end, False
        # ---- money: sign or code before
        if prefix is not None:
            cur, ptok = prefix
            value = raw.value
            end = j
            if nxt is not None and nxt.kind == "w" and nlow in _CURRENCY_WORDS:
                end = j + 1  # "$5 dollars"
            elif nxt is not None and nxt.text in ("元", "块") and cur == "CNY":
                frac, end = self._zh_cents_after(j + 1)
                value += frac
            return self._make(raw, end, "money", value, currency=cur, start_tok=ptok), end, False
        # ---- money: currency word, code or sign after (or a Chinese deal amount: 满200减30)
        money = self._money_after(raw, j, by_start)
        if money is not None:
            return money
        # ---- Chinese discount: 八折, 8.5折
        if nxt is not None and nxt.text == "折" and self.zh_after(j + 1, 1) != "叠":
            v = raw.value
            off: Decimal | None = None
            if v < 10:
                off = (Decimal(10) - v) * 10
            elif v < 100 and v == v.to_integral_value():
                off = Decimal(100) - v
            if off is not None and off > 0:
                return self._make(raw, j + 1, "percent", off, discount=True), j + 1, False
        # ---- durations
        dur = self._duration_after(raw, j)
        if dur is not None:
            return dur
        # ---- a bare number after a strong price cue is money; a word pair after any price cue is a price
        if raw.alt_price is not None:
            before = self.words_before(raw.i0, 3)
            if set(before) & _PRICE_CUES or raw.value >= 2100:
                return self._make(raw, j, "money", raw.alt_price), j, False
        if not (raw.spelled and raw.value == 1) and not self._stock_cue(raw.i0, j) and self._strong_price_cue(raw.i0):
            return self._make(raw, j, "money"), j, False
        # ---- a count
        cue: ClaimCue | None = raw.cue
        unit: str | None = None
        end = j
        if nxt is not None and nxt.kind == "w" and nlow in ("am", "pm", "o'clock"):
            cue = "time"
            unit = nlow
            end = j + 1
        elif nxt is not None and nxt.text == "." and self.low(j + 1) == "m" and self.low(j - 1) in ("a", "p"):
            cue = "time"
        elif (
            nxt is not None
            and nxt.text == "点"
            and (
                self.zh_after(j + 1, 1) in _ZH_MEASURE_SKIP_TIME or self.zh_before(raw.i0, 2)[-1:] in ("午", "上", "晚")
            )
        ):
            cue = "time"
            unit = "点"
            end = j + 1
        else:
            if nxt is not None and nxt.kind == "w" and nlow not in _NOT_UNITS:
                unit = nlow
            elif nxt is not None and nxt.kind == "z" and nxt.text in _ZH_UNIT_START:
                unit = nxt.text
            if self._stock_cue(raw.i0, j):
                cue = "stock"
            elif cue is None and self._deal_cue(raw.i0, j):
                cue = "deal"
        if nlow in ("year", "years") and (self.low(j + 1) == "old" or self.low(j + 2) == "old"):
            unit = "age"
        bare = cue is None and unit is None
        return self._make(raw, end, "count", unit=unit, cue=cue), end, bare

    def _money_after(self, raw: _Raw, j: int, by_start: dict[int, _Raw]) -> tuple[Quantity, int, bool] | None:
        toks = self.toks
        if j >= len(toks):
            if self.zh_before(raw.i0, 1) in ("满", "减", "省"):
                return self._make(raw, j, "money"), j, False
            return None
        nxt = toks[j]
        nlow = nxt.low
        # "19 Canadian dollars", "5 US dollars"
        adj_cur: str | None = None
        k = j
        phrase = next((p for p in _CURRENCY_PHRASES if all(self.low(j + i) == w for i, w in enumerate(p))), None)
        if phrase is not None:  # "Swiss francs", "Hong Kong dollars", "Swedish kronor": as spoken_price says them
            adj_cur = _CURRENCY_PHRASES[phrase]
            k = j + len(phrase) - 1
        elif nxt.kind == "w" and nlow in _DOLLAR_ADJ and self.low(j + 1) in ("dollar", "dollars"):
            adj_cur = _DOLLAR_ADJ[nlow]
            k = j + 1
        klow = self.low(k)
        if self.kind(k) == "w" and (klow in _CURRENCY_WORDS or toks[k].text in _CODES):
            cur = adj_cur or _CURRENCY_WORDS.get(klow) or _CODES[toks[k].text]
            cents = self._cents_after(k + 1, by_start)
            if klow in ("pound", "pounds") and cents is None:
                if not (set(self.words_before(raw.i0, 3)) & _PRICE_CUES):
                    return None  # a weight: "7 pounds"
            value = raw.value
            end = k + 1
            if cents is not None:
                value += cents[0]
                end = cents[1]
            return self._make(raw, end, "money", value, currency=cur), end, False
        if nlow in _CENT_WORDS or nxt.text == "¢":
            return self._make(raw, j + 1, "money", raw.value / 100), j + 1, False
        if nxt.kind == "s" and nxt.text in _SIGNS and nxt.text != "$":
            cur = _SIGNS[nxt.text]
            return self._make(raw, j + 1, "money", currency=cur), j + 1, False
        if nxt.kind == "z":
            zh = self.zh_after(j, 3)
            if zh[:1] in ("元", "块", "圆"):
                frac, end = self._zh_cents_after(j + 1)
                if zh[:1] == "块" and raw.value == 1 and frac == 0 and zh[1:2] != "钱":
                    return None  # 一块儿 "together", 一块蛋糕 "a piece of cake"
                if zh[1:2] == "钱":
                    end = max(end, j + 2)
                return self._make(raw, end, "money", raw.value + frac, currency="CNY"), end, False
            if zh[:1] in ("角", "毛") and raw.value < 10:
                return self._make(raw, j + 1, "money", raw.value / 10, currency="CNY"), j + 1, False
            if zh[:1] in _ZH_CURRENCY_PREFIX and zh[1:2] == "元":
                cur = _ZH_CURRENCY_PREFIX[zh[:1]]
                return self._make(raw, j + 2, "money", currency=cur), j + 2, False
            if zh[:2] in ("英镑",):
                return self._make(raw, j + 2, "money", currency="GBP"), j + 2, False
            if zh[:2] in ("港币",):
                return self._make(raw, j + 2, "money", currency="HKD"), j + 2, False
            if zh[:3] == "人民币":
                return self._make(raw, j + 3, "money", currency="CNY"), j + 3, False
        # Chinese deal amounts: 满200减30, 立减30, 省30
        zb = self.zh_before(raw.i0, 1)
        if zb in ("满", "减", "省") and not (nxt.kind == "z" and nxt.text in _ZH_UNIT_START and nxt.text != "元"):
            return self._make(raw, j, "money"), j, False
        return None

    def _duration_after(self, raw: _Raw, j: int) -> tuple[Quantity, int, bool] | None:
        toks = self.toks
        n = len(toks)
        if j >= n:
            return None
        k = j
        # "30-day", "two-year"
        if toks[k].text == "-" and self.glued(k) and self.kind(k + 1) == "w":
            k += 1
        if self.low(k) in ("business", "working", "calendar", "full") and self.low(k + 1) in ("day", "days"):
            k += 1
        w = self.low(k)
        if self.kind(k) == "w" and w in DURATION_WORDS:
            if w in ("h", "d", "hr", "hrs", "min", "mins", "sec", "secs", "mo", "yr", "yrs", "wk", "wks") and not (
                self.glued(k) or k == j
            ):
                return None
            if w in ("year", "years") and (self.low(k + 1) == "old" or self.low(k + 2) == "old"):
                return None  # an age
            unit = DURATION_WORDS[w]
            return self._make(raw, k + 1, "duration", unit=unit), k + 1, False
        if toks[j].kind == "z":
            zh = self.zh_after(j, 4)
            for prefix, unit, length in (
                ("个小时", "hour", 3),
                ("小时", "hour", 2),
                ("钟头", "hour", 2),
                ("个钟头", "hour", 3),
                ("分钟", "minute", 2),
                ("秒", "second", 1),
                ("个工作日", "day", 4),
                ("工作日", "day", 3),
                ("天", "day", 1),
                ("个星期", "week", 3),
                ("个礼拜", "week", 3),
                ("星期", "week", 2),
                ("礼拜", "week", 2),
                ("周", "week", 1),
                ("个月", "month", 2),
                ("年", "year", 1),
            ):
                if zh.startswith(prefix):
                    if unit == "year" and raw.value >= 1000:
                        return None  # 2024年: a year, read as a count
                    end = j + length
                    if (
                        raw.spelled
                        and raw.value == 1
                        and toks[raw.i0].text == "一"
                        and not self._zh_time_claim(raw.i0, end)
                    ):
                        return None  # 一年四季, 一天到晚: idioms, not a time span claimed
                    return self._make(raw, end, "duration", unit=unit), end, False
        return None

    def _zh_time_claim(self, i0: int, end: int) -> bool:
        """一天/一周 is a claimed span only next to a delivery or duration word (一天内发货, 需要一周, 约一个月)."""
        after = self.zh_after(end, 2)
        if after[:1] in ("内", "后", "左", "就", "即", "送", "发") or after in ("到货", "到达", "到手", "到家"):
            return True
        return self.zh_before(i0, 1) in ("在", "需", "要", "约", "用", "等")

    def _strong_price_cue(self, i0: int) -> bool:
        before = self.words_before(i0, 3)
        if set(before) & _STRONG_PRICE_CUES:
            return True
        if before[:2] == ["just", "for"] or before[:2] == ["only", "for"]:
            return True
        zh = self.zh_before(i0, 2)
        return zh.endswith(("价", "只要", "仅需", "只需", "仅售", "售", "才"))

    def _stock_cue(self, i0: int, j: int) -> bool:
        after: list[str] = []
        k = j
        while k < len(self.toks) and len(after) < 4:
            t = self.toks[k]
            if t.kind == "n" or t.text in ".!?;,。！？；，":
                break
            if t.kind == "w":
                after.append(t.low)
            k += 1
        if set(after) & _STOCK_AFTER:
            return True
        if set(self.words_before(i0, 3)) & _STOCK_BEFORE:
            return True
        zh = self.zh_before(i0, 4)
        return any(zh.endswith(c) or (c in zh and len(c) > 1) for c in _ZH_STOCK_BEFORE)

    def _deal_cue(self, i0: int, j: int) -> bool:
        """Attached to an offer: "buy 2", "every two bags", "get 1 free", "2 for $30", "two for the price of one",
        买二送一."""
        before = self.words_before(i0, 3)
        if set(before[:2]) & _DEAL_BEFORE or "price" in before:
            return True
        if self.low(i0 - 1) == "for" and (self.kind(i0 - 2) == "n" or self.low(i0 - 2) in _CURRENCY_WORDS):
            return True  # "$39.90 for two", "20 dollars for three"
        zb = self.zh_before(i0, 1)
        if zb and zb in _ZH_DEAL_BEFORE:
            return True
        toks = self.toks
        k = j
        words: list[str] = []
        while k < len(toks) and len(words) < 4:
            t = toks[k]
            if t.text in ".!?;。！？；":
                break
            if t.kind == "w":
                words.append(t.low)
                if t.low == "for" and k + 1 < len(toks) and (toks[k + 1].kind == "n" or toks[k + 1].text in _SIGNS):
                    return True
            elif t.kind == "z" and t.text in "送赠":
                return True
            k += 1
        return "free" in words[:3] or "price" in words

    def _zh_discount_near(self, i0: int, end: int) -> bool:
        around = self.zh_before(i0, 3) + self.zh_after(end, 3)
        return any(w in around for w in ("优惠", "折扣", "打折", "立减", "省"))

    def _spread_ranges(self, results: list[tuple[Quantity, _Raw, bool]]) -> None:
        """``3-5 days``, ``$20-30``, ``20 to 30%``: the typed end of a range gives its kind to the bare end."""
        for idx in range(len(results) - 1):
            q1, r1, bare1 = results[idx]
            q2, r2, bare2 = results[idx + 1]
            if not self._is_range(r1, q1, r2):
                continue
            if bare1 and not bare2 and q2.kind != "count":
                results[idx] = (
                    replace(q1, kind=q2.kind, unit=q2.unit, currency=q2.currency, discount=q2.discount),
                    r1,
                    False,
                )
            elif bare2 and not bare1 and q1.kind in ("money", "percent") and q1.kind != "count":
                if q1.kind == "money" and q1.currency is None:
                    continue
                results[idx + 1] = (
                    replace(q2, kind=q1.kind, unit=q1.unit, currency=q1.currency, discount=q1.discount),
                    r2,
                    False,
                )

    def _is_range(self, r1: _Raw, q1: Quantity, r2: _Raw) -> bool:
        """True when the two numbers are the ends of one range (joined by ``-``, ``to``, ``~``, ``到``...)."""
        # tokens strictly between the end of q1 and the start of r2
        k = r1.i1
        while k < len(self.toks) and self.toks[k].end <= q1.end:
            k += 1
        gap = self.toks[k : r2.i0]
        if len(gap) == 1:
            g = gap[0]
            if g.text in _RANGE_SYMS or g.low in _RANGE_WORDS or g.text in ("到", "至"):
                return g.low != "and" or "between" in self.words_before(r1.i0, 2)
        return False
