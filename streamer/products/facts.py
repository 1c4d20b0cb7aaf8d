"""The facts of a product sheet, read once into one typed structure that every part of the brain derives its view
from.

:func:`sheet_facts` is the one place that reads a :class:`~streamer.config.ProductSheet` for what it states: the
price and every other way to buy it (variants, each an :class:`Offer`), the texts (promo, shipping, description,
features, specs, FAQ, hand-written sections) and the operator's extra fields. Nothing is rounded, reworded or
invented: prices stay :class:`~decimal.Decimal`, texts stay the sheet's own.

Views of it (each in the module that uses it):

* :func:`streamer.brain.guards.claim_facts`: the numbers a spoken sentence may state (money, percents, durations,
  counts), for the fact guard;
* :func:`streamer.brain.prompts.prompt_facts`: the JSON object an LLM reads as ``PRODUCT FACTS``;
* :func:`streamer.brain.offline.retrieval_facts`: the sentences the offline brain retrieves and speaks.

Pure and cheap (tuples of what the sheet holds); never raises for a valid sheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from streamer.config import ProductSheet, SpecValue
from streamer.money import discount_percent

JsonValue = Any
"""A value of the operator's extra fields, made JSON-ready (str, number, bool, None, lists and dicts of them)."""


@dataclass(frozen=True, slots=True)
class Offer:
    """One way to buy the product: the product itself (``variant`` None) or one variant, at its own price."""

    price: Decimal
    list_price: Decimal | None = None
    stock: int | None = None
    variant: str | None = None

    @property
    def discount_percent(self) -> int | None:
        """Whole percent saved against the list price, rounded down (:func:`streamer.money.discount_percent`)."""
        return discount_percent(self.price, self.list_price)


@dataclass(frozen=True, slots=True)
class VariantFacts:
    """One variant: its name, its option values (``(option, value)`` in sheet order), and its offer."""

    name: str
    options: tuple[tuple[str, str], ...]
    offer: Offer
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class FaqFacts:
    """One question the sheet answers, and its answer."""

    q: str
    a: str


@dataclass(frozen=True, slots=True)
class SheetFacts:
    """Everything one product sheet states, in sheet order (see the module docstring)."""

    product_id: str
    name: str
    currency: str
    price: Decimal
    list_price: Decimal | None = None
    stock: int | None = None
    promo: str | None = None
    shipping: str | None = None
    description: str | None = None
    features: tuple[str, ...] = ()
    specs: tuple[tuple[str, SpecValue], ...] = ()
    """``(key, value)``: the flattened specs; numbers stay numbers."""
    faq: tuple[FaqFacts, ...] = ()
    sections: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``(section, lines)``: hand-written patter, placeholders (``{price}``) unfilled."""
    variants: tuple[VariantFacts, ...] = ()
    extra: tuple[tuple[str, JsonValue], ...] = field(default=(), hash=False)
    """The operator's fields the model does not know (``model_extra``), by name, made JSON-ready."""

    @property
    def offer(self) -> Offer:
        """The product's own price, list price and stock."""
        return Offer(self.price, self.list_price, self.stock)

    @property
    def offers(self) -> tuple[Offer, ...]:
        """The product's offer, then each variant's (a variant with no price of its own costs the product's)."""
        return (self.offer, *(v.offer for v in self.variants))

    @property
    def discount_percent(self) -> int | None:
        return discount_percent(self.price, self.list_price)


def sheet_facts(product: ProductSheet) -> SheetFacts:
    """The facts of ``product`` (the one builder; see the module docstring)."""
    return SheetFacts(
        product_id=product.id,
        name=product.name,
        currency=product.currency,
        price=product.price,
        list_price=product.list_price,
        stock=product.stock,
        promo=product.promo,
        shipping=product.shipping,
        description=product.description,
        features=tuple(product.features),
        specs=tuple((str(k), v) for k, v in product.specs.items()),
        faq=tuple(FaqFacts(e.q, e.a) for e in product.faq),
        sections=tuple((s, tuple(product.section_lines(s))) for s in product.sections),
        variants=tuple(
            VariantFacts(
                name=v.name,
                options=tuple(v.options.items()),
                offer=Offer(product.price_of(v), v.list_price, v.stock, variant=v.name),
                sku=v.sku,
            )
            for v in product.variants
        ),
        extra=tuple((str(k), jsonable(v)) for k, v in sorted((product.model_extra or {}).items())),
    )


def jsonable(value: Any) -> JsonValue:
    """``value`` as JSON-ready data: scalars as they are, mappings and sequences recursively, anything else as
    its text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


__all__ = ["FaqFacts", "JsonValue", "Offer", "SheetFacts", "VariantFacts", "jsonable", "sheet_facts"]
