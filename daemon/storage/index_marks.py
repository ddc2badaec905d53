"""`IndexMarks`, the store's repository of how far each profile's search index has caught up."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.storage.store import Store

__all__ = ["IndexMarks"]


class IndexMarks:
    """The `index_marks` table: per profile, the id of the last segment its index holds."""

    def __init__(self, store: Store):
        self._store = store

    def get(self, profile: str) -> int:
        row = (
            self._store.connection()
            .execute("SELECT last_segment_id FROM index_marks WHERE profile = ?", (profile,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def set(self, profile: str, last_segment_id: int) -> None:
        with self._store.transaction() as tx:
            tx.execute(
                "INSERT INTO index_marks (profile, last_segment_id) VALUES (?, ?) "
                "ON CONFLICT (profile) DO UPDATE SET last_segment_id = excluded.last_segment_id",
                (profile, last_segment_id),
            )
