"""Config edits on a running channel: the dashboard's editor (list, read, check, apply) and the operator's own
editor (a saved persona file, found by :class:`~streamer.persona_watch.PersonaFileWatch`).

An edit is validated exactly as the show would load it; everything that can fail (the guard's word lists, a new
look's files) is built before the file is written or the channel touched, so a bad edit changes nothing: not the
file, not what is on air. A good one goes live through :meth:`streamer.app.Channel.apply_persona` (persona) or a
catalog reload (product sheets).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamer.brain.guards import GuardRulesError, SentenceGuard
from streamer.dashboard.editor import CheckResult, ConfigFiles
from streamer.loading import ConfigProblem, line_of
from streamer.persona_watch import PersonaFileWatch
from streamer.scene import Looks

if TYPE_CHECKING:
    from streamer.app import Channel

log = logging.getLogger(__name__)


class ConfigEditor:
    """The channel's editable files (its persona, its product sheets) and their validated hot reload."""

    def __init__(self, channel: Channel, *, persona_path: str | Path | None, products_source: str) -> None:
        self.channel = channel
        self.files = ConfigFiles(persona_path=persona_path, products_source=products_source)
        self.lock = asyncio.Lock()
        """Held around every apply: a dashboard save and a file-watch reload never interleave."""
        self._avatar_verdict: tuple[Any, list[ConfigProblem]] | None = None
        """The last look Check built (an avatar style and its files' stamps) and what was wrong with it."""
        self.watch: PersonaFileWatch | None = None
        if persona_path is not None:  # the operator's own editor: a saved edit goes live like a dashboard Apply
            self.watch = PersonaFileWatch(
                path=persona_path,
                refresh_s=channel.config.show.products_refresh_s,
                clock=channel.clock,
                apply=self._apply_persona_from_disk,
                report=self._report_persona_file,
                lock=self.lock,
            )

    def config_files(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.files.files()]

    def read_config_file(self, file_id: str) -> str:
        return self.files.read(file_id)

    def check_config_file(self, file_id: str, text: str) -> CheckResult:
        f = self.files.get(file_id)
        others = None
        if f.kind == "product":
            by_file: dict[str, list[Any]] = {}
            for loaded in self.channel.catalog.loaded:
                if Path(loaded.file).name != f.name:
                    by_file.setdefault(loaded.file, []).append(loaded)
            others = list(by_file.values())
        result = self.files.check(file_id, text, others=others)
        if result.ok and result.persona is not None and result.persona.avatar != self.channel.persona.avatar:
            # A new look is checked as Apply would build it: the portrait through the face models (about a
            # second), the clip's prepared folder, the lip-sync model's shapes. Check runs as the operator types:
            # the verdict for a look is kept, and only its line numbers are found again in the new text.
            from streamer.avatar.check import persona_avatar_problems

            avatar = result.persona.avatar
            key = (avatar.model_copy(deep=True), files_stamp(avatar))  # a file replaced under the same name counts
            cached = self._avatar_verdict
            if cached is not None and cached[0] == key:
                problems = [
                    dataclasses.replace(p, line=line_of(f.path, tuple(p.field.split(".")), text=text))
                    for p in cached[1]
                ]
            else:
                problems = persona_avatar_problems(f.path, result.persona, text=text)
                self._avatar_verdict = (key, problems)
            result.problems += problems
            if not result.ok:
                result.persona = None
        return result

    async def apply_config_file(self, file_id: str, text: str) -> tuple[CheckResult, bool]:
        """Validate, and only if there is no error: save the file and hot-reload it into the show. A bad edit
        changes nothing: not the file, not the show."""
        async with self.lock:
            return await self._apply(file_id, text)

    async def _apply(self, file_id: str, text: str, *, from_disk: bool = False) -> tuple[CheckResult, bool]:
        # from_disk: ``text`` is already the file's content (the persona watch read it): nothing is written, and
        # the watch reports the outcome itself.
        # Parsing, file reads and the guard's regexes run off the event loop (the show's timers live on it).
        ch = self.channel
        result = await asyncio.to_thread(self.check_config_file, file_id, text)
        guard: SentenceGuard | None = None
        looks: Looks | None = None
        if result.ok and result.persona is not None:
            persona = result.persona
            try:  # everything that can fail is built before the file is written or the show touched
                guard = await asyncio.to_thread(ch.guard_for, persona)
            except GuardRulesError as exc:
                result.problems.append(
                    ConfigProblem(
                        str(result.file.path),
                        None,
                        "banned_topics",
                        f"the guard word lists cannot be read: {exc}",
                        "fix that file, then apply again",
                    )
                )
            if ch.scene is not None and ch.scene.looks_change(persona):
                try:
                    looks = await asyncio.to_thread(ch.scene.build_looks, persona)
                except Exception as exc:  # a look that cannot be drawn (a font missing...) must not reach the show
                    log.warning("the new persona's look cannot be drawn: %s", exc)
                    from streamer.avatar.portrait import AvatarFileError

                    where = exc.field if isinstance(exc, AvatarFileError) else "avatar"
                    line = line_of(result.file.path, tuple(where.split(".")), text=text)
                    result.problems.append(
                        ConfigProblem(str(result.file.path), line, where, f"the new look cannot be drawn: {exc}")
                    )
        if not result.ok:
            if from_disk:
                return result, False
            ch.events.add(
                "config",
                ch.clock.now(),
                file=file_id,
                kind=result.file.kind,
                ok=False,
                message=f"not applied: {sum(p.is_error for p in result.problems)} error(s)",
            )
            return result, False
        if not from_disk:
            await asyncio.to_thread(self.files.save, result, text)
        if result.persona is not None:
            if self.watch is not None:
                self.watch.mark_applied(text)  # the watch must not apply this content a second time
            ch.apply_persona(result.persona, guard=guard, looks=looks)
        else:
            await ch.reload_catalog()
        if not from_disk:
            ch.events.add("config", ch.clock.now(), file=file_id, kind=result.file.kind, ok=True, message="applied")
        return result, True

    async def _apply_persona_from_disk(self, text: str) -> tuple[bool, list[ConfigProblem]]:
        """The persona watch found ``text`` in the persona file: validate and apply it exactly as the dashboard's
        Apply does, without writing the file. The watch holds the lock around this call."""
        result, applied = await self._apply("persona", text, from_disk=True)
        return applied, result.problems

    def _report_persona_file(self, ok: bool, message: str) -> None:
        self.channel.events.add(
            "config", self.channel.clock.now(), file="persona", kind="persona", ok=ok, message=message, source="disk"
        )


def files_stamp(avatar: Any) -> tuple[tuple[str, float, int] | None, ...]:
    """(path, mtime, size) of each file a look reads (portrait, clip, background, lip-sync model): a Check of the
    same look is reused only while none of them changed."""
    stamps: list[tuple[str, float, int] | None] = []
    for value in (avatar.image, avatar.clip, avatar.background, avatar.lipsync.model):
        try:
            st = Path(value).stat() if value and not str(value).startswith("#") else None
        except OSError:
            st = None
        stamps.append((str(value), st.st_mtime, st.st_size) if st is not None else None)
    return tuple(stamps)
