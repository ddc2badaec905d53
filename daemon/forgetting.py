"""Forget a span of time: its audio, transcripts and index entries, wherever they are.

What was heard in the span may be in four places: the store (and the kept audio it names),
the search indexes, the spool (heard, not yet transcribed), and speech still being heard. The
first three are deleted at once. The span is also remembered for the rest of the run, so an
utterance in flight (being transcribed, or still being heard when the user asked) is dropped
when it reaches the spool or the store instead of being saved.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from daemon.search import SearchIndex
from daemon.spool import Spool
from daemon.store import Store

__all__ = ["Forgetter"]

log = logging.getLogger(__name__)


class Forgetter:
    def __init__(self, *, store: Store, spool: Spool, index_root: Path):
        self.store = store
        self.spool = spool
        self.index_root = index_root
        self.lock = threading.Lock()  # held by whoever checks `covers` and then saves
        self._spans: list[tuple[float, float]] = []

    def covers(self, start: float, end: float) -> bool:
        """Whether speech heard from start to end overlaps a forgotten span."""
        return any(end > since and start < until for since, until in self._spans)

    def forget(self, since: float, until: float) -> int:
        """Delete everything heard between since and until; returns how many utterances."""
        with self.lock:
            self._spans.append((since, until))
            dropped = 0
            for item in self.spool.pending():
                if self.covers(item.start, item.end):
                    with self.spool.claim(item) as mine:
                        if mine:
                            self.spool.remove(item)
                            dropped += 1
            forgotten = self.store.forget(since, until)
        for profile, segment_ids in forgotten.segment_ids.items():
            index = SearchIndex(self.index_root, profile)
            try:
                index.delete(segment_ids)
            finally:
                index.close()
        for audio in forgotten.audio_paths:
            Path(audio).unlink(missing_ok=True)
        total = dropped + forgotten.utterances
        log.info("forgot %d utterance(s) heard in the last %.0f s", total, until - since)
        return total
