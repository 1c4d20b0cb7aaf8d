"""The one character policy for text the show did not write: viewer messages and names, the chat's posts back,
operator input, and product text fetched from a shop (HTML descriptions).

:func:`clean_untrusted` is the only place that decides which characters such text may keep. Callers that do
something else on top (chat triage's link and markup removal, intents' lower-casing for matching, the IRC
command guard) call it for the character part and never keep a character set of their own. Pure, no I/O,
never raises.

The policy, in order:

1. **Not text** (``None``, bytes, numbers): ``""``.
2. **Bounded work**: with a cap, only the first ``4 * max_chars + 64`` characters are looked at (a 1 MB message
   costs what a short one does).
3. **Control characters become spaces**: C0 (``U+0000``-``U+001F``, so NUL, ESC, CR, LF and tab), DEL, C1
   (``U+0080``-``U+009F``, NEL among them) and the Unicode line and paragraph separators. A space, not nothing, so
   ``is\\x00it`` stays two words. Line breaks are not kept: every consumer (chat, the prompt's JSON, an IRC line,
   speech, the dashboard's one-line views) is one line.
4. **Invisible characters are removed**: bidi embeddings, overrides and isolates (``U+202A``-``U+202E``,
   ``U+2066``-``U+2069``, LRM/RLM/ALM), zero-width space and non-joiner, word joiner and the other
   ``U+2060``-``U+206F`` format characters, soft hyphen, byte-order mark, interlinear annotation marks, invisible
   fillers (Hangul fillers, braille blank, Mongolian free variation selectors), variation selectors outside emoji,
   tag characters, private-use characters, lone surrogates (a JSON ``\\ud800`` escape: not text, and no encoder
   takes it), and the invisible format controls of Egyptian hieroglyphs, shorthand and musical symbols. They can
   hide or reorder text ("\\u202eevil" shows reversed) and split words a filter should see ("pri\\u200bce").
   Removed, not spaced: they are invisible, so the text reads as it looked.
5. **Emoji survive whole**: a zero-width joiner stays only between emoji (``👨\\u200d👩\\u200d👧``), a variation
   selector only after an emoji or a keycap base (``❤\\ufe0f``, ``1\\ufe0f\\u20e3``); elsewhere both are removed.
6. **Normalised**: NFC by default (canonical: nothing visibly changes, ``e\\u0301`` becomes ``é``). NFKC with
   ``normalize="NFKC"`` (compatibility: fullwidth ``ｆｒｅｅ`` becomes ``free``, ``①`` becomes ``1``): only for text
   that is matched against word lists and patterns (chat triage, intents), because it also turns Chinese fullwidth
   punctuation (``，！？``) into ASCII, which text read aloud or shown as written must keep.
7. **Piles of combining marks** (zalgo, ``Z̵̡͔̗``) are trimmed to two marks per letter.
8. **Whitespace collapsed** to single spaces, none at either end.
9. **Capped** at ``max_chars`` characters (None: no cap), never inside a grapheme (a letter and its marks, an emoji
   sequence, a flag's two regional indicators). With ``at_word`` (the default) the cut goes back to a word boundary
   when one is in the last 40 %, and drops trailing ``,;:-``; then ``ellipsis`` (default ``…``) is added, counted
   within the cap.

Text that has passed once comes back unchanged from a second pass with NFC and the same or a larger cap (NFKC text
is NFC too), so callers may chain: sanitise, strip something, sanitise again with a tighter cap. (A second NFKC
pass would spell an added ``…`` as ``...``.)
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

DEFAULT_MAX_CHARS = 500
"""The cap when a caller names none (a long chat message; the prompt's last line of defence)."""

#: Emoji and pictographs: where a zero-width joiner and variation selectors belong.
EMOJI_RANGES = "\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Format (Cf) characters that hide or reorder text, invisible fillers (Hangul fillers, braille blank), variation
# selectors 1-14, private use and tag characters. U+200D (zero-width joiner) and U+FE0E/U+FE0F (text and emoji
# presentation selectors) are handled apart: emoji need them.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u200c\u200e\u200f\u202a-\u202e"
    "\u2060-\u206f\u2800\u3164\ufe00-\ufe0d\ufeff\uffa0\ufff0-\ufffb\ue000-\uf8ff\ud800-\udfff"
    "\U000e0000-\U000e0fff\U000f0000-\U0010ffff\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a]"
)
_LONE_JOINER = re.compile(f"(?<![{EMOJI_RANGES}\ufe0f])\u200d|\u200d(?![{EMOJI_RANGES}])")
_LONE_SELECTOR = re.compile(f"(?<![#*0-9\u00a9\u00ae{EMOJI_RANGES}])[\ufe0e\ufe0f]")
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_MARK_PILE = re.compile(f"([{_MARKS}]{{2}})[{_MARKS}]+")

_ZWJ = "\u200d"
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
_SKIN_TONES = range(0x1F3FB, 0x1F400)


def clean_untrusted(
    raw: object,
    max_chars: int | None = DEFAULT_MAX_CHARS,
    *,
    normalize: Literal["NFC", "NFKC"] = "NFC",
    ellipsis: str = "…",
    at_word: bool = True,
) -> str:
    """``raw`` made safe to match, show, quote, post or speak (the policy is in the module docstring).

    ``max_chars``: the most characters returned, ``ellipsis`` included (None: no cap). ``normalize``: ``"NFKC"``
    only for text that is matched against lists (see the policy). ``ellipsis``: added when the text was cut
    (``""``: nothing). ``at_word``: cut at a word boundary when one is near, else at the last whole grapheme."""
    if not isinstance(raw, str):
        return ""
    s = raw if max_chars is None else raw[: max_chars * 4 + 64]
    if s.isascii():
        if not s.isprintable():
            s = _CONTROL.sub(" ", s)
    else:
        s = _CONTROL.sub(" ", s)
        s = _INVISIBLE.sub("", s)
        if _ZWJ in s:
            s = _LONE_JOINER.sub("", s)
        if "\ufe0f" in s or "\ufe0e" in s:
            s = _LONE_SELECTOR.sub("", s)
        s = unicodedata.normalize(normalize, s)
        s = _MARK_PILE.sub(r"\1", s)
    s = " ".join(s.split())
    if max_chars is None or len(s) <= max_chars:
        return s
    return _cut(s, max_chars, ellipsis=ellipsis, at_word=at_word)


def _cut(s: str, max_chars: int, *, ellipsis: str, at_word: bool) -> str:
    room = max(0, max_chars - len(ellipsis))
    keep = s[: grapheme_floor(s, room)]
    if at_word:
        space = keep.rfind(" ")
        if space >= max_chars * 0.6:
            keep = keep[:space]
        keep = keep.rstrip(" ,;:-")
    else:
        keep = keep.rstrip()
    return keep + ellipsis if len(ellipsis) <= max_chars else keep


def grapheme_floor(s: str, i: int) -> int:
    """The largest index ``<= i`` where ``s`` may be cut without splitting a grapheme: never before a combining
    mark, a zero-width joiner, a variation selector, a skin-tone modifier or a trailing Hangul jamo, never after a
    zero-width joiner, and never between the two regional indicators of a flag."""
    i = max(0, min(i, len(s)))
    while 0 < i < len(s):
        here, before = s[i], s[i - 1]
        if here.isascii() and before.isascii():
            return i
        if before == _ZWJ or not _starts_grapheme(here) or _inside_flag(s, i):
            i -= 1
            continue
        return i
    return i


def _starts_grapheme(ch: str) -> bool:
    code = ord(ch)
    if ch == _ZWJ or 0xFE00 <= code <= 0xFE0F or code in _SKIN_TONES or 0xE0020 <= code <= 0xE007F:
        return False
    if 0x1160 <= code <= 0x11FF:  # Hangul vowel and final jamo continue a syllable
        return False
    return not unicodedata.category(ch).startswith("M")


def _inside_flag(s: str, i: int) -> bool:
    """Whether ``i`` falls between the two regional indicators of one flag (an odd count of them before ``i``)."""
    if ord(s[i]) not in _REGIONAL_INDICATORS:
        return False
    n = 0
    j = i - 1
    while j >= 0 and ord(s[j]) in _REGIONAL_INDICATORS:
        n += 1
        j -= 1
    return n % 2 == 1


__all__ = ["DEFAULT_MAX_CHARS", "EMOJI_RANGES", "clean_untrusted", "grapheme_floor"]
