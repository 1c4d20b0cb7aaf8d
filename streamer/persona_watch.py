"""The persona file on disk, watched like the product sheets: an operator's edit in their own editor goes live.

:class:`PersonaFileWatch` polls the file every ``refresh_s`` on the show's clock. A poll looks at the file's
``(mtime_ns, size)`` first and reads it only when that changed (plus one confirming read on the next poll, for a
rewrite within the same mtime tick); the content's SHA-256 decides whether anything really changed. New content goes
to ``apply``, the show's own validate-and-apply path (the one the dashboard's Apply uses, without writing the file
back), so a disk edit behaves exactly like a dashboard edit.

Rules:

* the file's content when the watch is made (or, if it cannot be read then, at the first poll that reads it) is
  the persona the show started with: it is never applied again;
* a valid edit is applied once; an invalid one is logged at WARNING, one ``file:line: field: message`` per problem,
  reported once through ``report`` (the dashboard shows it), and the persona in use stays. The same bad content is
  never reported again; the next different content is tried;
* content the show applied itself (the dashboard saved it: :meth:`mark_applied`) is not applied a second time;
  ``lock`` (the show's config lock) makes the check and the apply one step against a dashboard save;
* a missing, unreadable or half-written file (an editor saving) keeps the persona in use and is re-read on the next
  poll; a missing or unreadable file is logged once until it is back;
* never raises out of :meth:`run` for a file problem or a failing ``apply`` (a dead show task stops the show).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from streamer.clock import Clock
from streamer.dashboard.editor import MAX_EDIT_BYTES
from streamer.loading import ConfigProblem, decode_text, errors_in

log = logging.getLogger(__name__)

ApplyPersonaText = Callable[[str], Awaitable[tuple[bool, Sequence[ConfigProblem]]]]
"""``apply(text) -> (applied, problems)``: validate ``text`` as the persona file's content and, only when it has
no error, apply it to the show. Never writes the file."""

ReportOutcome = Callable[[bool, str], None]
"""``report(ok, message)``: tell the operators (a ``config`` event on the dashboard)."""


class PollOutcome(StrEnum):
    """What one poll did (for tests and logs)."""

    BASELINE = "baseline"
    """First read (the file could not be read when the watch was made): the content the show started with."""
    UNCHANGED = "unchanged"
    MISSING = "missing"
    """The file is gone or cannot be read; the persona in use stays."""
    WRITING = "writing"
    """The file changed while it was read (an editor saving): read again on the next poll."""
    APPLIED = "applied"
    REJECTED = "rejected"
    """The new content has errors; the persona in use stays."""
    ALREADY_APPLIED = "already-applied"
    """The new content is what the show applied itself (a dashboard save)."""
    FAILED = "failed"
    """``apply`` raised (a bug): logged, the persona in use stays."""


@dataclass(slots=True, frozen=True)
class _Snapshot:
    signature: tuple[int, int] | None
    """(mtime_ns, size); None when the file cannot be stat'ed."""
    raw: bytes | None = None
    error: str = ""


def content_digest(data: bytes | str) -> str:
    """The SHA-256 of the file's bytes (text is encoded as the dashboard writes it: UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


class PersonaFileWatch:
    """Polls one persona file and applies its valid edits (see the module docstring for the rules).

    ``path``: the persona file. ``refresh_s``: seconds between polls, start to start. ``clock``: the show's clock
    (its ``sleep`` paces :meth:`run`). ``apply``/``report``: see :data:`ApplyPersonaText` and :data:`ReportOutcome`.
    ``lock``: held around the already-applied check and ``apply`` (pass the lock the dashboard's saves hold).
    Reads the file once, here (a few kB): its content now is taken as the persona the show runs with.
    """

    def __init__(
        self,
        *,
        path: str | Path,
        refresh_s: float,
        clock: Clock,
        apply: ApplyPersonaText,
        report: ReportOutcome | None = None,
        lock: asyncio.Lock | None = None,
    ) -> None:
        if refresh_s <= 0:
            raise ValueError(f"refresh_s must be positive, not {refresh_s}")
        self.path = Path(path)
        self.refresh_s = float(refresh_s)
        self._clock = clock
        self._apply = apply
        self._report = report
        self._lock = lock or asyncio.Lock()
        self._signature: tuple[int, int] | None = None
        self._confirmed = False
        """The content at ``_signature`` was read on two polls (no same-tick rewrite missed)."""
        self._seen: str | None = None
        """Digest of the last content considered (applied, rejected or the baseline)."""
        self._applied: str | None = None
        """Digest of the content the show runs with."""
        self._unreadable_logged = False
        self.polls = 0
        self.applied_count = 0
        self.rejected_count = 0
        # The show was just made from this file: what it holds now is the persona in use (a poll that came later
        # would take an edit made meanwhile for the starting persona and never apply it).
        raw, _ = self._read_bytes()
        if raw is not None:
            self._seen = self._applied = content_digest(raw)

    # ---- the show's side ---------------------------------------------------------------------------------------

    def mark_applied(self, text: str) -> None:
        """The show applied ``text`` as the persona file's content itself (the dashboard saved it): a poll that
        finds exactly this content does not apply it again. Call it while holding ``lock``."""
        digest = content_digest(text)
        self._applied = digest
        self._seen = digest

    # ---- polling -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll now and then every ``refresh_s`` until cancelled. Never raises for a file problem or a bug in
        ``apply`` (logged); re-raises cancellation."""
        while True:
            started = self._clock.now()
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the show: the persona in use stays
                log.exception("watching the persona file %s failed; trying again in %.0f s", self.path, self.refresh_s)
            await self._clock.sleep(max(0.0, started + self.refresh_s - self._clock.now()))

    async def poll_once(self) -> PollOutcome:
        """Look at the file once and act on what changed."""
        self.polls += 1
        signature = await asyncio.to_thread(self._stat)
        if signature is None:
            return self._unreadable(f"{self.path}: the persona file is missing")
        if signature == self._signature and self._confirmed:
            return PollOutcome.UNCHANGED
        snap = await asyncio.to_thread(self._read)
        if snap.raw is None:
            return self._unreadable(snap.error)
        if snap.signature != signature:
            # Changed while we read it: an editor is saving. The next poll reads the finished file.
            log.debug("persona file %s changed while being read; reading it again on the next poll", self.path)
            return PollOutcome.WRITING
        self._confirmed = signature == self._signature
        self._signature = signature
        if self._unreadable_logged:
            self._unreadable_logged = False
            log.info("the persona file %s can be read again", self.path)
        digest = content_digest(snap.raw)
        if self._applied is None and self._seen is None:
            self._seen = self._applied = digest
            return PollOutcome.BASELINE
        if digest == self._seen:
            return PollOutcome.UNCHANGED
        self._seen = digest
        if digest == self._applied:
            log.info("the persona file %s is back to the persona in use", self.path)
            return PollOutcome.UNCHANGED
        text, unreadable = self._decode(snap.raw)
        if text is None:
            return self._rejected(unreadable)
        async with self._lock:
            if digest == self._applied:  # the dashboard saved this very content while we were reading it
                return PollOutcome.ALREADY_APPLIED
            try:
                applied, problems = await self._apply(text)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("applying the edited persona file %s failed; the persona in use stays", self.path)
                self._say(False, "edit on disk not applied: internal error (see the log)")
                return PollOutcome.FAILED
            if not applied:
                return self._rejected(problems)
            self._applied = self._seen = digest
        self.applied_count += 1
        for p in problems:
            log.warning("%s", p)
        log.info("the persona file %s changed on disk: applied", self.path)
        self._say(True, "edit on disk applied")
        return PollOutcome.APPLIED

    # ---- helpers -----------------------------------------------------------------------------------------------

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _read(self) -> _Snapshot:
        """Read at most one byte more than an edit may have, then stat again: a signature that moved meanwhile
        means the file was being written while we read it."""
        raw, error = self._read_bytes()
        return _Snapshot(self._stat(), raw, error)

    def _read_bytes(self) -> tuple[bytes | None, str]:
        try:
            with self.path.open("rb") as f:
                return f.read(MAX_EDIT_BYTES + 1), ""
        except OSError as exc:
            return None, f"{self.path}: the persona file cannot be read ({exc.strerror or exc})"

    def _decode(self, raw: bytes) -> tuple[str | None, list[ConfigProblem]]:
        if len(raw) > MAX_EDIT_BYTES:
            problem = ConfigProblem(
                str(self.path),
                None,
                "",
                f"the file is larger than {MAX_EDIT_BYTES // 1024} kB",
                "a persona is a few kB",
            )
            return None, [problem]
        return decode_text(raw, str(self.path))

    def _unreadable(self, why: str) -> PollOutcome:
        self._signature, self._confirmed = None, False
        if not self._unreadable_logged:
            self._unreadable_logged = True
            log.warning("%s; the persona in use stays, the file is read again every %.0f s", why, self.refresh_s)
        return PollOutcome.MISSING

    def _rejected(self, problems: Sequence[ConfigProblem]) -> PollOutcome:
        self.rejected_count += 1
        errors = errors_in(problems)
        log.warning(
            "the persona file %s changed on disk but has %d error(s); the persona in use stays:",
            self.path,
            len(errors),
        )
        for p in problems:
            log.warning("%s", p)
        first = str(errors[0]) if errors else "unknown problem"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        self._say(False, f"edit on disk not applied: {first}{more}")
        return PollOutcome.REJECTED

    def _say(self, ok: bool, message: str) -> None:
        if self._report is None:
            return
        try:
            self._report(ok, message)
        except Exception:  # reporting must never undo or block the edit
            log.exception("reporting a persona file change failed")
