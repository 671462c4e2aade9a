"""X.509 certificates for OIBus: self-signed generation, PEM import checks, and the engine's own ``certs/`` pair.

One helper serves the HTTPS listener (``server_certificate``: ``certs/cert.pem`` and ``certs/private.pem``,
generated on first use) and the certificate store of ``/api/certificates`` (``generate``, ``load_pair``).
``certs/`` keeps upstream's file names and shape (RSA, CN ``OIBus``, subject alternative names
``urn:<hostname>:OIBus`` and the host name) so an OPC UA client can use the same pair, as upstream does.
Generating an RSA key is CPU work: call these from a thread.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from connectors.common.x509 import KeyPair, Subject, generate, matches, oibus_certificate, public_pem
from connectors.errors import SettingsError

__all__ = ["KeyPair", "Subject", "generate", "load_pair", "matches", "server_certificate", "server_ssl_context"]

log = structlog.get_logger(__name__)


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
        public_key=public_pem(certificate.public_key()),
        expiry=certificate.not_valid_after_utc,
    )


def server_certificate(data_dir: Path) -> tuple[Path, Path]:
    """The engine's ``certs/`` pair (generated when absent), also OIBus's OPC UA client certificate."""
    cert_path, key_path = oibus_certificate(data_dir)
    log.debug("server_certificate", path=str(cert_path))
    return cert_path, key_path


def server_ssl_context(data_dir: Path) -> ssl.SSLContext:
    """A TLS server context with the engine's certificate (generated on first use)."""
    cert_path, key_path = server_certificate(data_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
