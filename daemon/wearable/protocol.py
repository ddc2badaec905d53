"""Pairing network wearables and signing their requests (docs/wearable-protocol.md).

`earmark pair --name NAME` shows a one-time code, valid for five minutes, that the wearable
trades for a device id and a secret. From then on every request carries the device id, a
timestamp, a nonce, the body's SHA-256, and an HMAC-SHA256 over the method, path, timestamp,
nonce and that digest, keyed by the secret. As the digest travels in a header, a request is
checked before its body is read; the body is then checked against the digest. The daemon keeps
the device's name, id and secret (the key it verifies with), never the code. A request with a
missing, wrong, stale or replayed signature, or from a revoked device, is refused before its
body is read.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from daemon.storage.store import Store
from daemon.storage.wearables import PairedWearable

__all__ = [
    "CODE_LIFETIME_S",
    "CODE_GUESSES",
    "CLOCK_SKEW_S",
    "PairingCodes",
    "PairingRefused",
    "RequestRejected",
    "Unauthorized",
    "body_matches",
    "pair_device",
    "sign_request",
    "verify_request",
]

CODE_LIFETIME_S = 300.0
CODE_GUESSES = 5  # wrong codes tried before every pending code is void
CLOCK_SKEW_S = 300.0
HEADER_DEVICE = "X-Earmark-Device"
HEADER_TIME = "X-Earmark-Time"
HEADER_NONCE = "X-Earmark-Nonce"
HEADER_SIGNATURE = "X-Earmark-Signature"
HEADER_BODY = "X-Earmark-Body-SHA256"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class RequestRejected(Exception):
    """A request refused with an HTTP status and one sentence saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Unauthorized(Exception):
    """A request whose credentials do not hold; the message says which part failed."""


class PairingRefused(Exception):
    """A pairing attempt that failed; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _signature(secret: bytes, method: str, path: str, stamp: str, nonce: str, digest: str) -> str:
    message = "\n".join([method.upper(), path, stamp, nonce, digest]).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign_request(
    device_id: str, secret: bytes, method: str, path: str, body: bytes, *, now: float | None = None
) -> dict[str, str]:
    """The headers that authenticate one request (`path` includes its query string)."""
    stamp = f"{time.time() if now is None else now:.3f}"
    nonce = uuid.uuid4().hex
    return {
        HEADER_DEVICE: device_id,
        HEADER_TIME: stamp,
        HEADER_NONCE: nonce,
        HEADER_BODY: _digest(body),
        HEADER_SIGNATURE: _signature(secret, method, path, stamp, nonce, _digest(body)),
    }


def verify_request(
    store: Store,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    now: float | None = None,
) -> PairedWearable:
    """The paired device that signed this request; raises Unauthorized otherwise. With `body`
    None (not read yet) the signature is checked over the X-Earmark-Body-SHA256 header, and the
    body must then pass `body_matches`."""
    now = time.time() if now is None else now
    values = {}
    for name in (HEADER_DEVICE, HEADER_TIME, HEADER_NONCE, HEADER_SIGNATURE):
        value = headers.get(name)
        if not value:
            raise Unauthorized(f"the {name} header is missing")
        values[name] = value
    wearable = store.wearables.get(values[HEADER_DEVICE])
    if wearable is None:
        raise Unauthorized("no paired device has that id")
    if wearable.revoked is not None:
        raise Unauthorized(f"the device {wearable.name!r} was revoked")
    try:
        stamp = float(values[HEADER_TIME])
    except ValueError:
        stamp = math.nan
    if not math.isfinite(stamp):
        raise Unauthorized(f"{HEADER_TIME}: expected seconds since the epoch")
    if abs(now - stamp) > CLOCK_SKEW_S:
        raise Unauthorized(
            f"the request is {abs(now - stamp):.0f} s away from the daemon's clock "
            f"(at most {CLOCK_SKEW_S:.0f} s allowed); check the device's clock"
        )
    nonce = values[HEADER_NONCE]
    if not _NONCE.match(nonce):
        raise Unauthorized(f"{HEADER_NONCE}: expected 16 to 64 letters, digits, - or _")
    if body is None:
        digest = headers.get(HEADER_BODY, "").lower()
        if not _DIGEST.match(digest):
            raise Unauthorized(f"{HEADER_BODY}: expected the body's SHA-256 in 64 hex digits")
    else:
        digest = _digest(body)
    expected = _signature(wearable.secret, method, path, values[HEADER_TIME], nonce, digest)
    if not hmac.compare_digest(expected.encode(), _bytes(values[HEADER_SIGNATURE].lower())):
        raise Unauthorized("the signature does not match the request")
    if not store.wearables.use_nonce(wearable.id, nonce, now, forget_before=now - 2 * CLOCK_SKEW_S):
        raise Unauthorized("the request was already used once (a replay)")
    return wearable


def body_matches(headers: Mapping[str, str], body: bytes) -> bool:
    """Whether a body read after `verify_request(..., None)` is the one that was signed."""
    return hmac.compare_digest(_bytes(headers.get(HEADER_BODY, "").lower()), _digest(body).encode())


def _bytes(header: str) -> bytes:
    return header.encode("utf-8", "surrogateescape")  # compare_digest refuses non-ASCII text


@dataclass(frozen=True)
class _PendingCode:
    name: str
    profile: str | None
    expires: float


class PairingCodes:
    """The one-time codes `earmark pair` shows, held in the running daemon's memory only."""

    def __init__(self):
        self._pending: dict[str, _PendingCode] = {}
        self._wrong = 0
        self._lock = threading.Lock()

    def issue(self, name: str, profile: str | None, *, now: float | None = None) -> str:
        """A new eight-digit code for a device to be called `name`."""
        now = time.time() if now is None else now
        code = f"{secrets.randbelow(10**8):08d}"
        with self._lock:
            self._drop_expired(now)
            self._pending[code] = _PendingCode(name, profile, now + CODE_LIFETIME_S)
            self._wrong = 0
        return code

    def redeem(self, code: str, *, now: float | None = None) -> tuple[str, str | None]:
        """(name, profile) of the pairing a correct code was issued for; raises PairingRefused."""
        now = time.time() if now is None else now
        code = re.sub(r"[\s-]", "", str(code))
        with self._lock:
            self._drop_expired(now)
            if not self._pending:
                raise PairingRefused(
                    "no pairing code is waiting; run `earmark pair --name NAME` first", 401
                )
            pending = self._pending.pop(code, None)
            if pending is None:
                self._wrong += 1
                if self._wrong >= CODE_GUESSES:
                    self._pending.clear()
                    self._wrong = 0
                    raise PairingRefused(
                        f"{CODE_GUESSES} wrong codes: every waiting code is void; "
                        "run `earmark pair` again",
                        429,
                    )
                raise PairingRefused("wrong pairing code", 401)
            return pending.name, pending.profile

    def _drop_expired(self, now: float) -> None:
        for code in [c for c, p in self._pending.items() if p.expires < now]:
            del self._pending[code]


def pair_device(store: Store, name: str, profile: str | None) -> tuple[str, bytes]:
    """Enter a new device in the store; returns the id and secret to hand to the device."""
    device_id = "wd-" + secrets.token_hex(8)
    secret = secrets.token_bytes(32)
    store.wearables.add(
        PairedWearable(
            id=device_id,
            name=name,
            secret=secret,
            profile=profile,
            paired=time.time(),
            last_seen=None,
            revoked=None,
        )
    )
    return device_id, secret
