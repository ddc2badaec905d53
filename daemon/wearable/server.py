"""The HTTP listener network wearables talk to (docs/wearable-protocol.md).

    POST /v1/pair                         trade a one-time code for a device id and secret
    GET  /v1/ping                         check the credentials and the clocks
    POST /v1/stream?start=T&rate=16000&channels=1     live 16 kHz s16le PCM
    POST /v1/stream?start=T&format=opus&samples=N     or Ogg Opus
    PUT  /v1/uploads/ID?recorded_at=T     a WAV recorded while away (16 kHz mono s16)
    PUT  /v1/uploads/ID?recorded_at=T&format=opus&samples=N       or Ogg Opus

Every request but pairing is signed (daemon/wearable/protocol.py), and the signature is checked
from the headers before the body is read; then the body is read whole, within a deadline, and
checked against the digest that was signed. A body shorter than its Content-Length is refused as
truncated; nothing of a refused request reaches the pipeline, and a refusal closes the
connection.

Nobody without a device's secret can starve it: connections no device has signed are capped in
all and per address (a new one pushes out the oldest), every connection has deadlines for its
headers and its body, at most a small body is read before a signature is checked, refusals are
rate-limited per address and signed requests per device. The listener binds loopback unless the
user configures an address. Beyond loopback it speaks TLS: with the user's certificate when one
is configured (`config/wearable.yaml`), otherwise with its own, whose fingerprint devices pin at
pairing (daemon/wearable/certificate.py); plain HTTP there needs `insecure: true`.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import socket
import ssl
import sys
import threading
import time
import wave
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import yaml

from daemon.core.errors import EarmarkError
from daemon.core.loopback import is_loopback
from daemon.storage.spool import SAMPLE_RATE
from daemon.storage.store import Store
from daemon.storage.wearables import PairedWearable
from daemon.wearable.certificate import fingerprint
from daemon.wearable.opus import OpusError, decode_opus
from daemon.wearable.protocol import (
    HEADER_BODY,
    PairingCodes,
    PairingRefused,
    RequestRejected,
    Unauthorized,
    body_matches,
    pair_device,
    verify_request,
)

__all__ = ["ListenerSettings", "WearableListener", "load_listener_settings"]

log = logging.getLogger(__name__)

_CHUNK_MOST = 300 * SAMPLE_RATE  # samples in a live chunk (the reference client sends a second)
_HEADERS_S = 10.0  # from connecting (TLS handshake included) to the end of the headers
_IDLE_S = 60.0  # a device's kept-alive connection, between its requests
_BODY_S, _BODY_RATE = 20.0, 128 * 1024  # a body's deadline: 20 s, plus a second per 128 KiB
_HEADER_BYTES = 32 * 1024  # request line and headers
_UNSIGNED_BODY = 64 * 1024  # the most read before a signature is checked (pairing, old clients)
_RATE_TABLE = 4096  # rate-limit buckets kept before idle ones are dropped
_EARLIEST = 946_684_800.0  # 2000-01-01: no recording is older
_UPLOAD_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True)
class ListenerSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    certificate: str = ""  # PEM file; with `key`, the listener speaks TLS
    key: str = ""
    max_body_mb: float = 64.0
    requests_per_second: float = 20.0
    insecure: bool = False  # plain HTTP beyond loopback: the device's secret travels in the clear

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def tls(self) -> bool:
        """TLS with the user's certificate, or beyond loopback with the listener's own."""
        return bool(self.certificate) or not (self.loopback or self.insecure)

    @property
    def url(self) -> str:
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def load_listener_settings(path: Path) -> ListenerSettings:
    """`config/wearable.yaml` (all keys optional); EarmarkError names a bad key."""
    if not path.exists():
        return ListenerSettings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EarmarkError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise EarmarkError(f"{path}: expected a mapping of keys")
    defaults = ListenerSettings()
    values = {}
    for key, value in data.items():
        if key == "listen":
            host, _, port = str(value).rpartition(":")
            if not host or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 <= int(port) < 65536:
                raise EarmarkError(f"{path}: listen: expected HOST:PORT, got {value!r}")
            values["host"], values["port"] = host.strip("[]"), int(port)
        elif key in ("certificate", "key"):
            if not isinstance(value, str) or not Path(value).expanduser().is_file():
                raise EarmarkError(f"{path}: {key}: expected the path of a PEM file, got {value!r}")
            values[key] = str(Path(value).expanduser())
        elif key == "insecure":
            if not isinstance(value, bool):
                raise EarmarkError(f"{path}: insecure: expected true or false, got {value!r}")
            values[key] = value
        elif key in ("max_body_mb", "requests_per_second"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise EarmarkError(f"{path}: {key}: expected a positive number, got {value!r}")
            values[key] = float(value)
        else:
            raise EarmarkError(
                f"{path}: {key}: unknown key (expected listen, certificate, key, insecure, "
                "max_body_mb or requests_per_second)"
            )
    settings = ListenerSettings(**{**defaults.__dict__, **values})
    if bool(settings.certificate) != bool(settings.key):
        raise EarmarkError(f"{path}: certificate and key: expected both, or neither")
    if settings.insecure and settings.certificate:
        raise EarmarkError(f"{path}: insecure: true and a certificate: expected one or the other")
    return settings


class _RateLimit:
    """A token bucket per key (a client address, or a device); idle buckets are forgotten."""

    def __init__(self, per_second: float):
        self.rate = per_second
        self.burst = per_second * 2
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) >= _RATE_TABLE:
                self._prune(now)
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1, now)
            return True

    def _prune(self, now: float) -> None:
        """Drop the buckets that have filled up again (they hold nothing a new one would not);
        under a flood from more keys than the table holds, drop the stalest half."""
        full = now - self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if v[1] > full}
        if len(self._buckets) >= _RATE_TABLE:
            kept = sorted(self._buckets.items(), key=lambda kv: kv[1][1])[_RATE_TABLE // 2 :]
            self._buckets = dict(kept)


@dataclass
class _Connection:
    address: str
    opened: float
    deadline: float  # monotonic; inf while an answer is being made
    device: str | None = None  # the paired device whose signed request came on it
    busy: bool = False  # its request has been read and is being answered


class _Connections:
    """Every open connection: its deadline, and whether a paired device has signed a request on
    it. Connections no device has signed are few: past `waiting` in all or `per_address` from
    one address, a new one pushes out the oldest. One pushed out is cut at once and closed by
    its own thread a moment later; while twice `waiting` are still closing, a new connection is
    refused outright. Signed ones are capped per device. A reaper thread closes whatever is past
    its deadline. So a peer without a device's secret holds at most `2 * waiting` sockets and
    threads, each with at most a small request."""

    def __init__(self, *, waiting: int = 32, per_address: int = 8, per_device: int = 4):
        self.waiting, self.per_address, self.per_device = waiting, per_address, per_device
        self._open: dict[socket.socket, _Connection] = {}
        self._threads: set[socket.socket] = set()  # connections whose thread has not ended
        self._lock = threading.Lock()
        self.pushed_out = self.refused = 0

    def admit(self, sock: socket.socket, address: str) -> bool:
        """Take a new connection on, pushing out old ones; False if it is refused instead."""
        now = time.monotonic()
        with self._lock:
            signed = sum(c.device is not None for c in self._open.values())
            if len(self._threads) - signed >= 2 * self.waiting:
                self.refused += 1
                return False
            self._threads.add(sock)
            self._open[sock] = _Connection(address, now, now + _HEADERS_S)
            unsigned = [
                (c.opened, s) for s, c in self._open.items() if c.device is None and not c.busy
            ]
            mine = [(opened, s) for opened, s in unsigned if self._open[s].address == address]
            for crowd, cap in ((mine, self.per_address), (unsigned, self.waiting)):
                for _, old in sorted(crowd, key=lambda pair: pair[0])[: max(0, len(crowd) - cap)]:
                    if old in self._open and old is not sock:
                        self._close(old)
                        self.pushed_out += 1
            return True

    def expect(self, sock: socket.socket, seconds: float) -> None:
        """The connection must be done with what it is sending within `seconds` from now."""
        with self._lock:
            if sock in self._open:
                self._open[sock].deadline = time.monotonic() + seconds
                self._open[sock].busy = False

    def answering(self, sock: socket.socket) -> None:
        """Its request is read: no deadline, and not pushed out, while the daemon answers."""
        with self._lock:
            if sock in self._open:
                self._open[sock].deadline = math.inf
                self._open[sock].busy = True

    def sign(self, sock: socket.socket, device: str) -> bool:
        """Mark the connection as the device's; False if the device has enough open already."""
        with self._lock:
            connection = self._open.get(sock)
            if connection is None or connection.device == device:
                return connection is not None
            if sum(c.device == device for c in self._open.values()) >= self.per_device:
                return False
            connection.device = device
            return True

    def forget(self, sock: socket.socket) -> None:
        """The connection's thread has ended."""
        with self._lock:
            self._open.pop(sock, None)
            self._threads.discard(sock)

    def close_all(self, wait_s: float) -> None:
        """Cut every connection and give their threads `wait_s` to end (a thread still writing
        its log line while the interpreter shuts down would abort the process)."""
        with self._lock:
            for sock in list(self._open):
                self._close(sock)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._threads:
                    return
            time.sleep(0.02)

    def reap(self) -> None:
        now = time.monotonic()
        with self._lock:
            for sock in [s for s, c in self._open.items() if c.deadline < now]:
                self._close(sock)

    def count(self) -> dict:
        with self._lock:
            signed = sum(c.device is not None for c in self._open.values())
            addresses = Counter(c.address for c in self._open.values())
            return {
                "open": len(self._open),
                "signed": signed,
                "pushed_out": self.pushed_out,
                "refused": self.refused,
                "from": dict(addresses.most_common(5)),
            }

    def _close(self, sock: socket.socket) -> None:
        """Cut the connection; its own thread sees the end and cleans up."""
        self._open.pop(sock, None)
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # under TLS too, beneath the TLS layer
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # a burst of connections waits in the kernel, not refused
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, connections: _Connections, store: Store):
        self.connections = connections
        self.store = store
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        if self.connections.admit(request, client_address[0]):
            super().process_request(request, client_address)
        else:
            self.shutdown_request(request)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.forget(request)
            self.store.close()  # the thread's own database connection, opened if it needed one


class _Metered:
    """A connection's reader that allows the request line and headers only so many bytes."""

    def __init__(self, raw):
        self.raw = raw
        self.budget: int | None = None

    def readline(self, limit: int = -1) -> bytes:
        if self.budget is None:
            return self.raw.readline(limit)
        limit = self.budget + 1 if limit < 0 else min(limit, self.budget + 1)
        line = self.raw.readline(limit)
        self.budget -= len(line)
        if self.budget < 0:
            raise ConnectionAbortedError("the request's headers are too long")
        return line

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)

    def close(self) -> None:
        self.raw.close()


def _query_float(query: dict, name: str) -> float:
    """The parameter as a finite number, or nan."""
    values = query.get(name)
    try:
        value = float(values[0]) if values else math.nan
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _query_time(query: dict, name: str, says: str) -> float:
    """A time parameter: seconds since the epoch, not before 2000 and not a day ahead."""
    value = _query_float(query, name)
    if not _EARLIEST <= value <= time.time() + 86400:
        raise RequestRejected(400, f"{name}: expected {says}, in seconds since the epoch")
    return value


def _opus(query: dict, body: bytes, most: int) -> np.ndarray:
    """Decode at most `most` samples: what the body limit allows as PCM (an upload), or five
    minutes (a live chunk); a few kilobytes of Opus may not become gigabytes of audio."""
    samples = _query_float(query, "samples")
    if not 0 < samples <= most or samples != int(samples):
        raise RequestRejected(
            400, f"samples: expected how many samples the Opus stream holds (at most {most})"
        )
    try:
        return decode_opus(body, int(samples))
    except OpusError as exc:
        raise RequestRejected(400, f"the Opus body is refused: {exc}") from None


def parse_wav(body: bytes) -> np.ndarray:
    """A whole 16 kHz mono 16-bit WAV as samples; RequestRejected says what is wrong."""
    try:
        with wave.open(io.BytesIO(body), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.getnframes()
            pcm = wav.readframes(frames)
    except (wave.Error, EOFError, RuntimeError) as exc:  # RuntimeError: a chunk past the end
        raise RequestRejected(400, f"the body is not a readable WAV file ({exc})") from None
    if width != 2 or channels != 1 or rate != SAMPLE_RATE:
        raise RequestRejected(
            415,
            f"the WAV is {rate} Hz, {channels} channel(s), {8 * width}-bit; "
            f"expected {SAMPLE_RATE} Hz, 1 channel, 16-bit",
        )
    if len(pcm) != frames * 2:
        raise RequestRejected(
            400,
            f"the WAV is truncated: its header promises {frames} samples, it holds {len(pcm) // 2}",
        )
    if frames == 0:
        raise RequestRejected(400, "the WAV holds no audio")
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)


class WearableListener:
    """Serves wearables on its own threads; `hear` and `receive` hand audio to the daemon."""

    def __init__(
        self,
        settings: ListenerSettings,
        *,
        store: Store,
        pairing: PairingCodes,
        hear: Callable[[PairedWearable, float, np.ndarray], dict],
        receive: Callable[[PairedWearable, str, float, np.ndarray], dict],
        status: Callable[[PairedWearable], dict],
        own_certificate: Callable[[], tuple[Path, Path]] | None = None,
    ):
        """`own_certificate` makes or finds the listener's own (certificate, key) for TLS beyond
        loopback when the user configured none (daemon/wearable/certificate.py)."""
        self.settings = settings
        self.own_certificate = own_certificate
        self.fingerprint: str | None = None  # of the certificate served, which devices pin
        self.store = store
        self.pairing = pairing
        self.hear = hear
        self.receive = receive
        self.status = status
        self.rate_limit = _RateLimit(settings.requests_per_second)
        self.max_body = int(settings.max_body_mb * 1024 * 1024)
        self.connections = _Connections()
        self.error: str | None = None
        self._server: _Server | None = None
        self._stopped = threading.Event()
        self._last_failure_logged = -math.inf

    @property
    def url(self) -> str | None:
        if self._server is None:
            return None
        return replace(self.settings, port=self._server.server_address[1]).url

    def start(self) -> None:
        """Listen; a port already taken is reported in `error`, and capture goes on."""
        handler = type("Handler", (_Handler,), {"listener": self})
        try:
            server = _Server(
                (self.settings.host, self.settings.port), handler, self.connections, self.store
            )
        except OSError as exc:
            where = f"{self.settings.host}:{self.settings.port}"
            self.error = f"wearables cannot connect: {where}: {exc.strerror}"
            log.warning("%s", self.error)
            return
        if self.settings.tls:
            try:
                context = self._tls()
            except (OSError, ssl.SSLError, ValueError) as exc:
                server.server_close()
                self.error = f"wearables cannot connect: the listener's TLS certificate: {exc}"
                log.warning("%s", self.error)
                return
            # The handshake happens on the request's own thread, so a client that connects
            # and stalls holds up no one else.
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        server.handle_error = lambda request, address: log.debug(
            "a connection from %s ended: %s", address[0], sys.exc_info()[1]
        )
        self._server = server
        self._stopped.clear()
        threading.Thread(target=server.serve_forever, name="earmark-wearables", daemon=True).start()
        threading.Thread(target=self._reap, name="earmark-wearable-deadlines", daemon=True).start()
        if not self.settings.tls and not self.settings.loopback:
            log.warning(
                "wearables connect at %s without TLS (insecure: true): a device's secret and "
                "audio travel in the clear",
                self.url,
            )
        log.info("wearables connect at %s", self.url)

    def failed(self) -> None:
        """A request failed inside the daemon: logged with its traceback, at most once a minute
        (a peer that can cause it must not be able to flood the log)."""
        now = time.monotonic()
        if now - self._last_failure_logged >= 60:
            self._last_failure_logged = now
            log.exception("a wearable request failed (more like it are not logged for a minute)")

    def _tls(self) -> ssl.SSLContext:
        if self.settings.certificate:
            cert, key = Path(self.settings.certificate), Path(self.settings.key)
        elif self.own_certificate is not None:
            cert, key = self.own_certificate()
        else:
            raise ValueError("beyond loopback, TLS needs a certificate (certificate: and key:)")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.fingerprint = fingerprint(cert)
        return context

    def stop(self) -> None:
        if self._server is not None:
            self._stopped.set()
            self._server.shutdown()
            self._server.server_close()
            self.connections.close_all(wait_s=5.0)
            self._server = None

    def _reap(self) -> None:
        while not self._stopped.wait(0.25):
            self.connections.reap()

    # -- requests --------------------------------------------------------------------------

    def authenticate(self, method: str, target: str, headers, body: bytes | None, address: str):
        """The paired device that signed the request (see `verify_request`). Refusals count
        against the client's address, signed requests against the device, so a flood of bad
        signatures from an address a device shares leaves the device its own allowance."""
        try:
            wearable = verify_request(self.store, method, target, headers, body)
        except Unauthorized as exc:
            if not self.rate_limit.allow(address):
                raise RequestRejected(429, "too many refused requests; slow down") from None
            raise RequestRejected(401, str(exc)) from None
        if not self.rate_limit.allow(wearable.id):
            raise RequestRejected(429, "too many requests; slow down")
        return wearable

    def answer(self, method: str, target: str, wearable: PairedWearable, body: bytes) -> dict:
        """What a signed request asks for, its body read whole."""
        url = urlsplit(target)
        query = parse_qs(url.query)
        if method == "GET" and url.path == "/v1/ping":
            return self.status(wearable)
        audio_format = query.get("format", [""])[0]
        if method == "POST" and url.path == "/v1/stream":
            start = _query_time(query, "start", "the time of the first sample")
            if audio_format == "opus":
                return self.hear(wearable, start, _opus(query, body, _CHUNK_MOST))
            if audio_format not in ("", "pcm"):
                raise RequestRejected(415, "format: expected pcm or opus")
            if _query_float(query, "rate") != SAMPLE_RATE or _query_float(query, "channels") != 1:
                raise RequestRejected(
                    415, f"the stream must be {SAMPLE_RATE} Hz, 1 channel (rate=, channels=)"
                )
            if len(body) % 2 or not body:
                raise RequestRejected(400, "the body must be whole 16-bit samples (s16le)")
            return self.hear(wearable, start, np.frombuffer(body, dtype="<i2").astype(np.int16))
        if method == "PUT" and url.path.startswith("/v1/uploads/"):
            upload_id = url.path.removeprefix("/v1/uploads/")
            if not 8 <= len(upload_id) <= 64 or not set(upload_id) <= _UPLOAD_ID_CHARS:
                raise RequestRejected(400, "the upload id must be 8 to 64 letters, digits, - or _")
            recorded_at = _query_time(query, "recorded_at", "when the recording began")
            if audio_format not in ("", "wav", "opus"):
                raise RequestRejected(415, "format: expected wav or opus")
            most = self.max_body // 2  # as many as the largest WAV holds
            samples = _opus(query, body, most) if audio_format == "opus" else parse_wav(body)
            return self.receive(wearable, upload_id, recorded_at, samples)
        raise RequestRejected(404, f"{method} {url.path}: no such endpoint")

    def pair(self, body: bytes, address: str) -> dict:
        if not self.rate_limit.allow(address):
            raise RequestRejected(429, "too many requests; slow down")
        try:
            code = str(json.loads(body)["code"])
        except (ValueError, KeyError, TypeError, RecursionError):
            raise RequestRejected(400, 'expected a JSON body {"code": "..."}') from None
        try:
            name, profile = self.pairing.redeem(code)
        except PairingRefused as exc:
            raise RequestRejected(exc.status, str(exc)) from None
        device_id, secret = pair_device(self.store, name, profile)
        log.info("paired wearable %s (%s)", name, device_id)
        return {"device_id": device_id, "secret": secret.hex(), "name": name}


class _Handler(BaseHTTPRequestHandler):
    """One connection: its requests one after another, each within its deadlines."""

    listener: WearableListener
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_S + 15  # per read; the listener's deadlines come first
    server_version = "earmark"

    def setup(self) -> None:
        super().setup()
        self.rfile = _Metered(self.rfile)

    def handle_one_request(self) -> None:
        self.rfile.budget = _HEADER_BYTES
        super().handle_one_request()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def handle_expect_100(self) -> bool:
        return True  # no "100 Continue" before the signature is checked: the body just follows

    def _serve(self) -> None:
        self.rfile.budget = None
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.close_connection = True  # HTTP/0.9 has no status line to refuse with
            return
        connections, address = self.listener.connections, self.client_address[0]
        try:
            length = self._length()
            if self.command == "POST" and urlsplit(self.path).path == "/v1/pair":
                answer = self.listener.pair(self._body(length, most=_UNSIGNED_BODY), address)
                self.close_connection = True
            else:
                # A signed digest of the body lets the signature be checked before the body
                # is read; without one, only a small body is read first.
                digest_first = HEADER_BODY in self.headers or length > _UNSIGNED_BODY
                body = None if digest_first else self._body(length, most=_UNSIGNED_BODY)
                wearable = self.listener.authenticate(
                    self.command, self.path, self.headers, body, address
                )
                if not connections.sign(self.request, wearable.id):
                    raise RequestRejected(503, "this device has too many connections open")
                if body is None:
                    body = self._body(length, most=self.listener.max_body)
                    if not body_matches(self.headers, body):
                        raise RequestRejected(400, f"the body is not the one {HEADER_BODY} names")
                answer = self.listener.answer(self.command, self.path, wearable, body)
            self._reply(answer.pop("status", 200), answer)
        except RequestRejected as exc:
            self.close_connection = True  # what is left unread of the request is not a request
            self._reply(exc.status, {"error": str(exc)})
        except Exception:  # the daemon goes on; the device retries later
            self.listener.failed()
            self.close_connection = True
            self._reply(500, {"error": "the daemon could not take this request; retry later"})
        if not self.close_connection:
            connections.expect(self.request, _IDLE_S)

    def _length(self) -> int:
        if "Transfer-Encoding" in self.headers:
            raise RequestRejected(501, "Transfer-Encoding is not accepted; send Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            if self.command == "GET":
                return 0
            raise RequestRejected(411, "a Content-Length header is required")
        if len(self.headers.get_all("Content-Length")) > 1:
            raise RequestRejected(400, "Content-Length: expected one header, not several")
        if not re.fullmatch(r"[0-9]{1,12}", length):
            raise RequestRejected(400, "Content-Length: expected a number of bytes")
        if int(length) > self.listener.max_body:
            raise RequestRejected(
                413, f"the body is {int(length)} bytes; at most {self.listener.max_body} allowed"
            )
        return int(length)

    def _body(self, length: int, *, most: int) -> bytes:
        """The body, read within its deadline; then the request is being answered."""
        if length > most:
            raise RequestRejected(
                413,
                f"the body is {length} bytes; a body over {most} bytes needs the signed "
                f"{HEADER_BODY} header",
            )
        self.listener.connections.expect(self.request, _BODY_S + length / _BODY_RATE)
        try:
            body = self.rfile.read(length) if length else b""
        except OSError:  # the device stopped sending mid-body, or was too slow
            body = b""
        if len(body) < length:
            raise RequestRejected(400, f"the body is truncated: {len(body)} of {length} bytes")
        self.listener.connections.answering(self.request)
        return body

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the device went away; it retries
            self.close_connection = True

    def log_message(self, format: str, *args) -> None:
        log.debug("wearable %s: " + format, self.client_address[0], *args)
