"""The streaming sentence splitter: sentences out as soon as they end, not fooled by prices or abbreviations."""

from __future__ import annotations

import pytest

from streamer.brain.sentences import SentenceSplitter, split_lead, split_sentences, strip_markup


def stream(text: str, *, step: int = 1, **kwargs: object) -> list[str]:
    """Feed ``text`` ``step`` characters at a time (like LLM tokens), then flush."""
    splitter = SentenceSplitter(**kwargs)  # type: ignore[arg-type]
    out: list[str] = []
    for i in range(0, len(text), step):
        out += splitter.feed(text[i : i + step])
    return out + splitter.flush()


def test_a_sentence_comes_out_as_soon_as_the_next_token_shows_it_ended() -> None:
    sp = SentenceSplitter()
    assert sp.feed("Hi every") == []
    assert sp.feed("one!") == []  # "!!" or a closing quote could still follow
    assert sp.feed(" Today") == ["Hi everyone!"]
    assert sp.feed(" we have") == []
    assert sp.flush() == ["Today we have."]


def test_chinese_stops_end_a_sentence_without_a_space() -> None:
    assert stream("这款耳机只要199元！现在下单吧。还有优惠；快来") == [
        "这款耳机只要199元！",
        "现在下单吧。",
        "还有优惠；",
        "快来。",
    ]


def test_closing_quotes_and_brackets_stay_with_their_sentence() -> None:
    assert stream('He said "Wow." Then he bought two. (Really?) Yes!') == [
        'He said "Wow."',
        "Then he bought two.",
        "(Really?)",
        "Yes!",
    ]
    assert stream("还有“限时优惠！”哦。") == ["还有“限时优惠！”", "哦。"]


@pytest.mark.parametrize("step", [1, 3, 7, 1000])
def test_prices_and_decimals_never_end_a_sentence(step: int) -> None:
    text = "Today it's only $19.99. The 2.5 kg model is ¥1980.50, and 3.14 is pi."
    assert stream(text, step=step) == ["Today it's only $19.99.", "The 2.5 kg model is ¥1980.50, and 3.14 is pi."]


def test_a_period_split_across_tokens_waits_for_the_next_one() -> None:
    sp = SentenceSplitter()
    assert sp.feed("Only $19.") == []
    assert sp.feed("99 today. ") == ["Only $19.99 today."]


@pytest.mark.parametrize(
    "text",
    [
        "Mr. Lee and Dr. Chen use it daily.",
        "It beats the old one, e.g. on battery and i.e. weight.",
        "Compare this vs. that one.",
        "It weighs approx. 300 grams.",
        "Our No. 5 best seller is back.",
        "Made in the U.S. by hand.",
        "Pens, paper, etc. are in the box.",
    ],
)
def test_abbreviations_do_not_end_a_sentence(text: str) -> None:
    assert stream(text) == [text]


def test_an_abbreviation_before_a_new_capitalised_sentence_ends_it() -> None:
    assert stream("Ships at 9 a.m. Order today.") == ["Ships at 9 a.m.", "Order today."]
    assert stream("Is it waterproof? No. It is splash-proof.") == ["Is it waterproof?", "No.", "It is splash-proof."]


def test_an_ellipsis_is_a_pause_unless_a_new_sentence_starts() -> None:
    assert stream("It's great... really great. Wait for it… The price!") == [
        "It's great... really great.",
        "Wait for it…",
        "The price!",
    ]


def test_a_long_run_without_stops_is_cut_at_a_comma_so_speech_can_start() -> None:
    text = "one, two, three and four " * 20  # 500 characters, no stop
    sp = SentenceSplitter(max_chars=200)
    first: list[str] = []
    fed = 0
    for i in range(0, len(text), 4):
        first = sp.feed(text[i : i + 4])
        fed = i + 4
        if first:
            break
    assert first, "no piece came out of a 500-character run"
    assert fed <= 210  # out as soon as the run passes ~200 characters
    assert first[0].endswith(",")
    assert 150 <= len(first[0]) <= 200
    pieces = stream(text)
    assert all(len(p) <= 201 for p in pieces)
    assert " ".join(pieces).replace(".", "").split() == text.split()  # nothing lost, nothing doubled


def test_a_long_run_without_commas_is_cut_at_a_space_or_hard() -> None:
    words = stream("word " * 100)
    assert all(len(p) <= 201 for p in words) and len(words) == 3
    assert all(not p.startswith(" ") and "wor d" not in p for p in words)
    hard = stream("a" * 450)
    assert [len(p) for p in hard] == [200, 200, 51]  # 50 letters and a period


def test_markdown_emojis_and_role_prefixes_are_removed() -> None:
    text = (
        "Host: **Great price!** 🎉🔥 Only today.\n"
        "## Why you'll love it\n"
        "- Long *battery* life\n"
        "1. Waterproof\n"
        "2. [Fast charging](http://example.com) with `USB-C`\n"
        "> Mia: Tap the card ✅"
    )
    assert stream(text, step=3, role_names=("Mia",)) == [
        "Great price!",
        "Only today.",
        "Why you'll love it.",
        "Long battery life.",
        "Waterproof.",
        "Fast charging with USB-C.",
        "Tap the card.",
    ]
    assert strip_markup("主播：大家好") == "大家好"
    assert strip_markup("Assistant: AI: hello") == "hello"
    assert strip_markup("snake_case_id stays") == "snake_case_id stays"


def test_pieces_with_nothing_to_say_join_the_next_sentence() -> None:
    assert stream("🔥🔥🔥\n1. \n**Buy now.** 2. Then smile.") == ["Buy now.", "Then smile."]
    assert stream("") == [] and stream("   \n ** \n") == []


def test_flush_returns_the_tail_and_resets() -> None:
    sp = SentenceSplitter()
    assert sp.feed("All done. And one more thing") == ["All done."]
    assert sp.flush() == ["And one more thing."]
    assert sp.pending == "" and sp.flush() == []
    assert sp.feed("Again? ") == ["Again?"]


SAMPLES = [
    "Hi everyone! Today it's only $19.99. Mr. Smith loves it, e.g. for travel. Buy No. 5 now... It's great. Done",
    "这款耳机只要199元！现在下单吧。还有“限时优惠！”哦",
    "**Great price!** Only today.\n- Long battery\n- Light weight\n## Specs\n1. Waterproof",
    'He said "Wow." Then left. (Really?) Yes. Compare this vs. that. U.S. shipping is free.',
    "one, two, three " * 30,
]


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("step", [1, 2, 5, 13])
def test_streaming_in_any_token_size_gives_the_same_sentences_as_the_whole_text(text: str, step: int) -> None:
    whole = split_sentences(text)
    assert whole and all(s.strip() == s and s for s in whole)
    assert stream(text, step=step) == whole


def test_the_pending_buffer_stays_bounded() -> None:
    sp = SentenceSplitter(max_chars=200)
    for _ in range(2000):
        sp.feed("blah ")
        assert len(sp.pending) <= 205


@pytest.mark.parametrize(
    ("sentence", "parts"),
    [
        # The first clause long enough to cover the rest's synthesis.
        (
            "Leo, it's 89 dollars today; the regular price is 109 dollars.",
            ("Leo, it's 89 dollars today;", "the regular price is 109 dollars."),
        ),
        # Not inside a list: the clause ends after its last item.
        (
            "Mia, it comes in slate grey, forest green and sunset orange, and all three are in stock right now.",
            ("Mia, it comes in slate grey, forest green and sunset orange,", "and all three are in stock right now."),
        ),
        (
            "Leo，这套茶具今天只要二百六十八元，比平时便宜了六十元。",
            ("Leo，这套茶具今天只要二百六十八元，", "比平时便宜了六十元。"),
        ),
        # Short sentences, a bare name, a thousands separator, a rest of one word: voiced whole.
        ("Leo, the Saturn V kit is 60 cm tall.", None),
        ("Sure, 1,000 pieces, all of them hand made in Portugal by a small family workshop.", None),
        ("Leo, I'm not sure about that for the Moon Night Light, sorry.", None),
        ("No commas or other clause marks in this rather long sentence about the rocket kit at all", None),
    ],
)
def test_an_answer_s_first_sentence_splits_after_a_long_enough_clause(
    sentence: str, parts: tuple[str, str] | None
) -> None:
    assert split_lead(sentence) == parts
    if parts is not None:
        assert "".join(parts).replace(" ", "") == sentence.replace(" ", "")  # nothing lost or added
