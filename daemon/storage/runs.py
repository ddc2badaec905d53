"""The capture ledger's data: the daemon's runs and the spans of what was heard, and `Runs`, the
store's repository of them (the ledger itself, which decides what to record, is
`daemon.capture.ledger`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.storage.store import Store

__all__ = ["Runs", "CaptureSpan"]


@dataclass(frozen=True)
class CaptureSpan:
    """One stretch of the capture ledger: listening to a source, or a gap with its reason."""

    id: int
    state: str
    source: str | None
    reason: str | None
    start: float
    end: float


class Runs:
    """The `runs` and `capture_spans` tables: each daemon run with its heartbeat, and the
    ledger's spans. Also the seconds of speech heard per source in a stretch of time, read from
    `utterances`, for the ledger's minutes. (A wearable's upload enters its own span, with the
    upload: `Uploads`.)"""

    def __init__(self, store: Store):
        self._store = store

    def begin(self, pid: int, now: float) -> int:
        """Record a daemon start and the gap since the last run: 'crash' or 'not running'."""
        with self._store.transaction() as tx:
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
        with self._store.transaction() as tx:
            tx.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (now, run_id))
            if span_id is not None:
                tx.execute("UPDATE capture_spans SET end = ? WHERE id = ?", (now, span_id))

    def end(self, run_id: int, now: float, span_id: int | None) -> None:
        with self._store.transaction() as tx:
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
        with self._store.transaction() as tx:
            if previous is not None:
                tx.execute("UPDATE capture_spans SET end = ? WHERE id = ?", (now, previous))
            cur = tx.execute(
                "INSERT INTO capture_spans (run_id, state, source, reason, start, end) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, state, source, reason, now, now),
            )
            return cur.lastrowid

    def spans(self, *, since: float | None = None, until: float | None = None) -> list[CaptureSpan]:
        """The ledger's spans in time order, those that reach into [since, until] if asked."""
        sql = "SELECT id, state, source, reason, start, end FROM capture_spans WHERE 1"
        args: list = []
        if since is not None:
            sql += " AND end >= ?"
            args.append(since)
        if until is not None:
            sql += " AND start <= ?"
            args.append(until)
        sql += " ORDER BY start, id"
        return [CaptureSpan(**dict(r)) for r in self._store.connection().execute(sql, args)]

    def speech_seconds(self, start: float, end: float) -> list[tuple[str, float]]:
        """Seconds of utterance per source that overlap [start, end)."""
        rows = self._store.connection().execute(
            "SELECT source, SUM(MIN(end, ?) - MAX(start, ?)) FROM utterances "
            "WHERE end > ? AND start < ? GROUP BY source",
            (end, start, start, end),
        )
        return [(r[0], float(r[1])) for r in rows]
