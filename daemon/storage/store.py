"""The store: one SQLite database in WAL mode, the source of truth for everything that was heard.

`Store` is the connection (one per thread), its transactions and its migrations. Each kind of
data has a repository of its own, an attribute of the store, which holds that data's SQL:

- `store.utterances` (`utterances.py`): utterances with their segments; adding, forgetting and
  removing them, and letting go of their audio
- `store.segments` (`segments.py`): reading segments, by profile, time or id
- `store.index_marks` (`index_marks.py`): how far each search index has caught up
- `store.runs` (`runs.py`): the daemon's runs and the capture ledger (what was heard, from which
  source, and every gap with its reason)
- `store.wearables` (`wearables.py`): paired wearables and the request nonces they used
- `store.uploads` (`uploads.py`): the recordings wearables uploaded
- `store.forgotten` (`forgotten.py`): the spans the user asked to forget

Schema changes are numbered migrations recorded in `schema_migrations`; the database is backed up
before any migration runs, and no migration drops or rewrites a transcript.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.storage.forgotten import ForgottenSpans
from daemon.storage.index_marks import IndexMarks
from daemon.storage.runs import Runs
from daemon.storage.segments import Segments
from daemon.storage.uploads import Uploads
from daemon.storage.utterances import Utterances
from daemon.storage.wearables import Wearables

__all__ = ["Store", "MIGRATIONS"]

log = logging.getLogger(__name__)

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "utterances, segments, capture ledger, runs, index marks",
        """
        CREATE TABLE utterances (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            profile TEXT NOT NULL,
            source TEXT NOT NULL,
            start REAL NOT NULL,
            end REAL NOT NULL,
            model TEXT NOT NULL,
            language TEXT,
            audio_path TEXT,
            transcribed_at REAL NOT NULL
        );
        CREATE INDEX utterances_profile_start ON utterances (profile, start);
        CREATE TABLE segments (
            id INTEGER PRIMARY KEY,
            utterance_id INTEGER NOT NULL REFERENCES utterances (id) ON DELETE CASCADE,
            profile TEXT NOT NULL,
            source TEXT NOT NULL,
            start REAL NOT NULL,
            end REAL NOT NULL,
            text TEXT NOT NULL,
            avg_logprob REAL NOT NULL,
            no_speech_prob REAL NOT NULL,
            compression_ratio REAL NOT NULL,
            words TEXT NOT NULL,
            flag TEXT
        );
        CREATE INDEX segments_profile_start ON segments (profile, start);
        CREATE INDEX segments_utterance ON segments (utterance_id);
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            pid INTEGER NOT NULL,
            started REAL NOT NULL,
            heartbeat REAL NOT NULL,
            stopped REAL
        );
        CREATE TABLE capture_spans (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs (id),
            state TEXT NOT NULL CHECK (state IN ('listening', 'gap')),
            source TEXT,
            reason TEXT,
            start REAL NOT NULL,
            end REAL NOT NULL
        );
        CREATE INDEX capture_spans_start ON capture_spans (start);
        CREATE TABLE index_marks (
            profile TEXT PRIMARY KEY,
            last_segment_id INTEGER NOT NULL
        );
        """,
    ),
    (
        2,
        "segment ids are never reused once deleted (indexes follow the store by id)",
        """
        CREATE TABLE segment_id_floor (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            floor INTEGER NOT NULL
        );
        """,
    ),
    (
        3,
        "paired wearables, the request nonces they used and the recordings they uploaded",
        """
        CREATE TABLE wearables (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            secret BLOB NOT NULL,
            profile TEXT,
            paired REAL NOT NULL,
            last_seen REAL,
            revoked REAL
        );
        CREATE TABLE wearable_nonces (
            device_id TEXT NOT NULL,
            nonce TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (device_id, nonce)
        );
        CREATE INDEX wearable_nonces_at ON wearable_nonces (at);
        CREATE TABLE wearable_uploads (
            device_id TEXT NOT NULL,
            upload_id TEXT NOT NULL,
            recorded_at REAL NOT NULL,
            seconds REAL NOT NULL,
            received REAL NOT NULL,
            done REAL,
            PRIMARY KEY (device_id, upload_id)
        );
        """,
    ),
    (
        4,
        "spans the user asked to forget, so speech of them synced later is dropped too",
        """
        CREATE TABLE forgotten_spans (
            since REAL NOT NULL,
            until REAL NOT NULL,
            asked REAL NOT NULL
        );
        """,
    ),
    (
        5,
        "who said a segment, where it is known (imported transcripts name their speakers)",
        """
        ALTER TABLE segments ADD COLUMN speaker TEXT;
        """,
    ),
    (
        6,
        "the ledger notes when a transcription server is away and when it answers again",
        """
        CREATE TABLE capture_spans_6 (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs (id),
            state TEXT NOT NULL
                CHECK (state IN ('listening', 'gap', 'server away', 'server answers')),
            source TEXT,
            reason TEXT,
            start REAL NOT NULL,
            end REAL NOT NULL
        );
        INSERT INTO capture_spans_6 (id, run_id, state, source, reason, start, end)
            SELECT id, run_id, state, source, reason, start, end FROM capture_spans;
        DROP TABLE capture_spans;
        ALTER TABLE capture_spans_6 RENAME TO capture_spans;
        CREATE INDEX capture_spans_start ON capture_spans (start);
        """,
    ),
]


def _statements(sql: str) -> Iterator[str]:
    """The SQL statements of a script, split where SQLite says one is complete (a ';' inside a
    string or a trigger body does not end one)."""
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


class Store:
    """One SQLite database; safe to use from several threads and processes.

    Its repositories share its connection and its transactions: `connection()` for reading,
    `transaction()` for writing."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0):
        self.path = path
        self.busy_timeout_s = busy_timeout_s  # how long a write waits for another's lock
        self._local = threading.local()
        self._migrate()
        self.utterances = Utterances(self)
        self.segments = Segments(self)
        self.index_marks = IndexMarks(self)
        self.runs = Runs(self)
        self.wearables = Wearables(self)
        self.uploads = Uploads(self)
        self.forgotten = ForgottenSpans(self)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened the first time the thread asks."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            conn.row_factory = sqlite3.Row
            self._use_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch a new database to WAL. The switch takes a lock that SQLite's busy timeout does
        not wait for, so two processes opening a new store at once wait for each other here."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back if anything in it fails, the COMMIT included
        (a full disk fails there), so the connection is never left inside a transaction."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- migrations -----------------------------------------------------------------------

    @staticmethod
    def _applied(conn: sqlite3.Connection) -> set[int]:
        return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}

    def _migrate(self) -> None:
        """Apply pending migrations in one transaction; a second process starting at the same
        time waits for the lock, then finds nothing left to do."""
        conn = self.connection()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)"
        )
        if all(m[0] in self._applied(conn) for m in MIGRATIONS):
            return
        with self.transaction() as tx:
            applied = self._applied(tx)  # again, under the write lock
            pending = [m for m in MIGRATIONS if m[0] not in applied]
            if pending and applied:
                self._backup(max(applied))
            for version, name, sql in pending:
                for statement in _statements(sql):
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                    (version, name, time.time()),
                )
                log.info("store migrated to version %d (%s)", version, name)

    def _backup(self, version: int) -> None:
        """Copy the database as it is now, through a reader of its own: the migrating
        connection holds the write lock, and WAL lets another connection read beside it."""
        target = self.path.with_name(f"{self.path.name}.v{version}.bak")
        source, dest = sqlite3.connect(self.path), sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
        log.info("store backed up to %s before migrating", target)

    def schema_version(self) -> int:
        row = self.connection().execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)
