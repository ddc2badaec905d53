"""The daemon: one per user; wires source, capture, spool, transcriber, store, index and control."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

from daemon import control
from daemon.errors import DaemonAlreadyRunning, EarmarkError
from daemon.ledger import CaptureLedger
from daemon.paths import Paths
from daemon.pipeline import CaptureStage, TranscribeStage
from daemon.profiles import Profile, load_profile
from daemon.search import SearchIndex, search_profiles
from daemon.segmenter import Segmenter
from daemon.sources.base import LISTENING
from daemon.sources.microphone import Microphone
from daemon.spool import SpeechJournal, Spool, recover_journals
from daemon.store import Store
from daemon.transcriber import model_label

__all__ = ["Daemon", "SingleInstance"]

log = logging.getLogger(__name__)

_HEARTBEAT_S = 5.0
_DRAIN_ON_STOP_S = 30.0


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
    ):
        self.paths = paths
        self.profile_name = profile
        self.device = device
        self.started = time.time()
        self._stop = threading.Event()
        self._lock = SingleInstance(paths.lock_file)
        self._profiles: dict[str, Profile] = {}
        self._open_indexes: dict[str, SearchIndex] = {}
        self._search_lock = threading.Lock()

    # -- profiles -------------------------------------------------------------------------

    def profile_for(self, name: str) -> Profile:
        """A profile by name; a profile that no longer loads keeps its last good version."""
        try:
            self._profiles[name] = load_profile(name, self.paths.profiles_dir)
        except EarmarkError as exc:
            if name not in self._profiles:
                raise
            log.warning("%s; keeping the last good version of profile %s", exc, name)
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
        name = self.profile_name or "default"
        self.profile = self.profile_for(name)
        self.store = Store(self.paths.database)
        self.spool = Spool(self.paths.spool_dir)
        swept = self.spool.sweep_partials()
        if swept:
            log.info("removed %d half-written spool files left by a crash", swept)
        recover_journals(self.spool, self.store.has_utterance)
        self.ledger = CaptureLedger(self.store, pid=os.getpid())
        self.transcribe = TranscribeStage(
            spool=self.spool,
            store=self.store,
            index_root=self.paths.index_dir,
            audio_root=self.paths.data_dir / "audio",
            profile_for=self.profile_for,
            preload=self.profile.transcription,
        )
        self.capture = CaptureStage(
            source=Microphone(self.device),
            segmenter=Segmenter(self.profile.segmentation),
            spool=self.spool,
            profile=lambda: self.profile.name,
            on_spooled=self.transcribe.wake,
            ledger=self.ledger,
            journal=SpeechJournal(self.spool, owner=f"daemon-{os.getpid()}"),
        )
        self.control = control.ControlServer(
            self.paths.control_socket,
            {"status": lambda _: self.status(), "stop": self._stop_command, "search": self._search},
        )
        self._install_signals()
        self.transcribe.start()  # drains whatever a crash left in the spool
        self.capture.start()  # recording starts at once, even while the model loads
        self.control.start()
        log.info("earmark running: profile %s, pid %d", self.profile.name, os.getpid())
        last_beat = time.monotonic()
        try:
            while not self._stop.wait(_HEARTBEAT_S / 5):
                if time.monotonic() - last_beat >= _HEARTBEAT_S:
                    self.ledger.beat()
                    last_beat = time.monotonic()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        log.info("stopping: finishing speech in progress and draining the spool")
        self.control.stop()
        self.capture.stop()
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

    def _search(self, message: dict) -> list[dict]:
        """Search with indexes kept open, far faster than a fresh process opening them."""
        with self._search_lock:
            hits = search_profiles(
                self.paths.index_dir,
                list(message["profiles"]),
                str(message["query"]),
                since=message.get("since"),
                until=message.get("until"),
                limit=int(message.get("limit", 10)),
                newest_first=bool(message.get("newest_first")),
                open_indexes=self._open_indexes,
            )
        return [asdict(hit) for hit in hits]

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())

    # -- status ---------------------------------------------------------------------------

    def state(self) -> str:
        if self.capture.error or self.transcribe.error:
            return "error"
        if self.capture.disk_full:
            return "disk full"
        if self.capture.source.state != LISTENING:
            return "waiting for microphone"
        if self.transcribe.model_state == "loading":
            return "recording (model loading)"
        return "recording"

    def status(self) -> dict:
        source = self.capture.source
        latencies = sorted(self.transcribe.latencies)
        return {
            "state": self.state(),
            "profile": self.profile.name,
            "source": source.name,
            "source_state": source.state,
            "source_reason": source.reason,
            "backlog": len(self.spool),
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
        }
