"""The daemon: one per user; wires source, capture, spool, transcriber, store, index and control."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.capture.ledger import CaptureLedger
from daemon.capture.segmenter import Segmenter
from daemon.capture.sources.base import LISTENING
from daemon.capture.sources.microphone import input_device_present
from daemon.capture.sources.preferred import PreferredInput
from daemon.capture.stage import CaptureStage
from daemon.core import control
from daemon.core.activation import rule_holds
from daemon.core.errors import DaemonAlreadyRunning, EarmarkError
from daemon.core.paths import Paths
from daemon.core.profiles import (
    DEFAULT_PROFILE,
    Profile,
    list_profiles,
    load_profile,
    profile_files,
)
from daemon.core.recording_state import RecordingState
from daemon.core.schedule import ExportLog, parse_schedule
from daemon.storage.forgetting import Forgetter
from daemon.storage.retention import RETENTION_EVERY_S, enforce_retention
from daemon.storage.search import SearchIndex, search_profiles
from daemon.storage.spool import SpeechJournal, Spool, recover_journals
from daemon.storage.store import Store
from daemon.storage.wearables import PairedWearable
from daemon.summaries.export import export_period
from daemon.transcribe.stage import TranscribeStage
from daemon.transcribe.transcriber import model_label
from daemon.wearable.certificate import listener_certificate
from daemon.wearable.ingest import WearableAudio
from daemon.wearable.protocol import CODE_LIFETIME_S, PairingCodes
from daemon.wearable.server import ListenerSettings, WearableListener, load_listener_settings

if TYPE_CHECKING:
    from daemon.desktop.app import Desktop

__all__ = ["Daemon", "SingleInstance"]

log = logging.getLogger(__name__)

_HEARTBEAT_S = 5.0
_DRAIN_ON_STOP_S = 30.0
_JOBS_EVERY_S = 5.0  # activation rules; scheduled exports every minute, retention daily
_SCHEDULE_EVERY_S = 60.0


class SingleInstance:
    """An exclusive lock on run/daemon.lock holding the owner's pid; released when it dies."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DaemonAlreadyRunning(f"Earmark is already running (pid {owner})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Daemon:
    """The long-running process behind `earmark run`."""

    def __init__(
        self,
        paths: Paths,
        *,
        profile: str | None = None,
        device: str | None = None,
        desktop: Callable[[Paths], Desktop] | None = None,
    ):
        self.paths = paths
        self.device = device
        self.desktop_factory = desktop
        self.desktop: Desktop | None = None
        self.recording_state = RecordingState.load(paths.state_file)
        if profile is not None:
            self.recording_state = self.recording_state.using(profile)
        self.started = time.time()
        self._stop = threading.Event()
        self._lock = SingleInstance(paths.lock_file)
        self._profiles: dict[str, Profile] = {}
        self._profile_versions: dict[str, tuple | None] = {}  # file, mtime, size last read
        self._open_indexes: dict[str, SearchIndex] = {}
        self._search_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._jobs_running = threading.Event()
        self._activated: str | None = None  # the profile activation rules chose, if any
        self._chosen_by_hand: str | None = None
        self._next_retention = 0.0
        self._next_schedule_check = 0.0
        self._export_log = ExportLog(paths.data_dir / "exports.json")

    # -- profiles -------------------------------------------------------------------------

    def profile_for(self, name: str) -> Profile:
        """A profile by name, read again when its file changes; a profile that no longer loads
        keeps its last good version."""
        path = profile_files(self.paths.profiles_dir).get(name)
        try:
            stat = path.stat() if path else None
        except OSError:
            stat = None
        version = (path, stat.st_mtime_ns, stat.st_size) if stat else None
        if version is not None and self._profile_versions.get(name) == version:
            return self._profiles[name]
        try:
            self._profiles[name] = load_profile(name, self.paths.profiles_dir)
        except EarmarkError as exc:
            if name not in self._profiles:
                raise
            log.warning("%s; keeping the last good version of profile %s", exc, name)
        self._profile_versions[name] = version
        return self._profiles[name]

    # -- running --------------------------------------------------------------------------

    def run(self) -> None:
        """Run until SIGINT/SIGTERM or a `stop` command, then drain and stop cleanly."""
        self._lock.acquire()
        try:
            self._run()
        finally:
            self._lock.release()

    def _run(self) -> None:
        try:
            self.profile = self.profile_for(self.recording_state.profile)
        except EarmarkError as exc:  # the profile last used was deleted or broken since
            log.warning("%s; recording under the default profile", exc)
            self.recording_state = self.recording_state.using(DEFAULT_PROFILE)
            self.profile = self.profile_for(DEFAULT_PROFILE)
        self.recording_state.save(self.paths.state_file)
        self.store = Store(self.paths.database)
        # Kept up to date as utterances are committed, rather than asked of the store each time.
        self._profiles_with_data = frozenset(self.store.utterances.profiles())
        self.spool = Spool(self.paths.spool_dir)
        self.forgetter = Forgetter(
            store=self.store, spool=self.spool, index_root=self.paths.index_dir
        )
        swept = self.spool.sweep_partials()
        if swept:
            log.info("removed %d half-written spool files left by a crash", swept)
        recover_journals(self.spool, self.store.utterances.has)
        self.ledger = CaptureLedger(self.store, pid=os.getpid())
        self.transcribe = TranscribeStage(
            spool=self.spool,
            store=self.store,
            index_root=self.paths.index_dir,
            audio_root=self.paths.data_dir / "audio",
            profile_for=self.profile_for,
            preload=self.profile.transcription,
            forgetter=self.forgetter,
            on_done=self._has_data,
            live=True,
            ledger=self.ledger,
        )
        self.capture = CaptureStage(
            source=PreferredInput(self._inputs_for(self.profile)),
            segmenter=Segmenter(self.profile.segmentation),
            spool=self.spool,
            profile=lambda: self.profile.name,
            on_spooled=self.transcribe.wake,
            ledger=self.ledger,
            journal=SpeechJournal(self.spool, owner=f"daemon-{os.getpid()}"),
            halted=lambda: self.recording_state.halt_reason(),
            forgetter=self.forgetter,
        )
        self.pairing = PairingCodes()
        self.wearables = WearableAudio(
            store=self.store,
            spool=self.spool,
            inbox=self.paths.data_dir / "uploads",
            ledger=self.ledger,
            forgetter=self.forgetter,
            profile_for=self._profile_of_wearable,
            halted=lambda: self.recording_state.halt_reason(),
            on_spooled=self.transcribe.wake,
        )
        self.listener = WearableListener(
            self._listener_settings(),
            store=self.store,
            pairing=self.pairing,
            hear=self.wearables.hear,
            receive=self.wearables.receive,
            status=lambda w: {
                "name": w.name,
                "profile": self._profile_of_wearable(w).name,
                "time": time.time(),
                "state": self.state(),
            },
            own_certificate=lambda: listener_certificate(
                self.paths.data_dir / "listener-tls", self.spool.damaged
            ),
        )
        self.control = control.ControlServer(
            self.paths.control_socket,
            {
                "status": lambda _: self.status(),
                "timings": self._timings,
                "stop": self._stop_command,
                "search": self._search,
                "toggle": lambda _: self._changed(self.recording_state.toggled()),
                "pause": lambda m: self._changed(self.recording_state.paused_for(m.get("seconds"))),
                "resume": lambda _: self._changed(self.recording_state.resumed()),
                "use_profile": lambda m: self.use_profile(str(m["name"]), by_hand=True),
                "forget": lambda m: {"forgotten": self.forget(float(m["seconds"]))},
                "conversation": self._conversation,
                "export": self._export,
                "pair": self._pair,
            },
        )
        self._install_signals()
        self.transcribe.start()  # drains whatever a crash left in the spool
        self.capture.start()  # recording starts at once, even while the model loads
        self.wearables.start()
        self.listener.start()
        self.control.start()
        threading.Thread(target=self._warm_search, name="earmark-warm", daemon=True).start()
        if self.desktop_factory is not None:
            self.desktop = self.desktop_factory(self.paths)
            try:
                self.desktop.start()
            except EarmarkError as exc:
                log.warning("%s; running headless", exc)
                self.desktop = None
        log.info("earmark running: profile %s, pid %d", self.profile.name, os.getpid())
        last_beat = time.monotonic()
        next_jobs = time.monotonic()
        try:
            while not self._stop.wait(_HEARTBEAT_S / 5):
                if time.monotonic() >= next_jobs and not self._jobs_running.is_set():
                    next_jobs = time.monotonic() + _JOBS_EVERY_S
                    self._jobs_running.set()
                    threading.Thread(
                        target=self._background_jobs, name="earmark-jobs", daemon=True
                    ).start()
                if self.recording_state.expired():
                    self._changed(self.recording_state.resumed())
                if time.monotonic() - last_beat >= _HEARTBEAT_S:
                    self.ledger.beat()
                    last_beat = time.monotonic()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        log.info("stopping: finishing speech in progress and draining the spool")
        if self.desktop is not None:
            self.desktop.stop()
        self.control.stop()
        self.listener.stop()
        self.capture.stop()
        self.wearables.stop()
        self.ledger.record("gap", reason="stopping")
        self.transcribe.stop(drain_s=_DRAIN_ON_STOP_S)
        self.transcribe.close()
        for index in self._open_indexes.values():
            index.close()
        self.ledger.close()
        self.store.close()
        log.info("earmark stopped; %d utterances left in the spool", len(self.spool))

    def stop(self) -> None:
        self._stop.set()

    def _stop_command(self, _message: dict) -> dict:
        self.stop()
        return {"stopping": True}

    # -- what the user asks for: toggle, pause, profile, forget --------------------------------

    def _changed(self, state: RecordingState) -> dict:
        """Adopt and keep a new recording state; capture follows within a fraction of a second."""
        with self._state_lock:
            state.save(self.paths.state_file)
            self.recording_state = state
        log.info("recording state: %s", state.halt_reason() or "recording")
        return self.status()

    def _inputs_for(self, profile: Profile) -> list[str | None]:
        """A profile's inputs in order of preference; `microphone` is the one `run` was given."""
        names = profile.sources or ("microphone",)
        return [self.device if name == "microphone" else name for name in names]

    def use_profile(self, name: str, *, by_hand: bool = False) -> dict:
        """File what is heard from now on under another profile, from its own input."""
        profile = self.profile_for(name)
        if self._inputs_for(profile) != self._inputs_for(self.profile):
            self.capture.switch_source(PreferredInput(self._inputs_for(profile)))
        self.profile = profile
        if by_hand:
            self._chosen_by_hand = name  # what returns when activation rules stop holding
        return self._changed(self.recording_state.using(name))

    def _listener_settings(self) -> ListenerSettings:
        try:
            return load_listener_settings(self.paths.config_dir / "wearable.yaml")
        except EarmarkError as exc:
            log.warning("%s; wearables connect on the default loopback address", exc)
            return ListenerSettings()

    def _profile_of_wearable(self, wearable: PairedWearable) -> Profile:
        """The profile a device was paired for, or the active one."""
        if wearable.profile:
            try:
                return self.profile_for(wearable.profile)
            except EarmarkError as exc:
                log.warning("%s; filing %s under %s", exc, wearable.name, self.profile.name)
        return self.profile

    def _pair(self, message: dict) -> dict:
        """A one-time code a new wearable trades for its credentials."""
        name = str(message.get("name", "")).strip()
        if not name or len(name) > 40 or not all(c.isalnum() or c in " -_." for c in name):
            raise EarmarkError(
                f"device name {name!r}: expected 1 to 40 letters, digits, spaces, - _ or ."
            )
        taken = [w for w in self.store.wearables.all() if w.name == name and w.revoked is None]
        if taken:
            raise EarmarkError(
                f"a device named {name!r} is already paired; revoke it first "
                f"(earmark devices revoke {name!r}) or choose another name"
            )
        profile = message.get("profile")
        if profile:
            self.profile_for(str(profile))  # it must load
        if self.listener.url is None:
            raise EarmarkError(self.listener.error or "the wearable listener is not running")
        return {
            "code": self.pairing.issue(name, profile),
            "expires": time.time() + CODE_LIFETIME_S,
            "url": self.listener.url,
            "fingerprint": self.listener.fingerprint,
            "name": name,
        }

    def _has_data(self, item) -> None:
        if item.profile not in self._profiles_with_data:
            self._profiles_with_data = self._profiles_with_data | {item.profile}

    def profile_names(self) -> list[str]:
        """Every profile that exists or has data (a deleted profile's transcripts stay findable)."""
        return sorted(set(list_profiles(self.paths.profiles_dir)) | self._profiles_with_data)

    def forget(self, seconds: float) -> int:
        """Delete audio, transcripts and index entries of the last `seconds`, in every profile."""
        if seconds <= 0:
            raise EarmarkError(f"{seconds:g} s: expected a positive length of time to forget")
        now = time.time()
        return self.forgetter.forget(now - seconds, now)

    def _search(self, message: dict) -> list[dict]:
        """Search with indexes kept open, far faster than a fresh process opening them."""
        with self._search_lock:
            hits = search_profiles(
                self.paths.index_dir,
                self._profiles_asked(message.get("profiles")),
                str(message["query"]),
                since=message.get("since"),
                until=message.get("until"),
                limit=int(message.get("limit", 10)),
                newest_first=bool(message.get("newest_first")),
                open_indexes=self._open_indexes,
            )
        return [asdict(hit) for hit in hits]

    def _background_jobs(self) -> None:
        """Activation rules, scheduled exports and retention, off the main loop."""
        try:
            if time.monotonic() >= self._next_retention:
                self._next_retention = time.monotonic() + RETENTION_EVERY_S
                enforce_retention(self.store, self.forgetter, self.paths.profiles_dir)
            self._activate_by_rules()
            if time.monotonic() >= self._next_schedule_check:
                self._next_schedule_check = time.monotonic() + _SCHEDULE_EVERY_S
                self._scheduled_exports()
        except Exception:  # retried at the next check; capture goes on
            log.exception("a background job failed")
        finally:
            self._jobs_running.clear()

    def _warm_search(self) -> None:
        """Open the active profile's index ahead of the first search (large ones take a while)."""
        with self._search_lock:
            name = self.profile.name
            self._open_indexes.setdefault(name, SearchIndex(self.paths.index_dir, name)).warm()

    def _profiles_asked(self, profiles) -> list[str]:
        """The profiles a search names; none means all of them."""
        if not profiles:
            return self.profile_names()
        if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
            raise EarmarkError("profiles: expected a list of profile names")
        return profiles

    def _conversation(self, message: dict) -> list[dict]:
        """One profile's transcript between two times, with the audio kept for it."""
        segments = self.store.segments.find(
            profiles=[str(message["profile"])],
            since=float(message["since"]),
            until=float(message["until"]),
            include_flagged=False,
        )
        audio = {}
        for utterance_id in {s.utterance_id for s in segments}:
            utterance = self.store.utterances.get(utterance_id)
            audio[utterance_id] = utterance.audio_path if utterance else None
        return [
            {
                "id": s.id,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "source": s.source,
                "speaker": s.speaker,
                "audio_path": audio[s.utterance_id],
            }
            for s in segments
        ]

    def _export(self, message: dict) -> dict:
        """Write the active profile's summary of today or this week; returns where."""
        period = message.get("period", "today")
        now = time.time()
        today = time.localtime(now)
        if period == "today":
            since = time.mktime((*today[:3], 0, 0, 0, 0, 0, -1))
        elif period == "this week":
            since = time.mktime((*today[:2], today.tm_mday - today.tm_wday, 0, 0, 0, 0, 0, -1))
        else:
            raise EarmarkError(f"export period {period!r}: expected 'today' or 'this week'")
        path = export_period(self.paths, self.profile, since, now)
        return {"path": str(path), "profile": self.profile.name, "period": period}

    def _loadable_profiles(self) -> Iterator[tuple[str, Profile]]:
        """Every profile that loads (or has a last good version), by name."""
        for name in list_profiles(self.paths.profiles_dir):
            try:
                yield name, self.profile_for(name)
            except EarmarkError:
                continue

    def _activate_by_rules(self) -> None:
        """Switch to the first profile whose activation rule holds; back when none does."""
        now = datetime.now()
        wanted = next(
            (
                name
                for name, profile in self._loadable_profiles()
                if rule_holds(
                    profile.activation.windows,
                    profile.activation.when_device,
                    now,
                    input_device_present,
                )
            ),
            None,
        )
        if wanted == self._activated:
            return  # no change of rules: a profile chosen by hand meanwhile stands
        if self._activated is None:
            self._chosen_by_hand = self.profile.name
        target = wanted or self._chosen_by_hand
        self._activated = wanted
        if target and target != self.profile.name:
            log.info("activation rules: switching to profile %s", target)
            self.use_profile(target)

    def _scheduled_exports(self) -> None:
        """Export each profile whose schedules have come due since their last runs."""
        now = time.time()
        for name, profile in self._loadable_profiles():
            for text in profile.export.schedules:
                schedule = parse_schedule(text)
                due = schedule.last_due(now)
                key = f"{name} {text}"
                if due.timestamp() <= self._export_log.done.get(key, 0.0):
                    continue
                try:
                    period = schedule.period(due)
                    path = export_period(self.paths, profile, *period, skip_empty=True)
                    if path is not None:
                        log.info("scheduled export (%s) of %s written to %s", text, name, path)
                except Exception:  # retried at the next due time; capture goes on
                    log.exception("the scheduled export of %s failed", name)
                self._export_log.record(key, due.timestamp())

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())

    # -- status ---------------------------------------------------------------------------

    def state(self) -> str:
        if self.capture.error or self.transcribe.error:
            return "error"
        halt = self.recording_state.halt_reason()
        if halt is not None:
            return halt
        if self.capture.spool_problem:
            return self.capture.spool_problem
        if self.capture.source.state != LISTENING:
            return "waiting for microphone"
        if self.transcribe.model_state == "loading":
            return "recording (model loading)"
        return "recording"

    def _timings(self, _message: dict) -> dict:
        """When each of the latest utterances was heard and became searchable."""
        return {
            "utterances": [
                {"start": start, "speech_end": end, "searchable": at}
                for start, end, at in list(self.transcribe.searchable)
            ]
        }

    def status(self) -> dict:
        source = self.capture.source
        latencies = sorted(self.transcribe.latencies)
        return {
            "state": self.state(),
            "profile": self.profile.name,
            "recording": self.recording_state.halt_reason() is None,
            "pause_ends": self.recording_state.pause_ends,
            "source": source.name,
            "source_state": source.state,
            "source_reason": source.reason,
            "inputs": source.inputs(),
            "switches": list(source.switches),
            "backlog": len(self.spool),
            "profiles": self.profile_names(),
            "model": model_label(self.profile.transcription),
            "model_state": self.transcribe.model_state,
            "pid": os.getpid(),
            "started": self.started,
            "utterances_heard": self.capture.utterances,
            "utterances_transcribed": self.transcribe.transcribed,
            "whisper_calls": self.transcribe.whisper_calls,
            "last_heard": self.capture.last_heard,
            "held_in_memory_s": round(self.capture.held_seconds, 1),
            "dropped_blocks": getattr(source, "overruns", 0),
            "latency_p50_s": latencies[len(latencies) // 2] if latencies else None,
            "latency_p95_s": latencies[int(len(latencies) * 0.95)] if latencies else None,
            "error": self.capture.error or self.transcribe.error,
            "problem": self.transcribe.problem or self.transcribe.server_problem,
            "notes": list(self.transcribe.notes),
            "set_aside": self.transcribe.set_aside + self.wearables.set_aside,
            "heard_twice": self.transcribe.heard_twice,
            "wearables": {
                "url": self.listener.url,
                "error": self.listener.error,
                "streams": self.wearables.status(),
                "uploads_spooled": self.wearables.uploads_spooled,
                "connections": self.listener.connections.count(),
            },
        }
