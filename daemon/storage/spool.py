"""The spool: every utterance is on disk, fsynced, before it is transcribed.

An item is two files named by its uid: `UID.wav` (16 kHz mono int16) and `UID.json` (profile,
source, wall-clock start). Both are written to temporary names, fsynced and renamed; the JSON
sidecar is renamed last, so an item exists only once it is whole. A worker claims an item with an
exclusive lock on its sidecar, so the daemon and an `earmark import` never transcribe the same
item twice; the lock dies with its process, so a killed worker's items are drained by the next.
Items are removed only after their transcript is committed to the store. An item or journal
that cannot be read is moved to `damaged/` beside the spool, with the reason, never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import re
import time
import uuid
import wave
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daemon.core.errors import SpoolFull, SpoolUnwritable
from daemon.storage.damaged import DamagedFiles

__all__ = [
    "Spool",
    "SpooledUtterance",
    "SpeechJournal",
    "recover_journals",
    "SAMPLE_RATE",
    "new_uid",
    "write_wav",
    "fsync_dir",
]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
_STALE_PARTIAL_S = 120.0
_UID = re.compile(r"[\w-]{1,80}")


@dataclass(frozen=True)
class SpooledUtterance:
    """An utterance waiting on disk for its transcript."""

    uid: str
    profile: str
    source: str
    start: float
    duration: float
    wav_path: Path
    meta_path: Path
    speech_end: float | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration

    def read_audio(self) -> np.ndarray:
        """The utterance as float32 samples in [-1, 1]; ValueError if the file is not the
        16 kHz mono 16-bit WAV the spool writes."""
        try:
            with wave.open(str(self.wav_path), "rb") as wav:
                shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
                if shape != (1, 2, SAMPLE_RATE):
                    raise ValueError(
                        f"its audio is {shape[0]} channel(s), {8 * shape[1]}-bit, {shape[2]} Hz; "
                        f"expected 1 channel, 16-bit, {SAMPLE_RATE} Hz"
                    )
                frames = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError) as exc:
            raise ValueError(f"its audio is not a readable WAV file ({exc})") from exc
        if len(frames) % 2:
            frames = frames[:-1]  # a file cut off mid-sample
        return np.frombuffer(frames, dtype=np.int16).astype(np.float32) / 32768.0


def write_wav(fileobj, samples: np.ndarray) -> None:
    """16 kHz mono 16-bit samples as a WAV file into an open binary file."""
    with wave.open(fileobj, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def fsync_dir(directory: Path) -> None:
    """Make the names last written in a directory (renames included) survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_uid(start: float) -> str:
    """A unique, time-ordered name for an utterance."""
    return f"{int(start * 1000):013d}-{uuid.uuid4().hex[:10]}"


class Spool:
    """A directory of utterances waiting for transcription."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.damaged = DamagedFiles(directory.parent / "damaged")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put(
        self,
        *,
        profile: str,
        source: str,
        start: float,
        samples: np.ndarray,
        uid: str | None = None,
        speech_end: float | None = None,
    ) -> SpooledUtterance:
        """Write an utterance durably, or leave nothing behind and raise SpoolFull (no space) or
        SpoolUnwritable (any other reason: no file descriptors, permissions, a vanished folder)."""
        uid = uid or new_uid(start)
        wav_path = self.directory / f"{uid}.wav"
        meta_path = self.directory / f"{uid}.json"
        wav_tmp = self.directory / f".{uid}.wav.tmp"
        meta_tmp = self.directory / f".{uid}.json.tmp"
        pcm = np.asarray(samples, dtype=np.int16)
        meta = {
            "uid": uid,
            "profile": profile,
            "source": source,
            "start": start,
            "duration": len(pcm) / SAMPLE_RATE,
            "speech_end": speech_end,
        }
        try:
            with open(wav_tmp, "wb") as raw:
                write_wav(raw, pcm)
                raw.flush()
                os.fsync(raw.fileno())
            with open(meta_tmp, "w", encoding="utf-8") as fh:
                json.dump(meta, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(wav_tmp, wav_path)
            os.replace(meta_tmp, meta_path)
            fsync_dir(self.directory)
        except OSError as exc:
            for leftover in (wav_tmp, meta_tmp, wav_path):
                with contextlib.suppress(OSError):  # the folder itself may be what failed
                    leftover.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise SpoolFull(f"no space left on the disk holding {self.directory}") from exc
            raise SpoolUnwritable(
                f"the spool {self.directory} cannot be written ({exc.strerror or exc})"
            ) from exc
        return SpooledUtterance(
            uid=uid,
            profile=profile,
            source=source,
            start=start,
            duration=meta["duration"],
            wav_path=wav_path,
            meta_path=meta_path,
            speech_end=speech_end,
        )

    def pending(self) -> list[SpooledUtterance]:
        """Every whole item, oldest first."""
        items = []
        for meta_path in self._sidecars():
            item = self._read(meta_path)
            if item is not None:
                items.append(item)
        items.sort(key=lambda i: (i.start, i.uid))
        return items

    def __len__(self) -> int:
        return sum(1 for _ in self._sidecars())

    def _sidecars(self) -> Iterator[Path]:
        """Sidecars of whole items (temp files and journals start with a dot)."""
        return (p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def _read(self, meta_path: Path) -> SpooledUtterance | None:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            wav_path = meta_path.with_suffix(".wav")
            if not wav_path.exists():
                raise ValueError("its audio file is missing")
            return SpooledUtterance(
                uid=str(meta["uid"]),
                profile=str(meta["profile"]),
                source=str(meta["source"]),
                start=float(meta["start"]),
                duration=float(meta["duration"]),
                wav_path=wav_path,
                meta_path=meta_path,
                speech_end=meta.get("speech_end"),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.set_aside(meta_path, f"spool item cannot be read ({exc})")
            return None

    def set_aside(self, meta_path: Path, reason: str) -> None:
        """Move an item that cannot be used (its sidecar and audio) to the damaged folder."""
        try:
            self.damaged.keep([meta_path, meta_path.with_suffix(".wav")], reason)
        except OSError as exc:  # left where it is; it is tried again later
            log.error("could not set aside %s (%s): %s", meta_path.name, reason, exc)

    @contextmanager
    def claim(self, item: SpooledUtterance) -> Iterator[bool]:
        """Lock an item for this worker; yields False if another worker holds it or it is gone."""
        try:
            fd = os.open(item.meta_path, os.O_RDONLY)
        except FileNotFoundError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield item.meta_path.exists()
        finally:
            os.close(fd)

    def remove(self, item: SpooledUtterance, *, keep_audio_at: Path | None = None) -> None:
        """Drop a transcribed item; its audio moves to `keep_audio_at` if the profile keeps it."""
        if keep_audio_at is not None:
            keep_audio_at.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.replace(item.wav_path, keep_audio_at)
        else:
            item.wav_path.unlink(missing_ok=True)
        item.meta_path.unlink(missing_ok=True)

    def sweep_partials(self) -> int:
        """Delete half-written leftovers of a crash (temp files, audio without a sidecar)."""
        removed = 0
        cutoff = time.time() - _STALE_PARTIAL_S
        for path in self.directory.iterdir():
            if path.name.startswith(".journal-"):
                continue
            partial = path.name.endswith(".tmp") or (
                path.suffix == ".wav" and not path.with_suffix(".json").exists()
            )
            if partial and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


class SpeechJournal:
    """The utterance being heard right now, appended to disk as it is heard.

    A kill -9 in the middle of a sentence then loses at most the last block: the next process
    to open the spool turns the orphaned journal into an ordinary spool item. The journal holds
    the uid its utterance will be spooled under, so recovering it never duplicates an item.
    While its owner lives, the journal's sidecar is locked and left alone.
    """

    def __init__(self, spool: Spool, *, owner: str):
        self.spool = spool
        self.pcm_path = spool.directory / f".journal-{owner}.pcm"
        self.meta_path = spool.directory / f".journal-{owner}.json"
        self._lock_fd = os.open(self.meta_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._pcm = open(self.pcm_path, "wb")  # noqa: SIM115 - kept open while capturing
        self.uid: str | None = None
        self.start: float | None = None
        self._written = 0

    def update(
        self, *, profile: str, source: str, start: float, blocks: Sequence[np.ndarray]
    ) -> str:
        """Record the speech heard so far (consecutive blocks, only new ones are written);
        returns the uid this utterance will be spooled under."""
        if start != self.start:
            self.uid, self.start, self._written = new_uid(start), start, 0
            meta = {"uid": self.uid, "profile": profile, "source": source, "start": start}
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, json.dumps(meta).encode(), 0)
            self._pcm.seek(0)
            self._pcm.truncate()
        fresh = blocks[self._written :]
        if fresh:
            for block in fresh:
                self._pcm.write(np.asarray(block, dtype=np.int16).tobytes())
            self._pcm.flush()  # in the page cache: survives the process, not a power cut
            self._written += len(fresh)
        return self.uid

    def clear(self) -> None:
        if self.start is not None:
            os.ftruncate(self._lock_fd, 0)
            self._pcm.seek(0)
            self._pcm.truncate()
            self.uid, self.start, self._written = None, None, 0

    def close(self) -> None:
        self.clear()
        self._pcm.close()
        self.pcm_path.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)
        os.close(self._lock_fd)


def recover_journals(spool: Spool, store_has: Callable[[str], bool]) -> list[SpooledUtterance]:
    """Turn the journals of dead processes into spool items (unless already spooled or stored).

    A journal that cannot be read (cut off by a crash, or garbage) is set aside in the damaged
    folder with the reason; it never stops the daemon from starting.
    """
    recovered = []
    for meta_path in spool.directory.glob(".journal-*.json"):
        try:
            fd = os.open(meta_path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner is alive
            pcm_path = meta_path.with_suffix(".pcm")
            try:
                item = _recover_journal(spool, fd, pcm_path, store_has)
            except SpoolUnwritable as exc:  # kept for the next start
                log.error("a speech journal cannot be recovered now: %s", exc)
                continue
            except (ValueError, KeyError, TypeError, OSError) as exc:
                spool.damaged.keep([meta_path, pcm_path], f"speech journal cannot be read ({exc})")
                continue
            if item is not None:
                recovered.append(item)
            pcm_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return recovered


def _recover_journal(
    spool: Spool, fd: int, pcm_path: Path, store_has: Callable[[str], bool]
) -> SpooledUtterance | None:
    raw = os.read(fd, 65536)
    if not raw:
        return None
    meta = json.loads(raw)
    if not isinstance(meta, dict):
        raise ValueError("expected a JSON object")
    uid, start = str(meta["uid"]), float(meta["start"])
    if not _UID.fullmatch(uid):
        raise ValueError(f"its uid {uid[:40]!r} is not a spool name")
    if not math.isfinite(start):
        raise ValueError(f"its start {start} is not a time")
    pcm = pcm_path.read_bytes() if pcm_path.exists() else b""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype=np.int16)  # cut off mid-sample
    already = (spool.directory / f"{uid}.json").exists() or store_has(uid)
    if len(samples) < SAMPLE_RATE // 4 or already:
        return None
    item = spool.put(
        profile=str(meta["profile"]),
        source=str(meta["source"]),
        start=start,
        samples=samples,
        uid=uid,
    )
    log.warning("recovered %.1f s of speech cut off by a crash", len(samples) / SAMPLE_RATE)
    return item
