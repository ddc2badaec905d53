"""The search indexes the transcribe stage keeps up with the store: synced every couple of
seconds (at once when forced), and when each utterance became searchable."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from daemon.storage.search import SearchIndex
from daemon.storage.spool import SpooledUtterance
from daemon.storage.store import Store

__all__ = ["Indexing"]

_INDEX_SYNC_EVERY_S = 2.0


class Indexing:
    """Each profile's index, opened once, brought up to the store after new segments."""

    def __init__(self, *, store: Store, index_root: Path):
        self.store = store
        self.index_root = index_root
        # per utterance: (start, when its speech ended, when it became searchable)
        self.searchable: deque[tuple[float, float, float]] = deque(maxlen=1000)
        self._indexes: dict[str, SearchIndex] = {}
        self._unsynced: set[str] = set()
        self._unindexed: list[tuple[float, float]] = []  # (start, speech end) not yet indexed
        self._last_sync = 0.0

    def stored(self, item: SpooledUtterance) -> None:
        """An utterance is in the store: its profile's index has to catch up."""
        self._unsynced.add(item.profile)
        self._unindexed.append((item.start, item.speech_end or item.end))

    def delete(self, profile: str, segment_ids) -> None:
        self._index(profile).delete(segment_ids)

    def sync(self, force: bool = False) -> None:
        """Bring the indexes of profiles with new segments up to the store."""
        now = time.monotonic()
        if not self._unsynced or (not force and now - self._last_sync < _INDEX_SYNC_EVERY_S):
            return
        for profile in sorted(self._unsynced):
            self._index(profile).sync(self.store)
        self._unsynced.clear()
        self._last_sync = now
        searchable = time.time()
        self.searchable.extend((start, end, searchable) for start, end in self._unindexed)
        self._unindexed.clear()

    @property
    def latencies(self) -> list[float]:
        """Seconds from the end of speech to searchable, for the latest utterances."""
        return [at - end for _, end, at in list(self.searchable)]

    def _index(self, profile: str) -> SearchIndex:
        return self._indexes.setdefault(profile, SearchIndex(self.index_root, profile))

    def close(self) -> None:
        for index in self._indexes.values():
            index.close()
