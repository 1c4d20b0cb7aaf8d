"""A looping video as the studio background: forward loop with a cross-faded seam, static layers blended over each
frame exactly as if drawn onto it, the media thread never waiting, and bad clips named at ``check``."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamer.bench.clips import make_studio_loop
from streamer.compose.compositor import Compositor, i420_to_bgr
from streamer.compose.studio_loop import BackgroundClipError, StudioLoop
from streamer.config import Persona, ProductSheet
from streamer.frames import MouthPose
from streamer.loading import load_persona
from streamer.scene import Scene

W, H = 320, 180


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_studio_loop(tmp_path_factory.mktemp("studio") / "studio.mp4", W, H, seconds=3.0)


def _solid_clip(path: Path, colour: tuple[int, int, int], *, seconds: float = 1.5, fps: int = 30) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "0"}
        img = np.full((H, W, 3), colour, np.uint8)
        for _ in range(int(seconds * fps)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_the_loop_plays_forwards_and_its_seam_is_cross_faded(studio: Path):
    loop = StudioLoop(studio, W, H)
    n, period = loop.info.frames, loop.period
    assert loop.info.fps == 30 and n == 90 and period == n - 22  # a 1 s fade, at most a quarter of the clip
    shown = [loop.frame_at(k / 30, wait_s=2.0).astype(np.int16) for k in range(2 * period + 5)]
    assert loop.repeated == 0
    change = [float(np.abs(shown[k + 1] - shown[k]).mean()) for k in range(len(shown) - 1)]
    own = float(np.median(change))
    seams = [change[period - 1], change[2 * period - 1]]  # the last faded frame -> the first of the next pass
    # Without the fade the loop would jump from the clip's last frame to its first.
    with av.open(str(studio)) as c:
        decoded = [f.to_ndarray(format="yuv420p").astype(np.int16) for f in c.decode(video=0)]
    raw_jump = float(np.abs(decoded[-1] - decoded[0]).mean())
    print(json.dumps({"median_change": round(own, 3), "seams": [round(s, 3) for s in seams], "raw": raw_jump}))
    assert own > 0.05  # it moves
    assert max(change) <= 3 * own
    assert raw_jump > 3 * own  # the fade is what hides it
    # Pass two shows what pass one showed.
    assert np.array_equal(shown[3], shown[3 + period])
    loop.close(wait=True)
    assert not loop._thread.is_alive()


def test_static_layers_over_the_video_look_as_if_drawn_onto_it(tmp_path: Path):
    colour = (40, 120, 200)
    clip = _solid_clip(tmp_path / "orange.mp4", colour)
    picture = tmp_path / "orange.png"
    cv2.imwrite(str(picture), np.full((H, W, 3), colour, np.uint8))
    product = ProductSheet(
        id="x", name="Widget Deluxe", price=Decimal("19.99"), features=["Fast", "Small"], promo="Today only"
    )
    avatar = np.zeros((140, 100, 4), np.uint8)
    avatar[30:120, 20:80] = (30, 60, 90, 255)  # premultiplied: an opaque block on transparency
    frames = []
    for background in (str(picture), str(clip)):
        comp = Compositor(width=W, height=H, language="en", background=background, avatar_size=(100, 140))
        comp.set_product(product, None)
        comp.set_notice("This host is AI generated")
        frames.append(comp.compose(avatar, 0.2).astype(np.int16))
        comp.close()
    diff = np.abs(frames[0] - frames[1])
    print(json.dumps({"i420_max_abs_diff": int(diff.max()), "mean": round(float(diff.mean()), 3)}))
    assert diff.max() <= 3  # card, notice, label and avatar edges: as drawn onto the picture (codec rounding)


def test_on_a_moving_studio_the_card_and_label_hold_still_and_the_background_moves(studio: Path):
    persona = Persona.model_validate({"name": "Joe", "avatar": {"background": str(studio)}})
    scene = Scene(persona=persona, width=W, height=H)
    comp = scene.compositor
    assert comp.moving_background is not None and comp.avatar_backdrop is None
    comp.background_wait_s = 2.0
    product = ProductSheet(id="a", name="Alpha", price=Decimal("10"))
    scene.update_cards({"a": (product, None)})
    a, b = (i420_to_bgr(scene.render(t, MouthPose.rest())).astype(np.int16) for t in (0.0, 1.5))
    card, label = comp.card_rect, comp.label_rect
    inner = a[card.y + 8 : card.bottom - 8, card.x + 8 : card.right - 8]
    assert np.abs(inner - b[card.y + 8 : card.bottom - 8, card.x + 8 : card.right - 8]).mean() < 1.0
    pill = (slice(label.y + 3, label.bottom - 3), slice(label.x + 3, label.right - 3))
    assert np.abs(a[pill] - b[pill]).mean() < 3.0  # the label is on top of the moving studio (0.8 opaque)
    assert float(a[pill].std()) > 20  # white text on the dark pill
    studio_only = np.ones((H, W), bool)
    for r in (card, label, comp.notice_rect, comp.avatar_rect):
        studio_only[max(0, r.y - 12) : r.bottom + 12, max(0, r.x - 12) : r.right + 12] = False
    assert studio_only.sum() > 2000
    assert np.abs(a[studio_only] - b[studio_only]).mean() > 2.0
    # A new look stops the old background's decoder.
    old = comp.moving_background
    plain = persona.model_copy(update={"avatar": persona.avatar.model_copy(update={"background": "#203040"})})
    scene.set_persona(plain, scene.build_looks(plain))
    scene.render(2.0, MouthPose.rest())
    old._thread.join(timeout=2.0)
    assert not old._thread.is_alive()


def test_the_media_thread_never_waits_for_a_late_decoder(studio: Path):
    loop = StudioLoop(studio, W, H)
    loop.frame_at(0.0)
    start = time.perf_counter()
    for k in range(60):
        loop.frame_at(100.0 + k)  # far ahead of anything decoded: takes what is there, keeps the last
    assert time.perf_counter() - start < 0.2
    assert loop.repeated >= 50
    loop.close(wait=True)


def test_a_clip_that_cannot_loop_is_named_at_check(tmp_path: Path):
    from streamer.avatar.check import persona_avatar_problems

    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(BackgroundClipError, match=r"junk\.mp4: background video cannot be opened"):
        StudioLoop(junk, W, H)
    short = _solid_clip(tmp_path / "short.mp4", (1, 2, 3), seconds=0.5)
    with pytest.raises(BackgroundClipError, match=r"short\.mp4: background video is 0\.50 s long"):
        StudioLoop(short, W, H)
    path = tmp_path / "p.yaml"
    path.write_text("name: Joe\navatar:\n  skin: '#f2c6a0'\n  background: junk.mp4\n")
    persona, _ = load_persona(path)
    problems = persona_avatar_problems(path, persona)
    assert [(p.field, p.line) for p in problems] == [("avatar.background", 4)]
    assert str(junk) in problems[0].message
    # A hot reload builds the look first: the error names the field, and the show keeps its old look.
    scene = Scene(persona=Persona(name="Joe"), width=W, height=H)
    with pytest.raises(BackgroundClipError) as err:
        scene.build_looks(persona)
    assert err.value.field == "avatar.background"
