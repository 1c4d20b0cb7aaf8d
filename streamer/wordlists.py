"""Word lists: the plain-text lists of phrases the guards and chat triage match (absolute claims, banned topics,
profanity, toxicity, spam, injections, deflections), how they are read, and how they are matched.

Format (one entry per line, UTF-8; each file's header says what it holds):

* ``# comment`` (a ``#`` followed by a space, or a lone ``#``) and blank lines are skipped; `` # `` after an
  entry starts a trailing comment. ``#1`` is an entry (an absolute claim), not a comment.
* ``phrase`` drops what matches; ``phrase*`` matches the phrase and any letters after it ("miracle*");
  ``!phrase`` is an exception (text inside it never matches another entry of the list).
* ``phrase => rewrite`` (only in ``absolute_*.txt``): the phrase is rewritten; ``phrase =>`` removes it.
* ``[topic | alias]`` (only in ``banned_topics.txt``) starts a topic; the keywords under it belong to it.

Matching (:class:`PhraseList`) is on lower-cased text: a space matches any run of spaces or hyphens, a hyphen an
optional one, an apostrophe either kind; entries that start or end with a letter or digit match whole words only.

Every problem raises :class:`WordListError`, whose ``str()`` is ``file:line: message``. There is one loader,
:func:`load_word_lists`: the guards (:func:`streamer.brain.guards.load_guard_rules`) and chat triage
(:func:`streamer.chat.triage.load_chat_rules`) each name their files and call it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from streamer.brain.numbers import same_length_lower

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class WordListError(ValueError):
    """A word list could not be read. ``str()`` is ``file:line: message``."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}")


# ---- word lists ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """One line of a word list, and where it came from (``file``, ``line``) for messages to operators."""

    phrase: str
    replacement: str | None = None
    """None: drop the sentence. ``""``: remove the phrase. Otherwise: replace it."""
    exception: bool = False
    topic: str | None = None
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class WordLists:
    """The parsed word lists: entries per file name, and the topics of ``banned_topics.txt`` (name -> aliases)."""

    entries: dict[str, list[RuleEntry]] = field(default_factory=dict)
    topics: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _strip_comment(line: str) -> str:
    # "# " or a lone "#" starts a comment; "#1" is an entry (an absolute claim).
    if line.startswith("#") and (len(line) == 1 or line[1].isspace()):
        return ""
    cut = line.find(" # ")
    if cut >= 0:
        line = line[:cut]
    return line.strip()


def check_phrase(phrase: str, file: str, line: int, *, wildcard_ok: bool) -> None:
    """Raises :class:`WordListError` (``file:line``) when ``phrase`` cannot be matched safely: a control
    character, a misplaced ``*``, too short, no letters or digits, or over 200 characters."""
    if any(ord(c) < 32 for c in phrase):
        raise WordListError(file, line, "control character in entry (save the file as plain UTF-8 text)")
    core = phrase[:-1] if phrase.endswith("*") else phrase
    if "*" in core:
        raise WordListError(file, line, f"'*' may only end an entry, as in 'miracle*' (got {phrase!r})")
    if phrase.endswith("*") and not wildcard_ok:
        raise WordListError(file, line, f"a rewrite entry cannot end in '*' (got {phrase!r})")
    if len(core.strip()) < (1 if _CJK.search(core) else 2):
        raise WordListError(file, line, f"entry too short to match safely: {phrase!r}")
    if not any(c.isalnum() or c in "#%" for c in core):
        raise WordListError(file, line, f"entry has no letters or digits: {phrase!r}")
    if len(phrase) > 200:
        raise WordListError(file, line, "entry longer than 200 characters")


def parse_rule_file(text: str, file: str) -> tuple[list[RuleEntry], dict[str, tuple[str, ...]]]:
    """Entries of one word list (``file`` is its name, for messages and for which syntax applies)."""
    name = Path(file).name
    rewrites_ok = name.startswith("absolute_")
    topics_file = name == "banned_topics.txt"
    entries: list[RuleEntry] = []
    topics: dict[str, tuple[str, ...]] = {}
    topic: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw.strip().lstrip("\ufeff"))
        if not line:
            continue
        if topics_file and line.startswith("["):
            if not line.endswith("]"):
                raise WordListError(file, lineno, f"topic header must end with ']': {line!r} (e.g. [politics])")
            names = tuple(n.strip().lower() for n in line[1:-1].split("|") if n.strip())
            if not names:
                raise WordListError(file, lineno, "empty topic header; write e.g. [politics | elections]")
            topic = names[0]
            topics[topic] = tuple(dict.fromkeys(topics.get(topic, ()) + names))
            continue
        if topics_file and topic is None:
            raise WordListError(file, lineno, f"keyword {line!r} before any [topic] header")
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        replacement: str | None = None
        if "=>" in line:
            if not rewrites_ok:
                raise WordListError(file, lineno, "rewrites ('a => b') are only allowed in absolute_*.txt")
            if exception:
                raise WordListError(file, lineno, "an exception ('!phrase') cannot have a rewrite")
            left, _, right = line.partition("=>")
            if "=>" in right:
                raise WordListError(file, lineno, "more than one '=>' on the line")
            line, replacement = left.strip(), right.strip()
            if not line:
                raise WordListError(file, lineno, "nothing before '=>'; write 'the best => a great'")
        check_phrase(line, file, lineno, wildcard_ok=replacement is None)
        entries.append(
            RuleEntry(line, replacement=replacement, exception=exception, topic=topic, file=file, line=lineno)
        )
    return entries, topics


def read_word_list(path: Path | Traversable, label: str) -> str:
    """The text of one word list. Raises :class:`WordListError` naming ``label`` (and, for bytes that are not
    UTF-8, the line they are on)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WordListError(label, None, f"cannot read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise WordListError(
            label, line, f"not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8"
        ) from None


def load_word_lists(
    builtin: Sequence[tuple[str, str]],
    *,
    extra_dir: str | Path | None = None,
    skip_extra: Collection[str] = (),
) -> WordLists:
    """Word lists by file name: the built-in ones (``(folder, name)`` pairs under ``streamer/data``, read in that
    order), then the operator's ``.txt`` files with the same names in ``extra_dir`` (sorted by name), which add
    to them.

    A ``.txt`` file in ``extra_dir`` with a name that is neither loaded nor in ``skip_extra`` (lists another part
    of the show reads from the same folder) raises :class:`WordListError`: a typo would otherwise silently add
    nothing. So do a missing folder, an unreadable file and a bad line (naming file and line)."""
    data = resources.files("streamer").joinpath("data")
    names = list(dict.fromkeys(name for _, name in builtin))
    sources: list[tuple[str, str, str]] = []
    for folder, name in builtin:
        label = f"streamer/data/{folder}/{name}"
        sources.append((name, label, read_word_list(data.joinpath(folder).joinpath(name), label)))
    if extra_dir is not None:
        where = Path(extra_dir)
        if not where.is_dir():
            raise WordListError(str(where), None, "extra_rules_dir is not a folder")
        for path in sorted(where.glob("*.txt")):
            if path.name in names:
                sources.append((path.name, str(path), read_word_list(path, str(path))))
            elif path.name not in skip_extra:
                raise WordListError(str(path), None, f"unknown word list; known names: {', '.join(names)}")
    lists = WordLists()
    for name, label, text in sources:
        entries, topics = parse_rule_file(text, label)
        lists.entries.setdefault(name, []).extend(entries)
        for topic, aliases in topics.items():
            lists.topics[topic] = tuple(dict.fromkeys(lists.topics.get(topic, ()) + aliases))
    return lists


# ---- phrase matching ----------------------------------------------------------------------------------------


def _is_word_char(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _phrase_regex(phrase: str, *, rewrite: bool = False) -> tuple[bool, str]:
    """(needs a word boundary before it, the pattern) for one lower-cased entry."""
    prefix = phrase.endswith("*")
    core = (phrase[:-1] if prefix else phrase).lower()
    out: list[str] = []
    for ch in core:
        if ch.isspace():
            if out and out[-1] == r"[\s-]+":
                continue
            out.append(r"[\s-]+")
        elif ch == "-":
            out.append(r"[\s-]?")
        elif ch == ".":
            out.append(r"\.\s*")
        elif ch == "'":
            out.append(r"['\u2019]")
        else:
            out.append(re.escape(ch))
    body = "".join(out)
    if prefix:
        body += "[a-z]*"
    # A rewrite never applies inside a hyphenated compound ("the best-selling" is left to "best-selling").
    trail = (r"(?![a-z0-9-])" if rewrite else r"(?![a-z0-9])") if _is_word_char(core[-1]) or prefix else ""
    return _is_word_char(core[0]), body + trail


def combined_pattern(phrases: Sequence[str], *, rewrite: bool = False) -> re.Pattern[str] | None:
    """One pattern for many entries, matched against lower-cased text. Entries that start with a letter or digit
    share one leading word-boundary check, which keeps the scan at a few microseconds per sentence."""
    if not phrases:
        return None
    compiled = {_phrase_regex(p, rewrite=rewrite) for p in phrases}
    words = sorted((b for lead, b in compiled if lead), key=len, reverse=True)
    others = sorted((b for lead, b in compiled if not lead), key=len, reverse=True)
    branches = []
    if words:
        branches.append(r"(?<![a-z0-9])(?:" + "|".join(words) + ")")
    branches += others
    return re.compile("|".join(branches))


_HYPHENATED = re.compile(r"(?<![a-z0-9-])[a-z0-9]+(?:-[a-z0-9]+)+")


class PhraseList:
    """One compiled list: drops, rewrites and exceptions."""

    def __init__(self, entries: Sequence[RuleEntry]) -> None:
        self.drops = [e for e in entries if not e.exception and e.replacement is None]
        self.rewrites = [e for e in entries if not e.exception and e.replacement is not None]
        self.exceptions = [e for e in entries if e.exception]
        self._drop_re = combined_pattern([e.phrase for e in self.drops])
        self._rewrite_re = combined_pattern([e.phrase for e in self.rewrites], rewrite=True)
        self._exception_re = combined_pattern([e.phrase for e in self.exceptions])
        self._rewrite_by_key = {phrase_key(e.phrase): e for e in self.rewrites}
        self._loose_re = combined_pattern([e.phrase for e in self.rewrites])
        self._singles = [(combined_pattern([e.phrase]), e) for e in self.drops]

    def _exception_spans(self, low: str) -> list[tuple[int, int]]:
        if self._exception_re is None:
            return []
        return [m.span() for m in self._exception_re.finditer(low)]

    @staticmethod
    def _inside(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
        return any(s <= span[0] and span[1] <= e for s, e in spans)

    def find_drop(self, text: str, low: str | None = None) -> tuple[str, RuleEntry] | None:
        """The first drop entry found in ``text`` (outside exceptions): (matched text, entry)."""
        if self._drop_re is None:
            return None
        low = same_length_lower(text) if low is None else low
        spans: list[tuple[int, int]] | None = None
        for m in self._drop_re.finditer(low):
            if spans is None:
                # Exceptions, and phrases with a safe rewrite ("最" inside "最好的"), do not drop.
                spans = self._exception_spans(low)
                if self._rewrite_re is not None:
                    spans += [r.span() for r in self._rewrite_re.finditer(low)]
            if not self._inside(m.span(), spans):
                return text[m.start() : m.end()], self._which(m.group())
        return None

    def _which(self, matched: str) -> RuleEntry:
        for pattern, entry in self._singles:
            if pattern is not None and pattern.fullmatch(matched):
                return entry
        return self.drops[0]  # pragma: no cover - the combined pattern only matches listed entries

    def rewrite(self, text: str) -> tuple[str, list[str], str | None]:
        """(new text, rewritten phrases, a compound that has no safe rewrite or None)."""
        if self._rewrite_re is None or self._loose_re is None:
            return text, [], None
        low = same_length_lower(text)
        if self._loose_re.search(low) is None:
            return text, [], None
        spans = self._exception_spans(low)
        if "-" in low:
            for m in _HYPHENATED.finditer(low):
                word = m.group()
                if self._loose_re.search(word) is None or self._rewrite_re.fullmatch(word) is not None:
                    continue
                if self._exception_re is not None and self._exception_re.fullmatch(word) is not None:
                    continue
                # "best-in-class": a listed word inside a compound the list has no rewrite for.
                return text, [], text[m.start() : m.end()]
        done: list[str] = []
        pieces: list[str] = []
        pos = 0
        for m in self._rewrite_re.finditer(low):
            if self._inside(m.span(), spans):
                continue
            entry = self._rewrite_by_key.get(phrase_key(m.group()))
            if entry is None:  # pragma: no cover - keys are built from the same entries
                continue
            original = text[m.start() : m.end()]
            done.append(original)
            new = entry.replacement or ""
            if new and original[:1].isupper():
                new = new[:1].upper() + new[1:]
            pieces += [text[pos : m.start()], new]
            pos = m.end()
        if not done:
            return text, [], None
        pieces.append(text[pos:])
        return _tidy("".join(pieces), capitalise=text[:1].isupper()), done, None


def phrase_key(phrase: str) -> str:
    """A phrase with case, spaces, hyphens, dots and apostrophes ignored (how matched text finds its entry)."""
    return re.sub(r"[\s\-\u2019'.]+", "", phrase.lower())


def _tidy(text: str, *, capitalise: bool) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r",\s*([,.!?;:])", r"\1", text)
    text = re.sub(r"^[,;:\s]+", "", text)
    if capitalise and text[:1].islower():
        text = text[:1].upper() + text[1:]
    return text


__all__ = [
    "PhraseList",
    "RuleEntry",
    "WordListError",
    "WordLists",
    "check_phrase",
    "combined_pattern",
    "load_word_lists",
    "parse_rule_file",
    "phrase_key",
    "read_word_list",
]
