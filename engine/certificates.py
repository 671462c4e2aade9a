"""X.509 certificates for OIBus: self-signed generation, PEM import checks, and the engine's own ``certs/`` pair.

One helper serves the HTTPS listener (``server_certificate``: ``certs/cert.pem`` and ``certs/private.pem``,
generated on first use) and the certificate store of ``/api/certificates`` (``generate``, ``load_pair``).
``certs/`` keeps upstream's file names and shape (RSA, CN ``OIBus``, subject alternative names
``urn:<hostname>:OIBus`` and the host name) so an OPC UA client can use the same pair, as upstream does.
Generating an RSA key is CPU work: call these from a thread.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connectors.errors import SettingsError

log = structlog.get_logger(__name__)

CERTS_FOLDER = "certs"
CERT_FILE = "cert.pem"
PRIVATE_KEY_FILE = "private.pem"
PUBLIC_KEY_FILE = "public.pem"
SERVER_DAYS = 36500
"""Validity of the engine's own certificate, as upstream (it is self-signed: clients pin it)."""


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
    )
    if alternative_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    return KeyPair(
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        public_key=_public_pem(key.public_key()),
        expiry=certificate.not_valid_after_utc,
    )


def _public_pem(public_key: object) -> str:
    pem: bytes = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def load_pair(certificate_pem: str, private_key_pem: str | None) -> KeyPair:
    """Check an imported certificate (and its key, when given); ``SettingsError`` names the bad field.

    Without a key the pair is checked later against a stored one (``matches``); ``private_key`` is then ``""``.
    """
    errors: dict[str, str] = {}
    certificate = None
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as err:
        errors["certificate"] = f"not a PEM X.509 certificate ({err})"
    key = None
    if private_key_pem:
        try:
            key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError) as err:
            # TypeError: an encrypted key (OIBus needs it usable without a passphrase).
            errors["privateKey"] = f"not an unencrypted PEM private key ({err})"
    if certificate is not None and key is not None and not matches(certificate_pem, private_key_pem or ""):
        errors["privateKey"] = "does not match the public key of the certificate"
    if errors or certificate is None:
        raise SettingsError(errors)
    return KeyPair(
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key=private_key_pem or "",
        public_key=_public_pem(certificate.public_key()),
        expiry=certificate.not_valid_after_utc,
    )


def matches(certificate_pem: str, private_key_pem: str) -> bool:
    """Whether the private key is the one of the certificate's public key."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return False
    return _public_pem(key.public_key()) == _public_pem(certificate.public_key())


def _write_atomic(path: Path, data: str, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def server_certificate(data_dir: Path) -> tuple[Path, Path]:
    """``certs/cert.pem`` and ``certs/private.pem`` of the data folder, generated (self-signed) when absent.

    An existing pair is kept as it is (an operator may put a certificate of their own CA there); a pair that
    does not match is an error rather than silently replaced.
    """
    folder = data_dir / CERTS_FOLDER
    cert_path, key_path = folder / CERT_FILE, folder / PRIVATE_KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        if not matches(cert_path.read_text(), key_path.read_text()):
            raise ValueError(f"{cert_path} and {key_path} do not match: replace both, or remove both to regenerate")
        return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    hostname = socket.gethostname()
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(f"urn:{hostname}:OIBus"),
        x509.DNSName(hostname),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    pair = generate(Subject(common_name="OIBus"), days=SERVER_DAYS, alternative_names=names)
    # The key first: a reader that finds the certificate finds its key too.
    _write_atomic(key_path, pair.private_key, 0o600)
    _write_atomic(folder / PUBLIC_KEY_FILE, pair.public_key, 0o644)
    _write_atomic(cert_path, pair.certificate, 0o644)
    log.info("server_certificate_generated", path=str(cert_path), expiry=pair.expiry.isoformat())
    return cert_path, key_path


def server_ssl_context(data_dir: Path) -> ssl.SSLContext:
    """A TLS server context with the engine's certificate (generated on first use)."""
    cert_path, key_path = server_certificate(data_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
