"""Utterances and the segments heard in them: what a new one looks like, what is read back, and
`Utterances`, the store's repository that writes them (segments are only ever written with their
utterance) and deletes them."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.storage.store import Store

__all__ = ["Utterances", "NewSegment", "NewUtterance", "StoredUtterance", "Forgotten"]


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
    """What `Utterances.forget` deleted: for the index and the audio folder to follow."""

    utterances: int
    segment_ids: dict[str, list[int]]  # by profile
    audio_paths: list[str]


class Utterances:
    """The `utterances` table, and the `segments` table where it is written: an utterance is
    added with its segments in one transaction, and forgetting or removing one deletes its
    segments too (raising the floor of segment ids, `segment_id_floor`, so none is reused).
    Also what is asked of utterances as such: the profiles that have any, those heard alongside
    a time span, and letting go of their audio."""

    def __init__(self, store: Store):
        self._store = store

    def has(self, uid: str) -> bool:
        row = (
            self._store.connection()
            .execute("SELECT 1 FROM utterances WHERE uid = ?", (uid,))
            .fetchone()
        )
        return row is not None

    def add(
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
        with self._store.transaction() as tx:
            return self._insert(tx, utterance)

    def add_many(self, utterances: Sequence[NewUtterance]) -> int:
        """Store several utterances in one transaction (all or none); returns how many were new."""
        with self._store.transaction() as tx:
            return sum(self._insert(tx, u) is not None for u in utterances)

    @staticmethod
    def _insert(tx: sqlite3.Connection, u: NewUtterance) -> int | None:
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

    def find(self, *, profile: str | None = None) -> list[StoredUtterance]:
        """Utterances in time order, of one profile or of all of them."""
        sql = "SELECT id, uid, profile, source, start, end, audio_path FROM utterances"
        args: list = []
        if profile is not None:
            sql += " WHERE profile = ?"
            args.append(profile)
        sql += " ORDER BY start, id"
        return [StoredUtterance(**dict(r)) for r in self._store.connection().execute(sql, args)]

    def first_named(self, prefix: str) -> StoredUtterance | None:
        """The utterance whose uid comes first among those that start with `prefix`."""
        row = (
            self._store.connection()
            .execute(
                "SELECT id, uid, profile, source, start, end, audio_path FROM utterances"
                " WHERE uid >= ? AND uid < ? ORDER BY uid LIMIT 1",
                (prefix, prefix + "\uffff"),
            )
            .fetchone()
        )
        return StoredUtterance(**dict(row)) if row else None

    def get(self, utterance_id: int) -> StoredUtterance | None:
        row = (
            self._store.connection()
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
        return self._delete(where, (since, until, profile) if profile else (since, until))

    def remove(self, utterance_id: int) -> Forgotten:
        """Delete one utterance and its segments."""
        return self._delete("id = ?", (utterance_id,))

    def _delete(self, where: str, args: tuple) -> Forgotten:
        with self._store.transaction() as tx:
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
        rows = self._store.connection().execute(
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
        with self._store.transaction() as tx:
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

    def profiles(self) -> list[str]:
        """The profiles that have utterances stored."""
        rows = self._store.connection().execute(
            "SELECT DISTINCT profile FROM utterances ORDER BY profile"
        )
        return [r[0] for r in rows]
