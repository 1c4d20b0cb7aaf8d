"""Chinese text and phonemes: spoken units, syllable ends and mouth shapes (pure logic, no I/O, no piper import).

Cut points in Chinese: one Han character is one spoken syllable, so the places where a sentence may be cut (the
``VisemeTrack.boundaries``) are the ends of syllables, and what viewers heard is the characters said before the
cut. We cut between *characters*, not between jieba words: it needs no segmenter (none is installed), a reply
then waits at most one syllable (~0.2 s), and a Chinese listener hears a clean stop after any syllable.

Piper's Chinese voices read text in one of two ways (piper-tts 1.8, ``PiperConfig.phoneme_type``):

* ``espeak`` with the espeak-ng voice ``cmn`` (zh_CN-huayan-* and other voices trained the classic way). espeak
  writes each syllable as IPA with a tone mark after the vowel and before a nasal coda: ``tɕˈi5n`` (今),
  ``lˈaiɜ`` (来), ``χˈɑu2`` (好), ``mˈə1n`` (们). The tone marks seen are ``5`` (tones 1 and 4), ``ɜ`` (tone 2,
  espeak's mnemonic ``3`` printed as IPA), ``2`` (tone 3) and ``1`` (neutral); ``.`` and ``-`` after a letter
  modify it (``s.`` retroflex, ``i.`` apical vowel, ``o-`` the vowel ɤ). Words are separated by spaces but a
  dictionary word is written without one (``ni2χˈɑu2``, 你好), so spaces are not character boundaries.
* ``pinyin`` (g2pW): initial, final and tone digit per syllable (``zh ang 1``), Piper's padding only after each
  tone or punctuation. It needs the g2pW model and the ``piper-tts[zh]`` extras (see :mod:`streamer.voice.check`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamer.voice.visemes import group_durations

# ---- text -------------------------------------------------------------------------------------------------------

_HAN_RANGES = (
    (0x3400, 0x4DBF),  # Extension A
    (0x4E00, 0x9FFF),  # Unified Ideographs
    (0xF900, 0xFAFF),  # Compatibility Ideographs
    (0x20000, 0x2FA1F),  # Extensions B..F and the supplement
)


def is_han(ch: str) -> bool:
    """Whether ``ch`` (one character) is a Han character (or 〇, the ideographic zero)."""
    cp = ord(ch)
    return cp == 0x3007 or any(lo <= cp <= hi for lo, hi in _HAN_RANGES)


def has_han(text: str) -> bool:
    return any(is_han(ch) for ch in text)


@dataclass(frozen=True, slots=True)
class SpokenUnit:
    """One unit of a sentence that is said as a whole: a Han character or a space-separated word.

    ``joiner`` is what stands between the previous unit and this one when heard text is written back (``" "`` or
    ``""``). Punctuation belongs to the unit before it (or, at the start, to the unit after it).
    """

    text: str
    joiner: str


def spoken_units(text: str) -> list[SpokenUnit]:
    """The units of ``text`` in order.

    Text without Han characters: its whitespace-separated words (so English works exactly as ``text.split()``).
    Text with Han characters: each Han character is a unit; runs of other letters or digits (``iPhone``, ``99``)
    are one unit each; punctuation joins the unit before it.
    """
    if not has_han(text):
        return [SpokenUnit(word, " ") for word in text.split()]
    units: list[SpokenUnit] = []
    prefix = ""  # punctuation before the first unit
    joiner = ""
    building_word = False  # the last unit is a run of non-Han letters/digits that may grow
    for ch in text:
        if ch.isspace():
            if units:
                joiner = " "
            building_word = False
            continue
        if is_han(ch):
            units.append(SpokenUnit(prefix + ch, joiner))
            prefix, joiner, building_word = "", "", False
        elif ch.isalnum():
            if building_word and not joiner:
                last = units[-1]
                units[-1] = SpokenUnit(last.text + ch, last.joiner)
            else:
                units.append(SpokenUnit(prefix + ch, joiner))
                prefix, joiner = "", ""
            building_word = True
        elif units and not joiner:
            last = units[-1]
            units[-1] = SpokenUnit(last.text + ch, last.joiner)
            building_word = False
        elif units:
            # Punctuation after a space ("好 ！"): still the previous unit's, written with its space.
            last = units[-1]
            units[-1] = SpokenUnit(last.text + joiner + ch, last.joiner)
            joiner, building_word = "", False
        else:
            prefix += ch
    if prefix and units:
        last = units[-1]
        units[-1] = SpokenUnit(last.text + prefix, last.joiner)
    return units


def join_units(units: Sequence[SpokenUnit]) -> str:
    """The units written back as text, the first one without its joiner."""
    if not units:
        return ""
    return units[0].text + "".join(u.joiner + u.text for u in units[1:])


# ---- voices -----------------------------------------------------------------------------------------------------

#: espeak-ng voices that speak Chinese (Mandarin and Cantonese); the tone-mark syllable rules below fit Mandarin.
ESPEAK_CHINESE = frozenset({"cmn", "zh", "yue", "zh-yue", "cmn-latn-pinyin", "sit/cmn", "sit/yue"})


def voice_language(config: Mapping[str, object]) -> str:
    """The language of a Piper voice config (its ``.onnx.json``) as ``"zh_CN"``, ``"en_US"``..., or its espeak
    voice when the config names no language ("" if neither)."""
    lang = config.get("language")
    if isinstance(lang, Mapping):
        code = lang.get("code") or lang.get("family")
        if isinstance(code, str) and code:
            return code
    espeak = config.get("espeak")
    if isinstance(espeak, Mapping):
        voice = espeak.get("voice")
        if isinstance(voice, str):
            return voice
    return ""


def chinese_mode(config: Mapping[str, object]) -> str | None:
    """``"pinyin"`` or ``"espeak"`` when the voice config describes a Chinese voice, else None."""
    if config.get("phoneme_type") == "pinyin":
        return "pinyin"
    espeak = config.get("espeak")
    voice = espeak.get("voice") if isinstance(espeak, Mapping) else None
    if isinstance(voice, str) and voice.lower() in ESPEAK_CHINESE:
        return "espeak"
    lang = voice_language(config).lower().replace("-", "_")
    if lang == "zh" or lang.startswith("zh_"):
        return "espeak" if config.get("phoneme_type", "espeak") == "espeak" else None
    return None


# ---- espeak cmn phonemes ----------------------------------------------------------------------------------------

#: Tone marks in espeak-ng's Mandarin IPA (see the module docstring). 3 and 4 are listed in case a future espeak
#: prints them as digits.
ESPEAK_TONES = frozenset("12345ɜ")
_MODIFIERS = frozenset(".-")
_STRESS = frozenset("ˈˌ")
_VOWEL_START = frozenset("aɑɐæʌɒəɘɜɛeɤiɪɨoɔuʊyʏøœɯ")
#: A symbol with no mouth shape of its own whose time joins the previous key (see visemes.viseme_for_phoneme).
JOIN_PREV_SYMBOL = "˥"
#: A symbol whose time joins the next key.
JOIN_NEXT_SYMBOL = "ˈ"


def espeak_syllable_ends(symbols: Sequence[str]) -> list[int]:
    """Index of the last symbol of each Mandarin syllable in espeak ``cmn`` output (one per tone mark).

    A syllable ends at its tone mark, or at the nasal coda after it: ``ŋ`` always (it never starts a syllable),
    ``n`` unless a vowel or stress mark follows (then it starts the next syllable, as in ``ni2``).
    """
    ends: list[int] = []
    n = len(symbols)
    for i, s in enumerate(symbols):
        if s not in ESPEAK_TONES or i == 0 or symbols[i - 1] in (" ", "^", "_"):
            continue
        end = i
        j = i + 1
        if j < n and symbols[j] == "ŋ":
            end = j
        elif j < n and symbols[j] == "n":
            after = symbols[j + 1] if j + 1 < n else ""
            if not after or (after[:1] not in _VOWEL_START and after not in _STRESS):
                end = j
        ends.append(end)
    return ends


def espeak_viseme_symbols(symbols: Sequence[str]) -> list[str]:
    """espeak ``cmn`` symbols rewritten for :func:`~streamer.voice.visemes.track_from_phonemes`, one for one.

    Tone marks (``ɜ`` would otherwise read as an open vowel) and the modifiers ``.``/``-`` after a letter (they
    would otherwise read as punctuation, a resting mouth mid-word) become marks that join the previous key.
    """
    out: list[str] = []
    prev = ""
    for s in symbols:
        if s in ESPEAK_TONES and prev not in ("", " ", "^", "_"):
            out.append(JOIN_PREV_SYMBOL)
        elif s in _MODIFIERS and prev not in ("", " ", "^", "_") and prev not in ESPEAK_TONES:
            out.append(JOIN_PREV_SYMBOL)
        else:
            out.append(s)
        prev = s
    return out


# ---- pinyin phonemes (phoneme_type: pinyin) ---------------------------------------------------------------------

PINYIN_TONES = frozenset("12345")
#: Piper pads after these (piper.phonemize_chinese.GROUP_END_PHONEMES).
PINYIN_GROUP_END = PINYIN_TONES | frozenset("。？！.?!—…、，：；,:; ")

#: Initials as the IPA consonant whose mouth shape they have (the zero initial Ø has none: it joins the final).
_PINYIN_INITIALS: dict[str, str] = {
    "Ø": JOIN_NEXT_SYMBOL,
    "b": "b",
    "p": "p",
    "m": "m",
    "f": "f",
    "d": "d",
    "t": "t",
    "n": "n",
    "l": "l",
    "g": "ɡ",
    "k": "k",
    "h": "x",
    "j": "ɕ",
    "q": "ɕ",
    "x": "ɕ",
    "zh": "ʂ",
    "ch": "ʂ",
    "sh": "ʂ",
    "r": "ʐ",
    "z": "s",
    "c": "s",
    "s": "s",
    "y": "j",
    "w": "w",
}

#: Finals as (IPA symbol, weight) parts: a glide (1), the nucleus (2), an off-glide or nasal coda (1). The final's
#: duration is shared by weight, so "uai" shows rounded, open, then spread lips.
_PINYIN_FINALS: dict[str, tuple[tuple[str, int], ...]] = {
    "a": (("a", 2),),
    "o": (("o", 2),),
    "e": (("ɤ", 2),),
    "ai": (("a", 2), ("i", 1)),
    "ei": (("e", 2), ("i", 1)),
    "ao": (("a", 2), ("u", 1)),
    "ou": (("o", 2), ("u", 1)),
    "an": (("a", 2), ("n", 1)),
    "en": (("ə", 2), ("n", 1)),
    "ang": (("a", 2), ("ŋ", 1)),
    "eng": (("ə", 2), ("ŋ", 1)),
    "ong": (("u", 2), ("ŋ", 1)),
    "i": (("i", 2),),
    "ia": (("j", 1), ("a", 2)),
    "ie": (("j", 1), ("e", 2)),
    "iao": (("j", 1), ("a", 2), ("u", 1)),
    "iu": (("j", 1), ("o", 2), ("u", 1)),
    "ian": (("j", 1), ("e", 2), ("n", 1)),
    "in": (("i", 2), ("n", 1)),
    "iang": (("j", 1), ("a", 2), ("ŋ", 1)),
    "ing": (("i", 2), ("ŋ", 1)),
    "iong": (("j", 1), ("u", 2), ("ŋ", 1)),
    "u": (("u", 2),),
    "ua": (("w", 1), ("a", 2)),
    "uo": (("w", 1), ("o", 2)),
    "uai": (("w", 1), ("a", 2), ("i", 1)),
    "ui": (("w", 1), ("e", 2), ("i", 1)),
    "uan": (("w", 1), ("a", 2), ("n", 1)),
    "un": (("w", 1), ("ə", 2), ("n", 1)),
    "uang": (("w", 1), ("a", 2), ("ŋ", 1)),
    "ueng": (("w", 1), ("ə", 2), ("ŋ", 1)),
    "v": (("y", 2),),
    "ve": (("ɥ", 1), ("e", 2)),
    "van": (("ɥ", 1), ("a", 2), ("n", 1)),
    "vn": (("y", 2), ("n", 1)),
    "er": (("ə", 2), ("ɻ", 1)),
    "ue": (("ɥ", 1), ("e", 2)),
}

_PINYIN_PAUSES = frozenset("。？！.?!—…、，：；,:;")


def pinyin_parts(symbol: str) -> tuple[tuple[str, int], ...]:
    """One pinyin phoneme as weighted IPA parts for the viseme track (tones and unknowns join the previous key)."""
    if symbol in _PINYIN_INITIALS:
        return ((_PINYIN_INITIALS[symbol], 1),)
    if symbol in _PINYIN_FINALS:
        return _PINYIN_FINALS[symbol]
    if symbol in _PINYIN_PAUSES:
        return ((".", 1),)
    if symbol in (" ", "^", "$", "_"):
        return ((symbol, 1),)
    return ((JOIN_PREV_SYMBOL, 1),)


def pinyin_syllable_ends(symbols: Sequence[str]) -> list[int]:
    """Index of each tone digit (the last phoneme of a pinyin syllable)."""
    return [i for i, s in enumerate(symbols) if s in PINYIN_TONES and i > 0]


def pinyin_phoneme_durations(
    phonemes: Sequence[str],
    phoneme_ids: Sequence[int],
    id_samples: Sequence[int],
    id_map: Mapping[str, Sequence[int]],
) -> tuple[list[str], list[int]] | None:
    """Samples per phoneme for a pinyin voice, or None if the ids do not match the phonemes.

    Piper's pinyin layout (``piper.phonemize_chinese.phonemes_to_ids``) is ``^ p1 p2 tone _ p3 ... $``: padding
    only after a group-end phoneme (a tone or punctuation), none after ``^``. That pad is the group end's own tail,
    so it is counted with it.
    """
    pad = list(id_map.get("_", ()))
    samples = [int(x) for x in id_samples]
    if len(samples) != len(phoneme_ids) or len(pad) != 1:
        return None
    groups: list[tuple[str, list[int]]] = [("^", list(id_map.get("^", ())))]
    for p in phonemes:
        ids = id_map.get(p)
        if ids:
            groups.append((p, [*ids, *pad] if p in PINYIN_GROUP_END else list(ids)))
    groups.append(("$", list(id_map.get("$", ()))))
    return group_durations(groups, phoneme_ids, samples)


# ---- both -------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ZhTiming:
    """Chinese phonemes ready for :func:`~streamer.voice.visemes.track_from_phonemes`."""

    symbols: list[str]
    durations: list[int]
    boundary_after: list[int]
    """Indices into ``symbols`` after which a syllable ends (all but the last syllable): the cut points."""
    syllables: int


def zh_timing(mode: str, symbols: Sequence[str], durations: Sequence[int]) -> ZhTiming:
    """Viseme symbols, durations and syllable cut points for the raw phonemes of a Chinese voice.

    ``symbols``/``durations`` are the voice's own phonemes with their native-rate durations (``^``/``$`` included).
    """
    if len(symbols) != len(durations):
        raise ValueError(f"{len(symbols)} phonemes but {len(durations)} durations")
    if mode == "espeak":
        ends = espeak_syllable_ends(symbols)
        return ZhTiming(
            symbols=espeak_viseme_symbols(symbols),
            durations=[int(d) for d in durations],
            boundary_after=ends[:-1],
            syllables=len(ends),
        )
    if mode != "pinyin":
        raise ValueError(f"unknown Chinese phoneme mode {mode!r}")
    tone_at = set(pinyin_syllable_ends(symbols))
    out_symbols: list[str] = []
    out_durations: list[int] = []
    boundary_after: list[int] = []
    for i, (symbol, duration) in enumerate(zip(symbols, durations, strict=True)):
        parts = pinyin_parts(symbol)
        total_w = sum(w for _, w in parts)
        given = 0
        for k, (ipa, w) in enumerate(parts):
            share = int(duration) - given if k == len(parts) - 1 else int(duration) * w // total_w
            given += share
            out_symbols.append(ipa)
            out_durations.append(share)
        if i in tone_at:
            boundary_after.append(len(out_symbols) - 1)
    return ZhTiming(
        symbols=out_symbols, durations=out_durations, boundary_after=boundary_after[:-1], syllables=len(tone_at)
    )
