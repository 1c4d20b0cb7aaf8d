"""The offline brain: patter from templates, and answers to viewers' questions from the product sheet alone.

A question goes through :mod:`streamer.brain.intents` (what is asked, about which product) and retrieval: each
product's sheet is cut into facts (price, promo, stock, shipping, each spec, feature, FAQ entry and description
sentence), embedded once per catalog version (:meth:`OfflineBrain.prepare`), and the fact nearest the question,
helped by the intent, is spoken in the persona's voice.

What it never does: invent. Every number spoken is copied from the sheet (prices through
:func:`streamer.money.spoken_price`, specs, shipping and FAQ text verbatim); the words around facts contain no
numbers. When no fact answers the question well enough it says so and points to the product page. It never
repeats the viewer's text either (viewer text is data, not something to read out).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import random
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np

from streamer.brain.base import BrainRequest
from streamer.brain.embed import LexicalEmbedder, TextEmbedder, idf_weights, load_embedder, normalise_rows
from streamer.brain.intents import (
    MIN_SCORE,
    STRICT_INTENTS,
    Classification,
    cjk_name_parts,
    classify,
    is_opinion_question,
    is_question,
    product_words,
    salient_words,
    score_intents,
)
from streamer.brain.specs import UNIT_SUFFIXES, spec_label, spec_sentence, spec_text
from streamer.brain.templates import TemplateBrain, normalise, pick_fresh, say_price, says_it_ships
from streamer.brain.variants import matched_label, matching_variants, option_rest
from streamer.brain.zh_retrieval import FIELD_CUES, SPEC_CUES, ZhIndex, cue_keys, topic_cues
from streamer.brain.zh_text import (
    Tokeniser,
    add_words,
    cjk_share,
    content_words,
    covered,
    dictionary_version,
    has_cjk,
    tokens,
)
from streamer.config import Persona, ProductSheet, Variant
from streamer.lang import TABLES as LANGUAGE_TABLES
from streamer.lang import language_code
from streamer.lang import tables as language_tables
from streamer.products.facts import SheetFacts, sheet_facts
from streamer.untrusted import clean_untrusted

log = logging.getLogger(__name__)

FactKind = Literal["price", "promo", "stock", "shipping", "spec", "feature", "faq", "description"]

MAX_QUESTION_CHARS = 300
MAX_VIEWER_CHARS = 40
MAX_ANSWER_SENTENCES = 3
"""Content sentences of one answer (the greeting of the viewer comes on top)."""

#: Intents answered straight from a sheet field when the field is there.
DIRECT_INTENTS: tuple[str, ...] = ("price", "discount", "stock", "shipping")


@dataclass(slots=True, frozen=True)
class Thresholds:
    """Retrieval confidence, in the embedder's cosine scale.

    ``any``: a fact this close answers any question. ``topic``: enough when the fact is of the kind the intent
    asks for (a spec for a size question). ``faq``: a FAQ question this close beats a direct field answer.
    """

    any: float
    topic: float
    faq: float
    strong: float
    """A match this close is trusted even when the question's words are not on the sheet."""
    boost: float
    """Added to a fact's score when it is of the kind the top intent asks for (half for the second intent)."""


THRESHOLDS: dict[str, Thresholds] = {
    "minilm": Thresholds(any=0.5, topic=0.3, faq=0.72, strong=0.75, boost=0.15),
    "lexical": Thresholds(any=0.38, topic=0.15, faq=0.6, strong=0.6, boost=0.1),
    # Chinese questions: BM25 coverage of the question's tokens (:mod:`streamer.brain.zh_retrieval`), calibrated
    # on the Chinese half of the qa benchmark. MiniLM never decides a Chinese match.
    "bm25_zh": Thresholds(any=0.45, topic=0.2, faq=0.6, strong=0.7, boost=0.1),
}


# ---- facts --------------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Fact:
    """One thing the sheet says, ready to speak.

    ``say``: the sentences (sheet text verbatim inside fixed number-free words). ``keys``: texts embedded for
    retrieval (a fact can be found by several). ``topics``: the intents it answers (boosted for them).
    """

    kind: FactKind
    say: tuple[str, ...]
    keys: tuple[str, ...]
    topics: frozenset[str] = frozenset()
    label: str | None = None
    zh_keys: tuple[str, ...] = ()
    """Extra keys for Chinese questions only (how Chinese shoppers ask for it: "多少钱", "能装多少")."""
    say_zh: tuple[str, ...] = ()
    """The sentences for a Chinese persona where the words around the sheet's text differ (spec sentences)."""

    def spoken(self, lang: str) -> tuple[str, ...]:
        """``say`` in the persona language ``lang``."""
        return self.say_zh if lang == "zh" and self.say_zh else self.say


@dataclass(slots=True)
class PreparedProduct:
    """A product's facts and the embeddings of their keys (row ``i`` of ``matrix`` belongs to ``facts[owner[i]]``)."""

    product: ProductSheet
    digest: str
    embedder: str
    facts: list[Fact]
    matrix: np.ndarray | None
    """Embeddings of the keys; None when the embedder is the lexical one (then ``lexical`` alone scores)."""
    owner: np.ndarray
    lexical: np.ndarray
    """Lexical vectors of the same keys, IDF-weighted within this product and normalised."""
    idf: np.ndarray
    fact_stems: list[frozenset[str]]
    """Stems of each fact's words (a question word the fact uses lifts it: "silk", "dim" -> "dimmer")."""
    vocab: frozenset[str]
    """Stems of every word on the sheet (to tell when a question is about something the sheet never mentions)."""
    text: str = ""
    """The sheet's text, lower case (Chinese coverage: is the asked word on the sheet?)."""
    zh: ZhIndex | None = None
    """BM25 index of the keys for Chinese questions, built on first need (see :meth:`OfflineBrain._zh_index`)."""


_MATERIAL_KEY = re.compile(
    r"material|^fabric$|composition|ingredient|made_of|^shell$|^lining$|^filling$|^upper$|^sole$|^coating$|^paper$"
)
_ORIGIN_KEY = re.compile(r"origin|made_in|country|grown|region|source")
_ZH_MATERIAL_KEY = re.compile(r"材质|面料|材料|成分|填充|内胆")
_ZH_ORIGIN_KEY = re.compile(r"产地|产区|原产")
_ZH_KEY_QUESTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"尺寸|直径|高度|宽度|长度|大小|规格"), "How big is it? What size is it?"),
    (re.compile(r"容量|容积"), "How much does it hold? What is the capacity?"),
    (re.compile(r"重量|净重"), "How heavy is it? How much does it weigh?"),
    (re.compile(r"颜色|配色|灯光"), "What colours does it come in?"),
    (re.compile(r"电池|续航"), "How long does the battery last?"),
)
_MATERIAL_WORDS = re.compile(
    r"\b(cotton|wool|merino|cashmere|polyester|leather|silk|linen|nylon|spandex|elastane|fleece|faux fur|fur|"
    r"plastic|abs|metal|steel|stainless|iron|cast iron|alumin(i)?um|wood(en)?|oak|walnut|bamboo|glass|ceramic|"
    r"porcelain|stoneware|enamel(led)?|silicone|rubber|paper|cardboard|vegan|organic|ingredients?|made (of|from))\b",
    re.IGNORECASE,
)
#: A question naming one dimension -> the spec keys (labels) that give it.
_DIMENSIONS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (
        re.compile(r"\b(wide|wider|width|across|diameter|broad|wideness)\b"),
        re.compile(r"width|diameter|across|wide"),
    ),
    (re.compile(r"\b(tall|taller|height|high|higher)\b"), re.compile(r"height|tall|high")),
    (
        re.compile(r"\b(long|longer|length)\b(?! (does|will|until|till|to|before|for))"),
        re.compile(r"length|long"),
    ),
    (re.compile(r"\b(deep|deeper|depth)\b"), re.compile(r"depth|deep")),
    (re.compile(r"\b(heavy|heavier|lighter|weigh|weighs|weight)\b"), re.compile(r"weight|mass")),
)
#: "Which is bigger?": any of the sizes a sheet gives, the first found in this order.
_ANY_SIZE = re.compile(r"\b(bigger|larger|smaller|size)\b")
_SIZE_KEYS = re.compile(r"height|tall|length|long|diameter|width|across|wide|size|dimension")


#: Words a sheet may write differently (spelling, or the trade's word): "how many pieces?" is covered by "240 parts".
_SAME_WORD: dict[str, tuple[str, ...]] = {
    "pieces": ("parts",),
    "piece": ("part",),
    "parts": ("pieces",),
    "color": ("colour",),
    "colors": ("colours",),
    "colour": ("color",),
    "colours": ("colors",),
    "gray": ("grey",),
    "grey": ("gray",),
    "aluminum": ("aluminium",),
    "aluminium": ("aluminum",),
}

#: A question about whether the product fits the viewer's own thing ("my cat weighs 9 kg, will she fit?", "is it
#: big enough for a 2 m sofa?"): the dimension it names is that thing's, not the product's.
_FITS_MINE = re.compile(
    r"\b(fits?|big enough|large enough|long enough|wide enough|enough room|room for)\b"
    r"|\bmy\b[^?!.]*\b(is|are|weighs?|measures?)\b",
)


def asked_dimensions(question: str) -> list[re.Pattern[str]]:
    """The spec-key patterns of the dimensions an English question names ("how wide", "how wide and tall"), in the
    order of :data:`_DIMENSIONS`; [] when it names none, or only the viewer's own thing's (:data:`_FITS_MINE`)."""
    q = question.lower()
    if _FITS_MINE.search(q):
        return []
    return [keys for words, keys in _DIMENSIONS if words.search(q)]


#: "ship to Canada", "deliver to the UK", "shipping to New Zealand?": the place a shipping question names.
_DESTINATION = re.compile(
    r"\b(?:ship|ships|shipping|shipped|deliver|delivers|delivery)\b[^?!.]*?\b(?:to|into)\s+"
    r"((?:the\s+)?[A-Z][A-Za-z.'-]*(?:\s+[A-Z][A-Za-z.'-]*){0,2})"
)
#: "international shipping?", "do you ship overseas?": somewhere abroad, unnamed.
_ABROAD = re.compile(r"\b(international(ly)?|overseas|abroad|worldwide|other countries)\b", re.I)
#: Words on a sheet that answer a question about shipping abroad.
_ABROAD_ON_SHEET = re.compile(r"international|overseas|abroad|worldwide|countries|国际|海外|全球", re.I)


#: A comment that runs the show or the product down ("this is a scam", "overpriced garbage", "太贵了，坑人").
_CRITICISM = re.compile(
    r"\b(scam+y?|fake|fraud|rip[- ]?off|garbage|junk|trash|worst|terrible|awful|overpriced|too expensive|waste of|"
    r"sucks?|boring|lame|crap|useless|liars?|lying)\b|骗|假货|垃圾|太贵|坑人|坑爹|难看|无聊|差评|智商税",
    re.I,
)


def is_criticism(comment: str) -> bool:
    """Whether a comment (not a question) criticises the show or a product: thanking for it would sound sarcastic."""
    return bool(_CRITICISM.search(comment))


def asked_destination(question: str) -> str | None:
    """The place an English shipping question asks about ("Canada", "the UK"), "abroad" for "international
    shipping?"; None when it names none. The question as written (a place is told by its capital letter)."""
    found = _DESTINATION.search(question)
    if found:
        return found.group(1).strip().rstrip(".")
    return "abroad" if _ABROAD.search(question) else None


def sheet_names_destination(destination: str, text: str) -> bool:
    """Whether a sheet's text (lower case) says anything about shipping to ``destination``."""
    if destination == "abroad":
        return bool(_ABROAD_ON_SHEET.search(text))
    place = destination.lower().removeprefix("the ")
    return re.search(r"\b" + re.escape(place) + r"\b", text) is not None or bool(_ABROAD_ON_SHEET.search(text))


_SIZE_KEY = re.compile(r"size|dimension|diameter|height|width|length|depth|cm|mm|inch|capacity|volume|qt|litre|ml")
_WEIGHT_KEY = re.compile(r"weight|kg|_g$|grams|lb")
_COLOUR_KEY = re.compile(r"colou?r")
_BATTERY_KEY = re.compile(r"battery|charg|runtime|playtime")
_SENSORY = re.compile(
    r"\b(notes?|flavou?rs?|tastes?|taste|aroma|scent(ed)?|smells?|fragrance|sweet|bitter|fruity|umami|creamy)\b", re.I
)
_SENSORY_KEY = "What does it taste or smell like?"

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？])\s+(?=[\"“(A-Z0-9\u3400-\u9fff])|(?<=[。！？])(?=[^\s。！？”’）)])")


def _clean_text(text: str) -> str:
    return " ".join(str(text).split()).strip()


def as_sentence(text: str) -> str:
    """Capitalised, single-spaced, ending in punctuation."""
    text = _clean_text(text)
    if not text:
        return text
    if text[-1] in ",，;；:：、":
        text = text[:-1]
    if text[-1] not in ".!?。！？":
        text += "。" if cjk_share(text) >= 0.5 else "."
    return text[0].upper() + text[1:]


def split_sentences(text: str) -> list[str]:
    return [as_sentence(s) for s in _SENTENCE_SPLIT.split(_clean_text(text)) if s.strip()]


def short_name(product: ProductSheet) -> str:
    """The product name up to its first comma or bracket ("Ethiopian Yirgacheffe Coffee Beans, 1 kg" -> "Ethiopian
    Yirgacheffe Coffee Beans"): easier to say, and it only ever drops words and numbers, never adds any."""
    name = re.split(r"\s*[,(|–—]\s*|\s+-\s+", product.name, maxsplit=1)[0].strip()
    # A size at the end ("Moon Night Light 15 cm", "Poster 50x70 cm") is on the card; said, it only makes the
    # sentence longer.
    name = _TRAILING_SIZE.sub("", name).strip() or name
    return name or product.name


_TRAILING_SIZE = re.compile(
    r"\s+\d+(?:[.,]\d+)?(?:\s*[x×]\s*\d+(?:[.,]\d+)?)*\s*(?:cm|mm|m|kg|g|ml|l|in|inch|inches|oz|lb|\")$",
    re.IGNORECASE,
)


def _topics_of(text: str) -> set[str]:
    topics = {i for i, s in score_intents(text).items() if s >= MIN_SCORE}
    topics -= {"comparison", "greeting", "thanks", "identity"}
    if _MATERIAL_WORDS.search(text):
        topics.add("material")
    return topics


def product_facts(product: ProductSheet) -> list[Fact]:
    """:func:`retrieval_facts` of :func:`~streamer.products.facts.sheet_facts`."""
    return retrieval_facts(sheet_facts(product))


def retrieval_facts(sheet: SheetFacts) -> list[Fact]:
    """The offline brain's view of a sheet's facts: every fact ready to retrieve and speak, in sheet order. Pure."""
    facts: list[Fact] = [
        Fact(
            "price",
            say=(),  # built at answer time (depends on phrasing variety and stock)
            keys=("How much is it? What is the price, how much does it cost?",),
            topics=frozenset({"price", "discount"}),
            zh_keys=cue_keys("price"),
        )
    ]
    if sheet.promo:
        facts.append(
            Fact(
                "promo",
                say=tuple(split_sentences(sheet.promo)),
                keys=("Is there a discount or a deal today?", sheet.promo),
                topics=frozenset({"discount"}),
                zh_keys=cue_keys("promo"),
            )
        )
    if sheet.stock is not None:
        facts.append(
            Fact(
                "stock",
                say=(),
                keys=("Is it in stock? How many are left, is it available?",),
                topics=frozenset({"stock"}),
                zh_keys=cue_keys("stock"),
            )
        )
    if sheet.shipping:
        facts.append(
            Fact(
                "shipping",
                say=tuple(split_sentences(sheet.shipping)),
                keys=("How long does shipping take? When will it arrive?", sheet.shipping),
                topics=frozenset({"shipping"}),
                zh_keys=cue_keys("shipping"),
            )
        )
    for key, value in sheet.specs:
        label, unit = spec_label(str(key))
        value_text = _clean_text(str(value))
        # No product name in spec keys: a question naming the product would match every spec by the name alone.
        keys = [f"{label}: {value_text} {unit}".strip(), f"What is the {label}?"]
        topics = {"specs"}
        k = str(key).lower()
        if _MATERIAL_KEY.search(k):
            topics.add("material")
            keys.append(f"What is it made of? What is the {label}?")
        elif _MATERIAL_WORDS.search(value_text):
            topics.add("material")
        if _ORIGIN_KEY.search(k):
            topics.add("origin")
            keys.append("Where is it from? Where is it made?")
        if _SIZE_KEY.search(k) or unit in ("cm", "mm", "m", "inches"):
            keys.append(f"How big is it? What is the {label}?")
        if _WEIGHT_KEY.search(k) or unit in ("kg", "g", "lb"):
            keys.append(f"How heavy is it? What is the {label}?")
        if _COLOUR_KEY.search(k):
            keys.append("What colours does it come in?")
        if _BATTERY_KEY.search(k):
            keys.append(f"How long does the battery last? What is the {label}?")
        zh_label, _ = spec_label(str(key), "zh")
        if _ZH_MATERIAL_KEY.search(zh_label):
            topics.add("material")
            keys.append("What is it made of? What material is it?")
        if _ZH_ORIGIN_KEY.search(zh_label):
            topics.add("origin")
            keys.append("Where is it from? Where is it made?")
        # A Chinese key asked about in English ("how big is the 月球灯?"): the English ways of asking.
        for rx, asked in _ZH_KEY_QUESTIONS:
            if rx.search(zh_label):
                keys.append(asked)
        facts.append(
            Fact(
                "spec",
                say=(spec_sentence(str(key), value),),
                keys=tuple(keys),
                topics=frozenset(topics),
                label=label,
                zh_keys=(f"{zh_label} {value_text}", *cue_keys("spec", label=f"{key} {zh_label}", text=value_text)),
                say_zh=(spec_sentence(str(key), value, "zh"),),
            )
        )
    for feature in sheet.features:
        text = _clean_text(feature)
        if text:
            feature_keys = (text, _SENSORY_KEY) if _SENSORY.search(text) else (text,)
            feature_topics = frozenset(_topics_of(text))
            facts.append(
                Fact(
                    "feature",
                    say=(as_sentence(text),),
                    keys=feature_keys,
                    topics=feature_topics,
                    zh_keys=topic_cues(feature_topics, text),
                )
            )
    for entry in sheet.faq:
        q, a = _clean_text(entry.q), _clean_text(entry.a)
        faq_topics = frozenset(_topics_of(q) | (_topics_of(a) & {"material"}))
        facts.append(
            Fact(
                "faq",
                say=tuple(split_sentences(a)),
                keys=(q, f"{q} {a}"),
                topics=faq_topics,
                label=q,
                zh_keys=topic_cues(faq_topics, q),
            )
        )
    if sheet.description:
        for sentence in split_sentences(sheet.description):
            text_keys = (sentence, _SENSORY_KEY) if _SENSORY.search(sentence) else (sentence,)
            sentence_topics = frozenset(_topics_of(sentence))
            facts.append(
                Fact(
                    "description",
                    say=(sentence,),
                    keys=text_keys,
                    topics=sentence_topics,
                    zh_keys=topic_cues(sentence_topics, sentence),
                )
            )
    return facts


_STEM_SUFFIX = re.compile(r"(ing|able|ible|edly|ed|ly|es|s|er|est|y)$")
_VOCAB_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A crude, generous stem for coverage checks only: "washing", "washable" and "wash" all give "wash";
    "store" and "storage" both give "stor" (a false match only makes the check more lenient)."""
    w = word.lower()
    cut = _STEM_SUFFIX.sub("", w)
    if len(cut) >= 3:
        w = cut
    return w[:4]


def sheet_vocab(product: ProductSheet) -> frozenset[str]:
    """Stems of every word the sheet uses (name, description, features, specs, FAQ, promo, shipping)."""
    parts = [product.name, product.description or "", product.promo or "", product.shipping or ""]
    parts += list(product.features)
    parts += [f"{k} {v}" for k, v in product.specs.items()]
    parts += [f"{e.q} {e.a}" for e in product.faq]
    text = " ".join(parts).lower().replace("_", " ")
    return frozenset(stem(w) for w in _VOCAB_WORD.findall(text))


def is_chinese_question(question: str) -> bool:
    """Whether a question is asked in Chinese (at least half its letters are Chinese characters): it is then matched
    with BM25 over Chinese tokens. "how much is the 3D打印月球灯?" is English with a Chinese name: MiniLM and the
    English intents read it, and the answer is still in the persona's language."""
    return cjk_share(question) >= 0.5


def sheet_text(product: ProductSheet) -> str:
    """Everything the sheet says, lower case, in one string (Chinese coverage checks look words up in it)."""
    parts = [product.name, product.description or "", product.promo or "", product.shipping or ""]
    parts += list(product.features)
    parts += [f"{k} {v}" for k, v in product.specs.items()]
    parts += [f"{e.q} {e.a}" for e in product.faq]
    parts += [v.name for v in product.variants]
    return " ".join(parts).lower()


def catalog_words(product: ProductSheet) -> list[str]:
    """Words of a sheet that jieba should know as words: name parts, option values, spec keys (Chinese only)."""
    words = list(cjk_name_parts(product.name))
    words += [str(k) for k in product.specs]
    for v in product.variants:
        words += re.split(r"\s*[/|,，、]\s*", v.name)
        words += [str(x) for x in v.options.values()]
    return [w for w in words if has_cjk(w)]


def sheet_digest(product: ProductSheet) -> str:
    """Content hash of a sheet: a changed price or FAQ gives a new digest (and new embeddings)."""
    return hashlib.sha1(product.model_dump_json().encode("utf-8")).hexdigest()


# ---- phrasing -----------------------------------------------------------------------------------------------
# Fixed words around facts, by persona language: the tables of :mod:`streamer.lang` (``phrases``). No numbers or
# number words in there: every number spoken comes from the sheet.

PHRASES: dict[str, dict[str, list[str]]] = {code: dict(t.phrases) for code, t in LANGUAGE_TABLES.items()}


_ADDRESS_WORDS = frozenset(
    "hi hey hello hiya good great thanks thank you for asking sure thing here s here's the answer question "
    "welcome awesome nice okay ok so well".split()
)
_ADDRESS_ZH = re.compile(r"^(?:好问题|你好|您好|谢谢|的提问|感谢|哈喽|嗨|[，,！!。.\s])*$")


def is_address(sentence: str, viewer: str | None) -> bool:
    """Whether a reply sentence only greets or addresses the viewer ("Good question, Leo!", "Hi Leo!",
    "Leo，好问题！") and answers nothing. The repair path uses it: a reply must have more than this."""
    text = sentence
    if viewer:
        for part in [viewer, *viewer.split()]:
            if part and (len(part) >= 2 or not part.isascii()):
                # As a word of its own: the viewer "ivy i" must not take the "i" out of "Hi".
                bound = r"(?<![A-Za-z0-9])" if part.isascii() else ""
                text = re.sub(bound + re.escape(part) + bound.replace("<", ""), " ", text, flags=re.IGNORECASE)
    if _ADDRESS_ZH.match(text) and any("\u3400" <= c <= "\u9fff" for c in sentence):
        return True
    words = re.findall(r"[a-z']+", text.lower())
    return bool(words) and len(words) <= 6 and all(w in _ADDRESS_WORDS for w in words)


def _lang(persona: Persona) -> str:
    code = language_code(persona.language)
    return code if code in PHRASES else "en"


_LABELLED = re.compile(r"^[^:：.!?]{1,30}[:：]\s*\S")


def _shipping_line(say: _Phraser, text: str) -> str:
    """ "It ships in 48 hours from roasting." for a sheet that says "Ships in 48 hours ..."; else "Shipping: ..."."""
    if says_it_ships(text, say.lang):
        return say.one("shipping_it", text=_lower_first(text))
    return say.one("shipping", text=_lower_first(text))


def _promo_line(say: _Phraser, text: str) -> str:
    """A promo that names itself ("Live-only deal: ...") is said as written, not as "Today's deal: live-only deal"."""
    if _LABELLED.match(text):
        return say.one("promo_labelled", text=text)
    return say.one("promo", text=_lower_first(text))


_YES_NO_QUESTION = re.compile(
    r"^\W*(?:is|are|does|do|can|has|have|will)\s+(?:it|this|that|they|these|those|the|there)\b", re.IGNORECASE
)
_NEGATION = re.compile(r"\b(?:not|no|never|without|isn't|aren't|doesn't|don't|can't|cannot|won't)\b", re.IGNORECASE)


def _affirms(question: str, sentence: str, names: set[str]) -> bool:
    """Whether ``sentence`` (a feature the sheet states) plainly says yes to a yes/no ``question``: every content
    word asked about is in it, nearly whole ("waterproof" in "non-slip waterproof base", but not "washable" in
    "wash bag included"), and it negates nothing."""
    if not _YES_NO_QUESTION.match(question) or _NEGATION.search(sentence):
        return False
    words = salient_words(question, exclude=names)
    said = re.findall(r"[a-z0-9]+", sentence.lower())
    return bool(words) and all(any(f.startswith(w[: max(4, len(w) - 2)]) for f in said) for w in words)


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[1].isupper():  # an acronym or a name ("USB-C ...", "AeroPress") keeps its case
        return text
    return text[:1].lower() + text[1:]


# ---- variety ------------------------------------------------------------------------------------------------

_WORDS = re.compile(r"[\w']+")


def distinct_2(sentences: Iterable[str]) -> float:
    """Distinct-2: unique word bigrams / all word bigrams over ``sentences`` (bigrams never span two sentences).
    1.0 means no pair of words ever repeats; low values mean loops. 0.0 when there are no bigrams at all."""
    total = 0
    unique: set[tuple[str, str]] = set()
    for s in sentences:
        words = _WORDS.findall(s.lower())
        for pair in itertools.pairwise(words):
            unique.add(pair)
            total += 1
    return len(unique) / total if total else 0.0


class VarietyMeter:
    """Spoken sentences of the last ``window_s`` seconds (on the caller's clock) and their distinct-2.

    Bounded: at most ``max_sentences`` are kept however fast sentences come.
    """

    def __init__(self, *, window_s: float = 3600.0, max_sentences: int = 5000) -> None:
        self.window_s = window_s
        self._items: deque[tuple[float, str]] = deque(maxlen=max_sentences)

    def add(self, sentence: str, now_s: float) -> None:
        self._items.append((now_s, sentence))
        self._trim(now_s)

    def _trim(self, now_s: float) -> None:
        while self._items and self._items[0][0] < now_s - self.window_s:
            self._items.popleft()

    def sentences(self, now_s: float) -> list[str]:
        self._trim(now_s)
        return [s for _, s in self._items]

    def distinct_2(self, now_s: float) -> float:
        return distinct_2(self.sentences(now_s))


# ---- the brain ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AnswerTrace:
    """Why the last answer was what it was (for logs, the dashboard and tests)."""

    intents: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    fact_kind: str | None = None
    score: float | None = None
    confident: bool = True
    embedder: str | None = None
    latency_ms: float = 0.0
    facts: list[str] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class Scored:
    """A fact's match with a question: ``sim`` (similarity) and ``score`` (``sim`` plus the intent boost);
    ``word_hit``: the fact uses a content word of the question ("leak" in "leak-proof lid")."""

    score: float
    sim: float
    fact: Fact
    word_hit: bool = False
    zh: bool = False
    """Scored by the Chinese BM25 path (its own thresholds)."""


_FIELD_KINDS = frozenset({"price", "stock", "promo", "shipping"})

ZH_UNCOVERED = 0.5
"""A Chinese question whose content words are more than this share absent from the sheet is declined (unless a
fact matches it strongly). Strictly more: jieba sometimes glues a word from two ("充满电能用多久": "电能")."""

#: Chinese words that only say which kind of detail is asked ("价格", "尺寸", "发货"; the intent handles them) or
#: are chat filler ("现在", "里面"): whether the sheet uses them says nothing about whether it answers.
ZH_ASK_WORDS: frozenset[str] = frozenset(
    " ".join([*FIELD_CUES.values(), *(cue for _, cue in SPEC_CUES)]).split()
    + """多少 多久 多大 几个 几种 几天 哪里 哪儿 什么 怎么 怎么办 还有 可以 能用 能不能 是不是 有没有 现在 今天 下单
    里面 一共 总共 大概 一般 平时 需要 自己 请问 一下 直接 东西 商品 宝贝 产品 链接 主播 这个 那个 真的 真人 机器人
    优惠 价格 便宜 发货 快递 库存 尺寸 大小 材质 颜色 产地 保修 质保 退货 退换 售后 坏了 能退 包邮 运费 多重 重量
    容量 能装 装多少 哪个 比较 区别 一样 适合 推荐 好用 好看 喜欢 想要 购买 拍下""".split()
)
WORD_HIT_BONUS = 0.12
"""Added to a fact's similarity when it contains a content word of the question (by stem prefix)."""


class OfflineBrain:
    """Brain protocol, no network: beats go to :class:`TemplateBrain`; questions are answered from the sheets.

    Call :meth:`prepare` (blocking, in a thread) with the catalog after loading and after each reload: it loads
    the embedder the first time (MiniLM, or the lexical fallback if MiniLM fails) and embeds each changed sheet's
    facts. A question about a product not prepared yet is still answered (its facts are embedded on the spot),
    and before the embedder is loaded the lexical fallback answers.

    Similarity is hybrid: the embedder's cosine plus ``lexical_weight`` times a lexical cosine (shared words),
    so a rare word the viewer typed ("between sizes") counts even where the model blurs it.
    """

    name = "offline"

    def __init__(
        self,
        *,
        embedder: TextEmbedder | None = None,
        templates: TemplateBrain | None = None,
        thresholds: dict[str, Thresholds] | None = None,
        lexical_weight: float = 0.3,
        query_cache_size: int = 256,
        zh_tokeniser: Tokeniser = "jieba",
    ) -> None:
        self._embedder = embedder
        self._lexical = LexicalEmbedder()
        self.templates = templates or TemplateBrain()
        self.thresholds = thresholds or THRESHOLDS
        self.lexical_weight = lexical_weight
        self.zh_tokeniser: Tokeniser = zh_tokeniser
        """How Chinese text is cut into BM25 tokens (``"jieba"`` or ``"bigram"``: see :mod:`streamer.brain.zh_text`)."""
        self._prepared: dict[str, PreparedProduct] = {}
        self._lock = threading.Lock()
        self._prepare_lock = threading.Lock()
        self._query_cache: OrderedDict[tuple[str, str], tuple[np.ndarray | None, np.ndarray]] = OrderedDict()
        self._query_cache_size = query_cache_size
        self.last_trace = AnswerTrace()
        self.load_s: float | None = None
        self.counts: dict[str, int] = {"answers": 0, "unknown": 0, "on_demand_embeds": 0, "prepared_sheets": 0}
        """Running totals for metrics: answers given, honest "I don't know"s among them, sheets embedded."""

    # ---- setup (blocking) ----------------------------------------------------------------------------------

    @property
    def embedder(self) -> TextEmbedder:
        """The embedder in use: the loaded one, or the lexical fallback until :meth:`prepare` has loaded one."""
        return self._embedder if self._embedder is not None else self._lexical

    @property
    def degraded(self) -> bool:
        """True while questions are answered with the lexical fallback (MiniLM not loaded, or failed to load)."""
        return self.embedder.name == self._lexical.name

    def prepare(self, products: Sequence[ProductSheet]) -> None:
        """Embed the facts of every product whose sheet changed (blocking). Products no longer in the catalog are
        forgotten. Safe to call from a worker thread while the event loop answers questions: a newly loaded
        embedder takes over only once the whole catalog is embedded with it, so answers in the meantime never
        wait for the model. Calls are serialised."""
        with self._prepare_lock:
            self._prepare(products)

    def _prepare(self, products: Sequence[ProductSheet]) -> None:
        embedder = self._embedder
        if embedder is None:
            t0 = time.perf_counter()
            embedder = load_embedder()
            self.load_s = time.perf_counter() - t0
        chinese = [p for p in products if has_cjk(p.name) or has_cjk(p.description or "")]
        if chinese:
            # jieba's dictionary (a second the first time) and the catalog's words: here, not on a question.
            add_words(w for p in products for w in catalog_words(p))
        with self._lock:
            current = dict(self._prepared)
        fresh: dict[str, PreparedProduct] = {}
        for product in products:
            digest = sheet_digest(product)
            old = current.get(product.id)
            if old is not None and old.digest == digest and old.embedder == embedder.name:
                fresh[product.id] = old
            else:
                fresh[product.id] = self._embed_product(product, digest, embedder)
                self.counts["prepared_sheets"] += 1
        for product in chinese:
            self._zh_index(fresh[product.id])
        # The first single-sentence encode pays one-off set-up costs (~100+ ms): here, not on a viewer's question.
        embedder.encode(["warm up"])
        with self._lock:
            self._prepared = fresh
            self._embedder = embedder

    def _embed_product(self, product: ProductSheet, digest: str, embedder: TextEmbedder) -> PreparedProduct:
        facts = product_facts(product)
        keys: list[str] = []
        owner: list[int] = []
        for i, fact in enumerate(facts):
            for k in fact.keys:
                keys.append(k)
                owner.append(i)
        counts = self._lexical.counts(keys)
        idf = idf_weights(counts)
        return PreparedProduct(
            product=product,
            digest=digest,
            embedder=embedder.name,
            facts=facts,
            matrix=None if embedder.name == self._lexical.name else embedder.encode(keys),
            owner=np.asarray(owner, dtype=np.intp),
            lexical=normalise_rows(counts * idf),
            idf=idf,
            fact_stems=[
                frozenset(stem(w) for w in _VOCAB_WORD.findall(" ".join((*f.keys, *f.say)).lower())) for f in facts
            ],
            vocab=sheet_vocab(product),
            text=sheet_text(product),
        )

    def _prepared_for(self, product: ProductSheet) -> PreparedProduct:
        embedder = self.embedder
        with self._lock:
            entry = self._prepared.get(product.id)
        if entry is not None and entry.product is product and entry.embedder == embedder.name:
            return entry  # the very sheet object prepared: no need to hash it again
        digest = sheet_digest(product)
        if entry is not None and entry.digest == digest and entry.embedder == embedder.name:
            return entry
        log.debug("offline brain: embedding facts of %s on demand", product.id)
        self.counts["on_demand_embeds"] += 1
        entry = self._embed_product(product, digest, embedder)
        with self._lock:
            self._prepared[product.id] = entry
        return entry

    def _query_vectors(self, question: str) -> tuple[np.ndarray | None, np.ndarray]:
        """The question's embedding (None with the lexical embedder) and its lexical feature counts."""
        embedder = self.embedder
        key = (embedder.name, question)
        hit = self._query_cache.get(key)
        if hit is not None:
            self._query_cache.move_to_end(key)
            return hit
        dense = None if embedder.name == self._lexical.name else embedder.encode([question])[0]
        lexical = self._lexical.counts([question])[0]
        self._query_cache[key] = (dense, lexical)
        if len(self._query_cache) > self._query_cache_size:
            self._query_cache.popitem(last=False)
        return dense, lexical

    # ---- the Brain protocol --------------------------------------------------------------------------------

    async def stream(self, request: BrainRequest) -> AsyncIterator[str]:
        """Beats: the template brain's patter. Questions: :meth:`answer`, sentence by sentence."""
        if request.beat is not None:
            async for sentence in self.templates.stream(request):
                yield sentence
            return
        # Retrieval is tens of milliseconds of model compute: off the event loop.
        for sentence in await asyncio.to_thread(self.answer, request):
            yield sentence

    def answer(self, request: BrainRequest) -> list[str]:
        """The whole reply to one request, as sentences (synchronous; milliseconds once prepared).

        For a beat: the template brain's patter. For a question: an optional greeting of the viewer, then at most
        :data:`MAX_ANSWER_SENTENCES` sentences from the sheet (or an honest "I don't have that detail").
        """
        t0 = time.perf_counter()
        if request.beat is not None:
            return self.templates.lines(request)
        trace = AnswerTrace(embedder=self.embedder.name)
        sentences = self._answer_question(request, trace)
        self.counts["answers"] += 1
        if not trace.confident:
            self.counts["unknown"] += 1
        trace.latency_ms = (time.perf_counter() - t0) * 1000
        self.last_trace = trace
        return sentences

    # ---- answering ------------------------------------------------------------------------------------------

    def _answer_question(self, request: BrainRequest, trace: AnswerTrace) -> list[str]:
        question = clean_untrusted(request.question, MAX_QUESTION_CHARS, ellipsis="", at_word=False)
        viewer = clean_untrusted(request.viewer, MAX_VIEWER_CHARS, ellipsis="", at_word=False) or None

        catalog = list(request.products)
        on_screen = request.product
        if on_screen is not None and all(p.id != on_screen.id for p in catalog):
            catalog.append(on_screen)
        by_id = {p.id: p for p in catalog}
        off_screen = frozenset(short_name(p) for p in catalog if on_screen is None or p.id != on_screen.id)
        say = _Phraser(lang=_lang(request.persona), rng=request.rng, recent=request.recent, name_needed=off_screen)
        cls = classify(question, catalog, on_screen=on_screen)
        trace.intents, trace.subjects = cls.intents, cls.subjects
        subjects = [by_id[i] for i in cls.subjects if i in by_id]
        here = subjects[0] if subjects else on_screen

        primary = cls.primary
        if primary == "identity":
            trace.fact_kind = "identity"
            return say.many("identity", host=request.persona.name)
        if primary == "greeting":
            trace.fact_kind = "greeting"
            if here is None:
                return say.many("greeting_bare" if viewer else "greeting_bare_anon", viewer=viewer)
            return say.many("greeting" if viewer else "greeting_anon", viewer=viewer, name=short_name(here))
        if primary == "thanks":
            trace.fact_kind = "thanks"
            return say.many("thanks" if viewer else "thanks_anon", viewer=viewer)

        opener = [say.one("address", viewer=viewer)] if viewer else []
        if primary == "buy" and not cls.product_intents:
            # "how do I order?", "link pls": where to buy it (the card on screen; the show switches to a product
            # named that is not on air), and what it costs.
            trace.fact_kind = "buy"
            if here is None:
                return opener + say.many("buy_anon")
            return opener + say.many("buy", name=short_name(here)) + self._price_sentences(here, say)[:1]
        if primary == "show" and subjects and len(subjects) == 1 and not cls.product_intents:
            # "show me the rocket": the show puts it on air (the speaker switches); here, what it is and costs.
            trace.fact_kind = "show"
            p = subjects[0]
            out = [say.one("show" if viewer else "show_anon", name=short_name(p), viewer=viewer)]
            first = p.features[0] if p.features else (split_sentences(p.description or "") or [""])[0]
            if first:
                out.append(as_sentence(first))
            out += self._price_sentences(p, say)[:1]
            return out
        if not subjects:
            trace.confident = False
            trace.fact_kind = "unknown"
            return opener + say.many("no_product")
        if len(subjects) >= 2:
            body = self._compare(question, subjects[0], subjects[1], cls, say, trace)
        else:
            names: set[str] = set()
            for p in catalog:
                names |= product_words(p)
            body = self._single(question, subjects[0], cls, say, trace, names)
        if trace.fact_kind == "comment":
            # "nice vibes", "lol": nothing was asked, so no "Great question, Zoe." first; a thank-you by name.
            # "this is a scam": not thanked (that sounds sarcastic), answered calmly with where the facts come from.
            key = "criticism" if is_criticism(question) else "comment"
            return say.many(key if viewer else f"{key}_anon", viewer=viewer)
        return opener + body[:MAX_ANSWER_SENTENCES]

    def decline(self, request: BrainRequest, product: ProductSheet | None) -> list[str]:
        """An honest "the sheet doesn't say" for ``product`` (or "which product?" without one), in the persona's
        language: what the repair path says when nothing else can be. No numbers, so no guard can drop it."""
        say = _Phraser(lang=_lang(request.persona), rng=request.rng, recent=request.recent)
        if product is None:
            return say.many("no_product")
        return say.many("unknown", name=short_name(product))

    def _limits(self, zh: bool = False) -> Thresholds:
        if zh:
            return self.thresholds["bm25_zh"]
        return self.thresholds.get(self.embedder.name, self.thresholds["minilm"])

    def rank(self, question: str, product: ProductSheet, cls: Classification | None = None) -> list[Scored]:
        """Every fact of ``product`` scored against ``question``, best first (one entry per fact)."""
        if cls is None:
            cls = classify(question, [product], on_screen=product)
        prepared = self._prepared_for(product)
        if not prepared.facts:
            return []
        if is_chinese_question(question):
            return self._rank_zh(question, prepared, cls)
        dense, counts = self._query_vectors(question)
        lexical_sims = prepared.lexical @ normalise_rows(counts * prepared.idf)[0]
        if prepared.matrix is None or dense is None:
            sims = lexical_sims
        else:
            sims = prepared.matrix @ dense + self.lexical_weight * lexical_sims
        best = np.full(len(prepared.facts), -np.inf, dtype=np.float64)
        np.maximum.at(best, prepared.owner, sims)
        wanted = cls.product_intents
        boost = self._limits(False).boost
        asked = [stem(w) for w in salient_words(question, exclude=product_words(product))]
        ranked = []
        for i, sim in enumerate(best.tolist()):
            fact = prepared.facts[i]
            hit_word = bool(asked) and any(f.startswith(a) for a in asked for f in prepared.fact_stems[i])
            if hit_word:
                sim += WORD_HIT_BONUS  # the fact uses the very word the viewer asked about
            b = 0.0
            if wanted and wanted[0] in fact.topics:
                b = boost
            elif len(wanted) > 1 and wanted[1] in fact.topics:
                b = boost / 2
            ranked.append(Scored(sim + b, sim, fact, hit_word))
        ranked.sort(key=lambda s: -s.score)
        return ranked

    def _zh_index(self, prepared: PreparedProduct) -> ZhIndex:
        """The sheet's BM25 index for Chinese questions, built on first need (and again when jieba's dictionary
        has grown since: a new catalog word changes how keys segment)."""
        version = dictionary_version()
        index = prepared.zh
        if index is None or index.dictionary_version != version or index.tokeniser != self.zh_tokeniser:
            keys: list[str] = []
            owner: list[int] = []
            for i, fact in enumerate(prepared.facts):
                # The Chinese cues ride on every key of the fact: "一套里面有几个杯子" meets "四个品茗杯，一套配齐"
                # through the text and its count cue ("几个") in one document.
                cues = " ".join(fact.zh_keys)
                for k in fact.keys:
                    keys.append(f"{k} {cues}".strip())
                    owner.append(i)
            index = ZhIndex.build(keys, owner, tokeniser=self.zh_tokeniser, dictionary_version=version)
            prepared.zh = index
        return index

    def _rank_zh(self, question: str, prepared: PreparedProduct, cls: Classification) -> list[Scored]:
        """:meth:`rank` for a question with Chinese characters: BM25 coverage (MiniLM never decides these)."""
        product = prepared.product
        index = self._zh_index(prepared)
        # The product's own name says nothing about which of its facts is asked ("这套茶具多少钱"): its head words
        # and their characters are left out of the question (modifiers stay: "保温" in "能保温多久").
        heads = [w for w, weight in cjk_name_parts(product.name).items() if weight >= 1.0]
        skip = set(heads) | {f"c:{c}" for w in heads for c in w}
        query = [t for t in tokens(question, tokeniser=self.zh_tokeniser) if t not in skip]
        sims = index.similarities(query)
        best = np.zeros(len(prepared.facts), dtype=np.float64)
        if len(sims):
            np.maximum.at(best, index.owner, sims)
        wanted = cls.product_intents
        boost = self.thresholds["bm25_zh"].boost
        asked = content_words(question, exclude=list(cjk_name_parts(product.name)))
        ranked = []
        for i, sim in enumerate(best.tolist()):
            fact = prepared.facts[i]
            text = " ".join((*fact.keys, *fact.say)).lower()
            hit_word = bool(asked) and any(w in text for w in asked)
            if hit_word:
                sim += WORD_HIT_BONUS
            b = 0.0
            if wanted and wanted[0] in fact.topics:
                b = boost
            elif len(wanted) > 1 and wanted[1] in fact.topics:
                b = boost / 2
            ranked.append(Scored(sim + b, sim, fact, hit_word, zh=True))
        ranked.sort(key=lambda s: -s.score)
        return ranked

    def _confident(self, hit: Scored, cls: Classification) -> bool:
        limits = self._limits(hit.zh)
        wanted = cls.product_intents[:2]
        if wanted and wanted[0] == "material" and "material" in hit.fact.topics:
            # A sheet states one or two materials: that fact answers "is it glass?" ("Tritan plastic").
            return hit.sim >= limits.topic / 2
        if wanted and any(w in hit.fact.topics for w in wanted):
            # The viewer asked for a kind of detail and this fact is of that kind.
            return hit.sim >= limits.topic
        if hit.fact.kind in _FIELD_KINDS:
            # Price/stock/promo/shipping keys are generic questions ("Is there a ...?"): only a close match counts.
            return hit.sim >= limits.any + 0.15
        if hit.word_hit and hit.sim >= limits.topic + WORD_HIT_BONUS:
            # The fact says the very thing asked about ("can I dim it?" -> "touch dimmer with 5 levels").
            return True
        return hit.sim >= limits.any + (0.1 if wanted else 0.0)

    def _pick(self, ranked: list[Scored], cls: Classification) -> Scored | None:
        wanted = set(cls.product_intents[:2])
        # A price/stock field does not answer a question about something else ("is it real silk?").
        candidates = [h for h in ranked if not (h.fact.kind in _FIELD_KINDS and wanted and not h.fact.topics & wanted)]
        for hit in candidates[:3]:
            if self._confident(hit, cls):
                return hit
            if hit.fact.kind not in _FIELD_KINDS:
                return None  # the best content fact is not close enough: do not fall to weaker ones
        return None

    def _missing(self, question: str, product: ProductSheet, names: set[str]) -> list[str]:
        """The question's content words that the sheet never mentions ("dim" is covered by "dimmer", "leak" by
        "leak-proof": a sheet word starting with the asked stem)."""
        vocab = self._prepared_for(product).vocab

        def on_sheet(word: str) -> bool:
            return any(
                stem(w) in vocab or any(v.startswith(stem(w)) for v in vocab) for w in (word, *_SAME_WORD.get(word, ()))
            )

        return [w for w in salient_words(question, exclude=names) if not on_sheet(w)]

    def _uncovered(self, question: str, product: ProductSheet, names: set[str]) -> float:
        """Share of the question's content words that the sheet never mentions (0 when it has none). For a Chinese
        question: its content words (jieba) looked up in the sheet's text ("户外", "淋雨": not on the sheet)."""
        if is_chinese_question(question):
            zh_words = [w for w in content_words(question, exclude=sorted(names)) if w not in ZH_ASK_WORDS]
            if not zh_words:
                return 0.0
            text = self._prepared_for(product).text
            return sum(1 for w in zh_words if not covered(w, text)) / len(zh_words)
        words = salient_words(question, exclude=names)
        if not words:
            return 0.0
        return len(self._missing(question, product, names)) / len(words)

    def _single(
        self,
        question: str,
        product: ProductSheet,
        cls: Classification,
        say: _Phraser,
        trace: AnswerTrace,
        names: set[str],
    ) -> list[str]:
        zh = is_chinese_question(question)
        limits = self._limits(zh)
        wanted = cls.product_intents
        ranked = self.rank(question, product, cls)
        variants = matching_variants(question, product)
        if variants and zh and wanted and wanted[0] == "specs" and not any(w in ("price", "stock") for w in wanted):
            # "大方巾尺寸多大？": a spec about the named option answers, not the option's stock.
            spec = next((h for h in ranked[:2] if h.fact.kind == "spec" and h.sim >= limits.any), None)
            if spec is not None:
                variants = []
        if variants and (
            not wanted or wanted[0] == "specs" or any(w in ("price", "discount", "stock") for w in wanted[:2])
        ):
            # "the green one in L", "how much is the king size?": the variant's own price or stock.
            ask = ("price",) if any(w in ("price", "discount") for w in wanted[:2]) else ("stock",)
            return self._variant_answer(question, product, variants, ask, say, trace)
        if wanted and wanted[0] in STRICT_INTENTS:
            # Returns, warranty, origin: only a fact about that very thing answers; else the sheet doesn't say.
            topical = next((h for h in ranked if wanted[0] in h.fact.topics and h.sim >= limits.topic), None)
            if topical is not None and zh and self._uncovered(question, product, names) > ZH_UNCOVERED:
                topical = None  # "灯珠坏了能自己换吗": a warranty fact, but not about what is asked
            if topical is None:
                trace.confident = False
                trace.fact_kind = "unknown"
                return say.many("unknown", name=short_name(product))
            trace.fact_kind, trace.score = topical.fact.kind, topical.sim
            trace.facts.append(topical.fact.label or topical.fact.kind)
            if topical.fact.kind == "shipping":
                return [_shipping_line(say, " ".join(topical.fact.say))]
            return list(topical.fact.spoken(say.lang))
        if wanted and wanted[0] in DIRECT_INTENTS:
            # A close FAQ beats the field ("Do you ship to Canada?" may have its own FAQ entry).
            faq = next((h for h in ranked if h.fact.kind == "faq" and h.sim >= limits.faq), None)
            if faq is not None:
                trace.fact_kind, trace.score = "faq", faq.sim
                trace.facts.append(faq.fact.label or "")
                return list(faq.fact.spoken(say.lang))
            out: list[str] = []
            done: set[str] = set()
            for intent in wanted[:2]:
                if intent not in DIRECT_INTENTS:
                    continue
                if intent == "price" and wanted[0] == "shipping":
                    continue  # "how much is shipping?" asks about shipping, not the product's price
                out += self._field_answer(intent, product, say, ranked, cls, trace, done, question=question)
            return out
        hit = self._pick(ranked, cls)
        # "is it glass?" -> "Shatterproof Tritan plastic.": the material fact answers a question naming another
        # material, but not one about something else ("is the enamel free of lead and cadmium?").
        material_match = (
            hit is not None
            and bool(wanted)
            and wanted[0] == "material"
            and "material" in hit.fact.topics
            and all(_MATERIAL_WORDS.fullmatch(w) for w in self._missing(question, product, names))
        )
        if (
            hit is not None
            and hit.sim < limits.strong
            and not material_match
            and (
                self._uncovered(question, product, names) > ZH_UNCOVERED
                if zh
                else self._uncovered(question, product, names) >= 0.5
            )
        ):
            # Most of what the viewer asks about ("lead", "cadmium") appears nowhere on the sheet: the near
            # fact is about something else.
            hit = None
        exact: list[Scored] = []
        for keys in [] if zh else asked_dimensions(question):
            best = next((h for h in ranked if h.fact.kind == "spec" and keys.search(h.fact.label or "")), None)
            if best is not None and all(best is not e for e in exact):
                exact.append(best)
        if exact:
            # "How wide is it?" names the dimension: the sheet's spec of that dimension answers (the diameter of a
            # round bed), never a near one (its height) nor "I'm not sure", whatever the retrieval scores say.
            trace.fact_kind, trace.score = "spec", exact[0].sim
            trace.facts += [e.fact.label or "spec" for e in exact]
            return [line for e in exact for line in e.fact.spoken(say.lang)]
        if hit is None and not wanted:
            if is_opinion_question(question):
                # The host has no opinions to give: what the sheet leads with, said as the sheet's.
                trace.fact_kind = "opinion"
                return self._headline(product, say)
            if not is_question(question):
                trace.fact_kind = "comment"  # "love it!", "lol": nothing was asked
                return say.many("comment")
        if hit is None:
            trace.confident = False
            trace.fact_kind = "unknown"
            return say.many("unknown", name=short_name(product))
        fact = hit.fact
        trace.fact_kind, trace.score = fact.kind, hit.sim
        trace.facts.append(fact.label or fact.kind)
        if fact.kind == "price":
            return self._price_sentences(product, say)
        if fact.kind == "stock":
            return self._stock_sentences(product, say)
        if fact.kind == "shipping":
            return [_shipping_line(say, " ".join(fact.say))]
        out = list(fact.spoken(say.lang))
        if out and not zh and fact.kind in ("feature", "description") and _affirms(question, out[0], names):
            # "is it waterproof?" -> "Yes: non-slip waterproof base.", not the bare feature.
            out[0] = say.one("affirm", text=_lower_first(out[0]))
        if fact.kind == "spec":
            # "How big is it?" is answered by diameter and capacity alike: say both when they tie.
            runner = next((h for h in ranked[1:3] if h.fact.kind == "spec"), None)
            if runner is not None and hit.score - runner.score <= 0.03 and self._confident(runner, cls):
                out += list(runner.fact.spoken(say.lang))
                trace.facts.append(runner.fact.label or "spec")
        return out

    def _variant_answer(
        self,
        question: str,
        product: ProductSheet,
        variants: list[Variant],
        wanted: tuple[str, ...],
        say: _Phraser,
        trace: AnswerTrace,
    ) -> list[str]:
        """Price or stock of the variant(s) the viewer named ("the green one in L")."""
        label = matched_label(question, variants)
        trace.fact_kind = "variant"
        trace.facts.append(label)
        if wanted and wanted[0] in ("price", "discount"):
            prices = {product.price_of(v) for v in variants}
            if len(prices) == 1:
                v = variants[0]
                price = _say_price(product.price_of(v), product.currency, say.lang)
                lp = v.list_price if len(variants) == 1 else None
                if lp is not None and lp > product.price_of(v):
                    was = _say_price(lp, product.currency, say.lang)
                    return [say.one("variant_price_sale", label=label, price=price, was=was)]
                return [say.one("variant_price", label=label, price=price)]
            return [
                say.one(
                    "variant_price", label=v.name, price=_say_price(product.price_of(v), product.currency, say.lang)
                )
                for v in variants[:MAX_ANSWER_SENTENCES]
            ]
        known = [v for v in variants if v.stock is not None]
        if not known:
            return say.many("unknown", name=short_name(product))
        if len(variants) == 1:
            v = variants[0]
            if v.stock == 0:
                return [say.one("variant_sold_out", label=label)]
            return [say.one("variant_stock", label=label, stock=str(v.stock))]
        in_stock = [v for v in known if (v.stock or 0) > 0]
        out_of = [v for v in known if v.stock == 0]
        if not in_stock:
            return [say.one("variant_sold_out", label=label)]
        out = [
            say.one(
                "variant_in_stock_list",
                label=label,
                text=_join_words([option_rest(v, label) for v in in_stock], say.lang),
            )
        ]
        if out_of:
            rest = _join_words([option_rest(v, label) for v in out_of], say.lang)
            out.append(say.one("variant_sold_out", label=f"{label} / {rest}" if say.lang != "zh" else f"{label}{rest}"))
        return out

    def _field_answer(
        self,
        intent: str,
        product: ProductSheet,
        say: _Phraser,
        ranked: list[Scored],
        cls: Classification,
        trace: AnswerTrace,
        done: set[str],
        *,
        question: str = "",
    ) -> list[str]:
        """Sentences answering a price/discount/stock/shipping question from the sheet's field; ``done`` holds
        the fields already said in this answer (not said twice). A shipping ``question`` naming a place the sheet
        says nothing about ("ship to Canada?") is told so first: the delivery time does not answer it."""
        trace.fact_kind = trace.fact_kind or intent
        out: list[str] = []
        if (
            intent in ("price", "discount")
            and "price" not in done
            and (intent == "price" or (product.list_price is not None and product.list_price > product.price))
        ):
            done.add("price")
            out += self._price_sentences(product, say)
        if intent == "discount" and "promo" not in done:
            done.add("promo")
            if product.promo:
                out.insert(0, _promo_line(say, as_sentence(product.promo)))
            elif not out:
                trace.confident = False
                out += say.many("no_promo", name=short_name(product))
        if intent == "stock" and "stock" not in done:
            done.add("stock")
            if product.stock is None:
                return self._fallback_or_unknown(product, ranked, say, trace, "stock")
            out += self._stock_sentences(product, say)
        if intent == "shipping" and "shipping" not in done:
            done.add("shipping")
            if not product.shipping:
                return self._fallback_or_unknown(product, ranked, say, trace, "shipping")
            where = asked_destination(question)
            if where is not None and not sheet_names_destination(where, self._prepared_for(product).text):
                trace.confident = False
                key = "ship_abroad_unknown" if where == "abroad" else "ship_where_unknown"
                out.append(say.one(key, name=short_name(product), where=where))
            out.append(_shipping_line(say, as_sentence(product.shipping)))
        return out

    def _fallback_or_unknown(
        self, product: ProductSheet, ranked: list[Scored], say: _Phraser, trace: AnswerTrace, topic: str
    ) -> list[str]:
        """The sheet lacks the field: a FAQ or feature about it, or an honest "I don't know"."""
        for hit in ranked:
            if hit.fact.say and topic in hit.fact.topics and hit.sim >= self._limits(hit.zh).topic:
                trace.fact_kind, trace.score = hit.fact.kind, hit.sim
                return list(hit.fact.spoken(say.lang))
        trace.confident = False
        trace.fact_kind = "unknown"
        return say.many("unknown", name=short_name(product))

    def _headline(self, product: ProductSheet, say: _Phraser) -> list[str]:
        first = product.features[0] if product.features else (split_sentences(product.description or "") or [""])[0]
        if not first:
            return say.many("unknown", name=short_name(product))
        return [say.one("headline", name=short_name(product), text=_lower_first(as_sentence(first)))]

    def _price_sentences(self, product: ProductSheet, say: _Phraser) -> list[str]:
        name = short_name(product)
        price = _say_price(product.price, product.currency, say.lang)
        if product.list_price is not None and product.list_price > product.price:
            was = _say_price(product.list_price, product.currency, say.lang)
            out = [say.one("price_sale", name=name, price=price, was=was)]
        else:
            out = [say.one("price", name=name, price=price)]
        if product.stock == 0:
            out.append(say.one("sold_out_too"))
        return out

    def _stock_sentences(self, product: ProductSheet, say: _Phraser) -> list[str]:
        if product.stock == 0:
            return say.many("sold_out", name=short_name(product))
        return [say.one("stock", stock=str(product.stock))]

    def _compare(
        self,
        question: str,
        a: ProductSheet,
        b: ProductSheet,
        cls: Classification,
        say: _Phraser,
        trace: AnswerTrace,
    ) -> list[str]:
        """Both products' relevant facts: prices (and which costs less), or the asked detail of each, or for a
        plain "what's the difference" each one's price and headline feature."""
        wanted = cls.product_intents
        trace.fact_kind = "comparison"
        if (wanted and wanted[0] in ("price", "discount")) or (not wanted and _PRICE_WORDS.search(question)):
            pa, pb = _say_price(a.price, a.currency, say.lang), _say_price(b.price, b.currency, say.lang)
            out = [say.one("compare_price", name=short_name(a), price=pa, other=short_name(b), other_price=pb)]
            if a.currency == b.currency:
                if a.price == b.price:
                    out.append(say.one("same_price"))
                else:
                    out.append(say.one("cheaper", name=short_name(a if a.price < b.price else b)))
            return out
        if not wanted:
            out = []
            for p in (a, b):
                headline = p.features[0] if p.features else (split_sentences(p.description or "") or [""])[0]
                price = _say_price(p.price, p.currency, say.lang)
                if headline:
                    text = _lower_first(as_sentence(headline))
                    out.append(say.one("compare_overview", name=short_name(p), price=price, text=text))
                else:
                    out.append(say.one("price", name=short_name(p), price=price))
            return out
        out = []
        for p in (a, b):
            sub = Classification(intents=wanted, scores=cls.scores, subjects=(p.id,))
            ranked = self.rank(question, p, sub)
            if wanted[0] == "shipping" and p.shipping:
                text = _lower_first(as_sentence(p.shipping))
                out.append(say.one("compare_each", name=short_name(p), text=text))
                continue
            if wanted[0] in DIRECT_INTENTS:
                part_trace = AnswerTrace()
                part = self._field_answer(wanted[0], p, say, ranked, sub, part_trace, set())
                text = " ".join(part)
                if not part or not part_trace.confident:  # the sheet does not say (in any language)
                    trace.confident = False
                    out.append(say.one("compare_unknown", name=short_name(p)))
                else:
                    out.append(say.one("compare_each", name=short_name(p), text=_lower_first(text)))
                continue
            hit = self._pick(ranked, sub)
            keys = asked_dimensions(question) or ([_SIZE_KEYS] if _ANY_SIZE.search(question.lower()) else [])
            sized = next(
                (h for k in keys for h in ranked if h.fact.kind == "spec" and k.search(h.fact.label or "")), None
            )
            if sized is not None:
                hit = sized  # "which is bigger?": each one's size, not its nearest fact
            if hit is None:
                trace.confident = False
                out.append(say.one("compare_unknown", name=short_name(p)))
                continue
            if hit.fact.kind == "price":
                text = self._price_sentences(p, say)[0]
            elif hit.fact.kind == "stock":
                text = self._stock_sentences(p, say)[0]
            else:
                text = " ".join(hit.fact.spoken(say.lang))
            out.append(say.one("compare_each", name=short_name(p), text=_lower_first(text)))
        return out


def _join_words(items: Sequence[str], lang: str) -> str:
    items = list(dict.fromkeys(items))
    if lang == "zh":
        return "、".join(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


_PRICE_WORDS = re.compile(r"cheap|expensive|price|cost|afford|how much|便宜|贵|价格", re.IGNORECASE)


def _say_price(amount: Decimal, currency: str, lang: str) -> str:
    # Chinese voices read "¥268" / "$24.99" well; English ones need "24 dollars 99". Both keep the sheet's digits.
    return say_price(amount, currency, lang)


class _Phraser:
    """Picks a phrasing not said recently and fills it in (``recent`` holds normalised sentences, oldest first:
    a list, not a set, so the latest ones are known and a seeded show says the same words on every run)."""

    def __init__(
        self, *, lang: str, rng: random.Random, recent: Sequence[str], name_needed: frozenset[str] = frozenset()
    ) -> None:
        self.lang = lang
        self.rng = rng
        self.recent = list(recent)
        self.name_needed = name_needed
        """Names of products not on screen: a phrasing about one of them names it ("The Coffee Beans are 24 dollars
        99.", not "It's 24 dollars 99."), since the other viewers do not know what "it" is."""

    def _options(self, key: str, values: dict[str, str | None]) -> list[str]:
        table = language_tables(self.lang).phrases.get(key) or PHRASES["en"][key]
        plural = _is_plural(values.get("name"))
        values = {"is": "are" if plural else "is", "costs": "cost" if plural else "costs", **values}
        values.setdefault("other_is", "are" if _is_plural(values.get("other")) else "is")
        filled = [t.format_map(_Blank(values)) for t in table]
        return [_clean_text(f) for f in filled]

    def one(self, key: str, **values: str | None) -> str:
        options = self._options(key, values)
        name = values.get("name")
        if name and name in self.name_needed:
            options = [o for o in options if name in o] or options
        choice = pick_fresh(options, self.recent, self.rng) or self.rng.choice(options)
        self.recent.append(normalise(choice))
        return choice

    def many(self, key: str, **values: str | None) -> list[str]:
        """One phrasing, split into sentences (some phrasings are two sentences)."""
        return split_sentences(self.one(key, **values))


def _is_plural(name: str | None) -> bool:
    """ "Earbuds", "Coffee Beans": plural; "Glass", "Serum", "Moon Night Light": singular. English names only."""
    if not name:
        return False
    last = re.findall(r"[A-Za-z]+", name)
    word = last[-1].lower() if last else ""
    return len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ics"))


class _Blank(dict[str, str | None]):
    def __missing__(self, key: str) -> str:
        return ""

    def __getitem__(self, key: str) -> str:
        v = super().get(key)
        return "" if v is None else str(v)


__all__ = [
    "DIRECT_INTENTS",
    "PHRASES",
    "THRESHOLDS",
    "UNIT_SUFFIXES",
    "AnswerTrace",
    "Fact",
    "OfflineBrain",
    "PreparedProduct",
    "Scored",
    "Thresholds",
    "VarietyMeter",
    "as_sentence",
    "distinct_2",
    "is_address",
    "product_facts",
    "retrieval_facts",
    "sheet_digest",
    "sheet_vocab",
    "short_name",
    "spec_label",
    "spec_text",
    "split_sentences",
    "stem",
]
