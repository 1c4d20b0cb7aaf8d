"""The audit log: rows round-trip, WAL, retention, bounded queue, crash safety, export (API, CLI, dashboard)."""

from __future__ import annotations

import asyncio
import csv
import datetime
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from streamer.audit import (
    SCHEMA_VERSION,
    AuditError,
    AuditLog,
    AuditRecord,
    SinceError,
    audit_db_path,
    export,
    open_audit_log,
    parse_since,
    source_for,
)
from streamer.config import StreamConfig

REPO = Path(__file__).resolve().parent.parent
DAY_S = 86400.0
T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC).timestamp()


class FakeWall:
    """The log's wall clock, moved by the test."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def full_record(**overrides: object) -> AuditRecord:
    values: dict[str, object] = {
        "text": "Maya, it's 39 dollars today, down from 49.",
        "kind": "reply",
        "channel": "show",
        "wall_s": T0 - 5.0,
        "media_s": 612.4,
        "heard_s": 2.75,
        "interrupted": True,
        "product_id": "cat-bed",
        "reply_to": "c17",
        "viewer": "maya",
        "comment": "how much is the cat bed??",
        "guard_actions": [{"rule": "superlative", "action": "rewrite", "was": "the best bed"}],
        "outputs_live": ["rtmp://live.twitch.tv/app/****", "recordings/show.flv"],
        "segment_id": 41,
    }
    values.update(overrides)
    return AuditRecord(**values)  # type: ignore[arg-type]


def jsonl_rows(log: AuditLog, since: str | float) -> list[dict]:
    out = io.StringIO()
    log.export(since, "jsonl", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


# ---- rows ---------------------------------------------------------------------------------------------------------


def test_a_row_round_trips_with_every_field(tmp_path: Path):
    with AuditLog(tmp_path / "audit.sqlite3", clock=FakeWall()) as log:
        assert log.record(full_record())
        assert log.flush()
        [row] = jsonl_rows(log, "1h")
    assert row == {
        "id": 1,
        "wall_time": "2026-12-01T11:59:55.000Z",
        "wall_s": T0 - 5.0,
        "media_s": 612.4,
        "heard_s": 2.75,
        "channel": "show",
        "source": "reply",
        "kind": "reply",
        "text": "Maya, it's 39 dollars today, down from 49.",
        "interrupted": True,
        "product_id": "cat-bed",
        "reply_to": "c17",
        "viewer": "maya",
        "comment": "how much is the cat bed??",
        "guard_actions": [{"rule": "superlative", "action": "rewrite", "was": "the best bed"}],
        "outputs_live": ["rtmp://live.twitch.tv/app/****", "recordings/show.flv"],
        "segment_id": 41,
    }


def test_a_record_without_wall_time_is_stamped_by_the_logs_clock_and_its_source_comes_from_its_kind(tmp_path: Path):
    wall = FakeWall()
    with AuditLog(tmp_path / "a.sqlite3", clock=wall) as log:
        log.record(AuditRecord(text="Every frame of this show is AI-generated.", kind="disclosure"))
        wall.t += 10
        log.record(AuditRecord(text="Hi everyone!", kind="greeting"))
        log.record(AuditRecord(text="Taking over for a second.", kind="operator"))
        log.record(AuditRecord(text="Thanks for the gift, Leo!", kind="social"))
        log.flush()
        rows = jsonl_rows(log, "1h")
    assert [(r["kind"], r["source"]) for r in rows] == [
        ("disclosure", "disclosure"),
        ("greeting", "patter"),
        ("operator", "operator"),
        ("social", "reply"),
    ]
    assert [r["wall_s"] for r in rows] == [T0, T0 + 10, T0 + 10, T0 + 10]
    assert rows[0]["outputs_live"] == [] and rows[0]["guard_actions"] is None and rows[0]["interrupted"] is False


def test_source_mapping_covers_the_shows_segment_kinds():
    kinds = {k: source_for(k) for k in ("patter", "transition", "greeting", "invite", "reply", "reply_more")}
    assert set(kinds.values()) == {"patter", "reply"}
    assert source_for("operator") == "operator" and source_for("disclosure_spoken") == "disclosure"
    assert source_for("something_new") == "patter"


def test_a_heard_segment_becomes_a_record_cut_where_viewers_stopped_hearing_it():
    from streamer.frames import AUDIO_RATE_HZ, HeardSpeech

    heard = HeardSpeech(
        segment_id=7,
        text="It comes in slate",
        heard_samples=AUDIO_RATE_HZ * 3 // 2,
        interrupted=True,
        kind="patter",
        product_id="cat-bed",
        sentence="It comes in slate grey and forest green.",
    )
    rec = AuditRecord.from_heard(heard, media_s=12.5, channel="show", outputs_live=["recordings/a.flv"])
    assert (rec.text, rec.interrupted, rec.heard_s, rec.segment_id) == ("It comes in slate", True, 1.5, 7)
    assert (rec.kind, rec.product_id, rec.media_s, list(rec.outputs_live)) == (
        "patter",
        "cat-bed",
        12.5,
        ["recordings/a.flv"],
    )


# ---- the file -----------------------------------------------------------------------------------------------------


def test_the_file_is_write_ahead_logged_versioned_and_vacuums_incrementally(tmp_path: Path):
    path = tmp_path / "deep" / "folder" / "audit.sqlite3"  # folders are created
    AuditLog(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        indexes = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
    assert "utterances_wall_s" in indexes
    # Opened again: same file, nothing recreated.
    with AuditLog(path) as log:
        log.record(AuditRecord(text="again"))
    assert log.stats()["rows_written"] == 1


def test_a_file_from_a_newer_version_or_another_program_is_refused(tmp_path: Path):
    newer = tmp_path / "newer.sqlite3"
    AuditLog(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(AuditError, match="newer livehost"):
        AuditLog(newer)
    foreign = tmp_path / "other.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    with pytest.raises(AuditError, match="not an audit log"):
        AuditLog(foreign)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(AuditError, match=r"junk\.sqlite3"):
        AuditLog(junk)


def test_close_commits_what_is_queued_is_idempotent_and_later_records_are_refused(tmp_path: Path):
    log = AuditLog(tmp_path / "a.sqlite3", commit_interval_s=3600.0)  # only close() will commit
    for i in range(25):
        log.record(AuditRecord(text=f"line {i}"))
    asyncio.run(log.aclose())
    log.close()
    assert log.record(AuditRecord(text="too late")) is False
    with sqlite3.connect(tmp_path / "a.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM utterances").fetchone()[0] == 25
    stats = log.stats()
    assert (stats["rows_written"], stats["rows_dropped"], stats["queue_depth"]) == (25, 0, 0)


def test_the_config_puts_the_log_under_recordings_dir_unless_it_names_an_absolute_path(tmp_path: Path):
    config = StreamConfig.model_validate({"recordings_dir": str(tmp_path / "rec")})
    assert audit_db_path(config) == tmp_path / "rec" / "audit.sqlite3"
    assert config.audit.retention_days == 180
    elsewhere = StreamConfig.model_validate({"audit": {"path": str(tmp_path / "trail.db"), "retention_days": 30}})
    assert audit_db_path(elsewhere) == tmp_path / "trail.db"
    log = open_audit_log(elsewhere)
    assert log is not None and log.retention_days == 30
    log.close()
    assert open_audit_log(StreamConfig.model_validate({"audit": {"enabled": False}})) is None


# ---- retention and flow control ----------------------------------------------------------------------------------


def test_retention_purges_old_rows_at_open_and_then_hourly(tmp_path: Path):
    path = tmp_path / "a.sqlite3"
    wall = FakeWall()
    with AuditLog(path, retention_days=2, clock=wall) as log:
        for age_h in (120, 72, 47.5, 12):
            log.record(AuditRecord(text=f"{age_h} h old", wall_s=T0 - age_h * 3600))
    # Opened again later: what is past retention goes at once.
    with AuditLog(path, retention_days=2, clock=wall) as log:
        log.flush()
        assert [r["text"] for r in jsonl_rows(log, T0 - 30 * DAY_S)] == ["47.5 h old", "12 h old"]
        assert log.stats()["rows_purged"] == 2
        # Half an hour on, the 47.5 h row is past retention but no purge is due yet; an hour after the last, it is.
        wall.t += 1800
        log.flush()
        assert len(jsonl_rows(log, T0 - 30 * DAY_S)) == 2
        wall.t += 1801
        log.flush()
        assert [r["text"] for r in jsonl_rows(log, T0 - 30 * DAY_S)] == ["12 h old"]
        assert log.stats()["rows_purged"] == 3


def test_shortening_retention_gives_the_space_back(tmp_path: Path):
    path = tmp_path / "a.sqlite3"
    wall = FakeWall()
    with AuditLog(path, retention_days=180, clock=wall) as log:
        for i in range(3000):
            log.record(AuditRecord(text=f"sentence {i} " + "x" * 200, wall_s=T0 - 10 * DAY_S + i))
    full = os.path.getsize(path)
    with AuditLog(path, retention_days=1, clock=wall) as log:
        log.flush()
    assert log.stats()["rows_purged"] == 3000
    assert os.path.getsize(path) < full / 4


def test_record_never_waits_for_a_locked_database_and_a_full_queue_drops_the_oldest(tmp_path: Path):
    path = tmp_path / "a.sqlite3"
    log = AuditLog(path, queue_max=5, commit_interval_s=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another program holds the file: the writer has to wait
    try:
        t = time.perf_counter()
        for i in range(40):
            assert log.record(AuditRecord(text=f"line {i}"))
        took = time.perf_counter() - t
        time.sleep(0.2)
        assert log.stats()["rows_written"] == 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    log.close()
    stats = log.stats()
    assert took < 0.05
    assert stats["rows_dropped"] > 0
    assert stats["rows_written"] + stats["rows_dropped"] == 40
    with sqlite3.connect(path) as conn:
        texts = [r[0] for r in conn.execute("SELECT text FROM utterances ORDER BY id")]
    assert texts[-1] == "line 39"  # the newest is kept; the oldest went


_CHILD = """
import sys, time
from streamer.audit import AuditLog, AuditRecord
log = AuditLog(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    t = time.time()
    log.record(AuditRecord(text=f"row {i}", wall_s=t, segment_id=i))
    print(i, t, flush=True)
    i += 1
    time.sleep(0.01)
"""


def test_a_process_killed_with_sigkill_loses_at_most_its_last_second(tmp_path: Path):
    path = tmp_path / "audit.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.4)  # past the first commit
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        printed = [line.split() for line in proc.stdout.read().splitlines()]
    finally:
        if proc.poll() is None:
            proc.kill()
    recorded = {int(p[0]): float(p[1]) for p in printed if len(p) == 2}
    with sqlite3.connect(path) as conn:
        present = {r[0] for r in conn.execute("SELECT segment_id FROM utterances")}
    assert len(recorded) > 100
    assert present == set(range(len(present)))  # a prefix: no hole in what was kept
    lost = [recorded[i] for i in recorded if i not in present]
    # Everything recorded more than a second (plus scheduling slack on a busy machine) before the kill is there.
    assert min(lost, default=killed_at) >= killed_at - 1.5, f"lost a row from {killed_at - min(lost):.2f} s before"


# ---- export -----------------------------------------------------------------------------------------------------


def _day_log(tmp_path: Path) -> AuditLog:
    """Rows on 2026-11-30 23:00, 2026-12-01 10:00, and 12:00 minus 30 min / 5 min (the clock says 12:00)."""
    log = AuditLog(tmp_path / "audit.sqlite3", clock=FakeWall())
    log.record(full_record(text="yesterday", wall_s=T0 - 13 * 3600))
    log.record(full_record(text="this morning", wall_s=T0 - 2 * 3600))
    log.record(full_record(text='=HYPERLINK("http://x")', wall_s=T0 - 1800, comment="@everyone 看看这个"))
    log.record(full_record(text="这款猫窝今天39元。", wall_s=T0 - 300, interrupted=False, guard_actions=None))
    log.flush()
    return log


def test_csv_export_has_a_header_filters_by_since_and_cannot_smuggle_a_formula(tmp_path: Path):
    with _day_log(tmp_path) as log:
        out = io.StringIO()
        assert log.export("1h", "csv", out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["text"] for r in rows] == ['\'=HYPERLINK("http://x")', "这款猫窝今天39元。"]
    assert rows[0]["comment"] == "'@everyone 看看这个"
    assert rows[0]["interrupted"] == "true" and rows[1]["interrupted"] == "false"
    assert rows[1]["guard_actions"] == "" and json.loads(rows[1]["outputs_live"])[1] == "recordings/show.flv"
    assert rows[1]["wall_time"] == "2026-12-01T11:55:00.000Z"
    assert list(rows[0]) == ["id", "wall_time", "wall_s", "media_s", "heard_s", "channel", "source", "kind", "text",
                             "interrupted", "product_id", "reply_to", "viewer", "comment", "guard_actions",
                             "outputs_live", "segment_id"]  # fmt: skip


def test_jsonl_export_filters_by_date_and_until_and_keeps_text_exact(tmp_path: Path):
    with _day_log(tmp_path) as log:
        today = jsonl_rows(log, "2026-12-01")
        window = io.StringIO()
        log.export("2026-12-01T09:00:00Z", "jsonl", window, until="45m")
        everything = jsonl_rows(log, "2d")
        shanghai = jsonl_rows(log, "2026-12-01T19:30:00+08:00")  # 11:30 UTC
    assert [r["text"] for r in today] == ["this morning", '=HYPERLINK("http://x")', "这款猫窝今天39元。"]
    assert [json.loads(line)["text"] for line in window.getvalue().splitlines()] == ["this morning"]
    assert len(everything) == 4
    assert [r["text"] for r in shanghai] == ['=HYPERLINK("http://x")', "这款猫窝今天39元。"]


def test_an_export_of_nothing_is_a_bare_header_or_empty(tmp_path: Path):
    path = tmp_path / "a.sqlite3"
    AuditLog(path).close()
    out = io.StringIO()
    assert export(path, since_s=0, fmt="csv", out=out) == 0
    assert out.getvalue().strip().startswith("id,wall_time,")
    out = io.StringIO()
    assert export(path, since_s=0, fmt="jsonl", out=out) == 0 and out.getvalue() == ""
    with pytest.raises(AuditError, match="no audit log at"):
        export(tmp_path / "missing.sqlite3", since_s=0, fmt="csv", out=io.StringIO())
    with pytest.raises(ValueError, match="csv or jsonl"):
        export(path, since_s=0, fmt="xml", out=io.StringIO())


def test_a_large_export_comes_in_pages(tmp_path: Path):
    with AuditLog(tmp_path / "a.sqlite3", clock=FakeWall()) as log:
        for i in range(1234):
            log.record(AuditRecord(text=f"line {i}", wall_s=T0 - 1000 + i * 0.5))
        log.flush()
        stream = log.iter_export("1h", "jsonl")
        chunks = list(stream)
    assert stream.rows == 1234 and len(chunks) == 3  # 500 rows a page
    assert [json.loads(line)["text"] for line in "".join(chunks).splitlines()][-1] == "line 1233"


@pytest.mark.parametrize(
    ("text", "ago_s"), [("1h", 3600), ("30m", 1800), ("2d", 2 * DAY_S), ("1w", 7 * DAY_S), ("90s", 90), ("1.5h", 5400)]
)
def test_since_reads_durations(text: str, ago_s: float):
    assert parse_since(text, now_s=T0) == T0 - ago_s


def test_since_reads_dates_as_utc_and_says_what_it_expected():
    assert parse_since("2026-12-01", now_s=0) == T0 - 12 * 3600
    assert parse_since("2026-12-01T12:00:00", now_s=0) == T0
    assert parse_since("2026-12-01T20:00:00+08:00", now_s=0) == T0
    assert parse_since("2026-12-01T12:00:00Z", now_s=0) == T0
    for bad in ("yesterday", "1 hour", "2026-13-01", "-1h", ""):
        with pytest.raises(SinceError, match="expected a duration like 1h"):
            parse_since(bad, now_s=T0)


# ---- the command line ---------------------------------------------------------------------------------------------


def test_cli_exports_jsonl_from_the_database_given(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]):
    from streamer.cli import main

    now = time.time()
    with AuditLog(tmp_path / "audit.sqlite3") as log:
        log.record(AuditRecord(text="two hours ago", wall_s=now - 7200))
        log.record(AuditRecord(text="just now, 就现在", wall_s=now - 10, kind="reply", viewer="maya"))
    code = main(["audit", "export", "--since", "1h", "--format", "jsonl", "--db", str(tmp_path / "audit.sqlite3")])
    captured = capsysbinary.readouterr()
    assert code == 0
    rows = [json.loads(line) for line in captured.out.decode("utf-8").splitlines()]
    assert [(r["text"], r["source"], r["viewer"]) for r in rows] == [("just now, 就现在", "reply", "maya")]
    assert b"1 row(s)" in captured.err


def test_cli_finds_the_database_under_the_configs_recordings_dir(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
):
    from streamer.cli import main

    (tmp_path / "stream.yaml").write_text("recordings_dir: rec\nout: [rec/show.flv]\n")
    with AuditLog(tmp_path / "rec" / "audit.sqlite3") as log:
        log.record(AuditRecord(text="hello"))
    code = main(["audit", "export", "--config", str(tmp_path / "stream.yaml")])  # default: CSV, last 24 h
    out = capsysbinary.readouterr().out.decode()
    assert code == 0
    assert [r["text"] for r in csv.DictReader(io.StringIO(out))] == ["hello"]


def test_cli_says_what_is_wrong_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from streamer.cli import main

    assert main(["audit", "export", "--db", str(tmp_path / "nope.sqlite3")]) == 2
    assert "no audit log at" in capsys.readouterr().err
    AuditLog(tmp_path / "a.sqlite3").close()
    assert main(["audit", "export", "--db", str(tmp_path / "a.sqlite3"), "--since", "last tuesday"]) == 2
    assert "expected a duration like 1h" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["audit", "export", "--format", "xml"])
    assert exc.value.code == 2


@pytest.mark.integration
def test_run_stream_audit_export_end_to_end(tmp_path: Path):
    now = time.time()
    with AuditLog(tmp_path / "recordings" / "audit.sqlite3") as log:
        log.record(AuditRecord(text="earlier today", wall_s=now - 3 * 3600))
        log.record(AuditRecord(text="a minute ago", wall_s=now - 60, kind="operator"))
    result = subprocess.run(
        [sys.executable, str(REPO / "run_stream.py"), "audit", "export", "--since", "1h", "--format", "csv"],
        cwd=tmp_path,  # the default database: recordings/audit.sqlite3 here
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode("utf-8"))))
    assert [(r["text"], r["source"]) for r in rows] == [("a minute ago", "operator")]
    missing = subprocess.run(
        [sys.executable, str(REPO / "run_stream.py"), "audit", "export", "--db", str(tmp_path / "none.db")],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert missing.returncode == 2 and b"no audit log at" in missing.stderr


# ---- the dashboard --------------------------------------------------------------------------------------------------


def _control(audit: AuditLog | None) -> object:
    from streamer.chat.events import ChatEventLog
    from streamer.control import OperatorControl

    return OperatorControl(SimpleNamespace(events=ChatEventLog(), audit=audit))  # type: ignore[arg-type]


def test_operator_control_exports_the_channels_log_or_says_why_not(tmp_path: Path):
    from streamer.dashboard.server import ControlError

    with _day_log(tmp_path) as log:
        control = _control(log)
        content_type, chunks = control.audit_export("1h", "jsonl")  # type: ignore[attr-defined]
        assert content_type.startswith("application/x-ndjson")
        assert len("".join(chunks).splitlines()) == 2
        with pytest.raises(ControlError, match="since:") as bad:
            control.audit_export("soon", "csv")  # type: ignore[attr-defined]
        assert bad.value.status == 400
    with pytest.raises(ControlError, match="no audit log") as none:
        _control(None).audit_export("1h", "csv")  # type: ignore[attr-defined]
    assert none.value.status == 404


@pytest.mark.integration
def test_dashboard_serves_the_audit_export_behind_its_auth(tmp_path: Path):
    import aiohttp

    from streamer.dashboard.auth import DashboardAuth
    from streamer.dashboard.server import DashboardServer

    token = "t" * 32
    auth = {"Authorization": f"Bearer {token}"}
    with AuditLog(tmp_path / "audit.sqlite3") as log:
        now = time.time()
        for i in range(700):  # more than a page
            log.record(AuditRecord(text=f"line {i}", wall_s=now - 700 + i, kind="patter" if i % 2 else "reply"))
        log.flush()

        async def main() -> None:
            server = DashboardServer(
                None,
                control=_control(log),
                host="127.0.0.1",
                port=0,
                auth=DashboardAuth(token),  # type: ignore[arg-type]
            )
            off = DashboardServer(
                None,
                control=_control(None),
                host="127.0.0.1",
                port=0,
                auth=DashboardAuth(token),  # type: ignore[arg-type]
            )
            await server.start()
            await off.start()
            try:
                async with aiohttp.ClientSession() as anon:
                    async with anon.get(server.url + "api/audit?since=1h") as r:
                        assert r.status == 401
                async with aiohttp.ClientSession(headers=auth) as http:
                    async with http.get(server.url + "api/audit?since=1h&format=jsonl") as r:
                        assert r.status == 200
                        assert r.headers["Content-Type"].startswith("application/x-ndjson")
                        assert "attachment" in r.headers["Content-Disposition"]
                        lines = (await r.text()).splitlines()
                    assert len(lines) == 700 and json.loads(lines[-1])["text"] == "line 699"
                    async with http.get(server.url + "api/audit?since=5m") as r:  # default format: CSV
                        assert r.headers["Content-Type"].startswith("text/csv")
                        rows = list(csv.DictReader(io.StringIO(await r.text())))
                    assert 299 <= len(rows) <= 301 and rows[-1]["text"] == "line 699"
                    async with http.get(server.url + "api/audit?since=1h&format=xml") as r:
                        assert r.status == 400 and "csv or jsonl" in (await r.json())["error"]
                    async with http.get(server.url + "api/audit?since=whenever") as r:
                        assert r.status == 400 and "since:" in (await r.json())["error"]
                    async with http.get(off.url + "api/audit?since=1h") as r:
                        assert r.status == 404 and "no audit log" in (await r.json())["error"]
            finally:
                await server.aclose()
                await off.aclose()

        asyncio.run(main())


@pytest.mark.integration
def test_a_download_cut_short_by_the_show_stopping_never_reads_as_complete():
    import aiohttp

    from streamer.dashboard.auth import DashboardAuth
    from streamer.dashboard.server import DashboardServer

    class SlowAudit:
        def __init__(self) -> None:
            self.events = SimpleNamespace()

        def audit_export(self, since: str, fmt: str) -> tuple[str, object]:
            def chunks():
                for i in range(1000):
                    time.sleep(0.01)
                    yield f'{{"id": {i}}}\n'

            return "application/x-ndjson; charset=utf-8", chunks()

    token = "t" * 32

    async def main() -> bool:
        server = DashboardServer(None, control=SlowAudit(), host="127.0.0.1", port=0, auth=DashboardAuth(token))  # type: ignore[arg-type]
        await server.start()
        try:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
                async with http.get(server.url + "api/audit?since=1h&format=jsonl") as r:
                    assert r.status == 200
                    await r.content.readline()
                    await server.aclose()
                    try:
                        await r.read()
                    except aiohttp.ClientPayloadError:
                        return True
                    return False
        finally:
            await server.aclose()

    assert asyncio.run(main()), "the download ended as if complete"
