"""Forget a span of time: its audio, transcripts and index entries, wherever they are.

What was heard in the span may be in four places: the store (and the kept audio it names),
the search indexes, the spool (heard, not yet transcribed), and speech still being heard. The
first three are deleted at once. The span is also remembered (in the store, so for good), so
an utterance in flight (being transcribed, or still being heard when the user asked), or a
recording of the span a wearable syncs later, is dropped when it reaches the spool or the store
instead of being saved.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from daemon.storage.search import SearchIndex
from daemon.storage.spool import Spool
from daemon.storage.store import Store
from daemon.storage.utterances import Forgotten

__all__ = ["Forgetter"]

log = logging.getLogger(__name__)


class Forgetter:
    def __init__(self, *, store: Store, spool: Spool, index_root: Path):
        self.store = store
        self.spool = spool
        self.index_root = index_root
        self.lock = threading.Lock()  # held by whoever checks `covers` and then saves
        self._spans: list[tuple[float, float]] = store.forgotten.spans()

    def covers(self, start: float, end: float) -> bool:
        """Whether speech heard from start to end overlaps a forgotten span."""
        return any(end > since and start < until for since, until in self._spans)

    def forget(self, since: float, until: float) -> int:
        """Delete everything heard between since and until; returns how many utterances."""
        with self.lock:
            self.store.forgotten.remember(since, until, time.time())
            self._spans.append((since, until))
            dropped = self._drop_spooled(since, until)
            forgotten = self.store.utterances.forget(since, until)
        self._follow(forgotten)
        total = dropped + forgotten.utterances
        log.info("forgot %d utterance(s) heard in the last %.0f s", total, until - since)
        return total

    def expire(self, profile: str, before: float) -> int:
        """Delete a profile's transcripts heard before a time (its retention); returns how many."""
        with self.lock:
            dropped = self._drop_spooled(0.0, before, profile=profile)
            forgotten = self.store.utterances.forget(0.0, before, profile=profile)
        self._follow(forgotten)
        return dropped + forgotten.utterances

    def _drop_spooled(self, since: float, until: float, *, profile: str | None = None) -> int:
        dropped = 0
        for item in self.spool.pending():
            if item.end > since and item.start < until and profile in (None, item.profile):
                with self.spool.claim(item) as mine:
                    if mine:
                        self.spool.remove(item)
                        dropped += 1
        return dropped

    def _follow(self, forgotten: Forgotten) -> None:
        """Take what the store deleted out of the indexes and the audio folder too."""
        for profile, segment_ids in forgotten.segment_ids.items():
            index = SearchIndex(self.index_root, profile)
            try:
                index.delete(segment_ids)
            finally:
                index.close()
        for audio in forgotten.audio_paths:
            Path(audio).unlink(missing_ok=True)
