"""Streaming sentence splitter: token deltas in, complete spoken sentences out as soon as each one ends.

Pure logic (no I/O, no clock). An LLM writes a few characters at a time; the voice wants whole sentences, and the
sooner the first one is out the sooner the host speaks. :class:`SentenceSplitter` holds the unfinished text and hands
back every sentence whose end it is sure of:

- stops: ``. ! ? …`` (sure once the next character shows it is not ``$19.99``, ``e.g.,`` or ``Node.js``) and the
  Chinese ``。！？；`` (a stop whatever follows); runs like ``?!`` or ``...`` and closing quotes, brackets and
  markdown markers right after a stop belong to the sentence;
- abbreviations (``Mr.``, ``Dr.``, ``vs.``, ``e.g.``, ``approx.``, ``No. 5``) do not end a sentence; ``etc.``,
  ``a.m.``, ``U.S.`` and an ellipsis end one only when the next word starts with a capital (or is Chinese);
- a line break ends a sentence (markdown lists and headings come one item a line);
- a run of more than ``max_chars`` without a stop is cut at its last comma (else space) so speech can start.

Every sentence that comes out is plain speakable text: markdown (bold, code, links, bullets, numbered-list markers,
headings, quotes), emojis and role prefixes (``Host:``, ``Assistant:``, ``主播：``, the persona's name) are removed.
A piece with nothing speakable in it (``1.``, a row of emojis) is not a sentence: it joins the next one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

HARD_STOPS = frozenset("!?。！？；")
"""Always end a sentence (once any closers after them are seen)."""
STOPS = HARD_STOPS | frozenset(".…")
CJK_STOPS = frozenset("。！？；")
"""Chinese stops end a sentence whatever follows: Chinese puts no space after them."""
CLOSERS = frozenset("\"'”’»)]}）】」』》〉*_`~")
"""Characters that stay with the sentence when they follow its stop (closing quotes, brackets, markdown)."""
OPENERS = frozenset("\"'“‘«([{（【「『《〈*_`~")
CUT_AFTER = ",，、;:：—"
"""Where a long run without stops is preferably cut (after the character)."""

#: Never end a sentence after these (lower case, without the final period).
ALWAYS_ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "vs", "v", "e.g", "i.e", "cf", "approx",
        "appx", "fig", "incl", "ca", "esp", "ref", "vol", "ed", "gen", "col", "lt", "sgt", "capt", "rev", "hon",
    }
)  # fmt: skip
#: End a sentence after these only when the next word starts with a capital letter (or is Chinese).
SOFT_ABBREVIATIONS = frozenset(
    {
        "etc", "inc", "ltd", "co", "corp", "dept", "a.m", "p.m", "u.s", "u.k", "u.s.a", "e.u", "oz", "lb", "lbs",
        "ft", "hr", "hrs", "min", "mins", "sec", "secs", "pcs", "pc", "qty", "max", "avg", "est", "jan", "feb",
        "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    }
)  # fmt: skip
#: Before a digit these are "number" (``No. 5``, ``Nos. 3 and 4``), never the end of a sentence.
NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "nr", "art", "p", "pp", "ch", "sec", "vol", "fig"})

DEFAULT_ROLE_NAMES = ("host", "assistant", "ai", "presenter", "streamer", "narrator", "system", "主播", "助手")

_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, supplemental symbols
    "\U00002600-\U000027bf"  # misc symbols and dingbats (★, ✔, ❤)
    "\U00002b00-\U00002bff"  # stars and arrows (⭐)
    "\U0001f3fb-\U0001f3ff"  # skin tones
    "\U0000fe00-\U0000fe0f"  # variation selectors
    "\U000e0020-\U000e007f"  # tag characters (flag sequences)
    "\u200d\u20e3\u2300-\u23ff\u3030\u303d\u3297\u3299"
    "]+"
)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_PAIRED = re.compile(r"(\*\*|__|~~)(.+?)\1")
_CODE = re.compile(r"`+([^`]*)`+")
_LINE_MARKER = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]*|[-*+•·][ \t]+|\d{1,2}[.)][ \t]+)", re.MULTILINE)
_STRAY_MARKS = re.compile(r"\*+|(?<!\w)_+|_+(?!\w)|`+|~~")
_SPACES = re.compile(r"\s+")
_LIST_MARKER_ONLY = re.compile(r"\s*(?:\d{1,2}[.)]|[-*+•·#>]+)\s*")


def is_cjk(ch: str) -> bool:
    """Chinese, Japanese and Korean letters (they have no upper case and no spaces between sentences)."""
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # kana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xAC00 <= o <= 0xD7AF  # hangul
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FFFF
    )


def strip_markup(text: str, role_names: Iterable[str] = DEFAULT_ROLE_NAMES) -> str:
    """``text`` as plain speech: markdown, emojis and a leading role prefix removed, whitespace collapsed."""
    s = _EMOJI.sub("", text)
    s = _LINK.sub(r"\1", s)
    s = _PAIRED.sub(r"\2", s)
    s = _CODE.sub(r"\1", s)
    s = _LINE_MARKER.sub("", s)
    s = _STRAY_MARKS.sub("", s)
    s = _SPACES.sub(" ", s).strip()
    names = sorted({n.strip() for n in role_names if n.strip()}, key=len, reverse=True)
    if names:
        prefix = re.compile(r"^(?:" + "|".join(re.escape(n) for n in names) + r")\s*[:：]\s*", re.IGNORECASE)
        # "Host: AI: ..." happens; strip a few in a row.
        for _ in range(3):
            s2 = prefix.sub("", s)
            if s2 == s:
                break
            s = s2
    return s.strip()


def speakable(text: str) -> bool:
    """Whether a cleaned piece has something to say (a letter or digit), beyond a bare list marker."""
    return any(ch.isalnum() for ch in text) and not _LIST_MARKER_ONLY.fullmatch(text)


class SentenceSplitter:
    """Incremental splitter. ``feed(delta)`` returns the sentences completed so far; ``flush()`` the rest at the end.

    Never returns an empty string; never holds more than about ``max_chars`` plus one delta of text. Not thread-safe;
    one splitter per answer.
    """

    __slots__ = ("_buf", "_roles", "max_chars", "min_cut_chars")

    def __init__(self, *, max_chars: int = 200, min_cut_chars: int = 40, role_names: Iterable[str] = ()) -> None:
        if not 20 <= max_chars <= 2000:
            raise ValueError("max_chars must be between 20 and 2000")
        self.max_chars = max_chars
        self.min_cut_chars = min(min_cut_chars, max_chars // 2)
        self._roles = (*DEFAULT_ROLE_NAMES, *role_names)
        self._buf = ""

    @property
    def pending(self) -> str:
        """Raw text not yet returned as a sentence."""
        return self._buf

    def reset(self) -> None:
        self._buf = ""

    def feed(self, delta: str) -> list[str]:
        """Add a piece of streamed text; return the sentences it completed, in order."""
        if not delta:
            return []
        self._buf += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """The end of the text: return what is left (the tail, possibly without a stop) and reset."""
        out = self._drain(final=True)
        tail = strip_markup(self._buf, self._roles)
        self._buf = ""
        if speakable(tail):
            out.append(_with_stop(tail))
        return out

    # ---- internals --------------------------------------------------------------------------------------------

    def _drain(self, *, final: bool) -> list[str]:
        out: list[str] = []
        while self._buf:
            end = _find_end(self._buf, final=final, roles=self._roles)
            if end is None:
                if len(self._buf) <= self.max_chars:
                    break
                end = self._cut_point()
            piece, self._buf = self._buf[:end], self._buf[end:].lstrip()
            text = strip_markup(piece, self._roles)
            if speakable(text):
                out.append(_with_stop(text) if piece.rstrip(" \t").endswith("\n") else text)
        return out

    def _cut_point(self) -> int:
        window = self._buf[: self.max_chars]
        best = max(window.rfind(c) for c in CUT_AFTER)
        if best >= self.min_cut_chars:
            return best + 1
        space = max(window.rfind(" "), window.rfind("\u3000"))
        if space >= self.min_cut_chars:
            return space + 1
        return self.max_chars


def _with_stop(text: str) -> str:
    """A period for a sentence that ended at a line break or the end of the text (for the voice's intonation)."""
    if text and (text[-1].isalnum()):
        return text + ("。" if is_cjk(text[-1]) else ".")
    return text


def _find_end(text: str, *, final: bool, roles: Iterable[str]) -> int | None:
    """Index just past the first sure sentence end in ``text``, or None if no end is sure yet."""
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\n":
            if speakable(strip_markup(text[:i], roles)):
                return i + 1
            i += 1
            continue
        if c not in STOPS:
            i += 1
            continue
        j = i
        while j < n and text[j] in STOPS:
            j += 1
        k = j
        while k < n and text[k] in CLOSERS:
            k += 1
        verdict = _ends_here(text, i, j, k, final=final)
        if verdict is None:
            return None  # later text decides; nothing after an undecided end can go out first
        if verdict and speakable(strip_markup(text[:k], roles)):
            return k
        i = k
    return None


def _ends_here(text: str, i: int, j: int, k: int, *, final: bool) -> bool | None:
    """Whether the stop run ``text[i:j]`` (closers up to ``k``) ends a sentence; None while it cannot be told."""
    run = text[i:j]
    if any(ch in CJK_STOPS for ch in run):
        return True if k < len(text) or final else None
    if k >= len(text):
        return True if final else None
    after = text[k]
    if not (after.isspace() or is_cjk(after)):
        return False  # "$19.99", "e.g.,", "Node.js", "?!" handled as a run
    if "!" in run or "?" in run:
        return True
    if run == ".":
        word = _word_before(text, i)
        if word in ALWAYS_ABBREVIATIONS:
            return False
        if word not in NUMBER_ABBREVIATIONS and word not in SOFT_ABBREVIATIONS and not _is_dotted(word):
            return True
    # An ellipsis, or a period after an abbreviation: the next word decides.
    nxt = _next_visible(text, k)
    if nxt is None:
        return True if final else None
    if run == "." and nxt.isdigit() and _word_before(text, i) in NUMBER_ABBREVIATIONS:
        return False
    return _starts_new(nxt)


def _next_visible(text: str, k: int) -> str | None:
    for ch in text[k:]:
        if ch == "\n":
            return "\n"
        if ch.isspace() or ch in OPENERS:
            continue
        return ch
    return None


def _starts_new(ch: str) -> bool:
    return ch == "\n" or ch.isupper() or is_cjk(ch)


def _word_before(text: str, i: int) -> str:
    start = i
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:i].lstrip("".join(OPENERS)).lower()


def _is_dotted(word: str) -> bool:
    """``u.s``, ``a.m``, ``p.r.c``: letters with periods between (an abbreviation written with dots)."""
    parts = word.split(".")
    return len(parts) >= 2 and all(1 <= len(p) <= 2 and p.isalpha() for p in parts)


def split_sentences(text: str, *, max_chars: int = 200, role_names: Iterable[str] = ()) -> list[str]:
    """All sentences of a finished text (the same rules as streaming it)."""
    splitter = SentenceSplitter(max_chars=max_chars, role_names=role_names)
    return [*splitter.feed(text), *splitter.flush()]


#: A lead clause must last long enough for the rest to be voiced while it is heard: at least this many words
#: (about 1.5 s of speech; Chinese counts two characters as a word).
LEAD_MIN_WORDS = 5
LEAD_REST_MIN_WORDS = 3
#: The rest may be at most this many times longer than the lead (synthesis runs at ~0.15-0.25 of real time on
#: two loaded cores, so it is ready before the lead has been said).
LEAD_REST_MAX_RATIO = 3.0
_CLAUSE_END = re.compile(r"[,;:—](?=\s)|[，；：、]")
_LIST_GOES_ON = re.compile(r"[^,;:.!?]{1,40}?(?:,|\s(?:and|or)\s)", re.IGNORECASE)
"""After a comma: the next item of a list ("slate grey, forest green and ..."): not a place to pause long."""


def _spoken_words(text: str) -> float:
    cjk = sum(1 for ch in text if is_cjk(ch))
    latin = len(re.findall(r"[^\W_]+(?:['’][^\W_]+)*", "".join(" " if is_cjk(ch) else ch for ch in text)))
    return latin + cjk / 2


def split_lead(sentence: str) -> tuple[str, str] | None:
    """Where an answer's first sentence may be voiced in two parts so that it starts sooner: after the first
    clause (comma, semicolon, colon, dash; Chinese ，；：、) that is at least :data:`LEAD_MIN_WORDS` long and leaves
    a rest of at least :data:`LEAD_REST_MIN_WORDS` that is not much longer than the lead. None when there is no
    such clause (short sentences are voiced whole). A bare name ("Leo,") is never a lead on its own: said alone
    it is followed by a silence while the rest is voiced."""
    for m in _CLAUSE_END.finditer(sentence):
        lead, rest = sentence[: m.end()].strip(), sentence[m.end() :].strip()
        lead_words, rest_words = _spoken_words(lead), _spoken_words(rest)
        if lead_words < LEAD_MIN_WORDS:
            continue
        if m.group() in ",、" and _LIST_GOES_ON.match(rest):
            continue
        if rest_words < LEAD_REST_MIN_WORDS or rest_words > LEAD_REST_MAX_RATIO * lead_words:
            return None
        return lead, rest
    return None
