"""Self-signed X.509 certificates, and OIBus's own ``certs/`` pair shared by the HTTPS listener and OPC UA.

A leaf module (cryptography only) so the engine and the connectors use one generator. ``certs/`` keeps
upstream's file names and shape: RSA 2048 (the size every OPC UA policy accepts), CN ``OIBus``, subject
alternative names ``urn:<hostname>:OIBus`` (the OPC UA application URI) and the host names. Generating an RSA
key is CPU work: call these from a thread.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERTS_FOLDER = "certs"
CERT_FILE = "cert.pem"
PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"
OIBUS_DAYS = 36500
"""Validity of OIBus's own certificate, as upstream (it is self-signed: peers pin or trust it)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a generated certificate names (upstream's certificate ``options`` without size and validity)."""

    common_name: str
    country_name: str = ""
    state_or_province_name: str = ""
    locality_name: str = ""
    organization_name: str = ""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate with its keys, all PEM text, and its expiry."""

    certificate: str
    private_key: str
    public_key: str
    expiry: datetime


def _name(subject: Subject) -> x509.Name:
    parts = [
        (NameOID.COUNTRY_NAME, subject.country_name),
        (NameOID.STATE_OR_PROVINCE_NAME, subject.state_or_province_name),
        (NameOID.LOCALITY_NAME, subject.locality_name),
        (NameOID.ORGANIZATION_NAME, subject.organization_name),
        (NameOID.COMMON_NAME, subject.common_name),
    ]
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts if value])


def public_pem(public_key: object) -> str:
    """The SubjectPublicKeyInfo PEM of a public key."""
    pem: bytes = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def generate(
    subject: Subject, *, key_size: int = 2048, days: int = 365, alternative_names: list[x509.GeneralName] | None = None
) -> KeyPair:
    """A new RSA key and a self-signed certificate for ``subject``, valid ``days`` days from now.

    ``ValueError`` for a subject the X.509 encoding refuses (a country name not of two letters, for one).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = _name(subject)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if alternative_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    return KeyPair(
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        public_key=public_pem(key.public_key()),
        expiry=certificate.not_valid_after_utc,
    )


def matches(certificate_pem: str, private_key_pem: str) -> bool:
    """Whether the private key is the one of the certificate's public key."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    return public_pem(key.public_key()) == public_pem(certificate.public_key())


def application_uri(certificate_pem: str) -> str | None:
    """The first URI among the certificate's subject alternative names (an OPC UA application URI)."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def write_atomic(path: Path, data: str, mode: int) -> None:
    """Write ``path`` durably and atomically (temporary file, fsync, rename), created with ``mode``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def oibus_certificate(data_dir: Path) -> tuple[Path, Path]:
    """``certs/cert.pem`` and ``certs/private.pem`` of the data folder, generated (self-signed) when absent.

    An existing pair is kept as it is (an operator may put one of their own CA there). The engine and OPC UA
    workers may get here at once: each file is replaced atomically, key first, and a reader that finds a key
    and a certificate of different writers reads again once the other writer is done. A pair that still does
    not match is a ``ValueError``, never silently replaced.
    """
    folder = data_dir / CERTS_FOLDER
    cert_path, key_path = folder / CERT_FILE, folder / PRIVATE_KEY_FILE
    for _ in range(50):
        if cert_path.is_file() and key_path.is_file():
            if matches(cert_path.read_text(), key_path.read_text()):
                return cert_path, key_path
            time.sleep(0.1)  # another process is between its writes
            continue
        folder.mkdir(parents=True, exist_ok=True)
        hostname = socket.gethostname()
        names: list[x509.GeneralName] = [
            x509.UniformResourceIdentifier(f"urn:{hostname}:OIBus"),
            x509.DNSName(hostname),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
        pair = generate(Subject(common_name="OIBus"), days=OIBUS_DAYS, alternative_names=names)
        write_atomic(key_path, pair.private_key, 0o600)
        write_atomic(folder / PUBLIC_KEY_FILE, pair.public_key, 0o644)
        write_atomic(cert_path, pair.certificate, 0o644)
    raise ValueError(f"{cert_path} and {key_path} do not match: replace both, or remove both to regenerate them")
