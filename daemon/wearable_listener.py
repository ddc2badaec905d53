"""The HTTP listener network wearables talk to (docs/wearable-protocol.md).

    POST /v1/pair                         trade a one-time code for a device id and secret
    GET  /v1/ping                         check the credentials and the clocks
    POST /v1/stream?start=T&rate=16000&channels=1     live 16 kHz s16le PCM
    POST /v1/stream?start=T&format=opus&samples=N     or Ogg Opus
    PUT  /v1/uploads/ID?recorded_at=T     a WAV recorded while away (16 kHz mono s16)
    PUT  /v1/uploads/ID?recorded_at=T&format=opus&samples=N       or Ogg Opus

Every request but pairing is signed (daemon/wearable_auth.py). Bodies are read whole, up to a
limit, before anything is checked, and a body shorter than its Content-Length is refused as
truncated; nothing of a refused request reaches the pipeline. Each client address has a request
rate limit. The listener binds loopback unless the user configures an address, and speaks TLS
with the user's certificate when one is configured (`config/wearable.yaml`).
"""

from __future__ import annotations

import io
import json
import logging
import ssl
import sys
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import yaml

from daemon.errors import EarmarkError
from daemon.opus import OpusError, decode_opus
from daemon.spool import SAMPLE_RATE
from daemon.store import PairedWearable, Store
from daemon.wearable_auth import (
    PairingCodes,
    PairingRefused,
    Unauthorized,
    pair_device,
    verify_request,
)

__all__ = ["ListenerSettings", "RequestRejected", "WearableListener", "load_listener_settings"]

log = logging.getLogger(__name__)

_MAX_SAMPLES = 4 * 3600 * SAMPLE_RATE
_UPLOAD_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True)
class ListenerSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    certificate: str = ""  # PEM file; with `key`, the listener speaks TLS
    key: str = ""
    max_body_mb: float = 64.0
    requests_per_second: float = 20.0

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://{self.host}:{self.port}"


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
            if not host or not port.isdigit() or not 0 <= int(port) < 65536:
                raise EarmarkError(f"{path}: listen: expected HOST:PORT, got {value!r}")
            values["host"], values["port"] = host.strip("[]"), int(port)
        elif key in ("certificate", "key"):
            if not isinstance(value, str) or not Path(value).expanduser().is_file():
                raise EarmarkError(f"{path}: {key}: expected the path of a PEM file, got {value!r}")
            values[key] = str(Path(value).expanduser())
        elif key in ("max_body_mb", "requests_per_second"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise EarmarkError(f"{path}: {key}: expected a positive number, got {value!r}")
            values[key] = float(value)
        else:
            raise EarmarkError(
                f"{path}: {key}: unknown key (expected listen, certificate, key, max_body_mb "
                "or requests_per_second)"
            )
    settings = ListenerSettings(**{**defaults.__dict__, **values})
    if bool(settings.certificate) != bool(settings.key):
        raise EarmarkError(f"{path}: certificate and key: expected both, or neither")
    return settings


class RequestRejected(Exception):
    """A request refused with an HTTP status and one sentence saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _RateLimit:
    """A token bucket per client address."""

    def __init__(self, per_second: float):
        self.rate = per_second
        self.burst = per_second * 2
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(address, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[address] = (tokens, now)
                return False
            self._buckets[address] = (tokens - 1, now)
            return True


def _query_float(query: dict, name: str) -> float:
    values = query.get(name)
    try:
        return float(values[0]) if values else float("nan")
    except ValueError:
        return float("nan")


def _opus(query: dict, body: bytes) -> np.ndarray:
    samples = _query_float(query, "samples")
    if not 0 < samples <= _MAX_SAMPLES or samples != int(samples):
        raise RequestRejected(400, "samples: expected how many samples the Opus stream holds")
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
    except (wave.Error, EOFError) as exc:
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
    ):
        self.settings = settings
        self.store = store
        self.pairing = pairing
        self.hear = hear
        self.receive = receive
        self.status = status
        self.rate_limit = _RateLimit(settings.requests_per_second)
        self.max_body = int(settings.max_body_mb * 1024 * 1024)
        self.error: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str | None:
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return f"{'https' if self.settings.certificate else 'http'}://{host}:{port}"

    def start(self) -> None:
        """Listen; a port already taken is reported in `error`, and capture goes on."""
        handler = type("Handler", (_Handler,), {"listener": self})
        try:
            server = ThreadingHTTPServer((self.settings.host, self.settings.port), handler)
        except OSError as exc:
            where = f"{self.settings.host}:{self.settings.port}"
            self.error = f"wearables cannot connect: {where}: {exc.strerror}"
            log.warning("%s", self.error)
            return
        if self.settings.certificate:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.settings.certificate, self.settings.key)
            # The handshake happens on the request's own thread, so a client that connects
            # and stalls holds up no one else.
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        server.daemon_threads = True
        server.handle_error = lambda request, address: log.info(
            "a connection from %s failed: %s", address[0], sys.exc_info()[1]
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="earmark-wearables", daemon=True
        )
        self._thread.start()
        log.info("wearables connect at %s", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- requests, once read whole ----------------------------------------------------------

    def answer(self, method: str, target: str, headers, body: bytes) -> dict:
        url = urlsplit(target)
        query = parse_qs(url.query)
        if method == "POST" and url.path == "/v1/pair":
            return self._pair(body)
        try:
            wearable = verify_request(self.store, method, target, headers, body)
        except Unauthorized as exc:
            raise RequestRejected(401, str(exc)) from None
        if method == "GET" and url.path == "/v1/ping":
            return self.status(wearable)
        audio_format = query.get("format", [""])[0]
        if method == "POST" and url.path == "/v1/stream":
            start = _query_float(query, "start")
            if start != start:
                raise RequestRejected(400, "start: expected the time of the first sample")
            if audio_format == "opus":
                return self.hear(wearable, start, _opus(query, body))
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
            recorded_at = _query_float(query, "recorded_at")
            if recorded_at != recorded_at:
                raise RequestRejected(400, "recorded_at: expected when the recording began")
            if audio_format not in ("", "wav", "opus"):
                raise RequestRejected(415, "format: expected wav or opus")
            samples = _opus(query, body) if audio_format == "opus" else parse_wav(body)
            return self.receive(wearable, upload_id, recorded_at, samples)
        raise RequestRejected(404, f"{method} {url.path}: no such endpoint")

    def _pair(self, body: bytes) -> dict:
        try:
            code = str(json.loads(body)["code"])
        except (ValueError, KeyError, TypeError):
            raise RequestRejected(400, 'expected a JSON body {"code": "..."}') from None
        try:
            name, profile = self.pairing.redeem(code)
        except PairingRefused as exc:
            raise RequestRejected(exc.status, str(exc)) from None
        device_id, secret = pair_device(self.store, name, profile)
        log.info("paired wearable %s (%s)", name, device_id)
        return {"device_id": device_id, "secret": secret.hex(), "name": name}


class _Handler(BaseHTTPRequestHandler):
    listener: WearableListener
    protocol_version = "HTTP/1.1"
    timeout = 30
    server_version = "earmark"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            if not self.listener.rate_limit.allow(self.client_address[0]):
                raise RequestRejected(429, "too many requests; slow down")
            body = self._body()
            answer = self.listener.answer(self.command, self.path, self.headers, body)
            self._reply(answer.pop("status", 200), answer)
        except RequestRejected as exc:
            self._reply(exc.status, {"error": str(exc)})
        except Exception as exc:  # the daemon goes on; the device retries later
            log.exception("a wearable request failed")
            self._reply(500, {"error": f"the daemon could not take this request ({exc})"})

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            if self.command == "GET":
                return b""
            raise RequestRejected(411, "a Content-Length header is required")
        if not length.isdigit():
            raise RequestRejected(400, "Content-Length: expected a number of bytes")
        if int(length) > self.listener.max_body:
            self.close_connection = True
            raise RequestRejected(
                413, f"the body is {int(length)} bytes; at most {self.listener.max_body} allowed"
            )
        try:
            body = self.rfile.read(int(length))
        except OSError:  # the device stopped sending mid-body
            body = b""
        if len(body) < int(length):
            self.close_connection = True
            raise RequestRejected(400, f"the body is truncated: {len(body)} of {length} bytes")
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
