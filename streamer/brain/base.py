"""The brain interface: given the persona, the product, what to talk about (a patter beat) or a viewer's question,
and short conversation memory, yield sentences one at a time.

Yielding sentence by sentence lets the first one reach the voice before the rest is written (an LLM backend
streams; the offline backend is instant). Every sentence then passes the guards (:mod:`streamer.brain.guards`)
before it may be spoken, whichever backend wrote it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from streamer.config import Persona, ProductSheet

if TYPE_CHECKING:
    from streamer.brain.guards import GuardVerdict

BeatKind = Literal["greeting", "section", "transition", "invite", "sign_off"]


@dataclass(slots=True)
class Beat:
    """What the show director wants said next (the *what*; the brain chooses the words)."""

    kind: BeatKind
    product: ProductSheet | None = None
    section: str | None = None
    next_product: ProductSheet | None = None


@dataclass(slots=True)
class Turn:
    """One line of conversation memory: what the host said, or what a viewer asked (untrusted text)."""

    role: Literal["host", "viewer"]
    text: str
    viewer: str | None = None


@dataclass(slots=True)
class BrainRequest:
    """One turn for the brain: either a patter ``beat`` or a viewer ``question`` (exactly one is set)."""

    persona: Persona
    beat: Beat | None = None
    question: str | None = None
    """A viewer's comment, already sanitised and capped by chat triage. Data, never instructions."""
    viewer: str | None = None
    """The viewer's sanitised display name."""
    product: ProductSheet | None = None
    """The product on screen now (the default subject of a question)."""
    products: Sequence[ProductSheet] = ()
    """The whole catalog (for comparisons and questions about another product)."""
    memory: Sequence[Turn] = ()
    """Recent conversation, oldest first (a few turns)."""
    recent: Sequence[str] = ()
    """Sentences spoken recently (normalised), so a brain can avoid repeating itself."""
    rng: random.Random = field(default_factory=random.Random)
    beat_said: Sequence[str] = ()
    """For a beat resumed after an interruption: its sentences already said (normalised). A brain skips those
    ideas in every phrasing."""
    vet: Callable[[str], GuardVerdict] | None = None
    """The guards as the caller will apply them to this turn's sentences (set by :class:`BrainKit`). A brain may
    look ahead with it: the LLM brain leaves out sentences the guards would drop and counts a turn that produced
    nothing speakable as failed (circuit breaker, fallback). Calling it twice for a sentence costs nothing."""

    def __post_init__(self) -> None:
        if (self.beat is None) == (self.question is None):
            raise ValueError("a BrainRequest needs exactly one of beat or question")
        if self.product is None and self.beat is not None:
            self.product = self.beat.product


class Brain(Protocol):
    name: str

    def stream(self, request: BrainRequest) -> AsyncIterator[str]:
        """Sentences for one turn, in speaking order. May yield nothing (nothing new or safe to say)."""
        ...
