"""Every language's words in one place: what the host says around facts, and the on-screen texts.

:func:`tables` returns the :class:`LanguageTables` of a persona language (``"zh-CN"`` -> ``zh``), English for a
language without its own tables. The tables are pure data (no I/O, no imports of the rest of the app), so config,
brain, speaker and compositor can all read them without import cycles.

What the tables never contain: numbers or number words. Every number the host says comes from a product sheet;
the words here only surround facts (placeholders such as ``{name}``, ``{price}``, ``{text}``).

Languages with only on-screen texts (the AI label, "no image") are in :data:`SCREEN_TEXTS`; their speech falls back
to English tables (and ``check`` warns about such a persona).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ScreenTexts:
    """What the picture says: the AI label burned into every frame, the default AI notice, the no-image text."""

    ai_label: str
    no_image: str
    notice: str | None = None
    """The opening AI notice; None: the English one (a persona can always set its own)."""


@dataclass(frozen=True, slots=True)
class LanguageTables:
    """One language's words for the host.

    ``phrases``: the offline brain's answer phrasings by key (``"price"``, ``"unknown"``, ...), each a list of
    alternatives. ``patter``: the template brain's phrasings by idea (``"hook"``, ``"price_sale"``, ...).
    ``feature_leads``: words leading the n-th feature ("First of all", "还有"). ``spec_shapes``: (regex on the spec
    label, sentence with ``{v}`` and ``{label}``), the first match wins. ``spec_labels``: spec labels said in this
    language (``"diameter"`` -> ``"直径"``); ``units``: spoken unit of a key suffix (``cm`` -> ``厘米``).
    ``thanks``: merged thank-you lines with ``{who}``; ``everyone``: ``{who}`` with no names; ``name_sep`` and
    ``name_and``: how names are listed. ``disclosure``: the guard's replacement for a claim to be human.
    ``full_stop``: added to a sentence without end punctuation.
    """

    code: str
    phrases: Mapping[str, list[str]]
    patter: Mapping[str, tuple[str, ...]]
    feature_leads: tuple[str, ...]
    spec_shapes: tuple[tuple[str, str], ...]
    spec_list_labels: str
    """Regex on a label whose value is a list of options ("colours", "颜色")."""
    spec_list_shape: str
    spec_count_shape: str
    spec_default_shape: str
    spec_labels: Mapping[str, str]
    units: Mapping[str, str]
    thanks: tuple[str, ...]
    everyone: str
    name_sep: str
    name_and: str
    disclosure: str
    screen: ScreenTexts
    full_stop: str
    extra: Mapping[str, str] = field(default_factory=dict)
    welcome: tuple[str, ...] = ()
    """Thank-yous for greetings and joins only ("Lovely to see you, {who}!"); with gifts or likes, ``thanks``."""
    thanks_purchase: tuple[str, ...] = ()
    """Thank-yous for orders ("Thank you for your order, {who}!")."""
    spoken_disclosure: tuple[str, ...] = ()
    """What the host says at the start and every ``disclosure.spoken_every_min`` (:class:`streamer.config.Disclosure`):
    that it is an AI host, plainly, in a few phrasings said in turn (the first is the plainest: it opens the show).
    ``{host}``: the persona's name. Every line must pass :func:`names_ai`. Empty: the English lines."""


#: Words that say "AI" in the languages the AI label supports: a spoken disclosure (default or the persona's own)
#: must contain one, so no phrasing can leave a viewer unsure that the host is an AI. "AI" and "KI"/"IA" only as
#: words of their own in Latin script ("said" does not count; "我是AI主播" does).
AI_WORDS = re.compile(
    r"(?<![A-Za-z])(?:AI|A\.I\.|KI|IA)(?![A-Za-z])|artificial intelligence|künstliche intelligenz"
    r"|intelligence artificielle|inteligencia artificial|人工智能|人工知能",
    re.IGNORECASE,
)


def names_ai(text: str) -> bool:
    """Whether ``text`` says in so many words that the speaker is an AI (see :data:`AI_WORDS`)."""
    return AI_WORDS.search(text) is not None


def language_code(language: str) -> str:
    """``"zh-CN"`` -> ``"zh"``, ``"EN"`` -> ``"en"``."""
    return (language or "en").replace("_", "-").split("-")[0].strip().lower() or "en"


#: The writing system of each language that is not written in Latin letters (the rest: ``latin``).
_SCRIPTS = {"zh": "han", "ja": "kana", "ko": "hangul", "ru": "cyrillic", "uk": "cyrillic", "ar": "arabic"}


def script_of(language: str) -> str:
    """The writing system ``language`` is written in: ``han``, ``kana``, ``hangul``, ``cyrillic``, ``arabic`` or
    ``latin``."""
    return _SCRIPTS.get(language_code(language), "latin")


def written_script(text: str) -> str | None:
    """The writing system a comment is written in, by its letters: kana marks Japanese (which also uses Han
    characters), any Han character Chinese, then Hangul, Cyrillic, Arabic, Latin letters; None for a comment with no
    letters ("??", "666", emoji). Numbers, emoji and punctuation are not letters of any script."""
    han = kana = hangul = cyrillic = arabic = latin = 0
    for ch in text:
        cp = ord(ch)
        if 0x3040 <= cp <= 0x30FF:
            kana += 1
        elif 0x3400 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x2FA1F:
            han += 1
        elif 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF:
            hangul += 1
        elif 0x0400 <= cp <= 0x04FF:
            cyrillic += 1
        elif 0x0600 <= cp <= 0x06FF:
            arabic += 1
        elif (ch.isascii() and ch.isalpha()) or 0x00C0 <= cp <= 0x024F:
            latin += 1
    if kana:
        return "kana"
    if han:
        return "han"
    counts = {"hangul": hangul, "cyrillic": cyrillic, "arabic": arabic, "latin": latin}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


def _registry() -> dict[str, LanguageTables]:
    # The language modules import LanguageTables from here: imported once it is defined.
    from streamer.lang.en import TABLES as EN
    from streamer.lang.zh import TABLES as ZH

    return {"en": EN, "zh": ZH}


TABLES: dict[str, LanguageTables] = _registry()
"""Languages with full tables (speech and screen)."""

SCREEN_TEXTS: dict[str, ScreenTexts] = {
    **{code: t.screen for code, t in TABLES.items()},
    "ja": ScreenTexts(ai_label="AI生成", no_image="画像なし"),
    "de": ScreenTexts(ai_label="KI-generiert", no_image="Kein Bild"),
    "fr": ScreenTexts(ai_label="Généré par IA", no_image="Pas d'image"),
    "es": ScreenTexts(ai_label="Generado por IA", no_image="Sin imagen"),
}
"""On-screen texts of every language the AI label supports."""

LANGUAGES: tuple[str, ...] = tuple(TABLES)


def tables(language: str) -> LanguageTables:
    """The tables of ``language`` (a persona's ``language``, e.g. ``"zh-CN"``); English when it has none."""
    return TABLES.get(language_code(language), TABLES["en"])


def has_tables(language: str) -> bool:
    """Whether ``language`` has its own speech tables (else :func:`tables` gives English)."""
    return language_code(language) in TABLES


__all__ = [
    "AI_WORDS",
    "LANGUAGES",
    "SCREEN_TEXTS",
    "TABLES",
    "LanguageTables",
    "ScreenTexts",
    "has_tables",
    "language_code",
    "names_ai",
    "tables",
]
