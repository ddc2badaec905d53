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

from daemon.storage.runs import CaptureSpan
from daemon.storage.store import Store

__all__ = ["CaptureLedger", "LISTENING", "GAP", "SERVER_AWAY", "SERVER_ANSWERS", "minutes"]

log = logging.getLogger(__name__)

LISTENING = "listening"
GAP = "gap"
# A transcription server's own track (its URL as the source): while it is away, what was heard
# waits in the spool. Not a gap: nothing went unheard.
SERVER_AWAY = "server away"
SERVER_ANSWERS = "server answers"


class CaptureLedger:
    """Writes state changes of one daemon run into the store.

    Each input heard at the same time (the microphone, each streaming wearable) keeps its own
    track: a change on one track opens a span there and leaves the others as they are.
    """

    def __init__(self, store: Store, *, pid: int, now: float | None = None):
        self.run_id = store.runs.begin(pid, time.time() if now is None else now)
        # Capture threads record here: they must never wait long on another process's lock.
        self.store = Store(store.path, busy_timeout_s=0.25)
        self._tracks: dict[str, _Track] = {}
        self._warned = False
        self._lock = threading.Lock()

    def record(
        self,
        state: str,
        *,
        source: str | None = None,
        reason: str | None = None,
        track: str = "capture",
    ) -> None:
        """Note what capture is doing now; only a change opens a new span.

        If the store cannot be written (a full disk), the change is retried on the next call
        with the time it happened, so the ledger still says when the gap began.
        """
        key = (state, source, reason)
        with self._lock:
            t = self._tracks.setdefault(track, _Track())
            if key == t.current:
                return
            if t.pending is None or t.pending[0] != key:
                t.pending = (key, time.time())
            try:
                t.span = self.store.runs.open_span(
                    run_id=self.run_id,
                    state=state,
                    source=source,
                    reason=reason,
                    now=t.pending[1],
                    previous=t.span,
                )
            except sqlite3.OperationalError as exc:
                if not self._warned:
                    log.warning("capture ledger cannot be written yet: %s", exc)
                    self._warned = True
                return
            t.current, t.pending, self._warned = key, None, False

    def beat(self) -> None:
        with self._lock:
            try:
                for span in [t.span for t in self._tracks.values()] or [None]:
                    self.store.runs.heartbeat(self.run_id, time.time(), span)
            except sqlite3.OperationalError as exc:  # busy store: the next beat catches up
                log.warning("capture ledger heartbeat skipped: %s", exc)

    def close(self) -> None:
        """End the run; waits for the store as long as any writer would (this is the last word)."""
        with self._lock:
            store = Store(self.store.path)
            now = time.time()
            for span in [t.span for t in self._tracks.values()] or [None]:
                store.runs.end(self.run_id, now, span)
            store.close()
            self.store.close()
            self._tracks.clear()


class _Track:
    def __init__(self):
        self.span: int | None = None
        self.current: tuple[str, str | None, str | None] | None = None
        self.pending: tuple[tuple, float] | None = None


def minutes(store: Store, since: float, until: float) -> list[dict]:
    """A row per wall-clock minute: seconds listening per source, gaps by reason, speech heard,
    and seconds a transcription server was away (by its reason)."""
    spans: list[CaptureSpan] = store.runs.spans(since=since, until=until)
    rows = []
    first = int(since // 60) * 60
    for start in range(first, int(until) + 1, 60):
        end = start + 60
        listening: dict[str, float] = {}
        gaps: dict[str, float] = {}
        away: dict[str, float] = {}
        switches = [
            {"at": span.start, "to": span.source, "why": span.reason}
            for span in spans
            if span.state == LISTENING
            and span.reason
            and span.reason.startswith("switched")
            and start <= span.start < end
        ]
        for span in spans:
            overlap = min(end, span.end) - max(start, span.start)
            if overlap <= 0:
                continue
            if span.state == LISTENING:
                listening[span.source or "?"] = listening.get(span.source or "?", 0.0) + overlap
            elif span.state == SERVER_AWAY:
                what = f"{span.source} {span.reason}"
                away[what] = away.get(what, 0.0) + overlap
            elif span.state != SERVER_ANSWERS:
                gaps[span.reason or "?"] = gaps.get(span.reason or "?", 0.0) + overlap
        heard = dict(store.runs.speech_seconds(start, end))
        if listening or gaps or heard or away:
            rows.append(
                {
                    "minute": start,
                    "listening": {k: round(v, 1) for k, v in listening.items()},
                    "gaps": {k: round(v, 1) for k, v in gaps.items()},
                    "speech": {k: round(v, 1) for k, v in heard.items()},
                    "switches": switches,
                    "server_away": {k: round(v, 1) for k, v in away.items()},
                }
            )
    return rows
