"""The capture ledger: for every moment the daemon was meant to listen, what it was doing.

Each span is either `listening` to a named source or a `gap` with its reason (device lost,
disk full, paused, crash, not running). The current span is extended by a heartbeat, so after
a kill -9 the ledger ends where the daemon stopped beating and the next start records a crash gap.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from daemon.store import CaptureSpan, Store

__all__ = ["CaptureLedger", "LISTENING", "GAP", "minutes"]

log = logging.getLogger(__name__)

LISTENING = "listening"
GAP = "gap"


class CaptureLedger:
    """Writes state changes of one daemon run into the store."""

    def __init__(self, store: Store, *, pid: int, now: float | None = None):
        self.store = store
        self.run_id = store.begin_run(pid, time.time() if now is None else now)
        self._span: int | None = None
        self._current: tuple[str, str | None, str | None] | None = None
        self._pending: tuple[tuple, float] | None = None
        self._warned = False
        self._lock = threading.Lock()

    def record(self, state: str, *, source: str | None = None, reason: str | None = None) -> None:
        """Note what capture is doing now; only a change opens a new span.

        If the store cannot be written (a full disk), the change is retried on the next call
        with the time it happened, so the ledger still says when the gap began.
        """
        key = (state, source, reason)
        with self._lock:
            if key == self._current:
                return
            if self._pending is None or self._pending[0] != key:
                self._pending = (key, time.time())
            try:
                self._span = self.store.open_span(
                    run_id=self.run_id,
                    state=state,
                    source=source,
                    reason=reason,
                    now=self._pending[1],
                    previous=self._span,
                )
            except sqlite3.OperationalError as exc:
                if not self._warned:
                    log.warning("capture ledger cannot be written yet: %s", exc)
                    self._warned = True
                return
            self._current, self._pending, self._warned = key, None, False

    def beat(self) -> None:
        with self._lock:
            try:
                self.store.heartbeat(self.run_id, time.time(), self._span)
            except sqlite3.OperationalError as exc:  # busy store: the next beat catches up
                log.warning("capture ledger heartbeat skipped: %s", exc)

    def close(self) -> None:
        with self._lock:
            self.store.end_run(self.run_id, time.time(), self._span)
            self._span = None
            self._current = None


def minutes(store: Store, since: float, until: float) -> list[dict]:
    """A row per wall-clock minute: seconds listening per source, gaps by reason, speech heard."""
    spans: list[CaptureSpan] = store.capture_spans(since=since, until=until)
    rows = []
    first = int(since // 60) * 60
    for start in range(first, int(until) + 1, 60):
        end = start + 60
        listening: dict[str, float] = {}
        gaps: dict[str, float] = {}
        for span in spans:
            overlap = min(end, span.end) - max(start, span.start)
            if overlap <= 0:
                continue
            if span.state == LISTENING:
                listening[span.source or "?"] = listening.get(span.source or "?", 0.0) + overlap
            else:
                gaps[span.reason or "?"] = gaps.get(span.reason or "?", 0.0) + overlap
        heard = dict(store.speech_seconds(start, end))
        if listening or gaps or heard:
            rows.append(
                {
                    "minute": start,
                    "listening": {k: round(v, 1) for k, v in listening.items()},
                    "gaps": {k: round(v, 1) for k, v in gaps.items()},
                    "speech": {k: round(v, 1) for k, v in heard.items()},
                }
            )
    return rows
