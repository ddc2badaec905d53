"""Paired wearables, and `Wearables`, the store's repository of them and of the request nonces
they used."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.storage.store import Store

__all__ = ["Wearables", "PairedWearable"]


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


class Wearables:
    """The `wearables` and `wearable_nonces` tables: each paired device, when it was last seen
    and whether it was revoked, and the nonces of its recent requests (a replay reuses one)."""

    def __init__(self, store: Store):
        self._store = store

    def add(self, wearable: PairedWearable) -> None:
        with self._store.transaction() as tx:
            tx.execute(
                "INSERT INTO wearables (id, name, secret, profile, paired, last_seen, revoked) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                dataclasses.astuple(wearable),
            )

    def all(self) -> list[PairedWearable]:
        """Every wearable ever paired, revoked ones too, in the order they were paired."""
        rows = self._store.connection().execute(
            "SELECT id, name, secret, profile, paired, last_seen, revoked FROM wearables "
            "ORDER BY paired"
        )
        return [PairedWearable(**dict(r)) for r in rows]

    def get(self, device_id: str) -> PairedWearable | None:
        return next((w for w in self.all() if w.id == device_id), None)

    def revoke(self, name: str, now: float) -> int:
        """Revoke every paired (not yet revoked) wearable of that name; returns how many."""
        with self._store.transaction() as tx:
            cur = tx.execute(
                "UPDATE wearables SET revoked = ? WHERE name = ? AND revoked IS NULL", (now, name)
            )
            return cur.rowcount

    def use_nonce(self, device_id: str, nonce: str, now: float, *, forget_before: float) -> bool:
        """Record a request nonce; False if the device used it before (a replay)."""
        with self._store.transaction() as tx:
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
