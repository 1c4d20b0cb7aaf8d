"""The qa benchmark's scoring (pure: hand-made answers, no model, no catalog loading) and its bundled data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streamer.bench.qa import (
    DATA_DIR,
    QaQuestion,
    QaResult,
    QaScore,
    QuestionFileError,
    load_questions,
    parse_questions,
    resolve_product,
    score_answer,
    shopify_aliases,
    summarise,
)
from streamer.brain.guards import product_facts
from streamer.config import ProductSheet

LAMP = ProductSheet(
    id="desk-lamp",
    name="Desk Lamp",
    price=Decimal("89"),
    list_price=Decimal("109"),
    currency="USD",
    shipping="Ships in 2 business days",
    stock=12,
    description="Keeps running for 6 hours on a full battery.",
)
TEA = ProductSheet(id="tea-set", name="青瓷茶具", price=Decimal("268"), currency="CNY", stock=120)
FACTS = [product_facts(LAMP), product_facts(TEA)]
NAMES = [LAMP.name, TEA.name]


def q(**kw: object) -> QaQuestion:
    base: dict[str, object] = {"language": "en", "number": 1, "product": "desk-lamp", "question": "?", "kind": "price"}
    return QaQuestion(**{**base, **kw})  # type: ignore[arg-type]


def score(question: QaQuestion, *sentences: str, confident: bool | None = None) -> QaScore:
    return score_answer(question, list(sentences), facts=FACTS, names=NAMES, confident=confident)


def test_a_correct_answer_states_the_number_in_any_spoken_form() -> None:
    price = q(expect_numbers=(Decimal(89),))
    assert score(price, "It's 89 dollars today; the regular price is 109 dollars.").ok
    assert score(price, "Right now it's $89.").ok
    assert score(price, "It is eighty-nine dollars.").ok
    zh = q(language="zh", expect_numbers=(Decimal(268),), product="tea-set")
    assert score(zh, "青瓷茶具现在是二百六十八元。").ok
    assert score(zh, "价格是268元。").ok


def test_expect_items_are_case_insensitive_with_alternatives() -> None:
    battery = q(kind="battery", expect=(("HOUR",), ("battery", "charge")), expect_numbers=(Decimal(6),))
    result = score(battery, "It runs for 6 hours on a full battery.")
    assert result.ok and not result.missing
    assert not score(battery, "It runs for 6 days on a full battery.").ok


def test_a_wrong_answer_names_what_it_missed_and_its_invented_number() -> None:
    result = score(q(expect_numbers=(Decimal(89),)), "It's 79 dollars.")
    assert not result.ok
    assert result.missing == ("number 89",)
    assert len(result.invented) == 1 and "79" in result.invented[0]


def test_only_a_greeting_of_the_viewer_is_an_empty_answer() -> None:
    price = q(expect_numbers=(Decimal(89),), viewer="Leo")
    for sentences in ([], ["Good question, Leo!"], ["Leo, here's the answer."]):
        result = score(price, *sentences)
        assert result.empty and not result.ok
        assert result.missing[0] == "empty"
    assert not score(price, "Good question, Leo!", "It's 89 dollars.").empty
    greeting = q(kind="greeting", viewer="Leo", expect=(("welcome",),))
    assert score(greeting, "Hi Leo, welcome to the stream!").ok
    assert score(greeting).empty


def test_invented_numbers_are_checked_against_every_catalog_product() -> None:
    anything = q(expect=(("ships",),))
    assert score(anything, "It ships in 2 business days.").invented == ()
    assert score(anything, "It ships in 9 business days.").invented != ()
    # A fact of another product of the catalog is not invented (the guard decides who it belongs to).
    assert score(anything, "That one has 120 in stock.").invented == ()
    assert score(anything, "We have 57 in stock.").invented != ()
    # Small plain counts are speech, not claims.
    assert score(anything, "It ships in two boxes.").invented == ()


def test_an_unknown_question_needs_an_honest_decline() -> None:
    unknown = q(kind="unknown", unknown=True)
    assert score(unknown, "I don't have that detail for the Desk Lamp, and I don't want to guess.").ok
    assert score(unknown, "商品资料里没写这个，我不猜，请查看商品详情页。").ok
    # The brain's own trace counts too (a wording the phrase list does not know).
    assert score(unknown, "Best to check the product page for that one.", confident=False).ok
    assert not score(unknown, "Best to check the product page for that one.", confident=True).ok
    answered = score(unknown, "It ships in 2 business days.")
    assert not answered.ok and "no honest decline" in answered.missing
    assert not score(unknown).ok and score(unknown).empty
    lying = score(unknown, "I don't have that detail, but it's about 5 kg.")
    assert not lying.ok and "invented number" in lying.missing


def test_summary_counts_languages_unloaded_questions_and_targets() -> None:
    good = q(expect_numbers=(Decimal(89),))
    results = [
        QaResult(good, ["It's 89 dollars."], score(good, "It's 89 dollars."), latency_ms=10.0),
        QaResult(good, ["It's 79 dollars."], score(good, "It's 79 dollars."), latency_ms=30.0),
        QaResult(q(language="zh", product="gone", expect=(("x",),)), problem="product 'gone' did not load"),
        QaResult(
            q(kind="unknown", unknown=True),
            ["The product sheet doesn't say."],
            score(q(kind="unknown", unknown=True), "The product sheet doesn't say."),
            latency_ms=20.0,
        ),
    ]
    out = summarise(results)
    assert out["accuracy_en"] == 0.5
    assert out["accuracy_zh"] == 0.0  # the unloadable question is a failure
    assert out["honest_unknown"] == 1.0
    assert out["invented_numbers"] == 1
    assert out["empty_answers"] == 0
    assert out["not_asked"] == 1
    assert out["p50_ms"] == 20.0 and out["p95_ms"] == 30.0
    assert out["kinds"]["price"] == {"questions": 3, "ok": 1}
    assert out["targets_met"]["accuracy_en"] is False and out["targets_met"]["honest_unknown"] is True
    assert [f["why"] for f in out["failures"]][:2] == [
        "number 89; invented '79 dollars' (money 79)",
        "product 'gone' did not load",
    ]


def test_question_files_are_validated_with_their_line() -> None:
    text = "- {product: a, kind: price, question: 'how much?', expect_number: 5}\n- {product: a, question: 'x'}\n"
    with pytest.raises(QuestionFileError, match=r"q\.yaml:2 \(question 2\).*kind"):
        parse_questions(text, language="en", file="q.yaml")
    with pytest.raises(QuestionFileError, match="unknown: true"):
        parse_questions("- {product: a, kind: k, question: 'x'}\n", language="en")
    with pytest.raises(QuestionFileError, match="no expect"):
        parse_questions("- {product: a, kind: k, question: 'x', unknown: true, expect: [y]}\n", language="en")


def test_the_bundled_question_sets_are_big_enough_and_name_their_products() -> None:
    en = load_questions(DATA_DIR / "questions_en.yaml", language="en")
    zh = load_questions(DATA_DIR / "questions_zh.yaml", language="zh")
    assert len(en) >= 80 and len(zh) >= 50
    assert sum(x.unknown for x in en) >= 5 and sum(x.unknown for x in zh) >= 5
    sheets = [p for lang in ("en", "zh") for p in (DATA_DIR / lang).iterdir() if p.suffix in (".yaml", ".json")]
    assert len(sheets) >= 8
    aliases = shopify_aliases(DATA_DIR / "en")
    assert aliases["summit-thermo-travel-mug"] >= {"summit-thermo-travel-mug", "Summit Thermo Travel Mug"}
    by_title = ProductSheet(id="7481234567", name="Summit Thermo Travel Mug", price=Decimal(24))
    assert resolve_product("summit-thermo-travel-mug", [LAMP, by_title], aliases) is by_title
    assert resolve_product("desk-lamp", [LAMP, by_title], aliases) is LAMP
    assert resolve_product("nope", [LAMP, by_title], aliases) is None


def test_a_reply_in_the_wrong_language_is_flagged_but_still_scored() -> None:
    zh = q(language="zh", product="tea-set", kind="spec", expect=(("毫升",),), expect_numbers=(Decimal(60),))
    mixed = score(zh, "The 杯子容量 is 60毫升.")
    assert mixed.ok and mixed.wrong_language
    assert not score(zh, "杯子容量是60毫升，Type-C接口。").wrong_language
    assert score(q(expect=(("tea",),)), "The tea set is 青瓷茶具.").wrong_language
