import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from daemon.capture.ledger import GAP, LISTENING, CaptureLedger, minutes
from daemon.storage import store as store_module
from daemon.storage.store import Store
from daemon.storage.utterances import NewSegment


def seg(start, text, flag=None):
    return NewSegment(
        start=start,
        end=start + 2,
        text=text,
        avg_logprob=-0.2,
        no_speech_prob=0.05,
        compression_ratio=1.3,
        words=[(start, start + 0.5, text.split()[0], 0.9)],
        flag=flag,
    )


def test_schema_is_migrated_and_recorded(tmp_path):
    store = Store(tmp_path / "e.db")
    assert store.schema_version() == store_module.MIGRATIONS[-1][0]
    mode = store.connection().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_the_ledger_keeps_its_spans_when_it_learns_of_transcription_servers(tmp_path, monkeypatch):
    path = tmp_path / "e.db"
    every = store_module.MIGRATIONS
    monkeypatch.setattr(store_module, "MIGRATIONS", every[:5])
    old = Store(path)
    run = old.runs.begin(1, 100.0)
    old.runs.open_span(
        run_id=run, state="listening", source="mic", reason=None, now=100.0, previous=None
    )
    old.close()
    monkeypatch.setattr(store_module, "MIGRATIONS", every)
    store = Store(path)
    span = store.runs.open_span(
        run_id=run,
        state="server away",
        source="http://h/v1",
        reason="unreachable",
        now=110.0,
        previous=None,
    )
    spans = store.runs.spans(since=0, until=200)
    assert [(s.state, s.source) for s in spans] == [
        ("listening", "mic"),
        ("server away", "http://h/v1"),
    ]
    assert span is not None
    with pytest.raises(sqlite3.IntegrityError):
        store.runs.open_span(
            run_id=run, state="asleep", source=None, reason=None, now=120, previous=None
        )


def test_utterance_with_segments_is_stored_once(tmp_path):
    store = Store(tmp_path / "e.db")
    args = dict(
        uid="u1",
        profile="default",
        source="mic",
        start=100.0,
        end=104.0,
        model="m",
        language="en",
        segments=[seg(100.0, "hello there"), seg(102.0, "you", flag="known")],
    )
    assert store.utterances.add(**args) is not None
    assert store.utterances.add(**args) is None  # a retried commit never duplicates
    segments = store.segments.find(profiles=["default"])
    assert [s.text for s in segments] == ["hello there", "you"]
    assert [s.text for s in store.segments.find(profiles=["default"], include_flagged=False)] == [
        "hello there"
    ]
    assert store.utterances.has("u1") and not store.utterances.has("u2")
    assert store.segments.words(segments[0].id) == [[100.0, 100.5, "hello", 0.9]]
    assert store.segments.find(profiles=["other"]) == []


def test_time_filters(tmp_path):
    store = Store(tmp_path / "e.db")
    for i, t in enumerate((100.0, 200.0, 300.0)):
        store.utterances.add(
            uid=f"u{i}",
            profile="p",
            source="mic",
            start=t,
            end=t + 2,
            model="m",
            language="en",
            segments=[seg(t, f"words {i}")],
        )
    assert [s.text for s in store.segments.find(since=150, until=250)] == ["words 1"]


def test_new_migration_backs_up_and_keeps_transcripts(tmp_path, monkeypatch):
    """A database of the first schema, written as that version wrote it, is upgraded."""
    path = tmp_path / "e.db"
    every = store_module.MIGRATIONS
    monkeypatch.setattr(store_module, "MIGRATIONS", every[:1])
    Store(path).close()
    v1 = sqlite3.connect(path)
    v1.execute(
        "INSERT INTO utterances (id, uid, profile, source, start, end, model, transcribed_at)"
        " VALUES (1, 'u1', 'p', 'mic', 1.0, 2.0, 'm', 0)"
    )
    v1.execute(
        "INSERT INTO segments (id, utterance_id, profile, source, start, end, text, avg_logprob,"
        " no_speech_prob, compression_ratio, words) VALUES"
        " (1, 1, 'p', 'mic', 1.0, 2.0, 'remember this', -0.2, 0.05, 1.3, '[]')"
    )
    v1.commit()
    v1.close()
    extra = (99, "a later column", "ALTER TABLE segments ADD COLUMN mood TEXT")
    monkeypatch.setattr(store_module, "MIGRATIONS", [*every, extra])
    upgraded = Store(path)
    assert upgraded.schema_version() == 99
    assert [s.text for s in upgraded.segments.find()] == ["remember this"]
    backup = tmp_path / "e.db.v1.bak"
    assert backup.exists()
    rows = sqlite3.connect(backup).execute("SELECT text FROM segments").fetchall()
    assert rows == [("remember this",)]
    upgraded.utterances.add(
        uid="u2",
        profile="p",
        source="mic",
        start=3.0,
        end=4.0,
        model="m",
        language="en",
        segments=[seg(3.0, "and this")],
    )
    assert [s.text for s in upgraded.segments.find()] == ["remember this", "and this"]


def test_ledger_records_spans_and_crash_gap(tmp_path):
    store = Store(tmp_path / "e.db")
    ledger = CaptureLedger(store, pid=1, now=1000.0)
    ledger.record(LISTENING, source="microphone")
    ledger.record(LISTENING, source="microphone")  # no change, no new span
    ledger.record(GAP, source="microphone", reason="device lost")
    ledger.beat()
    # the process dies without close(): the next run records a crash gap
    CaptureLedger(store, pid=2)
    spans = store.runs.spans()
    assert [(s.state, s.reason) for s in spans] == [
        (LISTENING, None),
        (GAP, "device lost"),
        (GAP, "crash"),
    ]
    assert spans[-1].start == spans[-2].end


def test_clean_stop_then_start_records_not_running(tmp_path):
    store = Store(tmp_path / "e.db")
    first = CaptureLedger(store, pid=1)
    first.record(LISTENING, source="mic")
    first.close()
    CaptureLedger(store, pid=2)
    assert store.runs.spans()[-1].reason == "not running"


def test_minutes_summarise_listening_gaps_and_speech(tmp_path):
    store = Store(tmp_path / "e.db")
    run = store.runs.begin(1, 0.0)
    span = store.runs.open_span(
        run_id=run, state=LISTENING, source="mic", reason=None, now=60.0, previous=None
    )
    span = store.runs.open_span(
        run_id=run, state=GAP, source="mic", reason="device lost", now=90.0, previous=span
    )
    store.runs.end(run, 120.0, span)
    store.utterances.add(
        uid="u",
        profile="p",
        source="mic",
        start=70.0,
        end=80.0,
        model="m",
        language="en",
        segments=[seg(70.0, "hi")],
    )
    rows = minutes(store, 60.0, 119.0)
    assert rows == [
        {
            "minute": 60,
            "listening": {"mic": 30.0},
            "gaps": {"device lost": 30.0},
            "speech": {"mic": 10.0},
            "switches": [],
            "server_away": {},
        }
    ]


def test_minutes_show_each_switch_of_input_with_its_reason(tmp_path):
    store = Store(tmp_path / "e.db")
    run = store.runs.begin(1, 60.0)
    span = store.runs.open_span(
        run_id=run, state=LISTENING, source="mic", reason=None, now=60.0, previous=None
    )
    note = "switched from mic: lav appeared"
    span = store.runs.open_span(
        run_id=run, state=LISTENING, source="lav", reason=note, now=75.0, previous=span
    )
    store.runs.end(run, 120.0, span)
    (row,) = minutes(store, 60.0, 119.0)
    assert row["listening"] == {"mic": 15.0, "lav": 45.0}
    assert row["switches"] == [{"at": 75.0, "to": "lav", "why": note}]


def test_database_file_is_private(tmp_path):
    import os

    old = os.umask(0o077)
    try:
        Store(tmp_path / "e.db")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "e.db").stat().st_mode) == 0o600


def test_a_commit_that_fails_is_rolled_back_and_the_store_goes_on(tmp_path):
    store = Store(tmp_path / "e.db")
    conn = store.connection()
    conn.execute(  # a constraint SQLite checks only at COMMIT, as a full disk fails there
        "CREATE TABLE checked_at_commit (utterance_id INTEGER REFERENCES utterances (id)"
        " DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction() as tx:
            tx.execute("INSERT INTO checked_at_commit VALUES (42)")
            tx.execute("INSERT INTO index_marks (profile, last_segment_id) VALUES ('p', 7)")
    assert not conn.in_transaction
    assert store.index_marks.get("p") == 0  # nothing of the failed transaction stayed
    store.index_marks.set("p", 9)  # the next write works
    assert store.index_marks.get("p") == 9


def test_two_processes_starting_on_a_new_store_migrate_it_once(tmp_path):
    script = (
        "import sys, time; from pathlib import Path; from daemon.storage.store import Store;"
        "time.sleep(max(0, float(sys.argv[2]) - time.time())); Store(Path(sys.argv[1]))"
    )
    for attempt in range(5):
        path = tmp_path / f"race{attempt}.db"
        at = str(time.time() + 1.0)
        racers = [
            subprocess.Popen([sys.executable, "-c", script, str(path), at], stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        errors = [r.communicate(timeout=60)[1].decode() for r in racers]
        assert [r.returncode for r in racers] == [0, 0, 0], errors
        versions = sqlite3.connect(path).execute("SELECT version FROM schema_migrations").fetchall()
        assert sorted(v for (v,) in versions) == [m[0] for m in store_module.MIGRATIONS]


def test_a_migration_script_is_split_where_sqlite_ends_a_statement():
    script = "CREATE TABLE a (x TEXT DEFAULT 'one;two');\n CREATE TABLE b (y);\n"
    assert [s.strip() for s in store_module._statements(script)] == [
        "CREATE TABLE a (x TEXT DEFAULT 'one;two');",
        "CREATE TABLE b (y);",
    ]
