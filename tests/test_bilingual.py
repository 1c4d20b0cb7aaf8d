"""A bilingual host: ``voices:`` names a voice per other language; a comment written in one of them is answered in
that language, in that voice, and patter stays in the persona's own."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from streamer.bench.virtual_show import ScriptedVoice, run_virtual_show
from streamer.config import Persona, SilenceVoiceSettings
from streamer.lang import written_script
from streamer.loading import ConfigError, load_persona
from streamer.voice.base import Speech
from tests.test_on_air_speech import CATALOG

REPO = Path(__file__).resolve().parent.parent
HAN = re.compile(r"[\u3400-\u9fff]")


class RecordingVoice(ScriptedVoice):
    """A scripted voice that keeps what it was asked to say."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.said: list[str] = []

    def synthesize(self, text: str, *, urgent: bool = False) -> Speech:
        self.said.append(text)
        return super().synthesize(text, urgent=urgent)


def _persona(**voices: dict[str, object]) -> Persona:
    return Persona.model_validate({"name": "Joe", "language": "en", "voices": voices or {"zh": {"backend": "silence"}}})


def test_a_comment_is_answered_in_the_language_it_is_written_in_when_the_persona_has_a_voice_for_it():
    en = _persona()
    assert en.reply_language("这个猫窝多少钱？") == "zh"
    assert en.reply_language("how much is the 猫窝?") == "zh"  # any Chinese character: a Chinese reader
    assert en.reply_language("How much is it?") is None  # the persona's own language
    assert en.reply_language("666 ❤️❤️") is None  # no letters: the persona's own
    assert en.reply_language("Сколько стоит?") is None  # no Russian voice
    zh = Persona.model_validate({"name": "Mei", "language": "zh", "voices": {"en": {"backend": "silence"}}})
    assert zh.reply_language("Does it ship to Canada?") == "en" and zh.reply_language("包邮吗") is None
    assert written_script("こんにちは、いくらですか") == "kana" and written_script("얼마예요") == "hangul"
    speaking = en.for_language("zh")
    assert speaking.language == "zh" and isinstance(speaking.voice, SilenceVoiceSettings)
    assert speaking.ai_label != en.ai_label and speaking.voices == {}
    assert en.for_language(None) is en and en.for_language("de") is en


def test_voices_must_be_other_languages_a_comment_can_tell_apart(tmp_path):
    with pytest.raises(ValueError, match="written like the persona's language"):
        _persona(**{"en-GB": {"backend": "silence"}})
    with pytest.raises(ValueError, match="de and fr are written alike"):
        Persona.model_validate(
            {"name": "Mei", "language": "zh", "voices": {"de": {"backend": "silence"}, "fr": {"backend": "silence"}}}
        )
    with pytest.raises(ValueError, match="not a language code"):
        _persona(Chinese={"backend": "silence"})
    path = tmp_path / "host.yaml"
    path.write_text(
        "name: Joe\nlanguage: en\nvoices:\n  zh:\n    backend: piper\n    voice: voices/zh_CN-huayan-medium.onnx\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_persona(path)
    [problem] = err.value.problems
    assert (problem.field, problem.line) == ("voices.zh.voice", 6)
    assert "zh_CN" in problem.hint  # what a Chinese voice is and where it goes


def test_a_chinese_comment_gets_a_chinese_answer_in_the_chinese_voice_and_patter_stays_english():
    english, chinese = RecordingVoice("joe"), RecordingVoice("mei")
    persona = _persona()
    script = [(20.0, "小明", "这个猫窝多少钱？"), (40.0, "Leo", "How much is the cat bed?")]
    report = asyncio.run(
        run_virtual_show(
            persona=persona,
            products=CATALOG,
            minutes=1.0,
            chat_per_min=0,
            script=script,
            voice=english,
            voices={"zh": chinese},
        )
    )
    replies = [h for h in report.transcript if h.kind in ("reply", "reply_more")]
    chinese_replies = [h.text for h in replies if HAN.search(h.text)]
    print("\n" + "\n".join(f"{h.start_s:6.1f} {h.kind:10} {h.text}" for h in replies))
    assert chinese_replies and all("小明" in t or "$" in t or "39" in t for t in chinese_replies[:1])
    assert any("39" in t for t in chinese_replies)  # the sheet's price, in Chinese
    assert chinese.said and all(HAN.search(t) for t in chinese.said)
    assert not any(HAN.search(t) for t in english.said)  # patter and the English answer: the English voice
    assert any("Leo" in h.text and "39" in h.text for h in replies)
    patter = [h.text for h in report.transcript if h.kind == "patter"]
    assert patter and not any(HAN.search(t) for t in patter)


def test_without_its_voice_loaded_a_chinese_comment_is_answered_in_the_persona_s_language():
    english = RecordingVoice("joe")
    report = asyncio.run(
        run_virtual_show(
            persona=_persona(),
            products=CATALOG,
            minutes=0.5,
            chat_per_min=0,
            script=[(10.0, "小明", "这个猫窝多少钱？")],
            voice=english,
            voices={},
        )
    )
    replies = [h.text for h in report.transcript if h.kind in ("reply", "reply_more")]
    assert replies and not any(HAN.search(t.replace("小明", "")) for t in replies)


def test_an_answer_in_another_language_is_guarded_in_that_language_with_one_tally():
    from streamer.brain.embed import LexicalEmbedder
    from streamer.brain.factory import BrainKit
    from streamer.brain.guards import SentenceGuard
    from streamer.brain.offline import OfflineBrain
    from streamer.config import GuardSettings

    persona = _persona()
    offline = OfflineBrain(embedder=LexicalEmbedder())
    guard = SentenceGuard(settings=GuardSettings(), persona=persona)
    kit = BrainKit(brain=offline, offline=offline, guard=guard)
    zh_guard = kit._guard_for(persona.for_language("zh"))
    assert zh_guard is not guard and zh_guard is kit._guard_for(persona.for_language("zh"))
    assert HAN.search(zh_guard.disclosure) and not HAN.search(guard.disclosure)
    assert zh_guard.counts is guard.counts
    assert kit._guard_for(persona) is guard
