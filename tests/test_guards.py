"""The sentence guards: facts, advertising law, banned topics, honesty, profanity and length."""

from __future__ import annotations

import random
import time
from decimal import Decimal
from pathlib import Path

import pytest

from streamer.brain.base import Beat
from streamer.brain.guards import (
    GuardRulesError,
    SentenceGuard,
    is_small_count,
    load_guard_rules,
    parse_rule_file,
    product_facts,
)
from streamer.brain.numbers import find_quantities
from streamer.brain.templates import TemplateBrain
from streamer.config import SECTION_NAMES, FaqEntry, GuardSettings, Persona, ProductSheet
from streamer.money import SUPPORTED_CURRENCIES, spoken_price

CAT_BED = ProductSheet(
    id="cat-bed",
    name="Calming Donut Cat Bed",
    price=Decimal("39.90"),
    list_price=Decimal("49.90"),
    currency="USD",
    promo="Ten percent off a second bed, and a free catnip mouse with every order today",
    features=["Raised rim", "Machine washable at 30 °C", "Fits cats up to 7 kg"],
    specs={"diameter_cm": 60, "height_cm": 18, "colours": "taupe, cloud grey, oatmeal"},
    shipping="Ships in 3-5 business days",
    stock=12,
    faq=[FaqEntry(q="Does it work for small dogs?", a="Yes, for small dogs up to about 7 kg.")],
    sections={"social_proof": "Over four thousand reviews, averaging four point eight stars."},
)
COFFEE = ProductSheet(
    id="coffee",
    name="Ethiopian Yirgacheffe Coffee Beans, 1 kg",
    price=Decimal("24.99"),
    list_price=Decimal("32.00"),
    promo="Free burr hand grinder with every two bags",
    shipping="Ships within 48 hours of roasting; free US shipping over $35",
    specs={"roast_time_h": 12},
    stock=180,
)
ROCKET = ProductSheet(
    id="rocket",
    name="Saturn-1 Model Rocket, Series 5",
    price=Decimal("89.00"),
    stock=35,
    features=["240 laser-cut parts"],
)
TEA = ProductSheet(
    id="tea",
    name="西湖龙井茶",
    price=Decimal("39.90"),
    list_price=Decimal("49.90"),
    currency="CNY",
    promo="满200减30，买二送一",
    shipping="24小时内发货",
    stock=64,
)
CATALOG = [CAT_BED, COFFEE, ROCKET, TEA]

PERSONA = Persona(name="Joe", banned_topics=["politics and elections", "horoscopes"])
PERSONA_ZH = Persona(name="小乔", language="zh")


@pytest.fixture
def guard() -> SentenceGuard:
    return SentenceGuard(settings=GuardSettings(), persona=PERSONA)


def spoken(guard: SentenceGuard, text: str, product: ProductSheet | None = CAT_BED) -> str | None:
    return guard.check(text, product=product, products=CATALOG).text


def passes(guard: SentenceGuard, text: str, product: ProductSheet | None = CAT_BED) -> bool:
    return spoken(guard, text, product) == text


# ---- facts --------------------------------------------------------------------------------------------------


def test_sentences_without_numbers_pass_untouched(guard: SentenceGuard) -> None:
    verdict = guard.check("Look how deep that rim is!", product=CAT_BED, products=CATALOG)
    assert verdict.text == "Look how deep that rim is!"
    assert verdict.actions == []
    assert passes(guard, "Welcome in, everyone!", product=None)


@pytest.mark.parametrize(
    "text",
    [
        "It's only $39.90 today!",
        "It's usually 49 dollars 90, and today it's 39 dollars 90.",
        "That's 39 dollars and 90 cents.",
        "Just 39.90 dollars.",
        "That's thirty-nine ninety.",
        "Thirty-nine dollars and ninety cents!",
        "The price is 39.90.",
        f"It's {spoken_price(Decimal('39.90'), 'USD')} right now.",
    ],
)
def test_the_price_passes_in_every_spoken_and_written_form(guard: SentenceGuard, text: str) -> None:
    assert passes(guard, text)


def test_whole_prices_pass_as_digits_words_and_decimals(guard: SentenceGuard) -> None:
    for text in ("Only $89 today.", "Only 89 dollars.", "Only eighty-nine dollars.", "Only $89.00.", "It's 89."):
        assert passes(guard, text, product=ROCKET), text


@pytest.mark.parametrize(
    "text",
    [
        "Only $39.89 today!",  # a cent off
        "Only 39 dollars 99 today!",
        "It's usually $49.99.",
        "You save 25 percent today.",  # the discount is 20%
        "It ships in 6 business days.",  # the sheet says 3-5
        "It ships in 5 weeks.",  # right number, wrong unit
        "It fits cats up to 9 kg.",
        "Over 5,000 reviews!",
    ],
)
def test_near_misses_are_dropped(guard: SentenceGuard, text: str) -> None:
    verdict = guard.check(text, product=CAT_BED, products=CATALOG)
    assert verdict.text is None
    assert [a.kind for a in verdict.actions] == ["fact"]


def test_each_end_of_a_range_is_a_fact(guard: SentenceGuard) -> None:
    assert passes(guard, "It ships in 3 to 5 business days.")
    assert passes(guard, "It ships in 3-5 days.")
    assert passes(guard, "Delivery takes up to 5 days.")


def test_a_duration_must_match_value_and_unit(guard: SentenceGuard) -> None:
    assert passes(guard, "It ships within 48 hours.", product=COFFEE)
    assert spoken(guard, "It ships within 2 days.", product=COFFEE) is None  # 48 hours, but not said so
    assert spoken(guard, "It ships within 48 days.", product=COFFEE) is None
    assert passes(guard, "Roasting takes 12 hours.", product=COFFEE)  # spec key roast_time_h


def test_derived_discount_and_saving_pass(guard: SentenceGuard) -> None:
    # (49.90 - 39.90) / 49.90 = 20.04 %: floor and rounding are both 20; the saving is $10.
    assert passes(guard, "That's 20% off, you save 10 dollars!")
    assert passes(guard, "Twenty percent off today.")
    # coffee: (32 - 24.99) / 32 = 21.9 %: floor 21, rounded 22
    assert passes(guard, "That's 21% off.", product=COFFEE)
    assert passes(guard, "That's 22% off.", product=COFFEE)
    assert spoken(guard, "That's 23% off.", product=COFFEE) is None
    assert passes(guard, "You save 7 dollars 1.", product=COFFEE)


def test_a_percent_off_must_be_a_discount_fact(guard: SentenceGuard) -> None:
    assert passes(guard, "Ten percent off a second bed!")  # from the promo
    sheet = CAT_BED.model_copy(update={"description": "Cover is 100% cotton."})
    assert passes(guard, "The cover is 100% cotton.", product=sheet)
    assert spoken(guard, "Today it's 100% off!", product=sheet) is None


def test_stock_passes_and_money_equal_to_the_stock_fails(guard: SentenceGuard) -> None:
    assert passes(guard, "We have 12 in stock right now.")
    assert passes(guard, "Only twelve left!")
    verdict = guard.check("Only $12 today!", product=CAT_BED, products=CATALOG)
    assert verdict.text is None
    assert "money 12" in verdict.actions[0].detail
    # and a stock claim does not match a number that is not the stock (7 kg is in the sheet)
    assert spoken(guard, "Only 7 left!") is None


def test_another_products_price_passes_only_when_that_product_is_named(guard: SentenceGuard) -> None:
    assert spoken(guard, "And it's just $24.99!") is None
    assert passes(guard, "The Ethiopian Yirgacheffe Coffee Beans are $24.99.")
    assert passes(guard, "The Yirgacheffe Coffee Beans are $24.99.")  # the name without its size
    assert passes(guard, "The Saturn-1 is 89 dollars.")  # a model token names the rocket
    assert spoken(guard, "The coffee is $24.99.") is None  # "coffee" alone names no product


def test_a_price_for_n_items_passes_only_when_n_is_in_the_promo(guard: SentenceGuard) -> None:
    assert passes(guard, "Grab two bags for 49 dollars 98 and get the free grinder.", product=COFFEE)
    assert spoken(guard, "Three bags for 74 dollars 97.", product=COFFEE) is None
    assert spoken(guard, "Buy three bags and get a free grinder.", product=COFFEE) is None


def test_numbers_in_a_product_name_are_not_claims(guard: SentenceGuard) -> None:
    assert passes(guard, "Say hello to the Saturn-1 Model Rocket, Series 5!", product=ROCKET)
    assert passes(guard, "The Series 5 has 240 parts.", product=ROCKET)
    assert spoken(guard, "The Series 5 has 250 parts.", product=ROCKET) is None


def test_small_counts_pass_unless_attached_to_a_claim(guard: SentenceGuard) -> None:
    # plain small counts are speech, not claims
    assert passes(guard, "It comes in one size and two colours, ready in three steps.")
    assert passes(guard, "Both of you, all three of you, welcome!")
    # the same numbers attached to stock, deals, time, money or percent are checked
    assert spoken(guard, "Only 2 left!") is None
    assert spoken(guard, "Buy 2, get 1 free!") is None
    assert spoken(guard, "Two beds for the price of one!") is None
    assert spoken(guard, "It ships in 2 days.") is None
    assert spoken(guard, "Order before 1pm.") is None
    assert spoken(guard, "Just $3 shipping.") is None
    assert spoken(guard, "Take 2% off.") is None
    # unless the sheet says them: "every two bags" is in the coffee promo
    assert passes(guard, "Grab two bags and the grinder is free.", product=COFFEE)


def test_small_count_rule_is_exactly_one_to_three_without_a_cue() -> None:
    assert [is_small_count(q) for q in find_quantities("two bags, four bags, 2 left, 2 days")] == [
        True,
        False,
        False,
        False,
    ]


def test_ordinals_and_pronoun_one_are_not_numbers(guard: SentenceGuard) -> None:
    assert passes(guard, "First of all, one thing I love is this one.")
    assert passes(guard, "It's 3D-printed and made for a second cat.")


def test_without_a_product_any_checked_number_drops(guard: SentenceGuard) -> None:
    assert spoken(guard, "Everything is $10 today!", product=None) is None
    assert passes(guard, "Welcome, all three of you!", product=None)


def test_chinese_facts(guard: SentenceGuard) -> None:
    assert passes(guard, "今天只要39块9！", product=TEA)
    assert passes(guard, "原价四十九块九，现在三十九块九。", product=TEA)
    assert passes(guard, "今天八折！", product=TEA)  # (49.9 - 39.9) / 49.9 = 20 % off
    assert passes(guard, "满200减30，买二送一。", product=TEA)
    assert passes(guard, "库存还有64件，24小时内发货。", product=TEA)
    assert passes(guard, "我们一起来看一下这款茶。", product=TEA)
    assert spoken(guard, "今天七折！", product=TEA) is None
    assert spoken(guard, "库存只剩12件！", product=TEA) is None
    assert spoken(guard, "满200减50！", product=TEA) is None
    assert spoken(guard, "48小时内发货。", product=TEA) is None
    assert spoken(guard, "今天只要39.9美元！", product=TEA) is None  # the tea is priced in CNY


def test_money_in_another_currency_fails(guard: SentenceGuard) -> None:
    assert spoken(guard, "Only €39.90 today!") is None
    assert spoken(guard, "Only 39.90 euros today!") is None


def test_facts_cache_follows_a_changed_sheet(guard: SentenceGuard) -> None:
    assert passes(guard, "Only $39.90 today!")
    cheaper = CAT_BED.model_copy(update={"price": Decimal("29.90")})
    assert spoken(guard, "Only $39.90 today!", product=cheaper) is None
    assert passes(guard, "Only $29.90 today!", product=cheaper)


def test_product_facts_content() -> None:
    facts = product_facts(CAT_BED)
    assert facts.money[Decimal("39.90")] == {"USD"}
    assert Decimal(10) in facts.money  # the saving
    assert facts.discounts >= {Decimal(20), Decimal(10)}  # derived, and "Ten percent off" in the promo
    assert {(Decimal(3), "day"), (Decimal(5), "day")} <= facts.durations
    assert facts.stock_counts == {Decimal(12)}
    assert {Decimal(60), Decimal(18), Decimal(7), Decimal(30), Decimal(4000), Decimal("4.8")} <= facts.numbers


# ---- advertising law ------------------------------------------------------------------------------------------


def test_simple_superlatives_are_rewritten_and_counted(guard: SentenceGuard) -> None:
    verdict = guard.check("This is the best cat bed, guaranteed.", product=CAT_BED, products=CATALOG)
    assert verdict.text == "This is a great cat bed."
    assert [a.kind for a in verdict.actions] == ["adlaw"]
    assert spoken(guard, "Our best-selling bed!") == "Our popular bed!"
    assert spoken(guard, "The best part? The rim.") == "A great part? The rim."
    assert spoken(guard, "Guaranteed soft.") == "Soft."
    assert guard.counts["adlaw"] == 4


@pytest.mark.parametrize(
    "text",
    [
        "It's the number one cat bed.",
        "The No.1 bed on the market.",
        "The #1 bed for cats.",
        "It's the cheapest bed anywhere.",
        "100% safe for kittens.",
        "It's risk-free.",
        "A miracle bed!",
        "Clinically proven to calm cats.",
        "The world's first calming bed.",
        "A best-in-class bed.",  # a rewritable word in a compound the list does not know
        "It cures anxiety in cats.",
        "It heals sore joints.",
        "The best price online!",
    ],
)
def test_absolute_and_medical_claims_are_dropped(guard: SentenceGuard, text: str) -> None:
    verdict = guard.check(text, product=CAT_BED, products=CATALOG)
    assert verdict.text is None
    assert verdict.actions[-1].kind == "adlaw"


def test_ad_law_exceptions_and_near_words_pass(guard: SentenceGuard) -> None:
    assert passes(guard, "All the best, and see you next time!")
    assert passes(guard, "Drop a treat in the middle, cats love it.")
    cotton = CAT_BED.model_copy(update={"description": "The cover is 100% cotton."})
    # the Chinese list's "100%" is not applied to English sentences
    assert passes(guard, "It's a 100% cotton cover.", product=cotton)


def test_chinese_ad_law(guard: SentenceGuard) -> None:
    assert spoken(guard, "这是最好的茶。", product=TEA) == "这是很好的茶。"
    assert spoken(guard, "全网最低价！", product=TEA) is None
    assert spoken(guard, "国家级品质。", product=TEA) is None
    assert spoken(guard, "销量第一。", product=TEA) is None
    assert spoken(guard, "这个茶可以治疗失眠。", product=TEA) is None
    assert passes(guard, "最近很多人问，第一次买的朋友可以试试。", product=TEA)


# ---- banned topics, honesty, profanity ------------------------------------------------------------------------


def test_banned_topics_drop_the_sentence(guard: SentenceGuard) -> None:
    verdict = guard.check("Forget the elections, look at this bed.", product=CAT_BED, products=CATALOG)
    assert verdict.text is None
    assert verdict.actions[0].kind == "banned_topic"
    assert "politics" in verdict.actions[0].detail
    assert spoken(guard, "Who will be the next President?") is None
    assert guard.counts["banned_topic"] == 2


def test_a_persona_topic_without_a_keyword_list_is_matched_as_a_phrase(guard: SentenceGuard) -> None:
    assert guard.unmatched_topics == ["horoscopes"]
    assert spoken(guard, "Our horoscopes say cats love it.") is None


def test_topics_the_persona_does_not_ban_pass(guard: SentenceGuard) -> None:
    assert passes(guard, "No casino trip needed to win this deal.")  # gambling is not banned by this persona
    strict = SentenceGuard(settings=GuardSettings(), persona=PERSONA.model_copy(update={"banned_topics": ["gambling"]}))
    assert spoken(strict, "No casino trip needed to win this deal.") is None


@pytest.mark.parametrize(
    "text",
    ["I'm a real person, not a bot!", "I am human, I promise.", "Don't worry, I'm not a robot.", "I'm really real."],
)
def test_claims_to_be_human_become_a_disclosure_in_english(guard: SentenceGuard, text: str) -> None:
    verdict = guard.check(text, product=CAT_BED, products=CATALOG)
    assert verdict.text == "I'm an AI host, and I'm here to help."
    assert [a.kind for a in verdict.actions] == ["honesty"]


@pytest.mark.parametrize("text", ["我是真人哦！", "我不是机器人。", "本人是真人主播。"])
def test_claims_to_be_human_become_a_disclosure_in_chinese(text: str) -> None:
    guard = SentenceGuard(settings=GuardSettings(), persona=PERSONA_ZH)
    verdict = guard.check(text, product=TEA, products=CATALOG)
    assert verdict.text == "我是AI主播。"
    assert guard.counts["honesty"] == 1


def test_honest_statements_about_being_an_ai_pass(guard: SentenceGuard) -> None:
    assert passes(guard, "I'm not a real person, I'm an AI host.")
    assert passes(guard, "I'm a real fan of this rim.")


def test_profanity_drops_the_sentence_without_catching_innocent_words(guard: SentenceGuard) -> None:
    verdict = guard.check("This is so fucking soft.", product=CAT_BED, products=CATALOG)
    assert verdict.text is None
    assert verdict.actions[0].kind == "profanity"
    assert spoken(guard, "这也太他妈的软了。", product=TEA) is None
    assert passes(guard, "A shiitake-brown colour, in a classic shape, from Scunthorpe.")
    assert guard.counts["profanity"] == 2


# ---- length -------------------------------------------------------------------------------------------------


def test_long_sentences_are_cut_at_a_word_boundary_and_end_with_a_period() -> None:
    guard = SentenceGuard(settings=GuardSettings(max_sentence_chars=60), persona=PERSONA)
    text = "This bed has a raised rim that supports the head and neck and a base that never slides around"
    verdict = guard.check(text, product=CAT_BED, products=CATALOG)
    assert verdict.text is not None
    assert len(verdict.text) <= 60
    assert verdict.text.endswith(".")
    assert text.startswith(verdict.text[:-1])
    assert text[len(verdict.text) - 1] == " "  # cut at a word boundary
    assert [a.kind for a in verdict.actions] == ["length"]
    assert guard.counts["length"] == 1


def test_a_cut_that_would_change_a_price_drops_the_sentence() -> None:
    guard = SentenceGuard(settings=GuardSettings(max_sentence_chars=41), persona=PERSONA)
    text = "The regular price is forty-nine dollars ninety, friends, so do not wait."
    verdict = guard.check(text, product=CAT_BED, products=CATALOG)
    # cut at the cap it would read "The regular price is forty-nine dollars." (49, not 49.90)
    assert verdict.text is None
    assert verdict.actions[-1].kind == "length"
    assert "changes a number" in verdict.actions[-1].detail


def test_chinese_sentences_are_cut_with_a_chinese_period() -> None:
    guard = SentenceGuard(settings=GuardSettings(max_sentence_chars=40), persona=PERSONA_ZH)
    text = "这款茶叶香气清新，" + "口感醇厚回甘" * 8 + "。"
    verdict = guard.check(text, product=TEA, products=CATALOG)
    assert verdict.text is not None and verdict.text.endswith("。")
    assert len(verdict.text) <= 40


# ---- word lists -----------------------------------------------------------------------------------------------


def test_extra_rules_dir_adds_entries(tmp_path: Path) -> None:
    (tmp_path / "absolute_en.txt").write_text("# shop rules\nunbreakable\nsuper soft => soft\n", encoding="utf-8")
    (tmp_path / "banned_topics.txt").write_text("[horoscopes | astrology]\nzodiac\n", encoding="utf-8")
    guard = SentenceGuard(settings=GuardSettings(extra_rules_dir=str(tmp_path)), persona=PERSONA)
    assert spoken(guard, "It's unbreakable.") is None
    assert spoken(guard, "It's super soft.") == "It's soft."
    assert spoken(guard, "Perfect for every zodiac sign.") is None  # the persona's "horoscopes" now has keywords
    assert guard.unmatched_topics == []


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("fine\n => great\n", 2, "nothing before '=>'"),
        ("a => b => c\n", 1, "more than one '=>'"),
        ("ok\n!x => y\n", 2, "exception"),
        ("mir*cle\n", 1, "'*' may only end"),
        ("x\n", 1, "too short"),
    ],
)
def test_a_bad_line_names_file_and_line(tmp_path: Path, content: str, line: int, message: str) -> None:
    path = tmp_path / "absolute_en.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GuardRulesError) as info:
        load_guard_rules(tmp_path)
    assert info.value.file == str(path)
    assert info.value.line == line
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_bad_topic_files_and_unknown_names_are_errors(tmp_path: Path) -> None:
    with pytest.raises(GuardRulesError, match=r"banned_topics.txt:2: keyword 'zodiac' before any \[topic\]"):
        parse_rule_file("# topics\nzodiac\n", "banned_topics.txt")
    with pytest.raises(GuardRulesError, match=r"banned_topics.txt:1: topic header must end"):
        parse_rule_file("[politics\n", "banned_topics.txt")
    with pytest.raises(GuardRulesError, match=r"profanity_en.txt:1: rewrites"):
        parse_rule_file("darn => gosh\n", "profanity_en.txt")
    (tmp_path / "absolut_en.txt").write_text("best\n", encoding="utf-8")
    with pytest.raises(GuardRulesError, match="unknown word list"):
        load_guard_rules(tmp_path)
    with pytest.raises(GuardRulesError, match="not a folder"):
        load_guard_rules(tmp_path / "missing")


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "profanity_zh.txt").write_bytes("脏话".encode("gbk"))
    with pytest.raises(GuardRulesError, match="not UTF-8"):
        load_guard_rules(tmp_path)


def test_built_in_lists_load_and_hash_entries_are_not_comments() -> None:
    rules = load_guard_rules()
    phrases = {e.phrase for e in rules.entries["absolute_en.txt"]}
    assert {"#1", "No.1", "number one", "the best"} <= phrases
    assert {"politics", "medical", "competitor"} <= set(rules.topics)


# ---- counters, templates, speed -------------------------------------------------------------------------------


def test_counters_start_at_zero_for_every_kind(guard: SentenceGuard) -> None:
    assert guard.counts == {
        "fact": 0,
        "adlaw": 0,
        "banned_topic": 0,
        "honesty": 0,
        "profanity": 0,
        "length": 0,
    }
    spoken(guard, "Only $1 today!")
    assert guard.counts["fact"] == 1


def test_template_patter_passes_the_guards(guard: SentenceGuard) -> None:
    """The offline templates only speak sheet facts, so the fact guard never drops one of their sentences."""
    brain = TemplateBrain()
    rng = random.Random(7)
    checked = 0
    for product in (CAT_BED, COFFEE, ROCKET):
        for section in SECTION_NAMES:
            for idea in brain.ideas(PERSONA, Beat("section", product=product, section=section), rng):
                for sentence in idea:
                    verdict = guard.check(sentence, product=product, products=CATALOG)
                    assert verdict.text is not None, (sentence, verdict.actions)
                    checked += 1
    assert checked > 40
    assert guard.counts["fact"] == 0


def test_a_typical_check_costs_well_under_a_millisecond(guard: SentenceGuard) -> None:
    sentences = [
        "It's usually 49 dollars 90, and today it's 39 dollars 90.",
        "We have 12 in stock right now, so don't wait too long.",
        "Ships in 3-5 business days, and that's 20% off today.",
        "Look how deep that rim is, your cat will love it!",
        "The Ethiopian Yirgacheffe Coffee Beans are $24.99, by the way.",
    ]
    for s in sentences:  # warm the caches
        guard.check(s, product=CAT_BED, products=CATALOG)
    rounds = 100
    start = time.perf_counter()
    for _ in range(rounds):
        for s in sentences:
            guard.check(s, product=CAT_BED, products=CATALOG)
    per_check_s = (time.perf_counter() - start) / (rounds * len(sentences))
    assert per_check_s < 0.001, f"{per_check_s * 1e6:.0f} us per check"


@pytest.mark.parametrize("currency", sorted(SUPPORTED_CURRENCIES))
def test_every_currency_a_sheet_may_use_is_spoken_and_read_back_by_the_fact_guard(currency: str, guard: SentenceGuard):
    mug = ProductSheet(id="mug", name="Travel Mug", price=Decimal("12.50"), currency=currency)
    right = f"The Travel Mug is {spoken_price(mug.price, currency)} today."
    wrong = f"The Travel Mug is {spoken_price(Decimal('12.90'), currency)} today."
    assert guard.check(right, product=mug, products=[mug]).text == right
    assert guard.check(wrong, product=mug, products=[mug]).text is None


def test_a_sheet_in_a_currency_the_host_cannot_say_is_refused_at_load():
    with pytest.raises(ValueError, match="currency 'XYZ' is not one the host can say"):
        ProductSheet(id="mug", name="Travel Mug", price=Decimal("12.50"), currency="XYZ")


def test_a_duration_in_a_spec_key_with_a_singular_unit_is_a_fact(guard: SentenceGuard):
    kettle = ProductSheet(id="k", name="Kettle", price=Decimal("30"), specs={"warranty_year": 2, "boil_minute": 3})
    said = "The Kettle comes with a 2-year warranty and boils in 3 minutes."
    assert guard.check(said, product=kettle, products=[kettle]).text == said
