"""Quantities in English and Chinese text: what is read, as which kind, and what is ignored."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streamer.brain.numbers import Quantity, currency_matches, find_quantities, parse_number
from streamer.money import spoken_price


def one(text: str, **kw: object) -> Quantity:
    qs = find_quantities(text, **kw)  # type: ignore[arg-type]
    assert len(qs) == 1, f"{text!r} gave {qs}"
    return qs[0]


def values(text: str, **kw: object) -> list[tuple[str, Decimal]]:
    return [(q.kind, q.value) for q in find_quantities(text, **kw)]  # type: ignore[arg-type]


# ---- digits and words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("39", "39"),
        ("39.5", "39.5"),
        ("1,299.00", "1299"),
        ("1,900", "1900"),
        ("thirty-nine", "39"),
        ("thirty nine", "39"),
        ("two hundred and fifty", "250"),
        ("four thousand", "4000"),
        ("nineteen hundred", "1900"),
        ("a dozen", "12"),
        ("two dozen", "24"),
        ("four point eight", "4.8"),
        ("一百二十", "120"),
        ("一百二", "120"),
        ("三十九", "39"),
        ("两万", "20000"),
        ("一九九九", "1999"),
        ("四点八", "4.8"),
    ],
)
def test_parse_number_reads_digits_words_and_chinese_numerals(text: str, value: str) -> None:
    assert parse_number(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "hello", "39 dollars", "3D", "first"])
def test_parse_number_rejects_anything_but_one_plain_number(text: str) -> None:
    assert parse_number(text) is None


def test_large_numbers_with_scale_words() -> None:
    assert one("Over 1.5 million sold").value == Decimal(1_500_000)
    assert one("销量3万").value == Decimal(30_000)


# ---- money ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("only $39.90 today", "39.90", "$"),
        ("US$39", "39", "USD"),
        ("€5", "5", "EUR"),
        ("5€", "5", "EUR"),
        ("19,99 €", "19.99", "EUR"),
        ("£0.50", "0.50", "GBP"),
        ("¥1980", "1980", "¥"),
        ("CHF 12", "12", "CHF"),
        ("39 USD", "39", "USD"),
        ("1,299.00 dollars", "1299", "$"),
        ("thirty-nine dollars", "39", "$"),
        ("twenty bucks", "20", "$"),
        ("a hundred dollars", "100", "$"),
        ("12 Swiss francs 50", "12.50", "CHF"),
        ("19 Canadian dollars", "19", "CAD"),
        ("5 euros", "5", "EUR"),
    ],
)
def test_money_with_signs_codes_and_currency_words(text: str, value: str, currency: str) -> None:
    q = one(text)
    assert (q.kind, q.value, q.currency) == ("money", Decimal(value), currency)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("19 dollars 99", "19.99"),
        ("19 dollars and 99 cents", "19.99"),
        ("nineteen dollars ninety-nine", "19.99"),
        ("99 cents", "0.99"),
        ("1 euro 05", "1.05"),
        ("34 dollars 5", "34.05"),
        ("20 dollars", "20"),
    ],
)
def test_the_spoken_price_form_reads_as_one_amount(text: str, value: str) -> None:
    q = one(text)
    assert q.kind == "money"
    assert q.value == Decimal(value)


@pytest.mark.parametrize("amount", ["19.99", "20", "0.99", "1.05", "1299", "39.90", "1.005", "100.10"])
@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP", "CHF", "CNY"])
def test_every_spoken_price_reads_back_as_its_amount(amount: str, currency: str) -> None:
    text = f"Today it's {spoken_price(Decimal(amount), currency)}."
    q = one(text)
    assert q.kind == "money"
    assert q.value == Decimal(amount)
    assert currency_matches(q.currency, currency)


def test_word_pairs_are_prices_after_a_price_cue_and_years_otherwise() -> None:
    assert values("It's only nineteen ninety-nine") == [("money", Decimal("19.99"))]
    assert values("It's thirty-nine ninety") == [("money", Decimal("39.90"))]
    assert values("Back in nineteen ninety-nine") == [("count", Decimal(1999))]
    assert values("only four ninety-nine") == [("money", Decimal("4.99"))]


def test_a_bare_number_after_a_strong_price_cue_is_money_but_not_a_stock_count() -> None:
    assert one("The price is 39.90").kind == "money"
    assert one("it costs 40 today").kind == "money"
    q = one("only 12 left")
    assert (q.kind, q.cue) == ("count", "stock")


def test_pounds_are_a_weight_unless_said_as_money() -> None:
    assert one("It weighs 7 pounds").kind == "count"
    assert one("It costs 12 pounds 50").value == Decimal("12.50")
    assert one("£12").currency == "GBP"


def test_chinese_money_forms() -> None:
    assert (one("三十九元").kind, one("三十九元").value, one("三十九元").currency) == ("money", Decimal(39), "CNY")
    assert one("到手39块9").value == Decimal("39.9")
    assert one("三十九块九毛九").value == Decimal("39.99")
    assert one("只要9毛").value == Decimal("0.9")
    assert one("一块钱").kind == "money"
    assert one("100美元").currency == "USD"
    assert one("到手价39.9").kind == "money"
    assert values("满200减30") == [("money", Decimal(200)), ("money", Decimal(30))]


def test_currency_compatibility() -> None:
    assert currency_matches("$", "USD") and currency_matches("$", "CAD")
    assert not currency_matches("$", "EUR")
    assert currency_matches("¥", "JPY") and currency_matches("¥", "CNY")
    assert currency_matches(None, "GBP")
    assert not currency_matches("EUR", "USD")


# ---- percentages and discounts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "discount"),
    [
        ("20%", "20", False),
        ("100% cotton", "100", False),
        ("20% off", "20", True),
        ("20 percent off", "20", True),
        ("twenty per cent off", "20", True),
        ("save 20%", "20", True),
        ("a 20% discount", "20", True),
        ("half price today", "50", True),
        ("half off", "50", True),
        ("百分之二十", "20", False),
        ("八折", "20", True),
        ("五折", "50", True),
        ("八五折", "15", True),
        ("8.5折", "15", True),
        ("半价", "50", True),
    ],
)
def test_percentages_and_discounts(text: str, value: str, discount: bool) -> None:
    q = one(text)
    assert (q.kind, q.value, q.discount) == ("percent", Decimal(value), discount)


def test_half_is_only_a_discount_in_half_price_or_half_off() -> None:
    assert find_quantities("half of you asked") == []
    assert find_quantities("fill it half way") == []


def test_folding_is_not_a_discount() -> None:
    assert all(q.kind != "percent" for q in find_quantities("三折叠伞"))


# ---- durations ----------------------------------------------------------------------------------------------


def test_a_range_gives_its_unit_to_both_ends() -> None:
    qs = find_quantities("Ships in 3-5 business days")
    assert [(q.kind, q.value, q.unit) for q in qs] == [
        ("duration", Decimal(3), "day"),
        ("duration", Decimal(5), "day"),
    ]
    assert [(q.value, q.unit) for q in find_quantities("between 3 and 5 weeks")] == [
        (Decimal(3), "week"),
        (Decimal(5), "week"),
    ]
    assert [(q.kind, q.value) for q in find_quantities("20-30% off")] == [
        ("percent", Decimal(20)),
        ("percent", Decimal(30)),
    ]


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("within 24 hours", "24", "hour"),
        ("48h", "48", "hour"),
        ("a 30-day return window", "30", "day"),
        ("a two-year warranty", "2", "year"),
        ("about twelve hours", "12", "hour"),
        ("24小时内发货", "24", "hour"),
        ("二十四小时", "24", "hour"),
        ("3个工作日", "3", "day"),
        ("两周", "2", "week"),
        ("ships in one day", "1", "day"),
    ],
)
def test_durations(text: str, value: str, unit: str) -> None:
    q = one(text)
    assert (q.kind, q.value, q.unit) == ("duration", Decimal(value), unit)


def test_ages_and_calendar_years_are_counts_not_durations() -> None:
    assert one("great for a 10-year-old").kind == "count"
    assert one("kids 8 years old and up").kind == "count"
    assert one("2024年").kind == "count"


# ---- counts, cues and what is ignored -------------------------------------------------------------------------


def test_count_cues() -> None:
    assert one("We have 64 in stock").cue == "stock"
    assert one("库存12件").cue == "stock"
    assert one("仅剩5件").cue == "stock"
    assert [q.cue for q in find_quantities("buy 2 get 1 free")] == ["deal", "deal"]
    assert one("every two bags").cue == "deal"
    assert [q.cue for q in find_quantities("买二送一")] == ["deal", "deal"]
    assert one("order before 3pm").cue == "time"
    assert one("今天下午三点开始").cue == "time"
    assert one("two bags of coffee").cue is None


def test_dimensions_ratios_and_clock_times_give_each_number() -> None:
    assert values("50x70 cm") == [("count", Decimal(50)), ("count", Decimal(70))]
    assert values("1:100 scale") == [("count", Decimal(1)), ("count", Decimal(100))]
    assert [q.value for q in find_quantities("at 8:30")] == [Decimal(8), Decimal(30)]


@pytest.mark.parametrize(
    "text",
    [
        "First of all, one thing I love is this one.",
        "Which one do you like? Each one is different.",
        "It's one of a kind, no one has it.",
        "one-of-a-kind",
        "A second bed, the third time.",
        "I use it one day a week",
        "It's 3D printed and shows 4K video over USB-C.",
        "The X200 and the Saturn-1",
        "within a day",
        "twice a day",
        "我们一起来看一下",
        "十分好看",
        "万一不合适",
        "千万不要错过",
        "第一次",
        "星期一上新",
        "好一点",
        "多买一点",
    ],
)
def test_words_that_are_not_claims(text: str) -> None:
    assert find_quantities(text) == []


def test_numbers_inside_product_names_are_not_claims() -> None:
    names = ["Saturn V Model Rocket Kit, 1:100 Scale", "Galaxy Series 5 Watch", "Hubble Poster 50x70 cm"]
    assert find_quantities("The Series 5 watch and the 1:100 kit, 50x70 too.", names=names) == []
    # only the name's own tokens are blanked: other numbers still count
    assert values("Series 5 is $5", names=names) == [("money", Decimal(5))]
    assert values("Series 5 is $5") == [("count", Decimal(5)), ("money", Decimal(5))]


def test_spans_point_into_the_original_text() -> None:
    text = "Only ＄３９ today, and it ships in 24 hours"
    for q in find_quantities(text):
        assert text[q.start : q.end] == q.text
    assert [q.value for q in find_quantities(text)] == [Decimal(39), Decimal(24)]


def test_pronoun_one_after_an_ordinal_or_the_only_but_not_in_a_stock_claim() -> None:
    assert [q.value for q in find_quantities("Buy two and the third one is free.")] == [Decimal(2)]
    assert find_quantities("It's the only one I use.") == []
    q = one("only one left")
    assert (q.value, q.cue) == (Decimal(1), "stock")


def test_a_rating_scale_is_not_a_claim_but_its_score_is() -> None:
    assert values("Rated 4.8 out of 5 stars") == [("count", Decimal("4.8"))]


def test_a_count_after_money_and_for_is_a_deal() -> None:
    assert [(q.kind, q.cue) for q in find_quantities("Only $39.90 for two!")] == [("money", None), ("count", "deal")]
    assert one("great for two cats").cue is None


def test_chinese_one_day_is_a_span_only_next_to_a_delivery_word() -> None:
    assert (one("一天内发货").kind, one("一天内发货").unit) == ("duration", "day")
    assert one("一天到货").kind == "duration"
    assert one("一年四季都能用").kind == "count"
    assert one("一天到晚开着").kind == "count"
