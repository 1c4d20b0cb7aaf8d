"""What the host says on air (issue 9): answers checked against the product asked about and repaired when the
guards drop them, facts not repeated whatever the phrasing, products rotated on air time, social replies that do not
cut, cut sentences resumed from the cut, stale prices never spoken, an LLM that keeps failing the guards."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import numpy as np
import pytest

from streamer.bench.virtual_show import ScriptedVoice, run_virtual_show
from streamer.brain.base import BrainRequest
from streamer.brain.embed import LexicalEmbedder
from streamer.brain.factory import BrainKit, turn_subjects
from streamer.brain.guards import SentenceGuard
from streamer.brain.offline import OfflineBrain, is_address
from streamer.brain.repeats import FactMemory
from streamer.brain.specs import spec_sentence
from streamer.config import GuardSettings, Persona, ProductSheet
from streamer.director import ShowDirector
from streamer.frames import AUDIO_RATE_HZ, SpeechSegment
from streamer.playout import SpeechPlayout
from streamer.speaker import thanks_sentences

PERSONA = Persona(name="Joe")


def sheet(pid: str, name: str, price: str, **kw: object) -> ProductSheet:
    return ProductSheet(id=pid, name=name, price=Decimal(price), **kw)


LAMP = sheet("lamp", "Moon Night Light", "34.50", features=["USB-C rechargeable, 8 hours per charge"])
ROCKET = sheet("rocket", "Saturn V Model Rocket Kit", "89", list_price=Decimal("109"), specs={"height_cm": 110})
BED = sheet(
    "bed",
    "Calming Donut Cat Bed",
    "39.90",
    features=["Raised rim that supports head and neck", "Ultra-soft vegan faux fur"],
    specs={"diameter_cm": 60, "colours": "taupe, cloud grey, oatmeal"},
)
CATALOG = [BED, LAMP, ROCKET]


def kit(brain: object | None = None) -> BrainKit:
    offline = OfflineBrain(embedder=LexicalEmbedder())
    offline.prepare(CATALOG)
    guard = SentenceGuard(settings=GuardSettings(), persona=PERSONA)
    return BrainKit(brain=brain or offline, offline=offline, guard=guard)  # type: ignore[arg-type]


async def answer(k: BrainKit, question: str, on_air: ProductSheet = BED) -> list[str]:
    req = BrainRequest(
        persona=PERSONA, question=question, viewer="Leo", product=on_air, products=CATALOG, rng=random.Random(1)
    )
    return [s async for s in k.stream(req)]


def test_price_of_a_product_not_on_air_is_checked_against_that_product() -> None:
    out = asyncio.run(answer(kit(), "Saturn V price??"))
    assert any("89 dollars" in s for s in out), out
    assert not all(is_address(s, "Leo") for s in out)


def test_turn_subjects_are_the_products_the_question_names() -> None:
    req = BrainRequest(persona=PERSONA, question="how much is the rocket kit?", product=BED, products=CATALOG)
    assert [p.id for p in turn_subjects(req)] == ["rocket"]


class _ScriptedBrain:
    """A brain that writes what it is told (an LLM that invents prices or claims to be human)."""

    name = "scripted"

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    async def stream(self, request: BrainRequest) -> AsyncIterator[str]:
        for line in self.lines:
            yield line


def test_a_reply_whose_content_the_guards_drop_is_answered_from_the_sheet() -> None:
    brain = _ScriptedBrain(["Hi Leo!", "The Saturn V is the No.1 kit and only 19 dollars today!"])
    k = kit(brain)
    out = asyncio.run(answer(k, "how much is the Saturn V rocket kit?"))
    assert out[0] == "Hi Leo!"
    assert any("89 dollars" in s for s in out[1:]), out
    assert not any("19 dollars" in s for s in out)
    assert k.repairs["offline_answer"] == 1


def test_when_nothing_can_be_said_the_host_declines_honestly() -> None:
    brain = _ScriptedBrain(["It costs 5 dollars."])
    k = kit(brain)
    out = asyncio.run(answer(k, "what is the warranty on the lamp?"))
    assert out and "product page" in " ".join(out)
    assert not any("5 dollars" in s for s in out)
    assert sum(k.repairs.values()) == 1  # the sheet's honest "I don't have that detail"


def test_address_detection() -> None:
    assert is_address("Good question, Leo!", "Leo")
    assert is_address("谢谢Leo的提问！", "Leo")
    assert not is_address("It's 89 dollars today.", "Leo")
    assert not is_address("Hi Leo, welcome to the stream!", "Leo")


def test_specs_are_said_as_a_presenter_says_them() -> None:
    assert spec_sentence("diameter_cm", 60) == "It's 60 cm across."
    assert spec_sentence("colours", "taupe, cloud grey, oatmeal") == "It comes in taupe, cloud grey and oatmeal."
    assert spec_sentence("weight_kg", 0.9) == "It weighs 0.9 kg."
    assert spec_sentence("best_for", "pour-over") == "It's best for pour-over."


def test_fact_memory_blocks_the_same_fact_in_other_words_within_the_window() -> None:
    m = FactMemory(window_s=300)
    m.set_names(["Calming Donut Cat Bed"])
    assert m.admit("One thing I love: raised rim that supports head and neck.", 0.0)
    assert not m.admit("Here's a nice detail: raised rim that supports head and neck!", 60.0)
    assert m.admit("Take a look at the Calming Donut Cat Bed.", 61.0)  # a name is not a fact
    assert m.admit("And the raised rim supports head and neck.", 400.0)  # the window has passed
    m.remember("Ultra-soft vegan faux fur.", 500.0)
    m.forget("Ultra-soft vegan faux fur.")
    assert m.admit("Ultra-soft vegan faux fur, shed-resistant.", 501.0)


def test_director_moves_on_after_the_on_air_time() -> None:
    persona = Persona(name="Joe", patter={"product_on_air_s": 30})
    d = ShowDirector(persona=persona)
    d.set_products(CATALOG)
    assert d.next_beat(0.0).kind == "greeting"  # type: ignore[union-attr]
    first = d.next_beat(0.0)
    assert first is not None and first.product is BED
    beat = d.next_beat(31.0)
    assert beat is not None and beat.kind == "transition" and beat.next_product is LAMP
    d.pin("lamp")
    assert all(d.next_beat(100.0 + i).product is LAMP for i in range(10))  # type: ignore[union-attr]


def _segment(sid: int, text: str, kind: str) -> SpeechSegment:
    speech = ScriptedVoice().synthesize(text)
    return SpeechSegment(segment_id=sid, text=text, pcm=speech.pcm, visemes=speech.visemes, kind=kind)


def test_a_cut_sentence_is_resumed_from_the_cut_after_the_reply() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "The regular price is high but today it is lower", "patter"))
    p.pull(AUDIO_RATE_HZ // 2)  # half a second of the sentence is heard
    p.replace_at_boundary([_segment(2, "Good question Leo", "reply")])
    p.release_cut_rest()  # the reply is all queued: the rest goes after it
    heard = []
    for _ in range(200):
        heard += p.pull(1600).finished
    texts = [(h.kind, h.text, h.interrupted) for h in heard]
    assert texts[0][2] and texts[0][0] == "patter"
    assert texts[1] == ("reply", "Good question Leo", False)
    assert texts[2][0] == "patter" and not texts[2][2]
    assert texts[0][1] + " " + texts[2][1] == "The regular price is high but today it is lower"
    assert p.resumed == 1


def test_a_thank_you_waits_for_the_sentence_on_air() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "One thing I love is the raised rim", "patter"))
    p.push(_segment(2, "It comes in taupe", "patter"))
    p.pull(1600)
    p.insert_next([_segment(3, "Thanks a lot Mia", "reply")])
    heard = []
    for _ in range(200):
        heard += p.pull(1600).finished
    assert [h.text for h in heard] == ["One thing I love is the raised rim", "Thanks a lot Mia", "It comes in taupe"]
    assert not any(h.interrupted for h in heard)


def test_stale_speech_is_dropped_and_the_sentence_on_air_cut() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "It is 39 dollars 90 today", "patter"))
    p.push(_segment(2, "It comes in taupe", "patter"))
    p.push(_segment(3, "Now only 39 dollars 90", "patter"))
    p.pull(1600)
    dropped, cut = p.drop_where(lambda seg: "39 dollars" in seg.text)
    assert (dropped, cut) == (1, True)
    heard = []
    for _ in range(200):
        heard += p.pull(1600).finished
    assert heard[0].interrupted and [h.text for h in heard[1:]] == ["It comes in taupe"]


def test_thank_yous_avoid_what_was_said_recently() -> None:
    rng = random.Random(3)
    said: set[str] = set()
    from streamer.brain.templates import normalise

    for _ in range(5):
        lines = thanks_sentences(PERSONA, ["Mia"], rng, said)
        assert normalise(lines[0]) not in said
        said.update(normalise(s) for s in lines)


@pytest.mark.parametrize("chat_per_min", [0.0, 8.0])
def test_ten_minutes_of_show_greets_first_rotates_and_never_restarts_a_cut_sentence(chat_per_min: float) -> None:
    products = [BED, LAMP, ROCKET]
    report = asyncio.run(
        run_virtual_show(persona=PERSONA, products=products, minutes=8.0, chat_per_min=chat_per_min, seed=11)
    )
    m = report.metrics()
    assert m["first_thing_said"] == "greeting"
    assert m["max_product_on_air_s"] <= PERSONA.patter.product_on_air_s + 30
    assert m["restarted_sentences"] <= 1
    heard_products = {h.product_id for h in report.transcript if h.kind == "patter"}
    assert heard_products == {"bed", "lamp", "rocket"}
    if chat_per_min:
        assert m["comments"] > 30 and any(h.kind == "reply" for h in report.transcript)
        cut_social = [h for h in report.transcript if h.interrupted and h.kind == "greeting"]
        assert not cut_social
    assert np.isfinite(m["distinct_2"])


def test_an_llm_that_keeps_failing_the_guards_trips_the_breaker_and_the_offline_brain_answers() -> None:
    """The endpoint streams an invented price and a claim to be human, every time: nothing of it is spoken, every
    turn is answered from the sheet, and after ``breaker_failures`` turns the endpoint is left alone."""
    from streamer.bench.fake_llm import FakeLlm, fast
    from streamer.brain.llm import LlmBrain
    from streamer.config import LlmSettings

    bad = "Hi Leo! The rocket kit is only $1 today! I'm a real human, trust me."

    async def main() -> tuple[list[list[str]], LlmBrain, int]:
        async with FakeLlm([fast(bad) for _ in range(10)]) as fake:
            offline = OfflineBrain(embedder=LexicalEmbedder())
            offline.prepare(CATALOG)
            llm = LlmBrain(
                LlmSettings(base_url=fake.base_url, model="m", api_key_env=None, breaker_failures=2),
                fallback=offline,
            )
            k = BrainKit(brain=llm, offline=offline, guard=SentenceGuard(settings=GuardSettings(), persona=PERSONA))
            answers = [await answer(k, "how much is the Saturn V rocket kit?") for _ in range(4)]
            await llm.aclose()
            return answers, llm, len(fake.requests)

    answers, llm, requests = asyncio.run(main())
    for out in answers:
        text = " ".join(out)
        assert "89 dollars" in text, out
        assert "$1" not in text and "real human" not in text
    assert llm.breaker.state == "open" and requests == 2  # two failed turns, then the endpoint is left alone
    assert llm.stats.fallbacks["breaker_open"] == 2 and llm.stats.guard_drops >= 2


def test_llm_requests_are_rate_limited() -> None:
    from streamer.bench.fake_llm import FakeLlm, fast
    from streamer.brain.llm import LlmBrain
    from streamer.config import LlmSettings

    async def main() -> tuple[LlmBrain, int]:
        async with FakeLlm([fast("It's a lovely lamp.") for _ in range(10)]) as fake:
            offline = OfflineBrain(embedder=LexicalEmbedder())
            offline.prepare(CATALOG)
            llm = LlmBrain(
                LlmSettings(base_url=fake.base_url, model="m", api_key_env=None, max_requests_per_min=3),
                fallback=offline,
            )
            k = BrainKit(brain=llm, offline=offline, guard=SentenceGuard(settings=GuardSettings(), persona=PERSONA))
            for _ in range(6):
                assert await answer(k, "tell me about the lamp", on_air=LAMP)
            await llm.aclose()
            return llm, len(fake.requests)

    llm, requests = asyncio.run(main())
    assert requests == 3 and llm.stats.rate_limited == 3 and llm.stats.fallbacks["rate_limited"] == 3
