"""Certificates in the store (``/api/certificates``): generated self-signed, or imported from PEM.

The private key is a secret: encrypted at rest like every other secret, never in a DTO. A connector setting
refers to a certificate by id; ``certificate_key_pair`` gives the decrypted pair to whoever runs it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import structlog

from connectors.errors import SettingsError
from engine.certificates import KeyPair, Subject, generate, load_pair, matches
from engine.config.base import StoreBase, now, random_id, require_object
from engine.config.errors import NotFoundError
from engine.config.models import SYSTEM_USER, CertificateCommand, CertificateDTO, CertificateOptions, UserInfo
from engine.config.validation import try_convert

log = structlog.get_logger(__name__)


def _generated(options: CertificateOptions) -> KeyPair:
    subject = Subject(
        common_name=options.common_name,
        country_name=options.country_name,
        state_or_province_name=options.state_or_province_name,
        locality_name=options.locality_name,
        organization_name=options.organization_name,
    )
    try:
        return generate(subject, key_size=options.key_size, days=options.days_before_expiry)
    except ValueError as err:
        raise SettingsError({"options": f"cannot make a certificate of these options: {err}"}) from err


class CertificateRepository(StoreBase):
    """Certificates (``store.certificates``): CRUD, the private key sealed by the secret box."""

    def list_certificates(self) -> list[CertificateDTO]:
        """Every certificate, by name."""
        with self._reading() as db:
            users = self._user_infos(db)
            return [self._certificate_dto(row, users) for row in db.execute("SELECT * FROM certificates ORDER BY name")]

    def get_certificate(self, certificate_id: str) -> CertificateDTO:
        """One certificate (``NotFoundError`` if none)."""
        with self._reading() as db:
            return self._certificate_dto(self._certificate_row(db, certificate_id), self._user_infos(db))

    def certificate_key_pair(self, certificate_id: str) -> tuple[str, str]:
        """The certificate and its DECRYPTED private key, PEM (for the engine and workers, never the API)."""
        with self._reading() as db:
            row = self._certificate_row(db, certificate_id)
        return row["certificate"], self._box.decrypt(row["private_key"])

    def create_certificate(self, body: Any, *, actor: str = SYSTEM_USER) -> CertificateDTO:
        """Generate (``options``) or import (``certificate`` + ``privateKey``) a certificate (call it in a thread)."""
        command = self._certificate_command(body)
        if command.certificate:
            pair = load_pair(command.certificate, command.private_key)
            if not pair.private_key:
                raise SettingsError({"privateKey": "required with an imported certificate"})
        elif command.options is not None:
            pair = _generated(command.options)
        else:
            raise SettingsError({"options": "required to generate a certificate (or import certificate, privateKey)"})
        new_id = random_id()
        with self._transaction() as db:
            self._check_certificate_name(db, command.name, None)
            stamp = now()
            db.execute(
                "INSERT INTO certificates (id, name, description, public_key, certificate, private_key, expiry, "
                "created_by, updated_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new_id, command.name, command.description or "", *self._stored(pair), actor, actor, stamp, stamp),
            )
        log.info("certificate_created", certificate_id=new_id, imported=bool(command.certificate))
        return self.get_certificate(new_id)

    def update_certificate(self, certificate_id: str, body: Any, *, actor: str = SYSTEM_USER) -> CertificateDTO:
        """Rename or describe it; regenerate it (``regenerateCertificate`` + ``options``) or import a new one."""
        command = self._certificate_command(body)
        with self._reading() as db:
            stored = self._certificate_row(db, certificate_id)
        pair: KeyPair | None = None
        if command.certificate:
            key = command.private_key or self._box.decrypt(stored["private_key"])
            if not command.private_key and not matches(command.certificate, key):
                raise SettingsError({"privateKey": "required: the stored key does not match the new certificate"})
            pair = load_pair(command.certificate, key)
        elif command.regenerate_certificate:
            if command.options is None:
                raise SettingsError({"options": "required to regenerate the certificate"})
            pair = _generated(command.options)
        with self._transaction() as db:
            self._certificate_row(db, certificate_id)
            self._check_certificate_name(db, command.name, certificate_id)
            columns: dict[str, Any] = {"name": command.name, "description": command.description or ""}
            if pair is not None:
                public_key, certificate, private_key, expiry = self._stored(pair)
                columns |= {
                    "public_key": public_key,
                    "certificate": certificate,
                    "private_key": private_key,
                    "expiry": expiry,
                }
            columns |= {"updated_by": actor, "updated_at": now()}
            db.execute(
                f"UPDATE certificates SET {', '.join(f'{name} = ?' for name in columns)} WHERE id = ?",
                (*columns.values(), certificate_id),
            )
        log.info("certificate_updated", certificate_id=certificate_id, replaced=pair is not None)
        return self.get_certificate(certificate_id)

    def delete_certificate(self, certificate_id: str) -> None:
        """Delete a certificate."""
        with self._transaction() as db:
            self._certificate_row(db, certificate_id)
            db.execute("DELETE FROM certificates WHERE id = ?", (certificate_id,))
        log.info("certificate_deleted", certificate_id=certificate_id)

    # --- Helpers --------------------------------------------------------------------------------------------

    def _stored(self, pair: KeyPair) -> tuple[str, str, str, str]:
        """``public_key, certificate, private_key (encrypted), expiry`` columns of a pair."""
        expiry = pair.expiry.strftime("%Y-%m-%dT%H:%M:%S.") + f"{pair.expiry.microsecond // 1000:03d}Z"
        return pair.public_key, pair.certificate, self._box.encrypt(pair.private_key), expiry

    @staticmethod
    def _certificate_command(body: Any) -> CertificateCommand:
        errors: dict[str, str] = {}
        command = try_convert(require_object(body), CertificateCommand, "", errors)
        if errors or command is None:
            raise SettingsError(errors)
        return command

    @staticmethod
    def _check_certificate_name(db: sqlite3.Connection, name: str, own_id: str | None) -> None:
        if db.execute("SELECT 1 FROM certificates WHERE name = ? AND id != ?", (name, own_id or "")).fetchone():
            raise SettingsError({"name": "already used by another certificate"})

    @staticmethod
    def _certificate_row(db: sqlite3.Connection, certificate_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute("SELECT * FROM certificates WHERE id = ?", (certificate_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"Certificate {certificate_id} not found")
        return row

    def _certificate_dto(self, row: sqlite3.Row, users: dict[str, UserInfo]) -> CertificateDTO:
        return CertificateDTO(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            public_key=row["public_key"],
            certificate=row["certificate"],
            expiry=row["expiry"],
            **self._audit(row, users),
        )
