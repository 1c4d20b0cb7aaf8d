"""What is on screen: the avatar and the compositor, driven from the media thread.

Other threads only *request* changes (product card, AI notice); the media thread applies them at the next frame,
so the compositor is only ever touched by one thread.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from streamer.avatar.base import Avatar, build_avatar
from streamer.compose.compositor import Compositor
from streamer.compose.layout import default_avatar_height
from streamer.config import Persona, ProductSheet
from streamer.frames import MouthPose, SpeechSegment

Card = tuple[ProductSheet, "np.ndarray | None"]
Looks = tuple[Avatar, Compositor]


class Scene:
    def __init__(self, *, persona: Persona, width: int, height: int, seed: int = 0) -> None:
        self.width = width
        self.height = height
        self.persona = persona
        self._seed = seed
        self.avatar, self.compositor = self.build_looks(persona)
        self._lock = threading.Lock()
        self._new_persona: tuple[Persona, Looks | None] | None = None
        self._cards: dict[str, Card] = {}
        self._wanted_product: str | None = None
        self._shown: tuple[str, int] | None = None  # (product id, cards version) on screen
        self._cards_version = 0
        self._notice_request_s: float | None = persona.disclosure.notice_s
        self._notice_until = 0.0
        self._notice_on = False
        self._rendered_s = float("-inf")
        """Media time of the last frame whose requests were applied (under the lock)."""
        self._keyframe_wanted = False
        self.shown_product: ProductSheet | None = None
        """The product on the card right now (facts as drawn)."""
        self.avatar_s_ewma = 0.0
        """What drawing the avatar costs per frame (seconds, moving average): the dashboard shows it."""
        self.lipsync: Any = None
        """The neural lip-sync stage (:class:`streamer.avatar.neural.LipSyncStage`) when the persona has one: told
        for each speaking frame whether its face was ready."""

    @property
    def background_repeated(self) -> int:
        """Frames a moving background showed again because its decoder was late (0 for a still one)."""
        loop = self.compositor.moving_background
        return loop.repeated if loop is not None else 0

    def background_summary(self) -> str:
        """What is behind the host, for the dashboard: a colour, a picture, or a video loop and its health."""
        background = self.persona.avatar.background
        loop = self.compositor.moving_background
        if loop is None:
            return background if background.startswith("#") else f"picture {Path(background).name}"
        what = f"video loop {Path(background).name} ({loop.info.seconds:.1f} s)"
        if loop.failed:
            return f"{what}: stopped on its last frame ({loop.failed})"
        return f"{what}, {loop.repeated} late frames" if loop.repeated else what

    def build_looks(self, persona: Persona) -> Looks:
        """The avatar and compositor for ``persona`` (fonts, background, label): slow, and may raise for a look
        that cannot be drawn, so a reload builds them off the media thread, before anything changes."""
        avatar = build_avatar(persona.avatar, height_px=default_avatar_height(self.width, self.height), seed=self._seed)
        compositor = Compositor(
            width=self.width,
            height=self.height,
            language=persona.language,
            background=persona.avatar.background,
            accent=persona.avatar.accent,
            avatar_size=avatar.size,
        )
        # The avatar draws straight onto its patch of studio background: no per-frame alpha blend.
        avatar.set_backdrop(compositor.avatar_backdrop)
        return avatar, compositor

    def looks_change(self, persona: Persona) -> bool:
        return (persona.avatar, persona.language) != (self.persona.avatar, self.persona.language)

    # ---- requests from other threads ---------------------------------------------------------------------

    def set_persona(self, persona: Persona, looks: Looks | None = None) -> None:
        """A new persona (hot reload), with its :meth:`build_looks` when :meth:`looks_change`: the look, label
        language and notice change at the next frame. The AI label stays on every frame throughout (the new
        compositor draws it as the old one did)."""
        with self._lock:
            self._new_persona = (persona, looks)

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

    def show_notice(self, seconds: float | None = None) -> float:
        """Show the full-width AI notice for at least ``seconds`` (default: the persona's notice_s). Any thread.

        Returns a media time: every frame after it shows the notice (for the notice's length), and the first of them
        is made a keyframe (:meth:`take_keyframe`), so an output that starts on it opens on the notice."""
        with self._lock:
            self._notice_request_s = max(2.0, seconds or self.persona.disclosure.notice_s)
            return self._rendered_s

    def notice_showing(self) -> bool:
        """Whether the last frame rendered showed the AI notice (or one is about to be shown). Any thread."""
        with self._lock:
            return self._notice_request_s is not None or self._rendered_s < self._notice_until

    def take_keyframe(self) -> bool:
        """True once after a frame that started a notice was rendered: the media loop makes that frame an IDR."""
        wanted, self._keyframe_wanted = self._keyframe_wanted, False
        return wanted

    # ---- media thread ------------------------------------------------------------------------------------

    def on_speech_started(self, segment: SpeechSegment) -> None:
        if segment.product_id:
            self.show_product(segment.product_id)

    def render(self, t_s: float, mouth: MouthPose) -> np.ndarray:
        self._apply_requests(t_s)
        if self.lipsync is not None and mouth.open_amount > 0.0:
            self.lipsync.count(mouth.crop is not None)
        t0 = time.perf_counter()
        picture = self.avatar.render(t_s, mouth)
        cost = time.perf_counter() - t0
        self.avatar_s_ewma = cost if self.avatar_s_ewma == 0.0 else 0.95 * self.avatar_s_ewma + 0.05 * cost
        # Over a picture or colour the avatar drew onto its studio patch; over a moving background it is blended.
        opaque = True if self.compositor.moving_background is None else None
        return self.compositor.compose(picture, t_s, opaque=opaque)

    def _apply_requests(self, t_s: float) -> None:
        with self._lock:
            update, self._new_persona = self._new_persona, None
        if update is not None:
            persona, looks = update
            old, self.persona = self.persona, persona
            if looks is not None:  # built by the caller's thread: only references change here
                self.compositor.close()  # a moving background stops decoding (no wait)
                self.avatar, self.compositor = looks
                self._shown = None  # the new compositor draws the card again
                self._notice_on = False
            elif self._notice_on and persona.notice_text != old.notice_text:
                self._notice_on = False  # redraw the notice with the new text
        with self._lock:
            notice_s, self._notice_request_s = self._notice_request_s, None
            self._rendered_s = t_s
            wanted = self._wanted_product
            card = self._cards.get(wanted) if wanted else None
            version = self._cards_version
            if notice_s is not None:
                if t_s >= self._notice_until:  # a notice starts here (not one already on screen, extended)
                    self._keyframe_wanted = True
                self._notice_until = max(self._notice_until, t_s + notice_s)
        notice_on = t_s < self._notice_until
        if notice_on != self._notice_on:
            self.compositor.set_notice(self.persona.notice_text if notice_on else None)
            self._notice_on = notice_on
        if card is not None and self._shown != (card[0].id, version):
            self.compositor.set_product(card[0], card[1])
            self._shown = (card[0].id, version)
            self.shown_product = card[0]
