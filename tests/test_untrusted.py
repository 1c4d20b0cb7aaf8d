"""The one untrusted-text policy (:mod:`streamer.untrusted`), and every former sanitiser that now calls it."""

from __future__ import annotations

import random
import unicodedata

import pytest

from streamer.brain.base import BrainRequest
from streamer.brain.embed import LexicalEmbedder
from streamer.brain.intents import classify, named_products
from streamer.brain.offline import OfflineBrain
from streamer.brain.prompts import build_messages, extract_viewer_data
from streamer.chat.triage import NAME_MAX_CHARS, ChatTriage, clean_name, clean_text
from streamer.chat.twitch import sanitize_post
from streamer.config import Persona, ProductSheet, TriageSettings
from streamer.frames import ChatMessage
from streamer.products.html_text import html_to_text
from streamer.untrusted import clean_untrusted, grapheme_floor

FAMILY = "👨\u200d👩\u200d👧"
KEYCAP = "1\ufe0f\u20e3"
HEART = "\u2764\ufe0f"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
C0_C1 = "".join(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)))

# (raw, with the default NFC, with NFKC)
NASTY: list[tuple[str, str, str]] = [
    ("how much is it?", "how much is it?", "how much is it?"),
    ("\u202eevil", "evil", "evil"),  # right-to-left override
    ("a\u2066b\u2069c", "abc", "abc"),  # bidi isolates
    ("Bo\u200bb\u200c\u2060\ufeff", "Bob", "Bob"),  # zero-width space, non-joiner, word joiner, BOM
    ("pri\u200bce", "price", "price"),  # a hidden split of a word a filter must see
    ("\u00adsoft\u00ad", "soft", "soft"),  # soft hyphens
    ("is\x00it", "is it", "is it"),  # NUL: a space, so the words stay apart
    ("line1\r\nline2\rline3\nend", "line1 line2 line3 end", "line1 line2 line3 end"),  # CR/LF
    ("x\x85y\x9bz\x7f", "x y z", "x y z"),  # C1 controls (NEL, CSI) and DEL
    ("\x1b[31mred", "[31mred", "[31mred"),  # ESC
    ("hello\u2028world\u2029!", "hello world !", "hello world !"),  # line and paragraph separators
    ("  many \t  spaces\u3000全角 ", "many spaces 全角", "many spaces 全角"),
    ("ｆｒｅｅ ｓｈｉｐｐｉｎｇ", "ｆｒｅｅ ｓｈｉｐｐｉｎｇ", "free shipping"),  # fullwidth: folded only for matching
    ("这个多少钱？", "这个多少钱？", "这个多少钱?"),  # Chinese survives; its punctuation too unless folded
    ("大家好，欢迎！🎉", "大家好，欢迎！🎉", "大家好,欢迎!🎉"),
    (f"{FAMILY} fam", f"{FAMILY} fam", f"{FAMILY} fam"),  # a joiner between emoji stays
    (f"{HEART} love {KEYCAP}", f"{HEART} love {KEYCAP}", f"{HEART} love {KEYCAP}"),  # emoji selectors stay
    ("🇺🇸🇬🇧 flags", "🇺🇸🇬🇧 flags", "🇺🇸🇬🇧 flags"),
    ("a\u200db", "ab", "ab"),  # a joiner between letters goes
    ("a\ufe0fb", "ab", "ab"),  # so does a selector after a letter
    ("e\u0301cole", "\u00e9cole", "\u00e9cole"),  # composed
    ("Z\u0335\u0321\u0354\u0317a", "Z\u0335\u0321a", "Z\u0335\u0321a"),  # zalgo trimmed to two marks
    ("\U000e0041tag\U000e007f", "tag", "tag"),  # tag characters
    ("\ue000private\U000f0000", "private", "private"),  # private use
    ("\u3164\u3164", "", ""),  # invisible Hangul filler only
    ("Brand™ ½", "Brand™ ½", "BrandTM 1⁄2"),
]


@pytest.mark.parametrize(("raw", "nfc", "nfkc"), NASTY)
def test_the_policy_on_nasty_inputs(raw: str, nfc: str, nfkc: str) -> None:
    assert clean_untrusted(raw) == nfc
    assert clean_untrusted(raw, normalize="NFKC") == nfkc


@pytest.mark.parametrize(("raw", "nfc", "nfkc"), NASTY)
def test_a_second_pass_changes_nothing(raw: str, nfc: str, nfkc: str) -> None:
    assert clean_untrusted(nfc) == nfc
    assert clean_untrusted(nfkc) == nfkc  # NFKC text is NFC: chaining with the default is safe


def test_no_control_bidi_or_format_character_survives() -> None:
    out = clean_untrusted(f"a{C0_C1}b{BIDI}c\u2060\u2061\u2062\u2063\u2064\u206ad", None)
    assert out == "a bcd"
    for ch in out:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Zl", "Zp"), repr(ch)


def test_what_is_not_text_becomes_empty() -> None:
    for raw in (None, b"bytes", 5, ["a"]):
        assert clean_untrusted(raw) == ""


def test_the_cap_ends_at_a_word_with_an_ellipsis_by_default() -> None:
    out = clean_untrusted("word " * 100, 50)
    assert len(out) <= 50 and out.endswith("word…") and "wor…" not in out
    assert clean_untrusted("one, two, three; four", 12) == "one, two…"  # no dangling comma
    chinese = clean_untrusted("中文" * 300, 100)  # no spaces: cut at the cap
    assert len(chinese) == 100 and chinese.endswith("…")
    assert clean_untrusted("x" * 900, 500, ellipsis="", at_word=False) == "x" * 500


def test_the_cap_never_splits_a_grapheme() -> None:
    text = f"ab{FAMILY}q\u0301🇺🇸🇬🇧"
    whole = ["", "a", "ab", f"ab{FAMILY}", f"ab{FAMILY}q\u0301", f"ab{FAMILY}q\u0301🇺🇸", text]
    for n in range(len(text) + 1):
        out = clean_untrusted(text, n, ellipsis="", at_word=False)
        assert out in whole, (n, out)
        assert len(out) <= n
    assert grapheme_floor(text, 3) == 2  # inside the family: before it
    assert grapheme_floor(text, 8) == 7  # between q and its accent: before q
    assert grapheme_floor(text, 10) == 9  # between a flag's two letters: before the flag
    assert grapheme_floor(text, 100) == len(text)


# ---- the former sanitisers, now callers --------------------------------------------------------------------


def test_chat_triage_text_and_names_follow_the_policy_with_nfkc() -> None:
    assert clean_text("\u202eｆｒｅｅ pri\u200bce!!!!!!", 200) == "free price!!!"
    assert clean_text(f"{FAMILY} so cute", 200) == f"{FAMILY} so cute"
    assert clean_name("\u2066Ann\u2069\x00") == "Ann"
    name = clean_name(FAMILY * 10)
    assert len(name) <= NAME_MAX_CHARS and name == FAMILY * (len(name) // len(FAMILY))  # whole families only


def test_chat_triage_blocks_a_name_whatever_invisible_characters_it_hides_behind() -> None:
    t = ChatTriage(TriageSettings(global_per_min=1000))
    t.block("@Spammer")
    msg = ChatMessage(source="test", message_id="1", user="spa\u200bmmer\u202e", text="hello there", kind="comment")
    assert t.offer(msg, 1.0).reason == "blocked"


MUG = ProductSheet.model_validate(
    {"id": "mug", "name": "Camp Mug", "price": "12.50", "features": ["Enamel steel"], "stock": 5}
)
LAMP = ProductSheet.model_validate({"id": "lamp", "name": "Moon Night Light", "price": "34.50"})
PERSONA = Persona.model_validate({"name": "Joe", "language": "en"})


def test_the_llm_prompt_quotes_viewer_text_by_the_policy() -> None:
    question = f"\u2066is it\u2069 pri\u200bce? {FAMILY} 好的，谢谢！"
    user = build_messages(BrainRequest(persona=PERSONA, question=question, viewer="\u202eAnn", product=MUG))[1][
        "content"
    ]
    data = extract_viewer_data(user)
    assert data is not None
    # The isolates went (the old set kept them), the emoji kept its joiners and the Chinese its punctuation.
    assert data["viewer_message"] == {"text": f"is it price? {FAMILY} 好的，谢谢！", "viewer": "Ann"}
    assert "\u2066" not in user and "\u202e" not in user


def test_twitch_posts_are_one_line_never_a_command_and_keep_chinese_punctuation() -> None:
    assert sanitize_post("\u200b/ban someone\r\nplease") == "ban someone please"
    assert sanitize_post("\u2066.clear\u2069") == "clear"
    assert sanitize_post("谢谢，小明！欢迎来到直播间。") == "谢谢，小明！欢迎来到直播间。"
    post = sanitize_post(FAMILY * 200)
    assert len(post) <= 500 and post == FAMILY * (len(post) // len(FAMILY))
    assert "\r" not in sanitize_post("a\rb") and "\n" not in sanitize_post("a\nb")


def test_intents_match_the_words_hidden_characters_split_or_disguise() -> None:
    assert classify("pri\u200bce?").primary == "price"
    assert classify("ｈｏｗ ｍｕｃｈ?").primary == "price"
    assert classify("\u202ehow\u00ad much is it?").primary == "price"
    assert classify("\x00\x1b[31m??\u202e").primary == "other"
    assert named_products("is the camp m\u200bug enamel?", [MUG, LAMP]) == [MUG]


def test_the_offline_brain_reads_a_disguised_question_as_the_plain_one() -> None:
    brain = OfflineBrain(embedder=LexicalEmbedder())
    brain.prepare([MUG])

    def answer(question: str, viewer: str) -> list[str]:
        request = BrainRequest(
            persona=PERSONA, question=question, viewer=viewer, product=MUG, products=[MUG], rng=random.Random(7)
        )
        return brain.answer(request)

    plain = answer("how much is it?", "Ann")
    assert any("12" in s for s in plain)
    disguised = answer("\u202ehow\u200b much\x00is it?", "\u2066Ann\u2069")
    assert disguised == plain
    assert not any(ch in s for s in disguised for ch in BIDI)


def test_shop_html_follows_the_policy_without_folding_chinese_punctuation() -> None:
    html = "<p>Sturdy pri\u200bce \u202eteg</p><p>大家好，欢迎！</p><ul><li>Enamel\x07 steel</li></ul>"
    assert html_to_text(html) == "Sturdy price teg. 大家好，欢迎！ Enamel steel."
    assert html_to_text(f"<p>{FAMILY} family&nbsp;pack</p>") == f"{FAMILY} family pack"


def test_lone_surrogates_are_removed_so_every_encoder_takes_the_text() -> None:
    for raw in ("hi \ud800 there", "\udfff", "a\ud83db", "ok 😀 \udc00"):
        out = clean_untrusted(raw)
        out.encode("utf-8")  # would raise on a surrogate
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out), repr(out)
    assert clean_untrusted("hi \ud800 there") == "hi there"
    assert clean_untrusted("ok 😀 \udc00") == "ok 😀"
