"""The transcribe stage: drains the spool into the store and the index.

    Source -> CaptureStage (segmenter, spool) ==spool==> TranscribeStage (model, store, index)

Each stage is a thread with `start()`/`stop()`. The spool is the queue between them: it is on
disk, so a slow model, a crash or a kill -9 loses nothing, and recording never waits for the
model. An error about one item never stops a stage: capture holds speech in memory while the
spool cannot be written, and an item that cannot be transcribed is tried again, then set aside in
the damaged folder. Only an error that is not about one item (the model cannot load) stops a
stage; it is logged and shows in `error`.

This stage decides which items go when: oldest first, a server's `in_flight` at a time and
none while it is away (server_routing.py); filing.py files each one (transcribed by
transcribers.py, redacted, checked against forgetting and other inputs, committed, indexed by
indexing.py, removed from the spool); an item that keeps failing is set aside.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from daemon.capture.ledger import CaptureLedger
from daemon.core.errors import EarmarkError
from daemon.core.profiles import DEFAULT_PROFILE, Profile, Transcription, TranscriptionServer
from daemon.storage.forgetting import Forgetter
from daemon.storage.spool import Spool, SpooledUtterance
from daemon.storage.store import Store
from daemon.transcribe.filing import Filing, ItemFailed, clock
from daemon.transcribe.indexing import Indexing
from daemon.transcribe.server_routing import ServerRouting
from daemon.transcribe.transcribers import Transcribers
from daemon.transcribe.transcription_server import ServerAway, ServerRefused

__all__ = ["TranscribeStage"]

log = logging.getLogger(__name__)


_ITEM_ATTEMPTS = 3  # a spool item that fails this often is set aside
_STORE_RETRY_MAX_S = 60.0


class TranscribeStage:
    """Drains the spool oldest first: transcribe, commit to the store, index, then delete."""

    def __init__(
        self,
        *,
        spool: Spool,
        store: Store,
        index_root: Path,
        audio_root: Path,
        profile_for: Callable[[str], Profile],
        preload: Transcription | None = None,
        on_done: Callable[[SpooledUtterance], None] = lambda item: None,
        forgetter: Forgetter | None = None,
        live: bool = False,
        ledger: CaptureLedger | None = None,
    ):
        self.spool = spool
        self.profile_for = profile_for
        self.preload = preload
        self.on_done = on_done
        self.error: str | None = None
        self.problem: str | None = None  # a passing trouble (the store cannot be written)
        self.notes: deque[str] = deque(maxlen=5)  # what was done about items out of the way
        self.set_aside = 0
        self.transcribed = 0
        self.transcribers = Transcribers(live=live, note=self._note)
        self.servers = ServerRouting(profile_for=profile_for, ledger=ledger, note=self._note)
        self.indexing = Indexing(store=store, index_root=index_root)
        self.filing = Filing(
            spool=spool,
            store=store,
            audio_root=audio_root,
            profile_for=profile_for,
            forgetter=forgetter,
            transcribers=self.transcribers,
            indexing=self.indexing,
            note=self._note,
            out_of_time=self._out_of_time,
            pause=lambda seconds: self._stop.wait(seconds),
        )
        self._failures: dict[str, int] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._draining_until: float | None = None
        self._thread: threading.Thread | None = None

    # -- what the status shows ------------------------------------------------------------

    @property
    def server_problem(self) -> str | None:
        """Why a transcription server cannot be used now, or None."""
        return self.servers.problem

    @property
    def whisper_calls(self) -> int:
        return self.transcribers.whisper_calls

    @property
    def model_state(self) -> str:
        return self.transcribers.model_state

    @property
    def heard_twice(self) -> int:
        """Utterances two inputs heard, of which one transcript was kept."""
        return self.filing.other_inputs.heard_twice

    @property
    def searchable(self) -> deque[tuple[float, float, float]]:
        """Per utterance: (start, when its speech ended, when it became searchable)."""
        return self.indexing.searchable

    @property
    def latencies(self) -> list[float]:
        """Seconds from the end of speech to searchable, for the latest utterances."""
        return self.indexing.latencies

    # -- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="earmark-transcriber", daemon=True)
        self._thread.start()

    def wake(self, item: SpooledUtterance | None = None) -> None:
        self._wake.set()

    def stop(self, *, drain_s: float = 0.0) -> None:
        """Stop; with drain_s, keep transcribing what is spooled for up to that long first."""
        self._draining_until = time.monotonic() + drain_s
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=drain_s + 120)
            self._thread = None

    def _run(self) -> None:
        try:
            if self.preload is not None:
                self.transcribers.get(self.preload)
            retry_s = 1.0
            while True:
                try:
                    self.drain()
                    self.problem, retry_s = None, 1.0
                except (sqlite3.Error, OSError) as exc:  # the store's or the disk's, not an item's
                    self.problem = f"transcripts cannot be stored now ({exc}); retrying"
                    log.error("%s in %.0f s", self.problem, retry_s)
                    if self._out_of_time():
                        break
                    self._stop.wait(retry_s)
                    retry_s = min(_STORE_RETRY_MAX_S, retry_s * 2)
                    continue
                if self._stop.is_set():
                    break
                self._wake.wait(timeout=1.0)
                self._wake.clear()
            self.indexing.sync(force=True)
        except Exception as exc:
            log.exception("transcription stopped")
            self.error = f"transcription stopped: {exc}"

    def _out_of_time(self) -> bool:
        if not self._stop.is_set():
            return False
        return self._draining_until is None or time.monotonic() >= self._draining_until

    # -- draining the spool ---------------------------------------------------------------

    def drain(self, only: set[str] | None = None) -> int:
        """Transcribe every pending item this worker can claim (only those in `only`, if given),
        oldest first. A server's items go `in_flight` at a time, and wait while it is away."""
        done = 0
        pending = deque(item for item in self.spool.pending() if only is None or item.uid in only)
        profiles: dict[str, Transcription | None] = {}  # read once per pass, not per item

        def settings_of(item: SpooledUtterance) -> Transcription | None:
            if item.profile not in profiles:
                profiles[item.profile] = self._settings_of(item)
            return profiles[item.profile]

        self.servers.forget_unused()
        while pending and not self._out_of_time():
            item = pending.popleft()
            settings = settings_of(item)
            server = settings.server if settings is not None else TranscriptionServer()
            route = self.servers.route(server)
            if route == "wait":
                continue
            try:
                if route == "server" and server.url:
                    theirs = [item] + [other for other in pending if settings_of(other) == settings]
                    pending = deque(other for other in pending if settings_of(other) != settings)
                    done += self._drain_server(theirs, settings)
                    self.servers.back(server)
                    continue
                heard = None
                if route == "local":
                    local = dataclasses.replace(settings, server=TranscriptionServer())
                    heard = functools.partial(self.transcribers.transcribe, item, local)
                with self.spool.claim(item) as mine:
                    if mine:
                        done += self._process_or_set_aside(item, heard)
            except (ServerAway, ServerRefused) as exc:
                self.servers.failed(server, exc, item.profile)
            self.indexing.sync()
        self.indexing.sync(force=True)
        return done

    def _drain_server(self, items: list[SpooledUtterance], settings: Transcription) -> int:
        """Send a server's items oldest first, keeping `in_flight` of them on their way (a slot
        frees as soon as any answer comes), and store each in the order heard. The server
        failing stops this: what it has not answered stays spooled."""
        self.transcribers.get(settings)  # made here, not on the pool's threads
        pool, in_flight = self.servers.pool(settings.server), settings.server.in_flight
        todo, window, done = iter(items), deque(), 0
        try:
            while True:
                while window and window[0][2].done():
                    item, claim, future = window.popleft()
                    with claim:
                        done += self._process_or_set_aside(item, future.result)
                    self.indexing.sync()
                asked = sum(not future.done() for _, _, future in window)
                while asked < in_flight and len(window) < 4 * in_flight:
                    item = None if self._out_of_time() else next(todo, None)
                    if item is None:
                        break
                    claim = contextlib.ExitStack()
                    if claim.enter_context(self.spool.claim(item)):
                        future = pool.submit(self.transcribers.transcribe, item, settings)
                        window.append((item, claim, future))
                        asked += 1
                    else:
                        claim.close()
                if not window:
                    return done
                waiting = [future for _, _, future in window if not future.done()]
                wait(waiting, return_when=FIRST_COMPLETED)
        finally:
            for _, _, future in window:
                future.cancel()
            wait([future for _, _, future in window])
            for _, claim, _ in window:
                claim.close()

    def _settings_of(self, item: SpooledUtterance) -> Transcription | None:
        """How the item's profile transcribes (the default profile's for a profile gone)."""
        for name in (item.profile, DEFAULT_PROFILE):
            with contextlib.suppress(EarmarkError):
                return self.profile_for(name).transcription
        return None

    def _process_or_set_aside(
        self, item: SpooledUtterance, heard: Callable[[], tuple] | None = None
    ) -> int:
        """Process a claimed item; one that keeps failing goes to the damaged folder."""
        try:
            filed = self.filing.file(item, heard)
        except ItemFailed as exc:
            attempts = self._failures[item.uid] = self._failures.get(item.uid, 0) + 1
            if attempts < _ITEM_ATTEMPTS:
                log.warning("spool item %s: %s; trying again later", item.uid, exc)
                return 0
            self.spool.set_aside(item.meta_path, f"spool item: {exc} ({attempts} attempts)")
            self._failures.pop(item.uid, None)
            self.set_aside += 1
            self._note(f"set aside the utterance heard at {clock(item.start)}: {exc}")
            return 0
        self._failures.pop(item.uid, None)
        if filed is not None:
            self.transcribed += 1
            self.on_done(filed)
        return 1

    def _note(self, text: str) -> None:
        self.notes.append(f"{time.strftime('%H:%M')} {text}")

    def close(self) -> None:
        self.servers.close()
        self.indexing.close()
