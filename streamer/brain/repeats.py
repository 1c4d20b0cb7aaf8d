"""Memory of the facts the host has said, whatever the phrasing (pure logic, the caller's clock).

A shopper who hears "raised rim that supports head and neck" three times in two minutes leaves. Sentence-level
no-repeat rules do not catch it: templates, hand-written sections, FAQ answers and an LLM all say the same fact in
different words. :class:`FactMemory` compares what a sentence *says*: its content words (no stopwords, no filler,
no template glue such as "one thing I love") as word pairs, plus characters pairs for Chinese. A sentence whose pairs
were mostly said within ``window_s`` seconds of air time repeats a fact.
"""

from __future__ import annotations

import collections
import itertools
import re
from dataclasses import dataclass

from streamer.brain.intents import FILLER_WORDS, STOPWORDS
from streamer.lang import TABLES

#: The words templates put around facts; they say nothing about which fact is meant.
GLUE_WORDS: frozenset[str] = frozenset(
    """love detail handy nice first top plus also thing here's take look let show say hello showing usually
    today regular pay instead we've there're left stock right now price priced ask asked asking someone people
    often earlier lot chat type tap card screen grab order hit questions question anything know just check
    welcome stream everyone guys folks friends back again deal offer today's promotion promo currently
    comes come with it's its that's isn't what's great really pretty super little bit means mean which""".split()
)

_TOKEN = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*|[\u3400-\u9fff]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_GLUE = frozenset("的了是在有和就也都很这那个吧呢啊哦呀嘛我你他她它们今天现在大家")
_GLUE_SPLIT = re.compile(r"\{[a-z_]+\}|[，。！？：、；,.!?:;（）()\s]+")


def _glue_phrases() -> tuple[str, ...]:
    """The Chinese words templates put around facts ("给大家说一下参数", "直播间福利", "点击下方小黄车"): every literal
    piece of the zh tables' phrasings, longest first. Said around different facts, they are not a fact."""
    pieces: set[str] = set()
    for t in TABLES.values():
        templates = [x for v in t.patter.values() for x in v] + [x for v in t.phrases.values() for x in v]
        templates += [*t.feature_leads, *t.thanks, t.spec_list_shape, t.spec_count_shape, t.spec_default_shape]
        templates += [shape for _, shape in t.spec_shapes]
        for template in templates:
            for piece in _GLUE_SPLIT.split(template):
                if len(piece) >= 2 and _CJK.search(piece) and not re.search(r"[a-z0-9]", piece, re.I):
                    pieces.add(piece)
    return tuple(sorted(pieces, key=lambda p: (-len(p), p)))


#: Chinese template words, longest first (removed from a sentence before its facts are read).
CJK_GLUE_PHRASES: tuple[str, ...] = _glue_phrases()
_CJK_GLUE_RX = re.compile("|".join(re.escape(p) for p in CJK_GLUE_PHRASES)) if CJK_GLUE_PHRASES else None


#: Number words, read as digits: "eight hours" and "8 hours" state one fact.
_NUMBER_WORDS: dict[str, str] = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}


def content_tokens(sentence: str, ignore: frozenset[str] = frozenset()) -> list[str]:
    """The words (and Chinese characters) that carry the sentence's facts, in order; ``ignore``: more words to
    leave out (product names: naming a product is not stating a fact)."""
    out: list[str] = []
    text = sentence.lower()
    if _CJK_GLUE_RX is not None and _CJK.search(text):
        text = _CJK_GLUE_RX.sub(" ", text)
    for tok in _TOKEN.findall(text):
        if _CJK.match(tok):
            if tok not in _CJK_GLUE and tok not in ignore:
                out.append(tok)
            continue
        if tok in STOPWORDS or tok in FILLER_WORDS or tok in GLUE_WORDS:
            continue
        tok = _NUMBER_WORDS.get(tok, tok)
        if len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss"):
            tok = tok[:-1]  # "rims" and "rim" are one fact word
        if tok in ignore:
            continue
        out.append(tok)
    return out


def fact_keys(sentence: str, ignore: frozenset[str] = frozenset()) -> frozenset[tuple[str, ...]]:
    """What a sentence says, as a set of content-word pairs (a lone content word when there is only one)."""
    tokens = content_tokens(sentence, ignore)
    if len(tokens) == 1:
        return frozenset({(tokens[0],)})
    return frozenset(itertools.pairwise(tokens))


#: Units of a measured quantity ("8 hours", "eight hours", "60 cm"): a quantity said again is the same fact in
#: other words ("USB-C rechargeable, 8 hours per charge." then "The battery lasts 8 hours.").
_UNITS: dict[str, str] = {
    **{u: "hour" for u in ("hour", "hours", "hr", "hrs", "h")},
    **{u: "minute" for u in ("minute", "minutes", "min", "mins")},
    **{u: "day" for u in ("day", "days")},
    **{u: "week" for u in ("week", "weeks")},
    **{u: "month" for u in ("month", "months")},
    **{u: "year" for u in ("year", "years")},
    **{u: "kg" for u in ("kg", "kilo", "kilos", "kilogram", "kilograms")},
    **{u: "g" for u in ("g", "gram", "grams")},
    **{u: "cm" for u in ("cm", "centimetre", "centimetres", "centimeter", "centimeters")},
    **{u: "mm" for u in ("mm",)},
    **{u: "m" for u in ("m", "metre", "metres", "meter", "meters")},
    **{u: "inch" for u in ("inch", "inches")},
    **{u: "l" for u in ("l", "litre", "litres", "liter", "liters")},
    **{u: "ml" for u in ("ml",)},
    **{u: "w" for u in ("w", "watt", "watts")},
    **{u: "mah" for u in ("mah",)},
    **{u: "gsm" for u in ("gsm",)},
}
_QUANTITY = re.compile(
    r"\b(\d+(?:\.\d+)?|" + "|".join(_NUMBER_WORDS) + r")\s?(" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")\b"
)
#: A sentence whose measured quantities were all said within the window repeats a fact when this share of its word
#: pairs was said too (instead of :attr:`FactMemory.threshold`).
QUANTITY_SHARE = 0.25


def quantity_keys(sentence: str) -> frozenset[tuple[str, ...]]:
    """The measured quantities a sentence states, as keys ("#", "8", "hour"); "eight hours" and "8 hrs" are one."""
    found = _QUANTITY.findall(sentence.lower())
    return frozenset(("#", _NUMBER_WORDS.get(n, n), _UNITS[u]) for n, u in found)


@dataclass(slots=True, frozen=True)
class RepeatVerdict:
    repeated: bool
    seen_share: float
    """Share of the sentence's fact pairs said within the window (0..1)."""


MAX_TIMES_PER_KEY = 8
"""Times a fact pair is remembered as said (bounded memory per pair)."""


class FactMemory:
    """Fact pairs said in the last ``window_s`` seconds (on the caller's clock). Bounded: ``max_keys`` pairs."""

    def __init__(self, *, window_s: float = 300.0, threshold: float = 0.5, max_keys: int = 20_000) -> None:
        self.window_s = window_s
        self.threshold = threshold
        self._said: dict[tuple[str, ...], list[float]] = {}
        """When each pair was said (the last :data:`MAX_TIMES_PER_KEY` times, oldest first): forgetting one
        sentence gives back only its own saying of a pair, never an earlier sentence's."""
        self._order: collections.deque[tuple[float, tuple[str, ...]]] = collections.deque()
        self._max_keys = max_keys
        self._ignore: frozenset[str] = frozenset()
        self._last: dict[str, float] = {}
        """When each recent sentence was remembered (so forgetting it takes back only its own facts)."""
        self.blocked = 0
        """Sentences refused as repeats (a metric)."""

    def set_names(self, names: list[str]) -> None:
        """Product names of the catalog: their words are not facts (a transition naming the next product must not
        block the hook that names it again)."""
        words: set[str] = set()
        for name in names:
            words.update(content_tokens(name))
        self._ignore = frozenset(words)

    def _trim(self, now_s: float) -> None:
        cutoff = now_s - self.window_s
        while self._order and (self._order[0][0] < cutoff or len(self._order) > self._max_keys):
            at, key = self._order.popleft()
            self._drop(key, at)

    def _drop(self, key: tuple[str, ...], at: float) -> None:
        times = self._said.get(key)
        if times is None:
            return
        try:
            times.remove(at)
        except ValueError:
            return
        if not times:
            del self._said[key]

    def check(self, sentence: str, now_s: float) -> RepeatVerdict:
        """Whether ``sentence`` says mostly what was said within the window. A sentence with no fact words (a
        greeting, "Ask me in the chat") never counts as a repeat here."""
        self._trim(now_s)
        keys = fact_keys(sentence, self._ignore)
        if not keys:
            return RepeatVerdict(False, 0.0)
        seen = sum(1 for k in keys if k in self._said)
        share = seen / len(keys)
        quantities = quantity_keys(sentence)
        said_again = bool(quantities) and all(q in self._said for q in quantities) and share >= QUANTITY_SHARE
        return RepeatVerdict(share >= self.threshold or said_again, share)

    def remember(self, sentence: str, now_s: float) -> None:
        for key in fact_keys(sentence, self._ignore) | quantity_keys(sentence):
            times = self._said.setdefault(key, [])
            times.append(now_s)
            if len(times) > MAX_TIMES_PER_KEY:
                del times[0]
            self._order.append((now_s, key))
        self._last[sentence] = now_s
        if len(self._last) > 256:
            self._last.pop(next(iter(self._last)))
        self._trim(now_s)

    def forget(self, sentence: str) -> None:
        """A sentence was not heard after all (cut before it was said): its own saying of its facts is taken back;
        a fact another sentence said, before or since, stays said."""
        at = self._last.pop(sentence, None)
        if at is None:
            return
        for key in fact_keys(sentence, self._ignore) | quantity_keys(sentence):
            self._drop(key, at)

    def admit(self, sentence: str, now_s: float) -> bool:
        """Check and, when it is not a repeat, remember. False (and counted) for a repeat."""
        if self.check(sentence, now_s).repeated:
            self.blocked += 1
            return False
        self.remember(sentence, now_s)
        return True


__all__ = [
    "CJK_GLUE_PHRASES",
    "GLUE_WORDS",
    "FactMemory",
    "RepeatVerdict",
    "content_tokens",
    "fact_keys",
    "quantity_keys",
]
