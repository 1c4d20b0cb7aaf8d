"""The one word-list loader (:mod:`streamer.wordlists`) that the guards and chat triage share."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from streamer.brain.guards import GuardRulesError, SentenceGuard, load_guard_rules
from streamer.chat.triage import CHAT_RULE_FILES, ChatTriage, load_chat_rules
from streamer.config import GuardSettings, Persona, TriageSettings
from streamer.frames import ChatMessage
from streamer.wordlists import PhraseList, WordListError, load_word_lists, parse_rule_file

REPO = Path(__file__).resolve().parent.parent


def test_comments_blank_lines_and_a_bom_are_skipped_and_entries_keep_their_line() -> None:
    text = (
        "\ufeff# header\n\n  # indented comment\n#\nmiracle*  # trailing comment\n#1\r\n"
        "!the best part\nthe best => a great\n"
    )
    entries, topics = parse_rule_file(text, "absolute_en.txt")
    got = [(e.phrase, e.replacement, e.exception, e.line) for e in entries]
    assert got == [
        ("miracle*", None, False, 5),
        ("#1", None, False, 6),  # "#1" is an entry (an absolute claim), not a comment
        ("the best part", None, True, 7),
        ("the best", "a great", False, 8),
    ]
    assert topics == {}
    assert all(e.file == "absolute_en.txt" for e in entries)


def test_topics_collect_their_aliases_and_keywords() -> None:
    entries, topics = parse_rule_file("[politics | elections]\nvote for\n[politics]\nsenator\n", "banned_topics.txt")
    assert topics == {"politics": ("politics", "elections")}
    assert [(e.phrase, e.topic) for e in entries] == [("vote for", "politics"), ("senator", "politics")]


def test_a_file_that_is_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "profanity_zh.txt"
    path.write_bytes("# 脏话\nok\n".encode() + "脏话\n".encode("gbk"))
    with pytest.raises(WordListError) as info:
        load_word_lists([("guards", "profanity_zh.txt")], extra_dir=tmp_path)
    assert (info.value.file, info.value.line) == (str(path), 3)
    assert str(info.value).startswith(f"{path}:3: not UTF-8 text")


def test_a_bad_line_names_file_and_line_for_both_users(tmp_path: Path) -> None:
    (tmp_path / "spam.txt").write_text("# mine\nmy shop\nx\n", encoding="utf-8")
    with pytest.raises(WordListError, match=r"spam.txt:3: entry too short"):
        load_chat_rules(tmp_path)
    (tmp_path / "spam.txt").unlink()
    (tmp_path / "profanity_en.txt").write_text("darn => gosh\n", encoding="utf-8")
    for load in (load_chat_rules, load_guard_rules):
        with pytest.raises(WordListError, match=r"profanity_en.txt:1: rewrites"):
            load(tmp_path)


def test_extra_files_add_to_built_in_ones_and_unknown_names_are_errors(tmp_path: Path) -> None:
    (tmp_path / "spam.txt").write_text("my shop\n", encoding="utf-8")
    (tmp_path / "absolute_en.txt").write_text("miracle\n", encoding="utf-8")
    lists = load_word_lists([("chat", "spam.txt")], extra_dir=tmp_path, skip_extra={"absolute_en.txt"})
    assert set(lists.entries) == {"spam.txt"}
    mine = lists.entries["spam.txt"][-1]
    assert (mine.phrase, mine.file, mine.line) == ("my shop", str(tmp_path / "spam.txt"), 1)
    assert lists.entries["spam.txt"][0].file == "streamer/data/chat/spam.txt"
    with pytest.raises(WordListError, match=r"absolute_en.txt: unknown word list; known names: spam.txt"):
        load_word_lists([("chat", "spam.txt")], extra_dir=tmp_path)
    with pytest.raises(WordListError, match="extra_rules_dir is not a folder"):
        load_word_lists([("chat", "spam.txt")], extra_dir=tmp_path / "missing")


def test_the_guards_error_is_the_word_list_error() -> None:
    assert GuardRulesError is WordListError  # `except GuardRulesError` still catches every loader error


def test_guards_and_triage_read_the_same_profanity_entries() -> None:
    guard_lists = load_guard_rules().entries
    chat_lists = load_chat_rules()
    for name in ("profanity_en.txt", "profanity_zh.txt"):
        assert chat_lists[name] == guard_lists[name] and chat_lists[name]
    assert set(CHAT_RULE_FILES) <= set(chat_lists)


def test_an_operator_profanity_list_applies_to_the_host_and_to_the_chat(tmp_path: Path) -> None:
    (tmp_path / "profanity_en.txt").write_text("frobnicate*\n", encoding="utf-8")
    guard = SentenceGuard(settings=GuardSettings(extra_rules_dir=str(tmp_path)), persona=Persona(name="Joe"))
    assert guard.check("Let's frobnicate it.", product=None).text is None
    triage = ChatTriage(TriageSettings(extra_rules_dir=str(tmp_path), global_per_min=1000))
    d = triage.offer(ChatMessage(source="t", message_id="1", user="ann", text="we frobnicated it"), 1.0)
    assert (d.reason, d.detail) == ("profanity", "profanity_en.txt:1")


def test_phrase_lists_match_words_prefixes_and_respect_exceptions() -> None:
    entries, _ = parse_rule_file("miracle*\nthe best => a great\n!best friend\ncure\n", "absolute_en.txt")
    plist = PhraseList(entries)
    assert plist.find_drop("A MIRACLES happen") is not None
    assert plist.find_drop("secure it") is None  # whole words only
    assert plist.rewrite("The best bed.") == ("A great bed.", ["The best"], None)


def test_no_module_imports_private_names_of_another() -> None:
    """Shared helpers are public names of one module (the word-list loader once lived in the guards and triage
    imported its private names)."""
    bad = []
    for path in sorted((REPO / "streamer").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("streamer"):
                bad += [
                    f"{path.relative_to(REPO)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name[0] == "_" and not a.name.endswith("__")
                ]
    assert not bad, bad
