"""The persona file on disk is watched like the product sheets: a valid edit goes live once, an invalid one is logged
with file:line and the persona in use stays, the dashboard's own saves are not applied twice, and a vanished or
half-written file is tolerated."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from streamer.app import Channel, ChannelSpec
from streamer.clock import FakeClock
from streamer.config import Persona, StreamConfig
from streamer.dashboard.editor import ConfigFiles
from streamer.loading import ConfigProblem, load_persona
from streamer.persona_watch import PersonaFileWatch, PollOutcome
from streamer.publish.sinks import parse_target

from .conftest import REPO

GREETING = "Hi everyone, it's Joe, welcome in!"


class FakeShow:
    """The show's side of the watch: validates exactly as the dashboard does (ConfigFiles.check) and records what
    it applied."""

    def __init__(self, files: ConfigFiles) -> None:
        self.files = files
        self.persona, _ = load_persona(files.persona_path or "")
        self.applied: list[Persona] = []
        self.reports: list[tuple[bool, str]] = []
        self.fail = False

    async def apply(self, text: str) -> tuple[bool, Sequence[ConfigProblem]]:
        if self.fail:
            raise RuntimeError("boom")
        result = self.files.check("persona", text)
        if not result.ok or result.persona is None:
            return False, result.problems
        self.persona = result.persona
        self.applied.append(result.persona)
        return True, result.problems

    def report(self, ok: bool, message: str) -> None:
        self.reports.append((ok, message))


@pytest.fixture
def persona_file(tmp_path: Path) -> Path:
    path = tmp_path / "host.yaml"
    shutil.copy(REPO / "personas/host.yaml", path)
    return path


def _write(path: Path, content: str | bytes, *, mtime_ns: int | None = None) -> None:
    """Write like an editor would, and move the mtime on by a whole second (a test writes faster than the
    file system's mtime tick), or set it to ``mtime_ns``."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    mtime_ns = before + 1_000_000_000 if mtime_ns is None else mtime_ns
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _unlink(path: Path) -> None:
    path.unlink()


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _watch(path: Path, show: FakeShow, clock: FakeClock | None = None) -> PersonaFileWatch:
    return PersonaFileWatch(path=path, refresh_s=10.0, clock=clock or FakeClock(), apply=show.apply, report=show.report)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_valid_edit_on_disk_is_applied_once(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)

    edited = persona_file.read_text().replace(GREETING, "Good evening, friends, Joe here!")

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        _write(persona_file, edited)
        for _ in range(4):
            outcomes.append(await watch.poll_once())
        return outcomes

    outcomes = asyncio.run(main())
    assert outcomes == [PollOutcome.UNCHANGED, PollOutcome.APPLIED, *[PollOutcome.UNCHANGED] * 3]
    assert len(show.applied) == 1
    assert show.persona.style.greetings[0] == "Good evening, friends, Joe here! Grab a drink and get comfy."
    assert show.reports == [(True, "edit on disk applied")]


def test_the_file_as_the_show_started_with_it_is_never_applied(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)
    _write(persona_file, persona_file.read_text())  # touched, not changed

    async def main() -> list[PollOutcome]:
        return [await watch.poll_once() for _ in range(3)]

    assert asyncio.run(main()) == [PollOutcome.UNCHANGED] * 3
    assert show.applied == [] and show.reports == []


def test_an_edit_made_before_the_first_poll_is_applied(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)
    _write(persona_file, persona_file.read_text().replace("name: Joe", "name: Early"))
    assert asyncio.run(watch.poll_once()) == PollOutcome.APPLIED
    assert show.persona.name == "Early"


def test_a_file_missing_when_the_watch_is_made_is_taken_as_it_is_when_it_appears(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    text = persona_file.read_text()
    _unlink(persona_file)
    watch = _watch(persona_file, show)

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        _write(persona_file, text)
        outcomes += [await watch.poll_once(), await watch.poll_once()]
        return outcomes

    assert asyncio.run(main()) == [PollOutcome.MISSING, PollOutcome.BASELINE, PollOutcome.UNCHANGED]
    assert show.applied == []


def test_an_invalid_edit_is_logged_with_file_line_and_field_once_and_the_persona_stays(
    persona_file: Path, caplog: pytest.LogCaptureFixture
):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)
    original = persona_file.read_text()
    bad = original.replace("speed: 1.05", "speed: fast").replace("name: Joe", "name: Broken")
    line = _line_of(bad, "speed: fast")

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        _write(persona_file, bad)
        outcomes += [await watch.poll_once() for _ in range(3)]
        return outcomes

    with caplog.at_level(logging.WARNING, logger="streamer.persona_watch"):
        outcomes = asyncio.run(main())
    assert outcomes == [PollOutcome.UNCHANGED, PollOutcome.REJECTED, PollOutcome.UNCHANGED, PollOutcome.UNCHANGED]
    assert show.applied == [] and show.persona.name == "Joe"
    where = f"{persona_file}:{line}: voice.speed: "
    problem_logs = [r for r in caplog.records if r.getMessage().startswith(where)]
    assert len(problem_logs) == 1 and problem_logs[0].levelno == logging.WARNING  # logged once, not every poll
    [(ok, message)] = show.reports
    assert not ok and message.startswith(f"edit on disk not applied: {where}")
    assert watch.rejected_count == 1

    # A later valid edit applies.
    fixed = original.replace("name: Joe", "name: Fixed")
    _write(persona_file, fixed)
    assert asyncio.run(watch.poll_once()) == PollOutcome.APPLIED
    assert show.persona.name == "Fixed"


def test_going_back_to_the_persona_in_use_applies_nothing(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)
    original = persona_file.read_text()

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        _write(persona_file, original.replace("speed: 1.05", "speed: fast"))
        outcomes.append(await watch.poll_once())
        _write(persona_file, original)  # the operator undoes the mistake
        outcomes.append(await watch.poll_once())
        return outcomes

    assert asyncio.run(main()) == [PollOutcome.UNCHANGED, PollOutcome.REJECTED, PollOutcome.UNCHANGED]
    assert show.applied == []


def test_content_the_dashboard_saved_is_not_applied_again(persona_file: Path):
    files = ConfigFiles(persona_path=persona_file, products_source="products")
    show = FakeShow(files)
    lock = asyncio.Lock()
    watch = PersonaFileWatch(
        path=persona_file, refresh_s=10.0, clock=FakeClock(), apply=show.apply, report=show.report, lock=lock
    )
    original = persona_file.read_text()

    async def dashboard_apply(text: str) -> None:
        # What ConfigEditor._apply does under its lock: save, remember, apply.
        result = files.check("persona", text)
        files.save(result, text)
        watch.mark_applied(text)

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        async with lock:
            await dashboard_apply(original.replace("name: Joe", "name: Dash"))
        outcomes += [await watch.poll_once(), await watch.poll_once()]
        # The race: the watch reads the dashboard's file before the dashboard marks it, then waits for the lock.
        async with lock:
            text = original.replace("name: Joe", "name: Race")
            result = files.check("persona", text)
            files.save(result, text)
            poll = asyncio.create_task(watch.poll_once())
            await asyncio.sleep(0.3)  # the watch reads the file and waits for the lock
            watch.mark_applied(text)
        outcomes.append(await poll)
        return outcomes

    outcomes = asyncio.run(main())
    assert outcomes[:3] == [PollOutcome.UNCHANGED, PollOutcome.UNCHANGED, PollOutcome.UNCHANGED]
    # ALREADY_APPLIED when the read came first (the usual case), UNCHANGED when the thread was slow: never applied.
    assert outcomes[3] in (PollOutcome.ALREADY_APPLIED, PollOutcome.UNCHANGED)
    assert show.applied == [] and show.reports == []


def test_a_vanished_file_is_logged_once_and_its_return_applies(persona_file: Path, caplog: pytest.LogCaptureFixture):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)
    text = persona_file.read_text()

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        _unlink(persona_file)
        outcomes += [await watch.poll_once() for _ in range(3)]
        _write(persona_file, text.replace("name: Joe", "name: Back"))
        outcomes.append(await watch.poll_once())
        return outcomes

    with caplog.at_level(logging.INFO, logger="streamer.persona_watch"):
        outcomes = asyncio.run(main())
    assert outcomes == [PollOutcome.UNCHANGED, *[PollOutcome.MISSING] * 3, PollOutcome.APPLIED]
    missing = [r for r in caplog.records if "missing" in r.getMessage()]
    assert len(missing) == 1 and missing[0].levelno == logging.WARNING
    assert any("can be read again" in r.getMessage() for r in caplog.records)
    assert show.persona.name == "Back"


def test_a_file_changing_while_it_is_read_is_read_again_on_the_next_poll(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)
    text = persona_file.read_text()
    half, rest = text[: len(text) // 2], text[len(text) // 2 :]
    real_read = watch._read_bytes

    def read_while_the_editor_writes() -> tuple[bytes | None, str]:
        read = real_read()
        _write(persona_file, half.replace("name: Joe", "name: Later") + rest)  # the editor finishes its save
        return read

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        _write(persona_file, half.replace("name: Joe", "name: Later"))  # half-written
        watch._read_bytes = read_while_the_editor_writes  # type: ignore[method-assign]
        outcomes.append(await watch.poll_once())
        watch._read_bytes = real_read  # type: ignore[method-assign]
        outcomes.append(await watch.poll_once())
        return outcomes

    assert asyncio.run(main()) == [PollOutcome.UNCHANGED, PollOutcome.WRITING, PollOutcome.APPLIED]
    assert [p.name for p in show.applied] == ["Later"]
    assert show.reports == [(True, "edit on disk applied")]  # the half file was never reported


def test_a_rewrite_within_the_same_mtime_tick_is_caught_by_the_confirming_read(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)
    text = persona_file.read_text()
    st = persona_file.stat()

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        _write(persona_file, text.replace("name: Joe", "name: Ann"), mtime_ns=st.st_mtime_ns)  # same size and mtime
        outcomes.append(await watch.poll_once())
        outcomes.append(await watch.poll_once())
        return outcomes

    assert asyncio.run(main()) == [PollOutcome.UNCHANGED, PollOutcome.APPLIED, PollOutcome.UNCHANGED]
    assert show.persona.name == "Ann"


def test_a_file_that_is_not_utf8_is_rejected_with_its_line(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    watch = _watch(persona_file, show)

    async def main() -> list[PollOutcome]:
        outcomes = [await watch.poll_once()]
        _write(persona_file, b"name: Jo\xe9\n")
        outcomes.append(await watch.poll_once())
        return outcomes

    assert asyncio.run(main()) == [PollOutcome.UNCHANGED, PollOutcome.REJECTED]
    [(ok, message)] = show.reports
    assert not ok and f"{persona_file}:1: file is not UTF-8 text" in message
    assert show.applied == []


def test_run_polls_on_the_injected_clock_and_survives_a_failing_apply(persona_file: Path):
    show = FakeShow(ConfigFiles(persona_path=persona_file, products_source="products"))
    clock = FakeClock()
    watch = _watch(persona_file, show, clock)
    text = persona_file.read_text()

    async def until(cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 5
        while not cond():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.005)

    async def main() -> None:
        task = asyncio.create_task(watch.run())
        await until(lambda: watch.polls == 1 and clock.pending_sleepers == 1, "first poll")
        show.fail = True
        _write(persona_file, text.replace("name: Joe", "name: Crash"))
        clock.advance(9.9)
        await asyncio.sleep(0.05)
        assert watch.polls == 1  # not yet: polls are refresh_s apart on the show's clock
        clock.advance(0.1)
        await until(lambda: watch.polls == 2 and clock.pending_sleepers == 1, "second poll")
        assert show.reports == [(False, "edit on disk not applied: internal error (see the log)")]
        show.fail = False
        _write(persona_file, text.replace("name: Joe", "name: Calm"))
        clock.advance(10.0)
        await until(lambda: watch.polls == 3 and clock.pending_sleepers == 1, "third poll")
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [p.name for p in show.applied] == ["Calm"]


# ---- the wired show ------------------------------------------------------------------------------------------------

PERSONA_YAML = """\
name: Quiet
voice:
  backend: silence
style:
  greetings:
    - Quiet here, hello.
patter:
  sections: [hook]
  pause_between_sentences_ms: 0
"""


@pytest.mark.integration
def test_an_edit_of_the_persona_file_on_disk_changes_the_greeting_that_is_heard(tmp_path: Path):
    products = tmp_path / "products"
    products.mkdir()
    shutil.copy(REPO / "products/coffee-beans.yaml", products)
    persona_path = tmp_path / "persona.yaml"
    persona_path.write_text(PERSONA_YAML)
    persona, _ = load_persona(persona_path)
    config = StreamConfig.model_validate(
        {
            "video": {"width": 426, "height": 240},
            "preview": {"enabled": False},
            "show": {"products_refresh_s": 1.0, "seed": 3},
        }
    )
    show = Channel(
        ChannelSpec(
            config=config,
            persona=persona,
            products=str(products),
            outputs=[parse_target(str(tmp_path / "out.flv"))],
            duration_s=25,
            persona_path=persona_path,
        )
    )
    watch = show.editor.watch
    assert watch is not None
    bad = PERSONA_YAML.replace("name: Quiet", "name: Broken").replace("silence", "silence\n  speed: x")
    good = PERSONA_YAML.replace("name: Quiet", "name: Nova").replace("Quiet here, hello.", "Nova is on, hello all.")
    dashboard = good.replace("name: Nova", "name: Dash")

    async def until(cond: Callable[[], bool], what: str, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while not cond():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)

    async def main() -> int:
        task = asyncio.create_task(show.run())
        await until(lambda: watch.polls >= 1 and show.media is not None, "the watch starts with the show", 6)
        assert show.media is not None
        _write(persona_path, bad)
        await until(lambda: watch.rejected_count == 1, "the bad edit is seen", 5)
        frames = show.media.frames
        await asyncio.sleep(0.5)
        assert show.media.frames > frames  # pictures keep flowing
        assert show.persona.name == "Quiet"
        _write(persona_path, good)
        await until(lambda: show.persona.name == "Nova", "the good edit is applied", 5)
        await until(lambda: any("Nova is on" in h.text for h in show.spoken), "the new greeting is heard", 18)
        assert _text(persona_path) == good  # the watch never writes the operator's file
        # The dashboard's Apply writes the file; the watch sees that content and does not apply it again.
        result, applied = await show.editor.apply_config_file("persona", dashboard)
        assert applied, result.problems
        polls = watch.polls
        await until(lambda: watch.polls >= polls + 2, "the watch polls the dashboard's file", 5)
        assert show.persona.name == "Dash" and watch.applied_count == 1
        show.request_stop()
        return await task

    assert asyncio.run(main()) == 0
    assert persona_path.read_text() == dashboard
    configs = [e.data for e in show.events.recent("config")]
    assert configs[0]["ok"] is False and "voice.speed" in configs[0]["message"] and configs[0]["file"] == "persona"
    assert configs[1] == {
        "file": "persona",
        "kind": "persona",
        "ok": True,
        "message": "edit on disk applied",
        "source": "disk",
    }
    assert configs[2]["message"] == "applied" and len(configs) == 3  # the dashboard's own, once
    assert watch.applied_count == 1
    assert show.speaker.persona.name == "Dash"
