"""Intent classification and product detection (pure, no model): what a viewer asks and about which product."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streamer.brain.intents import (
    classify,
    is_opinion_question,
    is_question,
    named_products,
    salient_words,
    score_intents,
)
from streamer.config import ProductSheet
from streamer.loading import load_product_file

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def catalog() -> dict[str, ProductSheet]:
    products = [p for f in sorted((REPO / "products").iterdir()) for p in load_product_file(f)[0]]
    assert len(products) >= 5
    return {p.id: p for p in products}


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("How much is it?", "price"),
        ("what does this cost", "price"),
        ("is it expensive?", "price"),
        ("这个多少钱？", "price"),
        ("Any discount today?", "discount"),
        ("is there a promo code or a deal", "discount"),
        ("what comes free with it?", "discount"),
        ("打折吗", "discount"),
        ("How long does shipping take?", "shipping"),
        ("when will it arrive", "shipping"),
        ("how fast will it get to me", "shipping"),
        ("包邮吗", "shipping"),
        ("What size is it?", "specs"),
        ("how heavy is it", "specs"),
        ("How much does it weigh?", "specs"),
        ("what colours does it come in", "specs"),
        ("which bluetooth version?", "specs"),
        ("尺寸多大", "specs"),
        ("What is it made of?", "material"),
        ("is it cotton or polyester", "material"),
        ("what are the ingredients", "material"),
        ("什么材质", "material"),
        ("Where is it made?", "origin"),
        ("Is it in stock?", "stock"),
        ("how many are left", "stock"),
        ("how many bags do you have left", "stock"),
        ("sold out already?", "stock"),
        ("还有货吗", "stock"),
        ("hi!", "greeting"),
        ("Hello from Brazil", "greeting"),
        ("大家好", "greeting"),
        ("thanks!", "thanks"),
        ("thank you so much", "thanks"),
        ("谢谢", "thanks"),
        ("are you a real person?", "identity"),
        ("Is this a bot talking??", "identity"),
        ("are u AI or human", "identity"),
        ("you're just a robot reading a script", "identity"),
        ("你是真人吗", "identity"),
        ("what's your name?", "identity"),
        ("how do I order?", "buy"),
        ("link pls", "buy"),
        ("where's the link?", "buy"),
        ("where can I buy one", "buy"),
        ("怎么买", "buy"),
        ("who designed this", "other"),
        ("", "other"),
    ],
)
def test_question_gets_its_intent_first(question: str, intent: str) -> None:
    assert classify(question).primary == intent


def test_how_much_is_price_only_when_it_asks_for_money() -> None:
    assert "price" not in classify("How much caffeine is in a cup?").intents
    assert "price" not in classify("How much powder do I use?").intents
    assert classify("How much for the matcha?").primary == "price"
    assert classify("how much?").primary == "price"


def test_shipping_cost_is_a_shipping_question() -> None:
    assert classify("How much does shipping cost?").primary == "shipping"
    assert classify("is delivery free?").primary == "shipping"


def test_left_as_a_direction_is_not_a_stock_question() -> None:
    assert "stock" not in classify("can I use only the left one for calls").intents
    assert "stock" not in classify("which colours are available").intents
    assert classify("which colours are available").primary == "specs"


def test_a_greeting_with_a_question_is_answered_as_the_question() -> None:
    c = classify("hi! how much is it?")
    assert c.primary == "price"
    assert "greeting" not in c.intents


def test_identity_outranks_a_product_word() -> None:
    assert classify("are you a real person or a bot? what's the price").primary == "identity"


def test_the_product_on_screen_is_the_default_subject(catalog: dict[str, ProductSheet]) -> None:
    coffee = catalog["coffee-yirgacheffe-1kg"]
    c = classify("is it decaf?", list(catalog.values()), on_screen=coffee)
    assert c.subjects == (coffee.id,)
    assert c.products == ()
    assert not c.is_comparison


def test_a_named_product_becomes_the_subject(catalog: dict[str, ProductSheet]) -> None:
    coffee = catalog["coffee-yirgacheffe-1kg"]
    c = classify("how much is the cat bed?", list(catalog.values()), on_screen=coffee)
    assert c.subjects == ("cat-bed-donut-60",)
    assert c.primary == "price"


def test_a_typo_in_a_long_name_still_finds_the_product(catalog: dict[str, ProductSheet]) -> None:
    found = named_products("is the yirgacheffee light roast?", list(catalog.values()))
    assert [p.id for p in found] == ["coffee-yirgacheffe-1kg"]


def test_a_word_shared_with_the_sheet_on_screen_does_not_switch_product(catalog: dict[str, ProductSheet]) -> None:
    # "light" is in the coffee's roast and in "Moon Night Light": on the coffee, it means the roast.
    coffee = catalog["coffee-yirgacheffe-1kg"]
    c = classify("is the roast light?", list(catalog.values()), on_screen=coffee)
    assert c.subjects == (coffee.id,)
    # Named for real, the lamp is found.
    c = classify("how long does the moon light battery last?", list(catalog.values()), on_screen=coffee)
    assert c.subjects == ("lamp-moon-15",)


def test_two_named_products_are_a_comparison_in_the_order_named(catalog: dict[str, ProductSheet]) -> None:
    products = list(catalog.values())
    c = classify("Which is cheaper, the poster or the rocket kit?", products, on_screen=catalog["lamp-moon-15"])
    assert c.primary == "comparison"
    assert c.is_comparison
    assert c.subjects == ("poster-hubble-deep-field", "rocket-kit-saturn-1-100")
    assert "price" in c.product_intents
    c = classify("rocket vs poster", products, on_screen=catalog["lamp-moon-15"])
    assert c.subjects == ("rocket-kit-saturn-1-100", "poster-hubble-deep-field")


def test_comparing_the_product_on_screen_with_one_named(catalog: dict[str, ProductSheet]) -> None:
    lamp = catalog["lamp-moon-15"]
    c = classify("is it cheaper than the poster?", list(catalog.values()), on_screen=lamp)
    assert c.primary == "comparison"
    assert c.subjects == (lamp.id, "poster-hubble-deep-field")


def test_comparison_words_without_two_products_are_no_comparison(catalog: dict[str, ProductSheet]) -> None:
    lamp = catalog["lamp-moon-15"]
    c = classify("which colour is better?", list(catalog.values()), on_screen=lamp)
    assert not c.is_comparison
    assert "comparison" not in c.intents
    assert c.subjects == (lamp.id,)


def test_salient_words_leave_out_filler_intent_words_and_names() -> None:
    words = salient_words("Is the enamel of the dutch oven free of lead and cadmium?", exclude={"dutch", "oven"})
    # "free" only says what kind of thing is asked; "enamel" is an attribute the sheet must mention to answer.
    assert words == ["enamel", "lead", "cadmium"]
    assert salient_words("how much is the price and shipping?") == []


def test_odd_input_never_raises_and_is_capped() -> None:
    assert classify("\x00\x1b[31m??\u202e").primary == "other"
    long = "price " * 10_000
    t0 = time.perf_counter()
    assert classify(long).primary == "price"
    assert time.perf_counter() - t0 < 0.5


def test_scores_add_up_over_several_rules() -> None:
    one = score_intents("any discount?")["discount"]
    two = score_intents("any discount or a coupon, is it on sale?")["discount"]
    assert two > one


def test_classification_is_fast(catalog: dict[str, ProductSheet]) -> None:
    products = list(catalog.values())
    t0 = time.perf_counter()
    for _ in range(200):
        classify("is the moon lamp cheaper than the rocket kit?", products, on_screen=products[0])
    per_call_ms = (time.perf_counter() - t0) / 200 * 1000
    assert per_call_ms < 5.0


def test_questions_are_told_from_comments() -> None:
    for q in ("is it washable", "What about the colour?", "does it fit a queen bed", "多少钱", "还有吗", "size?"):
        assert is_question(q), q
    for c in ("love it!!", "lol", "I bought it last week", "greetings from Spain", "nice"):
        assert not is_question(c), c


def test_opinion_questions_are_recognised() -> None:
    for q in ("is it any good?", "would you recommend it", "do you like it?", "is it worth it", "what do you think?"):
        assert is_opinion_question(q), q
    for q in ("is it good for small dogs?", "how much is it", "does it shrink?"):
        assert not is_opinion_question(q), q
