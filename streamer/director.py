"""The show director: what to talk about next (pure logic, no I/O, no clock).

Greets once, then walks each product through the persona's patter sections, says a transition, moves to the next
product, and loops. A product stays on air for ``patter.product_on_air_s`` of show time at most (then the show moves
on, unless the operator pinned it); it also moves on once its sections are done. It never lets the same sentence be
spoken twice within ``no_repeat_window`` sentences, nor a fact said again within ``fact_repeat_window_s`` of air time
whatever the phrasing (:class:`~streamer.brain.repeats.FactMemory`).

:class:`DisclosureSchedule` says when the host next says it is an AI host, and in which words.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

from streamer.brain.base import Beat
from streamer.brain.repeats import FactMemory
from streamer.brain.sentences import split_sentences
from streamer.brain.templates import normalise
from streamer.config import Persona, ProductSheet
from streamer.lang import language_code

#: A spoken disclosure this late (seconds past due) goes ahead of answers already queued; sooner, they go first
#: (a viewer is waiting for them, and they are a sentence or two).
DISCLOSURE_MAX_LATE_S = 30.0


class ShowDirector:
    def __init__(self, *, persona: Persona, sections_per_product: int | None = None) -> None:
        self._persona = persona
        self._sections_per_product = sections_per_product
        self._products: list[ProductSheet] = []
        self._index = 0
        self._section_pos = 0
        self._greeted = False
        self._pending_transition = False
        self._order: list[str] | None = None
        """The operator's product order (ids); None keeps the catalog's order."""
        self.pinned: str | None = None
        """A product the operator pinned: its sections loop and the show does not move on."""
        self._beat_product: str | None = None
        """The product of the last beat handed out: what the show is on, even after the index moved to the next
        product during its last section."""
        self.recent: collections.deque[str] = collections.deque(maxlen=max(1, persona.patter.no_repeat_window))
        """The latest lines said (normalised), one per line, oldest first: the no-repeat window."""
        self._parts: dict[str, tuple[str, ...]] = {}
        """The sentences of the lines in :attr:`recent` that have several (see :meth:`recent_keys`)."""
        self.repeats_blocked = 0
        self.facts = FactMemory(window_s=persona.patter.fact_repeat_window_s)
        self._product_since_s: float | None = None
        """Show time when the product on air got its first beat (for ``product_on_air_s``)."""
        self.product_changes = 0

    # ---- inputs ------------------------------------------------------------------------------------------

    @property
    def persona(self) -> Persona:
        return self._persona

    def set_persona(self, persona: Persona, *, greet_again: bool = False) -> None:
        """A new persona (hot reload). ``greet_again`` makes the next beat a greeting in the new persona's words."""
        self._persona = persona
        if greet_again:
            self._greeted = False
        window = max(1, persona.patter.no_repeat_window)
        if window != self.recent.maxlen:
            self.recent = collections.deque(self.recent, maxlen=window)
        self.facts.window_s = persona.patter.fact_repeat_window_s

    def set_products(self, products: Sequence[ProductSheet]) -> None:
        """New catalog (reload). Stays on the current product if it still exists (its facts refreshed)."""
        current = self.current_product
        self._products = self._ordered(products)
        self.facts.set_names([p.name for p in self._products])
        if self.pinned is not None and all(p.id != self.pinned for p in self._products):
            self.pinned = None
        if current is not None:
            for i, p in enumerate(self._products):
                if p.id == current.id:
                    self._index = i
                    return
            # The current product vanished: start the next one from its first section.
            self._index = self._index % len(self._products) if self._products else 0
            self._section_pos = 0
        elif self._products:
            self._index %= len(self._products)

    def switch_to(self, product_id: str, *, announce: bool = False) -> bool:
        """Talk about this product next, from its first section (``announce``: with a transition line first)."""
        for i, p in enumerate(self._products):
            if p.id == product_id:
                self._index = i
                self._section_pos = 0
                self._pending_transition = announce and self._greeted
                if self._beat_product != product_id:
                    self.product_changes += 1
                self._beat_product = product_id
                self._product_since_s = None  # the on-air time starts with its next beat
                return True
        return False

    # ---- operator controls ---------------------------------------------------------------------------------

    def skip(self) -> ProductSheet | None:
        """Move on to the next product now (a pin is lifted). Returns the product the show moves to."""
        if not self._products:
            return None
        self.pinned = None
        nxt = self._products[(self._on_index() + 1) % len(self._products)]
        self.switch_to(nxt.id, announce=len(self._products) > 1)
        return nxt

    def pin(self, product_id: str | None) -> bool:
        """Stay on this product (switching to it if it is not on air); ``None`` unpins. False: unknown id."""
        if product_id is None:
            self.pinned = None
            return True
        if not any(p.id == product_id for p in self._products):
            return False
        self.pinned = product_id
        on = self._products[self._on_index()]
        if on.id != product_id:
            self.switch_to(product_id, announce=True)
        elif self.current_product is not None and self.current_product.id != product_id:
            # Its last section is on air and the show already looks ahead: stay, from its first section.
            self.switch_to(product_id)
        else:
            self._pending_transition = False  # do not leave the pinned product after this section
        return True

    def _on_index(self) -> int:
        for i, p in enumerate(self._products):
            if p.id == self._beat_product:
                return i
        return self._index

    def reorder(self, product_ids: Sequence[str]) -> bool:
        """The operator's running order: ``product_ids`` must name each current product exactly once."""
        ids = [p.id for p in self._products]
        if sorted(product_ids) != sorted(ids) or len(set(product_ids)) != len(product_ids):
            return False
        self._order = list(product_ids)
        current = self.current_product
        self._products = self._ordered(self._products)
        if current is not None:
            self._index = next(i for i, p in enumerate(self._products) if p.id == current.id)
        return True

    def _ordered(self, products: Sequence[ProductSheet]) -> list[ProductSheet]:
        if self._order is None:
            return list(products)
        rank = {pid: i for i, pid in enumerate(self._order)}
        # Products the operator has not placed yet (new in the catalog) keep their catalog order, after the rest.
        return sorted(products, key=lambda p: rank.get(p.id, len(rank)))

    # ---- state -------------------------------------------------------------------------------------------

    @property
    def greeting_pending(self) -> bool:
        """The next beat is the (opening, or a new persona's) greeting."""
        return not self._greeted

    @property
    def products(self) -> list[ProductSheet]:
        return list(self._products)

    def get(self, product_id: str) -> ProductSheet | None:
        return next((p for p in self._products if p.id == product_id), None)

    @property
    def current_product(self) -> ProductSheet | None:
        return self._products[self._index] if self._products else None

    @property
    def sections(self) -> list[str]:
        s = self._persona.patter.sections
        return s[: self._sections_per_product] if self._sections_per_product else s

    # ---- decisions ---------------------------------------------------------------------------------------

    def next_beat(self, now_s: float | None = None) -> Beat | None:
        """The next thing to say, or None when there is nothing to talk about (no products yet). ``now_s``: show
        time, for the on-air limit (None: no time limit, sections alone decide)."""
        if not self._greeted:
            self._greeted = True
            return Beat(kind="greeting", product=self.current_product)
        if not self._products:
            return None
        if now_s is not None and self.time_up(now_s):
            # On air long enough: the next product, whatever section this one was at.
            self._index = (self._index + 1) % len(self._products)
            self._section_pos = 0
            self._pending_transition = True
        if self._pending_transition:
            self._pending_transition = False
            self._mark_on_air(self.current_product, now_s)
            return Beat(kind="transition", product=self.current_product, next_product=self.current_product)
        product = self._products[self._index]
        self._mark_on_air(product, now_s)
        sections = self.sections
        section = sections[self._section_pos % len(sections)]
        self._section_pos += 1
        if self._section_pos >= len(sections):
            self._section_pos = 0
            if len(self._products) > 1 and self.pinned != product.id:
                self._index = (self._index + 1) % len(self._products)
                self._pending_transition = True
        return Beat(kind="section", product=product, section=section)

    def time_up(self, now_s: float) -> bool:
        """Whether the product on air has had its ``product_on_air_s`` (the show should move on now, even mid-section;
        never for a pinned product or a one-product catalog)."""
        return (
            not self._pending_transition
            and self._product_since_s is not None
            and now_s - self._product_since_s >= self._persona.patter.product_on_air_s
            and len(self._products) > 1
            and self.pinned != self._beat_product
            and bool(self._products)
            and self._beat_product == self._products[self._index].id
        )

    def _mark_on_air(self, product: ProductSheet | None, now_s: float | None) -> None:
        pid = product.id if product is not None else None
        if pid != self._beat_product or self._product_since_s is None:
            if pid != self._beat_product:
                self.product_changes += 1
            self._product_since_s = now_s
        self._beat_product = pid

    def accept(self, sentence: str, now_s: float | None = None, *, facts: bool = True) -> bool:
        """True (and remembered) if the sentence was not spoken within the window and, with ``now_s`` and
        ``facts``, says no fact said within ``fact_repeat_window_s``; False blocks a repeat."""
        keys = _line_keys(sentence)
        if not keys:
            return False
        if keys[0] in self.recent or any(keys[0] in parts for parts in self._parts.values()):
            self.repeats_blocked += 1
            return False
        if facts and now_s is not None and self.facts.window_s > 0 and not self.facts.admit(sentence, now_s):
            self.repeats_blocked += 1
            return False
        self._remember(keys)
        return True

    def recent_keys(self) -> tuple[str, ...]:
        """:attr:`recent` for a brain to avoid, each line of several sentences followed by its sentences: after the
        transition "You're going to like this one. Say hello to the Cat Bed." the hook does not pick "Say hello to
        the Cat Bed." (the window still counts lines)."""
        out: list[str] = []
        for key in self.recent:
            out.append(key)
            out.extend(self._parts.get(key, ()))
        return tuple(out)

    def _remember(self, keys: list[str]) -> None:
        self.recent.append(keys[0])
        if len(keys) > 1:
            self._parts[keys[0]] = tuple(keys[1:])
        if self._parts:  # the sentences of lines that left the window go with them
            held = set(self.recent)
            self._parts = {k: v for k, v in self._parts.items() if k in held}

    def note_said(self, sentence: str, now_s: float) -> None:
        """Something said outside patter (an answer): its facts count as said, so patter does not repeat them at
        once. Greetings and filler carry no facts and are not affected."""
        if self.facts.window_s > 0:
            self.facts.remember(sentence, now_s)
        keys = _line_keys(sentence)
        if keys and keys[0] not in self.recent:
            self._remember(keys)

    def forget(self, sentence: str) -> None:
        """A sentence was cut before it was heard: it and its facts may be said again."""
        key = normalise(sentence)
        try:
            self.recent.remove(key)
        except ValueError:
            pass
        if key not in self.recent:
            self._parts.pop(key, None)
        self.facts.forget(sentence)


class DisclosureSchedule:
    """When the host says it is an AI host, and in which words (pure logic: no clock, no I/O).

    Due at once at the start (the speaker places it right after the opening greeting) and whenever the persona's
    name or language changes, then ``disclosure.spoken_every_min`` after the last one *started* on air (0: never
    again), or sooner where an output's platform asks for it more often (:func:`disclosure_every_s`). The caller
    asks :meth:`lateness_s` with the time since the last one started and how long one placed now would wait for its
    turn, so it is heard on time, not placed on time; a late one does not move the next one later than ``every``
    after it. The phrasings (:attr:`Persona.spoken_disclosures`) are said in turn, the plainest first.
    """

    def __init__(self) -> None:
        self._said_as: tuple[str, str] | None = None
        """(name, language) of the persona the last disclosure was placed for."""
        self._turn = 0
        self.placed = 0

    def lateness_s(
        self, persona: Persona, *, since_last_s: float | None, wait_s: float, platform_every_min: float | None = None
    ) -> float | None:
        """How late a disclosure placed now would be heard (seconds past due; 0 for the opening one and a new
        persona's), or None when none is due yet. ``since_last_s``: show seconds since the last one started on air
        (None: none has); ``wait_s``: how long one placed now would wait for its turn; ``platform_every_min``: see
        :func:`disclosure_every_s`."""
        if since_last_s is None or self._said_as != _identity(persona):
            return 0.0
        every_s = disclosure_every_s(persona, platform_every_min)
        if every_s is None:
            return None
        late = since_last_s + wait_s - every_s
        return late if late >= 0 else None

    def next_line(self, persona: Persona) -> str:
        """The next phrasing to say: the plainest for a persona's first disclosure, then the others in turn."""
        lines = persona.spoken_disclosures
        turn = self._turn if self._said_as == _identity(persona) else 0
        return lines[turn % len(lines)]

    def placed_line(self, persona: Persona) -> None:
        """The line :meth:`next_line` gave is queued to be heard: the next one is due ``every`` after it starts."""
        if self._said_as != _identity(persona):
            self._said_as, self._turn = _identity(persona), 0
        self._turn += 1
        self.placed += 1


def disclosure_every_s(persona: Persona, platform_every_min: float | None = None) -> float | None:
    """Seconds between spoken disclosures: the persona's ``disclosure.spoken_every_min``, or the outputs'
    platforms' cadence (``platform_every_min``, the shortest any asks for) when that is shorter or the persona's is 0
    (start only). None: only at the start."""
    cadences = [m for m in (persona.disclosure.spoken_every_min, platform_every_min) if m is not None and m > 0]
    return min(cadences) * 60.0 if cadences else None


def _identity(persona: Persona) -> tuple[str, str]:
    return persona.name, language_code(persona.language)


def _line_keys(line: str) -> list[str]:
    """What :attr:`ShowDirector.recent` remembers of a line: its normalised form, then that of each of its sentences
    when it has several. A persona's transition "You're going to like this one. Say hello to the Cat Bed." was
    followed by the template hook "Say hello to the Cat Bed." four seconds later."""
    key = normalise(line)
    if not key:
        return []
    parts = [normalise(p) for p in split_sentences(line)]
    return [key, *(p for p in parts if p and p != key)] if len(parts) > 1 else [key]
