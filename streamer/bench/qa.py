"""``python -m streamer.bench qa``: answer quality on a bundled question set, English and Chinese.

The data lives next to this module in ``qa/``: two catalogs (``en/``, ``zh/``: folders of sheets in the shapes shops
export: list and nested specs, variants with their own price and stock, HTML descriptions, a Shopify
``products.json``, USD/EUR/CNY, Chinese sheets written as a Chinese shop writes them), a persona per language, and
``questions_en.yaml`` / ``questions_zh.yaml`` (format in their headers).

Every question goes through the same path as ``livehost ask``: ``build_brain`` (default brain settings) ->
``ProductCatalog.refresh`` -> ``kit.offline.prepare`` -> ``BrainRequest`` (the question's product on air, the whole
catalog beside it) -> ``kit.stream`` (the guarded answer, with its repair path). What comes out is scored by the
pure functions below (no I/O, no model), which is what ``tests/test_bench_qa.py`` tests.

Scoring, per question (see :func:`score_answer`):

* **empty**: no sentence at all after the guards, or only sentences that greet or address the viewer
  (:func:`streamer.brain.offline.is_address`). For a ``greeting`` question a greeting *is* the answer, so there only
  "no sentence at all" is empty.
* **correct** (answerable questions): not empty, every ``expect`` item found (case-insensitive substring; an item
  that is a list is a set of alternatives) and every ``expect_number`` stated: the answer's quantities are read with
  :func:`streamer.brain.numbers.find_quantities` and compared by value, so ``89 dollars``, ``$89``, ``eighty-nine``,
  ``89元`` and ``八十九元`` all state 89.
* **honest** (``unknown: true`` questions): not empty, no invented number, and a decline: the reply contains one of
  :data:`DECLINE_PHRASES` (the brain's own "I don't have that detail" / "the sheet doesn't say" / "商品资料里没写"
  wordings and common equivalents) **or** the offline brain's trace of that turn says ``confident=False``.
* **invented numbers**: every quantity in any answer sentence that is not a fact of *any* product of the catalog
  (:func:`streamer.brain.guards.product_facts`, matched as the fact guard matches; plain counts of 1-3 are speech,
  not claims, as in the guard). A catalog-wide check: a number true of another product still passes here.
* **wrong language** (reported as ``wrong_language_answers``, not part of accuracy): a zh reply with English
  template words in it, or an en reply with Chinese characters.

``failures`` lists the first :data:`MAX_FAILURES` questions that failed or were flagged (invented number, wrong
language), each with the answer given and why.

A question whose product did not load (see ``load_problems``) is a failure, never a crash. Latency is the wall time
of one question through the whole path (request -> last guarded sentence), measured on the scored pass after a
warm-up pass of other questions about the same catalog (the brain caches question embeddings, so asking the scored
questions twice would time cache hits).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from streamer.brain.guards import ProductFacts, is_small_count, product_facts
from streamer.brain.numbers import find_quantities
from streamer.brain.offline import is_address
from streamer.config import ProductSheet
from streamer.stats import percentile

DATA_DIR = Path(__file__).resolve().with_name("qa")
LANGUAGES = ("en", "zh")
MAX_FAILURES = 30
"""Failing questions listed in the output (the rest are counted)."""
MAX_QUESTIONS = 2000
"""A question file longer than this is refused (the benchmark is bounded)."""

TARGETS: dict[str, tuple[str, float]] = {
    "accuracy_en": (">=", 0.95),
    "accuracy_zh": (">=", 0.95),
    "honest_unknown": (">=", 1.0),
    "empty_answers": ("<=", 0),
    "invented_numbers": ("<=", 0),
    "p95_ms": ("<=", 150.0),
}
"""Issue 9's targets for this benchmark."""

DECLINE_PHRASES: tuple[str, ...] = (
    # The offline brain's own declines (PHRASES "unknown", "compare_unknown", "no_product", "no_promo").
    "don't have that detail",
    "doesn't say",
    "won't guess",
    "don't want to guess",
    "not sure about that",
    "which product you mean",
    "don't see a promotion",
    # Equivalents an LLM or a later wording may use.
    "does not say",
    "do not have that detail",
    "don't have that information",
    "don't have information",
    "not on the sheet",
    "isn't on the sheet",
    "not listed",
    "isn't listed",
    "doesn't mention",
    "does not mention",
    "can't confirm",
    "cannot confirm",
    "can't say for sure",
    "没有这个细节",
    "细节我这里没有",
    "资料里没",
    "没写",
    "没有写",
    "没有提到",
    "没提到",
    "不乱说",
    "不猜",
    "不清楚",
    "暂无",
    "哪个商品",
    "没有列出",
)
"""Lower-case substrings that make a reply an honest "the sheet doesn't say"."""


# ---- questions ---------------------------------------------------------------------------------------------


class QuestionFileError(ValueError):
    """A question file that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True, slots=True)
class QaQuestion:
    """One benchmark question (see the header of ``qa/questions_en.yaml`` for the fields)."""

    language: str
    number: int
    """1-based position in its file."""
    product: str
    """The product on air, as the question file names it (an id, or a Shopify handle)."""
    question: str
    kind: str
    expect: tuple[tuple[str, ...], ...] = ()
    """Each item: alternatives, any one of which must appear (case-insensitive)."""
    expect_numbers: tuple[Decimal, ...] = ()
    unknown: bool = False
    viewer: str | None = None
    line: int | None = None


_QUESTION_FIELDS = frozenset({"product", "question", "kind", "expect", "expect_number", "unknown", "viewer"})


def _number(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"expected a number, got {value!r}") from None


def parse_questions(text: str, *, language: str, file: str = "<questions>") -> list[QaQuestion]:
    """Questions from YAML text. Raises :class:`QuestionFileError` naming ``file:line`` and the field for anything
    malformed: a benchmark that silently skips questions would report a better figure than it measured."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise QuestionFileError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(data, list) or root is None or not isinstance(root, yaml.SequenceNode):
        raise QuestionFileError(f"{file}: expected a list of questions ('- product: ...')")
    if len(data) > MAX_QUESTIONS:
        raise QuestionFileError(f"{file}: {len(data)} questions, at most {MAX_QUESTIONS}")
    out: list[QaQuestion] = []
    for i, (item, node) in enumerate(zip(data, root.value, strict=True), start=1):
        line = node.start_mark.line + 1
        where = f"{file}:{line} (question {i})"
        if not isinstance(item, dict):
            raise QuestionFileError(f"{where}: expected a mapping with product, question, kind")
        unknown_fields = sorted(set(item) - _QUESTION_FIELDS)
        if unknown_fields:
            raise QuestionFileError(f"{where}: unknown field(s) {unknown_fields}; known: {sorted(_QUESTION_FIELDS)}")
        for name in ("product", "question", "kind"):
            if not isinstance(item.get(name), str) or not item[name].strip():
                raise QuestionFileError(f"{where}: field {name!r} must be non-empty text")
        unknown = item.get("unknown", False)
        if not isinstance(unknown, bool):
            raise QuestionFileError(f"{where}: field 'unknown' must be true or false")
        expect: list[tuple[str, ...]] = []
        for entry in item.get("expect") or []:
            options = entry if isinstance(entry, list) else [entry]
            if not options or not all(isinstance(o, str | int | float) and str(o).strip() for o in options):
                raise QuestionFileError(f"{where}: field 'expect': {entry!r} is not text or a list of texts")
            expect.append(tuple(str(o) for o in options))
        raw_numbers = item.get("expect_number", [])
        numbers: list[Decimal] = []
        for value in raw_numbers if isinstance(raw_numbers, list) else [raw_numbers]:
            try:
                numbers.append(_number(value))
            except ValueError as exc:
                raise QuestionFileError(f"{where}: field 'expect_number': {exc}") from None
        if unknown and (expect or numbers):
            raise QuestionFileError(f"{where}: an 'unknown: true' question has no expect/expect_number")
        if not unknown and not (expect or numbers):
            raise QuestionFileError(f"{where}: give 'expect' and/or 'expect_number', or mark it 'unknown: true'")
        viewer = item.get("viewer")
        if viewer is not None and not isinstance(viewer, str):
            raise QuestionFileError(f"{where}: field 'viewer' must be text")
        out.append(
            QaQuestion(
                language=language,
                number=i,
                product=item["product"].strip(),
                question=item["question"].strip(),
                kind=item["kind"].strip(),
                expect=tuple(expect),
                expect_numbers=tuple(numbers),
                unknown=unknown,
                viewer=viewer,
                line=line,
            )
        )
    return out


def load_questions(path: Path, *, language: str) -> list[QaQuestion]:
    return parse_questions(path.read_text(encoding="utf-8"), language=language, file=str(path))


# ---- scoring (pure) ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QaScore:
    """How one answer fared. ``ok`` is the figure that counts: correct (answerable) or honest (unknown)."""

    ok: bool
    empty: bool
    declined: bool
    """The reply reads as "the sheet doesn't say" (or the brain's trace said it was not confident)."""
    invented: tuple[str, ...] = ()
    """Each quantity no catalog product states: ``"'$12' (money 12)"``."""
    missing: tuple[str, ...] = ()
    """What an answerable reply lacked (expect items, numbers), or why an unknown one is not honest."""
    wrong_language: bool = False
    """Not in the persona's language (see :func:`wrong_language`); reported, not part of ``ok``."""


def content_sentences(sentences: Sequence[str], viewer: str | None) -> list[str]:
    """The sentences that say more than a greeting or address of the viewer."""
    return [s for s in sentences if s.strip() and not is_address(s, viewer)]


def expect_item_found(text: str, options: Iterable[str]) -> bool:
    low = text.lower()
    return any(o.lower() in low for o in options)


def numbers_missing(text: str, numbers: Iterable[Decimal]) -> list[Decimal]:
    """The expected values that no quantity of ``text`` states (any kind, compared by value)."""
    values = {q.value for q in find_quantities(text)}
    return [n for n in numbers if n not in values]


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_EN_FUNCTION_WORDS = re.compile(
    r"(?<![A-Za-z'])(?:the|is|are|it|it's|and|for|of|with|you|this|that)(?![A-Za-z'])", re.IGNORECASE
)


def wrong_language(sentences: Iterable[str], language: str) -> bool:
    """Whether a reply is (partly) not in the persona's language: for ``zh``, a sentence with two or more English
    function words ("The 杯子容量 is 60毫升."); for any other language, a sentence with Chinese characters."""
    for s in sentences:
        if language == "zh":
            if len(_EN_FUNCTION_WORDS.findall(s)) >= 2:
                return True
        elif _CJK.search(s):
            return True
    return False


def is_decline(text: str) -> bool:
    low = text.lower()
    return any(p in low for p in DECLINE_PHRASES)


def invented_quantities(
    sentences: Iterable[str], facts: Sequence[ProductFacts], *, names: Sequence[str] = ()
) -> list[str]:
    """Every quantity in ``sentences`` that is a fact of none of ``facts`` (small plain counts excepted, product
    names masked, as the fact guard reads them)."""
    out: list[str] = []
    for sentence in sentences:
        for q in find_quantities(sentence, names=names):
            if is_small_count(q) or any(f.matches(q) for f in facts):
                continue
            what = q.kind if q.kind != "count" or q.cue is None else f"{q.cue} count"
            out.append(f"{q.text!r} ({what} {q.value})")
    return out


def score_answer(
    question: QaQuestion,
    sentences: Sequence[str],
    *,
    facts: Sequence[ProductFacts],
    names: Sequence[str] = (),
    confident: bool | None = None,
) -> QaScore:
    """Score one reply (the guarded sentences, in order). ``facts``: every catalog product's facts.
    ``confident``: the offline brain's trace for this turn (None when unknown). See the module docstring."""
    text = " ".join(s.strip() for s in sentences if s.strip())
    content = content_sentences(sentences, question.viewer)
    empty = not text if question.kind == "greeting" else not content
    invented = tuple(invented_quantities(sentences, facts, names=names))
    declined = bool(text) and (is_decline(text) or confident is False)
    foreign = wrong_language(sentences, question.language)
    if question.unknown:
        why: list[str] = []
        if empty:
            why.append("empty")
        if not declined:
            why.append("no honest decline")
        if invented:
            why.append("invented number")
        return QaScore(
            ok=not why, empty=empty, declined=declined, invented=invented, missing=tuple(why), wrong_language=foreign
        )
    missing: list[str] = []
    for options in question.expect:
        if not expect_item_found(text, options):
            missing.append(options[0] if len(options) == 1 else " | ".join(options))
    missing += [f"number {n}" for n in numbers_missing(text, question.expect_numbers)]
    if empty:
        missing.insert(0, "empty")
    return QaScore(
        ok=not missing,
        empty=empty,
        declined=declined,
        invented=invented,
        missing=tuple(missing),
        wrong_language=foreign,
    )


# ---- products ----------------------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def shopify_aliases(folder: Path) -> dict[str, set[str]]:
    """For each Shopify product in the folder's JSON files, keyed by its ``handle``: the ids and names a loader may
    give it (the handle, the numeric id, the title). Unreadable files are skipped (the catalog reports them)."""
    out: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        items = data.get("products") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("handle"), str) and "title" in item:
                out[item["handle"]] = {item["handle"], str(item.get("id")), str(item["title"])}
    return out


def resolve_product(
    ref: str, products: Sequence[ProductSheet], aliases: Mapping[str, set[str]] | None = None
) -> ProductSheet | None:
    """The catalog product a question file names: by id, by Shopify handle/id/title, or by name (or its slug)."""
    names = {ref, *(aliases or {}).get(ref, set())}
    for p in products:
        if p.id in names:
            return p
    for p in products:
        if p.name in names or slug(p.name) == ref:
            return p
    return None


# ---- results -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class QaResult:
    question: QaQuestion
    sentences: list[str] = field(default_factory=list)
    score: QaScore | None = None
    latency_ms: float | None = None
    problem: str | None = None
    """Why it could not be asked (its product did not load)."""

    @property
    def ok(self) -> bool:
        return self.score is not None and self.score.ok


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 3) if den else None


def _why(result: QaResult) -> str:
    if result.problem is not None:
        return result.problem
    assert result.score is not None
    parts = list(result.score.missing)
    if result.score.invented:
        parts.append("invented " + ", ".join(result.score.invented))
    if not result.question.unknown and result.score.declined:
        parts.append("declined an answerable question")
    if result.score.wrong_language:
        parts.append("not in the persona's language")
    return "; ".join(dict.fromkeys(parts))


def failure_entry(result: QaResult) -> dict[str, Any]:
    q = result.question
    entry: dict[str, Any] = {
        "id": f"{q.language}-{q.number}",
        "kind": q.kind,
        "product": q.product,
        "question": q.question,
        "answer": " ".join(result.sentences),
        "why": _why(result),
    }
    if q.expect or q.expect_numbers:
        entry["expected"] = [" | ".join(o) for o in q.expect] + [str(n) for n in q.expect_numbers]
    return entry


def summarise(results: Sequence[QaResult]) -> dict[str, Any]:
    """The benchmark's figures from scored results (pure). Unloadable questions count as failures."""
    out: dict[str, Any] = {}
    per_language: dict[str, dict[str, Any]] = {}
    for lang in LANGUAGES:
        mine = [r for r in results if r.question.language == lang]
        if not mine:
            continue
        answerable = [r for r in mine if not r.question.unknown]
        unknown = [r for r in mine if r.question.unknown]
        lat = [r.latency_ms for r in mine if r.latency_ms is not None]
        out[f"accuracy_{lang}"] = _ratio(sum(r.ok for r in answerable), len(answerable))
        per_language[lang] = {
            "questions": len(mine),
            "answerable": len(answerable),
            "correct": sum(r.ok for r in answerable),
            "unknown": len(unknown),
            "honest": sum(r.ok for r in unknown),
            "declined_answerable": sum(1 for r in answerable if r.score is not None and r.score.declined),
            "not_asked": sum(1 for r in mine if r.problem is not None),
            "p95_ms": round(percentile(lat, 0.95), 2) if lat else None,
        }
    unknown_all = [r for r in results if r.question.unknown]
    out["honest_unknown"] = _ratio(sum(r.ok for r in unknown_all), len(unknown_all))
    out["empty_answers"] = sum(1 for r in results if r.score is not None and r.score.empty)
    out["invented_numbers"] = sum(len(r.score.invented) for r in results if r.score is not None)
    out["wrong_language_answers"] = sum(1 for r in results if r.score is not None and r.score.wrong_language)
    lat_all = [r.latency_ms for r in results if r.latency_ms is not None]
    out["p50_ms"] = round(percentile(lat_all, 0.5), 2) if lat_all else None
    out["p95_ms"] = round(percentile(lat_all, 0.95), 2) if lat_all else None
    out["max_ms"] = round(max(lat_all), 2) if lat_all else None
    out["questions"] = len(results)
    out["not_asked"] = sum(1 for r in results if r.problem is not None)
    out["languages"] = per_language
    kinds: dict[str, dict[str, int]] = {}
    for r in results:
        k = kinds.setdefault(r.question.kind, {"questions": 0, "ok": 0})
        k["questions"] += 1
        k["ok"] += r.ok
    out["kinds"] = dict(sorted(kinds.items()))
    met: dict[str, bool | None] = {}
    for name, (op, target) in TARGETS.items():
        value = out.get(name)
        met[name] = None if value is None else (value >= target if op == ">=" else value <= target)
    out["targets_met"] = met
    failing = [r for r in results if not r.ok or (r.score is not None and (r.score.invented or r.score.wrong_language))]
    out["failures_total"] = len(failing)
    out["failures"] = [failure_entry(r) for r in failing[:MAX_FAILURES]]
    return out


# ---- running (I/O) -----------------------------------------------------------------------------------------

_WARMUP = {
    "en": ["tell me about the {name}", "what's special about the {name}?"],
    "zh": ["介绍一下{name}", "{name}有什么特点？"],
}


@dataclass(slots=True)
class LanguageRun:
    results: list[QaResult]
    load_problems: list[str]
    products: int
    embedder: str


async def run_language(language: str, *, data_dir: Path, verbose: bool = False) -> LanguageRun:
    """Load the language's catalog and persona, warm up, then ask every question once through the ask path."""
    from streamer.brain.base import BrainRequest
    from streamer.brain.factory import build_brain
    from streamer.config import StreamConfig
    from streamer.loading import load_persona
    from streamer.products.catalog import ProductCatalog
    from streamer.untrusted import clean_untrusted

    questions = load_questions(data_dir / f"questions_{language}.yaml", language=language)
    persona = load_persona(data_dir / f"persona_{language}.yaml")[0]
    kit = build_brain(StreamConfig().brain, persona)  # what `ask` builds without a --config
    catalog = ProductCatalog(data_dir / language, refresh_s=3600)
    try:
        await catalog.refresh()
        products = list(catalog.products)
        problems = [f"{p.severity}: {p}" for p in catalog.problems]
        await asyncio.to_thread(kit.offline.prepare, products)
        facts = [product_facts(p) for p in products]
        names = [p.name for p in products]
        aliases = shopify_aliases(data_dir / language)

        async def ask(question: str, product: ProductSheet, viewer: str | None, seed: int) -> list[str]:
            request = BrainRequest(
                persona=persona,
                question=clean_untrusted(question),
                viewer=clean_untrusted(viewer, 40) if viewer else None,
                product=product,
                products=products,
                rng=random.Random(seed),
            )
            return [s async for s in kit.stream(request)]

        for i, p in enumerate(products):  # warm-up pass: other questions, same catalog and path
            for template in _WARMUP[language]:
                await ask(template.format(name=p.name), p, None, -1 - i)

        results: list[QaResult] = []
        for q in questions:
            product = resolve_product(q.product, products, aliases)
            if product is None:
                result = QaResult(q, problem=f"product {q.product!r} did not load (see load_problems)")
            else:
                before = kit.offline.last_trace
                t0 = time.perf_counter()
                sentences = await ask(q.question, product, q.viewer, q.number)
                latency_ms = (time.perf_counter() - t0) * 1000
                trace = kit.offline.last_trace
                confident = trace.confident if trace is not before else None
                score = score_answer(q, sentences, facts=facts, names=names, confident=confident)
                result = QaResult(q, sentences=sentences, score=score, latency_ms=latency_ms)
            results.append(result)
            if verbose:
                why = _why(result)
                mark = ("ok" if result.ok else "FAIL") + (f" ({why})" if why else "")
                print(
                    f"[{language}-{q.number} {q.kind} @{q.product}] {q.question}\n    -> {' '.join(result.sentences)}"
                    f"\n    {mark}",
                    file=sys.stderr,
                )
        return LanguageRun(results, problems, len(products), kit.offline.embedder.name)
    finally:
        await kit.aclose()
        await catalog.aclose()


def run_qa(args: argparse.Namespace) -> dict[str, Any]:
    """The ``qa`` subcommand (``args``: ``language`` en|zh|all, ``verbose``, ``json_out``, ``data_dir``): one
    JSON-able dict, also written to ``json_out`` when given."""
    data_dir = Path(args.data_dir) if args.data_dir else DATA_DIR
    languages = LANGUAGES if args.language == "all" else (args.language,)
    results: list[QaResult] = []
    load_problems: dict[str, list[str]] = {}
    embedders: dict[str, str] = {}
    products: dict[str, int] = {}
    t0 = time.perf_counter()
    for lang in languages:
        run = asyncio.run(run_language(lang, data_dir=data_dir, verbose=args.verbose))
        results += run.results
        load_problems[lang] = run.load_problems
        embedders[lang] = run.embedder
        products[lang] = run.products
    summary = summarise(results)
    out: dict[str, Any] = {
        "benchmark": "qa",
        "measured": "bundled en/zh questions through the ask path (build_brain -> catalog -> prepare -> "
        "BrainRequest -> guarded kit.stream); accuracy on answerable questions, honest declines on unanswerable "
        "ones, catalog-wide invented numbers, per-question latency after a warm-up pass",
        **{k: summary.pop(k) for k in list(summary) if k != "failures"},
        "products_loaded": products,
        "load_problems": load_problems,
        "embedder": embedders,
        "cpu_count": os.cpu_count(),
        "wall_s": round(time.perf_counter() - t0, 1),
        "failures": summary["failures"],
    }
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


__all__ = [
    "DATA_DIR",
    "DECLINE_PHRASES",
    "TARGETS",
    "QaQuestion",
    "QaResult",
    "QaScore",
    "QuestionFileError",
    "content_sentences",
    "invented_quantities",
    "is_decline",
    "load_questions",
    "numbers_missing",
    "parse_questions",
    "resolve_product",
    "run_qa",
    "score_answer",
    "summarise",
    "wrong_language",
]
