"""The daemon: one per user. Its start-up is the list of the parts it wires: storage, the two
pipeline stages, the wearables, search, the background jobs, the control socket and the desktop.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from daemon.capture.ledger import CaptureLedger
from daemon.capture.segmenter import Segmenter
from daemon.capture.sources.preferred import PreferredInput
from daemon.capture.stage import CaptureStage
from daemon.core import control
from daemon.core.errors import EarmarkError
from daemon.core.paths import Paths
from daemon.core.profiles import DEFAULT_PROFILE, Profile, list_profiles
from daemon.core.recording_state import RecordingState
from daemon.service.commands import commands_for
from daemon.service.jobs import BackgroundJobs
from daemon.service.open_indexes import OpenIndexes
from daemon.service.profile_cache import ProfileCache
from daemon.service.single_instance import SingleInstance
from daemon.service.status import state, status
from daemon.storage.forgetting import Forgetter
from daemon.storage.spool import SpeechJournal, Spool, recover_journals
from daemon.storage.store import Store
from daemon.storage.wearables import PairedWearable
from daemon.transcribe.stage import TranscribeStage
from daemon.wearable.certificate import listener_certificate
from daemon.wearable.ingest import WearableAudio
from daemon.wearable.protocol import PairingCodes
from daemon.wearable.server import ListenerSettings, WearableListener, load_listener_settings

if TYPE_CHECKING:
    from daemon.desktop.app import Desktop

__all__ = ["Daemon"]

log = logging.getLogger(__name__)

_HEARTBEAT_S = 5.0
_DRAIN_ON_STOP_S = 30.0


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
        self.profiles = ProfileCache(paths.profiles_dir)
        self._stop = threading.Event()
        self._lock = SingleInstance(paths.lock_file)
        self._state_lock = threading.Lock()

    def run(self) -> None:
        """Run until SIGINT/SIGTERM or a `stop` command, then drain and stop cleanly."""
        self._lock.acquire()
        try:
            self._run()
        finally:
            self._lock.release()

    def _run(self) -> None:
        self._choose_profile()
        self._open_storage()
        self._wire_stages()
        self._wire_wearables()
        self.indexes = OpenIndexes(self.paths.index_dir, self.profile_names)
        self.jobs = BackgroundJobs(
            paths=self.paths,
            store=self.store,
            forgetter=self.forgetter,
            profiles=self.profiles,
            active=lambda: self.profile.name,
            switch_to=self.use_profile,
        )
        self.control = control.ControlServer(self.paths.control_socket, commands_for(self))
        self._install_signals()
        self._start()
        try:
            self._loop()
        finally:
            self._shutdown()

    # -- the parts ------------------------------------------------------------------------

    def _choose_profile(self) -> None:
        try:
            self.profile = self.profiles.get(self.recording_state.profile)
        except EarmarkError as exc:  # the profile last used was deleted or broken since
            log.warning("%s; recording under the default profile", exc)
            self.recording_state = self.recording_state.using(DEFAULT_PROFILE)
            self.profile = self.profiles.get(DEFAULT_PROFILE)
        self.recording_state.save(self.paths.state_file)

    def _open_storage(self) -> None:
        """The store, the spool (and what a crash left in it), forgetting and the ledger."""
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

    def _wire_stages(self) -> None:
        """Capture from the profile's inputs into the spool; transcribe from it into the store."""
        self.transcribe = TranscribeStage(
            spool=self.spool,
            store=self.store,
            index_root=self.paths.index_dir,
            audio_root=self.paths.data_dir / "audio",
            profile_for=self.profiles.get,
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
            halted=self.halt_reason,
            forgetter=self.forgetter,
        )

    def _wire_wearables(self) -> None:
        """Pairing codes, the audio paired wearables send, and the listener they send it to."""
        self.pairing = PairingCodes()
        self.wearables = WearableAudio(
            store=self.store,
            spool=self.spool,
            inbox=self.paths.data_dir / "uploads",
            ledger=self.ledger,
            forgetter=self.forgetter,
            profile_for=self._profile_of_wearable,
            halted=self.halt_reason,
            on_spooled=self.transcribe.wake,
        )
        self.listener = WearableListener(
            self._listener_settings(),
            store=self.store,
            pairing=self.pairing,
            hear=self.wearables.hear,
            receive=self.wearables.receive,
            status=self._wearable_status,
            own_certificate=lambda: listener_certificate(
                self.paths.data_dir / "listener-tls", self.spool.damaged
            ),
        )

    def _start(self) -> None:
        self.transcribe.start()  # drains whatever a crash left in the spool
        self.capture.start()  # recording starts at once, even while the model loads
        self.wearables.start()
        self.listener.start()
        self.control.start()
        threading.Thread(
            target=self.indexes.warm, args=(self.profile.name,), name="earmark-warm", daemon=True
        ).start()
        if self.desktop_factory is not None:
            self.desktop = self.desktop_factory(self.paths)
            try:
                self.desktop.start()
            except EarmarkError as exc:
                log.warning("%s; running headless", exc)
                self.desktop = None
        log.info("earmark running: profile %s, pid %d", self.profile.name, os.getpid())

    def _loop(self) -> None:
        """Until stopped: start due background jobs, end a pause that ran out, beat the ledger."""
        last_beat = time.monotonic()
        while not self._stop.wait(_HEARTBEAT_S / 5):
            self.jobs.start_if_due()
            if self.recording_state.expired():
                self.change_recording(self.recording_state.resumed())
            if time.monotonic() - last_beat >= _HEARTBEAT_S:
                self.ledger.beat()
                last_beat = time.monotonic()

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
        self.indexes.close()
        self.ledger.close()
        self.store.close()
        log.info("earmark stopped; %d utterances left in the spool", len(self.spool))

    def stop(self) -> None:
        self._stop.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())

    # -- what the user chose: recording on or off, the profile ---------------------------------

    def halt_reason(self) -> str | None:
        """Why recording is halted (off, paused until ...), or None while it records."""
        return self.recording_state.halt_reason()

    def change_recording(self, recording: RecordingState) -> dict:
        """Adopt and keep a new recording state; capture follows within a fraction of a second."""
        with self._state_lock:
            recording.save(self.paths.state_file)
            self.recording_state = recording
        log.info("recording state: %s", recording.halt_reason() or "recording")
        return status(self)

    def _inputs_for(self, profile: Profile) -> list[str | None]:
        """A profile's inputs in order of preference; `microphone` is the one `run` was given."""
        names = profile.sources or ("microphone",)
        return [self.device if name == "microphone" else name for name in names]

    def use_profile(self, name: str, *, by_hand: bool = False) -> dict:
        """File what is heard from now on under another profile, from its own input."""
        profile = self.profiles.get(name)
        if self._inputs_for(profile) != self._inputs_for(self.profile):
            self.capture.switch_source(PreferredInput(self._inputs_for(profile)))
        self.profile = profile
        if by_hand:
            self.jobs.chosen_by_hand = name  # what returns when activation rules stop holding
        return self.change_recording(self.recording_state.using(name))

    def _has_data(self, item) -> None:
        if item.profile not in self._profiles_with_data:
            self._profiles_with_data = self._profiles_with_data | {item.profile}

    def profile_names(self) -> list[str]:
        """Every profile that exists or has data (a deleted profile's transcripts stay findable)."""
        return sorted(set(list_profiles(self.paths.profiles_dir)) | self._profiles_with_data)

    # -- wearables ------------------------------------------------------------------------

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
                return self.profiles.get(wearable.profile)
            except EarmarkError as exc:
                log.warning("%s; filing %s under %s", exc, wearable.name, self.profile.name)
        return self.profile

    def _wearable_status(self, wearable: PairedWearable) -> dict:
        """What a wearable's status request is told."""
        return {
            "name": wearable.name,
            "profile": self._profile_of_wearable(wearable).name,
            "time": time.time(),
            "state": state(self),
        }
