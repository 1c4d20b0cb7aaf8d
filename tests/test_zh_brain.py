"""Chinese end to end in the offline brain: BM25 retrieval over jieba tokens, Chinese product names, variant stock,
honest declines, Chinese spec sentences and patter, prices said and guarded the Chinese way."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.brain.base import Beat, BrainRequest
from streamer.brain.embed import LexicalEmbedder
from streamer.brain.guards import SentenceGuard
from streamer.brain.intents import cjk_name_parts, classify, named_products
from streamer.brain.offline import OfflineBrain, is_chinese_question
from streamer.brain.specs import spec_sentence
from streamer.brain.templates import TemplateBrain
from streamer.brain.zh_text import content_words, covered, tokens
from streamer.config import GuardSettings, Persona, ProductSheet
from streamer.loading import load_product_file

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "products-zh"


def _load(folder: Path) -> list[ProductSheet]:
    out: list[ProductSheet] = []
    for f in sorted(folder.iterdir()):
        if f.suffix in (".yaml", ".yml", ".json", ".csv"):
            found, problems = load_product_file(f)
            assert not [p for p in problems if p.is_error], problems
            out += found
    return out


def _persona(language: str) -> Persona:
    return Persona.model_validate({"name": "小雅" if language == "zh" else "Joe", "language": language})


@pytest.fixture(scope="module")
def catalog() -> dict[str, ProductSheet]:
    products = _load(DEMO)
    assert len(products) >= 4
    return {p.id: p for p in products}


@pytest.fixture(scope="module")
def brain(catalog: dict[str, ProductSheet]) -> OfflineBrain:
    b = OfflineBrain(embedder=LexicalEmbedder())  # Chinese questions never use the dense embedder
    b.prepare(list(catalog.values()))
    return b


def ask(
    brain: OfflineBrain,
    catalog: dict[str, ProductSheet],
    on_air: str,
    question: str,
    *,
    language: str = "zh",
    seed: int = 3,
) -> str:
    request = BrainRequest(
        persona=_persona(language),
        question=question,
        product=catalog[on_air],
        products=list(catalog.values()),
        rng=random.Random(seed),
    )
    return " ".join(brain.answer(request))


def test_price_question_gets_the_price_not_a_faq(brain: OfflineBrain, catalog: dict[str, ProductSheet]) -> None:
    answer = ask(brain, catalog, "celadon-tea-set", "这套茶具多少钱？")
    assert "¥268" in answer and "¥328" in answer and "原价" in answer
    assert "洗碗机" not in answer
    assert brain.last_trace.confident


def test_capacity_question_gets_the_teapots_capacity(brain: OfflineBrain, catalog: dict[str, ProductSheet]) -> None:
    answer = ask(brain, catalog, "celadon-tea-set", "茶壶能装多少水？")
    assert "200毫升" in answer and "洗碗机" not in answer
    assert re.fullmatch(r"[^A-Za-z]+", answer), answer  # a Chinese sentence, no English template words


def test_sold_out_variant_is_said_sold_out(brain: OfflineBrain, catalog: dict[str, ProductSheet]) -> None:
    answer = ask(brain, catalog, "silk-scarf-zh", "酒红色还有货吗？")
    assert "酒红" in answer and "卖完" in answer
    assert "37" not in answer  # not the total stock of the other colours
    in_stock = ask(brain, catalog, "silk-scarf-zh", "米白的还有多少？")
    assert "22" in in_stock


def test_another_product_named_in_chinese_is_answered_about(
    brain: OfflineBrain, catalog: dict[str, ProductSheet]
) -> None:
    answer = ask(brain, catalog, "celadon-tea-set", "月球灯多少钱？")
    assert "¥89" in answer and "268" not in answer
    assert brain.last_trace.subjects == ("moon-lamp-zh",)
    both = ask(brain, catalog, "moon-lamp-zh", "茶具和猫窝哪个便宜？")
    assert "¥268" in both and "¥59" in both and "冬季保暖猫窝" in both


@pytest.mark.parametrize(
    ("on_air", "question"),
    [
        ("moon-lamp-zh", "可以放在户外淋雨吗？"),
        ("celadon-tea-set", "买茶具送茶叶吗？"),
        ("silk-scarf-zh", "会掉色吗？"),
        ("cat-bed-zh", "猫窝防水吗？"),
    ],
)
def test_unanswerable_question_is_declined_honestly(
    brain: OfflineBrain, catalog: dict[str, ProductSheet], on_air: str, question: str
) -> None:
    answer = ask(brain, catalog, on_air, question)
    assert not brain.last_trace.confident
    assert "没写" in answer or "没有" in answer
    assert not re.search(r"\d", answer.replace(catalog[on_air].name, ""))


@pytest.mark.parametrize(
    ("on_air", "question", "expected"),
    [
        ("silk-scarf-zh", "怎么洗？", "手洗"),
        ("silk-scarf-zh", "有礼盒吗？", "礼盒"),
        ("moon-lamp-zh", "充电要多久？", "2小时"),
        ("moon-lamp-zh", "保修多久？", "一年"),
        ("cat-bed-zh", "能机洗吗？", "机洗"),
        ("celadon-tea-set", "一套里面有几个杯子？", "四个"),
    ],
)
def test_facts_in_features_faq_and_description_are_found(
    brain: OfflineBrain, catalog: dict[str, ProductSheet], on_air: str, question: str, expected: str
) -> None:
    answer = ask(brain, catalog, on_air, question)
    assert expected in answer, answer
    assert brain.last_trace.confident


def test_bigram_tokeniser_answers_too(catalog: dict[str, ProductSheet]) -> None:
    brain = OfflineBrain(embedder=LexicalEmbedder(), zh_tokeniser="bigram")
    brain.prepare(list(catalog.values()))
    assert "200毫升" in ask(brain, catalog, "celadon-tea-set", "茶壶能装多少水？")
    assert "¥268" in ask(brain, catalog, "celadon-tea-set", "这套茶具多少钱？")


def test_answer_follows_the_personas_language_not_the_viewers(
    brain: OfflineBrain, catalog: dict[str, ProductSheet]
) -> None:
    answer = ask(brain, catalog, "celadon-tea-set", "how much is the tea set?")
    assert "¥268" in answer and re.search(r"[\u4e00-\u9fff]", answer)
    assert not re.search(r"\b(the|is|price|dollars)\b", answer, re.IGNORECASE)
    en = _load(REPO / "products")
    en_brain = OfflineBrain(embedder=LexicalEmbedder())
    en_catalog = {p.id: p for p in en}
    answer = ask(en_brain, en_catalog, en[0].id, "这个多少钱？", language="en")
    assert not re.search(r"[\u4e00-\u9fff]", answer), answer  # an English show answers in English
    assert re.search(r"\bdollars?\b", answer)


def test_chinese_question_detection_reads_the_question_not_the_name() -> None:
    assert is_chinese_question("月球灯多少钱？")
    assert is_chinese_question("能用Type-C充电吗")
    assert not is_chinese_question("how much is the 3D打印月球灯?")


def test_chinese_product_names_are_matched_by_their_head_word(catalog: dict[str, ProductSheet]) -> None:
    products = list(catalog.values())
    tea = catalog["celadon-tea-set"]
    assert cjk_name_parts("3D打印月球灯")["月球灯"] == 1.0
    assert cjk_name_parts("冬季保暖猫窝")["猫窝"] == 1.0
    assert cjk_name_parts("冬季保暖猫窝")["冬季"] < 1.0
    assert [p.id for p in named_products("月球灯多少钱？", products, on_screen=tea)] == ["moon-lamp-zh"]
    assert [p.id for p in named_products("保温杯呢？丝巾多少钱", products, on_screen=tea)] == ["silk-scarf-zh"]
    assert [p.id for p in named_products("moon-lamp-zh 多少钱", products, on_screen=tea)] == ["moon-lamp-zh"]
    assert named_products("冬季能戴吗？", products, on_screen=tea) == []  # a modifier alone names nothing
    cls = classify("猫窝和丝巾哪个贵？", products, on_screen=tea)
    assert cls.subjects == ("cat-bed-zh", "silk-scarf-zh")


def test_chinese_intent_cues() -> None:
    cases = {
        "什么价？": "price",
        "贵吗": "price",
        "有满减吗": "discount",
        "买一送一吗": "discount",
        "发什么快递？": "shipping",
        "还有吗": "stock",
        "卖完了吗": "stock",
        "能装多少": "specs",
        "面料是什么": "material",
        "产地是哪里": "origin",
        "七天无理由吗": "returns",
        "质保多久": "warranty",
        "你是机器人吗": "identity",
        "给我看看猫窝": "show",
    }
    for question, intent in cases.items():
        assert classify(question).primary == intent, (question, classify(question).intents)


def test_jieba_tokens_and_coverage() -> None:
    toks = tokens("茶壶容量200毫升")
    assert "茶壶" in toks and "容量" in toks and "200" in toks
    assert "c:壶" in toks and not any(t in ("的", "吗") for t in toks)
    assert content_words("可以放在户外淋雨吗？") == ["放在", "户外", "淋雨"]
    assert covered("电池容量", "内置1200毫安锂电池")
    assert not covered("碳酸饮料", "316不锈钢内胆，保温12小时")


def test_importing_and_using_jieba_prints_nothing() -> None:
    code = "from streamer.brain.zh_text import tokens; print(len(tokens('月球灯多少钱')) > 0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True" and out.stderr == ""


def test_spec_sentences_are_chinese_for_a_chinese_persona() -> None:
    assert spec_sentence("杯子容量", "60毫升", "zh") == "杯子容量是60毫升。"
    assert spec_sentence("颜色", "藏青, 酒红, 米白", "zh") == "颜色有藏青、酒红和米白可选。"
    assert spec_sentence("产地", "浙江龙泉", "zh") == "产地是浙江龙泉。"
    assert spec_sentence("尺寸_大方巾", "90×90厘米", "zh") == "大方巾尺寸是90×90厘米。"
    assert spec_sentence("diameter_cm", 60, "zh") == "直径是60厘米。"
    assert spec_sentence("diameter_cm", 60) == "It's 60 cm across."  # English unchanged


def _beat_lines(persona: Persona, product: ProductSheet, section: str, seed: int) -> list[str]:
    beat = Beat(kind="section", product=product, section=section)
    return TemplateBrain().lines(BrainRequest(persona=persona, beat=beat, rng=random.Random(seed)))


def _sheet_latin(product: ProductSheet) -> set[str]:
    text = " ".join(
        [product.name, product.description or "", product.promo or "", product.shipping or "", *product.features]
        + [f"{k} {v}" for k, v in product.specs.items()]
        + [f"{e.q} {e.a}" for e in product.faq]
    )
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


@pytest.mark.parametrize("section", ["hook", "features", "price", "usage", "social_proof", "call_to_action"])
def test_zh_patter_is_chinese_with_sheet_facts_only(catalog: dict[str, ProductSheet], section: str) -> None:
    persona = _persona("zh")
    for product in catalog.values():
        allowed = _sheet_latin(product)
        for seed in range(6):
            lines = _beat_lines(persona, product, section, seed)
            assert lines, (product.id, section)
            for line in lines:
                english = [w for w in re.findall(r"[A-Za-z]+", line) if w.lower() not in allowed]
                assert not english, (product.id, section, line)
                assert line[-1] in "。！？", line
                assert "最" not in line and "第一" not in line


def test_zh_price_patter_says_price_and_list_price_the_chinese_way(catalog: dict[str, ProductSheet]) -> None:
    persona = _persona("zh")
    tea = catalog["celadon-tea-set"]
    said = set()
    for seed in range(12):
        said |= set(_beat_lines(persona, tea, "price", seed))
    price_lines = [s for s in said if "¥268" in s]
    assert price_lines and all(("¥328" in s and "原价" in s) or "日常价" in s for s in price_lines)
    assert any("第二件半价" in s for s in said)  # the promo with its condition
    assert any("120件" in s for s in said)
    cta = set()
    for seed in range(12):
        cta |= set(_beat_lines(persona, tea, "call_to_action", seed))
    assert any("小黄车" in s or "商品卡片" in s for s in cta)


def test_zh_transitions_and_invitations_are_chinese(catalog: dict[str, ProductSheet]) -> None:
    persona = _persona("zh")
    lamp = catalog["moon-lamp-zh"]
    rng = random.Random(1)
    for kind in ("transition", "invite"):
        beat = Beat(kind=kind, product=lamp, next_product=lamp)
        lines = TemplateBrain().lines(BrainRequest(persona=persona, beat=beat, rng=rng))
        assert lines and all(not re.search(r"[A-Za-z]{2,}", line.replace(lamp.name, "")) for line in lines)


# ---- Chinese prices through the fact guard --------------------------------------------------------------------


@pytest.fixture(scope="module")
def guard() -> SentenceGuard:
    return SentenceGuard(settings=GuardSettings(), persona=_persona("zh"))


@pytest.mark.parametrize(
    ("product_id", "sentence", "passes"),
    [
        ("celadon-tea-set", "龙泉青瓷功夫茶具套装现在只要¥268，原价¥328。", True),
        ("celadon-tea-set", "现在只要268元，原价328元。", True),
        ("celadon-tea-set", "现在只要二百六十八元。", True),
        ("celadon-tea-set", "现在只要¥199，原价¥328。", False),
        ("celadon-tea-set", "现在只要二百五十八元。", False),
        ("moon-lamp-zh", "直播间立减60元，到手价89元。", True),
        ("moon-lamp-zh", "直播间立减70元。", False),
        ("silk-scarf-zh", "米白 / 小方巾现在是¥129。", True),
        ("silk-scarf-zh", "米白 / 小方巾现在是¥139。", False),
        ("silk-scarf-zh", "任意两条八折。", True),
        ("silk-scarf-zh", "任意两条七折。", False),
    ],
)
def test_fact_guard_reads_chinese_prices(
    guard: SentenceGuard, catalog: dict[str, ProductSheet], product_id: str, sentence: str, passes: bool
) -> None:
    verdict = guard.check(sentence, product=catalog[product_id], products=list(catalog.values()))
    assert (verdict.text is not None) is passes, verdict.actions


def test_brain_price_answers_pass_the_guard(
    brain: OfflineBrain, guard: SentenceGuard, catalog: dict[str, ProductSheet]
) -> None:
    for on_air, question in [
        ("celadon-tea-set", "这套茶具多少钱？"),
        ("silk-scarf-zh", "小方巾多少钱？"),
        ("moon-lamp-zh", "有优惠吗？"),
        ("silk-scarf-zh", "是真丝吗？"),
    ]:
        request = BrainRequest(
            persona=_persona("zh"),
            question=question,
            product=catalog[on_air],
            products=list(catalog.values()),
            rng=random.Random(0),
        )
        for sentence in brain.answer(request):
            verdict = guard.check(sentence, product=catalog[on_air], products=list(catalog.values()))
            assert verdict.text is not None, (question, sentence, verdict.actions)


# ---- facts said, whatever the Chinese phrasing ------------------------------------------------------------------


def test_chinese_template_words_are_not_facts() -> None:
    from streamer.brain.repeats import FactMemory, fact_keys

    assert fact_keys("再提一句，颜色有藏青、酒红和米白可选。") == fact_keys("颜色有藏青、酒红和米白可选。")
    assert fact_keys("给大家说一个亮点：围边加高。") == fact_keys("宝宝们注意这一点：围边加高。")
    assert fact_keys("有问题可以打在公屏上，我都会看。") == frozenset()  # an invitation states no fact
    assert ("藏", "青") in fact_keys("颜色有藏青、酒红和米白可选。")
    memory = FactMemory(window_s=300)
    assert memory.admit("给大家说一下参数：颜色有藏青、酒红和米白可选。", 0.0)
    assert not memory.admit("再提一句，颜色有藏青、酒红和米白可选。", 120.0)  # the same fact, other words
    assert memory.admit("再提一句，颜色有藏青、酒红和米白可选。", 301.0)  # after the window


def test_forgetting_a_cut_sentence_keeps_what_an_earlier_one_said() -> None:
    from streamer.brain.repeats import FactMemory

    memory = FactMemory(window_s=300)
    memory.remember("建议选10斤以内的体重。", 0.0)
    memory.remember("冬季保暖猫窝：适合10斤以内的猫咪。", 50.0)
    memory.forget("冬季保暖猫窝：适合10斤以内的猫咪。")  # cut before it was heard
    assert memory.check("适合10斤以内的猫咪。", 100.0).seen_share > 0  # the first sentence said "10斤以内"
    memory.forget("建议选10斤以内的体重。")
    assert memory.check("建议选10斤以内的体重。", 100.0).seen_share == 0
