"""Secrets at rest: AES-GCM with a local key in ``crypto.db``, and the manifest-driven secret walk.

A secret is stored as ``MARKER + base64(nonce || ciphertext+tag)`` with a fresh 12-byte nonce per value.
The key is generated on first start and kept in ``crypto.db`` (created 0600), apart from ``oibus.db`` so
that a copy of the configuration alone discloses nothing. Losing ``crypto.db`` makes every stored secret
unreadable: such secrets come back empty (and are logged) so the engine still starts.
``crypto.db`` also keeps the HMAC key that signs API login tokens (``token_key``).

Which fields are secrets comes from the settings structs: a field annotated with
``connectors.manifest.SECRET`` (the marker the JSON Schema shows), at any depth (nested structs, lists,
unions).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.manifest import is_secret

log = structlog.get_logger(__name__)

MARKER = "$oibus-aesgcm-v1$"
_NONCE_SIZE = 12
# Binding ciphertexts to this purpose stops a value encrypted elsewhere with the same key from passing.
_AAD = b"oibus-config-secret"

TOKEN_KEY_SUFFIX = "/api-token"
"""``crypto.db`` row of the API token key: ``<engine id>/api-token``."""


def stored_key(path: Path, key_id: str, algorithm: str, generate: Callable[[], bytes]) -> bytes:
    """Return the key ``key_id`` kept in the ``crypto.db`` at ``path``; create file and key if missing.

    A row holding another ``algorithm`` is refused: one key is never used for two purposes.
    """
    if not path.exists():
        # Create the file ourselves so it is never readable by others, even for an instant.
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        log.info("crypto_db_created", path=str(path))
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS crypto (id TEXT PRIMARY KEY, algorithm TEXT NOT NULL, "
            "secret_key TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        row = db.execute("SELECT algorithm, secret_key FROM crypto WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            key = generate()
            db.execute(
                "INSERT INTO crypto (id, algorithm, secret_key, created_at) VALUES (?, ?, ?, ?)",
                (key_id, algorithm, base64.b64encode(key).decode(), datetime.now(UTC).isoformat()),
            )
            log.info("crypto_key_created", key_id=key_id, algorithm=algorithm)
            return key
        if row[0] != algorithm:
            raise ValueError(f"unsupported key algorithm {row[0]!r} for {key_id!r} in {path}")
        return base64.b64decode(row[1])
    finally:
        db.close()


def token_key(path: Path, engine_id: str) -> bytes:
    """Return the HMAC-SHA256 key that signs API tokens (deleting its row logs every client out)."""
    return stored_key(path, engine_id + TOKEN_KEY_SUFFIX, "hmac-sha256", lambda: os.urandom(32))


class SecretBox:
    """Encrypts and decrypts secret strings with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def open(cls, path: Path, key_id: str) -> SecretBox:
        """Load the key ``key_id`` from the ``crypto.db`` at ``path``, creating file and key if missing."""
        return cls(stored_key(path, key_id, "aes-256-gcm", lambda: AESGCM.generate_key(bit_length=256)))

    def encrypt(self, plaintext: str) -> str:
        """Return the stored form of ``plaintext`` (a fresh nonce each time)."""
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), _AAD)
        return MARKER + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str) -> str:
        """Return the plaintext of a stored value; a value without the marker is returned as is."""
        if not stored.startswith(MARKER):
            return stored
        try:
            raw = base64.b64decode(stored[len(MARKER) :], validate=True)
            return self._aead.decrypt(raw[:_NONCE_SIZE], raw[_NONCE_SIZE:], _AAD).decode()
        except (InvalidTag, binascii.Error, ValueError):
            # The key changed (crypto.db lost or replaced): the engine must keep running without it.
            log.error("secret_undecryptable")
            return ""


# --- Where the secrets are ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leaf:
    """A secret value."""


@dataclass(frozen=True, slots=True)
class Fields:
    """An object some of whose fields (wire names) hold secrets."""

    fields: Mapping[str, Shape]


@dataclass(frozen=True, slots=True)
class Each:
    """A list (or map) whose every element holds secrets."""

    element: Shape


Shape = Leaf | Fields | Each
LEAF = Leaf()


@functools.cache
def secret_shape(struct: type[msgspec.Struct]) -> Shape | None:
    """Where the secrets of ``struct`` are, or ``None`` when it has none."""
    return _shape(msgspec.inspect.type_info(struct), set())


def _shape(info: msgspec.inspect.Type, visiting: set[type]) -> Shape | None:
    if isinstance(info, msgspec.inspect.Metadata):
        if is_secret(info):
            return LEAF
        return _shape(info.type, visiting)
    if isinstance(info, msgspec.inspect.StructType):
        if info.cls in visiting:
            return None
        visiting = visiting | {info.cls}
        found = {f.encode_name: s for f in info.fields if (s := _shape(f.type, visiting)) is not None}
        return Fields(found) if found else None
    if isinstance(info, msgspec.inspect.ListType | msgspec.inspect.VarTupleType | msgspec.inspect.SetType):
        element = _shape(info.item_type, visiting)
        return Each(element) if element else None
    if isinstance(info, msgspec.inspect.DictType):
        element = _shape(info.value_type, visiting)
        return Each(element) if element else None
    if isinstance(info, msgspec.inspect.UnionType):
        return _merge([s for member in info.types if (s := _shape(member, visiting)) is not None])
    return None


def _merge(shapes: list[Shape]) -> Shape | None:
    """One shape covering every member of a union (the fields of tagged struct variants are combined)."""
    if not shapes:
        return None
    if any(isinstance(s, Leaf) for s in shapes):
        return LEAF
    fields: dict[str, list[Shape]] = {}
    elements: list[Shape] = []
    for s in shapes:
        if isinstance(s, Fields):
            for name, sub in s.fields.items():
                fields.setdefault(name, []).append(sub)
        elif isinstance(s, Each):
            elements.append(s.element)
    if fields:
        return Fields({name: merged for name, subs in fields.items() if (merged := _merge(subs))})
    element = _merge(elements)
    return Each(element) if element else None


# --- Walking values ---------------------------------------------------------------------------------------


def blank(value: Any, shape: Shape | None) -> Any:
    """Return a copy of ``value`` with every secret replaced by ``""`` (what the API shows)."""
    return _walk(value, shape, lambda _: "")


def blank_sealed(value: Any) -> Any:
    """Blank every encrypted value, whatever the manifest says (a type whose manifest is gone)."""
    if isinstance(value, str):
        return "" if value.startswith(MARKER) else value
    if isinstance(value, list):
        return [blank_sealed(item) for item in value]
    if isinstance(value, dict):
        return {key: blank_sealed(item) for key, item in value.items()}
    return value


def reveal(value: Any, shape: Shape | None, box: SecretBox) -> Any:
    """Return a copy of stored ``value`` with every secret decrypted (what a worker gets)."""
    return _walk(value, shape, lambda v: box.decrypt(v) if isinstance(v, str) else v)


def seal(new: Any, previous: Any, shape: Shape | None, box: SecretBox) -> Any:
    """Return the stored form of ``new``: secrets encrypted; an empty secret keeps the one in ``previous``.

    ``previous`` is the stored (already encrypted) value being replaced, or ``None`` on creation. List
    elements are matched by position, as upstream does.
    """
    if shape is None:
        return new
    if isinstance(shape, Leaf):
        if new is None or new == "":
            return previous if isinstance(previous, str) and previous else new
        return box.encrypt(new) if isinstance(new, str) else new
    if isinstance(shape, Fields):
        if not isinstance(new, dict):
            return new
        old = previous if isinstance(previous, dict) else {}
        return {
            key: seal(value, old.get(key), shape.fields[key], box) if key in shape.fields else value
            for key, value in new.items()
        }
    if isinstance(new, list):
        old_list = previous if isinstance(previous, list) else []
        return [
            seal(value, old_list[index] if index < len(old_list) else None, shape.element, box)
            for index, value in enumerate(new)
        ]
    if isinstance(new, dict):
        old_map = previous if isinstance(previous, dict) else {}
        return {key: seal(value, old_map.get(key), shape.element, box) for key, value in new.items()}
    return new


def _walk(value: Any, shape: Shape | None, leaf: Any) -> Any:
    if shape is None:
        return value
    if isinstance(shape, Leaf):
        return leaf(value)
    if isinstance(shape, Fields):
        if not isinstance(value, dict):
            return value
        return {
            key: _walk(item, shape.fields[key], leaf) if key in shape.fields else item for key, item in value.items()
        }
    if isinstance(value, list):
        return [_walk(item, shape.element, leaf) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item, shape.element, leaf) for key, item in value.items()}
    return value
