"""Load persona, product sheets and stream settings from files, with errors that name file, line, field and fix.

Everything a user writes (YAML, JSON, CSV) enters the program here. The contract:

* every problem is a :class:`ConfigProblem` with the file, the 1-based line (when one is known), a dotted field path
  (``faq.2.a``: the third FAQ entry's answer, indices count from 0), a message and a hint with an example;
* user errors never surface as Python tracebacks: loaders either return problems or raise :class:`ConfigError`
  carrying them;
* product data is read as shops write it (nested specs, lists, variants, HTML, Shopify ``products.json`` and CSV
  exports); a product without a readable id, name, price or currency is refused, any other value that cannot be
  read is left out with a problem and its product still loads;
* messages never quote secrets: URLs are passed through :func:`redact_url` before they are shown, and the values of
  ``${VAR}`` environment placeholders are never printed.

Line numbers come from PyYAML's node tree (``start_mark``), which also serves JSON files (after ``json`` itself has
parsed them, so JSON keeps JSON semantics). CSV problems point at the row's first line.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ValidationError

from streamer.config import (
    AI_LABELS,
    SECTION_NAMES,
    CoquiVoiceSettings,
    Persona,
    PiperVoiceSettings,
    ProductSheet,
    StreamConfig,
    VoiceSettings,
    faq_items,
    feature_items,
    flatten_specs,
    foreign_voice_keys,
)

log = logging.getLogger(__name__)

Severity = Literal["error", "warning"]
Fmt = Literal["yaml", "json", "csv"]
Loc = tuple[str | int, ...]

#: File name endings read as product files when the source is a folder.
PRODUCT_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json", ".csv")

#: Files larger than this are refused (a product sheet is a few kB; a bigger file is a mistake).
MAX_FILE_BYTES = 5_000_000

M = TypeVar("M", bound=BaseModel)


# ---- problems -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ConfigProblem:
    """One thing wrong (``error``) or suspicious (``warning``) in a user's file.

    ``line`` is 1-based, ``None`` when the problem concerns the whole file (missing file, network error).
    ``field`` is a dotted path inside the document (or inside the product, for product files), ``""`` for the
    file as a whole.
    """

    file: str
    line: int | None
    field: str
    message: str
    hint: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.severity == "warning":
            text += "warning: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line or 0, 0 if self.is_error else 1, self.field)


class ConfigError(Exception):
    """Raised by loaders when a file has errors. ``problems`` holds all of them (and any warnings)."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        errors = [p for p in self.problems if p.is_error]
        shown = "\n".join(f"  {p}" for p in (errors or self.problems))
        super().__init__(f"{len(errors)} configuration error(s):\n{shown}")


def errors_in(problems: Iterable[ConfigProblem]) -> list[ConfigProblem]:
    return [p for p in problems if p.is_error]


def format_problems(problems: Iterable[ConfigProblem]) -> str:
    """One problem per line, errors and warnings in file/line order (what the ``check`` command prints)."""
    return "\n".join(str(p) for p in sorted(problems, key=ConfigProblem.sort_key))


# ---- secrets ------------------------------------------------------------------------------------------------

_RTMP_SCHEMES = {"rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpte", "rtmpts", "srt"}
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def redact_url(url: str) -> str:
    """Hide the secret parts of a URL so it can be logged or shown.

    * RTMP(S)/SRT: everything after the application path (the stream key) becomes ``****``:
      ``rtmp://live.twitch.tv/app/live_123_abc`` -> ``rtmp://live.twitch.tv/app/****``;
      an unexpanded placeholder such as ``${TWITCH_STREAM_KEY}`` is not a secret and stays visible;
    * any scheme: a password in ``user:password@`` and every query value become ``****``; a fragment is dropped.

    Text that is not a URL (a file path) comes back unchanged. Never raises.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url.strip())
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:****@{host}" if ":" in userinfo else f"{user}@{host}"
        path = parts.path
        if parts.scheme.lower() in _RTMP_SCHEMES:
            segments = path.split("/")  # ['', 'app', 'key', ...]
            kept = segments[:2]
            rest = segments[2:]
            if rest and any(rest):
                if all(_PLACEHOLDER.match(s) or not s for s in rest):
                    kept += rest
                else:
                    kept.append("****")
            path = "/".join(kept)
        query = ""
        if parts.query:
            pairs = [q.split("=", 1)[0] + "=****" if "=" in q else "****" for q in parts.query.split("&")]
            query = "&".join(pairs)
        return urlunsplit((parts.scheme, netloc, path, query, ""))
    except ValueError:
        scheme = url.split("://", 1)[0]
        return f"{scheme}://****"


def expand_env(text: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Replace ``${VAR}`` from the environment. Returns the text and the names of variables that are not set or
    empty (those placeholders are left in place)."""
    env = dict(os.environ) if env is None else env
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if env.get(name):
            return env[name]
        missing.append(name)
        return m.group(0)

    return _ENV_REF.sub(sub, text), missing


def _quote(value: Any, limit: int = 60) -> str:
    """A short, safe rendering of a user's value for a message."""
    if value is None:
        return "nothing (the value is empty)"
    if isinstance(value, str):
        value = redact_url(value)
        if len(value) > limit:
            value = value[: limit - 3] + "..."
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dict):
        return "a mapping (key: value lines)"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    return f"a {type(value).__name__}"


# ---- parsing: text -> data + line map -----------------------------------------------------------------------


class LineMap:
    """Where each node of a parsed document starts: dotted path -> (line of the key, line of the value), 1-based."""

    __slots__ = ("_by_prefix", "_lines")

    def __init__(self, lines: dict[Loc, tuple[int, int]] | None = None) -> None:
        self._lines: dict[Loc, tuple[int, int]] = lines or {}
        self._by_prefix: dict[int, dict[Loc, list[Loc]]] = {}

    def line(self, path: Sequence[str | int], *, key: bool = False) -> int | None:
        """Line of ``path``; for a path that is not in the document (a missing field), the line of the closest
        enclosing node that is."""
        p: Loc = tuple(path)
        while True:
            hit = self._lines.get(p)
            if hit is None and p and isinstance(p[-1], int | bool):
                hit = self._lines.get((*p[:-1], str(p[-1])))
            if hit is not None:
                return hit[0] if key else hit[1]
            if not p:
                return None
            p = p[:-1]
            key = False

    def exact(self, path: Sequence[str | int]) -> bool:
        return tuple(path) in self._lines

    def sub_map(self, prefix: Loc) -> dict[str, int]:
        """Lines of every node under ``prefix``, as dotted paths relative to it (``faq.1.q`` -> 14)."""
        n = len(prefix)
        index = self._by_prefix.get(n)
        if index is None:  # one pass over the map per prefix length, not one per product
            index = {}
            for p in self._lines:
                if len(p) >= n:
                    index.setdefault(p[:n], []).append(p)
            self._by_prefix[n] = index
        out: dict[str, int] = {}
        for p in index.get(prefix, ()):
            k, v = self._lines[p]
            rel = p[n:]
            out[".".join(str(x) for x in rel)] = k if rel else v
        return out


class _LineSource(Protocol):
    """Anything that gives the line of a document path (a :class:`LineMap`, a product that remembers where its
    moved fields came from)."""

    def line(self, path: Sequence[str | int], *, key: bool = False) -> int | None: ...


@dataclass(slots=True)
class _Parsed:
    data: Any
    lines: LineMap
    problems: list[ConfigProblem]
    ok: bool  # False: syntax error or unreadable; ``data`` is None


def _mark_line(mark: Any) -> int | None:
    return None if mark is None else int(mark.line) + 1


def _yaml_syntax_problem(file: str, exc: yaml.YAMLError, text: str = "") -> ConfigProblem:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return ConfigProblem(file, None, "", f"YAML could not be read: {exc}", "check the file is plain YAML text")
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark
    line = _mark_line(mark)
    col = None if mark is None else mark.column + 1
    hint = "check the indentation and quoting around this line"
    both = f"{problem} {context}"
    bad_line = text.split("\n")[line - 1] if line is not None and text.count("\n") >= line - 1 else ""
    if "\\t" in problem or "tab" in problem or "\t" in bad_line[: len(bad_line) - len(bad_line.lstrip())]:
        hint = "YAML does not allow tabs for indentation; indent with spaces only"
    elif "quoted scalar" in context:
        line = _mark_line(exc.context_mark) or line
        col = None if exc.context_mark is None else exc.context_mark.column + 1
        problem = "a quoted value is never closed"
        hint = "add the closing quote on the same line, or quote the whole text with the other kind of quote"
    elif "mapping values are not allowed" in both:
        hint = "a value contains ': '; put the whole value in quotes, e.g. name: \"Mug: large\""
    elif any(k in both for k in ("expected <block end>", "did not find expected key", "expected '-' indicator")):
        hint = "the indentation does not line up: items at the same level must start in the same column"
    elif "could not find expected ':'" in both:
        hint = "each line of a mapping needs 'key: value' (space after the colon); check for an unclosed quote above"
    elif "single document" in both or "another document" in both:
        hint = "remove the extra '---' document separator; put several products in one list instead"
    elif "undefined alias" in both:
        hint = "'*name' refers to an anchor '&name' that is not defined above; quote values starting with '*'"
    elif "cannot start any token" in both:
        hint = "values starting with '@', '`' or '%' must be quoted"
    where = f" (column {col})" if col is not None else ""
    message = f"YAML syntax error: {problem}{where}"
    if context and "quoted scalar" not in context:
        message += f", {context}"
    return ConfigProblem(file, line, "", message, hint)


def _walk_nodes(
    node: yaml.Node, path: Loc, lines: dict[Loc, tuple[int, int]], dups: list[tuple[Loc, int, int]]
) -> None:
    stack: list[tuple[yaml.Node, Loc]] = [(node, path)]
    while stack:
        n, p = stack.pop()
        if len(p) > 64:  # recursive aliases; nothing a product needs is this deep
            continue
        if isinstance(n, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
                key = str(k.value)
                kline = k.start_mark.line + 1
                child = (*p, key)
                if key in seen and key != "<<":
                    dups.append((child, seen[key], kline))
                seen[key] = kline
                lines[child] = (kline, v.start_mark.line + 1)
                stack.append((v, child))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                child = (*p, i)
                line = item.start_mark.line + 1
                lines[child] = (line, line)
                stack.append((item, child))


#: libyaml when PyYAML was built with it (about 10x faster on big catalogs); same marks and messages.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse YAML once into both the node tree (for lines) and the Python data."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        return node, data
    finally:
        loader.dispose()


def _lines_of(node: yaml.Node | None, file: str) -> tuple[LineMap, list[ConfigProblem]]:
    lines: dict[Loc, tuple[int, int]] = {}
    dups: list[tuple[Loc, int, int]] = []
    if node is not None:
        first = node.start_mark.line + 1
        lines[()] = (first, first)
        _walk_nodes(node, (), lines, dups)
    problems = [
        ConfigProblem(
            file,
            second,
            ".".join(str(x) for x in path),
            f"key appears twice (first on line {first}); only the later value would be used",
            "delete one of the two lines",
        )
        for path, first, second in dups
    ]
    return LineMap(lines), problems


def parse_yaml(text: str, file: str) -> _Parsed:
    try:
        node, data = _compose(text)
    except yaml.YAMLError as exc:
        return _Parsed(None, LineMap(), [_yaml_syntax_problem(file, exc, text)], False)
    except (ValueError, TypeError, RecursionError) as exc:  # odd constructs (bad timestamps, deep nesting)
        return _Parsed(None, LineMap(), [ConfigProblem(file, None, "", f"YAML could not be read: {exc}", "")], False)
    lines, problems = _lines_of(node, file)
    return _Parsed(data, lines, problems, True)


_JSON_HINTS: tuple[tuple[str, str], ...] = (
    ("Expecting property name", "keys need double quotes, and there must be no comma before '}'"),
    ("Expecting ',' delimiter", "a comma is missing between two items, or a quote above is not closed"),
    ("Expecting ':' delimiter", "each key needs a ':' before its value"),
    ("Expecting value", "a value is missing: check for a trailing comma, single quotes or a bare word"),
    ("Extra data", "only one top-level value is allowed; put several products in a list [ ... ]"),
    ("Invalid control character", "a string is not closed on this line (or holds a raw tab or line break)"),
    ("Unterminated string", "a string is not closed; add the closing double quote"),
    ("Invalid \\escape", "a backslash starts an escape; write \\\\ for a literal backslash"),
)


def parse_json(text: str, file: str) -> _Parsed:
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        hint = next((h for k, h in _JSON_HINTS if exc.msg.startswith(k)), "check the JSON syntax near this position")
        problem = ConfigProblem(file, exc.lineno, "", f"JSON syntax error: {exc.msg} (column {exc.colno})", hint)
        return _Parsed(None, LineMap(), [problem], False)
    except RecursionError:
        return _Parsed(None, LineMap(), [ConfigProblem(file, None, "", "JSON is nested too deeply", "")], False)
    # Lines only: json has none. Valid JSON has tabs only as whitespace between tokens, which YAML's flow
    # style refuses, so they become spaces (lines stay where they are).
    try:
        loader = _SafeLoader(text.replace("\t", " "))
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError:
        node = None
    lines, problems = _lines_of(node, file)
    return _Parsed(_plain_numbers(data), lines, problems, True)


def _plain_numbers(data: Any) -> Any:
    """JSON floats are parsed as Decimal (so 19.99 stays exact for prices); elsewhere they should be floats."""
    if isinstance(data, dict):
        return {k: (v if k in ("price", "list_price") else _plain_numbers(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain_numbers(v) for v in data]
    if isinstance(data, Decimal):
        return float(data)
    return data


def parse_text(text: str, fmt: Fmt, file: str) -> _Parsed:
    return parse_json(text, file) if fmt == "json" else parse_yaml(text, file)


def format_of(name: str) -> Fmt:
    """Format from a file name or URL path: .json, .csv, else YAML (which also reads most JSON)."""
    low = name.lower().split("?", 1)[0]
    if low.endswith(".json"):
        return "json"
    if low.endswith(".csv"):
        return "csv"
    return "yaml"


def read_text(path: Path, file: str) -> tuple[str | None, list[ConfigProblem]]:
    """Read a UTF-8 text file (a BOM is allowed). Problems instead of exceptions for the usual user errors."""
    try:
        if path.is_dir():
            return None, [ConfigProblem(file, None, "", "is a folder, not a file", "give the path of a file")]
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [ConfigProblem(file, None, "", f"file is too large ({size} bytes)", "is this the right file?")]
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [ConfigProblem(file, None, "", "file not found", f"check the path (working folder: {Path.cwd()})")]
    except PermissionError:
        return None, [ConfigProblem(file, None, "", "permission denied", "make the file readable for this user")]
    except OSError as exc:
        return None, [ConfigProblem(file, None, "", f"could not read the file: {exc.strerror or exc}", "")]
    return decode_text(raw, file)


def decode_text(raw: bytes, file: str) -> tuple[str | None, list[ConfigProblem]]:
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return None, [
            ConfigProblem(
                file,
                line,
                "",
                f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                "save the file as UTF-8 (in Excel: 'CSV UTF-8')",
            )
        ]


# ---- validation errors -> problems --------------------------------------------------------------------------

#: Examples shown in hints, by dotted field path ('*' for any list index or mapping key), then by last part.
FIELD_EXAMPLES: dict[str, str] = {
    # product sheets
    "id": "id: coffee-beans-1kg (letters, digits, '-', '_', '.', no spaces)",
    "name": 'name: "Ethiopian Coffee Beans, 1 kg"',
    "price": "price: 19.99 (a plain number, no currency sign, no quotes)",
    "list_price": "list_price: 24.99 (the regular price before a discount, not below price)",
    "currency": "currency: USD (three-letter ISO code)",
    "promo": 'promo: "Free grinder with two bags, today only"',
    "features": 'features: ["Single origin", "Roasted to order"]',
    "features.*": '- "Roasted to order"',
    "specs": "specs: {weight: 1 kg, roast: medium}",
    "specs.*": "weight: 1 kg (text or a number)",
    "shipping": 'shipping: "Ships in 24 h; free over $35"',
    "stock": "stock: 120 (a whole number, 0 or more)",
    "faq": 'faq: [{q: "Is it decaf?", a: "No, fully caffeinated."}]',
    "faq.*": '- {q: "Is it decaf?", a: "No, fully caffeinated."}',
    "faq.*.q": 'q: "Is it decaf?"',
    "faq.*.a": 'a: "No, it is fully caffeinated."',
    "image": "image: images/mug.jpg (relative to this file), an https:// URL, or package:skimage/data/coffee.png",
    "description": 'description: "Two sentences about the product."',
    "sections": f'sections: {{hook: "Smell that?"}} with keys from {", ".join(SECTION_NAMES)}',
    "sections.*": 'hook: "One line" or a list of lines',
    # persona
    "language": "language: en (or en-US, de, zh)",
    "voice.backend": "backend: piper (or silence)",
    "voice.voice": "voice: en_US-joe-medium (a Piper voice name or a path to an .onnx file)",
    "voice.speed": "speed: 1.0 (0.5 to 2.0)",
    "voice.speaker_id": "speaker_id: 0",
    "avatar.kind": "kind: cartoon",
    "avatar.hair_style": "hair_style: short (short, long, bun or bald)",
    "avatar.outfit_style": "outfit_style: blazer (tshirt, blazer or hoodie)",
    "style.greetings": 'greetings: ["Hi everyone, I\'m Joe!"]',
    "style.catchphrases": 'catchphrases: ["Let\'s go!"]',
    "style.sign_offs": 'sign_offs: ["Thanks for watching!"]',
    "style.transitions": 'transitions: ["Next up: the {name}!"]',
    "patter.sections": f"sections: [{', '.join(SECTION_NAMES)}]",
    "patter.no_repeat_window": "no_repeat_window: 40",
    "patter.pause_between_sentences_ms": "pause_between_sentences_ms: 250",
    "disclosure.notice": 'notice: "This host is an AI-generated virtual presenter."',
    "disclosure.notice_s": "notice_s: 3.0 (2 to 30 seconds)",
    "banned_topics": 'banned_topics: ["medical claims", "politics"]',
    # stream settings
    "persona": "persona: personas/host.yaml",
    "products": "products: products/ (a folder, a file or an https:// URL)",
    "out": 'out: ["rtmp://live.twitch.tv/app/${TWITCH_STREAM_KEY}", "recordings/show.flv"]',
    "out.*": '- "rtmp://live.twitch.tv/app/${TWITCH_STREAM_KEY}"',
    "recordings_dir": "recordings_dir: recordings",
    "video.width": "width: 1280 (even, 320 to 3840)",
    "video.height": "height: 720 (even, 240 to 2160)",
    "video.fps": "fps: 30 (10 to 60)",
    "video.bitrate_kbps": "bitrate_kbps: 3000",
    "video.preset": "preset: veryfast",
    "video.keyframe_interval_s": "keyframe_interval_s: 2.0",
    "audio.bitrate_kbps": "bitrate_kbps: 128 (64 to 320)",
    "preview.enabled": "enabled: true",
    "preview.host": "host: 127.0.0.1",
    "preview.port": "port: 8080",
    "show.products_refresh_s": "products_refresh_s: 10",
    "show.sections_per_product": "sections_per_product: 3 (or leave it out for all)",
    "show.seed": "seed: 42",
    "reconnect_max_backoff_s": "reconnect_max_backoff_s: 30",
}
_COLOUR_FIELDS = {"skin", "hair", "eyes", "outfit", "accent", "background"}

_TYPE_TEXT: dict[str, str] = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number, not a fraction",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "decimal_type": "expected a number like 19.99",
    "decimal_parsing": "expected a number like 19.99",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping (key: value lines)",
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "none_required": "expected nothing here",
}
_UNION_TEXT: dict[str, str] = {
    "string_type": "text",
    "int_type": "a number",
    "int_parsing": "a number",
    "float_type": "a number",
    "float_parsing": "a number",
    "list_type": "a list of text",
    "decimal_type": "a number",
    "bool_type": "true/false",
}
_TYPE_HINT: dict[str, str] = {
    "string_type": "put the value in quotes",
    "list_type": "write one '- item' per line under the key, or [a, b]",
    "dict_type": "write 'key: value' lines indented under this key",
    "model_type": "write 'key: value' lines indented under this key",
    "bool_parsing": "write true or false",
}


def _pattern(path: Loc) -> str:
    return ".".join("*" if isinstance(p, int) else str(p) for p in path)


def _example(path: Loc, root: type[BaseModel]) -> str:
    pat = _pattern(path)
    if pat in FIELD_EXAMPLES:
        return FIELD_EXAMPLES[pat]
    # dict keys (specs.weight) and list items match the wildcard entry of their parent
    if len(path) >= 2:
        wild = ".".join([*pat.split(".")[:-1], "*"])
        if wild in FIELD_EXAMPLES:
            return FIELD_EXAMPLES[wild]
    leaf = str(path[-1]) if path else ""
    if leaf in _COLOUR_FIELDS:
        return f'{leaf}: "#2f6fdb" (quoted: an unquoted # starts a YAML comment)'
    if root is ProductSheet or len(path) == 1:
        return FIELD_EXAMPLES.get(leaf, "")
    return ""


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X (the first model member of a union, else the annotation itself)."""
    if get_origin(annotation) in (Union, type(int | None)):
        args = [a for a in get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else (args[0] if len(args) == 1 else annotation)
    return annotation


def model_at(root: type[BaseModel], path: Loc) -> type[BaseModel] | None:
    """The Pydantic model that validates the node at ``path`` (None if it is not a model)."""
    current: Any = root
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            info = current.model_fields.get(part)
            if info is None:
                return None
            current = info.annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """Closest known name to a misspelt one, or None."""
    hits = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not hits:
        return None
    for c in choices:
        if c.lower() == hits[0]:
            return c
    return None


def _clean_loc(loc: Loc, data: Any, err_type: str) -> Loc:
    """Drop the type tags Pydantic appends for union members (``specs.weight.int``): keep the part of the
    location that exists in the data, plus the missing key for a ``missing`` error."""
    kept: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            if err_type == "missing" and i == len(loc) - 1:
                kept.append(part)
            break
        kept.append(part)
    return tuple(kept)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _message_for(err: dict[str, Any], path: Loc, root: type[BaseModel]) -> tuple[str, str]:
    typ = err["type"]
    msg = str(err.get("msg", ""))
    example = _example(path, root)
    leaf = str(path[-1]) if path else ""
    if typ == "missing":
        return "required field is missing", (f"add it, e.g. {example}" if example else f"add '{leaf}: ...'")
    if typ == "value_error":
        text = _lower_first(msg.removeprefix("Value error, "))
        text = re.sub(r"^[a-z_]+ (?=must |should )", "", text)  # "price must be ..." after "price: "
        advice = re.search(r"\s*\(([^()]*)\)$", text)  # a closing "(remove currency signs)" is a hint
        hints = []
        if advice:
            text = text[: advice.start()]
            hints.append(advice.group(1))
        if example:
            hints.append(f"e.g. {example}")
        return text, "; ".join(hints)
    if typ in _TYPE_TEXT:
        text = f"{_TYPE_TEXT[typ]}, got {_quote(err.get('input'))}"
        hint = _TYPE_HINT.get(typ, "")
        if typ == "string_type" and isinstance(err.get("input"), dict):
            hint = "the text contains ': ', which YAML reads as 'key: value'; put the whole text in quotes"
        elif leaf in _COLOUR_FIELDS and err.get("input") is None:
            hint = 'quote colours: "#3b2618" (an unquoted # starts a YAML comment, leaving the value empty)'
        elif (
            typ == "string_type"
            and isinstance(err.get("input"), int | float)
            and not isinstance(err.get("input"), bool)
        ):
            hint = f'put it in quotes: {leaf}: "{err.get("input")}"'
        if example:
            hint = f"{hint}; e.g. {example}" if hint else f"e.g. {example}"
        return text, hint
    if typ == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        options = re.findall(r"'([^']*)'", str(expected))
        near = suggest(str(err.get("input")), options) if isinstance(err.get("input"), str) else None
        text = f"must be {expected}, got {_quote(err.get('input'))}"
        return text, (f"did you mean '{near}'?" if near else (f"e.g. {example}" if example else ""))
    if typ == "string_pattern_mismatch":
        return f"has the wrong form: {_quote(err.get('input'))}", (f"e.g. {example}" if example else msg)
    # constraints (greater_than_equal, too_short, decimal_max_places, multiple_of, ...)
    text = _lower_first(msg)
    for old, new in (("input should be", "must be"), ("string should", "must"), ("list should", "must")):
        if text.startswith(old):
            text = new + text[len(old) :]
    if "input" in err and not isinstance(err["input"], dict | list):
        text += f", got {_quote(err['input'])}"
    elif isinstance(err.get("input"), list) and typ in ("too_short", "too_long"):
        text += f", got {len(err['input'])}"
    return text, (f"e.g. {example}" if example else "")


def validation_problems(
    exc: ValidationError,
    *,
    file: str,
    lines: _LineSource,
    data: Any,
    root: type[BaseModel],
    base: Loc = (),
) -> list[ConfigProblem]:
    """Turn a Pydantic error into problems with file, line and dotted field (relative to ``base``)."""
    return [p for _, p in _located_problems(exc, file=file, lines=lines, data=data, root=root, base=base)]


def _located_problems(
    exc: ValidationError,
    *,
    file: str,
    lines: _LineSource,
    data: Any,
    root: type[BaseModel],
    base: Loc = (),
) -> list[tuple[Loc, ConfigProblem]]:
    """Like :func:`validation_problems`, each problem with the location Pydantic gave it (``()``: the whole model,
    e.g. prices that contradict each other)."""
    grouped: dict[Loc, list[dict[str, Any]]] = {}
    for raw in exc.errors(include_url=False):
        if raw["type"] == "variant_list_price":  # raised by the product for one of its variants
            loc: Loc = ("variants", int((raw.get("ctx") or {}).get("index", 0)), "list_price")
        else:
            loc = _clean_loc(tuple(raw["loc"]), data, raw["type"])
        grouped.setdefault(loc, []).append(dict(raw))
    out: list[tuple[Loc, ConfigProblem]] = []
    for loc, errs in grouped.items():
        err = errs[0]
        field_path = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            parent = model_at(root, loc[:-1])
            known = list(parent.model_fields) if parent else []
            near = suggest(key, known)
            hint = f"did you mean '{near}'?" if near else ""
            if known:
                hint = (hint + " " if hint else "") + f"known keys here: {', '.join(known)}"
            problem = ConfigProblem(file, lines.line(base + loc, key=True), field_path, "unknown key", hint)
            out.append((loc, problem))
            continue
        if err["type"] == "variant_list_price":
            message = "list_price is below the product's price; list_price is the regular price before a discount"
            hint = "give the variant its own price, or a list_price above the product's price"
        elif len(errs) > 1 and all(e["type"] in _UNION_TEXT for e in errs):
            kinds = list(dict.fromkeys(_UNION_TEXT[e["type"]] for e in errs))
            message = f"expected {' or '.join(kinds)}, got {_quote(err.get('input'))}"
            example = _example(loc, root)
            hint = f"e.g. {example}" if example else ""
        else:
            message, hint = _message_for(err, loc, root)
        shown = loc
        if not loc and err["type"] == "value_error" and "list_price" in message:
            field_path, shown = "list_price", ("list_price",)
        out.append((loc, ConfigProblem(file, lines.line(base + shown), field_path, message, hint)))
    return out


# ---- persona and stream settings ----------------------------------------------------------------------------


def _display(path: str | Path) -> str:
    return str(path)


def _parse_file(path: str | Path, text: str | None = None) -> tuple[str, _Parsed]:
    file = _display(path)
    if text is not None:
        text = text.removeprefix("\ufeff")
    else:
        text, problems = read_text(Path(path), file)
        if text is None:
            return file, _Parsed(None, LineMap(), problems, False)
    fmt = format_of(file)
    if fmt == "csv":
        msg = "CSV is only for product lists"
        return file, _Parsed(None, LineMap(), [ConfigProblem(file, None, "", msg, "write this file as YAML")], False)
    return file, parse_text(text, fmt, file)


def _load_model(
    path: str | Path, model: type[M], what: str, text: str | None = None
) -> tuple[M, LineMap, Any, list[ConfigProblem]]:
    file, parsed = _parse_file(path, text)
    problems = list(parsed.problems)
    if not parsed.ok:
        raise ConfigError(problems)
    data = parsed.data
    if data is None:
        problems.append(ConfigProblem(file, None, "", f"the {what} file is empty", f"see the example {what} file"))
        raise ConfigError(problems)
    if not isinstance(data, dict):
        problems.append(
            ConfigProblem(
                file,
                parsed.lines.line(()),
                "",
                f"expected 'key: value' lines at the top of the {what} file, found {_quote(data)}",
                f"see the example {what} file",
            )
        )
        raise ConfigError(problems)
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        problems += validation_problems(exc, file=file, lines=parsed.lines, data=data, root=model)
        raise ConfigError(sorted(problems, key=ConfigProblem.sort_key)) from None
    if errors_in(problems):
        raise ConfigError(problems)
    return obj, parsed.lines, data, problems


def load_model_file(path: str | Path, model: type[M], what: str) -> M:
    """Any YAML/JSON config file read into ``model``; :class:`ConfigError` names the file, line and field of each
    problem (``what`` names the kind of file in messages)."""
    return _load_model(path, model, what)[0]


def load_fleet_file(
    path: str | Path, *, env: dict[str, str] | None = None
) -> tuple[Any, dict[int, list[ConfigProblem]]]:
    """A fleet file (:class:`streamer.fleet.plan.FleetFile`) and each channel's problems by index, its paths
    resolved from the file's folder as a stream config's are. Raises :class:`ConfigError` when the file itself is
    unreadable or a field is invalid (file, line and field, as for every config file). Index -1 holds the file's own
    warnings."""
    from streamer.fleet.plan import FleetFile

    fleet, lines, data, problems = _load_model(path, FleetFile, "fleet")
    base = Path(path).resolve().parent
    by_channel: dict[int, list[ConfigProblem]] = {-1: problems}  # -1: the file's own (warnings)
    for i, channel in enumerate(fleet.channels):
        raw = data.get("channels", [])[i] if isinstance(data.get("channels"), list) else {}
        by_channel[i] = resolve_stream_config(
            channel, lines, raw, file=_display(path), base=base, env=env, at=("channels", i), warn_no_outputs=False
        )
    return fleet, by_channel


_PLACEHOLDER_FIELD = re.compile(r"\{([^{}]*)\}")


def line_of(path: str | Path, keys: tuple[str | int, ...], *, text: str | None = None) -> int | None:
    """The line of ``keys`` (a path into the document) in the YAML/JSON file ``path`` (or in ``text``, an edit of
    it not yet saved); None when it cannot be told."""
    if text is None:
        text, _ = read_text(Path(path), str(path))
    if text is None:
        return None
    try:
        return parse_text(text.removeprefix("\ufeff"), format_of(str(path)), str(path)).lines.line(keys)
    except Exception:  # the file parsed before; a line number is a nicety
        return None


def _lipsync_file_problems(persona: Persona, path: str | Path, file: str, lines: LineMap) -> list[ConfigProblem]:
    """A neural lip-sync engine names a model file that exists (made absolute, relative to the persona file); it is
    for the photo avatar. Whether the model has the right inputs is checked by ``check`` and at start."""
    settings = persona.avatar.lipsync
    if settings.engine != "neural":
        return []
    line = lines.line(("avatar", "lipsync", "model")) or lines.line(("avatar", "lipsync"))
    if persona.avatar.kind == "cartoon":
        return [
            ConfigProblem(
                file,
                line,
                "avatar.lipsync.engine",
                "the neural lip-sync engine works with a photo or video avatar, not the cartoon",
                "use engine: warp",
            )
        ]
    if not settings.model:
        return [ConfigProblem(file, line, "avatar.lipsync.model", "the neural engine needs its ONNX model file")]
    model = Path(settings.model).expanduser()
    model = model if model.is_absolute() else Path(path).resolve().parent / model
    if not model.is_file():
        return [ConfigProblem(file, line, "avatar.lipsync.model", f"lip-sync model not found: {model}")]
    settings.model = str(model.resolve())
    return []


def _avatar_file_problems(persona: Persona, path: str | Path, file: str, lines: LineMap) -> list[ConfigProblem]:
    """A photo avatar names a portrait that exists, a video avatar a clip or prepared folder that exists (made
    absolute, relative to the persona file); both carry the presenter's consent. Whether the picture holds one usable
    face, or the clip was prepared, is checked by ``check`` and at start (:mod:`streamer.avatar.check`)."""
    avatar = persona.avatar
    problems = _lipsync_file_problems(persona, path, file, lines)
    if not avatar.background.startswith("#"):
        picture = Path(avatar.background).expanduser()
        picture = picture if picture.is_absolute() else Path(path).resolve().parent / picture
        if not picture.is_file():
            problems.append(
                ConfigProblem(
                    file, lines.line(("avatar", "background")), "avatar.background", f"background not found: {picture}"
                )
            )
        else:
            avatar.background = str(picture.resolve())
    if avatar.kind == "cartoon":
        return problems
    if avatar.likeness_consent is None:
        problems.append(
            ConfigProblem(
                file,
                lines.line(("avatar", "kind")),
                "avatar.likeness_consent",
                f"a {avatar.kind} avatar animates a real person: their consent is required",
                "add likeness_consent: {by: <the person shown>, date: YYYY-MM-DD, reference: <where it is recorded>}",
            )
        )
    key = "image" if avatar.kind == "photo" else "clip"
    value = getattr(avatar, key)
    if not value:
        what = "the portrait to animate" if key == "image" else "the presenter's clip (or its prepared folder)"
        problems.append(
            ConfigProblem(
                file,
                lines.line(("avatar", "kind")),
                f"avatar.{key}",
                f"a {avatar.kind} avatar needs {what}",
                f"add {key}: <file> (relative to this persona file)",
            )
        )
        return problems
    target = Path(value).expanduser()
    target = target if target.is_absolute() else Path(path).resolve().parent / target
    if not target.exists():
        problems.append(
            ConfigProblem(
                file,
                lines.line(("avatar", key)),
                f"avatar.{key}",
                f"{'portrait' if key == 'image' else 'clip'} not found: {target}",
            )
        )
    else:
        setattr(avatar, key, str(target.resolve()))
    return problems


def _voice_file_problems(
    settings: VoiceSettings,
    at: tuple[str, ...],
    language: str,
    path: str | Path,
    file: str,
    lines: Any,
) -> list[ConfigProblem]:
    """The files a voice's settings name (a Piper ``.onnx``; a Coqui model folder, prepared voice and recordings)
    exist: each is made absolute, relative to the persona file, or is an error at its own line. ``at``: where the
    settings are (``("voice",)`` or ``("voices", "zh")``); ``language``: what a Coqui voice without its own
    ``language`` speaks."""
    problems: list[ConfigProblem] = []
    base = Path(path).parent

    def resolve(value: str) -> Path:
        return Path(value) if Path(value).is_absolute() else base / value

    def missing(keys: tuple[str | int, ...], message: str, hint: str) -> None:
        where = ".".join(str(k) for k in (*at, *keys))
        problems.append(ConfigProblem(file, lines.line((*at, *keys)), where, message, hint))

    if isinstance(settings, PiperVoiceSettings) and settings.voice.endswith(".onnx"):
        vpath = resolve(settings.voice)
        if not vpath.is_file():
            missing(
                ("voice",),
                f"voice model not found: {vpath}",
                (
                    "supply a Piper zh_CN voice: put zh_CN-<name>-medium.onnx and its .onnx.json there "
                    "(no Chinese voice ships with livehost)"
                    if language.split("-")[0].lower() == "zh"
                    else "give a Piper voice name like en_US-joe-medium, or the path of an .onnx file next to its .json"
                ),
            )
        else:
            # Relative to the persona file, whatever the working directory of the show.
            settings.voice = str(vpath.resolve())
    if isinstance(settings, CoquiVoiceSettings):
        from streamer.voice.coqui import FOLDER_HINT

        folder = resolve(settings.model_dir)
        if not folder.is_dir():
            missing(("model_dir",), f"model folder not found: {folder}", FOLDER_HINT)
        else:
            settings.model_dir = str(folder.resolve())
        if settings.voice_dir:
            vdir = resolve(settings.voice_dir)
            if not vdir.is_dir():
                missing(
                    ("voice_dir",),
                    f"prepared voice not found: {vdir}",
                    f"make it once: run_stream.py prepare-voice recordings/*.wav -o {settings.voice_dir}",
                )
            else:
                settings.voice_dir = str(vdir.resolve())
        for i, wav in enumerate(settings.speaker_wav):
            wpath = resolve(wav)
            if not wpath.is_file():
                missing(("speaker_wav", i), f"recording not found: {wpath}", "list the presenter's recordings")
            else:
                settings.speaker_wav[i] = str(wpath.resolve())
        if settings.fallback_voice and settings.fallback_voice.endswith(".onnx"):
            fpath = resolve(settings.fallback_voice)
            if fpath.is_file():
                settings.fallback_voice = str(fpath.resolve())
        if settings.language is None:
            settings.language = language
    return problems


def read_persona(path: str | Path, *, text: str | None = None) -> tuple[Persona, list[ConfigProblem]]:
    """Like :func:`load_persona`; also checks things the model cannot (voice file, placeholders).

    With ``text``, validates that text as if it were the content of ``path`` (an edit not yet saved)."""
    persona, lines, _data, problems = _load_model(path, Persona, "persona", text)
    file = _display(path)
    if persona.language.split("-")[0].lower() not in AI_LABELS:
        problems.append(
            ConfigProblem(
                file,
                lines.line(("language",)),
                "language",
                f"no AI label text for language {persona.language!r}; the English label will be shown",
                f"supported: {', '.join(AI_LABELS)}",
                "warning",
            )
        )
    for group in ("greetings", "catchphrases", "sign_offs", "transitions"):
        for i, line_text in enumerate(getattr(persona.style, group)):
            bad = [n for n in _PLACEHOLDER_FIELD.findall(line_text) if n != "name"]
            if bad or line_text.count("{") != line_text.count("}"):
                problems.append(
                    ConfigProblem(
                        file,
                        lines.line(("style", group, i)),
                        f"style.{group}.{i}",
                        f"unknown placeholder {{{bad[0]}}}" if bad else "unbalanced braces",
                        "only {name} (the product's name) is filled in; write {{ or }} for a literal brace",
                    )
                )
    problems += _avatar_file_problems(persona, path, file, lines)
    raw_voice = _data.get("voice") if isinstance(_data, dict) else None
    if isinstance(raw_voice, dict):
        for key, owner in foreign_voice_keys(raw_voice).items():
            problems.append(
                ConfigProblem(
                    file,
                    lines.line(("voice", key)),
                    f"voice.{key}",
                    f"ignored: backend {persona.voice.backend} does not use it (a setting of backend {owner})",
                    f"set backend: {owner} to use it, or remove the line",
                    "warning",
                )
            )
    problems += _voice_file_problems(persona.voice, ("voice",), persona.language, path, file, lines)
    for language, settings in persona.voices.items():
        problems += _voice_file_problems(settings, ("voices", language), language, path, file, lines)
    if errors_in(problems):
        raise ConfigError(problems)
    return persona, problems


def load_persona(path: str | Path) -> tuple[Persona, list[ConfigProblem]]:
    """Read a persona file (YAML or JSON).

    Returns the persona and its warnings; raises :class:`ConfigError` listing every error (unknown keys come with
    the closest known key as a suggestion). Never raises anything else for a user's mistake.
    """
    return read_persona(path)


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))


def read_stream_config(
    path: str | Path, *, env: dict[str, str] | None = None
) -> tuple[StreamConfig, list[ConfigProblem]]:
    """Read stream settings; returns the settings and warnings, raises :class:`ConfigError` for errors.

    After validation:

    * ``${VAR}`` in ``out`` entries is replaced from the environment (``env`` for tests); a variable that is
      not set is an error naming the variable (its value is never shown);
    * relative paths (``persona``, ``products`` unless a URL, ``recordings_dir`` and file outputs) are taken
      relative to the config file's folder and returned as absolute paths;
    * ``out`` entries must be rtmp://, rtmps:// or a .flv/.mp4 file; the referenced persona and products
      must exist.
    """
    cfg, lines, data, problems = _load_model(path, StreamConfig, "stream config")
    problems += resolve_stream_config(cfg, lines, data, file=_display(path), base=Path(path).resolve().parent, env=env)
    if errors_in(problems):
        raise ConfigError(sorted(problems, key=ConfigProblem.sort_key))
    return cfg, problems


def resolve_stream_config(
    cfg: StreamConfig,
    lines: LineMap,
    data: Any,
    *,
    file: str,
    base: Path,
    env: dict[str, str] | None = None,
    at: tuple[str | int, ...] = (),
    warn_no_outputs: bool = True,
) -> list[ConfigProblem]:
    """After validation (see :func:`read_stream_config`): ``${VAR}`` in outputs, relative paths from ``base``, the
    outputs' kinds, the persona's and products' existence. ``at``: where ``cfg`` sits in its file (a fleet's
    channel: ``("channels", 2)``), for lines and field names. Returns the problems (errors and warnings)."""
    problems: list[ConfigProblem] = []
    dotted = "".join(f"{k}." for k in at)

    def rel(p: str) -> str:
        return str(Path(p).expanduser() if Path(p).expanduser().is_absolute() else base / p)

    for key in ("persona", "products"):
        value = getattr(cfg, key)
        if value is None or _is_url(value):
            continue
        resolved = rel(value)
        if not Path(resolved).exists():
            problems.append(
                ConfigProblem(
                    file, lines.line((*at, key)), f"{dotted}{key}", f"not found: {value}", f"e.g. {FIELD_EXAMPLES[key]}"
                )
            )
        setattr(cfg, key, resolved)
    cfg.recordings_dir = rel(cfg.recordings_dir)
    outs: list[str] = []
    for i, target in enumerate(cfg.out):
        line = lines.line((*at, "out", i))
        expanded, missing = expand_env(target, env)
        for name in missing:
            problems.append(
                ConfigProblem(
                    file,
                    line,
                    f"{dotted}out.{i}",
                    f"environment variable {name} is not set",
                    f"set {name} in the service's environment (e.g. export {name}=...); its value is never printed",
                )
            )
        scheme = expanded.split("://", 1)[0].lower() if "://" in expanded else ""
        if scheme in ("whip+http", "whip+https"):
            outs.append(expanded)  # WebRTC (WHIP): checked by parse_target when the show starts
        elif scheme in ("rtmp", "rtmps"):
            if len([s for s in urlsplit(expanded).path.split("/") if s]) < 2:
                problems.append(
                    ConfigProblem(
                        file,
                        line,
                        f"{dotted}out.{i}",
                        f"{_quote(target)} has no stream key after the app path",
                        "e.g. rtmp://live.twitch.tv/app/${TWITCH_STREAM_KEY}",
                        "warning",
                    )
                )
            outs.append(expanded)
        elif scheme:
            problems.append(
                ConfigProblem(
                    file,
                    line,
                    f"{dotted}out.{i}",
                    f"unsupported output {_quote(target)}",
                    "use rtmp://, rtmps://, whip+https:// or a .flv / .mp4 file path",
                )
            )
        elif expanded.lower().endswith((".flv", ".mp4")):
            outs.append(rel(expanded))
        else:
            problems.append(
                ConfigProblem(
                    file,
                    line,
                    f"{dotted}out.{i}",
                    f"unsupported output {_quote(target)}",
                    "use rtmp://, rtmps://, whip+https:// or a file path ending in .flv or .mp4",
                )
            )
    cfg.out = outs
    if not cfg.out and not errors_in(problems) and warn_no_outputs:
        problems.append(
            ConfigProblem(
                file,
                lines.line((*at, "out")) if isinstance(data, dict) and "out" in data else None,
                f"{dotted}out",
                "no outputs: the show will run for the preview only",
                f"e.g. {FIELD_EXAMPLES['out']}",
                "warning",
            )
        )
    return problems


def load_stream_config(path: str | Path) -> StreamConfig:
    """Read stream settings (see :func:`read_stream_config`); warnings are logged. Raises :class:`ConfigError`."""
    cfg, warnings = read_stream_config(path)
    for w in warnings:
        log.warning("%s", w)
    return cfg


# ---- product files ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class LoadedProduct:
    """A valid product with where it came from (for messages and for resolving a relative ``image``)."""

    sheet: ProductSheet
    file: str
    index: int
    """Position in its file (0 for a file holding one product)."""
    line: int | None
    lines: dict[str, int] = field(default_factory=dict)
    """Dotted field path inside the product -> line (``image`` -> 12, ``faq.1.a`` -> 20)."""
    base: Path | str | None = None
    """Folder (or URL) that a relative ``image`` is resolved against."""


@dataclass(slots=True)
class ProductFileResult:
    """What one product file yielded.

    ``fatal``: the file could not be read at all (missing, syntax error, empty, wrong shape); a catalog keeps
    what it had from this file. ``failed``: ``(position, id or None)`` of products that did not validate.
    """

    file: str
    products: list[LoadedProduct]
    problems: list[ConfigProblem]
    fatal: bool = False
    failed: list[tuple[int, str | None]] = field(default_factory=list)


def _raw_id(item: Any) -> str | None:
    if isinstance(item, dict):
        v = item.get("id")
        if isinstance(v, str | int) and not isinstance(v, bool):
            return str(v).strip()
    return None


def _known_product_fields() -> list[str]:
    return list(ProductSheet.model_fields)


#: A product without a readable value for one of these cannot be sold: it is refused (the rest of its file loads).
#: Any other field that cannot be read is left out with a problem, and the product loads without it.
ESSENTIAL_FIELDS: frozenset[str] = frozenset({"id", "name", "price", "currency"})
_LEFT_OUT = "; left out, the rest of the product loads"
_MAX_DROP_ROUNDS = 50
#: Text fields cleaned of HTML when they hold tags or entities.
_HTML_FIELDS: tuple[str, ...] = ("name", "description", "promo", "shipping")


@dataclass(slots=True)
class _RawItem:
    """One raw product before validation, with what is needed to name the file line of any of its fields.

    ``origin`` maps a path in the sheet to the path in the document where its value was written, for fields the
    loader moved (flattened specs, FAQ written as a mapping, Shopify fields, CSV rows); a sheet path not in it sits
    at ``path + sheet path``. The longest matching prefix wins (``("variants", 1)`` covers ``("variants", 1,
    "price")``)."""

    data: Any
    path: Loc
    lines: LineMap
    origin: dict[Loc, Loc] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    warn_extras: bool = True
    refuse: str | None = None
    """Set when the raw product must not be sold whatever it validates to (a CSV row whose cells are shifted)."""
    skip: str | None = None
    """Set for a product that is not on sale (a Shopify draft): left out, and not kept from an earlier read."""

    def raw_path(self, loc: Sequence[str | int]) -> Loc:
        loc = tuple(loc)
        for n in range(len(loc), -1, -1):
            hit = self.origin.get(loc[:n])
            if hit is not None:
                return (*hit, *loc[n:])
        return (*self.path, *loc)

    def line(self, path: Sequence[str | int], *, key: bool = False) -> int | None:
        return self.lines.line(self.raw_path(path), key=key)

    def set_list(self, name: str, kept: list[tuple[Loc, Any]]) -> None:
        """Replace list field ``name`` by ``kept`` items, each with its path relative to the raw field."""
        where = [self.raw_path((name, *sub)) for sub, _ in kept]  # before the old item paths are replaced
        for key in [k for k in self.origin if len(k) > 1 and k[0] == name]:
            del self.origin[key]
        self.data[name] = [value for _, value in kept]
        for k, path in enumerate(where):
            self.origin[(name, k)] = path

    def drop(self, target: Loc) -> None:
        """Remove the value at ``target`` (a sheet path); later list items keep their lines."""
        parent: Any = self.data
        for part in target[:-1]:
            parent = _child(parent, part)
            if parent is None:
                return
        key = target[-1]
        if isinstance(parent, list) and isinstance(key, int) and 0 <= key < len(parent):
            prefix = target[:-1]
            n = len(parent)
            where = [self.raw_path((*prefix, k)) for k in range(n)]
            depth = len(prefix)
            deeper = {
                o: v
                for o, v in self.origin.items()
                if len(o) > depth + 1 and o[:depth] == prefix and isinstance(o[depth], int)
            }
            for o in deeper:
                del self.origin[o]
            del parent[key]
            del where[key]
            for k in range(n):
                self.origin.pop((*prefix, k), None)
            for k, w in enumerate(where):
                self.origin[(*prefix, k)] = w
            for o, v in deeper.items():
                index = int(o[depth])
                if index != key:
                    self.origin[(*prefix, index if index < key else index - 1, *o[depth + 1 :])] = v
        elif isinstance(parent, dict):
            if key in parent:
                del parent[key]
            elif str(key) in parent:
                del parent[str(key)]


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part, node.get(str(part)))
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _drop_target(loc: Loc) -> Loc:
    """What to leave out for an error at ``loc``: the field, the list item or spec, or a variant's optional field
    (a variant whose price or name cannot be read is left out whole)."""
    if len(loc) >= 3 and loc[0] == "variants" and loc[2] in ("list_price", "stock", "sku", "options"):
        return loc[:4] if loc[2] == "options" and len(loc) >= 4 else loc[:3]
    if len(loc) >= 2 and loc[0] in ("features", "faq", "variants", "specs", "sections"):
        return loc[:2]
    return loc[:1]


def _clean_html(value: Any) -> Any:
    if not isinstance(value, str) or ("<" not in value and "&" not in value):
        return value  # most text: no import, no regex
    from streamer.products.html_text import html_to_text, looks_like_html  # this package imports the loader

    return html_to_text(value) if looks_like_html(value) else value


def _prepare(item: _RawItem, *, file: str, default_currency: str) -> None:
    """Shape a raw product for the model, reporting what is left out on its own line: HTML cleaned to text, empty
    list items and specs dropped (warnings), specs flattened, FAQ mappings listed, unknown sections dropped,
    the catalog's currency for a product that names none."""
    data: dict[str, Any] = item.data

    def problem(loc: Loc, fld: str, message: str, hint: str = "", severity: Severity = "error") -> None:
        item.problems.append(ConfigProblem(file, item.lines.line(loc), fld, message, hint, severity))

    if _is_blank(data.get("currency")):
        data["currency"] = default_currency
    for key in _HTML_FIELDS:
        data[key] = _clean_html(data[key]) if key in data else None
        if data[key] is None:
            del data[key]
    if "features" in data:
        raw = data["features"]
        if isinstance(raw, str) and ("<" in raw or "&" in raw):
            from streamer.products.html_text import html_sections, looks_like_html

            if looks_like_html(raw):
                description, bullets = html_sections(raw)
                raw = bullets or [description]
                data["features"] = raw
        kept = []
        for sub, value in feature_items(raw):
            if _is_blank(value):
                where = item.raw_path(("features",)) + sub
                problem(where, ".".join(map(str, ("features", *sub))), "empty feature" + _LEFT_OUT, "", "warning")
                continue
            kept.append((sub, _clean_html(value)))
        item.set_list("features", kept)
    if "faq" in data:
        kept = []
        for sub, entry in faq_items(data["faq"]):
            if _is_blank(entry):
                where = item.raw_path(("faq",)) + sub
                problem(where, ".".join(map(str, ("faq", *sub))), "empty FAQ entry" + _LEFT_OUT, "", "warning")
                continue
            if isinstance(entry, dict):
                entry = {k: _clean_html(v) for k, v in entry.items()}
            kept.append((sub, entry))
        item.set_list("faq", kept)
    if "specs" in data:
        base = item.raw_path(("specs",))
        flat = flatten_specs(data["specs"])
        for issue in flat.issues:
            fld = ".".join(map(str, ("specs", *issue.path)))
            hint = "" if issue.empty else f"e.g. {FIELD_EXAMPLES['specs.*']}"
            problem((*base, *issue.path), fld, issue.message + _LEFT_OUT, hint, "warning" if issue.empty else "error")
        data["specs"] = {k: _clean_html(v) for k, v in flat.specs.items()}
        for key, sub in flat.origin.items():
            item.origin[("specs", key)] = (*base, *sub)
    sections = data.get("sections")
    if isinstance(sections, dict):
        for key in [k for k in sections if str(k) not in SECTION_NAMES]:
            near = suggest(str(key), SECTION_NAMES)
            problem(
                (*item.raw_path(("sections",)), str(key)),
                f"sections.{key}",
                f"unknown section {str(key)!r}" + _LEFT_OUT,
                f"did you mean '{near}'?" if near else f"known sections: {', '.join(SECTION_NAMES)}",
            )
            del sections[key]
    if isinstance(data.get("variants"), list):
        kept = []
        for i, variant in enumerate(data["variants"]):
            if _is_blank(variant):
                where = (*item.raw_path(("variants",)), i)
                problem(where, f"variants.{i}", "empty variant" + _LEFT_OUT, "", "warning")
                continue
            if isinstance(variant, dict) and "name" in variant:
                variant = {**variant, "name": _clean_html(variant["name"])}
            kept.append(((i,), variant))
        item.set_list("variants", kept)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value) or value == ""


def _validate_one(item: _RawItem, *, file: str) -> ProductSheet | None:
    """Validate one prepared product, leaving out what cannot be read (with an error each) until the rest is
    valid. None (with the errors) when an essential field cannot be read or the prices contradict each other."""
    data = item.data
    for _ in range(_MAX_DROP_ROUNDS):
        try:
            return ProductSheet.model_validate(data)
        except ValidationError as exc:
            found = _located_problems(exc, file=file, lines=item, data=data, root=ProductSheet)
        if any(not loc or str(loc[0]) in ESSENTIAL_FIELDS for loc, _ in found):
            item.problems += [p for _, p in found]
            _refused(item)
            return None
        targets: dict[Loc, None] = {}
        for loc, p in found:
            item.problems.append(ConfigProblem(p.file, p.line, p.field, p.message + _LEFT_OUT, p.hint, p.severity))
            targets[_drop_target(loc)] = None
        # Later list items first, so earlier indices still point where they did.
        for target in sorted(
            targets, key=lambda t: [(0, p) if isinstance(p, int) else (1, 0) for p in t], reverse=True
        ):
            item.drop(target)
    item.problems.append(ConfigProblem(file, item.line(()), "", "too many unreadable values", "fix the errors above"))
    _refused(item)
    return None


def _refused(item: _RawItem) -> None:
    """The product is not loaded after all (leaving values out left it without a price): say so in its problems."""
    for p in item.problems:
        p.message = p.message.removesuffix(_LEFT_OUT)


def _validate_items(
    items: list[_RawItem],
    *,
    file: str,
    base: Path | str | None,
    default_currency: str = "USD",
) -> ProductFileResult:
    """Validate each raw product: a product that cannot be sold is refused (``failed``), others load without
    the values that cannot be read."""
    result = ProductFileResult(file, [], [])
    seen: dict[str, int | None] = {}
    for index, item in enumerate(items):
        start = item.line(())
        if not isinstance(item.data, dict):
            result.problems += item.problems
            result.problems.append(
                ConfigProblem(
                    file,
                    start,
                    "",
                    f"expected a product ('key: value' lines), found {_quote(item.data)}",
                    "each product is a mapping with at least id, name and price",
                )
            )
            result.failed.append((index, None))
            continue
        raw_id = _raw_id(item.data)
        if item.skip is not None:
            result.problems += item.problems
            continue
        _prepare(item, file=file, default_currency=default_currency)
        sheet = _validate_one(item, file=file)
        result.problems += item.problems
        if sheet is None or item.refuse is not None:
            result.failed.append((index, raw_id))
            continue
        if sheet.id in seen:
            result.problems.append(
                ConfigProblem(
                    file,
                    item.line(("id",)),
                    "id",
                    f"duplicate product id {sheet.id!r} (first at line {seen[sheet.id]}); this one is ignored",
                    "give every product its own id",
                )
            )
            continue
        seen[sheet.id] = item.line(("id",))
        if item.warn_extras:
            for key in sheet.extra_fields:
                near = suggest(key, _known_product_fields())
                result.problems.append(
                    ConfigProblem(
                        file,
                        item.line((key,), key=True),
                        key,
                        "unknown field: kept with the product but not used by the show",
                        f"did you mean '{near}'?" if near else f"known fields: {', '.join(_known_product_fields())}",
                        "warning",
                    )
                )
        rel_lines = item.lines.sub_map(item.path) if item.warn_extras else {}
        for loc in item.origin:
            line = item.line(loc)
            if line is not None:
                rel_lines[".".join(str(p) for p in loc)] = line
        result.products.append(LoadedProduct(sheet, file, index, start, rel_lines, base))
    return result


def _shopify_item(
    product: Any,
    lines: LineMap,
    resolve: Callable[[Loc], Loc],
    *,
    file: str,
    default_currency: str,
) -> _RawItem:
    """A Shopify product as a raw item. ``resolve`` turns a path in the Shopify product into a document path."""
    from streamer.products.shopify import map_product  # this package imports the loader

    mapped = map_product(product, default_currency=default_currency)
    origin = {k: resolve(v) for k, v in mapped.origin.items()}
    origin[()] = resolve(())
    item = _RawItem(mapped.data, resolve(()), lines, origin, warn_extras=False)
    for note in mapped.notes:
        where = lines.line(resolve(note.path))
        item.problems.append(ConfigProblem(file, where, note.field, note.message, note.hint, note.severity))
    if mapped.skip is not None:
        item.skip = mapped.skip
        item.problems.append(ConfigProblem(file, lines.line(resolve(())), "status", mapped.skip, "", "warning"))
    return item


def read_product_text(
    text: str, *, fmt: Fmt, file: str, base: Path | str | None = None, default_currency: str = "USD"
) -> ProductFileResult:
    """Parse and validate product text (a file's or an HTTP body). Never raises for bad input.

    Reads product sheets (one, a list, or ``{"products": [...]}``), Shopify ``products.json`` (``{"products":
    [...]}`` or ``{"product": {...}}``, detected per product by its ``title`` and Shopify fields) and CSV (this
    project's columns or a Shopify export, detected by its header). ``default_currency``: the currency of a
    product that names none (Shopify feeds usually do not)."""
    from streamer.products.shopify import is_shopify_product  # this package imports the loader

    text = text.removeprefix("\ufeff")
    if fmt == "csv":
        return _read_product_csv(text, file=file, base=base, default_currency=default_currency)
    parsed = parse_text(text, fmt, file)
    if not parsed.ok:
        return ProductFileResult(file, [], parsed.problems, fatal=True)
    data = parsed.data
    raw: list[tuple[Any, Loc]]
    if data is None:
        problem = ConfigProblem(file, None, "", "file is empty (no products)", "add a product or delete the file")
        return ProductFileResult(file, [], [*parsed.problems, replace_severity(problem, "warning")], fatal=True)
    if isinstance(data, dict) and "products" in data and "id" not in data:
        if not isinstance(data["products"], list):
            problem = ConfigProblem(
                file, parsed.lines.line(("products",)), "products", "expected a list of products", "products: [...]"
            )
            return ProductFileResult(file, [], [*parsed.problems, problem], fatal=True)
        raw = [(item, ("products", i)) for i, item in enumerate(data["products"])]
    elif isinstance(data, dict) and "id" not in data and is_shopify_product(data.get("product")):
        raw = [(data["product"], ("product",))]
    elif isinstance(data, dict):
        raw = [(data, ())]
    elif isinstance(data, list):
        raw = [(item, (i,)) for i, item in enumerate(data)]
    else:
        problem = ConfigProblem(
            file,
            parsed.lines.line(()),
            "",
            f"expected a product ('key: value' lines) or a list of products, found {_quote(data)}",
            "start the file with 'id: ...' (one product) or '- id: ...' (a list)",
        )
        return ProductFileResult(file, [], [*parsed.problems, problem], fatal=True)
    items = []
    for item, path in raw:
        if is_shopify_product(item):

            def resolve(sub: Loc, path: Loc = path) -> Loc:
                return (*path, *sub)

            items.append(_shopify_item(item, parsed.lines, resolve, file=file, default_currency=default_currency))
        else:
            items.append(_RawItem(dict(item) if isinstance(item, dict) else item, path, parsed.lines))
    result = _validate_items(items, file=file, base=base, default_currency=default_currency)
    result.problems = sorted(parsed.problems + result.problems, key=ConfigProblem.sort_key)
    return result


def replace_severity(problem: ConfigProblem, severity: Severity) -> ConfigProblem:
    return ConfigProblem(problem.file, problem.line, problem.field, problem.message, problem.hint, severity)


# CSV --------------------------------------------------------------------------------------------------------

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def _number_or_text(s: str) -> str | int | float:
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    return s


def _split_list(cell: str) -> list[str]:
    sep = "|" if "|" in cell else ";"
    return [part.strip() for part in cell.split(sep) if part.strip()]


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Rows with the line each starts on. Raises csv.Error (with ``start`` line attached) on broken quoting."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            exc.start_line = start  # type: ignore[attr-defined]
            raise
        end = reader.line_num
        yield start, row


def _read_product_csv(
    text: str, *, file: str, base: Path | str | None, default_currency: str = "USD"
) -> ProductFileResult:
    """CSV product list: this project's columns (below) or a Shopify product export (detected by its ``Handle``
    and ``Variant Price`` / ``Body (HTML)`` / ``Option1 Name`` columns; one row per variant, see
    :mod:`streamer.products.shopify`). This project's conventions:

    * the first row names the columns (case does not matter): any :class:`ProductSheet` field (``id``, ``name``,
      ``price``, ``list_price``, ``currency``, ``promo``, ``features``, ``specs``, ``shipping``, ``stock``, ``faq``,
      ``image``, ``description``); other columns are kept as extra fields (with a warning);
    * one product per row; blank rows and rows whose first cell starts with ``#`` are skipped;
    * the delimiter is ``,`` unless the header has none, then ``;`` or a tab; quote cells that contain it
      (``"Warm, soft"``); cells may span lines inside quotes; the file may start with a UTF-8 BOM (Excel);
    * an empty cell means "not set" (the field's default);
    * ``price``, ``list_price``: plain numbers (``19.99``); ``stock``: a whole number;
    * ``features``: items separated by ``|`` (or by ``;`` when the cell has no ``|``):
      ``Whole bean | Roasted to order``;
    * ``specs``: ``key=value`` pairs separated by ``;`` (``weight=1 kg; cups=100``); numeric values become numbers;
      single specs may also be their own columns: ``specs.weight``;
    * ``faq``: entries separated by ``||``, question and answer by ``::``:
      ``Is it decaf?::No. || Ground?::Whole bean only.``;
    * ``sections``: one column per section, ``sections.hook``, ``sections.price``, ... (text; ``|`` splits several
      lines for one section).

    Problems name the row's first line in the file and the field. A row with more cells than the header is refused
    (its values may sit under the wrong columns); a spec or FAQ part that cannot be read is left out.
    """
    result = ProductFileResult(file, [], [])
    first_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        delimiter = ";" if ";" in first_line else ("\t" if "\t" in first_line else ",")
    try:
        rows = list(_csv_rows(text, delimiter))
    except csv.Error as exc:
        start = getattr(exc, "start_line", None)
        msg = str(exc)
        hint = "check the quoting of cells"
        if "unexpected end of data" in msg or "EOF" in msg:
            msg, hint = "a quoted cell is never closed", 'add the closing double quote; write "" for a quote inside'
        elif "delimiter" in msg or "quotechar" in msg:
            hint = 'a quote in the middle of a cell must be doubled: "5"" screen"'
        result.problems.append(ConfigProblem(file, start, "", f"CSV syntax error: {msg}", hint))
        result.fatal = True
        return result
    rows = [(ln, r) for ln, r in rows if any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        result.problems.append(ConfigProblem(file, None, "", "file is empty (no products)", "", "warning"))
        result.fatal = True
        return result
    header_line, header = rows[0]
    columns = [h.strip().lower() for h in header]
    body = rows[1:]
    lines = LineMap({(r,): (ln, ln) for r, (ln, _) in enumerate(body)})
    from streamer.products.shopify import csv_products, is_shopify_csv  # this package imports the loader

    if is_shopify_csv(columns):
        items: list[_RawItem] = []
        for product, where in csv_products(columns, [row for _, row in body]):

            def in_rows(path: Loc, where: dict[Loc, Loc] = where) -> Loc:
                for n in range(len(path), -1, -1):
                    if path[:n] in where:
                        return where[path[:n]]
                return ()

            items.append(_shopify_item(product, lines, in_rows, file=file, default_currency=default_currency))
        result = _validate_items(items, file=file, base=base, default_currency=default_currency)
        result.problems.sort(key=ConfigProblem.sort_key)
        return result
    known = set(_known_product_fields())
    items = []
    for r, (line, row) in enumerate(body):
        item = _RawItem({}, (r,), lines, warn_extras=False)
        if len(row) > len(columns):
            item.refuse = "shifted cells"
            item.problems.append(
                ConfigProblem(
                    file,
                    line,
                    "",
                    f"row has {len(row)} cells but the header names {len(columns)} columns",
                    'quote cells that contain a comma: "Warm, soft"',
                )
            )
        for col, cell in zip(columns, row, strict=False):
            value = cell.strip()
            if not col or not value:
                continue
            item.problems += _csv_cell(item.data, col, value, file=file, line=line)
        items.append(item)
    result = _validate_items(items, file=file, base=base, default_currency=default_currency)
    result.problems = _csv_header_warnings(file, header_line, columns, known) + result.problems
    result.problems.sort(key=ConfigProblem.sort_key)
    return result


def _csv_header_warnings(file: str, header_line: int, columns: list[str], known: set[str]) -> list[ConfigProblem]:
    out = []
    for col in columns:
        if not col or col in known or (col.split(".", 1)[0] in ("specs", "sections") and "." in col):
            continue
        near = suggest(col, sorted(known))
        out.append(
            ConfigProblem(
                file,
                header_line,
                col,
                "unknown column: kept with each product but not used by the show",
                f"did you mean '{near}'?" if near else f"known columns: {', '.join(sorted(known))}",
                "warning",
            )
        )
    return out


def _dedupe_problems(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[tuple[str, int | None, str, str, str]] = set()
    out = []
    for p in problems:
        k = (p.file, p.line, p.field, p.message, p.severity)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


def _csv_cell(item: dict[str, Any], col: str, value: str, *, file: str, line: int) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if col in ("price", "list_price"):
        try:
            item[col] = Decimal(value)
        except InvalidOperation:
            item[col] = value  # the model explains what is wrong with text in a price
    elif col == "stock":
        item[col] = int(value) if _INT.match(value) else value
    elif col == "features":
        item[col] = _split_list(value)
    elif col == "specs":
        specs = item.setdefault("specs", {})
        for i, part in enumerate(p.strip() for p in value.split(";")):
            if not part:
                continue
            if "=" not in part:
                problems.append(
                    ConfigProblem(
                        file,
                        line,
                        f"specs.{i}",
                        f"spec {part!r} has no '='" + _LEFT_OUT,
                        "write specs as key=value pairs separated by ';': weight=1 kg; cups=100",
                    )
                )
                continue
            k, v = (s.strip() for s in part.split("=", 1))
            specs[k] = _number_or_text(v)
    elif col.startswith("specs."):
        item.setdefault("specs", {})[col.split(".", 1)[1]] = _number_or_text(value)
    elif col == "faq":
        entries = []
        for i, part in enumerate(p.strip() for p in value.split("||")):
            if not part:
                continue
            if "::" not in part:
                problems.append(
                    ConfigProblem(
                        file,
                        line,
                        f"faq.{i}",
                        f"FAQ entry {part[:40]!r} has no '::' between question and answer" + _LEFT_OUT,
                        "write question::answer, entries separated by ||: Is it decaf?::No. || Ground?::No.",
                    )
                )
                continue
            q, a = (s.strip() for s in part.split("::", 1))
            entries.append({"q": q, "a": a})
        item["faq"] = entries
    elif col.startswith("sections."):
        lines = _split_list(value) if "|" in value else [value]
        item.setdefault("sections", {})[col.split(".", 1)[1]] = lines[0] if len(lines) == 1 else lines
    else:
        item[col] = value
    return problems


def read_product_file(path: str | Path, *, file: str | None = None, default_currency: str = "USD") -> ProductFileResult:
    """Read one product file (YAML, JSON or CSV by its ending). Never raises for bad input. ``default_currency``:
    the currency of products that name none."""
    path = Path(path)
    name = file if file is not None else _display(path)
    text, problems = read_text(path, name)
    if text is None:
        return ProductFileResult(name, [], problems, fatal=True)
    return read_product_text(
        text, fmt=format_of(path.name), file=name, base=path.resolve().parent, default_currency=default_currency
    )


def load_product_file(
    path: str | Path, *, default_currency: str = "USD"
) -> tuple[list[ProductSheet], list[ConfigProblem]]:
    """Read one product file: YAML or JSON (one product, a list, or ``{"products": [...]}``), Shopify
    ``products.json``, or CSV (one row per product, or a Shopify export; see :func:`_read_product_csv`).

    Returns the valid products and every problem (errors and warnings). A product without a readable id, name,
    price or currency is reported and skipped; the others still load. Any other value that cannot be read is
    reported and left out, and its product loads without it. Never raises for bad input: check
    ``errors_in(problems)``. Unknown fields are kept in the product's ``model_extra`` and reported as warnings.
    """
    result = read_product_file(path, default_currency=default_currency)
    return [p.sheet for p in result.products], result.problems


def product_files(folder: Path) -> list[Path]:
    """Product files in a folder, sorted by name; hidden and editor backup files are skipped."""
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith((".", "~", "#")) or name.endswith("~"):
            continue
        if entry.suffix.lower() in PRODUCT_SUFFIXES and entry.is_file():
            out.append(entry)
    return sorted(out, key=lambda p: p.name)


def merge_products(per_file: Sequence[Sequence[LoadedProduct]]) -> tuple[list[LoadedProduct], list[ConfigProblem]]:
    """Join the products of several files in order; a repeated id is an error naming both places, and the first
    product with that id wins."""
    seen: dict[str, LoadedProduct] = {}
    merged: list[LoadedProduct] = []
    problems: list[ConfigProblem] = []
    for products in per_file:
        for p in products:
            first = seen.get(p.sheet.id)
            if first is None:
                seen[p.sheet.id] = p
                merged.append(p)
                continue
            where = first.file + (f":{first.lines.get('id', first.line)}" if first.line else "")
            problems.append(
                ConfigProblem(
                    p.file,
                    p.lines.get("id", p.line),
                    "id",
                    f"duplicate product id {p.sheet.id!r}, already used in {where}; this one is ignored",
                    "give every product its own id",
                )
            )
    return merged, problems


def read_products(
    source: str | Path, *, default_currency: str = "USD"
) -> tuple[list[LoadedProduct], list[ConfigProblem]]:
    """All products of a folder (every product file in it, by name) or of one file."""
    path = Path(source)
    if path.is_dir():
        files = product_files(path)
        if not files:
            return [], [
                ConfigProblem(
                    str(source),
                    None,
                    "",
                    "no product files in this folder",
                    f"add files ending in {', '.join(PRODUCT_SUFFIXES)}",
                )
            ]
        results = [
            read_product_file(f, file=str(Path(source) / f.name), default_currency=default_currency) for f in files
        ]
    else:
        results = [read_product_file(path, file=str(source), default_currency=default_currency)]
    merged, problems = merge_products([r.products for r in results])
    all_problems = [p for r in results for p in r.problems] + problems
    return merged, sorted(all_problems, key=ConfigProblem.sort_key)


# ---- the `check` command ------------------------------------------------------------------------------------


def _fetch_products_sync(
    url: str, timeout_s: float = 10.0, *, default_currency: str = "USD"
) -> tuple[list[LoadedProduct], list[ConfigProblem]]:
    import urllib.error
    import urllib.request

    shown = redact_url(url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            body = resp.read(MAX_FILE_BYTES + 1)
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return [], [ConfigProblem(shown, None, "", f"HTTP {exc.code} {exc.reason}", "check the URL and the server")]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return [], [ConfigProblem(shown, None, "", f"could not fetch: {reason}", "check the URL and the network")]
    text, problems = decode_text(body, shown)
    if text is None:
        return [], problems
    fmt = fmt_for_http(ctype, url, text)
    result = read_product_text(text, fmt=fmt, file=shown, base=url, default_currency=default_currency)
    return result.products, result.problems


def fmt_for_http(content_type: str, url: str, body: str) -> Fmt:
    """Format of an HTTP body: by Content-Type, else by the URL's ending, else by a look at the text."""
    ctype = content_type.lower()
    if "json" in ctype:
        return "json"
    if "yaml" in ctype or "yml" in ctype:
        return "yaml"
    if "csv" in ctype:
        return "csv"
    path = urlsplit(url).path.lower()
    if path.endswith((".json", ".csv", ".yaml", ".yml")):
        return format_of(path)
    head = body.lstrip()[:1]
    if head in ("{", "["):
        return "json"
    first = body.lstrip().split("\n", 1)[0]
    if "," in first and ":" not in first:
        return "csv"
    return "yaml"


def check_all(
    persona_path: str | Path | None,
    products_path: str | Path | None,
    stream_config_path: str | Path | None = None,
    *,
    default_currency: str = "USD",
) -> list[ConfigProblem]:
    """Validate everything the show would load and return every problem (errors and warnings), sorted by
    file and line. Checks that each product image resolves and decodes (a failure is a warning: the card shows a
    placeholder) and that files referenced by the stream config exist. When a path is None it is taken from the
    stream config. Never raises for a user's mistake. ``default_currency``: the currency of products that name none
    (as in the catalog)."""
    from streamer.products.images import ImageLoadError, read_image  # images import this module

    problems: list[ConfigProblem] = []
    stream: StreamConfig | None = None
    if stream_config_path is not None:
        try:
            stream, warnings = read_stream_config(stream_config_path)
            problems += warnings
        except ConfigError as exc:
            problems += exc.problems
    if persona_path is None and stream is not None and stream.persona:
        persona_path = stream.persona
    if products_path is None and stream is not None and stream.products:
        products_path = stream.products

    persona: Persona | None = None
    if persona_path is None:
        problems.append(
            ConfigProblem("", None, "persona", "no persona file given", "set persona: in the stream config")
        )
    else:
        try:
            persona, warnings = read_persona(persona_path)
            problems += warnings
        except ConfigError as exc:
            problems += exc.problems

    products: list[LoadedProduct] = []
    if products_path is None:
        problems.append(ConfigProblem("", None, "products", "no products given", "set products: in the config"))
    elif _is_url(str(products_path)):
        products, found = _fetch_products_sync(str(products_path), default_currency=default_currency)
        problems += found
    else:
        products, found = read_products(products_path, default_currency=default_currency)
        problems += found
    if products_path is not None and not products and not errors_in(problems):
        problems.append(ConfigProblem(str(products_path), None, "", "no valid products", "add at least one product"))

    for p in products:
        if p.sheet.image:
            try:
                read_image(p.sheet.image, p.base)
            except ImageLoadError as exc:
                problems.append(
                    ConfigProblem(
                        p.file,
                        p.lines.get("image", p.line),
                        "image",
                        f"{exc.reason}; the product card will show a placeholder",
                        exc.hint or FIELD_EXAMPLES["image"],
                        "warning",
                    )
                )
        if persona is not None:
            for section in p.sheet.sections:
                if section not in persona.patter.sections:
                    problems.append(
                        ConfigProblem(
                            p.file,
                            p.lines.get(f"sections.{section}", p.line),
                            f"sections.{section}",
                            f"the persona's patter does not include the {section!r} section, so this text is not used",
                            f"add {section} to patter.sections in the persona",
                            "warning",
                        )
                    )
    return sorted(_dedupe_problems(problems), key=ConfigProblem.sort_key)


__all__ = [
    "FIELD_EXAMPLES",
    "PRODUCT_SUFFIXES",
    "ConfigError",
    "ConfigProblem",
    "LineMap",
    "LoadedProduct",
    "ProductFileResult",
    "check_all",
    "errors_in",
    "expand_env",
    "fmt_for_http",
    "format_problems",
    "load_persona",
    "load_product_file",
    "load_stream_config",
    "merge_products",
    "product_files",
    "read_persona",
    "read_product_file",
    "read_product_text",
    "read_products",
    "read_stream_config",
    "redact_url",
]
