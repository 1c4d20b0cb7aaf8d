"""Builds the brain a show uses and applies the guards to every sentence it writes.

``offline`` (default): templates for patter + retrieval over the sheets for answers. ``llm``: an OpenAI-compatible
endpoint, with the offline brain as its per-turn fallback. Either way every sentence passes :class:`SentenceGuard`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from streamer.brain.base import Brain, BrainRequest
from streamer.brain.guards import SentenceGuard
from streamer.brain.offline import OfflineBrain
from streamer.config import BrainSettings, Persona

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BrainKit:
    """The brain in use, the offline brain behind it (prepared on every catalog change), and the guard."""

    brain: Brain
    offline: OfflineBrain
    guard: SentenceGuard

    async def stream(self, request: BrainRequest) -> AsyncIterator[str]:
        """The brain's sentences after the guards: dropped ones vanish, rewritten ones come out rewritten."""
        product = request.product
        async for sentence in self.brain.stream(request):
            verdict = self.guard.check(sentence, product=product, products=request.products)
            if verdict.text is None:
                log.info("guard dropped a sentence (%s): %s", ", ".join(a.kind for a in verdict.actions), sentence)
                continue
            if verdict.actions:
                log.info(
                    "guard rewrote (%s): %s -> %s", ", ".join(a.kind for a in verdict.actions), sentence, verdict.text
                )
            yield verdict.text

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
