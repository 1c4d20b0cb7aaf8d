"""Builds the brain a show uses and applies the guards to every sentence it writes.

``offline`` (default): templates for patter + retrieval over the sheets for answers. ``llm``: an OpenAI-compatible
endpoint, with the offline brain as its per-turn fallback. Either way every sentence passes :class:`SentenceGuard`,
checked against the product(s) the turn is about — the products a viewer's question names, not only the one on air.

**Every answer answers.** When the guards leave a reply with nothing but the greeting of the viewer (every content
sentence dropped), the same repair path runs whichever brain wrote it: the offline brain's answer from the sheet,
and if that cannot be said either, an honest "the sheet doesn't say" for the product asked about. A reply is never
a greeting followed by silence.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from streamer.brain.base import Brain, BrainRequest
from streamer.brain.guards import GuardVerdict, SentenceGuard
from streamer.brain.intents import classify, is_small_talk
from streamer.brain.offline import OfflineBrain, is_address
from streamer.brain.templates import normalise
from streamer.config import BrainSettings, Persona, ProductSheet

log = logging.getLogger(__name__)


def turn_subjects(request: BrainRequest) -> list[ProductSheet]:
    """The products a turn is about, main one first: for a question, the products it names (else the one on air);
    for a beat, its product and the product it leads to."""
    if request.beat is not None:
        out = [p for p in (request.beat.product, request.beat.next_product) if p is not None]
    else:
        catalog = list(request.products)
        on_screen = request.product
        if on_screen is not None and all(p.id != on_screen.id for p in catalog):
            catalog.append(on_screen)
        by_id = {p.id: p for p in catalog}
        cls = classify(request.question or "", catalog, on_screen=on_screen)
        out = [by_id[i] for i in cls.subjects if i in by_id]
        if not out and on_screen is not None:
            out = [on_screen]
    seen: set[str] = set()
    return [p for p in out if not (p.id in seen or seen.add(p.id))]  # type: ignore[func-returns-value]


def address_into(address: str, sentence: str, viewer: str | None, language: str) -> str:
    """The viewer's name put in front of the answer's first sentence ("Leo, it's 89 dollars today."), in place of
    a separate greeting. The address is dropped only when it is nothing but a greeting of that viewer; anything else
    is kept as it was said, before the sentence."""
    if not viewer or not is_address(address, viewer):
        return f"{address} {sentence}"
    if language.split("-")[0].lower() == "zh" or _has_cjk(sentence):
        return f"{viewer}，{sentence}"
    word = sentence.split(" ", 1)[0].rstrip(",:;!?.")
    if word in _LOWER_AFTER_NAME or _COMPOUND.match(word):
        sentence = sentence[:1].lower() + sentence[1:]
    return f"{viewer}, {sentence}"


#: Sentence openings that are ordinary words (lower-cased after "Leo, "); anything else may be a name ("Moon ...").
_LOWER_AFTER_NAME = frozenset(
    "It It's Its The There There's We We've You You'll Yes No Sure Today's Today Right That That's This These They "
    "Sorry Honest Shipping About For In Sold Here Here's Great Good Please Unfortunately Our A An And But So Each "
    "Both Absolutely Of Not One Two Three Now Currently Tap Just Click Hit Worth".split()
)


#: "Live-only", "Non-slip", "Ultra-soft": capitalised only because they open the sentence (a brand with a hyphen
#: keeps a capital after it: "Coca-Cola").
_COMPOUND = re.compile(r"^[A-Z][a-z]+(?:-[a-z]+)+$")

_CLAUSE = re.compile(r"(?<=[;；])\s*")


def split_clauses(sentence: str) -> list[str]:
    """ "It's 89 dollars today; the regular price is 109 dollars." -> two sentences. Only at a semicolon, and only
    when both sides are a few words long (so no number is parted from what it counts)."""
    parts = [p.strip() for p in _CLAUSE.split(sentence) if p.strip()]
    if len(parts) < 2 or any(len(p) < (4 if _has_cjk(p) else 12) for p in parts):
        return [sentence]
    out = []
    for i, part in enumerate(parts):
        cjk = _has_cjk(part)
        if part[-1] in ";；":
            part = part[:-1] + ("。" if cjk else ".")
        if i and not cjk and part[:1].islower():
            part = part[:1].upper() + part[1:]
        out.append(part)
    return out


def _has_cjk(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in text)


@dataclass(slots=True)
class GuardedTurn:
    """One turn's view of the guards: verdicts memoised by sentence (so a brain looking ahead with ``vet`` and the
    kit checking again count once), and what got through."""

    guard: SentenceGuard
    request: BrainRequest
    subjects: list[ProductSheet]
    verdicts: dict[str, GuardVerdict] = field(default_factory=dict)
    spoken: list[str] = field(default_factory=list)
    content: int = 0
    """Sentences that passed and are more than a greeting of the viewer."""
    dropped: int = 0

    def vet(self, sentence: str) -> GuardVerdict:
        verdict = self.verdicts.get(sentence)
        if verdict is None:
            main = self.subjects[0] if self.subjects else self.request.product
            verdict = self.guard.check(sentence, product=main, products=self.request.products, about=self.subjects[1:])
            if len(self.verdicts) < 64:
                self.verdicts[sentence] = verdict
        return verdict


class BrainKit:
    """The brain in use, the offline brain behind it (prepared on every catalog change), and the guard."""

    def __init__(self, *, brain: Brain, offline: OfflineBrain, guard: SentenceGuard) -> None:
        self.brain = brain
        self.offline = offline
        self.guard = guard
        self._language_guards: dict[tuple[int, str], SentenceGuard] = {}
        self.repairs: collections.Counter[str] = collections.Counter()
        """Replies the repair path completed, by how: ``offline_answer`` (the sheet's answer replaced what the
        guards dropped), ``decline`` (an honest "the sheet doesn't say")."""

    async def stream(self, request: BrainRequest) -> AsyncGenerator[str, None]:
        """The brain's sentences after the guards: dropped ones vanish, rewritten ones come out rewritten, and a
        reply left without content is repaired (see the module docstring)."""
        turn = GuardedTurn(guard=self._guard_for(request.persona), request=request, subjects=turn_subjects(request))
        request = dataclasses.replace(request, vet=turn.vet)
        held: str | None = None
        merge = request.question is not None and bool(request.viewer) and not is_small_talk(request.question)
        """A greeting of the viewer ("Good question, Leo!") waiting for the answer's first sentence: said as one
        ("Leo, it's 89 dollars today."), it is shorter on air and the answer starts with the viewer's name."""
        async for sentence in self.brain.stream(request):
            text = self._admit(turn, sentence)
            if text is None:
                continue
            if merge and held is None and turn.content == 0:
                held = text  # an address: wait for what it introduces
                continue
            if held is not None:
                text, held = address_into(held, text, request.viewer, request.persona.language), None
            if request.question is None:
                yield text
                continue
            # Short sentences in answers: the first carries the fact and is all the next viewer waits for.
            for part in split_clauses(text):
                yield part
        if request.question is not None and turn.content == 0:
            for text in await self._repair(turn, request):
                if held is not None:
                    text, held = address_into(held, text, request.viewer, request.persona.language), None
                yield text
        if held is not None:
            yield held

    def _guard_for(self, persona: Persona) -> SentenceGuard:
        """The guard for a turn in ``persona``'s language: the guard in use, or for an answer in another of its
        languages (``Persona.for_language``) a guard with the same rules and counts whose replacement lines are in
        that language. Rebuilt when the guard in use is replaced (a hot reload)."""
        if persona.language == self.guard.persona.language:
            return self.guard
        key = (id(self.guard), persona.language)
        guard = self._language_guards.get(key)
        if guard is None:
            self._language_guards = {k: g for k, g in self._language_guards.items() if k[0] == id(self.guard)}
            guard = SentenceGuard(settings=self.guard.settings, persona=persona, rules=self.guard.rules)
            guard.counts = self.guard.counts  # one tally for the show
            self._language_guards[key] = guard
        return guard

    def _admit(self, turn: GuardedTurn, sentence: str) -> str | None:
        verdict = turn.vet(sentence)
        if verdict.text is None:
            turn.dropped += 1
            log.info("guard dropped a sentence (%s): %s", ", ".join(a.kind for a in verdict.actions), sentence)
            return None
        if verdict.actions:
            log.info("guard rewrote (%s): %s -> %s", ", ".join(a.kind for a in verdict.actions), sentence, verdict.text)
        request = turn.request
        if request.beat is not None and normalise(verdict.text) in request.recent:
            return None  # the no-repeat rule holds for every brain (an LLM repeating itself, a rewrite)
        if verdict.text in turn.spoken:
            return None
        turn.spoken.append(verdict.text)
        if not (request.question is not None and is_address(verdict.text, request.viewer)):
            turn.content += 1
        return verdict.text

    async def _repair(self, turn: GuardedTurn, request: BrainRequest) -> list[str]:
        """Sentences for a reply whose content the guards dropped (or that had none): the offline brain's answer,
        else an honest decline. Already-said sentences (the greeting) are not said again."""
        out: list[str] = []
        if self.brain is not self.offline or turn.dropped:
            sentences = await asyncio.to_thread(self.offline.answer, request)
            for sentence in sentences:
                if turn.spoken and is_address(sentence, request.viewer):
                    continue  # the viewer was greeted already
                text = self._admit(turn, sentence)
                if text is not None:
                    out.append(text)
            if turn.content:
                self.repairs["offline_answer"] += 1
                log.info("reply repaired from the sheet: %s", " ".join(out))
                return out
        product = turn.subjects[0] if turn.subjects else request.product
        for sentence in self.offline.decline(request, product):
            text = self._admit(turn, sentence)
            if text is not None:
                out.append(text)
        self.repairs["decline"] += 1
        return out

    async def aclose(self) -> None:
        close = getattr(self.brain, "aclose", None)
        if close is not None:
            await close()


def build_brain(settings: BrainSettings, persona: Persona) -> BrainKit:
    """Raises ``LlmConfigError`` (no secret in it) when the LLM's key variable is missing, and
    ``GuardRulesError`` (file:line) for a bad extra rules file."""
    offline = OfflineBrain()
    guard = SentenceGuard(settings=settings.guards, persona=persona, extra_rules_dir=settings.guards.extra_rules_dir)
    brain: Brain = offline
    if settings.backend == "llm":
        assert settings.llm is not None
        from streamer.brain.llm import LlmBrain  # the openai client takes half a second to import: only if used

        brain = LlmBrain(settings.llm, fallback=offline)
    return BrainKit(brain=brain, offline=offline, guard=guard)


__all__ = ["BrainKit", "GuardedTurn", "build_brain", "turn_subjects"]
