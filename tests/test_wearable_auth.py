"""Pairing codes and signed requests, against a real store."""

from __future__ import annotations

import pytest

from daemon.storage.store import Store
from daemon.wearable.protocol import (
    CODE_GUESSES,
    CODE_LIFETIME_S,
    PairingCodes,
    PairingRefused,
    Unauthorized,
    pair_device,
    sign_request,
    verify_request,
)

BODY = b"\x01\x00" * 160
PATH = "/v1/stream?start=1700000000.000&rate=16000&channels=1"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "earmark.db")
    yield s
    s.close()


@pytest.fixture
def device(store):
    device_id, secret = pair_device(store, "pendant", None)
    return device_id, secret


def test_a_signed_request_is_verified_once(store, device):
    device_id, secret = device
    headers = sign_request(device_id, secret, "POST", PATH, BODY)
    assert verify_request(store, "POST", PATH, headers, BODY).name == "pendant"
    with pytest.raises(Unauthorized, match="replay"):
        verify_request(store, "POST", PATH, headers, BODY)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b, p: (h, b + b"\0\0", p), "signature"),  # the body was changed
        (lambda h, b, p: (h, b, p.replace("16000", "8000")), "signature"),  # the path was
        (lambda h, b, p: ({**h, "X-Earmark-Signature": "0" * 64}, b, p), "signature"),
        (lambda h, b, p: ({**h, "X-Earmark-Device": "wd-nobody"}, b, p), "no paired device"),
        (
            lambda h, b, p: ({k: v for k, v in h.items() if k != "X-Earmark-Nonce"}, b, p),
            "X-Earmark-Nonce header is missing",
        ),
        (lambda h, b, p: ({**h, "X-Earmark-Nonce": "short"}, b, p), "X-Earmark-Nonce"),
    ],
)
def test_a_wrong_request_is_refused_and_names_what_is_wrong(store, device, change, reason):
    device_id, secret = device
    headers, body, path = change(sign_request(device_id, secret, "POST", PATH, BODY), BODY, PATH)
    with pytest.raises(Unauthorized, match=reason):
        verify_request(store, "POST", path, headers, body)


def test_a_stale_timestamp_and_a_revoked_device_are_refused(store, device):
    device_id, secret = device
    old = sign_request(device_id, secret, "POST", PATH, BODY, now=1_000_000.0)
    with pytest.raises(Unauthorized, match="clock"):
        verify_request(store, "POST", PATH, old, BODY)
    assert store.wearables.revoke("pendant", 0.0) == 1
    fresh = sign_request(device_id, secret, "POST", PATH, BODY)
    with pytest.raises(Unauthorized, match="revoked"):
        verify_request(store, "POST", PATH, fresh, BODY)


def test_a_pairing_code_works_once_for_five_minutes():
    codes = PairingCodes()
    code = codes.issue("pendant", "meetings", now=1000.0)
    assert len(code) == 8 and code.isdigit()
    assert codes.redeem(f"{code[:4]}-{code[4:]}", now=1001.0) == ("pendant", "meetings")
    with pytest.raises(PairingRefused) as refused:
        codes.redeem(code, now=1002.0)
    assert refused.value.status == 401
    late = codes.issue("pendant", None, now=2000.0)
    with pytest.raises(PairingRefused, match="no pairing code is waiting"):
        codes.redeem(late, now=2000.0 + CODE_LIFETIME_S + 1)


def test_guessing_codes_voids_them_all():
    codes = PairingCodes()
    code = codes.issue("pendant", None, now=1000.0)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(CODE_GUESSES - 1):
        with pytest.raises(PairingRefused) as refused:
            codes.redeem(wrong, now=1001.0)
        assert refused.value.status == 401
    with pytest.raises(PairingRefused) as refused:
        codes.redeem(wrong, now=1001.0)
    assert refused.value.status == 429
    with pytest.raises(PairingRefused):  # the right code no longer works either
        codes.redeem(code, now=1002.0)
