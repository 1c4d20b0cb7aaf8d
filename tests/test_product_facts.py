"""The one product-facts builder (:mod:`streamer.products.facts`) and the views the brain derives from it.

``tests/data/facts/views.json`` holds the guard, prompt and retrieval views of three sheets (English with variants,
sections and an extra field; Chinese with variants and sections; a Shopify export) as the three separate
``product_facts`` functions produced them before the builder replaced their reading of the sheet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import FrozenInstanceError
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streamer.brain import guards, offline, prompts
from streamer.brain.guards import ProductFacts, claim_facts
from streamer.brain.offline import Fact, retrieval_facts
from streamer.brain.prompts import prompt_facts
from streamer.config import ProductSheet
from streamer.loading import load_product_file
from streamer.products.facts import Offer, SheetFacts, sheet_facts

DATA = Path(__file__).resolve().parent / "data"
SHEETS = {
    "cat-bed-donut": DATA / "facts" / "cat-bed.yaml",
    "celadon-tea-set": DATA / "facts" / "tea-set-zh.yaml",
    "trail-fleece-hoodie": DATA / "shapes" / "shopify-products.json",
}
GOLDEN: dict[str, dict[str, Any]] = json.loads((DATA / "facts" / "views.json").read_text(encoding="utf-8"))


def _sheet(product_id: str) -> ProductSheet:
    products, _ = load_product_file(SHEETS[product_id])
    return next(p for p in products if p.id == product_id)


def _num(values: Any) -> list[str]:
    return [str(v) for v in sorted(values)]


def guard_view(f: ProductFacts) -> dict[str, Any]:
    return {
        "product_id": f.product_id,
        "currency": f.currency,
        "money": {str(k): sorted(v) for k, v in sorted(f.money.items())},
        "percents": _num(f.percents),
        "discounts": _num(f.discounts),
        "durations": [[str(v), u] for v, u in sorted(f.durations)],
        "stock_counts": _num(f.stock_counts),
        "deal_counts": _num(f.deal_counts),
        "numbers": _num(f.numbers),
    }


def retrieval_view(facts: list[Fact]) -> list[dict[str, Any]]:
    return [
        {
            "kind": f.kind,
            "say": list(f.say),
            "keys": list(f.keys),
            "topics": sorted(f.topics),
            "label": f.label,
            "zh_keys": list(f.zh_keys),
            "say_zh": list(f.say_zh),
        }
        for f in facts
    ]


@pytest.mark.parametrize("product_id", sorted(SHEETS))
def test_each_view_is_what_the_old_functions_produced(product_id: str) -> None:
    facts = sheet_facts(_sheet(product_id))
    golden = GOLDEN[product_id]
    assert guard_view(claim_facts(facts)) == golden["guards"]
    assert prompt_facts(facts) == golden["prompt"]
    assert retrieval_view(retrieval_facts(facts)) == golden["offline"]


@pytest.mark.parametrize("product_id", sorted(SHEETS))
def test_the_old_entry_points_are_the_views_of_the_one_builder(product_id: str) -> None:
    product = _sheet(product_id)
    facts = sheet_facts(product)
    assert guards.product_facts(product) == claim_facts(facts)
    assert prompts.product_facts(product) == prompt_facts(facts)
    assert offline.product_facts(product) == retrieval_facts(facts)


def test_the_builder_reads_every_offer_text_and_extra_field() -> None:
    facts = sheet_facts(_sheet("cat-bed-donut"))
    assert facts.offers == (
        Offer(Decimal("39.9"), Decimal("49.9"), 64),
        Offer(Decimal("39.9"), None, 40, variant="Taupe / 60 cm"),  # no price of its own: the product's
        Offer(Decimal("54.9"), Decimal("64.9"), 24, variant="Cloud Grey / 80 cm"),
    )
    assert facts.discount_percent == 20 and facts.offers[2].discount_percent == 15
    assert dict(facts.sections)["price"][0] == "Today it is {price} instead of {list_price}."  # unfilled
    assert ("warranty_year", 2) in facts.specs and ("colours", "taupe, cloud grey, oatmeal") in facts.specs
    assert facts.variants[1].options == (("colour", "Cloud Grey"), ("size", "80 cm"))
    assert facts.extra == (("care_label", "Wash cold, tumble dry low"),)
    with pytest.raises(FrozenInstanceError):
        facts.price = Decimal(1)  # type: ignore[misc]


def test_the_chinese_sheet_keeps_its_text_verbatim() -> None:
    facts = sheet_facts(_sheet("celadon-tea-set"))
    assert facts.promo == "第二件半价，两套一起拍更划算"
    assert facts.faq[0].q == "能用洗碗机洗吗？"  # fullwidth punctuation is the sheet's own: never folded
    assert ("材质", "龙泉青瓷") in facts.specs
    assert [o.price for o in facts.offers] == [Decimal(268), Decimal(268), Decimal(298)]


def test_views_need_only_the_facts_not_the_sheet() -> None:
    facts = SheetFacts(
        product_id="mug",
        name="Camp Mug",
        currency="USD",
        price=Decimal("12.50"),
        list_price=Decimal("15.00"),
        stock=3,
        promo="Buy 2 for $22",
        sections=(("price", ("Only {price} today.", "{nope} dropped")),),
    )
    data = prompt_facts(facts)
    assert data["discount_percent"] == "16%" and data["host_notes"] == {"price": ["Only 12 dollars 50 today."]}
    claims = claim_facts(facts)
    assert {Decimal("12.50"), Decimal("15.00"), Decimal("2.50"), Decimal(22), Decimal(25)} <= set(claims.money)
    assert claims.deal_counts == {Decimal(2)} and claims.stock_counts == {Decimal(3)}
    assert [f.kind for f in retrieval_facts(facts)] == ["price", "promo", "stock"]


def test_the_facts_module_does_not_load_the_catalog_or_pictures() -> None:
    heavy = "{'cv2', 'PIL', 'streamer.products.catalog'}"
    code = f"import sys, streamer.brain.guards; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
