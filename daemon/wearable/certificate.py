"""The wearable listener's own TLS certificate, made on first use, and its fingerprint.

When the listener binds beyond loopback and the user gave no certificate, it speaks TLS with a
self-signed one kept in `data/listener-tls/` (0600). Nobody vouches for a self-signed certificate,
so devices pin it instead: its SHA-256 fingerprint travels in the pairing command and QR code,
and a device talks only to a listener that shows that very certificate. The secret it is given
at pairing, and every answer after, are then out of reach of anyone in between.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import socket
import ssl
from pathlib import Path

from daemon.core.paths import write_private
from daemon.storage.damaged import DamagedFiles

__all__ = ["fingerprint", "listener_certificate"]

log = logging.getLogger(__name__)

_VALID_DAYS = 3650


def listener_certificate(directory: Path, damaged: DamagedFiles) -> tuple[Path, Path]:
    """(certificate, key) PEM files, made now if there are none; a pair that no longer loads
    (cut off mid-write, overwritten) is set aside and a new one made, which devices paired
    with the old one refuse until they are paired again."""
    cert, key = directory / "certificate.pem", directory / "key.pem"
    if cert.exists() or key.exists():
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
            return cert, key
        except (ssl.SSLError, OSError, ValueError) as exc:
            damaged.keep([cert, key], f"the listener's certificate does not load ({exc})")
            log.error("made a new certificate for the wearable listener: pair devices again")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_pem, cert_pem = _self_signed()
    write_private(key, key_pem)
    write_private(cert, cert_pem)
    return cert, key


def fingerprint(cert: Path | bytes) -> str:
    """The SHA-256 of a certificate (a PEM file, or DER bytes), lowercase hex."""
    der = cert if isinstance(cert, bytes) else ssl.PEM_cert_to_DER_cert(cert.read_text("ascii"))
    return hashlib.sha256(der).hexdigest()


def _self_signed() -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"Earmark on {socket.gethostname()}")]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .sign(private, hashes.SHA256())
    )
    key_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
