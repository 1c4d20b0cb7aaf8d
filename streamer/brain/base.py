"""The brain interface: given the persona, the product and what to talk about, yield sentences one at a time.

Yielding sentence by sentence lets the first one reach the voice before the rest is written (an LLM backend
streams; the template backend is instant).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from streamer.config import Persona, ProductSheet

BeatKind = Literal["greeting", "section", "transition", "invite", "sign_off"]


@dataclass(slots=True)
class Beat:
    """What the show director wants said next (the *what*; the brain chooses the words)."""

    kind: BeatKind
    product: ProductSheet | None = None
    section: str | None = None
    next_product: ProductSheet | None = None


@dataclass(slots=True)
class PatterRequest:
    persona: Persona
    beat: Beat
    recent: Sequence[str] = ()
    """Sentences spoken recently (normalised), so a brain can avoid repeating itself."""
    rng: random.Random = field(default_factory=random.Random)


class Brain(Protocol):
    name: str

    def patter(self, request: PatterRequest) -> AsyncIterator[str]:
        """Sentences for one beat, in speaking order. May yield nothing (nothing new to say)."""
        ...
