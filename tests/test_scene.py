"""Scene: the AI notice at start and on request (reconnect), the product card following the speech."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from streamer.config import Persona, ProductSheet
from streamer.frames import MouthPose, SpeechSegment, VisemeTrack
from streamer.scene import Scene


def make_scene() -> Scene:
    persona = Persona.model_validate({"name": "Joe", "disclosure": {"notice_s": 2.5}})
    scene = Scene(persona=persona, width=640, height=360)
    return scene


def test_notice_shows_for_notice_s_at_start_and_again_when_asked():
    scene = make_scene()
    r = scene.compositor.notice_rect
    frames = {t: scene.render(t, MouthPose.rest())[: scene.height].copy() for t in (0.0, 2.4, 2.6, 10.0)}
    off = frames[10.0][r.y : r.bottom, r.x : r.right].astype(np.int16)

    def on(t: float, frame: np.ndarray | None = None) -> bool:
        f = frames[t] if frame is None else frame
        return float(np.abs(f[r.y : r.bottom, r.x : r.right].astype(np.int16) - off).mean()) > 5

    assert on(0.0) and on(2.4)
    assert not on(2.6)
    scene.show_notice(2.0)  # a target reconnected
    assert on(0.0, scene.render(20.0, MouthPose.rest())[: scene.height])
    assert on(0.0, scene.render(21.9, MouthPose.rest())[: scene.height])
    assert not on(0.0, scene.render(22.1, MouthPose.rest())[: scene.height])


def test_card_switches_when_speech_about_another_product_starts():
    scene = make_scene()
    a = ProductSheet(id="a", name="Alpha", price=Decimal("10"))
    b = ProductSheet(id="b", name="Beta", price=Decimal("20"))
    scene.update_cards({"a": (a, None), "b": (b, None)})
    scene.render(0.0, MouthPose.rest())
    assert scene.shown_product is a
    seg = SpeechSegment(
        segment_id=1, text="Beta!", pcm=np.zeros(10, np.int16), visemes=VisemeTrack.silent(), product_id="b"
    )
    scene.on_speech_started(seg)
    scene.render(0.1, MouthPose.rest())
    assert scene.shown_product is b


def test_a_new_look_is_built_by_the_caller_and_only_swapped_in_by_the_media_thread():
    scene = make_scene()
    before = scene.render(10.0, MouthPose.rest())[: scene.height].copy()
    green = Persona.model_validate(
        {"name": "Joe", "language": "de", "avatar": {"background": "#1f7a3a"}, "disclosure": {"notice_s": 2.5}}
    )
    assert scene.looks_change(green)
    looks = scene.build_looks(green)
    scene.set_persona(green, looks)
    assert scene.compositor is not looks[1]  # nothing changes until the next frame
    after = scene.render(10.1, MouthPose.rest())[: scene.height]
    assert scene.compositor is looks[1] and scene.persona is green
    assert float(np.abs(after.astype(np.int16) - before.astype(np.int16)).mean()) > 5  # another background
    assert not scene.looks_change(green.model_copy(update={"name": "Max"}))


def test_the_scene_holds_an_avatar_through_the_avatar_contract() -> None:
    from streamer.avatar import Avatar, build_avatar
    from streamer.config import AvatarStyle

    scene = Scene(persona=Persona(name="Joe"), width=640, height=360)
    assert isinstance(scene.avatar, Avatar)
    avatar = build_avatar(AvatarStyle(), height_px=200)
    w, h = avatar.size
    picture = avatar.render(0.0, MouthPose.rest())
    assert picture.shape == (h, w, 4) and w % 2 == 0 and h % 2 == 0
