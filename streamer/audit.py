"""The audit log: every utterance viewers heard, in SQLite, kept for a retention period and exportable.

What a row is (:class:`AuditRecord`): the text *as heard* (a sentence cut by an interruption is stored as far as it
was heard, with ``interrupted`` set), the segment ``kind`` the show gave it (patter, transition, greeting, invite,
reply, reply_more, social, operator, disclosure...) and the regulator's ``source`` it maps to (``patter``,
``reply``, ``operator`` or ``disclosure``, see :func:`source_for`), the product, the comment it answered (pick id,
viewer name, comment text), the guards' actions on it (JSON), the media time it started at and how long it was
heard, the wall time (UTC epoch seconds; exported as ISO 8601 with ``Z``) and the names of the outputs live at that
moment (already redacted display names: no stream key ever reaches this file).

How it is written (:class:`AuditLog`):

* SQLite in WAL mode with ``synchronous=NORMAL``: a commit is in the WAL file when it returns, so a killed process
  (``kill -9``) loses nothing committed; only a power cut can lose the last commits (no fsync per commit: that is
  what keeps the write cost flat).
* :meth:`AuditLog.record` never blocks and never touches the disk: it turns the record into a row and appends it
  to a queue bounded in rows (``queue_max``); a full queue drops its *oldest* row and counts it (``rows_dropped``).
* One writer thread owns the connection. It commits what is queued at least every ``commit_interval_s`` (1 s, the
  most a ``kill -9`` can lose), sooner when the queue is half full or someone calls :meth:`AuditLog.flush`. A
  failed write (disk full, database locked by another program) is rolled back, the rows go back to the front of the
  queue, and the writer retries with backoff; ``write_errors``/``last_error`` say so.
* Retention: rows older than ``retention_days`` (default 180) are deleted when the log opens and then every hour
  (``purge_interval_s``) by the indexed wall time, in chunks so no transaction grows large. The file is created with
  ``auto_vacuum=INCREMENTAL``: freed pages are reused by new rows, and when more than a quarter of the file is free
  (a shortened retention), ``PRAGMA incremental_vacuum`` gives the space back. ``journal_size_limit`` keeps the WAL
  file from staying large after a checkpoint. Size therefore stays flat once the retention period is full.
* The schema is versioned with ``PRAGMA user_version`` (:data:`SCHEMA_VERSION`); a file from a newer version, or a
  file that is not an audit log, is refused with :class:`AuditError` rather than written to.
* Wall time comes from the injected ``clock`` (``time.time`` by default): it stamps records given without
  ``wall_s`` and drives retention, so tests and the benchmark run days of log on a fake clock.

How it is read: :func:`iter_export` / :func:`export` stream rows committed since a time as CSV (with a header) or
JSONL, page by page (each page a short read: a long export never holds the writer up, and WAL readers never block
it). :func:`parse_since` reads ``1h``, ``30m``, ``2d``, ``1w``, ``90s``, a date (``2026-12-01``, UTC midnight) or an
ISO datetime (no offset = UTC). In CSV, text cells that a spreadsheet would run as a formula (starting with
``= + - @``, tab or carriage return) get a leading ``'``; JSONL is exact.
"""

from __future__ import annotations

import collections
import csv
import datetime
import io
import json
import logging
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

if TYPE_CHECKING:
    from streamer.config import StreamConfig

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_FILE_NAME = "audit.sqlite3"
DEFAULT_RETENTION_DAYS = 180.0
DEFAULT_QUEUE_MAX = 10_000
#: The longest a row waits in memory before it is committed: what a ``kill -9`` can lose.
COMMIT_INTERVAL_S = 1.0
PURGE_INTERVAL_S = 3600.0
#: Rows deleted per purge transaction.
PURGE_CHUNK_ROWS = 5_000
#: Rows per export page (each page is one short read).
EXPORT_PAGE_ROWS = 500
#: Longest text stored per field (characters): sentences and comments are capped long before this upstream.
MAX_FIELD_CHARS = 4_000
#: The WAL is checkpointed into the database every this many pages (SQLite's default is 1000) and cut back to
#: ``WAL_SIZE_LIMIT_BYTES`` after: with a commit a second, the WAL file stays near 1 MiB.
WAL_CHECKPOINT_PAGES = 256
WAL_SIZE_LIMIT_BYTES = 1 << 20

ExportFormat = Literal["csv", "jsonl"]
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
CONTENT_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}

#: Segment kind -> the regulator's four sources. Kinds not listed: see :func:`source_for`.
SOURCES: dict[str, str] = {
    "patter": "patter",
    "transition": "patter",
    "greeting": "patter",
    "invite": "patter",
    "reply": "reply",
    "reply_more": "reply",
    "social": "reply",
    "operator": "operator",
    "disclosure": "disclosure",
}

_SCHEMA = """
CREATE TABLE utterances (
    id INTEGER PRIMARY KEY,
    wall_s REAL NOT NULL,
    media_s REAL,
    heard_s REAL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    interrupted INTEGER NOT NULL,
    product_id TEXT,
    reply_to TEXT,
    viewer TEXT,
    comment TEXT,
    guard_actions TEXT,
    outputs_live TEXT NOT NULL,
    segment_id INTEGER
);
CREATE INDEX utterances_wall_s ON utterances (wall_s);
"""
_COLUMNS = (
    "wall_s",
    "media_s",
    "heard_s",
    "channel",
    "source",
    "kind",
    "text",
    "interrupted",
    "product_id",
    "reply_to",
    "viewer",
    "comment",
    "guard_actions",
    "outputs_live",
    "segment_id",
)
_INSERT = f"INSERT INTO utterances ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"

#: Exported columns, in order (CSV header; JSONL keys).
EXPORT_FIELDS: tuple[str, ...] = ("id", "wall_time", *_COLUMNS)

Row = tuple[Any, ...]


class AuditError(Exception):
    """The audit log cannot be opened or read (message names the file and what to do)."""


class SinceError(ValueError):
    """A ``--since``/``since=`` value that is neither a duration nor a date."""


def source_for(kind: str) -> str:
    """The regulator's source for a segment kind: ``patter``, ``reply``, ``operator`` or ``disclosure``. A kind this
    table does not know counts as the host's own speech (``patter``) unless its name says otherwise."""
    found = SOURCES.get(kind)
    if found is not None:
        return found
    for prefix in ("disclosure", "operator", "reply"):
        if kind.startswith(prefix):
            return prefix
    return "patter"


class _Heard(Protocol):
    segment_id: int
    text: str
    heard_samples: int
    interrupted: bool
    kind: str
    product_id: str | None


@dataclass(slots=True)
class AuditRecord:
    """One utterance as viewers heard it (see the module docstring). ``source`` empty: derived from ``kind``;
    ``wall_s`` None: stamped by the log's clock when recorded."""

    text: str
    kind: str = "patter"
    source: str = ""
    channel: str = ""
    wall_s: float | None = None
    media_s: float | None = None
    """Media time (seconds since the show started) at which the utterance began on air."""
    heard_s: float | None = None
    """How long it was heard (all of it unless ``interrupted``)."""
    interrupted: bool = False
    product_id: str | None = None
    reply_to: str | None = None
    """The id of the chat pick it answers."""
    viewer: str | None = None
    comment: str | None = None
    """The viewer's comment it answers, as triage cleaned it."""
    guard_actions: Any = None
    """JSON-able: what the guards did to this sentence (e.g. ``[{"rule": "superlative", "action": "rewrite"}]``)."""
    outputs_live: Sequence[str] = field(default_factory=list)
    """Redacted display names of the outputs live at that moment."""
    segment_id: int | None = None

    @classmethod
    def from_heard(
        cls,
        heard: _Heard,
        *,
        media_s: float | None,
        channel: str = "",
        wall_s: float | None = None,
        reply_to: str | None = None,
        viewer: str | None = None,
        comment: str | None = None,
        guard_actions: Any = None,
        outputs_live: Sequence[str] = (),
    ) -> AuditRecord:
        """A record from the show's :class:`~streamer.frames.HeardSpeech` (what was heard, cut where it was cut)."""
        from streamer.frames import AUDIO_RATE_HZ

        return cls(
            text=heard.text,
            kind=heard.kind,
            channel=channel,
            wall_s=wall_s,
            media_s=media_s,
            heard_s=round(heard.heard_samples / AUDIO_RATE_HZ, 3),
            interrupted=heard.interrupted,
            product_id=heard.product_id,
            reply_to=reply_to,
            viewer=viewer,
            comment=comment,
            guard_actions=guard_actions,
            outputs_live=list(outputs_live),
            segment_id=heard.segment_id,
        )

    def row(self, now_s: float) -> Row:
        """The row as stored (``now_s`` stamps a record without ``wall_s``)."""
        return (
            float(self.wall_s if self.wall_s is not None else now_s),
            None if self.media_s is None else float(self.media_s),
            None if self.heard_s is None else float(self.heard_s),
            self.channel[:200],
            self.source or source_for(self.kind),
            self.kind[:60],
            self.text[:MAX_FIELD_CHARS],
            int(bool(self.interrupted)),
            self.product_id,
            self.reply_to,
            None if self.viewer is None else self.viewer[:200],
            None if self.comment is None else self.comment[:MAX_FIELD_CHARS],
            None if self.guard_actions is None else json.dumps(self.guard_actions, default=str, ensure_ascii=False),
            json.dumps(list(self.outputs_live), default=str, ensure_ascii=False),
            self.segment_id,
        )


def audit_db_path(config: StreamConfig) -> Path:
    """Where a show with this config keeps its audit log: ``audit.path``, relative to ``recordings_dir``."""
    path = Path(config.audit.path).expanduser()
    return path if path.is_absolute() else Path(config.recordings_dir) / path


def open_audit_log(config: StreamConfig, *, clock: Callable[[], float] = time.time) -> AuditLog | None:
    """The show's audit log as its config says (None when ``audit.enabled`` is false). Raises :class:`AuditError`."""
    settings = config.audit
    if not settings.enabled:
        return None
    return AuditLog(
        audit_db_path(config), retention_days=settings.retention_days, queue_max=settings.queue_max, clock=clock
    )


def _connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=check_same_thread)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def _open_schema(path: Path) -> sqlite3.Connection:
    """Open (creating if new) an audit database in WAL mode at the current schema version."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise AuditError(f"{path}: cannot open the audit log ({exc})") from None
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise AuditError(
                f"{path}: written by a newer livehost (audit schema {version}, this one knows {SCHEMA_VERSION}); "
                "upgrade, or point audit.path at another file"
            )
        if version == 0:
            # Only takes effect before the first table exists (a no-op otherwise).
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise AuditError(f"{path}: the file system does not allow write-ahead logging (journal mode {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        if version == 0:
            # Created under the write lock, looking again inside it: two channels (or processes) opening the same
            # new file at once create it once.
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    conn.execute("ROLLBACK")
                    raise AuditError(f"{path}: not an audit log (it holds other tables); point audit.path elsewhere")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
    except AuditError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise AuditError(f"{path}: not a usable audit log ({exc})") from None
    return conn


class AuditLog:
    """The channel's audit log (see the module docstring). Create it, :meth:`record` every heard utterance from the
    event loop (never blocks), and :meth:`aclose` (or :meth:`close`) it at the end: that commits what is queued.

    Raises :class:`AuditError` at construction when the file cannot be used."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        queue_max: int = DEFAULT_QUEUE_MAX,
        clock: Callable[[], float] = time.time,
        commit_interval_s: float = COMMIT_INTERVAL_S,
        purge_interval_s: float = PURGE_INTERVAL_S,
    ) -> None:
        if retention_days <= 0:
            raise ValueError("retention_days must be positive")
        if queue_max < 1:
            raise ValueError("queue_max must be at least 1")
        self.path = Path(path)
        self.retention_days = float(retention_days)
        self.queue_max = int(queue_max)
        self.clock = clock
        self.commit_interval_s = float(commit_interval_s)
        self.purge_interval_s = float(purge_interval_s)
        self._conn: sqlite3.Connection | None = _open_schema(self.path)
        self._queue: collections.deque[Row] = collections.deque()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._opened = threading.Event()
        """Set once the purge at open is done."""
        self._closed = False
        self._enqueued = 0
        """Rows ever queued (dropped ones included)."""
        self._cycle_started = 0
        self._cycle_done = 0
        """Writer cycles (write what is queued, then housekeeping) begun and completed: what :meth:`flush` waits
        for."""
        self._high_water = max(1, self.queue_max // 2)
        self._next_purge_s = 0.0
        # Figures (read by stats(); written by the writer thread, or under the lock).
        self.rows_written = 0
        self.rows_dropped = 0
        self.rows_purged = 0
        self.commits = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self.last_commit_s: float | None = None
        self.last_write_s = 0.0
        """Seconds the last batch's insert + commit took."""
        self.last_write_rows = 0
        self.last_purge_s = 0.0
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    # ---- the event loop's side --------------------------------------------------------------------------------

    def record(self, rec: AuditRecord) -> bool:
        """Queue one utterance; returns at once (False after :meth:`close`). A full queue drops its oldest row."""
        if self._closed:
            return False
        row = rec.row(self.clock())
        with self._lock:
            if len(self._queue) >= self.queue_max:
                self._queue.popleft()
                self.rows_dropped += 1
            self._queue.append(row)
            self._enqueued += 1
            depth = len(self._queue)
        if depth >= self._high_water:
            self._wake.set()
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Block until the writer has run one whole cycle that began after this call: every row queued before it is
        committed (or dropped), and a retention purge that is due by the clock has run. False on timeout (a write
        that keeps failing). For tests, tools and shutdown: the event loop never needs it."""
        deadline = time.monotonic() + timeout_s
        if not self._opened.wait(timeout_s):
            return False
        with self._lock:
            want = self._cycle_started + 1
            self._wake.set()
            while self._cycle_done < want:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return self._cycle_done >= want
                self._done.wait(min(left, 0.1))
        return True

    def stats(self) -> dict[str, Any]:
        with self._lock:
            depth = len(self._queue)
        return {
            "path": str(self.path),
            "rows_recorded": self._enqueued,
            "rows_written": self.rows_written,
            "rows_dropped": self.rows_dropped,
            "rows_purged": self.rows_purged,
            "queue_depth": depth,
            "queue_max": self.queue_max,
            "commits": self.commits,
            "last_commit_s": self.last_commit_s,
            "last_write_s": self.last_write_s,
            "last_write_rows": self.last_write_rows,
            "last_purge_s": self.last_purge_s,
            "write_errors": self.write_errors,
            "last_error": self.last_error,
            "retention_days": self.retention_days,
            "db_bytes": _size(self.path),
            "wal_bytes": _size(self.path.with_name(self.path.name + "-wal")),
        }

    def close(self, timeout_s: float = 5.0) -> None:
        """Commit what is queued and close the file (idempotent). Rows recorded afterwards are refused."""
        if self._closed and not self._thread.is_alive():
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("audit log: the writer did not finish within %.1f s (%s)", timeout_s, self.path)

    async def aclose(self, timeout_s: float = 5.0) -> None:
        import asyncio

        await asyncio.to_thread(self.close, timeout_s)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AuditLog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- reading -----------------------------------------------------------------------------------------------

    def iter_export(self, since: str | float, fmt: str, *, until: str | float | None = None) -> ExportStream:
        """Committed rows since ``since`` (text for :func:`parse_since`, or epoch seconds) as CSV/JSONL chunks."""
        now = self.clock()
        since_s = parse_since(since, now_s=now) if isinstance(since, str) else float(since)
        until_s = parse_since(until, now_s=now) if isinstance(until, str) else until
        return iter_export(self.path, since_s=since_s, until_s=until_s, fmt=fmt)

    def export(self, since: str | float, fmt: str, out: TextIO, *, until: str | float | None = None) -> int:
        """Write committed rows since ``since`` to ``out``; returns the number of rows."""
        return _write_chunks(self.iter_export(since, fmt, until=until), out)

    # ---- the writer thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        backoff_s = 0.0
        try:
            self._purge_if_due(conn)
            self._opened.set()
            while True:
                if not self._stop.is_set():
                    self._wake.wait(max(self.commit_interval_s, backoff_s))
                self._wake.clear()
                stopping = self._stop.is_set()
                with self._lock:
                    self._cycle_started += 1
                    cycle = self._cycle_started
                if not self._write_queued(conn):
                    backoff_s = min(5.0, max(0.2, backoff_s * 2))
                    if stopping:
                        break  # the file cannot be written: what is left is lost, and counted
                    continue
                backoff_s = 0.0
                self._purge_if_due(conn)
                with self._lock:
                    self._cycle_done = cycle
                    self._done.notify_all()
                    empty = not self._queue
                if stopping and empty:
                    break
        except Exception:  # never let the writer die silently: the show goes on without its audit trail
            log.exception("audit log: writer failed (%s)", self.path)
            self.last_error = "writer failed; see the log"
        finally:
            self._opened.set()
            with self._lock:
                lost = len(self._queue)
                self._queue.clear()
                self.rows_dropped += lost
                self._cycle_done = sys.maxsize  # nothing is left to wait for
                self._done.notify_all()
            if lost:
                log.error("audit log: %d row(s) could not be written to %s", lost, self.path)
            self._conn = None
            conn.close()

    def _write_queued(self, conn: sqlite3.Connection) -> bool:
        """Commit what is queued; False (rows back in the queue) if the write failed."""
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
        if not batch:
            return True
        t0 = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, batch)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.write_errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("audit log: write failed, will retry (%s): %s", self.path, exc)
            with self._lock:  # back to the front, oldest dropped past the bound
                room = self.queue_max - len(self._queue)
                keep = batch[max(0, len(batch) - room) :] if room > 0 else []
                self.rows_dropped += len(batch) - len(keep)
                self._queue.extendleft(reversed(keep))
            return False
        self.last_write_s = time.perf_counter() - t0
        self.last_write_rows = len(batch)
        self.rows_written += len(batch)
        self.commits += 1
        self.last_commit_s = self.clock()
        return True

    def _purge_if_due(self, conn: sqlite3.Connection) -> None:
        now = self.clock()
        if now < self._next_purge_s:
            return
        self._next_purge_s = now + self.purge_interval_s
        t0 = time.perf_counter()
        try:
            self.rows_purged += purge(conn, before_s=now - self.retention_days * 86400.0)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.write_errors += 1
            self.last_error = f"purge: {type(exc).__name__}: {exc}"
            log.warning("audit log: retention purge failed (%s): %s", self.path, exc)
        self.last_purge_s = time.perf_counter() - t0


def purge(conn: sqlite3.Connection, *, before_s: float) -> int:
    """Delete rows older than ``before_s`` (chunked transactions); give free space back when it is over a quarter
    of the file. Returns the rows deleted."""
    deleted = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            "DELETE FROM utterances WHERE id IN (SELECT id FROM utterances WHERE wall_s < ? ORDER BY wall_s LIMIT ?)",
            (before_s, PURGE_CHUNK_ROWS),
        )
        conn.execute("COMMIT")
        deleted += max(0, cur.rowcount)
        if cur.rowcount < PURGE_CHUNK_ROWS:
            break
    if deleted:
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        if free * 4 > pages:
            # executescript steps the pragma to the end (one execute() frees a single page).
            conn.executescript("PRAGMA incremental_vacuum;")
    return deleted


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


# ---- export ----------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_since(text: str, *, now_s: float) -> float:
    """Epoch seconds for ``1h`` / ``30m`` / ``2d`` / ``1w`` / ``90s`` ago, a date (``2026-12-01``: UTC midnight) or
    an ISO datetime (``2026-12-01T08:00:00Z``, ``...+08:00``; no offset = UTC). Raises :class:`SinceError`."""
    m = _DURATION.match(text)
    if m:
        return now_s - float(m.group(1)) * _UNIT_S[m.group(2).lower()]
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = datetime.date.fromisoformat(value)
            return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise SinceError(
            f"{text!r}: expected a duration like 1h, 30m, 2d, 1w or a date/time like 2026-12-01 or "
            "2026-12-01T08:00:00Z (UTC unless an offset is given)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def iso_utc(wall_s: float) -> str:
    return datetime.datetime.fromtimestamp(wall_s, datetime.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _safe_cell(value: str | None) -> str:
    """A text cell a spreadsheet will not run as a formula (viewer text is data)."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value or ""


def _jsonl(row: sqlite3.Row) -> str:
    item = {
        "id": row["id"],
        "wall_time": iso_utc(row["wall_s"]),
        **{c: row[c] for c in _COLUMNS},
    }
    item["interrupted"] = bool(row["interrupted"])
    item["guard_actions"] = json.loads(row["guard_actions"]) if row["guard_actions"] is not None else None
    item["outputs_live"] = json.loads(row["outputs_live"])
    return json.dumps(item, ensure_ascii=False) + "\n"


def _csv_values(row: sqlite3.Row) -> list[Any]:
    values: list[Any] = [row["id"], iso_utc(row["wall_s"])]
    for c in _COLUMNS:
        v = row[c]
        if c == "interrupted":
            v = "true" if v else "false"
        elif c in ("text", "viewer", "comment", "channel", "product_id", "reply_to"):
            v = _safe_cell(v)
        values.append("" if v is None else v)
    return values


def iter_export(
    path: str | Path, *, since_s: float, fmt: str, until_s: float | None = None, page_rows: int = EXPORT_PAGE_ROWS
) -> ExportStream:
    """Rows with ``since_s <= wall_s < until_s`` in insertion order, as chunks of CSV (header first) or JSONL text.

    Opens the file here (raises :class:`AuditError` for a missing or unreadable one, ``ValueError`` for an unknown
    format) and reads it lazily one page at a time; the chunks may be pulled from any one thread at a time."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format {fmt!r}: expected csv or jsonl")
    path = Path(path)
    if not path.is_file():
        raise AuditError(f"no audit log at {path}")
    conn: sqlite3.Connection | None = None
    try:
        conn = _connect(path, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            conn.close()
            raise AuditError(f"{path}: not an audit log this livehost can read (schema {version})")
        lo = conn.execute("SELECT min(id) FROM utterances WHERE wall_s >= ?", (since_s,)).fetchone()[0]
        hi = (
            conn.execute("SELECT max(id) FROM utterances WHERE wall_s < ?", (until_s,)).fetchone()[0]
            if until_s is not None
            else conn.execute("SELECT max(id) FROM utterances").fetchone()[0]
        )
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise AuditError(f"{path}: cannot read the audit log ({exc})") from None
    return ExportStream(conn, fmt, lo=lo, hi=hi, since_s=since_s, until_s=until_s, page_rows=page_rows)


class ExportStream:
    """Text chunks of an export (header first for CSV); :attr:`rows` counts the rows yielded so far. Iterate it from
    one thread at a time; :meth:`close` (also at the end, or on garbage collection) releases the file."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        fmt: str,
        *,
        lo: int | None,
        hi: int | None,
        since_s: float,
        until_s: float | None,
        page_rows: int,
    ) -> None:
        self.content_type = CONTENT_TYPES[fmt]
        self.rows = 0
        self._conn = conn
        self._gen = self._pages(conn, fmt, lo, hi, since_s, until_s, page_rows)

    def __iter__(self) -> ExportStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()
        self._conn.close()  # also when it was never iterated (a generator's finally would not run)

    def _pages(
        self,
        conn: sqlite3.Connection,
        fmt: str,
        lo: int | None,
        hi: int | None,
        since_s: float,
        until_s: float | None,
        page_rows: int,
    ) -> Generator[str, None, None]:
        try:
            buf = io.StringIO()
            writer = csv.writer(buf) if fmt == "csv" else None
            if writer is not None:
                writer.writerow(EXPORT_FIELDS)
                yield buf.getvalue()
            if lo is None or hi is None:
                return
            after = lo - 1
            until = until_s if until_s is not None else float("inf")
            while after < hi:
                rows = conn.execute(
                    "SELECT * FROM utterances WHERE id > ? AND id <= ? AND wall_s >= ? AND wall_s < ? "
                    "ORDER BY id LIMIT ?",
                    (after, hi, since_s, until, page_rows),
                ).fetchall()
                if not rows:
                    return
                after = rows[-1]["id"]
                self.rows += len(rows)
                if writer is not None:
                    buf.seek(0)
                    buf.truncate()
                    writer.writerows(_csv_values(r) for r in rows)
                    yield buf.getvalue()
                else:
                    yield "".join(_jsonl(r) for r in rows)
        finally:
            conn.close()


def _write_chunks(chunks: ExportStream, out: TextIO) -> int:
    try:
        for chunk in chunks:
            out.write(chunk)
    finally:
        chunks.close()
    return chunks.rows


def export(path: str | Path, *, since_s: float, fmt: str, out: TextIO, until_s: float | None = None) -> int:
    """Write rows since ``since_s`` to ``out`` (see :func:`iter_export`); returns the rows written."""
    return _write_chunks(iter_export(path, since_s=since_s, until_s=until_s, fmt=fmt), out)
