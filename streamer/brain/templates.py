"""Offline patter: sentences filled from the product sheet's facts, in the persona's style.

Every number spoken comes from the sheet (price, list price, stock, specs): templates only add words around facts.
Each idea has several phrasings; the brain picks one that was not spoken recently, so an hour does not loop.
The phrasings are the persona language's patter tables (:mod:`streamer.lang`): a zh persona talks about a sheet in
Chinese (prices the Chinese way, "现在只要¥268，原价¥328"), an en persona in English.
"""

from __future__ import annotations

import collections
import random
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from decimal import Decimal

from streamer.brain.base import Beat, BrainRequest
from streamer.brain.specs import spec_sentence
from streamer.brain.zh_text import cjk_share
from streamer.config import Persona, ProductSheet
from streamer.lang import LanguageTables, tables
from streamer.money import format_price, spoken_price
from streamer.products.facts import SheetFacts


def normalise(sentence: str) -> str:
    """The form used to detect repeats: lower case, letters/digits only, single spaces."""
    return " ".join(re.sub(r"[^\w]+", " ", sentence.lower()).split())


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip()
    if not text:
        return text
    if text[-1] in ",，;；:：、":
        text = text[:-1]
    if text[-1] not in ".!?。！？":
        text += "。" if cjk_share(text) >= 0.5 else "."
    return text[0].upper() + text[1:]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


class TemplateBrain:
    """The embedded, offline brain for patter. Stateless apart from the caller's ``recent`` list."""

    name = "templates"

    async def stream(self, request: BrainRequest) -> AsyncIterator[str]:
        """Patter for a beat. Questions are not this class's job (see the offline brain): it yields nothing."""
        for line in self.lines(request):
            yield line

    def lines(self, request: BrainRequest) -> list[str]:
        """The beat's patter, one fresh phrasing per idea (none for a question)."""
        if request.beat is None:
            return []
        said = set(request.beat_said)
        recent = list(request.recent)
        out: list[str] = []
        ideas = self.ideas(request.persona, request.beat, request.rng)
        intro = _just_introduced(request)
        if intro and all(set(options) <= intro for options in ideas):
            intro = frozenset()  # the hook has nothing else to say: it names the product after all
        for options in ideas:
            if any(normalise(o) in said for o in options):
                continue  # said in this beat before an interruption
            if intro and set(options) <= intro:
                continue  # the transition (or greeting) just named it
            choice = pick_fresh(options, recent, request.rng)
            if choice is not None:
                out.append(choice)
                recent.append(normalise(choice))  # the beat's own picks count for the next one's frame
        return out

    # ---- ideas: each is a list of phrasings of one thing to say --------------------------------------------

    def ideas(self, persona: Persona, beat: Beat, rng: random.Random) -> list[list[str]]:
        words = tables(persona.language)
        if beat.kind == "greeting":
            return [_filled(persona.style.greetings, beat.product)]
        if beat.kind == "sign_off":
            return [_filled(persona.style.sign_offs, beat.product)]
        if beat.kind == "transition":
            nxt = beat.next_product
            if nxt is None:
                return []
            return [[*_filled(persona.style.transitions, nxt), *_say(words, "transition", name=nxt.name)]]
        if beat.kind == "invite":
            name = beat.product.name if beat.product else words.patter["invite_anything"][0]
            return [_say(words, "invite", name=name)]
        product = beat.product
        if product is None or beat.section is None:
            return []
        filled = (fill_facts(t, product, language=persona.language) for t in product.section_lines(beat.section))
        hand = [[_sentence(line)] for line in filled if line]
        made = SECTION_IDEAS[beat.section](product, rng, words)
        ideas = hand + made
        if persona.style.catchphrases and beat.section in ("hook", "call_to_action") and rng.random() < 0.5:
            ideas.append([_sentence(c) for c in persona.style.catchphrases])
        return ideas


def _just_introduced(request: BrainRequest) -> frozenset[str]:
    """The hook's "Take a look at the {name}." phrasings, when the line said just before already named the product
    (a transition "You're going to like this one. Say hello to the Cat Bed.", or the greeting "Today we're
    starting with the Cat Bed"): the demo heard the name three times in ten seconds. Empty otherwise."""
    beat = request.beat
    if beat is None or beat.kind != "section" or beat.section != "hook" or beat.product is None:
        return frozenset()
    name = normalise(beat.product.name)
    if not request.recent or not name or name not in request.recent[-1]:
        return frozenset()
    return frozenset(_say(tables(request.persona.language), "hook", name=beat.product.name))


def _say(words: LanguageTables, idea: str, **values: str | None) -> list[str]:
    """The phrasings of ``idea`` in ``words``' patter, filled; a phrasing whose placeholder has no value (None or
    empty) is left out."""
    out = []
    for template in words.patter.get(idea, ()):
        needed = _PLACEHOLDER.findall(template)
        if any(not values.get(k) for k in needed):
            continue
        out.append(_sentence(_PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)))
    return out


def _filled(lines: Sequence[str], product: ProductSheet | None) -> list[str]:
    """Persona lines with ``{name}`` filled in; lines that need a product are left out when there is none."""
    out = []
    for line in lines:
        if "{name}" in line:
            if product is None:
                continue
            line = line.replace("{name}", product.name)
        out.append(_sentence(line))
    return out


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def say_price(amount: Decimal, currency: str, language: str = "en") -> str:
    """A price as the persona's language says it: "21 dollars 75" for English voices, "¥268" in Chinese (Chinese
    voices read the symbol and digits well). Always the sheet's own digits."""
    if tables(language).code == "zh":
        return format_price(amount, currency)
    return spoken_price(amount, currency)


def fill_facts(line: str, product: ProductSheet | SheetFacts, *, language: str = "en") -> str | None:
    """Fill ``{name}``, ``{price}``, ``{list_price}``, ``{stock}`` in a hand-written line from the sheet's current
    facts (spoken form, in ``language``; from the sheet or its :class:`~streamer.products.facts.SheetFacts`). A
    line naming a fact the sheet lacks, or an unknown placeholder, is dropped (None)."""
    facts: dict[str, str | None] = {
        "name": product.name,
        "price": say_price(product.price, product.currency, language),
        "list_price": say_price(product.list_price, product.currency, language)
        if product.list_price is not None
        else None,
        "stock": str(product.stock) if product.stock is not None else None,
    }
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        value = facts.get(m.group(1))
        if value is None:
            missing = True
            return ""
        return value

    out = _PLACEHOLDER.sub(sub, line)
    return None if missing else out


#: How many of the latest sentences a phrasing's frame is compared with (see :func:`pick_fresh`).
FRAME_MEMORY = 8
#: Words at each end of a sentence that make its frame ("Worth knowing: ...", "... a real difference").
FRAME_WORDS = 2


def _frame(normalised: str) -> tuple[str, str]:
    words = normalised.split()
    return " ".join(words[:FRAME_WORDS]), " ".join(words[-FRAME_WORDS:])


def pick_fresh(options: Sequence[str], recent: Iterable[str], rng: random.Random) -> str | None:
    """A phrasing whose normalised form is not in ``recent`` (oldest first), chosen at random among those whose
    frame — the first or last two words, where templates put their glue — was used least in the latest
    :data:`FRAME_MEMORY` sentences: four features in a row do not all start "One thing I love:". None if all
    were said recently."""
    said = list(recent)
    seen = set(said)
    fresh = [o for o in options if o and normalise(o) not in seen]
    if len(fresh) <= 1:
        return fresh[0] if fresh else None
    frames = [_frame(r) for r in said[-FRAME_MEMORY:]]
    heads = collections.Counter(h for h, _ in frames)
    tails = collections.Counter(t for _, t in frames)

    def used(option: str) -> int:
        head, tail = _frame(normalise(option))
        return heads[head] + tails[tail]

    least = min(used(o) for o in fresh)
    return rng.choice([o for o in fresh if used(o) == least])


# ---- per-section idea makers -------------------------------------------------------------------------------
# Each takes the sheet, the rng and the persona language's tables, and returns ideas (lists of phrasings).


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+|(?<=[。！？])", text.strip())[0]


def _hook(p: ProductSheet, rng: random.Random, words: LanguageTables) -> list[list[str]]:
    ideas = [_say(words, "hook", name=p.name)]
    if p.description:
        ideas.append([_sentence(_first_sentence(p.description))])
    return ideas


def _features(p: ProductSheet, rng: random.Random, words: LanguageTables) -> list[list[str]]:
    ideas: list[list[str]] = []
    leads = words.feature_leads
    for i, f in enumerate(list(p.features)[:5]):
        f = f.strip().rstrip(".。")
        lead = leads[min(i, len(leads) - 1)]
        ideas.append(_say(words, "feature", lead=lead, feature=f, feature_low=_lower_first(f)))
    return ideas


def _price(p: ProductSheet, rng: random.Random, words: LanguageTables) -> list[list[str]]:
    price = say_price(p.price, p.currency, words.code)
    ideas: list[list[str]] = []
    if p.list_price is not None and p.list_price > p.price:
        was = say_price(p.list_price, p.currency, words.code)
        ideas.append(_say(words, "price_sale", price=price, was=was))
    else:
        ideas.append(_say(words, "price", price=price))
    if p.promo:
        ideas.append(_say(words, "promo", promo=p.promo.strip().rstrip(".。")))
    if p.stock is not None:
        if p.stock == 0:
            ideas.append(_say(words, "sold_out"))
        else:
            ideas.append(_say(words, "stock", stock=str(p.stock)))
    return ideas


_SHIPS = re.compile(
    r"(ships|is shipped|are shipped|arrives|dispatches|is dispatched|goes out|leaves|is delivered|delivers)\b",
    re.IGNORECASE,
)


def says_it_ships(text: str, language: str) -> bool:
    """An English shipping line that opens with its verb ("Ships in 48 hours"): said "It ships in 48 hours", never
    "Shipping: ships ..." or "For shipping, ships ..."."""
    return language == "en" and _SHIPS.match(text) is not None


def _usage(p: ProductSheet, rng: random.Random, words: LanguageTables) -> list[list[str]]:
    ideas: list[list[str]] = []
    specs = list(p.specs.items())
    rng.shuffle(specs)
    for key, value in specs[:3]:
        said = spec_sentence(str(key), value, words.code)
        ideas.append(_say(words, "spec", spec=said, spec_low=_lower_first(said)))
    if p.shipping:
        text = p.shipping.strip().rstrip(".。")
        idea = "shipping_it" if says_it_ships(text, words.code) else "shipping"
        ideas.append(_say(words, idea, text=text, text_low=_lower_first(text)))
    return ideas


def _social_proof(p: ProductSheet, rng: random.Random, words: LanguageTables) -> list[list[str]]:
    # No invented reviews or ratings: "social proof" here is the questions shoppers really ask, from the sheet.
    ideas: list[list[str]] = []
    faq = list(p.faq)
    rng.shuffle(faq)
    for entry in faq[:2]:
        q = entry.q.strip().rstrip("?？")
        ideas.append(_say(words, "faq", q=q, a=entry.a.strip()))
    return ideas


def _call_to_action(p: ProductSheet, rng: random.Random, words: LanguageTables) -> list[list[str]]:
    return [_say(words, "call_to_action", name=p.name), _say(words, "ask_chat")]


SECTION_IDEAS: dict[str, Callable[[ProductSheet, random.Random, LanguageTables], list[list[str]]]] = {
    "hook": _hook,
    "features": _features,
    "price": _price,
    "usage": _usage,
    "social_proof": _social_proof,
    "call_to_action": _call_to_action,
}
