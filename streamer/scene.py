"""What is on screen: the avatar and the compositor, driven from the media thread.

Other threads only *request* changes (product card, AI notice); the media thread applies them at the next frame,
so the compositor is only ever touched by one thread.
"""

from __future__ import annotations

import threading

import numpy as np

from streamer.avatar.cartoon import CartoonAvatar
from streamer.compose.compositor import Compositor
from streamer.compose.layout import default_avatar_height
from streamer.config import Persona, ProductSheet
from streamer.frames import MouthPose, SpeechSegment

Card = tuple[ProductSheet, "np.ndarray | None"]


class Scene:
    def __init__(self, *, persona: Persona, width: int, height: int, seed: int = 0) -> None:
        self.width = width
        self.height = height
        self.persona = persona
        self._seed = seed
        self._build(persona)
        self._lock = threading.Lock()
        self._new_persona: Persona | None = None
        self._cards: dict[str, Card] = {}
        self._wanted_product: str | None = None
        self._shown: tuple[str, int] | None = None  # (product id, cards version) on screen
        self._cards_version = 0
        self._notice_request_s: float | None = persona.disclosure.notice_s
        self._notice_until = 0.0
        self._notice_on = False
        self.shown_product: ProductSheet | None = None
        """The product on the card right now (facts as drawn)."""
        self.last_frame: np.ndarray | None = None

    def _build(self, persona: Persona) -> None:
        self.avatar = CartoonAvatar(
            persona.avatar, height_px=default_avatar_height(self.width, self.height), seed=self._seed
        )
        self.compositor = Compositor(
            width=self.width,
            height=self.height,
            language=persona.language,
            background=persona.avatar.background,
            accent=persona.avatar.accent,
            avatar_size=self.avatar.size,
        )
        # The avatar draws straight onto its patch of studio background: no per-frame alpha blend.
        self.avatar.set_backdrop(self.compositor.avatar_backdrop)

    # ---- requests from other threads ---------------------------------------------------------------------

    def set_persona(self, persona: Persona) -> None:
        """A new persona (hot reload): the look, label language and notice change at the next frame. The AI label
        stays on every frame throughout (the new compositor draws it as the old one did)."""
        with self._lock:
            self._new_persona = persona

    def update_cards(self, cards: dict[str, Card]) -> None:
        """The catalog changed: new facts/images for the product cards (a price change shows at once)."""
        with self._lock:
            self._cards = dict(cards)
            self._cards_version += 1
            if self._wanted_product is None and cards:
                self._wanted_product = next(iter(cards))

    def show_product(self, product_id: str) -> None:
        with self._lock:
            self._wanted_product = product_id

    def show_notice(self, seconds: float | None = None) -> None:
        """Show the full-width AI notice for at least ``seconds`` (default: the persona's notice_s)."""
        with self._lock:
            self._notice_request_s = max(2.0, seconds or self.persona.disclosure.notice_s)

    # ---- media thread ------------------------------------------------------------------------------------

    def on_speech_started(self, segment: SpeechSegment) -> None:
        if segment.product_id:
            self.show_product(segment.product_id)

    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        self._apply_requests(t_s)
        self.last_frame = self.compositor.compose(self.avatar.render(t_s, mouth), t_s, opaque=True)
        return self.last_frame

    def _apply_requests(self, t_s: float) -> None:
        with self._lock:
            persona, self._new_persona = self._new_persona, None
        if persona is not None:
            old, self.persona = self.persona, persona
            looks = (persona.avatar, persona.language)
            if looks != (old.avatar, old.language):
                self._build(persona)
                self._shown = None  # the new compositor draws the card again
                self._notice_on = False
            elif self._notice_on and persona.notice_text != old.notice_text:
                self._notice_on = False  # redraw the notice with the new text
        with self._lock:
            notice_s, self._notice_request_s = self._notice_request_s, None
            wanted = self._wanted_product
            card = self._cards.get(wanted) if wanted else None
            version = self._cards_version
        if notice_s is not None:
            self._notice_until = max(self._notice_until, t_s + notice_s)
        notice_on = t_s < self._notice_until
        if notice_on != self._notice_on:
            self.compositor.set_notice(self.persona.notice_text if notice_on else None)
            self._notice_on = notice_on
        if card is not None and self._shown != (card[0].id, version):
            self.compositor.set_product(card[0], card[1])
            self._shown = (card[0].id, version)
            self.shown_product = card[0]
