"""Recordings wearables uploaded, and `Uploads`, the store's repository of them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.storage.store import Store

__all__ = ["Uploads", "WearableUpload"]


@dataclass(frozen=True)
class WearableUpload:
    """A recording a wearable made while away, received whole and kept until it is spooled."""

    device_id: str
    upload_id: str
    recorded_at: float
    seconds: float
    received: float
    done: float | None


class Uploads:
    """The `wearable_uploads` table: each upload received, and when it was done with. An upload
    is marked done in the same transaction that enters its span in the capture ledger
    (`capture_spans`, otherwise kept by `Runs`)."""

    def __init__(self, store: Store):
        self._store = store

    def get(self, device_id: str, upload_id: str) -> WearableUpload | None:
        row = (
            self._store.connection()
            .execute(
                "SELECT device_id, upload_id, recorded_at, seconds, received, done "
                "FROM wearable_uploads WHERE device_id = ? AND upload_id = ?",
                (device_id, upload_id),
            )
            .fetchone()
        )
        return WearableUpload(**dict(row)) if row else None

    def add(self, upload: WearableUpload) -> None:
        with self._store.transaction() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO wearable_uploads "
                "(device_id, upload_id, recorded_at, seconds, received, done) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                dataclasses.astuple(upload),
            )

    def pending(self) -> list[WearableUpload]:
        """The uploads not yet done with, oldest recording first."""
        rows = self._store.connection().execute(
            "SELECT device_id, upload_id, recorded_at, seconds, received, done "
            "FROM wearable_uploads WHERE done IS NULL ORDER BY recorded_at"
        )
        return [WearableUpload(**dict(r)) for r in rows]

    def finish(self, upload: WearableUpload, source: str, now: float) -> None:
        """Mark an upload spooled, and enter what it heard in the capture ledger."""
        self._close(upload, source, "listening", "synced later", now)

    def set_aside(self, upload: WearableUpload, source: str, reason: str, now: float) -> None:
        """Mark an upload that cannot be cut into utterances as done, its span a gap with why."""
        self._close(upload, source, "gap", reason, now)

    def _close(
        self, upload: WearableUpload, source: str, state: str, reason: str, now: float
    ) -> None:
        with self._store.transaction() as tx:
            tx.execute(
                "UPDATE wearable_uploads SET done = ? WHERE device_id = ? AND upload_id = ?",
                (now, upload.device_id, upload.upload_id),
            )
            tx.execute(
                "INSERT INTO capture_spans (run_id, state, source, reason, start, end) "
                "VALUES (NULL, ?, ?, ?, ?, ?)",
                (state, source, reason, upload.recorded_at, upload.recorded_at + upload.seconds),
            )
