"""The daemon's side of network wearables: live streams and recordings synced later.

Each streaming device gets a capture stage of its own (its own segmenter, journal and ledger
track) feeding the one spool, so its speech takes the same path as the microphone's, with the
device's name as the source. A recording made while the device was away is first kept whole on
disk and entered in the store under its upload id, and only then acknowledged; a worker cuts
it into utterances afterwards. A retried upload is recognised by its id and never stored twice;
a crash while cutting is finished on the next start (its utterances are named after the upload
and their place in it, so none is spooled twice either). Audio a device streamed live whose answer
was lost comes back inside an upload: the spans streamed live are remembered (a day back) and
silenced in the upload, and a stored utterance the same device heard twice anyway (the daemon
restarted in between) is kept once, the longer hearing (daemon/transcribe/overlap.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from daemon.capture.ledger import CaptureLedger
from daemon.capture.segmenter import Segmenter
from daemon.capture.sources.file import FileSource
from daemon.capture.stage import CaptureStage
from daemon.core.profiles import Profile
from daemon.storage.forgetting import Forgetter
from daemon.storage.spool import (
    SAMPLE_RATE,
    SpeechJournal,
    Spool,
    SpooledUtterance,
    fsync_dir,
    write_wav,
)
from daemon.storage.store import Store
from daemon.storage.uploads import WearableUpload
from daemon.storage.wearables import PairedWearable
from daemon.wearable.protocol import RequestRejected
from daemon.wearable.source import Wearable

__all__ = ["WearableAudio"]

log = logging.getLogger(__name__)

_UPLOAD_CHECK_S = 2.0
_UPLOAD_TRIES = 3
_JOIN_S = 0.5  # chunks closer than this make one span of live audio
_LIVE_MEMORY_S = 86400.0
_LIVE_SPANS = 10_000


class WearableAudio:
    """Takes verified audio from the listener into the pipeline."""

    def __init__(
        self,
        *,
        store: Store,
        spool: Spool,
        inbox: Path,
        ledger: CaptureLedger,
        forgetter: Forgetter,
        profile_for: Callable[[PairedWearable], Profile],
        halted: Callable[[], str | None],
        on_spooled: Callable[[SpooledUtterance], None],
    ):
        self.store = store
        self.spool = spool
        self.inbox = inbox
        self.ledger = ledger
        self.forgetter = forgetter
        self.profile_for = profile_for
        self.halted = halted
        self.on_spooled = on_spooled
        self.captures: dict[str, CaptureStage] = {}
        self.uploads_spooled = 0
        self._live: dict[str, list[tuple[float, float]]] = {}  # device id: spans streamed live
        self._failed: dict[tuple[str, str], int] = {}  # uploads that failed, and how often
        self.set_aside = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        inbox.mkdir(mode=0o700, parents=True, exist_ok=True)

    def start(self) -> None:
        self._worker = threading.Thread(
            target=self._spool_uploads, name="earmark-uploads", daemon=True
        )
        self._worker.start()

    def stop(self) -> None:
        """Stop every live capture (speech in progress is spooled) and the upload worker."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            captures, self.captures = list(self.captures.values()), {}
        for capture in captures:
            capture.stop()
        if self._worker is not None:
            self._worker.join(timeout=30)

    def status(self) -> list[dict]:
        with self._lock:
            captures = list(self.captures.values())
        return [
            {
                "source": c.source.name,
                "state": c.source.state,
                "reason": c.source.reason,
                "utterances_heard": c.utterances,
            }
            for c in captures
        ]

    # -- live ------------------------------------------------------------------------------

    def hear(self, wearable: PairedWearable, start: float, samples: np.ndarray) -> dict:
        halt = self.halted()
        if halt is not None:  # paused or off: the user asked for nothing to be kept
            return {"recording": False, "state": halt, "heard_s": 0.0}
        capture = self._capture(wearable)
        try:
            heard = capture.source.push(start, samples)
        except queue.Full:
            raise RequestRejected(503, "the daemon is behind; keep the chunk and retry") from None
        self._heard_live(wearable.id, start, start + len(samples) / SAMPLE_RATE)
        return {"recording": True, "heard_s": round(heard, 3)}

    def _heard_live(self, device_id: str, start: float, end: float) -> None:
        """Remember what a device streamed live (its own clock), a day back: a chunk whose answer
        was lost is kept by the device and uploaded later, and must not be heard twice."""
        with self._lock:
            spans = self._live.setdefault(device_id, [])
            if spans and start <= spans[-1][1] + _JOIN_S and end >= spans[-1][0]:
                spans[-1] = (min(spans[-1][0], start), max(spans[-1][1], end))
            else:
                spans.append((start, end))
            while spans and (spans[0][1] < end - _LIVE_MEMORY_S or len(spans) > _LIVE_SPANS):
                spans.pop(0)

    def _streamed(self, device_id: str, start: float, end: float) -> list[tuple[float, float]]:
        with self._lock:
            return [(a, b) for a, b in self._live.get(device_id, []) if b > start and a < end]

    def _capture(self, wearable: PairedWearable) -> CaptureStage:
        with self._lock:
            capture = self.captures.get(wearable.id)
            if capture is None or capture.source.name != wearable.name:
                profile = self.profile_for(wearable)
                capture = CaptureStage(
                    source=Wearable(wearable.name),
                    segmenter=Segmenter(profile.segmentation),
                    spool=self.spool,
                    profile=lambda w=wearable: self.profile_for(w).name,
                    on_spooled=self.on_spooled,
                    ledger=self.ledger,
                    ledger_track=f"wearable {wearable.id}",
                    journal=SpeechJournal(self.spool, owner=f"{wearable.id}-{os.getpid()}"),
                    halted=self.halted,
                    forgetter=self.forgetter,
                )
                capture.start()
                self.captures[wearable.id] = capture
            return capture

    # -- recordings synced later -----------------------------------------------------------

    def receive(
        self, wearable: PairedWearable, upload_id: str, recorded_at: float, samples: np.ndarray
    ) -> dict:
        """Keep an uploaded recording durably, then acknowledge it; a repeat changes nothing."""
        seconds = len(samples) / SAMPLE_RATE
        if self.store.uploads.get(wearable.id, upload_id) is not None:
            return {"upload_id": upload_id, "stored": False, "already_received": True}
        path = self._inbox_path(wearable.id, upload_id)
        partial = path.with_suffix(".part")
        with open(partial, "wb") as raw:
            write_wav(raw, samples)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
        fsync_dir(self.inbox)  # the file lasts before the store says it was received
        self.store.uploads.add(
            WearableUpload(
                device_id=wearable.id,
                upload_id=upload_id,
                recorded_at=recorded_at,
                seconds=seconds,
                received=time.time(),
                done=None,
            )
        )
        self._wake.set()
        log.info(
            "received %.0f s %s recorded at %s", seconds, wearable.name, time.ctime(recorded_at)
        )
        return {"upload_id": upload_id, "stored": True, "seconds": round(seconds, 3), "status": 201}

    def _inbox_path(self, device_id: str, upload_id: str) -> Path:
        return self.inbox / f"{device_id}--{upload_id}.wav"

    def _spool_uploads(self) -> None:
        while not self._stop.is_set():
            self.spool_pending()
            self._wake.wait(_UPLOAD_CHECK_S)
            self._wake.clear()

    def spool_pending(self) -> None:
        """Cut each received upload into utterances. One that fails is tried again at the next
        check; after `_UPLOAD_TRIES` it is moved to `damaged/` with the reason, and its span
        goes in the ledger as a gap saying so. Nothing is deleted."""
        for upload in self.store.uploads.pending():
            if self._stop.is_set():
                return
            try:
                self._spool_upload(upload)
            except Exception as exc:
                key = (upload.device_id, upload.upload_id)
                self._failed[key] = self._failed.get(key, 0) + 1
                if self._failed[key] < _UPLOAD_TRIES:
                    log.warning("the upload %s could not be spooled yet: %s", upload.upload_id, exc)
                    continue
                reason = f"an upload that could not be cut into utterances ({exc})"
                self.spool.damaged.keep(
                    [self._inbox_path(upload.device_id, upload.upload_id)], reason
                )
                wearable = self.store.wearables.get(upload.device_id)
                source = wearable.name if wearable else upload.device_id
                self.store.uploads.set_aside(
                    upload, source, "upload set aside as damaged", time.time()
                )
                self.set_aside += 1
                del self._failed[key]

    def _spool_upload(self, upload: WearableUpload) -> None:
        wearable = self.store.wearables.get(upload.device_id)
        if wearable is None:
            raise RuntimeError(f"no paired device has the id {upload.device_id}")
        path = self._inbox_path(upload.device_id, upload.upload_id)
        name = wearable.name
        profile = self.profile_for(wearable)
        prefix = hashlib.sha256(f"{upload.device_id}/{upload.upload_id}".encode()).hexdigest()[:10]
        source = FileSource(path, start=upload.recorded_at, name=name)
        end = upload.recorded_at + source.duration
        silenced = source.silence(self._streamed(upload.device_id, upload.recorded_at, end))
        if silenced:
            log.info("%.1f s of %s's upload was streamed live already: skipped", silenced, name)
        capture = CaptureStage(
            source=source,
            segmenter=Segmenter(profile.segmentation, live=False),
            spool=self.spool,
            profile=lambda: profile.name,
            on_spooled=self.on_spooled,
            forgetter=self.forgetter,
            uid_for=lambda start: f"{int(start * 1000):013d}-{prefix}",
            already_stored=self.store.utterances.has,
        )
        capture.run_to_end()
        if capture.error or capture.held_seconds:
            raise RuntimeError(capture.error or "the disk is full")
        self.store.uploads.finish(upload, name, time.time())
        path.unlink(missing_ok=True)
        self.uploads_spooled += 1
        log.info("spooled %d utterance(s) %s recorded while away", capture.utterances, name)
