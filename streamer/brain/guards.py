"""The guards every sentence passes before the host may speak it, whichever brain wrote it.

A wrong price or an invented discount on a live shopping stream is a legal problem for the shop, so the guards are
strict and plain: pure logic, no I/O after construction, no clock, no model. :meth:`SentenceGuard.check` takes one
sentence and returns a :class:`GuardVerdict`: the text to speak (unchanged or rewritten) or None (drop it), and the
:class:`GuardAction` list saying why. It never invents or "fixes" a number.

Checks, in order (the first drop ends the check):

1. **honesty** (rewrite): a claim to be human ("I'm a real person", "I'm not a bot", 我是真人, 我不是机器人) is
   replaced by a disclosure in the persona's language ("I'm an AI host, and I'm here to help." / "我是AI主播。").
2. **profanity** (drop): ``profanity_en.txt``/``profanity_zh.txt``. Dropped rather than masked: the voice would read
   a masked word aloud ("f star star"), and a half-sentence is worse than none.
3. **banned_topic** (drop): topics switched on by ``persona.banned_topics`` (free text) and their keywords in
   ``banned_topics.txt``; a persona entry that names no known topic is matched as a phrase of its own
   (listed in :attr:`SentenceGuard.unmatched_topics` so ``check`` can warn the operator).
4. **adlaw** (drop or rewrite): ``absolute_en.txt``/``absolute_zh.txt``. Entries without a rewrite (absolute claims
   such as "number one", "the cheapest", 国家级; medical claims such as "cures", 治疗) drop the sentence; entries
   with one ("the best" -> "a great", "best-selling" -> "popular", "guaranteed" -> removed) rewrite it. A rewritable
   word inside an unknown compound ("best-in-class") drops the sentence. The Chinese list applies only to sentences
   that contain Chinese characters.
5. **fact** (drop): every quantity (:mod:`streamer.brain.numbers`) must be a fact of the product talked about, or of
   another catalog product the sentence names (by full name, the name before a comma, the name without trailing
   sizes, the last two words of a longer name, or a model token such as ``Saturn-1``). Numbers inside any catalog
   product's name are not claims. Facts of a product (cached by id and a hash of the sheet):

   * money: price, list price, the saving (list - price), N x price when the number N appears in the promo, and
     every money amount written in the sheet's text (in the sheet's currency unless the text names another);
   * percent: percentages in the text; discounts (a percent *off*): floor and rounding of
     (list - price) / list x 100, and percentages off in the text (``Ten percent off``, ``八折``);
   * duration: (value, unit) pairs in the text (``3-5 business days`` gives 3 and 5 days), and specs whose key ends
     in a unit (``build_time_h: 12`` is 12 hours); units must match: "2 days" never matches "48 hours";
   * counts: the stock and every number in the sheet (specs, features, description, FAQ questions and answers,
     promo, shipping, name, hand-written sections).

   How each kind matches:

   * money matches only money facts, with a compatible currency (``$`` fits USD or another dollar, ``¥`` fits JPY or
     CNY); so the stock 12 said as "$12" fails, and so does 19.98 for 19.99;
   * a percentage off matches only discount facts; another percentage any percent fact;
   * a duration matches only a duration fact with the same unit;
   * a count attached to stock ("12 left", 库存12) matches only the stock or a stock count in the text; a count
     attached to a deal ("buy 2", "get 1 free", 买二送一) matches only counts in the promo or deal counts in the text;
     a time of day ("3pm") and any other count match any number of the sheet (so "thirty-nine" passes for $39);
   * **small counts**: a plain count of 1, 2 or 3 with no stock, deal or time cue ("two bags", "one size",
     "三个") passes without a fact: it is how people talk, not a claim. The same numbers as money, percent, duration,
     stock, deal or time are checked like any other.

   With no product and no named product, any checked number drops the sentence. Sentences without numbers pass.
6. **length** (rewrite): a sentence longer than ``settings.max_sentence_chars`` is cut before the cap, at the last
   clause break (``,;:``) in the second half of the kept text or else at a word boundary (any character for Chinese),
   and ends with a period (``。`` for Chinese). The cut sentence is fact-checked again: cutting "19 dollars 99" to
   "19 dollars" would change a price, and is dropped.

Word lists are plain UTF-8 text, one entry per line (format: :mod:`streamer.wordlists`, which reads and matches
them for the guards and chat triage alike); the operator's ``extra_rules_dir`` files with the same names add to the
built-in ones. A bad line raises :class:`GuardRulesError` naming the file and line.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from streamer.brain.numbers import (
    DURATION_WORDS,
    Quantity,
    currency_matches,
    find_quantities,
    same_length_lower,
)
from streamer.config import GuardSettings, Persona, ProductSheet
from streamer.lang import TABLES as LANGUAGE_TABLES
from streamer.products.facts import SheetFacts, sheet_facts
from streamer.wordlists import (
    PhraseList,
    RuleEntry,
    WordListError,
    WordLists,
    check_phrase,
    combined_pattern,
    load_word_lists,
    phrase_key,
)
from streamer.wordlists import parse_rule_file as parse_rule_file  # re-exported: the guards' word-list format

log = logging.getLogger(__name__)

GuardKind = Literal["fact", "adlaw", "banned_topic", "honesty", "profanity", "length"]
GUARD_KINDS: tuple[GuardKind, ...] = ("fact", "adlaw", "banned_topic", "honesty", "profanity", "length")

RULE_FILES: tuple[str, ...] = (
    "absolute_en.txt",
    "absolute_zh.txt",
    "banned_topics.txt",
    "profanity_en.txt",
    "profanity_zh.txt",
)

DISCLOSURES: dict[str, str] = {code: t.disclosure for code, t in LANGUAGE_TABLES.items()}
"""The guard's replacement for a claim to be human, by language (from :mod:`streamer.lang`)."""

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True, slots=True)
class GuardAction:
    kind: GuardKind
    detail: str


@dataclass(slots=True)
class GuardVerdict:
    """``text``: what to speak (the input, or a rewrite); None: drop the sentence. ``actions``: what the guards did."""

    text: str | None
    actions: list[GuardAction] = field(default_factory=list)


GuardRulesError = WordListError
"""A word list could not be read (the same class as :class:`streamer.wordlists.WordListError`)."""
GuardRules = WordLists
"""The parsed word lists (:class:`streamer.wordlists.WordLists`)."""


def load_guard_rules(extra_rules_dir: str | Path | None = None) -> WordLists:
    """The built-in word lists (``streamer/data/guards``) plus the operator's files of the same names in
    ``extra_rules_dir``. Raises :class:`GuardRulesError` for a bad line, an unreadable file, a missing folder or an
    unknown ``.txt`` file name there (a typo would otherwise silently add nothing)."""
    return load_word_lists([("guards", name) for name in RULE_FILES], extra_dir=extra_rules_dir)


# ---- honesty ------------------------------------------------------------------------------------------------

_ADV = r"(?:(?:really|actually|totally|definitely|truly|100%|honestly)\s+)?"
_HUMAN_CLAIM = re.compile(
    "|".join(
        [
            rf"\bI(?:'|\u2019)?m\s+{_ADV}(?:an?\s+)?(?:real|actual|living|genuine|flesh[- ]and[- ]blood)\s+"
            r"(?:human(?:\s+being)?|person|man|woman|guy|girl|people|host|presenter)\b",
            rf"\bI\s+am\s+{_ADV}(?:an?\s+)?(?:real|actual|living|genuine|flesh[- ]and[- ]blood)\s+"
            r"(?:human(?:\s+being)?|person|man|woman|guy|girl|people|host|presenter)\b",
            rf"\bI(?:(?:'|\u2019)?m|\s+am)\s+{_ADV}(?:a\s+)?(?:human(?:\s+being)?|person)\b",
            rf"\bI(?:(?:'|\u2019)?m|\s+am)\s+{_ADV}real\s*(?=[,.!?]|$)",
            r"\bI(?:(?:'|\u2019)?m|\s+am)\s+(?:not|no)\s+(?:an?\s+)?"
            r"(?:bot|robot|ai|a\.i\.|machine|computer|program|chatbot|virtual|artificial|fake|avatar|deepfake)\b",
            r"\b(?:a\s+)?real\s+(?:human|person)\s+(?:here|talking|speaking|host|behind)",
            r"我(?:是|就是|可是|确实是|真的是|本来就是)(?:一个|一位|个)?(?:真人|真正的人|活人|人类|真实的人)",
            r"我(?:不是|并不是|可不是|才不是)(?:一个|个)?(?:机器人|AI|ai|人工智能|虚拟|数字人|假人)",
            r"(?:本人|我)(?:是)?真人主播",
        ]
    ),
    re.IGNORECASE,
)


def _may_claim_human(low: str) -> bool:
    """A cheap look before the full pattern: every claim it knows says "I'm"/"I am", "real" or 我/本人."""
    return (
        "i'm" in low
        or "i\u2019m" in low
        or "i am" in low
        or "im " in low
        or "real " in low
        or "我" in low
        or ("本人" in low)
    )


def disclosure_for(language: str) -> str:
    return DISCLOSURES.get(language.split("-")[0].lower(), DISCLOSURES["en"])


# ---- product facts -------------------------------------------------------------------------------------------

# Units at the end of a spec key ("battery_h", "warranty_year"): every duration word the reader knows, plus the
# one-letter keys sheets use.
_SPEC_UNITS = {**DURATION_WORDS, "s": "second", "y": "year"}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_MAX_MULTI_BUY = 100


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What a sentence may claim about one product (see the module docstring for how each kind matches)."""

    product_id: str
    currency: str
    money: dict[Decimal, frozenset[str]]
    """Amount -> currencies it is stated in."""
    percents: frozenset[Decimal]
    discounts: frozenset[Decimal]
    durations: frozenset[tuple[Decimal, str]]
    stock_counts: frozenset[Decimal]
    deal_counts: frozenset[Decimal]
    numbers: frozenset[Decimal]

    def matches(self, q: Quantity) -> bool:
        if q.kind == "money":
            currencies = self.money.get(q.value)
            return currencies is not None and any(currency_matches(q.currency, c) for c in currencies)
        if q.kind == "percent":
            return q.value in (self.discounts if q.discount else self.percents)
        if q.kind == "duration":
            return (q.value, q.unit or "") in self.durations
        if q.cue == "stock":
            return q.value in self.stock_counts
        if q.cue == "deal":
            return q.value in self.deal_counts
        return q.value in self.numbers


def _sheet_texts(facts: SheetFacts) -> list[str]:
    """Every text of the sheet that may state a number (placeholders of hand-written lines blanked out)."""
    texts = [facts.name]
    texts += [t for t in (facts.promo, facts.shipping, facts.description) if t]
    texts += list(facts.features)
    for entry in facts.faq:
        texts += [entry.q, entry.a]
    for _, lines in facts.sections:
        texts += [_PLACEHOLDER.sub(" ", line) for line in lines]
    texts += [value for _, value in facts.specs if isinstance(value, str)]
    for variant in facts.variants:
        texts.append(variant.name)
        texts += [v for _, v in variant.options if v != variant.name]
    return texts


def product_facts(p: ProductSheet) -> ProductFacts:
    """Every fact a sentence may state about ``p``: :func:`claim_facts` of :func:`sheet_facts` (not cached;
    :class:`SentenceGuard` caches it)."""
    return claim_facts(sheet_facts(p))


def claim_facts(facts: SheetFacts) -> ProductFacts:
    """The guard's view of a sheet's facts: the numbers a sentence may state (see the module docstring)."""
    cur = facts.currency
    money: dict[Decimal, set[str]] = collections.defaultdict(set)
    percents: set[Decimal] = set()
    discounts: set[Decimal] = set()
    durations: set[tuple[Decimal, str]] = set()
    stock_counts: set[Decimal] = set()
    deal_counts: set[Decimal] = set()
    numbers: set[Decimal] = set()

    def add_money(value: Decimal, currency: str) -> None:
        money[value].add(currency)
        numbers.add(value)

    def add_offer(price: Decimal, list_price: Decimal | None, stock: int | None) -> None:
        add_money(price, cur)
        if list_price is not None:
            add_money(list_price, cur)
            if list_price > price:
                add_money(list_price - price, cur)
                ratio = (list_price - price) / list_price * 100
                for pct in (Decimal(int(ratio)), ratio.quantize(Decimal(1), rounding=ROUND_HALF_UP)):
                    if pct >= 1:
                        discounts.add(pct)
                        percents.add(pct)
                        numbers.add(pct)
        if stock is not None:
            stock_counts.add(Decimal(stock))
            numbers.add(Decimal(stock))

    for offer in facts.offers:  # each variant's own price, saving, discount and stock are facts too
        add_offer(offer.price, offer.list_price, offer.stock)
    for key, value in facts.specs:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        number = Decimal(str(value))
        numbers.add(number)
        unit = _SPEC_UNITS.get(key.rsplit("_", 1)[-1].lower()) if "_" in key else None
        if unit is not None:
            durations.add((number, unit))
    promo_quantities = find_quantities(facts.promo) if facts.promo else []
    for text in _sheet_texts(facts):
        quantities = promo_quantities if text is facts.promo else find_quantities(text)
        for q in quantities:
            numbers.add(q.value)
            if q.kind == "money":
                add_money(q.value, _fact_currency(q.currency, cur))
            elif q.kind == "percent":
                percents.add(q.value)
                if q.discount:
                    discounts.add(q.value)
            elif q.kind == "duration":
                durations.add((q.value, q.unit or ""))
            elif q.cue == "stock":
                stock_counts.add(q.value)
            elif q.cue == "deal":
                deal_counts.add(q.value)
    for q in promo_quantities:
        if q.kind == "count":
            deal_counts.add(q.value)
            if q.value == q.value.to_integral_value() and 2 <= q.value <= _MAX_MULTI_BUY:
                add_money(facts.price * q.value, cur)
    return ProductFacts(
        product_id=facts.product_id,
        currency=cur,
        money={k: frozenset(v) for k, v in money.items()},
        percents=frozenset(percents),
        discounts=frozenset(discounts),
        durations=frozenset(durations),
        stock_counts=frozenset(stock_counts),
        deal_counts=frozenset(deal_counts),
        numbers=frozenset(numbers),
    )


def _fact_currency(stated: str | None, sheet_currency: str) -> str:
    """The ISO code of an amount written in a sheet: the sheet's own unless the text names another."""
    if stated is None or currency_matches(stated, sheet_currency):
        return sheet_currency
    return {"$": "USD", "¥": "JPY"}.get(stated, stated)


def _fingerprint(p: ProductSheet) -> int:
    return hash(
        (
            p.name,
            p.price,
            p.list_price,
            p.currency,
            p.promo,
            tuple(p.features),
            tuple(p.specs.items()),
            p.shipping,
            p.stock,
            tuple((f.q, f.a) for f in p.faq),
            p.description,
            tuple((k, v if isinstance(v, str) else tuple(v)) for k, v in p.sections.items()),
            tuple((v.name, tuple(v.options.items()), v.price, v.list_price, v.stock, v.sku) for v in p.variants),
        )
    )


def is_small_count(q: Quantity) -> bool:
    """A plain count of 1, 2 or 3 with no stock, deal or time cue: speech, not a claim (passes unchecked)."""
    return q.kind == "count" and q.cue is None and q.value in (1, 2, 3)


# ---- catalog names -------------------------------------------------------------------------------------------


def name_aliases(name: str) -> list[str]:
    """How a sentence may name a product: the full name, the part before a comma, the name without trailing
    sizes ("Moon Night Light 15 cm" -> "Moon Night Light"), its last two words when it has three or more, and
    model tokens mixing letters and digits ("Saturn-1", "X200")."""
    out = [name]
    head = name.split(",")[0].strip()
    out.append(head)
    words = head.split()
    while words and (any(c.isdigit() for c in words[-1]) or words[-1].lower() in ("cm", "mm", "m", "kg", "g", "ml")):
        words.pop()
    if words:
        out.append(" ".join(words))
        if len(words) >= 3:
            out.append(" ".join(words[-2:]))
    for chunk in name.split():
        chunk = chunk.strip(",.;()")
        if any(c.isdigit() for c in chunk) and any(c.isalpha() for c in chunk):
            out.append(chunk)
    return [a for a in dict.fromkeys(a.strip() for a in out) if len(a) >= 3]


class _Catalog:
    """Names of the catalog's products, compiled once per catalog: which products a sentence names."""

    def __init__(self, products: Sequence[ProductSheet]) -> None:
        self.names = tuple(p.name for p in products)
        by_alias: dict[str, set[str]] = collections.defaultdict(set)
        for p in products:
            for alias in name_aliases(p.name):
                by_alias[phrase_key(alias)].add(p.id)
        self._by_alias = by_alias
        self._re = combined_pattern([a for p in products for a in name_aliases(p.name)])

    def named(self, text: str) -> set[str]:
        if self._re is None:
            return set()
        ids: set[str] = set()
        for m in self._re.finditer(same_length_lower(text)):
            ids |= self._by_alias.get(phrase_key(m.group()), set())
        return ids


def _names(alias: str, wanted: str) -> bool:
    """Whether a persona's topic text names a topic alias: at a word start ("competitor" in "competitors'
    products", not "rival" in "arrival"); anywhere for Chinese."""
    if _CJK.search(alias):
        return alias in wanted
    return re.search(rf"(?<![a-z0-9]){re.escape(alias)}", wanted) is not None


# ---- the guard -----------------------------------------------------------------------------------------------


class SentenceGuard:
    """Checks sentences before they are spoken. Construct once per persona (and per rules change); ``check`` is
    pure and fast (facts and catalog names are compiled once and cached). Not thread-safe (counters, caches)."""

    def __init__(
        self,
        *,
        settings: GuardSettings,
        persona: Persona,
        extra_rules_dir: str | Path | None = None,
        rules: GuardRules | None = None,
    ) -> None:
        self.settings = settings
        self.persona = persona
        rules_dir = extra_rules_dir if extra_rules_dir is not None else settings.extra_rules_dir
        self.rules = rules if rules is not None else load_guard_rules(rules_dir)
        self.counts: dict[str, int] = dict.fromkeys(GUARD_KINDS, 0)
        self.disclosure = disclosure_for(persona.language)
        entries = self.rules.entries
        self._absolute_en = PhraseList(entries.get("absolute_en.txt", []))
        self._absolute_zh = PhraseList(entries.get("absolute_zh.txt", []))
        self._profanity = PhraseList(entries.get("profanity_en.txt", []) + entries.get("profanity_zh.txt", []))
        self._banned, self.active_topics, self.unmatched_topics = self._compile_topics(persona.banned_topics)
        self._facts: collections.OrderedDict[tuple[str, int], ProductFacts] = collections.OrderedDict()
        self._catalog: _Catalog | None = None
        self._catalog_key: tuple[tuple[str, str], ...] = ()

    # ---- topics -------------------------------------------------------------------------------------------

    def _compile_topics(self, banned: Sequence[str]) -> tuple[PhraseList, list[str], list[str]]:
        """One list of every keyword of the topics the persona bans (each entry knows its topic)."""
        by_topic: dict[str, list[RuleEntry]] = collections.defaultdict(list)
        for e in self.rules.entries.get("banned_topics.txt", []):
            by_topic[e.topic or ""].append(e)
        active: dict[str, list[RuleEntry]] = {}
        unmatched: list[str] = []
        for text in banned:
            wanted = text.strip().lower()
            if not wanted:
                continue
            hits = [t for t, aliases in self.rules.topics.items() if any(_names(a, wanted) for a in aliases)]
            for topic in hits:
                active.setdefault(topic, by_topic[topic])
            if hits:
                continue
            unmatched.append(text)
            try:
                check_phrase(text.strip(), "persona.banned_topics", 0, wildcard_ok=True)
            except GuardRulesError:
                log.warning("banned topic %r is too short to match; ignored", text)
                continue
            active[text] = [RuleEntry(text.strip(), topic=text, file="persona.banned_topics")]
            log.warning("banned topic %r names no topic in banned_topics.txt; matching it as a phrase", text)
        entries = [e for topic_entries in active.values() for e in topic_entries]
        return PhraseList(entries), [t for t in active if t not in unmatched], unmatched

    # ---- facts --------------------------------------------------------------------------------------------

    def facts_for(self, product: ProductSheet) -> ProductFacts:
        """The product's facts, cached by (id, hash of the sheet): a reloaded sheet with new facts is re-read."""
        key = (product.id, _fingerprint(product))
        facts = self._facts.get(key)
        if facts is None:
            facts = product_facts(product)
            self._facts[key] = facts
            if len(self._facts) > 512:
                self._facts.popitem(last=False)
        else:
            self._facts.move_to_end(key)
        return facts

    def _catalog_for(self, products: Sequence[ProductSheet]) -> _Catalog:
        key = tuple((p.id, p.name) for p in products)
        if self._catalog is None or key != self._catalog_key:
            self._catalog = _Catalog(products)
            self._catalog_key = key
        return self._catalog

    def fact_problem(
        self,
        sentence: str,
        *,
        product: ProductSheet | None,
        products: Sequence[ProductSheet] = (),
        about: Sequence[ProductSheet] = (),
    ) -> str | None:
        """Why ``sentence`` fails the fact guard, or None when every number in it is a fact.

        A number may be a fact of ``product``, of any product in ``about`` (what the turn is about: the products a
        viewer's question names, the next product of a transition) or of a catalog product the sentence names."""
        catalog_products = list(products)
        for p in (product, *about):
            if p is not None and all(c.id != p.id for c in catalog_products):
                catalog_products.append(p)
        catalog = self._catalog_for(catalog_products)
        quantities = find_quantities(sentence, names=catalog.names)
        checked = [q for q in quantities if not is_small_count(q)]
        if not checked:
            return None
        subjects: list[ProductSheet] = [product] if product is not None else []
        for p in about:
            if all(s.id != p.id for s in subjects):
                subjects.append(p)
        named = catalog.named(sentence)
        if named:
            subjects += [p for p in catalog_products if p.id in named and all(s.id != p.id for s in subjects)]
        facts = [self.facts_for(p) for p in subjects]
        for q in checked:
            if not any(f.matches(q) for f in facts):
                whose = ", ".join(f.product_id for f in facts) or "no product"
                what = q.kind if q.kind != "count" or q.cue is None else f"{q.cue} count"
                return f"{q.text!r} ({what} {q.value}) is not a fact of {whose}"
        return None

    # ---- check --------------------------------------------------------------------------------------------

    def _act(self, actions: list[GuardAction], kind: GuardKind, detail: str) -> None:
        actions.append(GuardAction(kind, detail))
        self.counts[kind] += 1

    def check(
        self,
        sentence: str,
        *,
        product: ProductSheet | None,
        products: Sequence[ProductSheet] = (),
        about: Sequence[ProductSheet] = (),
    ) -> GuardVerdict:
        """The sentence to speak (maybe rewritten) or None, and what was done. See the module docstring.
        ``about``: further products the sentence may state facts of (see :meth:`fact_problem`)."""
        actions: list[GuardAction] = []
        text = " ".join(sentence.split())
        if not text:
            return GuardVerdict(None, actions)
        low = same_length_lower(text)
        if _may_claim_human(low) and _HUMAN_CLAIM.search(text):
            self._act(actions, "honesty", f"claims to be human: {text[:80]!r}")
            return GuardVerdict(self.disclosure, actions)
        bad = self._profanity.find_drop(text, low)
        if bad is not None:
            self._act(actions, "profanity", f"{bad[0]!r} ({bad[1].file}:{bad[1].line})")
            return GuardVerdict(None, actions)
        hit = self._banned.find_drop(text, low)
        if hit is not None:
            self._act(actions, "banned_topic", f"{hit[0]!r} touches banned topic {hit[1].topic!r}")
            return GuardVerdict(None, actions)
        has_cjk = _CJK.search(text) is not None
        lists = (self._absolute_en, self._absolute_zh) if has_cjk else (self._absolute_en,)
        for plist in lists:
            hit = plist.find_drop(text, low)
            if hit is not None:
                self._act(actions, "adlaw", f"{hit[0]!r} is an absolute or medical claim ({hit[1].file}:{hit[1].line})")
                return GuardVerdict(None, actions)
        for plist in lists:
            new, done, unsafe = plist.rewrite(text)
            if unsafe is not None:
                self._act(actions, "adlaw", f"{unsafe!r} has no safe rewrite")
                return GuardVerdict(None, actions)
            if done:
                if not re.search(r"\w", new):
                    self._act(actions, "adlaw", f"nothing left after removing {done}")
                    return GuardVerdict(None, actions)
                self._act(actions, "adlaw", f"rewrote {', '.join(repr(d) for d in done)}")
                text = new
        problem = self.fact_problem(text, product=product, products=products, about=about)
        if problem is not None:
            self._act(actions, "fact", problem)
            return GuardVerdict(None, actions)
        cap = self.settings.max_sentence_chars
        if len(text) > cap:
            cut = _cut(text, cap, chinese=has_cjk)
            if cut is None:
                self._act(actions, "length", f"{len(text)} characters, nothing sensible under {cap}")
                return GuardVerdict(None, actions)
            problem = self.fact_problem(cut, product=product, products=products, about=about)
            if problem is not None:
                self._act(actions, "length", f"cutting to {cap} characters changes a number: {problem}")
                return GuardVerdict(None, actions)
            self._act(actions, "length", f"cut from {len(text)} to {len(cut)} characters")
            text = cut
        return GuardVerdict(text, actions)


def _cut(text: str, cap: int, *, chinese: bool) -> str | None:
    """``text`` cut to at most ``cap`` characters, ending with a period (see the module docstring)."""
    end_mark = "。" if chinese and not text.isascii() else "."
    keep = text[: cap - 1]
    at_boundary = text[cap - 1].isspace()
    clause = max(keep.rfind(c) for c in ",;:，；：、")
    if clause >= len(keep) // 2:
        keep = keep[:clause]
    elif not at_boundary:
        space = keep.rfind(" ")
        if space > 0:
            keep = keep[:space]
        elif not chinese:
            return None
    keep = keep.rstrip(" ,;:-、，；：.!?。！？")
    if not re.search(r"\w", keep):
        return None
    return keep + end_mark
