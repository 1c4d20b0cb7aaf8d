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
from streamer.frames import AUDIO_RATE_HZ, PcmFill, SpeechSegment
from streamer.playout import SpeechPlayout, rest_of
from streamer.speaker import thanks_sentences
from streamer.voice.base import Speech

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
    assert out[0].startswith("Leo, ") and "89 dollars" in out[0], out  # the greeting leads the repaired answer
    assert not any("19 dollars" in s for s in out)
    assert k.repairs["offline_answer"] == 1


def test_when_nothing_can_be_said_the_host_declines_honestly() -> None:
    brain = _ScriptedBrain(["It costs 5 dollars."])
    k = kit(brain)
    out = asyncio.run(answer(k, "what is the warranty on the lamp?"))
    assert out and "product page" in " ".join(out)
    assert not any("5 dollars" in s for s in out)
    assert sum(k.repairs.values()) == 1  # the sheet's honest "I don't have that detail"


def test_the_viewer_s_name_leads_the_answer() -> None:
    from streamer.brain.factory import address_into

    assert address_into("Good question, Leo!", "It's 89 dollars.", "Leo", "en") == "Leo, it's 89 dollars."
    assert address_into("Hi Leo!", "Moon Night Light is 34 dollars 50.", "Leo", "en").startswith("Leo, Moon")
    assert address_into("小王，好问题！", "现在是¥268。", "小王", "zh") == "小王，现在是¥268。"


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


def _cut_after_words(text: str, words: int) -> list[tuple[str, str, bool]]:
    """``text`` on air, cut by a reply once ``words`` of it are heard: (kind, text, interrupted) of what is heard."""
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, text, "patter"))
    # ScriptedVoice: (letters + 1) / 14 s per word; pulled to just before the end of word ``words``, the reply cuts
    # at the next word boundary: the end of that word.
    p.pull(round(AUDIO_RATE_HZ * (sum(len(w) + 1 for w in text.split()[:words]) / 14.0 - 0.02)))
    p.replace_at_boundary([_segment(2, "Good question Leo", "reply")])
    p.release_cut_rest()  # the reply is all queued: the rest goes after it
    heard = []
    for _ in range(600):
        heard += p.pull(1600).finished
    assert p.resumed == 1
    return [(h.kind, h.text, h.interrupted) for h in heard]


def test_a_cut_sentence_is_resumed_from_the_cut_after_the_reply() -> None:
    sentence = "The regular price of this lovely handmade lamp is rather high but today it is lower for all of you"
    texts = _cut_after_words(sentence, 14)  # 14 words in: no sentence start within 12, no clause within six
    assert texts[0][2] and texts[0][0] == "patter"
    assert texts[1] == ("reply", "Good question Leo", False)
    assert texts[2][0] == "patter" and not texts[2][2]
    assert texts[0][1] + " " + texts[2][1] == sentence


def test_a_cut_sentence_resumes_from_its_sentence_or_clause_start_never_on_a_fragment() -> None:
    # Within a dozen words of its sentence's start: that sentence again.
    texts = _cut_after_words("It's soft, warm and machine washable at thirty degrees", 4)
    assert texts[0][1] == "It's soft, warm and" and texts[0][2]
    assert texts[2] == ("patter", "It's soft, warm and machine washable at thirty degrees", False)
    texts = _cut_after_words("Is it decaf? No, it is fully caffeinated. We will have a Swiss-water decaf later", 13)
    assert texts[2] == ("patter", "We will have a Swiss-water decaf later", False)  # the demo said "decaf later."
    # Cut right at a clause's end: the demo resumed on the fragment "yes. On their own ..."
    texts = _cut_after_words("Kids can build it, with an adult helping, yes. On their own we suggest age twelve", 7)
    assert texts[0][1].startswith("Kids can build it, with an adult") and texts[0][2]
    assert texts[2][1] == "Kids can build it, with an adult helping, yes. On their own we suggest age twelve"
    # A long sentence: back to the start of its clause (at most six words).
    long = "Every single one of these hand finished lunar lamps glows softly, warm white or in sixteen colours tonight"
    texts = _cut_after_words(long, 14)
    assert texts[2] == ("patter", "warm white or in sixteen colours tonight", False)


def test_a_short_fragment_that_cannot_go_back_to_its_start_is_left_unsaid() -> None:
    """The demo said "50x70 frame." on its own after an answer."""
    sentence = "Every dot is a galaxy and the print fits any standard fifty by seventy frame"
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, sentence, "patter"))
    p.pull(round(AUDIO_RATE_HZ * (sum(len(w) + 1 for w in sentence.split()[:13]) / 14.0 - 0.02)))
    p.replace_at_boundary([_segment(2, "Good question Leo", "reply")])
    p.release_cut_rest()
    heard = []
    for _ in range(200):
        heard += p.pull(1600).finished
    assert [(h.kind, h.interrupted) for h in heard] == [("patter", True), ("reply", False)] and p.resumed == 0


def test_a_sentence_cut_in_its_first_words_is_said_whole_after_the_reply() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "It's made of polyester faux fur", "patter"))
    p.pull(AUDIO_RATE_HZ // 8)  # the first word
    p.replace_at_boundary([_segment(2, "Good question Leo", "reply")])
    p.release_cut_rest()
    heard = []
    for _ in range(200):
        heard += p.pull(1600).finished
    assert [(h.kind, h.text, h.interrupted) for h in heard][1:] == [
        ("reply", "Good question Leo", False),
        ("patter", "It's made of polyester faux fur", False),  # not the fragment "made of polyester faux fur"
    ]
    assert heard[0].interrupted and len(heard[0].text.split()) <= 2


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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
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


def test_show_me_puts_the_product_on_air() -> None:
    report = asyncio.run(
        run_virtual_show(
            persona=PERSONA, products=CATALOG, minutes=1.0, chat_per_min=0, script=[(20.0, "Mia", "show me the rocket")]
        )
    )
    answer_lines = [h for h in report.transcript if h.kind in ("reply", "reply_more")]
    assert answer_lines and answer_lines[0].product_id == "rocket"  # the card switches with the answer
    assert "Saturn V" in answer_lines[0].text and "89 dollars" in " ".join(h.text for h in answer_lines)
    after = [h for h in report.transcript if h.start_s > answer_lines[-1].end_s and h.kind == "patter"]
    assert after and all(h.product_id == "rocket" for h in after[:3])


def test_how_do_i_buy_a_product_not_on_air_says_where_and_puts_it_on_air() -> None:
    report = asyncio.run(
        run_virtual_show(
            persona=PERSONA,
            products=CATALOG,
            minutes=1.0,
            chat_per_min=0,
            script=[(20.0, "Mia", "how do I buy the rocket kit?")],
        )
    )
    answer = [h for h in report.transcript if h.kind in ("reply", "reply_more")]
    said = " ".join(h.text for h in answer)
    assert answer and answer[0].product_id == "rocket", said  # the card it points to shows the rocket
    assert "card on screen" in said and "89 dollars" in said and "doesn't say" not in said, said
    after = [h for h in report.transcript if h.start_s > answer[-1].end_s and h.kind == "patter"]
    assert after and all(h.product_id == "rocket" for h in after[:3])


def test_no_old_price_is_heard_once_a_new_sheet_has_loaded() -> None:
    """The sheet's price changes while the host is saying the old one: from then on nothing with the old price is
    heard (queued sentences are dropped, the sentence on air is cut at its next word boundary)."""
    persona = Persona(name="Joe", patter={"sections": ["price", "features"]})
    bed = BED.model_copy(update={"list_price": Decimal("49.90"), "promo": "Free catnip mouse today"})
    cheaper = bed.model_copy(update={"price": Decimal("29.90")})

    def run(change_at: float | None) -> list:  # type: ignore[type-arg]
        def reload(now: float, director: ShowDirector, speaker: object) -> None:
            if change_at is not None and abs(now - change_at) < 1 / 60:
                director.set_products([cheaper, LAMP])
                speaker.facts_changed([cheaper, LAMP])  # type: ignore[attr-defined]

        report = asyncio.run(
            run_virtual_show(persona=persona, products=[bed, LAMP], minutes=0.6, chat_per_min=0, on_frame=reload)
        )
        return report.transcript

    first = next(h for h in run(None) if "39 dollars 90" in h.sentence)
    change_at = first.start_s + 0.5  # half a second into the sentence with the old price
    heard = run(change_at)
    cut = next(h for h in heard if h.start_s == first.start_s)
    assert cut.interrupted and cut.end_s < first.end_s  # cut at the next word boundary, not said to the end
    assert not any("39 dollars 90" in h.sentence for h in heard if h.start_s >= change_at)


def _pull_all(p: SpeechPlayout) -> list:
    heard = []
    for _ in range(400):
        heard += p.pull(1600).finished
    return heard


def test_the_next_answer_follows_the_first_sentence_of_the_answer_on_air() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "Leo it is 89 dollars today", "reply"))
    p.push(_segment(2, "The regular price is 109 dollars", "reply_more"))
    p.push(_segment(3, "It comes in taupe", "patter"))
    p.pull(1600)  # Leo's answer is on air
    dropped = p.answer_next([_segment(4, "Mia it ships in two days", "reply")])
    assert [d.text for d in dropped] == ["The regular price is 109 dollars", "It comes in taupe"]
    heard = _pull_all(p)
    assert [(h.text, h.interrupted) for h in heard] == [
        ("Leo it is 89 dollars today", False),  # never cut
        ("Mia it ships in two days", False),
    ]


def test_the_next_answer_lets_a_follow_up_on_air_reach_its_end_or_a_clause_within_three_seconds() -> None:
    """A follow-up cut after its first word ("The") sounded like a glitch in a demo; finished whatever its length,
    it held the next viewer up. It stops at its end or at a clause end within 4 s, else at the next word, and the
    follow-ups still queued give way."""

    def run(follow_up: str, heard_words: int) -> tuple[list[tuple[str, str, bool]], list[str]]:
        p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
        p.push(_segment(1, "Leo yes", "reply"))
        p.push(_segment(2, follow_up, "reply_more"))
        p.push(_segment(3, "It comes in taupe and grey", "reply_more"))
        heard = []
        while not p.busy_with("reply_more") or p.busy_with("reply"):
            heard += p.pull(1600).finished
        # ScriptedVoice: (letters + 1) / 14 s a word; pulled to just inside word ``heard_words``.
        p.pull(round(AUDIO_RATE_HZ * (sum(len(w) + 1 for w in follow_up.split()[:heard_words]) / 14.0 - 0.05)))
        dropped = p.answer_next([_segment(4, "Mia it ships in two days", "reply")])
        heard += _pull_all(p)
        return [(h.kind, h.text, h.interrupted) for h in heard], [d.text for d in dropped]

    short = "The regular price is 109 dollars"  # 2.4 s: finished
    heard, dropped = run(short, 1)
    assert heard[1] == ("reply_more", short, False) and heard[2][1] == "Mia it ships in two days"
    assert dropped == ["It comes in taupe and grey"]
    saturn = "The Saturn V Model Rocket Kit is 89 dollars today."  # 3.6 s: cut after "Model" at a 3 s reach
    heard, _ = run(saturn, 1)
    assert heard[1] == ("reply_more", saturn, False)
    long = "The coffee beans are 24 dollars 99: single origin from the Gedeo zone in the south of Ethiopia"
    heard, _ = run(long, 1)  # 6.7 s: stops at the colon, 2 s on, the fact said
    assert heard[1] == ("reply_more", "The coffee beans are 24 dollars 99:", True)
    longest = "Single origin beans from smallholder farms in the Gedeo zone in the south of Ethiopia roasted weekly"
    heard, _ = run(longest, 1)  # no pause within 4 s: the next word, as before
    assert heard[1][0] == "reply_more" and heard[1][2] and len(heard[1][1].split()) <= 3


def test_a_thank_you_already_waiting_stays_and_goes_after_a_following_answer() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "Leo it is 89 dollars today", "reply"))
    p.pull(1600)
    p.insert_next([_segment(2, "Thanks a lot Amy", "social")])
    assert p.answer_next([_segment(3, "Mia it ships in two days", "reply")]) == []
    assert [h.text for h in _pull_all(p)] == [
        "Leo it is 89 dollars today",
        "Mia it ships in two days",  # the answer goes first: a thank-you never holds up an answer
        "Thanks a lot Amy",
    ]


def test_an_answer_follows_a_thank_you_on_air_and_goes_before_the_thank_yous_queued_behind_it() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "Thanks for the gift Amy", "social"))
    p.push(_segment(2, "Welcome in Sam and Kim", "social"))
    p.push(_segment(3, "It comes in taupe", "patter"))
    p.pull(1600)  # the first thank-you is on air
    dropped = p.answer_next([_segment(4, "Mia it ships in two days", "reply")])
    assert [d.text for d in dropped] == ["It comes in taupe"]  # patter comes back later
    assert [(h.text, h.interrupted) for h in _pull_all(p)] == [
        ("Thanks for the gift Amy", False),  # a thank-you is never cut
        ("Mia it ships in two days", False),  # the answer does not wait for the thank-you queued behind it
        ("Welcome in Sam and Kim", False),
    ]


def test_a_question_asked_during_an_answer_waits_for_one_sentence_not_the_whole_answer() -> None:
    script = [(20.0, "leo", "how much is the rocket kit and how tall is it?"), (20.5, "mia", "how tall is the rocket?")]
    report = asyncio.run(
        run_virtual_show(persona=PERSONA, products=CATALOG, minutes=1.0, chat_per_min=0.0, seed=3, script=script)
    )
    replies = [r for r in report.replies if r[0] == "script"]
    assert len(replies) == 2
    (_, leo_at, leo_heard), (_, mia_at, mia_heard) = replies
    between = [h for h in report.transcript if leo_heard - 0.01 <= h.start_s < mia_heard - 0.01]
    # Mia hears her answer right after the first sentence of Leo's ("Leo," + the fact): no follow-up of Leo's comes
    # between (in virtual time there is no synthesis time: this is the queueing alone).
    assert between and all(h.kind == "reply" and not h.interrupted for h in between), between
    assert leo_at < mia_at < between[-1].end_s  # Mia asked while Leo was being answered
    assert mia_heard - mia_at <= sum(h.end_s - h.start_s for h in between) + 1.0


def test_a_long_first_answer_sentence_starts_with_its_lead_clause_and_the_rest_follows_at_once() -> None:
    brain = _ScriptedBrain(["The rocket kit is 89 dollars today, and the regular price is 109 dollars for it."])
    script = [(20.0, "leo", "how much is the rocket kit?")]
    report = asyncio.run(
        run_virtual_show(
            persona=PERSONA, products=CATALOG, minutes=0.75, chat_per_min=0.0, seed=3, script=script, brain=brain
        )
    )
    replies = [h for h in report.transcript if h.kind == "reply"]
    assert [h.sentence for h in replies] == [
        "The rocket kit is 89 dollars today,",
        "and the regular price is 109 dollars for it.",
    ]
    lead, rest = replies
    assert not lead.interrupted and not rest.interrupted
    i = report.transcript.index(lead)
    assert report.transcript[i + 1] is rest  # nothing between the two halves of the sentence
    assert rest.start_s - lead.end_s <= PERSONA.patter.pause_between_sentences_ms / 1000 + 0.05


class _StreamingVoice(ScriptedVoice):
    """A scripted voice that streams: it records which sentences were asked for as streams."""

    streams = True

    def __init__(self) -> None:
        super().__init__(seed=3)
        self.streamed: list[str] = []

    def synthesize_streaming(self, text: str, *, urgent: bool = False) -> Speech:
        self.streamed.append(text)
        speech = self.synthesize(text, urgent=urgent)
        speech.filling = PcmFill(speech.samples)
        speech.filling.advance(speech.samples // 4)
        speech.filling.complete()  # virtual time: decoded "at once", but through the same hand-over
        return speech


def test_with_a_streaming_voice_the_first_answer_sentence_is_streamed_whole_not_split_at_a_clause() -> None:
    brain = _ScriptedBrain(["The rocket kit is 89 dollars today, and the regular price is 109 dollars for it."])
    voice = _StreamingVoice()
    script = [(20.0, "leo", "how much is the rocket kit?")]
    report = asyncio.run(
        run_virtual_show(
            persona=PERSONA,
            products=CATALOG,
            minutes=0.75,
            chat_per_min=0.0,
            seed=3,
            script=script,
            brain=brain,
            voice=voice,
        )
    )
    replies = [h for h in report.transcript if h.kind == "reply"]
    assert [h.sentence for h in replies] == [
        "The rocket kit is 89 dollars today, and the regular price is 109 dollars for it."
    ]
    assert not replies[0].interrupted
    assert voice.streamed == [replies[0].sentence]  # only the answer's first sentence; patter is voiced whole


def test_shipping_and_labelled_promos_are_said_as_sentences() -> None:
    beans = sheet(
        "beans",
        "Coffee Beans",
        "24.99",
        shipping="Ships in 48 hours from roasting.",
        promo="Live-only deal: free hand grinder with every two bags.",
    )
    offline = OfflineBrain(embedder=LexicalEmbedder())
    offline.prepare([beans])
    k = BrainKit(brain=offline, offline=offline, guard=SentenceGuard(settings=GuardSettings(), persona=PERSONA))

    async def ask(q: str) -> list[str]:
        req = BrainRequest(persona=PERSONA, question=q, viewer="Leo", product=beans, products=[beans])
        return [s async for s in k.stream(req)]

    assert asyncio.run(ask("how long does shipping take?"))[0] == "Leo, it ships in 48 hours from roasting."
    deal = asyncio.run(ask("is there a discount today?"))[0]
    assert deal == "Leo, live-only deal: free hand grinder with every two bags.", deal  # not "today's deal: live-.."


def test_fact_repeats_count_a_cut_sentence_whose_rest_was_dropped_as_the_words_heard() -> None:
    from streamer.bench.virtual_show import Heard, _min_fact_repeat_s

    s = "Jasmine and lemon notes, roasted light for filter brewing and a sweet finish."

    def h(t: float, text: str, *, cut: bool = False, resumed: bool = False) -> Heard:
        return Heard(t, t + 3, "patter", text, s, cut, "coffee", resumed)

    patter = [
        h(0.0, "Jasmine", cut=True),  # cut, and its rest said after the reply: the whole sentence was heard
        h(5.0, "and lemon notes, roasted light for filter brewing and a sweet finish.", resumed=True),
        h(400.0, "Jasmine", cut=True),  # cut again, rest dropped: only "Jasmine" was heard this time
        h(460.0, s),
    ]
    # Said in full at 0 s and 460 s: 460 s apart, not 60 (the second cut's one word is not the sentence).
    assert _min_fact_repeat_s(patter) == 460.0


def test_the_next_part_of_an_answer_goes_right_after_its_first_part_even_before_a_waiting_thank_you() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "It comes in taupe and cloud grey", "patter"))
    p.pull(1600)
    p.insert_next([_segment(2, "Welcome Noor", "social")])
    lead = _segment(3, "Dan the Moon Night Light is 89 dollars", "reply")
    lead.reply_to = "r7"
    p.answer_next([lead])  # before the waiting thank-you
    rest = _segment(4, "fifteen across and made for a bedside", "reply")
    rest.reply_to = "r7"
    assert p.insert_next([rest], after_reply="r7")
    heard = [h.text for h in _pull_all(p)]
    assert heard[-3:] == [
        "Dan the Moon Night Light is 89 dollars",
        "fifteen across and made for a bedside",
        "Welcome Noor",  # kept, and said after the answer
    ]


def test_patter_says_a_shipping_line_that_opens_with_its_verb_as_a_sentence() -> None:
    from streamer.brain.templates import _usage
    from streamer.lang import tables

    beans = sheet("beans", "Coffee Beans", "24.99", shipping="Ships in 48 hours from roasting.")
    ideas = [s for idea in _usage(beans, random.Random(1), tables("en")) for s in idea]
    assert ideas == ["It ships in 48 hours from roasting."]


def _speaker_with(director: ShowDirector) -> object:
    from streamer.bench.virtual_show import InlineExecutor
    from streamer.clock import FakeClock
    from streamer.speaker import Speaker

    return Speaker(
        persona=PERSONA,
        director=director,
        brain=kit(),
        voice=ScriptedVoice(),
        playout=SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0),
        clock=FakeClock(),
        voice_pool=InlineExecutor(),
        reply_pool=InlineExecutor(),
        rng=random.Random(1),
    )


@pytest.mark.parametrize(("section", "said_again"), [("call_to_action", False), ("features", True)])
def test_an_invitation_cut_in_its_first_word_and_then_dropped_is_not_said_again_from_the_top(
    section: str, said_again: bool
) -> None:
    """A 10-minute show heard "Hit —" cut by an answer, the rest dropped when the show moved on, and "Hit the product
    card on screen to order." from the top 55 s later. An invitation owes no fact: a word of it heard counts as
    said (the section has other phrasings). A fact's sentence cut in its first word may be said again."""
    text = "Hit the product card on screen to order." if section == "call_to_action" else "It has a raised rim."
    # On air, cut by an answer after its first word: what viewers heard carries the section.
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    on_air = _segment(1, text, "patter")
    on_air.section = section
    p.push(on_air)
    p.pull(AUDIO_RATE_HZ // 8)
    p.replace_at_boundary([_segment(2, "Good question Leo", "reply")])
    heard = []
    for _ in range(40):
        heard += p.pull(1600).finished
    assert heard[0].interrupted and heard[0].section == section and len(heard[0].text.split()) == 1
    # Its rest is the whole sentence (cut in its first word, it would be said from its start) and knows "Hit" was
    # heard; the show moved on and dropped it (Speaker._forget_dropped).
    director = ShowDirector(persona=PERSONA)
    director.set_products(CATALOG)
    assert director.accept(text, 0.0)
    speaker = _speaker_with(director)
    speaker.forget_unheard(text, heard[0].text, section=section)  # type: ignore[attr-defined]
    seg = _segment(1, text, "patter")
    seg.section = section
    rest = rest_of(seg, int(seg.visemes.boundaries[0]), text.split()[0])
    assert rest is not None and rest.text == text and rest.resumes == text and rest.heard == text.split()[0]
    speaker._forget_dropped(rest)  # type: ignore[attr-defined]
    assert director.accept(text, 30.0) is said_again


_TRANSCRIPT = """
import asyncio, sys
sys.path.insert(0, "tests")
from test_on_air_speech import PERSONA, CATALOG
from streamer.bench.virtual_show import run_virtual_show
r = asyncio.run(run_virtual_show(persona=PERSONA, products=CATALOG, minutes=2.5, chat_per_min=12.0, seed=11))
print("\\n".join(f"{h.start_s:.2f} {h.kind} {h.sentence}" for h in r.transcript))
"""


def test_a_seeded_show_says_the_same_words_whatever_python_s_hash_seed() -> None:
    """CI's run heard "maya, it's 89 dollars today." where this machine heard "maya, the Saturn V Model Rocket Kit
    is 89 dollars right now,": the answer's phrasing was picked from a set, whose order follows PYTHONHASHSEED."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    runs = []
    for seed in ("0", "1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _TRANSCRIPT], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append(out.stdout)
    assert runs[0].count("\n") > 20 and "reply" in runs[0]
    assert runs[1] == runs[0] and runs[2] == runs[0]


def test_an_answer_about_a_product_not_on_screen_names_it() -> None:
    """The demo answered "how much is the Coffee Beans?" with "it's 24 dollars 99 today." while the cat bed was on
    screen: the other viewers heard a price for "it", the bed they were looking at."""

    async def price_of(question: str, on_air: ProductSheet, seed: int) -> str:
        req = BrainRequest(
            persona=PERSONA, question=question, viewer="Leo", product=on_air, products=CATALOG, rng=random.Random(seed)
        )
        return " ".join([s async for s in kit().stream(req)])

    for seed in range(12):
        off_air = asyncio.run(price_of("how much is the Saturn V Model Rocket Kit?", BED, seed))
        assert "Saturn V Model Rocket Kit" in off_air and "89 dollars" in off_air, off_air
        off_air = asyncio.run(price_of("how much is the moon light?", BED, seed))
        assert "Moon Night Light" in off_air and "34 dollars 50" in off_air, off_air
    on_air = {asyncio.run(price_of("how much is it?", LAMP, seed)) for seed in range(12)}
    assert any("Moon Night Light" not in a for a in on_air)  # the one on screen may be "it"


def test_a_social_line_on_air_says_its_next_sentence_before_the_answer_that_follows_it() -> None:
    """The demo heard "Welcome in, Zoe!" and, three answers (20 s) later, "We're looking at the Cat Bed right now."."""
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    welcome = _segment(1, "Welcome in Zoe", "social")
    welcome.reply_to = "r1"
    p.push(welcome)
    other = _segment(2, "Thanks a lot Amy", "social")
    other.reply_to = "r2"
    p.push(other)
    p.pull(1600)  # "Welcome in Zoe" is on air
    rest = _segment(3, "We are looking at the cat bed right now", "social")
    rest.reply_to = "r1"
    assert p.insert_next([rest], bounded=True, after_reply="r1")
    assert p.answer_next([_segment(4, "Mia it ships in two days", "reply")]) == []
    assert [h.text for h in _pull_all(p)] == [
        "Welcome in Zoe",
        "We are looking at the cat bed right now",  # the line on air goes on
        "Mia it ships in two days",
        "Thanks a lot Amy",  # another thank-you still waits for the answer
    ]


def test_it_is_the_product_on_screen_while_the_director_already_looks_ahead() -> None:
    """The demo answered "is it waterproof?" about the Saturn V rocket while the coffee's last sentences (and its
    card) were on air: the director had moved on to write the transition."""
    director = ShowDirector(persona=PERSONA)
    director.set_products(CATALOG)
    speaker = _speaker_with(director)
    assert speaker.on_screen() == BED  # type: ignore[attr-defined]  # nothing said yet: the director's
    seg = _segment(1, "It has a raised rim", "patter")
    seg.product_id = "lamp"
    playout = speaker.playout  # type: ignore[attr-defined]
    playout.push(seg)
    playout.pull(1600)
    director.switch_to("rocket")  # the show looks ahead while the lamp's sentence is heard
    assert director.current_product == ROCKET
    assert speaker.on_screen() == LAMP  # type: ignore[attr-defined]


def test_a_measured_quantity_said_again_in_other_words_is_a_repeat() -> None:
    """A demo heard "USB-C rechargeable, 8 hours per charge." then, 25 s later, "And the battery lasts 8 hours."."""
    memory = FactMemory(window_s=300.0)
    assert memory.admit("USB-C rechargeable, 8 hours per charge.", 0.0)
    assert not memory.admit("And the battery lasts 8 hours.", 25.0)
    assert not memory.admit("The battery lasts eight hours.", 26.0)  # a number in words is the same quantity
    assert memory.admit("It is 15 cm across.", 30.0)
    assert memory.admit("It is 18 cm tall.", 31.0)  # another quantity: another fact
    assert memory.admit("The battery lasts 8 hours.", 400.0)  # out of the window
