"""The language tables (streamer.lang): one registry, complete tables, no numbers in them, and every module that
speaks or draws text reads them."""

from __future__ import annotations

import random
import re

import pytest

from streamer.lang import LANGUAGES, SCREEN_TEXTS, TABLES, has_tables, language_code, tables

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def test_registry_resolves_persona_languages_and_falls_back_to_english() -> None:
    assert tables("zh").code == "zh"
    assert tables("zh-CN").code == "zh"
    assert tables("ZH_cn").code == "zh"
    assert tables("en-US").code == "en"
    assert tables("fr").code == "en"  # no French speech tables: English
    assert tables("").code == "en"
    assert has_tables("zh-TW") and not has_tables("de")
    assert language_code("zh-Hans-CN") == "zh"
    assert set(LANGUAGES) >= {"en", "zh"}


@pytest.mark.parametrize("code", sorted(TABLES))
def test_every_language_has_every_phrase_and_patter_idea(code: str) -> None:
    en, t = TABLES["en"], TABLES[code]
    assert set(t.phrases) == set(en.phrases), set(t.phrases) ^ set(en.phrases)
    assert set(t.patter) == set(en.patter), set(t.patter) ^ set(en.patter)
    for key, options in t.phrases.items():
        assert options, key
        allowed = {p for o in en.phrases[key] for p in _PLACEHOLDER.findall(o)} | {"is", "costs", "other_is"}
        for option in options:
            assert set(_PLACEHOLDER.findall(option)) <= allowed, (code, key, option)
    for key, options in t.patter.items():
        assert options, key
        allowed = {p for o in en.patter[key] for p in _PLACEHOLDER.findall(o)}
        for option in options:
            assert set(_PLACEHOLDER.findall(option)) <= allowed, (code, key, option)
    assert t.feature_leads and t.thanks and t.disclosure and t.full_stop


_NUMBER_WORDS = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|percent)\b|[一二两三四五六七八九十百千万]",
    re.IGNORECASE,
)


@pytest.mark.parametrize("code", sorted(TABLES))
def test_tables_contain_no_numbers_so_every_number_comes_from_a_sheet(code: str) -> None:
    t = TABLES[code]
    texts = [o for v in t.phrases.values() for o in v] + [o for v in t.patter.values() for o in v]
    texts += list(t.feature_leads) + list(t.thanks) + [shape for _, shape in t.spec_shapes]
    # "One thing I love", "一下", "一起", "一句", "一点", "一款": not quantities of anything a shop sells.
    allowed = re.compile(r"one thing|一下|一起|一句|一点|一款|一个亮点|一样", re.IGNORECASE)
    for text in texts:
        assert not _NUMBER_WORDS.search(allowed.sub("", text)), (code, text)


def test_chinese_patter_has_no_superlatives_the_ad_law_guard_bans() -> None:
    t = TABLES["zh"]
    texts = [o for v in t.patter.values() for o in v] + [o for v in t.phrases.values() for o in v]
    for text in texts:
        assert "最" not in text and "第一" not in text and "100%" not in text, text


def test_chinese_patter_is_chinese() -> None:
    t = TABLES["zh"]
    for key, options in t.patter.items():
        for option in options:
            words = re.sub(r"\{[a-z_]+\}", "", option)
            assert not re.search(r"[A-Za-z]{2,}", words), (key, option)


def test_screen_texts_and_disclosures_are_read_from_the_tables() -> None:
    from streamer.brain.guards import DISCLOSURES, disclosure_for
    from streamer.compose.compositor import NO_IMAGE_TEXT, no_image_text
    from streamer.config import AI_LABELS, DEFAULT_NOTICES, ai_label_for

    assert AI_LABELS["zh"] == TABLES["zh"].screen.ai_label == "AI生成"
    assert AI_LABELS["de"] == SCREEN_TEXTS["de"].ai_label == "KI-generiert"
    assert ai_label_for("fr-FR") == "Généré par IA"
    assert DEFAULT_NOTICES["zh"] == TABLES["zh"].screen.notice
    assert NO_IMAGE_TEXT["zh"] == "暂无图片" and no_image_text("es") == "Sin imagen"
    assert DISCLOSURES["zh"] == TABLES["zh"].disclosure and disclosure_for("zh-CN") == "我是AI主播。"
    assert disclosure_for("de") == TABLES["en"].disclosure


def test_thank_you_lines_come_from_the_persona_languages_table() -> None:
    from streamer.config import Persona
    from streamer.speaker import thanks_sentences

    zh = Persona.model_validate({"name": "小雅", "language": "zh", "voice": {"backend": "silence"}})
    en = Persona.model_validate({"name": "Joe", "language": "en", "voice": {"backend": "silence"}})
    said = thanks_sentences(zh, ["Mia", "Leo"], random.Random(1))
    assert len(said) == 1 and "Mia、Leo" in said[0]
    assert any(said[0] == t.format(who="Mia、Leo") for t in TABLES["zh"].thanks)
    assert thanks_sentences(zh, [], random.Random(1))[0] in [t.format(who="大家") for t in TABLES["zh"].thanks]
    line = thanks_sentences(en, ["Mia", "Leo", "Ana"], random.Random(2))[0]
    assert "Mia, Leo and Ana" in line


def test_an_order_is_thanked_as_an_order_and_a_greeting_is_welcomed() -> None:
    from streamer.chat.triage import Pick
    from streamer.config import Persona
    from streamer.speaker import reply_job

    en = Persona.model_validate({"name": "Joe", "language": "en", "voice": {"backend": "silence"}})

    def said(kind: str, counts: dict[str, int]) -> str:
        pick = Pick(kind=kind, messages=(), users=("maya",), text="", priority=1, age_s=0.0, counts=counts)  # type: ignore[arg-type]
        job = reply_job(pick, reply_id="r1", now_s=0.0, persona=en, rng=random.Random(4))
        return job.sentences[0]

    assert said("purchase", {"purchase": 1}) in [t.format(who="maya") for t in TABLES["en"].thanks_purchase]
    assert said("thanks", {"greeting": 2, "join": 1}) in [t.format(who="maya") for t in TABLES["en"].welcome]
    assert said("thanks", {"greeting": 1, "gift": 1}) in [t.format(who="maya") for t in TABLES["en"].thanks]
    for code in ("en", "zh"):  # every language has all three
        assert TABLES[code].thanks and TABLES[code].welcome and TABLES[code].thanks_purchase
