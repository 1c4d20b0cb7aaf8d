"""The spoken AI disclosure: right after the opening greeting and every ``disclosure.spoken_every_min`` of show time
the host says, in the persona's language, that it is an AI host; each one is heard whole (nothing cuts or drops
it), and appears in the heard transcript with kind "disclosure"."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamer.bench.virtual_show import ScriptedVoice, VirtualShowReport, run_virtual_show
from streamer.config import Persona, ProductSheet
from streamer.director import DisclosureSchedule, disclosure_every_s
from streamer.frames import AUDIO_RATE_HZ, HeardSpeech, SpeechSegment
from streamer.lang import TABLES, names_ai
from streamer.loading import ConfigError, load_persona, load_product_file
from streamer.playout import SpeechPlayout
from streamer.voice.base import Speech, VoiceError
from tests.test_on_air_speech import CATALOG

REPO = Path(__file__).resolve().parent.parent
_CJK = re.compile(r"[\u3400-\u9fff]")


def _zh_products() -> list[ProductSheet]:
    out: list[ProductSheet] = []
    for f in sorted((REPO / "products-zh").glob("*.yaml")):
        found, problems = load_product_file(f)
        assert not [p for p in problems if p.is_error], problems
        out += found
    return out


def _persona(language: str = "en", **disclosure: Any) -> Persona:
    path = REPO / "personas" / ("host.yaml" if language == "en" else "host-zh.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))  # no voice file needed: the show's voice is scripted
    data["disclosure"] = {**data.get("disclosure", {}), **disclosure}
    return Persona.model_validate(data)


# ---- the persona's settings -----------------------------------------------------------------------------------


def test_by_default_the_host_discloses_every_15_minutes_in_its_languages_words() -> None:
    en, zh = _persona("en"), _persona("zh")
    assert en.disclosure.spoken_every_min == 15.0 and en.disclosure.spoken_lines == []
    assert len(set(en.spoken_disclosures)) >= 3 and len(set(zh.spoken_disclosures)) >= 3  # varied
    assert all(names_ai(line) and not _CJK.search(line) for line in en.spoken_disclosures)
    assert all(names_ai(line) and _CJK.search(line) for line in zh.spoken_disclosures)
    assert any("Joe" in line for line in en.spoken_disclosures)  # {host} is the persona's name
    assert not any("{" in line for line in [*en.spoken_disclosures, *zh.spoken_disclosures])
    for tables in TABLES.values():  # no language ships a line that leaves the viewer unsure, nor a number
        assert tables.spoken_disclosure and all(
            names_ai(t) and not re.search(r"\d", t) for t in tables.spoken_disclosure
        )


def test_a_persona_may_use_its_own_lines_but_each_must_say_ai() -> None:
    p = _persona("en", spoken_lines=["Reminder: {host} is an AI avatar."])
    assert p.spoken_disclosures == ["Reminder: Joe is an AI avatar."]
    assert not names_ai("I said I'd explain it again")  # "ai" inside a word is not the word AI
    assert names_ai("我是AI主播") and names_ai("Ich bin eine KI.")


def test_bad_disclosure_settings_name_file_line_and_fix(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        "name: Joe\n"
        "disclosure:\n"
        "  spoken_every_min: 0.5\n"
        "  spoken_lines:\n"
        "    - Hi, I'm {host}, an AI host.\n"
        "    - Hi, I'm {host}, your presenter.\n"
        "    - Hi, {host} the AI, on {product}.\n"
        "  spoken_evry_min: 5\n"
    )
    with pytest.raises(ConfigError) as info:
        load_persona(f)
    problems = {p.field: p for p in info.value.problems}
    assert problems["disclosure.spoken_every_min"].line == 3
    assert "0 (only at the start) or at least 1" in problems["disclosure.spoken_every_min"].message
    assert problems["disclosure.spoken_lines.1"].line == 6
    assert "AI" in problems["disclosure.spoken_lines.1"].message
    assert (
        problems["disclosure.spoken_lines.2"].line == 7 and "{product}" in problems["disclosure.spoken_lines.2"].message
    )
    unknown = problems["disclosure.spoken_evry_min"]
    assert unknown.line == 8 and "spoken_every_min" in unknown.hint
    assert "disclosure.spoken_lines.0" not in problems


# ---- when (pure logic) ----------------------------------------------------------------------------------------


def test_schedule_is_due_at_once_then_every_interval_after_the_last_one_started() -> None:
    persona = _persona("en", spoken_every_min=15)
    s = DisclosureSchedule()
    assert s.lateness_s(persona, since_last_s=None, wait_s=3.0) == 0.0  # the opening one
    first = s.next_line(persona)
    s.placed_line(persona)
    assert first == persona.spoken_disclosures[0]  # the plainest opens the show
    assert s.lateness_s(persona, since_last_s=600.0, wait_s=2.0) is None
    # Placed so that it is heard on time: 898 s since the last one plus 2 s of speech before it.
    assert s.lateness_s(persona, since_last_s=898.0, wait_s=2.0) == 0.0
    assert s.lateness_s(persona, since_last_s=940.0, wait_s=0.0) == 40.0
    said = [first]
    for _ in range(3):
        said.append(s.next_line(persona))
        s.placed_line(persona)
    assert said[1] != said[0] and len(set(said)) == len(said)  # phrasings in turn


def test_a_new_name_or_language_discloses_again_and_zero_means_only_then() -> None:
    s = DisclosureSchedule()
    joe = _persona("en", spoken_every_min=0)
    s.placed_line(joe)
    assert s.lateness_s(joe, since_last_s=86_400.0, wait_s=0.0) is None  # 0: never again...
    mia = joe.model_copy(update={"name": "Mia"})
    assert s.lateness_s(mia, since_last_s=5.0, wait_s=0.0) == 0.0  # ...until the host is someone else
    assert s.next_line(mia) == mia.spoken_disclosures[0]


def test_a_platform_that_asks_for_more_often_shortens_the_personas_cadence() -> None:
    every_15, start_only = _persona("en"), _persona("en", spoken_every_min=0)
    assert disclosure_every_s(every_15) == 900.0
    assert disclosure_every_s(every_15, 10.0) == 600.0  # douyin & co: every 10 min
    assert disclosure_every_s(_persona("en", spoken_every_min=5), 10.0) == 300.0  # the persona's shorter one holds
    assert disclosure_every_s(start_only) is None and disclosure_every_s(start_only, 10.0) == 600.0
    s = DisclosureSchedule()
    s.placed_line(every_15)
    assert s.lateness_s(every_15, since_last_s=700.0, wait_s=0.0) is None
    assert s.lateness_s(every_15, since_last_s=700.0, wait_s=0.0, platform_every_min=10.0) == 100.0


# ---- on air (the playout) ---------------------------------------------------------------------------------------


def _segment(sid: int, text: str, kind: str) -> SpeechSegment:
    speech = ScriptedVoice().synthesize(text)
    return SpeechSegment(segment_id=sid, text=text, pcm=speech.pcm, visemes=speech.visemes, kind=kind)


def _pull_all(p: SpeechPlayout) -> list[HeardSpeech]:
    heard: list[HeardSpeech] = []
    for _ in range(600):
        heard += p.pull(1600).finished
    return heard


DISCLOSURE = "Just so you know I'm an AI host and this stream is AI-generated"


def test_no_answer_cuts_a_disclosure_on_air_it_follows_it() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, DISCLOSURE, "disclosure"))
    p.push(_segment(2, "It comes in taupe", "patter"))
    p.pull(4800)
    dropped = p.answer_next([_segment(3, "Mia it ships in two days", "reply")])
    assert [d.text for d in dropped] == ["It comes in taupe"]
    assert [(h.kind, h.text, h.interrupted) for h in _pull_all(p)] == [
        ("disclosure", DISCLOSURE, False),
        ("reply", "Mia it ships in two days", False),
    ]


@pytest.mark.parametrize("how", ["operator", "skip", "stale"])
def test_the_interruption_path_never_cuts_nor_drops_a_disclosure(how: str) -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, DISCLOSURE, "disclosure"))
    p.push(_segment(2, "It is 39 dollars 90 today", "patter"))
    p.pull(4800)  # the disclosure is on air
    p.insert_disclosure(_segment(3, "Reminder I'm an AI host", "disclosure"))  # and another waits
    if how == "operator":
        p.replace_at_boundary([_segment(4, "We are back in five minutes", "operator")])
    elif how == "skip":
        p.replace_at_boundary([], pause_s=0.0)  # the operator skipped the product: patter is cut
    else:
        assert p.drop_where(lambda seg: True) == (1, False)  # only the patter sentence was stale
    heard = [(h.kind, h.interrupted) for h in _pull_all(p)]
    assert heard[0] == ("disclosure", False)
    assert ("disclosure", False) in heard[1:] and not any(cut for _, cut in heard)
    assert ("patter", False) not in heard


def test_a_disclosure_goes_after_the_sentence_on_air_and_queued_answers_before_patter() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "One thing I love is the raised rim", "patter"))
    p.push(_segment(2, "Leo it is 89 dollars today", "reply"))
    p.push(_segment(3, "It comes in taupe", "patter"))
    p.pull(1600)
    wait_s = p.wait_for_disclosure_s()
    p.insert_disclosure(_segment(4, DISCLOSURE, "disclosure"))
    p.insert_next([_segment(5, "Thanks a lot Amy", "social")])  # a thank-you after it: it keeps its place
    heard = _pull_all(p)
    assert [h.kind for h in heard] == ["patter", "reply", "disclosure", "social", "patter"]
    assert not any(h.interrupted for h in heard)
    assert p.since_started_s("disclosure") is not None and p.since_started_s("greeting") is None
    spoken = sum(
        _segment(0, t, "x").samples for t in ("One thing I love is the raised rim", "Leo it is 89 dollars today")
    )
    assert abs(wait_s - (spoken - 1600) / AUDIO_RATE_HZ) < 0.01


def test_an_overdue_disclosure_goes_before_queued_answers_but_after_the_greeting() -> None:
    p = SpeechPlayout(rate_hz=AUDIO_RATE_HZ, gap_s=0.0)
    p.push(_segment(1, "Hi everyone welcome to the stream", "greeting"))
    p.push(_segment(2, "Leo it is 89 dollars today", "reply"))
    p.insert_disclosure(_segment(3, DISCLOSURE, "disclosure"), first=True)
    assert [h.kind for h in _pull_all(p)] == ["greeting", "disclosure", "reply"]


# ---- a whole show on virtual time -------------------------------------------------------------------------------


def _show(persona: Persona, products: list[Any], *, minutes: float = 40.0) -> VirtualShowReport:
    return asyncio.run(run_virtual_show(persona=persona, products=products, minutes=minutes, chat_per_min=20, seed=5))


def _check_disclosures(report: VirtualShowReport, persona: Persona, every_s: float) -> None:
    said = report.disclosures()
    first = said[0]
    assert report.first_kind == "greeting"
    assert first.start_s <= 15.0, first
    before = [h.kind for h in report.transcript if h.start_s < first.start_s]
    assert set(before) <= {"greeting"}, before  # the greeting, then the disclosure, before any patter or answer
    starts = [h.start_s for h in said]
    gaps = [b - a for a, b in itertools.pairwise(starts)] + [report.minutes * 60 - starts[-1]]
    assert max(gaps) <= every_s + 30.0, gaps
    assert min(gaps[:-1]) >= every_s - 15.0, gaps  # about every interval, not more often
    assert all(not h.interrupted and h.text == h.sentence for h in said)  # heard whole, every one
    assert all(h.sentence in persona.spoken_disclosures for h in said)
    assert len({h.sentence for h in said}) >= min(len(said), 2)  # not the same sentence each time
    assert report.metrics()["disclosures"] == len(said) and report.metrics()["disclosures_cut"] == 0
    # Replies are still answered (busy chat: about 20 comments a minute).
    questions = report.reply_latency_s.get("question", [])
    assert len(report.replies) > 4 * report.minutes and len(questions) > 2.5 * report.minutes
    # 20 comments a minute queue up at the start of a short show; the patter bench (8 a minute) gives 0.3-0.5 s.
    assert sorted(questions)[len(questions) // 2] < 8.0


@pytest.mark.integration
def test_a_quarter_hour_of_busy_chat_in_english_discloses_at_start_and_after_15_minutes() -> None:
    persona = _persona("en")
    report = _show(persona, CATALOG, minutes=16.0)
    _check_disclosures(report, persona, 15 * 60.0)
    assert len(report.disclosures()) == 2  # ~0:03, ~15:03
    assert not any(_CJK.search(h.text) for h in report.disclosures())


@pytest.mark.integration
def test_ten_minutes_in_chinese_every_3_minutes_disclose_four_times_in_chinese() -> None:
    persona = _persona("zh", spoken_every_min=3)
    report = _show(persona, _zh_products(), minutes=10.0)
    _check_disclosures(report, persona, 3 * 60.0)
    assert 4 <= len(report.disclosures()) <= 5
    assert all(_CJK.search(h.text) and names_ai(h.text) for h in report.disclosures())


def test_a_new_host_name_discloses_again_right_after_its_greeting() -> None:
    joe = _persona("en", spoken_every_min=15)
    mia = joe.model_copy(update={"name": "Mia", "style": joe.style.model_copy(update={"greetings": ["Hi, I'm Mia!"]})})
    swapped: list[float] = []

    def reload(now: float, director: Any, speaker: Any) -> None:
        if now >= 40.0 and not swapped:  # what the channel does on a persona hot reload
            swapped.append(now)
            director.set_persona(mia, greet_again=True)
            speaker.persona = mia
            speaker.restart_patter()

    report = asyncio.run(
        run_virtual_show(persona=joe, products=CATALOG, minutes=1.5, chat_per_min=0, seed=5, on_frame=reload)
    )
    after = [h for h in report.transcript if h.start_s >= swapped[0]]
    kinds = [h.kind for h in after]
    assert kinds[kinds.index("greeting") + 1] == "disclosure", kinds
    assert "disclosure" not in kinds[: kinds.index("greeting")]
    assert [h.sentence for h in report.disclosures()] == [joe.spoken_disclosures[0], mia.spoken_disclosures[0]]


def test_with_patter_paused_from_the_start_the_host_still_discloses() -> None:
    def pause(now: float, director: Any, speaker: Any) -> None:
        speaker.set_patter_paused(True)

    report = asyncio.run(
        run_virtual_show(persona=_persona("en"), products=CATALOG, minutes=0.5, chat_per_min=0, seed=5, on_frame=pause)
    )
    assert [h.kind for h in report.transcript] == ["disclosure"]
    assert report.transcript[0].start_s <= 10.0


class _FailsOnce(ScriptedVoice):
    """A voice that cannot say the first disclosure (a TTS error): it is said a little later instead."""

    def __init__(self) -> None:
        super().__init__(seed=5)
        self.failed = 0

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        if "AI host" in text and not self.failed:
            self.failed += 1
            raise VoiceError("scripted", "engine hiccup")
        return super().synthesize(text, urgent=urgent)


def test_a_disclosure_the_voice_could_not_say_is_said_a_little_later() -> None:
    voice = _FailsOnce()
    report = asyncio.run(
        run_virtual_show(persona=_persona("en"), products=CATALOG, minutes=0.5, chat_per_min=0, seed=5, voice=voice)
    )
    assert voice.failed == 1
    said = report.disclosures()
    assert len(said) == 1 and not said[0].interrupted and said[0].start_s <= 15.0
