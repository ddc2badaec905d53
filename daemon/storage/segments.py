"""Segments as read back from the store, and `Segments`, the store's repository that reads them:
by profile, time or id, in batches for a whole profile or a period."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.storage.store import Store

__all__ = ["Segments", "StoredSegment"]


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


_SEGMENT_COLUMNS = (
    "id, utterance_id, profile, source, start, end, text, avg_logprob, no_speech_prob, "
    "compression_ratio, flag, speaker"
)


class Segments:
    """The `segments` table, read only: segments are written and deleted with their utterance
    (`Utterances`). Also the highest segment id of a profile, where its search index aims."""

    def __init__(self, store: Store):
        self._store = store

    def find(
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
        return [StoredSegment(**dict(row)) for row in self._store.connection().execute(sql, args)]

    def iter_all(self, *, profile: str, batch: int = 20_000) -> Iterator[StoredSegment]:
        """Every unflagged segment of a profile in id order, read in batches."""
        last = 0
        while True:
            rows = self.find(profiles=[profile], after_id=last, include_flagged=False, limit=batch)
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    def count_period(self, *, profile: str, since: float, until: float) -> int:
        """How many of a profile's segments were heard in [since, until]."""
        row = (
            self._store.connection()
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
        cursor = self._store.connection().cursor()
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

    def words(self, segment_id: int) -> list[list]:
        """A segment's word timings: [start, end, word, probability] each."""
        row = (
            self._store.connection()
            .execute("SELECT words FROM segments WHERE id = ?", (segment_id,))
            .fetchone()
        )
        return json.loads(row[0]) if row else []

    def max_id(self, profile: str) -> int:
        row = (
            self._store.connection()
            .execute("SELECT MAX(id) FROM segments WHERE profile = ?", (profile,))
            .fetchone()
        )
        return int(row[0] or 0)
