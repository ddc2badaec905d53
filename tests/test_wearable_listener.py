"""The wearable listener against hostile peers: a real listener on loopback, a real store.

What the daemon does with the audio is not the point here, so `hear` and `receive` only count
what reaches them; the daemon as a whole under the same attacks is in test_wearable_attack.py.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import threading
import time
import uuid

import numpy as np
import pytest
from test_wearable_network import Device

from daemon.core.errors import EarmarkError
from daemon.storage.damaged import DamagedFiles
from daemon.storage.store import Store
from daemon.wearable import server as wearable_listener
from daemon.wearable.certificate import fingerprint, listener_certificate
from daemon.wearable.client import Connection, Credentials, NotTheDaemon, pair
from daemon.wearable.opus import encode_opus
from daemon.wearable.protocol import PairingCodes, pair_device, sign_request
from daemon.wearable.server import (
    ListenerSettings,
    WearableListener,
    _RateLimit,
    load_listener_settings,
)


class Served:
    """A listener on a free loopback port, and what reached the pipeline through it."""

    def __init__(self, store: Store, own_certificate=None, **settings):
        self.heard: list[tuple[float, int]] = []
        self.received: list[str] = []
        self.listener = WearableListener(
            ListenerSettings(port=0, **settings),
            store=store,
            pairing=PairingCodes(),
            hear=lambda w, start, samples: self.heard.append((start, len(samples))) or {},
            receive=lambda w, upload, at, samples: self.received.append(upload) or {"status": 201},
            status=lambda w: {"name": w.name},
            own_certificate=own_certificate,
        )
        self.listener.start()
        self.port = int(self.listener.url.rsplit(":", 1)[1])
        self.device_id, self.secret = pair_device(store, "pendant", None)

    def send(self, method: str, target: str, body: bytes = b"", headers=None, *, sign=True):
        device = Device(f"http://127.0.0.1:{self.port}", self.device_id, self.secret)
        return device.send(method, target, body, headers, sign=sign)

    def raw(self, address: str = "127.0.0.1") -> socket.socket:
        return socket.create_connection(
            ("127.0.0.1", self.port), timeout=10, source_address=(address, 0)
        )


@pytest.fixture
def served(tmp_path):
    store = Store(tmp_path / "earmark.db")
    started: list[Served] = []

    def start(**settings) -> Served:
        started.append(Served(store, **settings))
        return started[-1]

    yield start
    for s in started:
        s.listener.stop()
    store.close()


def answers(sock: socket.socket) -> list[int]:
    """The statuses of every answer on the connection until the listener closes it."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return [int(line.split()[1]) for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_slow_connections_cannot_crowd_out_a_paired_device(served):
    s = served()
    before = open_descriptors()
    crowd = []

    def half_a_request(address: str) -> None:
        crowd.append(s.raw(address))
        try:
            crowd[-1].sendall(b"GET /v1/ping HT")
        except OSError:
            pass  # refused at once: the listener had too many still closing

    try:
        for n in range(400):  # from ten addresses, half a request line each, then nothing
            half_a_request(f"127.0.0.{2 + n % 10}")
        for _ in range(200):  # and from the device's own address
            half_a_request("127.0.0.1")
        # each one past the caps is pushed out or, while those are still closing, refused
        deadline = time.monotonic() + 20  # as fast as the listener accepts them
        while time.monotonic() < deadline:
            held = s.listener.connections.count()
            if held["pushed_out"] + held["refused"] >= 568:
                break
            time.sleep(0.1)
        assert held["open"] <= 32 and held["pushed_out"] + held["refused"] >= 568
        assert held["from"]["127.0.0.1"] <= 8  # per address
        # the listener's side of the crowd: at most twice its cap (ours are the 600)
        assert open_descriptors() - before <= 600 + 2 * 32 + 4
        started = time.monotonic()
        assert s.send("GET", "/v1/ping") == (200, {"name": "pendant"})
        assert time.monotonic() - started < 2
        chunk = np.zeros(16000, dtype=np.int16).tobytes()
        target = f"/v1/stream?start={time.time():.3f}&rate=16000&channels=1"
        assert s.send("POST", target, chunk)[0] == 200
        assert len(s.heard) == 1
    finally:
        for sock in crowd:
            sock.close()


def test_a_connection_that_stalls_is_closed_at_its_deadline(served, monkeypatch):
    monkeypatch.setattr(wearable_listener, "_HEADERS_S", 1.0)
    monkeypatch.setattr(wearable_listener, "_BODY_S", 1.0)
    s = served()
    trickle = s.raw()
    started = time.monotonic()
    trickle.sendall(b"GET /v1/ping HTTP/1.1\r\n")
    while time.monotonic() - started < 5:  # a byte every 0.2 s: every read is in time
        try:
            trickle.sendall(b"X")
        except OSError:
            break
        time.sleep(0.2)
    assert trickle.recv(100) == b""  # closed by the listener, not by us
    assert time.monotonic() - started < 3

    body = b"\x00" * 300_000  # promised, signed, then sent too slowly
    target = f"/v1/stream?start={time.time():.3f}&rate=16000&channels=1"
    head = "".join(
        f"{k}: {v}\r\n"
        for k, v in sign_request(s.device_id, s.secret, "POST", target, body).items()
    )
    slow = s.raw()
    slow.sendall(f"POST {target} HTTP/1.1\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode())
    started = time.monotonic()
    slow.sendall(body[:1000])
    assert answers(slow) in ([400], [])  # cut off: refused as truncated, or simply closed
    assert 1 <= time.monotonic() - started < 6
    assert s.heard == []


def test_an_unsigned_request_is_answered_before_its_body_and_closed(served):
    s = served(max_body_mb=64)
    target = f"/v1/uploads/{uuid.uuid4().hex}?recorded_at={time.time():.3f}"
    # 64 MB promised, with a digest but a wrong signature: refused from the headers alone
    forged = sign_request(s.device_id, b"\x00" * 32, "PUT", target, b"")
    head = "".join(f"{k}: {v}\r\n" for k, v in forged.items())
    sock = s.raw()
    sock.sendall(f"PUT {target} HTTP/1.1\r\nContent-Length: {64 << 20}\r\n{head}\r\n".encode())
    assert answers(sock) == [401]  # answered without a byte of the body, and closed
    # without a signed digest, a body over 64 KiB is not read at all
    sock = s.raw()
    sock.sendall(f"PUT {target} HTTP/1.1\r\nContent-Length: {1 << 20}\r\n\r\n".encode())
    assert answers(sock) == [401]
    # an error answer closes the connection: what follows is never read as a request
    ping = sign_request(s.device_id, s.secret, "GET", "/v1/ping", b"")
    smuggled = "".join(f"{k}: {v}\r\n" for k, v in ping.items())
    sock = s.raw()
    sock.sendall(f"PUT {target} HTTP/1.1\r\n\r\nGET /v1/ping HTTP/1.1\r\n{smuggled}\r\n".encode())
    assert answers(sock) == [411]
    assert s.received == []


def test_headers_beyond_their_budget_end_the_connection(served):
    s = served()
    sock = s.raw()
    sock.sendall(b"GET /v1/ping HTTP/1.1\r\n" + b"X-Padding: " + b"a" * 60_000 + b"\r\n" * 2)
    assert answers(sock) == []  # cut off, not read on to the end and answered
    assert s.send("GET", "/v1/ping")[0] == 200


def test_a_flood_of_bad_signatures_leaves_the_device_its_own_allowance(served):
    s = served(requests_per_second=20)
    statuses = [s.send("GET", "/v1/ping", sign=False)[0] for _ in range(80)]
    assert statuses[0] == 401 and statuses.count(429) > 30  # refusals are rate-limited
    assert s.send("GET", "/v1/ping")[0] == 200  # ... but the device, from the same address, is not
    pings = [s.send("GET", "/v1/ping")[0] for _ in range(80)]
    assert 429 in pings  # a device has its own limit


@pytest.mark.parametrize(
    ("target", "headers", "status", "says"),
    [
        ("/v1/stream?start=nan&rate=16000&channels=1", {}, 400, "start"),
        ("/v1/stream?start=inf&rate=16000&channels=1", {}, 400, "start"),
        ("/v1/stream?start=1e300&rate=16000&channels=1", {}, 400, "start"),
        ("/v1/uploads/abcdefgh12?recorded_at=inf", {}, 400, "recorded_at"),
        ("/v1/uploads/abcdefgh12?recorded_at=-5", {}, 400, "recorded_at"),
        ("/v1/ping", {"X-Earmark-Time": "nan"}, 401, "X-Earmark-Time"),
        ("/v1/ping", {"X-Earmark-Signature": "é" * 64}, 401, "signature"),
    ],
)
def test_non_finite_or_absurd_numbers_are_refused(served, target, headers, status, says):
    s = served()
    method = "GET" if target == "/v1/ping" else ("PUT" if "uploads" in target else "POST")
    body = b"" if method == "GET" else np.zeros(1600, dtype=np.int16).tobytes()
    signed = sign_request(s.device_id, s.secret, method, target, body)
    if "X-Earmark-Time" in headers:  # signed with the absurd time itself
        signed = sign_request(s.device_id, s.secret, method, target, body, now=float("nan"))
    got = s.send(method, target, body, {**signed, **headers}, sign=False)
    assert got[0] == status and says in got[1]["error"]
    assert s.heard == [] and s.received == []


def test_an_opus_stream_longer_than_promised_is_refused_without_decoding_it_all(served):
    s = served()
    long = encode_opus(np.zeros(16000 * 120, dtype=np.int16))  # two minutes in 15 kB
    target = f"/v1/stream?start={time.time():.3f}&format=opus&samples=1600"
    status, answer = s.send("POST", target, long)
    assert status == 400 and "more than the 1600 samples promised" in answer["error"]
    assert s.heard == []


def test_the_rate_limit_table_forgets_idle_addresses():
    limit = _RateLimit(20.0)
    for n in range(3 * wearable_listener._RATE_TABLE):
        limit.allow(f"10.0.{n // 256}.{n % 256}")
    assert len(limit._buckets) <= wearable_listener._RATE_TABLE
    assert limit.allow("10.0.0.1")  # forgotten means a full bucket again, never a refusal


def test_a_device_may_hold_only_a_few_connections(served):
    s = served()
    holders = []
    for _ in range(6):  # a ping on each, then each is kept alive
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        conn.request(
            "GET", "/v1/ping", headers=sign_request(s.device_id, s.secret, "GET", "/v1/ping", b"")
        )
        response = conn.getresponse()
        response.read()
        holders.append((conn, response.status))
    assert [status for _, status in holders] == [200] * 4 + [503] * 2
    for conn, _ in holders:
        conn.close()


def test_many_threads_pairing_at_once_get_one_device_each(served):
    s = served()
    codes = [s.listener.pairing.issue(f"pendant-{n}", None) for n in range(4)]
    results: list[int] = []

    def pair(code: str) -> None:
        results.append(
            s.send("POST", "/v1/pair", json.dumps({"code": code}).encode(), sign=False)[0]
        )

    threads = [threading.Thread(target=pair, args=(c,)) for c in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 4


# -- TLS beyond loopback, pinned at pairing -------------------------------------------------------


def test_the_listeners_own_certificate_is_private_kept_and_replaced_when_damaged(tmp_path):
    damaged = DamagedFiles(tmp_path / "damaged")
    cert, key = listener_certificate(tmp_path / "tls", damaged)
    assert {oct(p.stat().st_mode & 0o777) for p in (cert, key)} == {"0o600"}
    pin = fingerprint(cert)
    assert listener_certificate(tmp_path / "tls", damaged) == (cert, key)
    assert fingerprint(cert) == pin  # the same certificate on every start: pins hold
    cert.write_bytes(os.urandom(300))  # a damaged file: set aside, and a new certificate made
    listener_certificate(tmp_path / "tls", damaged)
    assert fingerprint(cert) != pin
    kept = sorted(p.name for p in (tmp_path / "damaged").iterdir())
    assert any(n.endswith("certificate.pem") for n in kept) and any(
        n.endswith(".reason") for n in kept
    )


@pytest.mark.parametrize(
    ("config", "tls", "says"),
    [
        ("listen: 127.0.0.1:8765", False, None),
        ("listen: 0.0.0.0:8765", True, None),
        ("listen: 192.168.1.5:8765\ninsecure: true", False, None),
        ("listen: 0.0.0.0:8765\ninsecure: yes please", None, "insecure: expected true or false"),
    ],
)
def test_beyond_loopback_the_listener_speaks_tls_unless_told_insecure(tmp_path, config, tls, says):
    path = tmp_path / "wearable.yaml"
    path.write_text(config + "\n")
    if says:
        with pytest.raises(EarmarkError, match=says):
            load_listener_settings(path)
        return
    settings = load_listener_settings(path)
    assert settings.tls is tls and settings.url.startswith("https://" if tls else "http://")


def test_a_device_pins_the_certificate_and_sends_nothing_to_another(served, tmp_path):
    own = tmp_path / "tls"
    s = served(
        own_certificate=lambda: listener_certificate(own, DamagedFiles(tmp_path / "d")),
        host="0.0.0.0",
    )
    server = f"https://127.0.0.1:{s.port}"
    assert s.listener.url.startswith("https://") and s.listener.fingerprint
    code = s.listener.pairing.issue("watch", None)
    other = "ab" * 32  # the certificate someone in between would show
    with pytest.raises(EarmarkError, match="certificate other than the one"):
        pair(server, code, tmp_path / "client.json", fingerprint=other)
    assert not (tmp_path / "client.json").exists()
    # nothing reached the listener: the code is still good
    assert (
        pair(server, code, tmp_path / "client.json", fingerprint=s.listener.fingerprint) == "watch"
    )
    credentials = Credentials.load(tmp_path / "client.json")
    assert credentials.fingerprint == s.listener.fingerprint
    connection = Connection(server, fingerprint=credentials.fingerprint)
    headers = sign_request(credentials.device_id, credentials.secret, "GET", "/v1/ping", b"")
    assert connection.request("GET", "/v1/ping", b"", headers) == {"name": "watch"}
    connection.close()
    with pytest.raises(NotTheDaemon):  # ... and later requests are pinned the same way
        Connection(server, fingerprint=other).request("GET", "/v1/ping", b"", headers)


def test_pairing_in_the_clear_beyond_loopback_is_refused_unless_insecure(tmp_path):
    with pytest.raises(EarmarkError, match="in the clear; use the https"):
        pair("http://192.0.2.1:8765", "12345678", tmp_path / "client.json")
    assert not (tmp_path / "client.json").exists()


# -- what an attacker found, kept found ----------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /v1/stream HTTP/1.1\r\nContent-Length: \xb9\r\n\r\n", 400),  # a digit, not 0-9
        (b"PUT /v1/uploads/x HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n", 400),
        (b"PUT /v1/uploads/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"POST /v1/pair HTTP/1.1\r\nContent-Length: 60000\r\n\r\n" + b"[" * 60000, 400),
    ],
)
def test_malformed_framing_is_refused_plainly_and_never_a_failure(served, caplog, head, status):
    s = served()
    sock = s.raw()
    sock.sendall(head)
    assert answers(sock) == [status]
    assert "Traceback" not in caplog.text


def test_a_wav_whose_chunk_runs_past_its_end_is_refused(served):
    s = served()
    bad = b"RIFF" + struct.pack("<I", 16) + b"WAVE" + b"junk" + struct.pack("<I", 1000) + b"\0" * 4
    target = f"/v1/uploads/{uuid.uuid4().hex}?recorded_at={time.time():.3f}"
    status, answer = s.send("PUT", target, bad)
    assert status == 400 and "not a readable WAV" in answer["error"]


def test_an_opus_upload_may_promise_no_more_audio_than_the_largest_wav(served):
    s = served(max_body_mb=1)
    target = f"/v1/uploads/{uuid.uuid4().hex}?recorded_at={time.time():.3f}&format=opus"
    status, answer = s.send(
        "PUT", f"{target}&samples={(1 << 20) // 2 + 1}", encode_opus(np.zeros(160, np.int16))
    )
    assert status == 400 and "at most 524288" in answer["error"]
    assert s.received == []


def test_a_failure_inside_the_daemon_is_logged_once_a_minute_and_not_shown(served, caplog):
    s = served()
    s.listener.status = lambda w: 1 / 0
    answers_ = [s.send("GET", "/v1/ping") for _ in range(5)]
    assert {status for status, _ in answers_} == {500}
    assert all("division" not in a["error"] for _, a in answers_)  # nothing of the inside shown
    assert caplog.text.count("Traceback") == 1 and caplog.text.count("ZeroDivisionError") == 1


def test_the_listener_binds_an_ipv6_address(served):
    if not socket.has_ipv6:
        pytest.skip("this machine has no IPv6")
    s = served(host="::1")
    assert s.listener.error is None and s.listener.url.startswith("http://[::1]:")
