"""Offline patter: sentences filled from the product sheet's facts, in the persona's style.

Every number spoken comes from the sheet (price, list price, stock, specs): templates only add words around facts.
Each idea has several phrasings; the brain picks one that was not spoken recently, so an hour does not loop.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Iterable, Sequence

from streamer.brain.base import Beat, BrainRequest
from streamer.brain.specs import spec_sentence
from streamer.config import Persona, ProductSheet
from streamer.money import spoken_price


def normalise(sentence: str) -> str:
    """The form used to detect repeats: lower case, letters/digits only, single spaces."""
    return " ".join(re.sub(r"[^\w]+", " ", sentence.lower()).split())


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip()
    if not text:
        return text
    if text[-1] not in ".!?。！？":
        text += "."
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
        picks = (
            pick_fresh(options, request.recent, request.rng)
            for options in self.ideas(request.persona, request.beat, request.rng)
            if not any(normalise(o) in said for o in options)  # said in this beat before an interruption
        )
        return [choice for choice in picks if choice is not None]

    # ---- ideas: each is a list of phrasings of one thing to say --------------------------------------------

    def ideas(self, persona: Persona, beat: Beat, rng: random.Random) -> list[list[str]]:
        if beat.kind == "greeting":
            return [_filled(persona.style.greetings, beat.product)]
        if beat.kind == "sign_off":
            return [_filled(persona.style.sign_offs, beat.product)]
        if beat.kind == "transition":
            nxt = beat.next_product
            if nxt is None:
                return []
            return [
                [
                    *_filled(persona.style.transitions, nxt),
                    _sentence(f"Now let's talk about the {nxt.name}"),
                    _sentence(f"Up next is the {nxt.name}, and I think you'll like it"),
                ]
            ]
        if beat.kind == "invite":
            name = beat.product.name if beat.product else "anything you see here"
            return [
                [
                    _sentence(f"If you have a question about the {name}, type it in the chat"),
                    _sentence("Drop your questions in the chat and I'll answer them live"),
                    _sentence(f"Curious about the {name}? Ask me in the chat"),
                ]
            ]
        product = beat.product
        if product is None or beat.section is None:
            return []
        filled = (fill_facts(t, product) for t in product.section_lines(beat.section))
        hand = [[_sentence(line)] for line in filled if line]
        made = SECTION_IDEAS[beat.section](product, rng)
        ideas = hand + made
        if persona.style.catchphrases and beat.section in ("hook", "call_to_action") and rng.random() < 0.5:
            ideas.append([_sentence(c) for c in persona.style.catchphrases])
        return ideas


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


def fill_facts(line: str, product: ProductSheet) -> str | None:
    """Fill ``{name}``, ``{price}``, ``{list_price}``, ``{stock}`` in a hand-written line from the sheet's current
    facts (spoken form). A line naming a fact the sheet lacks, or an unknown placeholder, is dropped (None)."""
    facts: dict[str, str | None] = {
        "name": product.name,
        "price": spoken_price(product.price, product.currency),
        "list_price": spoken_price(product.list_price, product.currency) if product.list_price is not None else None,
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


def pick_fresh(options: Sequence[str], recent: Iterable[str], rng: random.Random) -> str | None:
    """A phrasing whose normalised form is not in ``recent``, chosen at random; None if all were said recently."""
    seen = set(recent)
    fresh = [o for o in options if o and normalise(o) not in seen]
    return rng.choice(fresh) if fresh else None


# ---- per-section idea makers -------------------------------------------------------------------------------


def _hook(p: ProductSheet, rng: random.Random) -> list[list[str]]:
    ideas = [
        [
            _sentence(f"Take a look at the {p.name}"),
            _sentence(f"Let me show you the {p.name}"),
            _sentence(f"Say hello to the {p.name}"),
            _sentence(f"Right now I'm showing the {p.name}"),
        ]
    ]
    if p.description:
        first = re.split(r"(?<=[.!?])\s+", p.description.strip())[0]
        ideas.append([_sentence(first)])
    return ideas


def _features(p: ProductSheet, rng: random.Random) -> list[list[str]]:
    ideas: list[list[str]] = []
    feats = list(p.features)
    for i, f in enumerate(feats[:5]):
        f_low = _lower_first(f.rstrip("."))
        lead = ["First of all", "Also", "On top of that", "And", "Plus"][min(i, 4)]
        ideas.append(
            [
                _sentence(f"{lead}, {f_low}"),
                _sentence(f"One thing I love: {f_low}"),
                _sentence(f"{f.rstrip('.')}, which is really handy"),
                _sentence(f"Here's a nice detail: {f_low}"),
            ]
        )
    return ideas


def _price(p: ProductSheet, rng: random.Random) -> list[list[str]]:
    price = spoken_price(p.price, p.currency)
    ideas: list[list[str]] = []
    if p.list_price is not None and p.list_price > p.price:
        was = spoken_price(p.list_price, p.currency)
        ideas.append(
            [
                _sentence(f"It's usually {was}, and today it's {price}"),
                _sentence(f"The regular price is {was}, but right now you pay {price}"),
                _sentence(f"Instead of {was}, it's {price} today"),
            ]
        )
    else:
        ideas.append(
            [_sentence(f"The price is {price}"), _sentence(f"It's {price}"), _sentence(f"You can get it for {price}")]
        )
    if p.promo:
        ideas.append([_sentence(p.promo)])
    if p.stock is not None:
        if p.stock == 0:
            ideas.append(
                [
                    _sentence("It's sold out at the moment, but it will be back soon"),
                    _sentence("We're out of stock right now, so check back soon"),
                ]
            )
        else:
            ideas.append(
                [_sentence(f"We have {p.stock} in stock right now"), _sentence(f"There are {p.stock} left in stock")]
            )
    return ideas


def _usage(p: ProductSheet, rng: random.Random) -> list[list[str]]:
    ideas: list[list[str]] = []
    specs = list(p.specs.items())
    rng.shuffle(specs)
    for key, value in specs[:3]:
        said = spec_sentence(str(key), value)
        ideas.append([said, _sentence(f"Good to know: {_lower_first(said)}"), _sentence(f"And {_lower_first(said)}")])
    if p.shipping:
        ideas.append(
            [
                _sentence(f"Shipping: {p.shipping.rstrip('.')}"),
                _sentence(f"About delivery: {_lower_first(p.shipping.rstrip('.'))}"),
            ]
        )
    return ideas


def _social_proof(p: ProductSheet, rng: random.Random) -> list[list[str]]:
    # No invented reviews or ratings: "social proof" here is the questions shoppers really ask, from the sheet.
    ideas: list[list[str]] = []
    faq = list(p.faq)
    rng.shuffle(faq)
    for entry in faq[:2]:
        q = entry.q.strip().rstrip("?")
        ideas.append(
            [
                _sentence(f"A question we get a lot: {q}? {entry.a}"),
                _sentence(f"People often ask: {q}? {entry.a}"),
                _sentence(f"Someone asked me earlier: {q}? {entry.a}"),
            ]
        )
    return ideas


def _call_to_action(p: ProductSheet, rng: random.Random) -> list[list[str]]:
    ideas = [
        [
            _sentence(f"Tap the product card to get your {p.name}"),
            _sentence(f"The {p.name} is on the card on screen, so grab it there"),
            _sentence("Hit the product card on screen to order"),
            _sentence(f"If the {p.name} is right for you, tap the card and it's yours"),
        ]
    ]
    ideas.append(
        [
            _sentence("Questions? Ask me in the chat"),
            _sentence("Type your questions in the chat, I'm reading them"),
            _sentence("Anything you want to know, just ask in the chat"),
        ]
    )
    return ideas


SECTION_IDEAS = {
    "hook": _hook,
    "features": _features,
    "price": _price,
    "usage": _usage,
    "social_proof": _social_proof,
    "call_to_action": _call_to_action,
}
