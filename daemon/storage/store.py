"""The store: SQLite in WAL mode, the source of truth for everything that was heard.

Holds utterances and their segments, the capture ledger (what was heard, from which source,
and every gap with its reason), the daemon's runs, and how far each search index has caught up.
Schema changes are numbered migrations recorded in `schema_migrations`; the database is backed up
before any migration runs, and no migration drops or rewrites a transcript.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Store",
    "StoredSegment",
    "StoredUtterance",
    "Forgotten",
    "NewSegment",
    "NewUtterance",
    "CaptureSpan",
    "PairedWearable",
    "WearableUpload",
    "MIGRATIONS",
]

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


@dataclass(frozen=True)
class NewSegment:
    """A segment about to be stored: times are absolute (seconds since the epoch)."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: Sequence[tuple[float, float, str, float]]
    flag: str | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class NewUtterance:
    """An utterance about to be stored, with its segments."""

    uid: str
    profile: str
    source: str
    start: float
    end: float
    model: str
    language: str | None
    segments: Sequence[NewSegment]
    audio_path: str | None = None


@dataclass(frozen=True)
class StoredSegment:
    id: int
    utterance_id: int
    profile: str
    source: str
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    flag: str | None
    speaker: str | None = None

    @property
    def confidence(self) -> float:
        """A 0..1 figure from Whisper's mean token log-probability."""
        return round(math.exp(min(0.0, self.avg_logprob)), 4)


@dataclass(frozen=True)
class StoredUtterance:
    id: int
    uid: str
    profile: str
    source: str
    start: float
    end: float
    audio_path: str | None


@dataclass(frozen=True)
class Forgotten:
    """What `Store.forget` deleted: for the index and the audio folder to follow."""

    utterances: int
    segment_ids: dict[str, list[int]]  # by profile
    audio_paths: list[str]


@dataclass(frozen=True)
class PairedWearable:
    """A network wearable that traded a pairing code for its id and secret."""

    id: str
    name: str
    secret: bytes
    profile: str | None
    paired: float
    last_seen: float | None
    revoked: float | None


@dataclass(frozen=True)
class WearableUpload:
    """A recording a wearable made while away, received whole and kept until it is spooled."""

    device_id: str
    upload_id: str
    recorded_at: float
    seconds: float
    received: float
    done: float | None


@dataclass(frozen=True)
class CaptureSpan:
    """One stretch of the capture ledger: listening to a source, or a gap with its reason."""

    id: int
    state: str
    source: str | None
    reason: str | None
    start: float
    end: float


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


_SEGMENT_COLUMNS = (
    "id, utterance_id, profile, source, start, end, text, avg_logprob, no_speech_prob, "
    "compression_ratio, flag, speaker"
)


class Store:
    """One SQLite database; safe to use from several threads and processes."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0):
        self.path = path
        self.busy_timeout_s = busy_timeout_s  # how long a write waits for another's lock
        self._local = threading.local()
        self._migrate()

    # -- connections and migrations -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
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
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back if anything in it fails, the COMMIT included
        (a full disk fails there), so the connection is never left inside a transaction."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _applied(conn: sqlite3.Connection) -> set[int]:
        return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}

    def _migrate(self) -> None:
        """Apply pending migrations in one transaction; a second process starting at the same
        time waits for the lock, then finds nothing left to do."""
        conn = self._connect()
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)"
        )
        if all(m[0] in self._applied(conn) for m in MIGRATIONS):
            return
        with self._transaction() as tx:
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
        row = self._connect().execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    # -- utterances and segments ----------------------------------------------------------

    def has_utterance(self, uid: str) -> bool:
        row = self._connect().execute("SELECT 1 FROM utterances WHERE uid = ?", (uid,)).fetchone()
        return row is not None

    def add_utterance(
        self,
        *,
        uid: str,
        profile: str,
        source: str,
        start: float,
        end: float,
        model: str,
        language: str | None,
        segments: Sequence[NewSegment],
        audio_path: str | None = None,
    ) -> int | None:
        """Store an utterance with its segments in one transaction; None if already stored."""
        utterance = NewUtterance(
            uid=uid,
            profile=profile,
            source=source,
            start=start,
            end=end,
            model=model,
            language=language,
            segments=segments,
            audio_path=audio_path,
        )
        with self._transaction() as tx:
            return self._insert_utterance(tx, utterance)

    def add_utterances(self, utterances: Sequence[NewUtterance]) -> int:
        """Store several utterances in one transaction (all or none); returns how many were new."""
        with self._transaction() as tx:
            return sum(self._insert_utterance(tx, u) is not None for u in utterances)

    @staticmethod
    def _insert_utterance(tx: sqlite3.Connection, u: NewUtterance) -> int | None:
        cur = tx.execute(
            "INSERT OR IGNORE INTO utterances "
            "(uid, profile, source, start, end, model, language, audio_path, transcribed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (u.uid, u.profile, u.source, u.start, u.end, u.model, u.language, u.audio_path,
             time.time()),
        )  # fmt: skip
        if cur.rowcount == 0:
            return None
        utterance_id = cur.lastrowid
        # Ids above both the highest stored and the highest ever deleted: SQLite would hand
        # a deleted id out again, and indexes catch up by id.
        last_id = tx.execute(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM segments), 0),"
            " COALESCE((SELECT floor FROM segment_id_floor), 0))"
        ).fetchone()[0]
        tx.executemany(
            "INSERT INTO segments (id, utterance_id, profile, source, start, end, text, "
            "avg_logprob, no_speech_prob, compression_ratio, words, flag, speaker) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    last_id + 1 + i,
                    utterance_id,
                    u.profile,
                    u.source,
                    s.start,
                    s.end,
                    s.text,
                    s.avg_logprob,
                    s.no_speech_prob,
                    s.compression_ratio,
                    json.dumps([list(w) for w in s.words]),
                    s.flag,
                    s.speaker,
                )
                for i, s in enumerate(u.segments)
            ],
        )
        return utterance_id

    def segments(
        self,
        *,
        profiles: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int | None = None,
        include_flagged: bool = True,
        limit: int | None = None,
    ) -> list[StoredSegment]:
        """Segments in time order (or id order with after_id), filtered as asked."""
        where, args = [], []
        if profiles is not None:
            where.append(f"profile IN ({','.join('?' * len(profiles))})")
            args.extend(profiles)
        if since is not None:
            where.append("end >= ?")
            args.append(since)
        if until is not None:
            where.append("start <= ?")
            args.append(until)
        if after_id is not None:
            where.append("id > ?")
            args.append(after_id)
        if not include_flagged:
            where.append("flag IS NULL")
        sql = f"SELECT {_SEGMENT_COLUMNS} FROM segments"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id" if after_id is not None else " ORDER BY start, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [StoredSegment(**dict(row)) for row in self._connect().execute(sql, args)]

    def iter_segments(self, *, profile: str, batch: int = 20_000) -> Iterator[StoredSegment]:
        """Every unflagged segment of a profile in id order, read in batches."""
        last = 0
        while True:
            rows = self.segments(
                profiles=[profile], after_id=last, include_flagged=False, limit=batch
            )
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    def count_period(self, *, profile: str, since: float, until: float) -> int:
        """How many of a profile's segments were heard in [since, until]."""
        row = (
            self._connect()
            .execute(
                "SELECT COUNT(*) FROM segments WHERE profile = ? AND start >= ? AND start <= ?",
                (profile, since, until),
            )
            .fetchone()
        )
        return int(row[0])

    def iter_period(
        self, *, profile: str, since: float, until: float, batch: int = 5_000
    ) -> Iterator[StoredSegment]:
        """A profile's unflagged segments heard in [since, until], in time order, read in
        batches (a week of speech never sits in memory at once)."""
        cursor = self._connect().cursor()
        cursor.row_factory = None  # plain tuples: a week is read several times faster
        after: tuple[float, int] = (float("-inf"), 0)
        while True:
            rows = cursor.execute(
                f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE profile = ? AND end >= ?"
                " AND start <= ? AND flag IS NULL AND (start > ? OR (start = ? AND id > ?))"
                " ORDER BY start, id LIMIT ?",
                (profile, since, until, after[0], after[0], after[1], batch),
            ).fetchall()
            yield from (StoredSegment(*row) for row in rows)
            if len(rows) < batch:
                return
            after = (rows[-1][4], rows[-1][0])

    def segment_words(self, segment_id: int) -> list[list]:
        row = (
            self._connect()
            .execute("SELECT words FROM segments WHERE id = ?", (segment_id,))
            .fetchone()
        )
        return json.loads(row[0]) if row else []

    def utterances(self, *, profile: str | None = None) -> list[StoredUtterance]:
        sql = "SELECT id, uid, profile, source, start, end, audio_path FROM utterances"
        args: list = []
        if profile is not None:
            sql += " WHERE profile = ?"
            args.append(profile)
        sql += " ORDER BY start, id"
        return [StoredUtterance(**dict(r)) for r in self._connect().execute(sql, args)]

    def first_utterance_named(self, prefix: str) -> StoredUtterance | None:
        """The utterance whose uid comes first among those that start with `prefix`."""
        row = (
            self._connect()
            .execute(
                "SELECT id, uid, profile, source, start, end, audio_path FROM utterances"
                " WHERE uid >= ? AND uid < ? ORDER BY uid LIMIT 1",
                (prefix, prefix + "\uffff"),
            )
            .fetchone()
        )
        return StoredUtterance(**dict(row)) if row else None

    def utterance(self, utterance_id: int) -> StoredUtterance | None:
        row = (
            self._connect()
            .execute(
                "SELECT id, uid, profile, source, start, end, audio_path FROM utterances"
                " WHERE id = ?",
                (utterance_id,),
            )
            .fetchone()
        )
        return StoredUtterance(**dict(row)) if row else None

    def forget(self, since: float, until: float, *, profile: str | None = None) -> Forgotten:
        """Delete every utterance heard (even partly) between since and until, in one profile
        or in all of them."""
        where = "end > ? AND start < ?" + (" AND profile = ?" if profile else "")
        return self._delete_utterances(
            where, (since, until, profile) if profile else (since, until)
        )

    def remember_forgotten(self, since: float, until: float, now: float) -> None:
        with self._transaction() as tx:
            tx.execute(
                "INSERT INTO forgotten_spans (since, until, asked) VALUES (?, ?, ?)",
                (since, until, now),
            )

    def forgotten_spans(self) -> list[tuple[float, float]]:
        rows = self._connect().execute("SELECT since, until FROM forgotten_spans ORDER BY since")
        return [(r[0], r[1]) for r in rows]

    def remove_utterance(self, utterance_id: int) -> Forgotten:
        """Delete one utterance and its segments."""
        return self._delete_utterances("id = ?", (utterance_id,))

    def _delete_utterances(self, where: str, args: tuple) -> Forgotten:
        with self._transaction() as tx:
            overlap = f"FROM utterances WHERE {where}"
            rows = tx.execute(f"SELECT id, audio_path {overlap}", args).fetchall()
            segment_ids: dict[str, list[int]] = {}
            for r in tx.execute(
                f"SELECT id, profile FROM segments WHERE utterance_id IN (SELECT id {overlap})",
                args,
            ):
                segment_ids.setdefault(r["profile"], []).append(r["id"])
            deleted = [i for ids in segment_ids.values() for i in ids]
            if deleted:
                tx.execute(
                    "INSERT INTO segment_id_floor (one, floor) VALUES (1, ?) ON CONFLICT (one)"
                    " DO UPDATE SET floor = MAX(floor, excluded.floor)",
                    (max(deleted),),
                )
            tx.execute(f"DELETE {overlap}", args)  # segments go with them (cascade)
        return Forgotten(
            utterances=len(rows),
            segment_ids=segment_ids,
            audio_paths=[r["audio_path"] for r in rows if r["audio_path"]],
        )

    def heard_alongside(
        self, *, profile: str, start: float, end: float
    ) -> list[tuple[StoredUtterance, str, float]]:
        """Utterances of a profile heard live (imports left out) that overlap a time span, each
        with its text and mean avg_logprob (for telling speech heard twice: by another input,
        or by the same one when its audio arrived twice)."""
        rows = self._connect().execute(
            "SELECT u.id, u.uid, u.profile, u.source, u.start, u.end, u.audio_path, "
            "group_concat(s.text, ' ') AS text, avg(s.avg_logprob) AS logprob "
            "FROM utterances u JOIN segments s ON s.utterance_id = u.id "
            "WHERE u.profile = ? AND u.source NOT LIKE 'file:%' "
            "AND u.end > ? AND u.start < ? "
            "GROUP BY u.id ORDER BY u.start",
            (profile, start, end),
        )
        found = []
        for r in rows:
            row = dict(r)
            text, logprob = row.pop("text"), row.pop("logprob")
            found.append((StoredUtterance(**row), text or "", float(logprob)))
        return found

    def drop_audio(self, profile: str, before: float) -> list[str]:
        """Let go of a profile's audio heard before a time; returns the files to delete."""
        with self._transaction() as tx:
            rows = tx.execute(
                "SELECT audio_path FROM utterances WHERE profile = ? AND end < ?"
                " AND audio_path IS NOT NULL",
                (profile, before),
            ).fetchall()
            tx.execute(
                "UPDATE utterances SET audio_path = NULL WHERE profile = ? AND end < ?",
                (profile, before),
            )
        return [r["audio_path"] for r in rows]

    def profiles_with_data(self) -> list[str]:
        rows = self._connect().execute("SELECT DISTINCT profile FROM utterances ORDER BY profile")
        return [r[0] for r in rows]

    def max_segment_id(self, profile: str) -> int:
        row = (
            self._connect()
            .execute("SELECT MAX(id) FROM segments WHERE profile = ?", (profile,))
            .fetchone()
        )
        return int(row[0] or 0)

    # -- index marks ------------------------------------------------------------------------

    def index_mark(self, profile: str) -> int:
        row = (
            self._connect()
            .execute("SELECT last_segment_id FROM index_marks WHERE profile = ?", (profile,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def set_index_mark(self, profile: str, last_segment_id: int) -> None:
        with self._transaction() as tx:
            tx.execute(
                "INSERT INTO index_marks (profile, last_segment_id) VALUES (?, ?) "
                "ON CONFLICT (profile) DO UPDATE SET last_segment_id = excluded.last_segment_id",
                (profile, last_segment_id),
            )

    # -- runs and the capture ledger --------------------------------------------------------

    def begin_run(self, pid: int, now: float) -> int:
        """Record a daemon start and the gap since the last run: 'crash' or 'not running'."""
        with self._transaction() as tx:
            crashed = tx.execute("SELECT id, heartbeat FROM runs WHERE stopped IS NULL").fetchall()
            for run in crashed:
                tx.execute(
                    "INSERT INTO capture_spans (run_id, state, source, reason, start, end) "
                    "VALUES (?, 'gap', NULL, 'crash', ?, ?)",
                    (run["id"], run["heartbeat"], now),
                )
                tx.execute("UPDATE runs SET stopped = heartbeat WHERE id = ?", (run["id"],))
            last_stop = tx.execute("SELECT MAX(stopped) FROM runs").fetchone()[0]
            if not crashed and last_stop is not None and last_stop < now:
                tx.execute(
                    "INSERT INTO capture_spans (run_id, state, source, reason, start, end) "
                    "VALUES (NULL, 'gap', NULL, 'not running', ?, ?)",
                    (last_stop, now),
                )
            cur = tx.execute(
                "INSERT INTO runs (pid, started, heartbeat) VALUES (?, ?, ?)", (pid, now, now)
            )
            return cur.lastrowid

    def heartbeat(self, run_id: int, now: float, span_id: int | None) -> None:
        """Extend the run and its current ledger span to `now` (what a kill -9 leaves behind)."""
        with self._transaction() as tx:
            tx.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (now, run_id))
            if span_id is not None:
                tx.execute("UPDATE capture_spans SET end = ? WHERE id = ?", (now, span_id))

    def end_run(self, run_id: int, now: float, span_id: int | None) -> None:
        with self._transaction() as tx:
            tx.execute(
                "UPDATE runs SET heartbeat = ?, stopped = ? WHERE id = ?", (now, now, run_id)
            )
            if span_id is not None:
                tx.execute("UPDATE capture_spans SET end = ? WHERE id = ?", (now, span_id))

    def open_span(
        self,
        *,
        run_id: int,
        state: str,
        source: str | None,
        reason: str | None,
        now: float,
        previous: int | None,
    ) -> int:
        """Close the previous ledger span at `now` and open a new one."""
        with self._transaction() as tx:
            if previous is not None:
                tx.execute("UPDATE capture_spans SET end = ? WHERE id = ?", (now, previous))
            cur = tx.execute(
                "INSERT INTO capture_spans (run_id, state, source, reason, start, end) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, state, source, reason, now, now),
            )
            return cur.lastrowid

    def capture_spans(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[CaptureSpan]:
        sql = "SELECT id, state, source, reason, start, end FROM capture_spans WHERE 1"
        args: list = []
        if since is not None:
            sql += " AND end >= ?"
            args.append(since)
        if until is not None:
            sql += " AND start <= ?"
            args.append(until)
        sql += " ORDER BY start, id"
        return [CaptureSpan(**dict(r)) for r in self._connect().execute(sql, args)]

    def speech_seconds(self, start: float, end: float) -> list[tuple[str, float]]:
        """Seconds of utterance per source that overlap [start, end)."""
        rows = self._connect().execute(
            "SELECT source, SUM(MIN(end, ?) - MAX(start, ?)) FROM utterances "
            "WHERE end > ? AND start < ? GROUP BY source",
            (end, start, start, end),
        )
        return [(r[0], float(r[1])) for r in rows]

    # -- paired wearables -----------------------------------------------------------------

    def add_wearable(self, wearable: PairedWearable) -> None:
        with self._transaction() as tx:
            tx.execute(
                "INSERT INTO wearables (id, name, secret, profile, paired, last_seen, revoked) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                dataclasses.astuple(wearable),
            )

    def wearables(self) -> list[PairedWearable]:
        rows = self._connect().execute(
            "SELECT id, name, secret, profile, paired, last_seen, revoked FROM wearables "
            "ORDER BY paired"
        )
        return [PairedWearable(**dict(r)) for r in rows]

    def wearable(self, device_id: str) -> PairedWearable | None:
        return next((w for w in self.wearables() if w.id == device_id), None)

    def revoke_wearable(self, name: str, now: float) -> int:
        """Revoke every paired (not yet revoked) wearable of that name; returns how many."""
        with self._transaction() as tx:
            cur = tx.execute(
                "UPDATE wearables SET revoked = ? WHERE name = ? AND revoked IS NULL", (now, name)
            )
            return cur.rowcount

    def use_nonce(self, device_id: str, nonce: str, now: float, *, forget_before: float) -> bool:
        """Record a request nonce; False if the device used it before (a replay)."""
        with self._transaction() as tx:
            tx.execute("DELETE FROM wearable_nonces WHERE at < ?", (forget_before,))
            try:
                tx.execute(
                    "INSERT INTO wearable_nonces (device_id, nonce, at) VALUES (?, ?, ?)",
                    (device_id, nonce, now),
                )
            except sqlite3.IntegrityError:
                return False
            tx.execute("UPDATE wearables SET last_seen = ? WHERE id = ?", (now, device_id))
        return True

    def upload(self, device_id: str, upload_id: str) -> WearableUpload | None:
        row = (
            self._connect()
            .execute(
                "SELECT device_id, upload_id, recorded_at, seconds, received, done "
                "FROM wearable_uploads WHERE device_id = ? AND upload_id = ?",
                (device_id, upload_id),
            )
            .fetchone()
        )
        return WearableUpload(**dict(row)) if row else None

    def add_upload(self, upload: WearableUpload) -> None:
        with self._transaction() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO wearable_uploads "
                "(device_id, upload_id, recorded_at, seconds, received, done) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                dataclasses.astuple(upload),
            )

    def pending_uploads(self) -> list[WearableUpload]:
        rows = self._connect().execute(
            "SELECT device_id, upload_id, recorded_at, seconds, received, done "
            "FROM wearable_uploads WHERE done IS NULL ORDER BY recorded_at"
        )
        return [WearableUpload(**dict(r)) for r in rows]

    def finish_upload(self, upload: WearableUpload, source: str, now: float) -> None:
        """Mark an upload spooled, and enter what it heard in the capture ledger."""
        self._close_upload(upload, source, "listening", "synced later", now)

    def set_aside_upload(
        self, upload: WearableUpload, source: str, reason: str, now: float
    ) -> None:
        """Mark an upload that cannot be cut into utterances as done, its span a gap with why."""
        self._close_upload(upload, source, "gap", reason, now)

    def _close_upload(
        self, upload: WearableUpload, source: str, state: str, reason: str, now: float
    ) -> None:
        with self._transaction() as tx:
            tx.execute(
                "UPDATE wearable_uploads SET done = ? WHERE device_id = ? AND upload_id = ?",
                (now, upload.device_id, upload.upload_id),
            )
            tx.execute(
                "INSERT INTO capture_spans (run_id, state, source, reason, start, end) "
                "VALUES (NULL, ?, ?, ?, ?, ?)",
                (state, source, reason, upload.recorded_at, upload.recorded_at + upload.seconds),
            )
