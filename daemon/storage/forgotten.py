"""`ForgottenSpans`, the store's repository of the spans the user asked to forget (the job that
forgets them is `forgetting.py`; deleting what was stored of them is `Utterances.forget`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.storage.store import Store

__all__ = ["ForgottenSpans"]


class ForgottenSpans:
    """The `forgotten_spans` table: each span asked to be forgotten, kept for good so speech of
    it that arrives later (in flight, synced by a wearable, imported) is dropped too."""

    def __init__(self, store: Store):
        self._store = store

    def remember(self, since: float, until: float, now: float) -> None:
        with self._store.transaction() as tx:
            tx.execute(
                "INSERT INTO forgotten_spans (since, until, asked) VALUES (?, ?, ?)",
                (since, until, now),
            )

    def spans(self) -> list[tuple[float, float]]:
        """Every span asked to be forgotten, as (since, until), in order of since."""
        rows = self._store.connection().execute(
            "SELECT since, until FROM forgotten_spans ORDER BY since"
        )
        return [(r[0], r[1]) for r in rows]
