"""The capture stage: reads a source, cuts utterances with the segmenter and writes each to the
spool, fsynced, before anything else happens to it (daemon/transcribe/stage.py drains the spool).

Recording never waits for the model. While the spool cannot be written (the disk is full, the
folder is gone), speech is held in memory, up to five minutes, and written once it can be; the
ledger records the gap with its reason.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable

from daemon.capture.ledger import GAP, LISTENING, CaptureLedger
from daemon.capture.segmenter import Segmenter, Utterance
from daemon.capture.sources.base import ENDED, WAITING, Source
from daemon.core.errors import SpoolFull, SpoolUnwritable
from daemon.storage.forgetting import Forgetter
from daemon.storage.spool import SpeechJournal, Spool, SpooledUtterance

__all__ = ["CaptureStage"]

log = logging.getLogger(__name__)

_HOLD_LIMIT_S = 300.0  # speech kept in memory while the spool cannot be written
_FREE_MARGIN_BYTES = 20 * 1024 * 1024
_DRAIN_BLOCKS_ON_STOP = 1000  # blocks already heard are read before capture stops


class CaptureStage:
    """Reads a source, cuts utterances with the segmenter and writes them to the spool."""

    def __init__(
        self,
        *,
        source: Source,
        segmenter: Segmenter,
        spool: Spool,
        profile: Callable[[], str],
        on_spooled: Callable[[SpooledUtterance], None] = lambda item: None,
        ledger: CaptureLedger | None = None,
        ledger_track: str = "capture",
        journal: SpeechJournal | None = None,
        halted: Callable[[], str | None] = lambda: None,
        forgetter: Forgetter | None = None,
        uid_for: Callable[[float], str] | None = None,
        already_stored: Callable[[str], bool] = lambda uid: False,
    ):
        self.source = source
        self.uid_for = uid_for  # names utterances by their start, so a redo spools none twice
        self.already_stored = already_stored
        self._next_source: Source | None = None
        self.halted = halted
        self.forgetter = forgetter
        self.segmenter = segmenter
        self.spool = spool
        self.profile = profile
        self.on_spooled = on_spooled
        self.ledger = ledger
        self.ledger_track = ledger_track
        self.journal = journal
        self.error: str | None = None
        self.spool_problem: str | None = None  # "disk full", or why the spool cannot be written
        self.utterances = 0
        self.last_heard: float | None = None
        self._held: deque[Utterance] = deque()
        self._journal_failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_space_check = 0.0

    @property
    def held_seconds(self) -> float:
        return sum(u.duration for u in self._held)

    def start(self) -> None:
        self._stop.clear()
        self.source.start()
        self._thread = threading.Thread(target=self._run, name="earmark-capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop hearing; speech in progress is cut and spooled first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def switch_source(self, source: Source) -> None:
        """Hear another source from the next block on; speech in progress is cut and spooled."""
        self._next_source = source

    def _take_next_source(self, hearing: bool) -> None:
        new, self._next_source = self._next_source, None
        self._spool_all(self.segmenter.flush())
        self._journal_speech(self.source.name)
        if hearing:
            self.source.stop()
            new.start()
        self.source = new

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def run_to_end(self) -> None:
        """Run in the caller's thread until the source ends (used by `earmark import`)."""
        self.source.start()
        self._run()

    def _run(self) -> None:
        try:
            was_waiting = None
            hearing = True
            while not self._stop.is_set():
                if self._next_source is not None:
                    self._take_next_source(hearing)
                halt = self.halted()
                if halt is not None:
                    if hearing:  # paused or off: finish the utterance, let go of the device
                        self._spool_all(self.segmenter.flush())
                        self._journal_speech(self.source.name)
                        self.source.stop()
                        hearing = False
                    self._ledger(GAP, halt)
                    self._stop.wait(0.2)
                    continue
                if not hearing:
                    self.source.start()
                    hearing = True
                block = self.source.read(0.2)
                waiting = self.source.state == WAITING
                if waiting != was_waiting:
                    if waiting:
                        self._spool_all(self.segmenter.flush())
                    was_waiting = waiting
                self._record_state()
                if self._held:
                    self._retry_held()
                if block is not None:
                    self._spool_all(self.segmenter.feed(block.start, block.samples, block.source))
                    self._journal_speech(block.source)
                elif self.source.state == ENDED:
                    break
            for _ in range(_DRAIN_BLOCKS_ON_STOP):  # what was heard but not yet read
                block = self.source.read(0)
                if block is None:
                    break
                self._spool_all(self.segmenter.feed(block.start, block.samples, block.source))
            self._spool_all(self.segmenter.flush())
            if self._held:
                self._retry_held(force=True)
            if self._held:
                log.error(
                    "%s: %.1f s of speech heard could not be saved",
                    self.spool_problem,
                    self.held_seconds,
                )
            if self.journal is not None:
                self.journal.close()
        except Exception as exc:  # the first error stops the stage and is shown
            log.exception("capture stopped")
            self.error = f"capture stopped: {exc}"
        finally:
            self.source.stop()

    def _journal_speech(self, source: str) -> None:
        """Keep the utterance being heard on disk, so a crash mid-sentence loses nothing."""
        if self.journal is None or self.spool_problem:
            return
        current = self.segmenter.current_speech()
        try:
            if current is None:
                self.journal.clear()
            else:
                self.journal.update(
                    profile=self.profile(), source=source, start=current[0], blocks=current[1]
                )
            self._journal_failing = False
        except OSError as exc:
            if not self._journal_failing:
                log.warning("could not journal speech in progress: %s", exc)
            self._journal_failing = True

    def _record_state(self) -> None:
        if self.ledger is None:
            return
        if self.spool_problem:
            state, reason = GAP, self.spool_problem
        elif self.source.state == WAITING:
            state, reason = GAP, self.source.reason or "device lost"
        else:
            state, reason = LISTENING, getattr(self.source, "switch_note", None)
        self._ledger(state, reason)

    def _ledger(self, state: str, reason: str | None) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record(
                state, source=self.source.name, reason=reason, track=self.ledger_track
            )
        except (sqlite3.Error, OSError) as exc:  # the ledger is a record; hearing goes on
            log.warning("the capture ledger cannot be written: %s", exc)

    def _spool_all(self, utterances: list[Utterance]) -> None:
        for utterance in utterances:
            self.last_heard = utterance.start + utterance.duration
            if self._held or not self._write(utterance):
                self._hold(utterance)

    def _write(self, utterance: Utterance) -> bool:
        journaled = self.journal is not None and self.journal.start == utterance.start
        uid = self.journal.uid if journaled else None
        if self.uid_for is not None:
            uid = self.uid_for(utterance.start)
        try:
            if self.forgetter is not None and self.forgetter.covers(
                utterance.start, utterance.start + utterance.duration
            ):
                return True  # the user asked to forget it while it was being heard
            if self.uid_for is not None and self.already_stored(uid):
                return True
        except (sqlite3.Error, OSError) as exc:  # cannot tell: keep it; a repeat is cut later
            log.warning("could not check whether speech was already kept: %s", exc)
        try:
            item = self.spool.put(
                profile=self.profile(),
                source=utterance.source,
                start=utterance.start,
                samples=utterance.samples,
                uid=uid,
                speech_end=utterance.speech_end or None,
            )
        except SpoolUnwritable as exc:
            if not self.spool_problem:
                log.error("%s; speech is held in memory until it can be written", exc)
            self.spool_problem = (
                "disk full" if isinstance(exc, SpoolFull) else f"spool unwritable: {exc}"
            )
            return False
        self.utterances += 1
        try:
            self.on_spooled(item)
        except Exception:  # the item is on disk; the transcribe stage finds it from there
            log.exception("could not announce a spooled utterance")
        return True

    def _hold(self, utterance: Utterance) -> None:
        self._held.append(utterance)
        while self.held_seconds > _HOLD_LIMIT_S:
            dropped = self._held.popleft()
            log.error(
                "%s: dropped %.1f s of speech heard at %s",
                self.spool_problem,
                dropped.duration,
                time.ctime(dropped.start),
            )

    def _retry_held(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_space_check:
            return
        self._next_space_check = now + 2.0
        if self.spool_problem == "disk full" and not force:
            try:
                if shutil.disk_usage(self.spool.directory).free < _FREE_MARGIN_BYTES:
                    return
            except OSError:
                pass
        while self._held:
            if not self._write(self._held[0]):
                return
            self._held.popleft()
        if self.spool_problem:
            log.info("the spool takes speech again (was: %s)", self.spool_problem)
        self.spool_problem = None
