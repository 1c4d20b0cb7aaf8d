"""What a viewer's question is about, and which product(s) it names. Pure and fast (regexes, no model).

:func:`classify` scores each intent with a few weighted keyword rules (English, and Chinese where a keyword is
enough) and returns them ranked; :func:`named_products` finds the catalog products a question names, by their
distinctive name/id words with a little fuzzy matching for typos. Neither ever raises on odd input: viewer text is
data, so it is only matched against, never executed or echoed.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from streamer.brain import zh_text
from streamer.config import ProductSheet
from streamer.untrusted import clean_untrusted

Intent = Literal[
    "price",
    "discount",
    "shipping",
    "specs",
    "material",
    "origin",
    "stock",
    "returns",
    "warranty",
    "show",
    "comparison",
    "greeting",
    "thanks",
    "identity",
    "buy",
    "other",
]

#: Intents about the product (answered from the sheet), as opposed to social ones.
PRODUCT_INTENTS: frozenset[str] = frozenset(
    {"price", "discount", "shipping", "specs", "material", "origin", "stock", "returns", "warranty"}
)
#: Intents only a fact about that very thing answers (no nearest fact about something else).
STRICT_INTENTS: frozenset[str] = frozenset({"returns", "warranty", "origin"})

MIN_SCORE = 1.0
"""An intent counts when its rules add up to at least this."""

MAX_QUESTION_CHARS = 500
"""Longer text is cut before matching (chat triage caps it anyway; this keeps the regexes cheap)."""


def _rules(*pairs: tuple[str, float]) -> list[tuple[re.Pattern[str], float]]:
    return [(re.compile(p, re.IGNORECASE), w) for p, w in pairs]


# Each rule: (regex on the lower-cased question, weight). Weights say how sure a match makes us; the same
# phrase can vote for several intents ("how much" is price unless "weigh" or "shipping" outvotes it).
_CJK = r"[\u3400-\u9fff]"
RULES: dict[str, list[tuple[re.Pattern[str], float]]] = {
    "price": _rules(
        (r"\bprice[ds]?\b|\bpricing\b", 2.0),
        (r"\bcosts?\b|\bcosting\b", 2.0),
        (r"\bhow much (is|are|was|for|would|will|do|does (it|this|that|the \w+|they|these) cost)\b", 1.2),
        (r"^\W*how much\W*$", 2.0),
        (r"\bhow much\b", 0.4),
        (r"\bexpensive\b|\bcheap(er|est)?\b|\bafford", 1.5),
        (r"\$\s?\d|\bdollars?\b|\bbucks\b|\beuros?\b", 1.0),
        (r"\bpay\b", 0.6),
        (r"多少钱|价格|价钱|几块|贵不贵|贵吗|太贵|便宜|售价|什么价|啥价", 2.0),
        (r"原价|现价|到手价|一条多少|一个多少|一套多少", 2.0),
    ),
    "discount": _rules(
        (r"\bdiscounts?\b|\bdeals?\b|\bpromo(tion)?s?\b|\bcoupons?\b|\bvouchers?\b", 2.0),
        (r"\bon sale\b|\bsale\b|\boffers?\b|\bbargain\b|\bsavings?\b|\bsave\b", 1.5),
        (r"\b(any|a) (gift|freebie|bonus)\b|\bfree gift\b|\bfreebies?\b|\bbundle\b", 1.5),
        (r"\bwhat(?:'s| is| comes)? free\b|\bfree (gift|stuff|bonus|extra|item)s?\b|\bfor free\b|\bget .* free\b", 1.5),
        (r"\b(percent|%) off\b|\boff\b", 0.8),
        (r"\bregular price\b|\blist price\b|\boriginal price\b|\busual(ly)? (price|cost)", 1.5),
        (r"优惠|折扣|打折|促销|满减|立减|赠品|活动|券|半价|买一送一|[一二两三四五六七八九\d]折|福利|划算|再减", 2.0),
    ),
    "shipping": _rules(
        (r"\bship(s|ping|ped)?\b|\bdeliver(y|ed|s)?\b|\bpost(age|al)\b|\bcourier\b", 2.0),
        (r"\barrive\b|\barrival\b|\bget here\b|\bdispatch(ed)?\b|\btracking\b", 1.5),
        (r"\bhow (long|fast|soon)\b.*\b(get (it|them|here|to)|receive|come)\b", 1.5),
        (r"\bget (it |this |them )?(to me|here)\b", 1.5),
        (r"\b(shipping|delivery|postage) (cost|fee|charge|price)s?\b|\bcost\b.{0,20}\b(ship|deliver)", 1.5),
        (r"\bfree (shipping|delivery)\b|\b(shipping|delivery) (is )?free\b|\bis (shipping|delivery) free\b", 1.5),
        (r"\breturns?\b|\brefunds?\b", 0.4),
        (r"发货|快递|运费|包邮|配送|物流|几天到|多久到|什么时候发|什么时候到|几天能到|要几天|顺丰|到货|寄到|发到", 2.0),
    ),
    "specs": _rules(
        (r"\bsizes?\b|\bsizing\b|\bdimensions?\b|\bmeasure(ments)?\b|\bspecs?\b|\bspecifications?\b", 2.0),
        (r"\bhow (big|large|small|tall|wide|long|heavy|deep|high|thick|thin)\b|\bthick(ness)?\b", 2.0),
        (r"\bweigh(s|t)?\b|\bheight\b|\bwidth\b|\blength\b|\bdiameter\b|\bvolume\b|\bcapacity\b", 2.0),
        (r"\bbattery\b|\bcharg(e|ing)\b|\bwatts?\b|\bvolts?\b|\bbluetooth\b|\bresolution\b|\bwaterproof\b", 1.5),
        (r"\bfit(s|ting)?\b|\bsmall\b|\blarge\b|\bmedium\b|\bxl\b|\bxs\b|\btall\b", 0.8),
        (r"\bcolou?rs?\b", 1.5),
        (r"\bcm\b|\bmm\b|\bkg\b|\binch(es)?\b|\bml\b|\bgrams?\b|\bounces?\b|\boz\b", 1.0),
        (r"\bhow many\b", 1.0),
        (r"\b(wide|tall|deep|narrow|heavy|thick|thin|dimensions?|pieces|parts)\b", 1.0),
        (r"\b(bigger|larger|smaller|taller|shorter|wider|narrower|longer|heavier|lighter|deeper)\b", 2.0),
        (r"\btemperatures?\b|\bdegrees?\b|\bwattage\b|\bvoltage\b|\bpower\b|\bspeed\b|\bversion\b", 1.5),
        (r"\bhow much (does|do|can|will) (it|this|that|they|the [\w ]{1,40}?) (hold|contain|carry|fit|take)\b", 3.0),
        (r"\bhold(s)?\b|\bcapacity\b|\blitres?\b|\bliters?\b", 1.0),
        (r"尺寸|尺码|规格|多大|多重|重量|大小|颜色|电池|参数|容量|能装多少|装多少|多少毫升", 2.0),
        (r"多高|多宽|多长|直径|几斤|多少克|续航|充电|毫安|几种颜色|哪些颜色", 2.0),
    ),
    "material": _rules(
        (r"\bmaterials?\b|\bmade (of|from|out of)\b|\bwhat'?s it made\b|\bcomposition\b", 2.5),
        (r"\bfabrics?\b", 1.5),
        (r"\bcotton\b|\bwool\b|\bmerino\b|\bpolyester\b|\bleather\b|\bsilk\b|\blinen\b|\bnylon\b", 1.5),
        (r"\bplastic\b|\bmetal\b|\bsteel\b|\biron\b|\bwood(en)?\b|\bglass\b|\bceramic\b|\bbamboo\b", 1.2),
        (r"\bingredients?\b|\bcontains?\b|\bfilling\b|\bfur\b|\bpaper\b|\benamel\b", 1.2),
        (r"材质|面料|材料|成分|什么做的|配料|真丝|纯棉|不锈钢|陶瓷|是真的吗|什么材料", 2.5),
    ),
    "origin": _rules(
        (r"\bwhere\b.{0,30}\b(from|made|grown|produced|manufactured|sourced|come from)\b", 2.0),
        (r"\borigin\b|\bcountry\b|\bmade in\b|\bimported\b", 2.0),
        (r"产地|哪里产|哪里生产|哪国|哪儿产|哪里的货|原产|哪里做的", 2.0),
    ),
    "stock": _rules(
        (r"\bin stock\b|\bstock\b|\bsold out\b|\bout of stock\b|\bavailability\b|\binventory\b", 2.0),
        (r"\b(any|many|still|are there|is there|units?|pieces?|ones?|items?) (\w+ )?(left|remaining)\b", 1.5),
        (r"\b(left|remaining) in stock\b|\bhow many (do you have|have you got|can i (buy|order))\b", 1.5),
        (r"\bhow many\b.{0,30}\b(left|remaining|in stock|available)\b|\bdo you (still )?have left\b", 2.0),
        (r"\b(is|are) (it|this|that|they|these|the \w+) (still )?available\b|\bstill available\b", 1.5),
        (r"\brestock\b|\bback in stock\b|\bstill have\b|\bcan i (still )?(buy|get|order)\b", 1.5),
        (r"库存|有货|没货|还有吗|还有多少|售罄|卖完|卖光|现货|还剩|缺货|断货", 2.0),
    ),
    "returns": _rules(
        (r"\breturn(s|ed|ing)?\b|\brefund(s|ed)?\b|\bexchange\b|\bsend (it|them) back\b|\bmoney back\b", 2.0),
        (r"退货|退款|换货|退换|无理由|七天|7天|能退|可以退|包退", 2.0),
    ),
    "warranty": _rules(
        (r"\bwarrant(y|ies|ee)\b|\bguarantee[ds]?\b|\bbreaks?\b|\brepairs?\b", 2.0),
        (r"保修|质保|坏了|维修|保换|售后", 2.0),
    ),
    "buy": _rules(
        (
            r"\bhow (do|can|should|would) (i|we|you|u) (order|buy|purchase|get (one|it|this|them)|check ?out|pay)\b"
            r"|\bwhere (do|can) (i|we) (order|buy|purchase|get (one|it))\b|\bhow to (order|buy|purchase)\b",
            2.5,
        ),
        (r"^\W*(the |a )?links?\W*(pl[sz]|please)?\W*$|\blinks? (pl[sz]|please)\b|\bwhere'?s the link\b", 2.5),
        (r"\b(send|drop|post|share|give) (me |us )?the link\b|\bbuy link\b|\b(link|url) to (buy|order)\b", 2.5),
        (r"怎么买|怎么下单|怎么拍|在哪买|哪里买|链接在哪|求链接|发个?链接|几号链接", 2.5),
    ),
    "show": _rules(
        (r"\bshow (me|us)\b|\blet (me|us) see\b|\bcan (i|we) see\b|\bshow the\b|\bput (up|on) the\b", 2.0),
        (r"\b(pull|bring) up the\b|\bback to the\b|\bgo back to\b|\bswitch to\b", 1.5),
        (r"看看|展示|给我看|上一下|讲讲|介绍一下|上链接|再看|拿出来", 2.0),
    ),
    "comparison": _rules(
        (r"\bcompare[ds]?\b|\bcomparison\b|\bversus\b|\bvs\.?\b|\bdifferen(ce|t)\b|\bdiffer\b", 2.0),
        (r"\bthan\b", 0.7),
        (r"\bbetter\b|\bworse\b|\bprefer\b", 0.5),
        (r"\bwhich (one|is|should|would)\b|\beither\b", 0.5),
        (r"\b(cheap|bigg|small|light|heavi|larg|strong|long|short|fast)er\b", 0.5),
        (r"\bor (the|this|that)\b", 0.5),
        (r"比较|对比|区别|哪个好|哪个更", 2.0),
    ),
    "greeting": _rules(
        (r"^\W*(hi+|hey+|hello+|hiya|howdy|yo|sup|greetings|good (morning|afternoon|evening))\b", 2.0),
        (r"\bhello\b|\bhi there\b|\bhey there\b|\bhow are you\b|\bwhat'?s up\b", 1.5),
        (r"\bjust (joined|arrived)\b|\bi'?m (new|here)\b|\bfirst time\b", 1.0),
        (r"^\W*(你好|大家好|哈喽|嗨|主播好)", 2.0),
    ),
    "thanks": _rules(
        (r"\bthanks?\b|\bthank (you|u)\b|\bthx\b|\bty\b|\bcheers\b|\bappreciate\b", 2.0),
        (r"\bgreat (answer|help)\b|\bthat helps\b|\bhelpful\b|\bperfect\b|\bawesome\b", 1.0),
        (r"谢谢|感谢|多谢|谢啦", 2.0),
    ),
    "identity": _rules(
        (
            r"\b(are|r) (you|u) (even |actually |really |truly |honestly |just |a real |)?(a |an )?"
            r"(real|human|person|bot|robot|ai|a\.i\.|fake|live|computer|program|alive|for real)\b",
            3.0,
        ),
        (r"\b(is|are) (this|that|the host|the presenter|she|he) (a |an )?(real|human|person|bot|ai|fake)\b", 2.5),
        (r"\breal (person|human)\b|\bhuman being\b|\bchat ?bot\b|\bis this (a |an )?(bot|ai|recording|real)\b", 2.5),
        (
            r"\b(you'?re|you are|ur) (just |only |obviously |clearly |really |totally |so |such )?(a |an )?"
            r"(bot|robot|ai|fake|cartoon|not real)\b",
            2.5,
        ),
        (r"\bwho are you\b|\bwhat are you\b|\bwho is (talking|speaking)\b|\bai[- ]generated\b", 2.0),
        (r"\byour name\b|\bwho'?s (the|this) host\b|\bwhat do (they|we) call you\b", 2.0),
        (r"真人|机器人|是不是ai|是ai吗|是ai|\bai吗|人工智能|虚拟主播|虚拟人|数字人|你是谁|你叫什么|是人吗|录播", 3.0),
    ),
}


@dataclass(slots=True, frozen=True)
class Classification:
    """The ranked intents of a question and the products it names.

    ``intents`` holds every intent scoring at least :data:`MIN_SCORE`, best first, or ``("other",)``.
    ``products`` holds the ids of catalog products the question names (best match first); ``subjects`` is what
    the answer is about: the named products, else the on-screen product, and for a comparison naming one product
    the on-screen product plus that one.
    """

    intents: tuple[str, ...]
    scores: dict[str, float] = field(default_factory=dict)
    products: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()

    @property
    def primary(self) -> str:
        return self.intents[0]

    @property
    def product_intents(self) -> tuple[str, ...]:
        """The product intents, best first (comparison and social intents left out)."""
        return tuple(i for i in self.intents if i in PRODUCT_INTENTS)

    @property
    def is_comparison(self) -> bool:
        return len(self.subjects) >= 2


def score_intents(question: str) -> dict[str, float]:
    """Raw intent scores (only intents with a positive score)."""
    text = _clean(question)
    scores: dict[str, float] = {}
    for intent, rules in RULES.items():
        total = sum(w for rx, w in rules if rx.search(text))
        if total > 0:
            scores[intent] = total
    return scores


def classify(
    question: str,
    products: Sequence[ProductSheet] = (),
    *,
    on_screen: ProductSheet | None = None,
) -> Classification:
    """Intents of ``question`` and which of ``products`` it is about (see :class:`Classification`)."""
    # A product's name says nothing about what is asked: "how much is the Hubble Poster 50x70 cm?" asks a price,
    # whatever "cm" in the name suggests.
    scores = score_intents(_without_names(question, products, on_screen))
    named = named_products(question, products, on_screen=on_screen)
    named_ids = tuple(p.id for p in named)

    comparing = scores.get("comparison", 0.0)
    subjects: tuple[str, ...]
    if len(named_ids) >= 2:
        # Two products named: a comparison, whatever the wording ("the coffee and the cat bed: price?").
        scores["comparison"] = max(comparing, MIN_SCORE)
        # The two best matches, in the order the viewer named them ("the tee or the earbuds").
        pair = sorted(named[:2], key=lambda p: mention_position(question, p))
        subjects = (pair[0].id, pair[1].id)
    elif len(named_ids) == 1 and comparing >= MIN_SCORE and on_screen is not None and named_ids[0] != on_screen.id:
        # "Is it better than the coffee?": the on-screen product against the one named.
        subjects = (on_screen.id, named_ids[0])
    else:
        # Comparison words alone ("which is better?") do not make a comparison without two subjects.
        scores.pop("comparison", None)
        if named_ids:
            subjects = named_ids[:1]
        else:
            subjects = (on_screen.id,) if on_screen is not None else ()

    # A greeting or thanks that also asks something is answered as the question (the viewer is greeted anyway).
    asks = len(subjects) >= 2 or any(scores.get(i, 0.0) >= MIN_SCORE for i in PRODUCT_INTENTS)
    if asks:
        for social in ("greeting", "thanks"):
            scores.pop(social, None)
        if scores.get("identity", 0.0) < 2.5:
            scores.pop("identity", None)

    ranked = sorted((i for i, s in scores.items() if s >= MIN_SCORE), key=lambda i: (-scores[i], _ORDER[i]))
    if "comparison" in ranked:
        ranked.remove("comparison")
        ranked.insert(0, "comparison")
    return Classification(
        intents=tuple(ranked) if ranked else ("other",),
        scores=scores,
        products=named_ids,
        subjects=subjects,
    )


def _without_names(question: str, products: Sequence[ProductSheet], on_screen: ProductSheet | None) -> str:
    """The question with any catalog product's full name (or its part before a comma) taken out."""
    names = {p.name for p in products} | ({on_screen.name} if on_screen is not None else set())
    text = question
    low = text.lower()
    for name in sorted(names, key=len, reverse=True):
        for form in (name, name.split(",")[0]):
            form = form.strip()
            if len(form) >= 4 and form.lower() in low:
                i = low.index(form.lower())
                text = text[:i] + " " + text[i + len(form) :]
                low = text.lower()
    return text


_ORDER = {name: i for i, name in enumerate(RULES)}
_ORDER["other"] = len(_ORDER)


def _clean(question: str) -> str:
    """The question as the rules read it: sanitised (:func:`streamer.untrusted.clean_untrusted`, NFKC, as chat
    triage cleans it), cut to :data:`MAX_QUESTION_CHARS`, lower case, curly apostrophes straight."""
    text = clean_untrusted(question, MAX_QUESTION_CHARS, normalize="NFKC", ellipsis="", at_word=False).lower()
    return text.replace("’", "'").replace("‘", "'")


# ---- which products a question names ------------------------------------------------------------------------

WORD_PATTERN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u3400-\u9fff]+")
"""The words of a cleaned, lower-cased question that can name a product (chat triage's catalog gate uses it too)."""

#: Words that say nothing about which product is meant (units, sizes, filler, connectors).
STOPWORDS: frozenset[str] = frozenset(
    """a an the and or of for with to in on at by from is are it its this that these those be do does did can
    could will would should i you your my me we our us they them he she his her what which who how why when where
    there here any some all one ones very really so just not no yes if then than as about into up out over
    much many more most less get got have has had please pls plz tell know want need like also too
    x cm mm m kg g ml l h in inch oz qt pack set kit size new edition version scale pcs pc zh cn""".split()
)


@dataclass(slots=True, frozen=True)
class _ProductWords:
    id: str
    words: frozenset[str]


def product_words(product: ProductSheet) -> frozenset[str]:
    """The distinctive words of a product's name and id (lower case, no stopwords, no bare numbers). A Chinese
    name also gives its parts (:func:`cjk_name_parts`: "3D打印月球灯" -> 月球灯, 月球, 打印)."""
    text = f"{product.name} {product.id.replace('-', ' ').replace('_', ' ').replace('.', ' ')}".lower()
    words = set()
    for w in WORD_PATTERN.findall(text):
        if w in STOPWORDS or w.isdigit() or len(w) < 2:
            continue
        words.add(w)
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            words.add(w[:-1])  # "beans" also matches "bean"
    words |= set(cjk_name_parts(product.name))
    return frozenset(words)


#: Last words of Chinese names that say little about which product it is ("茶具套装": the 茶具 names it).
_ZH_GENERIC_HEADS = frozenset("套装 套 组合 礼盒 系列 款 装 版 新款 正品".split())
ZH_MODIFIER_WEIGHT = 0.4
"""How much a Chinese name part before the head noun counts ("冬季" in "冬季保暖猫窝"): alone it never names a
product, two of them do."""
_NAME_PARTS_CACHE: dict[str, dict[str, float]] = {}


def cjk_name_parts(name: str) -> dict[str, float]:
    """Parts of a Chinese product name a viewer may use for it, with their weight: the head noun (the last word,
    or the last two when the last is generic, "茶具" in "龙泉青瓷功夫茶具套装") and words joined to it ("月球灯")
    count 1.0; modifiers before it count :data:`ZH_MODIFIER_WEIGHT`. Empty for a name without Chinese characters.
    Cached per name (segmentation is jieba's)."""
    hit = _NAME_PARTS_CACHE.get(name)
    if hit is not None:
        return hit
    parts: dict[str, float] = {}
    for run in re.findall(r"[\u3400-\u9fff]+", name.lower()):
        try:
            raw = [w for w in zh_text.segment(run) if w]
        except Exception:  # no jieba: the whole run only
            raw = [run]
        segs: list[str] = []
        for w in raw:  # single characters jieba left alone belong together ("猫", "窝" -> "猫窝")
            if len(w) == 1 and segs and len(segs[-1]) == 1:
                segs[-1] += w
            else:
                segs.append(w)
        if len(run) <= 4:
            parts[run] = 1.0
        last = len(segs) - 1
        head = {last}
        if last >= 1 and (segs[last] in _ZH_GENERIC_HEADS or len(segs[last]) == 1):
            head.add(last - 1)
        for i, w in enumerate(segs):
            if len(w) >= 2 and w not in zh_text.STOPWORDS and w not in _ZH_GENERIC_HEADS:
                parts[w] = max(parts.get(w, 0.0), 1.0 if i in head else ZH_MODIFIER_WEIGHT)
            if i == last - 1:
                merged = w + segs[last]
                if 3 <= len(merged) <= 4:
                    parts[merged] = 1.0
    if len(_NAME_PARTS_CACHE) >= 4096:
        _NAME_PARTS_CACHE.clear()
    _NAME_PARTS_CACHE[name] = parts
    return parts


_INDEX_CACHE: dict[tuple[int, ...], tuple[tuple[ProductSheet, ...], list[_ProductWords], dict[str, float]]] = {}


def _catalog_index(products: Sequence[ProductSheet]) -> tuple[list[_ProductWords], dict[str, float]]:
    """Name words and their rarity for a catalog, cached per catalog (reloaded sheets are new objects).

    Triage calls this for every comment in a flood: recomputing it each time cost most of the per-comment time.
    """
    key = tuple(id(p) for p in products)
    hit = _INDEX_CACHE.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], products, strict=True)):
        return hit[1], hit[2]
    catalog = [_ProductWords(p.id, product_words(p)) for p in products]
    idf = _idf(catalog)
    if len(_INDEX_CACHE) >= 8:
        _INDEX_CACHE.pop(next(iter(_INDEX_CACHE)))
    _INDEX_CACHE[key] = (tuple(products), catalog, idf)
    return catalog, idf


def _idf(catalog: Sequence[_ProductWords]) -> dict[str, float]:
    n = len(catalog)
    df: dict[str, int] = {}
    for p in catalog:
        for w in p.words:
            df[w] = df.get(w, 0) + 1
    return {w: math.log(1 + n / d) for w, d in df.items()}


def _question_words(question: str) -> list[str]:
    words = []
    for w in WORD_PATTERN.findall(_clean(question)):
        if w in STOPWORDS or len(w) < 2:
            continue
        words.append(w)
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            words.append(w[:-1])
    return words


def _word_match(qword: str, pword: str) -> float:
    """1.0 for the same word, less for a close typo of a long word, 0 otherwise."""
    if qword == pword:
        return 1.0
    if _CJK_RX.match(pword):
        return 1.0 if pword in qword or (len(qword) >= 2 and qword in pword) else 0.0
    if len(qword) < 5 or len(pword) < 5 or qword[0] != pword[0]:
        return 0.0
    ratio = difflib.SequenceMatcher(None, qword, pword).ratio()
    return ratio if ratio >= 0.84 else 0.0


_CJK_RX = re.compile(_CJK)


def named_products(
    question: str,
    products: Sequence[ProductSheet],
    *,
    on_screen: ProductSheet | None = None,
) -> list[ProductSheet]:
    """Products the question names, best match first.

    A product is named when the question contains enough of its distinctive name/id words (weighted by how rare
    the word is among the names, typos of long words allowed). A name word that another sheet also uses ("light"
    in the coffee's "light-medium roast" and in "Moon Night Light") counts for little, so a question about the
    product on screen is not taken as one about another product that happens to share a word.
    """
    if not products:
        return []
    qwords = set(_question_words(question))
    if not qwords:
        return []
    catalog, idf = _catalog_index(products)
    sheets = list(products)
    if on_screen is not None and all(p.id != on_screen.id for p in sheets):
        sheets.append(on_screen)
    vocabs = [(p.id, _sheet_vocab(p), _sheet_text(p)) for p in sheets]
    scored: list[tuple[float, int]] = []
    for index, p in enumerate(catalog):
        total = 0.0
        best_word = 0.0
        zh_parts = cjk_name_parts(products[index].name)
        for pw in p.words:
            m = max((_word_match(qw, pw) for qw in qwords), default=0.0)
            if m <= 0:
                continue
            weight = idf[pw] * m
            cjk = bool(_CJK_RX.match(pw))
            if cjk:
                weight *= zh_parts.get(pw, ZH_MODIFIER_WEIGHT)
            if any(pid != p.id and (pw in text if cjk else pw in vocab) for pid, vocab, text in vocabs):
                weight *= 0.3
            total += weight
            best_word = max(best_word, weight)
        if best_word >= 0.9 or total >= 1.4:
            scored.append((total, index))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [products[i] for _, i in scored]


def mention_position(question: str, product: ProductSheet) -> int:
    """Where in the question the product is first named (character offset; a large number when it is not)."""
    text = _clean(question)
    words = product_words(product)
    best = len(text) + 1
    for part in cjk_name_parts(product.name):  # no word boundaries in Chinese: where the name part starts
        at = text.find(part)
        if at >= 0:
            best = min(best, at)
    for m in WORD_PATTERN.finditer(text):
        w = m.group(0)
        if _CJK_RX.match(w):
            continue  # Chinese runs: found by name part above
        if any(_word_match(w, pw) > 0 or _word_match(w[:-1], pw) > 0 for pw in words):
            best = min(best, m.start())
            break
    return best


_VOCAB_CACHE: dict[int, tuple[ProductSheet, frozenset[str], str]] = {}


def _sheet_entry(product: ProductSheet) -> tuple[ProductSheet, frozenset[str], str]:
    hit = _VOCAB_CACHE.get(id(product))
    if hit is not None and hit[0] is product:
        return hit
    parts: list[str] = [product.name, product.description or "", " ".join(product.features)]
    parts += [f"{k} {v}" for k, v in product.specs.items()]
    parts += [f"{e.q} {e.a}" for e in product.faq]
    text = " ".join(parts).lower()
    entry = (product, frozenset(WORD_PATTERN.findall(text)), text)
    if len(_VOCAB_CACHE) >= 1024:
        _VOCAB_CACHE.clear()
    _VOCAB_CACHE[id(product)] = entry
    return entry


def _sheet_vocab(product: ProductSheet) -> frozenset[str]:
    """Every word of the sheet, cached per sheet object (a reloaded sheet is a new object)."""
    return _sheet_entry(product)[1]


def _sheet_text(product: ProductSheet) -> str:
    """The sheet's text in lower case (Chinese name parts are looked up in it: no word boundaries)."""
    return _sheet_entry(product)[2]


#: Words a shopper uses around any question; they say nothing about whether the sheet covers it.
FILLER_WORDS: frozenset[str] = frozenset(
    """usually really actually also still even like want wanna need get gets buy use using used make makes work
    works working come comes coming go goes going put take pick choose think look looks looking good nice great
    okay ok well best lot lots thing things stuff today tonight now right way kind sort someone anyone anything
    something wait hey guys please able possible sure exactly normal normally every ever never always maybe
    though would should could might must let lets going been being was were does doing did done say said see
    seen show showing tell told help try trying find found keep mean means question quick same other another
    only just both each either whole thing item product products one them they these those it's i'm you're
    don't doesn't isn't can't won't what's there's that's how's where's""".split()
)


#: Words that only say which kind of detail is asked ("price", "size", "made"): the intent handles them. Attribute
#: words ("waterproof", "silk", "battery") are not here: whether the sheet mentions them is the point.
GENERIC_ASK_WORDS: frozenset[str] = frozenset(
    """price prices priced pricing cost costs costing much expensive cheap cheaper cheapest afford pay dollars
    dollar bucks euro euros discount discounts deal deals promo promotion sale offer offers bargain saving savings
    save coupon voucher free gift bonus bundle off regular list original usual ship ships shipping shipped deliver
    delivery delivered post postage courier arrive arrival dispatch tracking size sizes sizing dimension dimensions
    measure measurements spec specs specification specifications big large small tall wide long heavy deep high
    thick thin weigh weighs weight material materials made fabric composition contain contains stock available
    availability inventory left remaining sold restock compare comparison versus difference different better worse
    prefer hello thanks thank real human person bot return returns refund warranty guarantee""".split()
)


def salient_words(question: str, *, exclude: Iterable[str] = ()) -> list[str]:
    """The question's content words: not stopwords, filler, generic ask words ("price", "size": the intent
    handles those) or words in ``exclude`` (e.g. product names). What remains is what the question is about
    ("lead", "cadmium" in "Is the enamel free of lead and cadmium?", "waterproof", "microwave")."""
    skip = set(exclude)
    out = []
    for w in WORD_PATTERN.findall(_clean(question)):
        if len(w) < 3 or w.isdigit() or w in STOPWORDS or w in FILLER_WORDS or w in skip or w in out:
            continue
        if _CJK_RX.match(w):
            continue  # no word boundaries to judge coverage by
        if w in GENERIC_ASK_WORDS:
            continue
        out.append(w)
    return out


_QUESTION_START = re.compile(
    r"^\W*(what|what's|whats|how|how's|is|are|was|were|does|do|did|can|could|will|would|should|shall|which|who|"
    r"when|where|why|any|has|have|got|may|might)\b",
    re.IGNORECASE,
)
_CJK_QUESTION = re.compile(r"[吗呢么嘛]|多少|几|什么|怎么|哪|是否|有没有|能不能|可不可以")
_OPINION = re.compile(
    r"\b(any good|is it good(?! for)|worth it|worth the|recommend|do you (like|love|use)|would you|should i (buy|get)|"
    r"your (opinion|favou?rite|thoughts)|what do you think|is it nice|is it better)\b",
    re.IGNORECASE,
)


def is_question(text: str) -> bool:
    """Whether the viewer asks something (a "?", a question word first, a Chinese question particle), as opposed
    to a comment ("love it", "lol")."""
    t = _clean(text).strip()
    return "?" in t or "？" in t or bool(_QUESTION_START.match(t)) or bool(_CJK_QUESTION.search(t))


def is_small_talk(text: str) -> bool:
    """A comment that only greets, thanks or chats ("hi everyone!!", "love it!"): no product question, nothing
    asked of the host. Its reply is social: it never cuts the sentence on air and is not merged into an answer."""
    scores = score_intents(text)
    if any(scores.get(i, 0.0) >= 1.0 for i in (*PRODUCT_INTENTS, "identity", "comparison", "show", "buy")):
        return False
    return max(scores.get("greeting", 0.0), scores.get("thanks", 0.0)) >= 1.0 or not is_question(text)


def is_opinion_question(text: str) -> bool:
    """Whether the viewer asks the host's opinion ("Is it any good?", "would you recommend it?"), which no sheet
    can give."""
    return bool(_OPINION.search(_clean(text)))


__all__ = [
    "FILLER_WORDS",
    "GENERIC_ASK_WORDS",
    "MIN_SCORE",
    "PRODUCT_INTENTS",
    "RULES",
    "STRICT_INTENTS",
    "WORD_PATTERN",
    "Classification",
    "Intent",
    "cjk_name_parts",
    "classify",
    "is_opinion_question",
    "is_question",
    "is_small_talk",
    "mention_position",
    "named_products",
    "product_words",
    "salient_words",
    "score_intents",
]
