"""The RSA key pair OIAnalytics encrypts secrets with, and the manifest-driven decryption of command payloads.

OIAnalytics encrypts each secret of a command with the public key OIBus registered: RSA-OAEP with SHA-256
(MGF1-SHA256, no label), base64. The private key never leaves the machine; it is stored encrypted with the
local at-rest key. Which values are secrets comes from the connector manifest (``secret_shape``), never
from the values themselves: a non-empty secret that is not valid ciphertext fails the command.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.errors import SettingsError
from engine.config.crypto import Each, Fields, Leaf, Shape

KEY_SIZE = 4096
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def generate_key_pair(key_size: int = KEY_SIZE) -> tuple[str, str]:
    """A new pair as ``(public PEM SPKI, private PEM PKCS#8)`` (slow at 4096 bits: call it in a thread)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return public.decode(), private.decode()


class Decryptor:
    """Decrypts OIAnalytics ciphertexts with the registration's private key."""

    def __init__(self, private_pem: str) -> None:
        if not private_pem:
            raise SettingsError({"privateKey": "no key pair: register with OIAnalytics first"})
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SettingsError({"privateKey": "the stored key is not an RSA key"})
        self._key = key

    def decrypt(self, ciphertext: str, path: str) -> str:
        """The UTF-8 plaintext of a base64 ciphertext; ``SettingsError`` naming ``path`` when it is not one."""
        try:
            return self._key.decrypt(base64.b64decode(ciphertext, validate=True), _OAEP).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError) as err:
            raise SettingsError({path: "cannot be decrypted with the OIAnalytics key (RSA-OAEP SHA-256)"}) from err

    def decrypt_secrets(self, value: Any, shape: Shape | None, path: str = "settings") -> Any:
        """A copy of ``value`` with every secret of ``shape`` decrypted (an empty or null secret becomes ``""``)."""
        if shape is None:
            return value
        if isinstance(shape, Leaf):
            if not value:
                return ""
            if not isinstance(value, str):
                raise SettingsError({path: f"a secret must be a string, got {type(value).__name__}"})
            return self.decrypt(value, path)
        if isinstance(shape, Fields):
            if not isinstance(value, dict):
                return value
            return {
                key: self.decrypt_secrets(item, shape.fields[key], f"{path}.{key}") if key in shape.fields else item
                for key, item in value.items()
            }
        assert isinstance(shape, Each)
        if isinstance(value, list):
            return [self.decrypt_secrets(item, shape.element, f"{path}[{index}]") for index, item in enumerate(value)]
        if isinstance(value, dict):
            return {key: self.decrypt_secrets(item, shape.element, f"{path}.{key}") for key, item in value.items()}
        return value


def encrypt_for(public_pem: str, plaintext: str) -> str:
    """Base64 RSA-OAEP(SHA-256) ciphertext of ``plaintext`` (what OIAnalytics sends; used by tests and tools)."""
    key = serialization.load_pem_public_key(public_pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return base64.b64encode(key.encrypt(plaintext.encode(), _OAEP)).decode()
