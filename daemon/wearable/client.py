"""`earmark wearable`: the reference network wearable (a Raspberry Pi, a second laptop).

It records its microphone and streams one-second chunks to the daemon. When the daemon cannot be
reached, chunks go to a buffer on disk instead (raw PCM, flushed and fsynced as it grows, with
a sidecar holding the recording's start time and upload id); once the daemon answers again,
live streaming resumes and each buffered recording is uploaded, oldest first, and deleted only
after the daemon acknowledged it. An upload retried after a lost answer carries the same id, so
the daemon stores it once. A recording the daemon refuses as bad is moved aside, never deleted.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import os
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from daemon.capture.sources.base import Source
from daemon.core.errors import EarmarkError
from daemon.core.loopback import is_loopback
from daemon.core.paths import write_private
from daemon.storage.spool import SAMPLE_RATE, write_wav
from daemon.wearable.opus import encode_opus
from daemon.wearable.protocol import sign_request

__all__ = ["Credentials", "OfflineBuffer", "WearableClient"]

log = logging.getLogger(__name__)

_CHUNK_S = 1.0
_RETRY_S = 3.0
_FILE_LIMIT_S = 600.0
_TIMEOUT_S = 10.0


class Unreachable(Exception):
    """The daemon did not answer (or answered that it cannot take the request now).
    `stale` says the failure was on a kept-alive connection the daemon may have closed."""

    def __init__(self, message: str, *, stale: bool = False):
        super().__init__(message)
        self.stale = stale


class Refused(Exception):
    """The daemon answered no; `status` says why (401: credentials, 4xx: the request)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    server: str
    device_id: str
    secret: bytes
    name: str
    fingerprint: str | None = None  # the daemon's certificate, pinned at pairing

    @classmethod
    def load(cls, path: Path) -> Credentials | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            data["server"],
            data["device_id"],
            bytes.fromhex(data["secret"]),
            data["name"],
            data.get("fingerprint"),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = {
            "server": self.server,
            "device_id": self.device_id,
            "secret": self.secret.hex(),
            "name": self.name,
            "fingerprint": self.fingerprint,
        }
        write_private(path, json.dumps(data, indent=2) + "\n")


class NotTheDaemon(Unreachable):
    """The server showed a certificate other than the one pinned: nothing was sent to it, and
    a wearable keeps its audio as it does while the daemon is away."""


def normal_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as `earmark pair` prints it (hex, colons and case allowed)."""
    digits = text.replace(":", "").strip().lower()
    if len(digits) != 64 or not all(c in "0123456789abcdef" for c in digits):
        raise EarmarkError(
            f"--fingerprint {text!r}: expected the 64 hex digits `earmark pair` shows"
        )
    return digits


class Connection:
    """One keep-alive HTTP(S) connection to the daemon, reopened after any failure. With a
    fingerprint, the daemon must show exactly that certificate (checked before anything is
    sent); otherwise an https daemon's certificate is verified against `cafile` or the system's
    authorities."""

    def __init__(self, server: str, *, cafile: str | None = None, fingerprint: str | None = None):
        url = urlsplit(server)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise EarmarkError(f"--server {server!r}: expected http://HOST:PORT or https://…")
        if fingerprint and url.scheme != "https":
            raise EarmarkError(f"--server {server!r}: a fingerprint is for an https:// daemon")
        self.url = url
        self.fingerprint = fingerprint
        self.context = None
        if url.scheme == "https" and fingerprint:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.context.check_hostname = False  # the pin says who it is, not a name
            self.context.verify_mode = ssl.CERT_NONE
        elif url.scheme == "https":
            self.context = ssl.create_default_context(cafile=cafile)
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, target: str, body: bytes, headers: dict[str, str] | None = None
    ) -> dict:
        stale = self._conn is not None
        if self._conn is None:
            port = self.url.port or (443 if self.context else 80)
            if self.context is not None:
                self._conn = http.client.HTTPSConnection(
                    self.url.hostname, port, timeout=_TIMEOUT_S, context=self.context
                )
            else:
                self._conn = http.client.HTTPConnection(self.url.hostname, port, timeout=_TIMEOUT_S)
        try:
            if self.fingerprint and self._conn.sock is None:
                self._conn.connect()
                self._check_pin()
            self._conn.request(method, target, body=body, headers=headers or {})
            response = self._conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Unreachable(str(exc) or type(exc).__name__, stale=stale) from None
        try:
            answer = json.loads(payload) if payload else {}
        except ValueError:
            answer = {"error": payload[:200].decode(errors="replace")}
        if response.status in (429, 503) or response.status >= 500:
            raise Unreachable(answer.get("error", f"HTTP {response.status}"))
        if response.status >= 400:
            raise Refused(response.status, answer.get("error", f"HTTP {response.status}"))
        return answer

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _check_pin(self) -> None:
        shown = self._conn.sock.getpeercert(binary_form=True) or b""
        if hashlib.sha256(shown).hexdigest() != self.fingerprint:
            self.close()
            raise NotTheDaemon(
                f"{self.url.netloc} showed a certificate other than the one this device was "
                "paired with; nothing was sent (someone may be in between, or the daemon's "
                "certificate was made anew: pair again)"
            )


def pair(
    server: str,
    code: str,
    credentials_path: Path,
    *,
    cafile: str | None = None,
    fingerprint: str | None = None,
    insecure: bool = False,
) -> str:
    """Trade a pairing code for credentials and keep them (0600); returns the device's name.
    Over plain HTTP beyond loopback the secret would travel in the clear: that needs
    `insecure`."""
    host = urlsplit(server).hostname or ""
    if urlsplit(server).scheme == "http" and not insecure and not is_loopback(host):
        raise EarmarkError(
            f"pairing over plain HTTP with {host} would send this device's secret in the clear; "
            "use the https:// address and --fingerprint that `earmark pair` shows (or --insecure "
            "on a network you trust)"
        )
    connection = Connection(server, cafile=cafile, fingerprint=fingerprint)
    try:
        answer = connection.request(
            "POST",
            "/v1/pair",
            json.dumps({"code": code}).encode(),
            {"Content-Type": "application/json"},
        )
    except Unreachable as exc:
        raise EarmarkError(f"the daemon at {server} cannot be reached ({exc})") from None
    except Refused as exc:
        raise EarmarkError(f"pairing refused: {exc}") from None
    finally:
        connection.close()
    Credentials(
        server, answer["device_id"], bytes.fromhex(answer["secret"]), answer["name"], fingerprint
    ).save(credentials_path)
    return answer["name"]


class OfflineBuffer:
    """Recordings kept on disk while the daemon is away: `<id>.pcm` and `<id>.json` each."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._current: tuple[str, float, float] | None = None  # upload id, start, end
        self._lock = threading.Lock()

    def append(self, start: float, pcm: bytes) -> None:
        with self._lock:
            seconds = len(pcm) / 2 / SAMPLE_RATE
            current = self._current
            if (
                current is None
                or abs(start - current[2]) > 0.25
                or current[2] - current[1] > _FILE_LIMIT_S
            ):
                upload_id = uuid.uuid4().hex
                write_private(
                    self.directory / f"{upload_id}.json",
                    json.dumps({"upload_id": upload_id, "recorded_at": start}),
                )
                current = (upload_id, start, start)
            with open(self.directory / f"{current[0]}.pcm", "ab") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(pcm)
                fh.flush()
                os.fsync(fh.fileno())
            self._current = (current[0], current[1], current[2] + seconds)

    def close_current(self) -> None:
        """The recording being written is complete: the next chunk starts another."""
        with self._lock:
            self._current = None

    def ready(self) -> list[tuple[str, float]]:
        """(upload id, recorded_at) of each complete recording, oldest first."""
        with self._lock:
            writing = self._current[0] if self._current else None
        found = []
        for meta in self.directory.glob("*.json"):
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
                upload_id, recorded_at = str(data["upload_id"]), float(data["recorded_at"])
            except (ValueError, KeyError, TypeError):
                upload_id, recorded_at = self._recover(meta)
            except OSError:
                continue
            if (
                upload_id
                and upload_id != writing
                and (self.directory / f"{meta.stem}.pcm").exists()
            ):
                found.append((upload_id, recorded_at))
        return sorted(found, key=lambda f: f[1])

    def _recover(self, meta: Path) -> tuple[str | None, float]:
        """A sidecar that cannot be read (cut off, overwritten): the recording is not lost. It
        began its length before the audio file was last written; a new sidecar says so, and the
        damaged one is kept in `refused/`."""
        pcm = meta.with_suffix(".pcm")
        aside = self.directory / "refused"
        aside.mkdir(mode=0o700, exist_ok=True)
        meta.replace(aside / f"{meta.name}.damaged")
        if not pcm.exists():
            return None, 0.0
        stat = pcm.stat()
        recorded_at = stat.st_mtime - stat.st_size / 2 / SAMPLE_RATE
        write_private(meta, json.dumps({"upload_id": meta.stem, "recorded_at": recorded_at}))
        log.warning("%s was damaged; its recording is kept, dated by its audio file", meta.name)
        return meta.stem, recorded_at

    def samples(self, upload_id: str) -> np.ndarray:
        pcm = (self.directory / f"{upload_id}.pcm").read_bytes()
        pcm = pcm[: len(pcm) // 2 * 2]  # a crash mid-write can leave half a sample
        return np.frombuffer(pcm, dtype="<i2").astype(np.int16)

    def wav(self, upload_id: str) -> bytes:
        out = io.BytesIO()
        write_wav(out, self.samples(upload_id))
        return out.getvalue()

    def remove(self, upload_id: str) -> None:
        (self.directory / f"{upload_id}.pcm").unlink(missing_ok=True)
        (self.directory / f"{upload_id}.json").unlink(missing_ok=True)

    def set_aside(self, upload_id: str) -> Path:
        aside = self.directory / "refused"
        aside.mkdir(mode=0o700, exist_ok=True)
        for suffix in (".pcm", ".json"):
            path = self.directory / f"{upload_id}{suffix}"
            if path.exists():
                path.replace(aside / path.name)
        return aside


class WearableClient:
    """Streams a source to the daemon, buffering to disk while the daemon is away."""

    def __init__(
        self,
        credentials: Credentials,
        buffer: OfflineBuffer,
        *,
        cafile: str | None = None,
        opus: bool = False,
    ):
        self.credentials = credentials
        self.opus = opus  # send Ogg Opus (about a ninth of the bytes) instead of PCM
        self.buffer = buffer
        pin = credentials.fingerprint
        self.live = Connection(credentials.server, cafile=cafile, fingerprint=pin)
        self.sync = Connection(credentials.server, cafile=cafile, fingerprint=pin)
        self.online = True
        self.streamed_s = 0.0
        self.buffered_s = 0.0
        self.uploaded = 0
        self._next_try = 0.0
        self._wake_sync = threading.Event()

    def _signed(self, connection: Connection, method: str, target: str, body: bytes) -> dict:
        """Send a signed request; once more, signed anew, if a kept-alive connection had gone
        stale (a repeat is harmless: the daemon cuts repeated audio and knows upload ids)."""
        try:
            return self._send(connection, method, target, body)
        except Unreachable as exc:
            if not exc.stale:
                raise
            return self._send(connection, method, target, body)

    def _send(self, connection: Connection, method: str, target: str, body: bytes) -> dict:
        headers = sign_request(
            self.credentials.device_id, self.credentials.secret, method, target, body
        )
        return connection.request(method, target, body, headers)

    def run(self, source: Source, stop: threading.Event) -> None:
        """Until `stop` is set: stream (or buffer) what the source hears, and sync the buffer."""
        syncer = threading.Thread(target=self._sync_loop, args=(stop,), daemon=True)
        syncer.start()
        source.start()
        blocks: list[np.ndarray] = []
        chunk_start = 0.0
        try:
            while not stop.is_set():
                block = source.read(0.2)
                if block is None:
                    continue
                if not blocks:
                    chunk_start = block.start
                blocks.append(block.samples)
                if sum(len(b) for b in blocks) >= _CHUNK_S * SAMPLE_RATE:
                    self.send(chunk_start, np.concatenate(blocks))
                    blocks = []
            if blocks:
                self.send(chunk_start, np.concatenate(blocks))
        finally:
            source.stop()
            self.buffer.close_current()
            self._wake_sync.set()
            syncer.join(timeout=_TIMEOUT_S * 2)

    def send(self, start: float, samples: np.ndarray) -> None:
        """Stream one chunk live; keep it in the buffer when the daemon cannot take it."""
        pcm = samples.astype("<i2").tobytes()
        if self.online or time.monotonic() >= self._next_try:
            target = f"/v1/stream?start={start:.3f}&rate={SAMPLE_RATE}&channels=1"
            body = pcm
            if self.opus:
                target = f"/v1/stream?start={start:.3f}&format=opus&samples={len(samples)}"
                body = encode_opus(samples)
            try:
                self._signed(self.live, "POST", target, body)
                self.streamed_s += len(samples) / SAMPLE_RATE
                if not self.online:
                    log.info("the daemon is back: streaming live, syncing what was buffered")
                    self.online = True
                    self.buffer.close_current()
                    self._wake_sync.set()
                return
            except Unreachable as exc:
                if self.online:
                    log.warning("the daemon cannot be reached (%s); buffering to disk", exc)
                self.online = False
                self._next_try = time.monotonic() + _RETRY_S
            except Refused as exc:
                if exc.status == 401:
                    log.error("the daemon refused this device's credentials: %s", exc)
                else:
                    log.error("the daemon refused a chunk: %s", exc)
                self.online = False
                self._next_try = time.monotonic() + _RETRY_S
        self.buffer.append(start, pcm)
        self.buffered_s += len(samples) / SAMPLE_RATE

    def _sync_loop(self, stop: threading.Event) -> None:
        while True:
            if self.online:
                self.sync_buffer()
            if stop.is_set():
                if self.online:
                    self.sync_buffer()
                return
            self._wake_sync.wait(_RETRY_S)
            self._wake_sync.clear()

    def sync_buffer(self) -> int:
        """Upload every complete buffered recording; returns how many were acknowledged."""
        done = 0
        for upload_id, recorded_at in self.buffer.ready():
            target = f"/v1/uploads/{upload_id}?recorded_at={recorded_at:.3f}"
            if self.opus:
                samples = self.buffer.samples(upload_id)
                target += f"&format=opus&samples={len(samples)}"
                body = encode_opus(samples)
            else:
                body = self.buffer.wav(upload_id)
            try:
                self._signed(self.sync, "PUT", target, body)
            except Unreachable as exc:
                log.info("sync paused: %s", exc)
                return done
            except Refused as exc:
                if exc.status == 401:
                    log.error("the daemon refused this device's credentials: %s", exc)
                    return done
                aside = self.buffer.set_aside(upload_id)
                log.error("the daemon refused recording %s (%s); kept in %s", upload_id, exc, aside)
                continue
            self.buffer.remove(upload_id)
            self.uploaded += 1
            done += 1
            log.info("synced the recording made at %s", time.ctime(recorded_at))
        return done
