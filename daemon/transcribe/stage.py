"""The pipeline's two working stages and what joins them.

    Source -> CaptureStage (segmenter, spool) ==spool==> TranscribeStage (model, store, index)

Each stage is a thread with `start()`/`stop()`. The spool is the queue between them: it is on
disk, so a slow model, a crash or a kill -9 loses nothing, and recording never waits for the
model. An error about one item never stops a stage: capture holds speech in memory while the
spool cannot be written, and an item that cannot be transcribed is tried again, then set aside in
the damaged folder. Only an error that is not about one item (the model cannot load) stops a
stage; it is logged and shows in `error`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from daemon.capture.ledger import SERVER_ANSWERS, SERVER_AWAY, CaptureLedger
from daemon.capture.sources.file import IMPORTED
from daemon.core.errors import EarmarkError, ModelError
from daemon.core.profiles import DEFAULT_PROFILE, Profile, Transcription, TranscriptionServer
from daemon.storage.forgetting import Forgetter
from daemon.storage.search import SearchIndex
from daemon.storage.spool import Spool, SpooledUtterance
from daemon.storage.store import Store
from daemon.storage.utterances import NewSegment
from daemon.transcribe.overlap import one_device_heard_it_twice, same_speech
from daemon.transcribe.redaction import redactor_for
from daemon.transcribe.transcriber import TranscribedSegment, Transcriber
from daemon.transcribe.transcription_server import ServerAway, ServerRefused, ServerTranscriber

__all__ = ["TranscribeStage"]

log = logging.getLogger(__name__)


class _ItemFailed(Exception):
    """One spool item cannot be transcribed (its audio, or its profile)."""


def _clock(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


_INDEX_SYNC_EVERY_S = 2.0
_ITEM_ATTEMPTS = 3  # a spool item that fails this often is set aside
_STORE_RETRY_MAX_S = 60.0
_SERVER_RETRY_MAX_S = 60.0


class _ServerTrouble:
    """A transcription server that cannot be used now: since when, why, and when to try again
    (never, for a refusal: its profile's server settings must change, or Earmark restart)."""

    def __init__(self, reason: str, *, refused: bool):
        self.since = time.time()
        self.began = time.monotonic()
        self.reason, self.refused = reason, refused
        self.backoff = 1.0
        self.retry_at = time.monotonic() + self.backoff
        self.profiles: set[str] = set()  # those it failed for

    def again(self, reason: str) -> None:
        self.reason = reason
        self.backoff = min(_SERVER_RETRY_MAX_S, self.backoff * 2)
        self.retry_at = time.monotonic() + self.backoff

    def describe(self) -> str:
        if self.refused:
            return (
                f"transcription server {self.reason}; its utterances wait in the spool until the "
                "profile's server settings change or Earmark restarts"
            )
        since = time.strftime("%H:%M", time.localtime(self.since))
        return f"transcription server {self.reason} since {since}; retrying"


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
        self.ledger = ledger  # notes when a transcription server is away, and back
        self.live = live  # speech heard now, as it comes, rather than a file imported
        self.forgetter = forgetter
        self.store = store
        self.index_root = index_root
        self.audio_root = audio_root
        self.profile_for = profile_for
        self.preload = preload
        self.on_done = on_done
        self.error: str | None = None
        self.problem: str | None = None  # a passing trouble (the store cannot be written)
        self.notes: deque[str] = deque(maxlen=5)  # what was done about items out of the way
        self.set_aside = 0
        self.transcribed = 0
        self.heard_twice = 0  # utterances two inputs heard, of which one transcript was kept
        # per utterance: (start, when its speech ended, when it became searchable)
        self.searchable: deque[tuple[float, float, float]] = deque(maxlen=1000)
        self.model_state = "not loaded"
        self._transcribers: dict[Transcription, Transcriber] = {}
        self._indexes: dict[str, SearchIndex] = {}
        self._unsynced: set[str] = set()
        self._unindexed: list[tuple[float, float]] = []  # (start, speech end) not yet indexed
        self._last_sync = 0.0
        self._failures: dict[str, int] = {}
        self._trouble: dict[TranscriptionServer, _ServerTrouble] = {}
        self._pools: dict[TranscriptionServer, ThreadPoolExecutor] = {}
        self._told_no_timings: set[ServerTranscriber] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._draining_until: float | None = None
        self._thread: threading.Thread | None = None

    @property
    def server_problem(self) -> str | None:
        """Why a transcription server cannot be used now, or None."""
        troubles = list(self._trouble.values())
        return "; ".join(t.describe() for t in troubles) or None

    @property
    def whisper_calls(self) -> int:
        return sum(t.calls for t in list(self._transcribers.values()))

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
                self._transcriber(self.preload)
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
            self.sync_indexes(force=True)
        except Exception as exc:
            log.exception("transcription stopped")
            self.error = f"transcription stopped: {exc}"

    def _out_of_time(self) -> bool:
        if not self._stop.is_set():
            return False
        return self._draining_until is None or time.monotonic() >= self._draining_until

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

        for server, trouble in list(self._trouble.items()):
            if not any(self._uses(name, server) for name in trouble.profiles):
                self._server_back(server, "is no longer in its profiles' settings")
        while pending and not self._out_of_time():
            item = pending.popleft()
            settings = settings_of(item)
            server = settings.server if settings is not None else TranscriptionServer()
            route = self._route(server)
            if route == "wait":
                continue
            try:
                if route == "server" and server.url:
                    theirs = [item] + [other for other in pending if settings_of(other) == settings]
                    pending = deque(other for other in pending if settings_of(other) != settings)
                    done += self._drain_server(theirs, settings)
                    self._server_back(server)
                    continue
                heard = None
                if route == "local":
                    local = dataclasses.replace(settings, server=TranscriptionServer())
                    heard = functools.partial(self._transcribe, item, local)
                with self.spool.claim(item) as mine:
                    if mine:
                        done += self._process_or_set_aside(item, heard)
            except (ServerAway, ServerRefused) as exc:
                self._server_failed(server, exc, item.profile)
            self.sync_indexes()
        self.sync_indexes(force=True)
        return done

    def _drain_server(self, items: list[SpooledUtterance], settings: Transcription) -> int:
        """Send a server's items oldest first, keeping `in_flight` of them on their way (a slot
        frees as soon as any answer comes), and store each in the order heard. The server
        failing stops this: what it has not answered stays spooled."""
        pool, in_flight = self._pool(settings), settings.server.in_flight
        todo, window, done = iter(items), deque(), 0
        try:
            while True:
                while window and window[0][2].done():
                    item, claim, future = window.popleft()
                    with claim:
                        done += self._process_or_set_aside(item, future.result)
                    self.sync_indexes()
                asked = sum(not future.done() for _, _, future in window)
                while asked < in_flight and len(window) < 4 * in_flight:
                    item = None if self._out_of_time() else next(todo, None)
                    if item is None:
                        break
                    claim = contextlib.ExitStack()
                    if claim.enter_context(self.spool.claim(item)):
                        window.append((item, claim, pool.submit(self._transcribe, item, settings)))
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

    def _pool(self, settings: Transcription) -> ThreadPoolExecutor:
        """The threads that send a server's utterances at once."""
        self._transcriber(settings)  # made here, not on the pool's threads
        pool = self._pools.get(settings.server)
        if pool is None:
            pool = self._pools[settings.server] = ThreadPoolExecutor(
                settings.server.in_flight, thread_name_prefix="earmark-server"
            )
        return pool

    def _route(self, server: TranscriptionServer) -> str:
        """Where an item of this server goes now: "server", "local" (its fallback) or "wait"."""
        trouble = self._trouble.get(server)
        if trouble is None:
            return "server"
        retry = not trouble.refused and time.monotonic() >= trouble.retry_at
        if retry:
            return "server"
        falls_back = server.fallback == "local"
        if falls_back and time.monotonic() - trouble.began >= server.fallback_after_s:
            return "local"
        return "wait"

    def _server_failed(self, server: TranscriptionServer, exc: EarmarkError, profile: str) -> None:
        trouble = self._trouble.get(server)
        refused = isinstance(exc, ServerRefused)
        if trouble is None or trouble.refused != refused:
            trouble = self._trouble[server] = _ServerTrouble(str(exc), refused=refused)
            log.warning("the transcription server %s %s", server.url, exc)
            self._ledger_note(SERVER_AWAY, server, str(exc))
        else:
            trouble.again(str(exc))
        trouble.profiles.add(profile)

    def _uses(self, profile: str, server: TranscriptionServer) -> bool:
        """Whether the profile still transcribes on this server (as its settings say now)."""
        try:
            return self.profile_for(profile).transcription.server == server
        except EarmarkError:
            return True  # unreadable for now: its last good version stands

    def _server_back(self, server: TranscriptionServer, said: str = "answers again") -> None:
        if self._trouble.pop(server, None) is not None:
            log.info("the transcription server %s %s", server.url, said)
            self._ledger_note(SERVER_ANSWERS, server)
            self._note(f"the transcription server {server.url} {said}")

    def _ledger_note(self, state: str, server: TranscriptionServer, reason: str | None = None):
        """The server's track in the ledger; a ledger that cannot be written stops nothing."""
        if self.ledger is None:
            return
        try:
            self.ledger.record(
                state, source=server.url, reason=reason, track=f"server {server.url}"
            )
        except sqlite3.Error as exc:
            log.warning("the ledger cannot note the transcription server: %s", exc)

    def _settings_of(self, item: SpooledUtterance) -> Transcription | None:
        """How the item's profile transcribes (the default profile's for a profile gone)."""
        for name in (item.profile, DEFAULT_PROFILE):
            with contextlib.suppress(EarmarkError):
                return self.profile_for(name).transcription
        return None

    def _transcriber(self, settings: Transcription) -> Transcriber | ServerTranscriber:
        transcriber = self._transcribers.get(settings)
        if transcriber is None:
            if settings.server.url:
                transcriber = ServerTranscriber(settings)
            else:
                transcriber = Transcriber(settings, live=self.live)
            self._transcribers[settings] = transcriber
        if not transcriber.loaded:
            self.model_state = "loading"
            transcriber.load()
        self.model_state = "loaded"
        return transcriber

    def _transcribe(
        self, item: SpooledUtterance, settings: Transcription
    ) -> tuple[list[TranscribedSegment], str | None, str]:
        """The item's segments, their language, and the model that heard them."""
        transcriber = self._transcriber(settings)
        segments, language = transcriber.transcribe(item.read_audio())
        if getattr(transcriber, "no_timings", False) and transcriber not in self._told_no_timings:
            self._told_no_timings.add(transcriber)
            log.warning("%s gives no segment timings: each utterance is one segment", transcriber)
            self._note(f"{transcriber} gives no segment timings: each utterance is one segment")
        return segments, language, transcriber.label

    def _process_or_set_aside(
        self, item: SpooledUtterance, heard: Callable[[], tuple] | None = None
    ) -> int:
        """Process a claimed item; one that keeps failing goes to the damaged folder."""
        try:
            self.process(item, heard)
        except _ItemFailed as exc:
            attempts = self._failures[item.uid] = self._failures.get(item.uid, 0) + 1
            if attempts < _ITEM_ATTEMPTS:
                log.warning("spool item %s: %s; trying again later", item.uid, exc)
                return 0
            self.spool.set_aside(item.meta_path, f"spool item: {exc} ({attempts} attempts)")
            self._failures.pop(item.uid, None)
            self.set_aside += 1
            self._note(f"set aside the utterance heard at {_clock(item.start)}: {exc}")
            return 0
        self._failures.pop(item.uid, None)
        return 1

    def _note(self, text: str) -> None:
        self.notes.append(f"{time.strftime('%H:%M')} {text}")

    def _profile_of(self, item: SpooledUtterance) -> tuple[SpooledUtterance, Profile]:
        """The item's profile; one deleted or broken since goes to the default profile."""
        try:
            return item, self.profile_for(item.profile)
        except EarmarkError as exc:
            try:
                profile = self.profile_for(DEFAULT_PROFILE)
            except EarmarkError as default_exc:
                raise _ItemFailed(f"its profile cannot be loaded ({exc})") from default_exc
            self._note(
                f"the utterance heard at {_clock(item.start)} was filed under {DEFAULT_PROFILE}: "
                f"{exc}"
            )
            log.warning("%s; spool item %s goes to %s", exc, item.uid, DEFAULT_PROFILE)
            return dataclasses.replace(item, profile=DEFAULT_PROFILE), profile

    def process(self, item: SpooledUtterance, heard: Callable[[], tuple] | None = None) -> None:
        """Transcribe and commit one claimed item, then remove it from the spool; `heard`, if
        given, gives its transcript (sent to a server beside other items, or to the fallback)."""
        item, profile = self._profile_of(item)
        keep = self._audio_path(item) if profile.retention.keep_audio else None
        if self.store.utterances.has(item.uid):  # committed before a crash; just finish up
            self.spool.remove(item, keep_audio_at=keep)
            return
        try:
            if heard is None:
                segments, language, model = self._transcribe(item, profile.transcription)
            else:
                segments, language, model = heard()
        except (ModelError, ServerAway, ServerRefused):
            raise
        except Exception as exc:  # anything about this item's audio: the next items go on
            raise _ItemFailed(f"it cannot be transcribed ({exc})") from exc
        segments, redacted = redactor_for(profile.redaction).segments(segments)
        if redacted:
            keep = None  # the audio would say what the transcript no longer does
        with self.forgetter.lock if self.forgetter else contextlib.nullcontext():
            if self.forgetter is not None and self.forgetter.covers(item.start, item.end):
                self.spool.remove(item)  # forgotten while it was being transcribed
                return
            if not self._keep_over_other_inputs(item, segments):
                self.spool.remove(item)
                return
            self._commit(
                uid=item.uid,
                profile=item.profile,
                source=item.source,
                start=item.start,
                end=item.end,
                model=model,
                language=language,
                audio_path=str(keep) if keep else None,
                segments=[
                    NewSegment(
                        start=item.start + s.start,
                        end=item.start + min(s.end, item.duration),
                        text=s.text,
                        avg_logprob=s.avg_logprob,
                        no_speech_prob=s.no_speech_prob,
                        compression_ratio=s.compression_ratio,
                        words=[(item.start + a, item.start + b, w, p) for a, b, w, p in s.words],
                        flag=s.flag,
                    )
                    for s in segments
                ],
            )
            self.spool.remove(item, keep_audio_at=keep)
        self._unsynced.add(item.profile)
        self._unindexed.append((item.start, item.speech_end or item.end))
        self.transcribed += 1
        self.on_done(item)

    def _keep_over_other_inputs(self, item: SpooledUtterance, segments: list) -> bool:
        """When another input already stored this same speech, keep the more confident
        transcript: False drops this one; True keeps it (having deleted the other)."""
        if item.source.startswith(IMPORTED):
            return True  # a file imported is kept as asked, even twice
        text = " ".join(s.text for s in segments)
        others = self.store.utterances.heard_alongside(
            profile=item.profile, start=item.start - 1.0, end=item.end + 1.0
        )
        if not others or not segments:
            return True
        # the same device's audio twice (a live chunk whose answer was lost, then uploaded):
        # the longer hearing holds all of it, so it is the one kept
        twice = [
            other
            for other in others
            if other[0].source == item.source
            and one_device_heard_it_twice(
                (item.start, item.end), text, (other[0].start, other[0].end), other[1]
            )
        ]
        if twice:
            self.heard_twice += 1
            if max(u.end - u.start for u, _, _ in twice) >= item.end - item.start:
                return False
            self._remove([u for u, _, _ in twice])
        others = [other for other in others if other[0].source != item.source]
        if not others:
            return True
        span = (min(u.start for u, _, _ in others), max(u.end for u, _, _ in others))
        joined = " ".join(t for _, t, _ in others)
        if not same_speech((item.start, item.end), text, span, joined):
            return True
        self.heard_twice += 1
        mine = sum(s.avg_logprob for s in segments) / len(segments)
        theirs = sum(p for _, _, p in others) / len(others)
        kept = others[0][0].source if theirs >= mine else item.source
        log.info(
            "%s and %s heard the same speech at %s; keeping %s's transcript",
            item.source,
            others[0][0].source,
            time.strftime("%H:%M:%S", time.localtime(item.start)),
            kept,
        )
        if theirs >= mine:
            return False
        self._remove([u for u, _, _ in others])
        return True

    def _remove(self, utterances: list) -> None:
        """Take stored utterances out of the store, the indexes and the audio folder."""
        for utterance in utterances:
            removed = self.store.utterances.remove(utterance.id)
            for profile, ids in removed.segment_ids.items():
                self._indexes.setdefault(profile, SearchIndex(self.index_root, profile)).delete(ids)
            for path in removed.audio_paths:
                Path(path).unlink(missing_ok=True)

    def _commit(self, **utterance) -> None:
        """Store an utterance, waiting out another process's write lock (the item stays spooled)."""
        for attempt in itertools.count():
            try:
                self.store.utterances.add(**utterance)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or self._out_of_time():
                    raise
                log.warning("the store is busy (%s); retrying", exc)
                self._stop.wait(min(5.0, 0.5 * 2**attempt))

    def sync_indexes(self, force: bool = False) -> None:
        """Bring the indexes of profiles with new segments up to the store."""
        now = time.monotonic()
        if not self._unsynced or (not force and now - self._last_sync < _INDEX_SYNC_EVERY_S):
            return
        for profile in sorted(self._unsynced):
            index = self._indexes.setdefault(profile, SearchIndex(self.index_root, profile))
            index.sync(self.store)
        self._unsynced.clear()
        self._last_sync = now
        searchable = time.time()
        self.searchable.extend((start, end, searchable) for start, end in self._unindexed)
        self._unindexed.clear()

    @property
    def latencies(self) -> list[float]:
        """Seconds from the end of speech to searchable, for the latest utterances."""
        return [at - end for _, end, at in list(self.searchable)]

    def _audio_path(self, item: SpooledUtterance) -> Path:
        day = time.strftime("%Y-%m-%d", time.localtime(item.start))
        return self.audio_root / item.profile / day / f"{item.uid}.wav"

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        for index in self._indexes.values():
            index.close()
