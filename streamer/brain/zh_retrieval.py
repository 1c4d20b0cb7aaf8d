"""BM25 retrieval for Chinese questions: which fact of a sheet answers "茶壶能装多少水？".

Each fact of a sheet has retrieval keys (its own text, and for fields and specs the ways Chinese shoppers ask about
them: :func:`cue_keys`). :class:`ZhIndex` indexes every key as one BM25 document (``bm25s``, Lucene scoring) over the
tokens of :func:`streamer.brain.zh_text.tokens`, and scores a question against all of them.

BM25 scores are unbounded and depend on the question's length, so :meth:`ZhIndex.similarities` divides each score
by what the question's tokens would score on a document holding all of them once (tokens the sheet never uses
count with the highest IDF): the result is roughly "how much of what was asked this key covers", in [0, 1], and
one set of thresholds fits short and long questions (the offline brain's ``bm25_zh`` thresholds).

Pure apart from the lazy ``bm25s`` import; never raises on odd input (an empty index scores nothing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamer.brain.zh_text import CJK, Tokeniser, tokens

K1 = 1.2
B = 0.75

#: What Chinese shoppers say when asking about a field (the keys of the price, promo, stock and shipping facts).
FIELD_CUES: dict[str, str] = {
    "price": "多少钱 价格 价钱 售价 什么价 几块 贵吗 贵不贵 原价 现价 到手价 一条多少 一个多少",
    "promo": "优惠 折扣 打折 活动 满减 立减 优惠券 券 半价 买一送一 福利 赠品 划算 便宜点",
    "stock": "库存 有货 还有吗 还有货吗 卖完 售罄 现货 还剩 有没有货",
    "shipping": "发货 快递 包邮 运费 几天到 多久到 物流 配送 什么时候发 顺丰 到货",
}

#: Spec label patterns (Chinese or English keys, and units) and how shoppers ask about them.
SPEC_CUES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), cue)
    for p, cue in (
        (
            r"尺寸|直径|高度|宽度|长度|深度|大小|规格|size|dimension|diameter|height|width|length|厘米|毫米|cm|mm",
            "多大 尺寸 大小 多高 多宽 多长 直径 规格",
        ),
        (r"重量|净重|毛重|weight|千克|公斤|克$|kg", "多重 重量 几斤 多少克 重不重"),
        (r"容量|容积|capacity|volume|毫升|升|ml", "容量 能装多少 装多少水 多大容量 多少毫升 能装"),
        (r"材质|面料|材料|成分|填充|material|fabric", "什么材质 什么做的 面料 材料 材质 成分 真的吗"),
        (r"产地|产区|origin|made", "哪里产 产地 哪里生产 哪里的 哪儿产 哪里做的"),
        (r"颜色|配色|color|colour", "什么颜色 几种颜色 哪些颜色 颜色 配色 几个颜色"),
        (r"电池|续航|充电|battery|毫安|mah", "电池 续航 能用多久 充电 充一次"),
        (r"保修|质保|warranty", "保修 质保 坏了怎么办 保修多久"),
        (r"灯光|光|light", "颜色 几种光 灯光 亮度"),
    )
)


def cue_keys(kind: str, label: str | None = None, text: str = "") -> tuple[str, ...]:
    """Chinese ways of asking for a fact of ``kind`` (``"price"``, ``"spec"`` with its ``label``, ...), beyond the
    fact's own ``text``. Pure."""
    if kind in FIELD_CUES:
        return (FIELD_CUES[kind],)
    if kind == "spec" and label:
        return tuple(cue for rx, cue in SPEC_CUES if rx.search(label) or (text and rx.search(text[-6:])))
    return ()


#: How shoppers ask about a topic that a feature, description sentence or FAQ entry is about (Chinese text only).
TOPIC_CUES: dict[str, str] = {
    "warranty": "保修 质保 保修多久 坏了 售后",
    "returns": "退货 退换 退款 七天无理由 能退吗",
    "material": "什么材质 什么做的 面料 材料",
    "origin": "哪里产 产地 哪里生产",
    "shipping": "发货 快递 包邮 几天到",
}


#: Quantities a Chinese text states, and how shoppers ask for them ("保温12小时" answers "能保温多久").
MEASURE_CUES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), cue)
    for p, cue in (
        (r"[\d一二两三四五六七八九十半几]+\s*(个|件|只|条|片|套|支|块|双|杯)", "几个 多少个 几件 一共几"),
        (r"[\d一二两三四五六七八九十半]+\s*(小时|分钟|天|周|个月|月|年)", "多久 多长时间 几天 几个小时"),
        (r"\d+\s*(毫升|升|ml)", "容量 能装多少 装多少 多少毫升"),
        (r"\d+\s*(斤|公斤|千克|克|kg)", "多重 几斤 重量 多大"),
        (r"\d+\s*(厘米|毫米|米|cm|mm)", "多大 尺寸 多长 多宽 多高"),
        (r"\d+\s*(毫安|mah)", "电池 容量 电池容量 续航"),
    )
)


def topic_cues(topics: frozenset[str] | set[str], text: str) -> tuple[str, ...]:
    """Chinese ways of asking about the ``topics`` of a Chinese ``text`` and about the quantities it states
    (nothing for text without Chinese)."""
    if not CJK.search(text):
        return ()
    cues = [TOPIC_CUES[t] for t in sorted(topics) if t in TOPIC_CUES]
    cues += [cue for rx, cue in MEASURE_CUES if rx.search(text.lower())]
    return tuple(cues)


@dataclass(slots=True)
class ZhIndex:
    """BM25 over one sheet's keys (``owner[i]``: the fact of key ``i``)."""

    owner: np.ndarray
    df: dict[str, int]
    n_docs: int
    avg_len: float
    retriever: Any
    tokeniser: Tokeniser
    dictionary_version: int

    @classmethod
    def build(
        cls, keys: Sequence[str], owner: Sequence[int], *, tokeniser: Tokeniser = "jieba", dictionary_version: int = 0
    ) -> ZhIndex:
        import bm25s

        docs = [tokens(k, tokeniser=tokeniser) or ["<empty>"] for k in keys]
        df: dict[str, int] = {}
        for d in docs:
            for t in set(d):
                df[t] = df.get(t, 0) + 1
        retriever = bm25s.BM25(k1=K1, b=B)
        if docs:
            retriever.index(docs, show_progress=False)
        return cls(
            owner=np.asarray(owner, dtype=np.intp),
            df=df,
            n_docs=len(docs),
            avg_len=(sum(len(d) for d in docs) / len(docs)) if docs else 1.0,
            retriever=retriever,
            tokeniser=tokeniser,
            dictionary_version=dictionary_version,
        )

    def idf(self, token: str) -> float:
        """Lucene IDF of ``token`` in this index (an unseen token gets the highest)."""
        d = self.df.get(token, 0)
        return math.log(1.0 + (self.n_docs - d + 0.5) / (d + 0.5))

    def similarities(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Per key: the BM25 score of the question divided by what its tokens would score together on an
        average-length document holding each once (see the module docstring); clipped to [0, 1]."""
        q = list(dict.fromkeys(query_tokens))
        if not q or self.n_docs == 0:
            return np.zeros(self.n_docs, dtype=np.float64)
        known = [t for t in q if t in self.df]
        if not known:
            return np.zeros(self.n_docs, dtype=np.float64)
        raw = np.asarray(self.retriever.get_scores(known), dtype=np.float64)
        norm = sum(self.idf(t) for t in q) / (1.0 + K1)
        return np.clip(raw / norm, 0.0, 1.0) if norm > 0 else np.zeros(self.n_docs, dtype=np.float64)


__all__ = ["FIELD_CUES", "MEASURE_CUES", "SPEC_CUES", "TOPIC_CUES", "ZhIndex", "cue_keys", "topic_cues"]
