"""Chinese text for retrieval: segmentation (jieba, or character bigrams), stopwords, and "does the sheet say it".

MiniLM is English-only: to it every Chinese string looks alike. Chinese questions are matched with BM25 over
tokens made here (:mod:`streamer.brain.zh_retrieval`). Two tokenisers, measured against each other on the Chinese
half of ``python -m streamer.bench qa`` (see the README's "Chinese" section):

* ``"jieba"`` (the default): jieba's search-mode segmentation ("茶壶容量" -> 茶壶, 容量, 茶壶容量) with the catalog's
  product names, option values and spec keys added to its dictionary, plus each content character (so "洗" in
  "怎么洗" still meets "手洗").
* ``"bigram"``: overlapping character bigrams of every Chinese run, plus single characters.

jieba is imported lazily, on a private ``jieba.Tokenizer`` (the global one is left alone) whose logger is silenced:
importing or initialising it never prints. Its dictionary loads once (about a second the first time: the offline
brain does it in :meth:`~streamer.brain.offline.OfflineBrain.prepare`, off the event loop). Everything else here is
pure and bounded.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Literal

Tokeniser = Literal["jieba", "bigram"]

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:[.\-][a-z0-9]+)*")

MAX_TEXT_CHARS = 2000
"""Longer text is cut before segmenting (a fact or a question; bounded work per call)."""
MAX_CUSTOM_WORDS = 20_000
"""Words added to the private jieba dictionary over the process's life (catalog names, options, spec keys)."""

#: Function words and chat filler that say nothing about what is asked. Question words that carry the kind of
#: detail ("多少", "多久", "多大", "几") stay: the generic cue keys of facts use them.
STOPWORDS: frozenset[str] = frozenset(
    """的 了 吗 呢 吧 啊 呀 哦 么 嘛 啦 哈 嗯 是 在 和 与 及 或 这 那 这个 那个 这款 这套 这件 这条 这只 一下
    个 可以 能 能不能 可不可以 会 要 我 你 您 他 她 它 我们 你们 大家 主播 宝宝 宝宝们 家人 家人们 请问 想 问 也 都
    就 很 请 给 把 被 让 吧 有没有 是不是 什么 怎么 怎么样 如何 为什么 哪 哪个 哪些 呀 嘞 咯 还 又 再 着 过 对
    吗 呗 一 二 上 下 里 中 之 其 所 从 被 被 比 更 太 挺 蛮 真 好 多 少 ？ ！ ， 。 、""".split()
)

#: Single characters that never count as content on their own.
STOP_CHARS: frozenset[str] = frozenset(w for w in STOPWORDS if len(w) == 1) | frozenset("有不没能个怎么什哪谁")

_jieba_lock = threading.Lock()
_tokenizer: Any = None
_custom_words: set[str] = set()
_dictionary_version = 0


def dictionary_version() -> int:
    """Bumped whenever :func:`add_words` adds a word (an index built before tokenises differently)."""
    return _dictionary_version


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains a Chinese character."""
    return bool(CJK.search(text or ""))


def cjk_share(text: str) -> float:
    """Share of ``text``'s letters that are Chinese characters (0 for text without letters)."""
    letters = [c for c in text or "" if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if CJK.match(c)) / len(letters)


def _jieba() -> Any:
    """The private jieba tokenizer, initialised once (blocking: its dictionary loads the first time)."""
    global _tokenizer
    with _jieba_lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # "Building prefix dict..." goes to stderr otherwise
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.initialize()
            _tokenizer = tok
        return _tokenizer


def warm_up() -> None:
    """Load jieba's dictionary now (blocking, about a second the first time). Never raises: a broken jieba
    install degrades to the bigram tokeniser."""
    try:
        _jieba()
    except Exception as exc:  # pragma: no cover - only a broken install
        logging.getLogger(__name__).warning("jieba could not load (%s); Chinese uses character bigrams", exc)


def jieba_available() -> bool:
    try:
        _jieba()
    except Exception:
        return False
    return True


def add_words(words: Iterable[str]) -> int:
    """Add catalog words (product names and their parts, option values, spec keys) to the private jieba
    dictionary so "月球灯", "茶具", "大方巾" segment as words. Returns how many were new. Bounded by
    :data:`MAX_CUSTOM_WORDS`; words without Chinese characters or longer than 20 characters are skipped."""
    fresh = [w.strip().lower() for w in words if w and has_cjk(w) and 2 <= len(w.strip()) <= 20]
    fresh = [w for w in dict.fromkeys(fresh) if w not in _custom_words]
    if not fresh:
        return 0
    global _dictionary_version
    tok = _jieba()
    added = 0
    with _jieba_lock:
        _dictionary_version += 1
        for w in fresh:
            if len(_custom_words) >= MAX_CUSTOM_WORDS:
                break
            tok.add_word(w, freq=max(tok.suggest_freq(w, tune=False), 2000))
            _custom_words.add(w)
            added += 1
    return added


def segment(text: str) -> list[str]:
    """jieba's precise segmentation of ``text`` (raises if jieba cannot load; callers fall back)."""
    return [w for w in _jieba().lcut((text or "")[:MAX_TEXT_CHARS]) if w.strip()]


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokens(text: str, *, tokeniser: Tokeniser = "jieba", chars: bool = True) -> list[str]:
    """Retrieval tokens of ``text`` (lower case; stopwords and punctuation left out).

    Chinese runs are segmented by ``tokeniser``; Latin words and numbers ("type-c", "1200") are kept whole.
    With ``chars``, every content character of a Chinese run is a token as well ("c:洗"), so a one-character
    question word still meets a fact whose word contains it.
    """
    text = (text or "")[:MAX_TEXT_CHARS].lower()
    out: list[str] = []
    for m in _RUNS.finditer(text):
        run = m.group(0)
        if not CJK.match(run):
            out.append(run)
            continue
        if tokeniser == "jieba":
            try:
                words = _jieba().lcut_for_search(run, HMM=False)
            except Exception:  # a broken jieba install: bigrams rather than nothing
                words = _bigrams(run)
        else:
            words = _bigrams(run)
        out += [w for w in words if w not in STOPWORDS and not (len(w) == 1 and w in STOP_CHARS)]
        if chars:
            out += [f"c:{c}" for c in run if c not in STOP_CHARS]
    return out


def content_words(text: str, *, exclude: Sequence[str] = ()) -> list[str]:
    """The Chinese content words of a question (jieba precise mode, stopwords, single characters and
    ``exclude`` left out): what the question is about, to check against the sheet ("户外", "淋雨")."""
    text = (text or "")[:MAX_TEXT_CHARS].lower()
    skip = set(exclude)
    out: list[str] = []
    for m in _RUNS.finditer(text):
        run = m.group(0)
        if not CJK.match(run):
            continue
        try:
            raw = _jieba().lcut(run, HMM=False)
        except Exception:
            raw = _bigrams(run)
        # Without HMM, jieba leaves unknown words as single characters ("灯", "珠"): runs of content characters
        # are joined back into one word ("灯珠"), which is what the viewer asked about.
        words: list[str] = []
        glue = False
        for w in raw:
            single = len(w) == 1 and w not in STOP_CHARS
            if single and glue:
                words[-1] += w
            else:
                words.append(w)
            glue = single
        for w in words:
            if len(w) < 2 or w in STOPWORDS or w in skip or w in out:
                continue
            out.append(w)
    return out


def covered(word: str, sheet_text: str) -> bool:
    """Whether the sheet's text says ``word``: the word itself, a word inside it ("电池容量": "电池"), or (for a
    word of three or more characters) at least half of its character bigrams ("充电线" is covered by "充电")."""
    if word in sheet_text:
        return True
    if len(word) < 3:
        return False
    try:
        inner = [w for w in _jieba().lcut_for_search(word, HMM=False) if len(w) >= 2 and w != word]
    except Exception:
        inner = []
    if any(w in sheet_text and w not in STOPWORDS for w in inner):
        return True
    grams = _bigrams(word)
    return sum(1 for g in grams if g in sheet_text) * 2 >= len(grams)


__all__ = [
    "CJK",
    "MAX_CUSTOM_WORDS",
    "STOPWORDS",
    "Tokeniser",
    "add_words",
    "cjk_share",
    "content_words",
    "covered",
    "dictionary_version",
    "has_cjk",
    "jieba_available",
    "segment",
    "tokens",
    "warm_up",
]
