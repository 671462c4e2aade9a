"""What South and North connectors share in the store: their row, unique name, manifest, settings, secrets."""

from __future__ import annotations

import sqlite3
from typing import Any, Literal, TypeVar

import msgspec

from connectors.manifest import ConnectorManifest
from engine.config.base import StoreBase, from_json, now, to_json
from engine.config.crypto import Shape, blank, blank_sealed, reveal, seal, secret_shape
from engine.config.errors import NotFoundError, SettingsError
from engine.config.manifests import Kind
from engine.config.models import ConnectorCommand, ConnectorHeaderDTO, ConnectorSettingsDTO, UserInfo
from engine.config.validation import convert, try_convert

HeaderT = TypeVar("HeaderT", bound=ConnectorHeaderDTO)
# What a read shows of secrets: decrypted for a worker, blank for the API.
Secrets = Literal["reveal", "blank"]


def command_columns(command: ConnectorCommand, settings: str) -> dict[str, Any]:
    """Return the columns of a connector row that every South or North command sets."""
    return {"name": command.name, "description": command.description, "enabled": command.enabled, "settings": settings}


class ConnectorStoreBase(StoreBase):
    """Connector rows of either kind (``south_connectors``, ``north_connectors``): the same columns and rules."""

    # --- Rows ---------------------------------------------------------------------------------------------

    def _list_connectors(self, kind: Kind, dto: type[HeaderT]) -> list[HeaderT]:
        """Every connector of ``kind``, without settings, sorted by name."""
        with self._reading() as db:
            users = self._user_infos(db)
            return [
                dto(**self._header(row, users)) for row in db.execute(f"SELECT * FROM {kind}_connectors ORDER BY name")
            ]

    def _set_connector_enabled(self, kind: Kind, connector_id: str, enabled: bool, actor: str) -> None:
        with self._transaction() as db:
            self._require_connector(db, kind, connector_id)
            self._update_connector(db, kind, connector_id, {"enabled": enabled}, actor, now())

    @staticmethod
    def _insert_connector(
        db: sqlite3.Connection, kind: Kind, connector_id: str, columns: dict[str, Any], actor: str, stamp: str
    ) -> None:
        row = {
            "id": connector_id,
            **columns,
            "created_by": actor,
            "updated_by": actor,
            "created_at": stamp,
            "updated_at": stamp,
        }
        db.execute(
            f"INSERT INTO {kind}_connectors ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            tuple(row.values()),
        )

    @staticmethod
    def _update_connector(
        db: sqlite3.Connection, kind: Kind, connector_id: str, columns: dict[str, Any], actor: str, stamp: str
    ) -> None:
        row = {**columns, "updated_by": actor, "updated_at": stamp}
        db.execute(
            f"UPDATE {kind}_connectors SET {', '.join(f'{column} = ?' for column in row)} WHERE id = ?",
            (*row.values(), connector_id),
        )

    @staticmethod
    def _require_connector(db: sqlite3.Connection, kind: Kind, connector_id: str) -> None:
        if not db.execute(f"SELECT 1 FROM {kind}_connectors WHERE id = ?", (connector_id,)).fetchone():
            raise NotFoundError(f"{kind.capitalize()} {connector_id} not found")

    @staticmethod
    def _stored_connector(db: sqlite3.Connection, kind: Kind, connector_id: str | None) -> sqlite3.Row | None:
        """The stored row being replaced (``None`` on creation); ``NotFoundError`` for an unknown id."""
        if connector_id is None:
            return None
        row: sqlite3.Row | None = db.execute(
            f"SELECT * FROM {kind}_connectors WHERE id = ?", (connector_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"{kind.capitalize()} {connector_id} not found")
        return row

    # --- Checking -----------------------------------------------------------------------------------------

    def _check_connector(
        self,
        db: sqlite3.Connection,
        kind: Kind,
        raw: dict[str, Any],
        stored: sqlite3.Row | None,
        errors: dict[str, str],
    ) -> tuple[ConnectorManifest | None, str]:
        """Check type, name and settings of a command; return the manifest and the settings as stored."""
        manifest = self._connector_manifest(kind, raw.get("type"), stored, errors)
        name = raw.get("name")
        if (
            isinstance(name, str)
            and name
            and db.execute(
                f"SELECT 1 FROM {kind}_connectors WHERE name = ? AND id != ?",
                (name, stored["id"] if stored is not None else ""),
            ).fetchone()
        ):
            errors["name"] = f"already used by another {kind.capitalize()} connector"
        settings_json = ""
        if manifest is not None and "settings" in raw:
            settings = try_convert(raw["settings"], manifest.settings, "settings", errors)
            if settings is not None:
                previous = from_json(stored["settings"]) if stored is not None else None
                settings_json = self._sealed(settings, previous, secret_shape(manifest.settings))
        return manifest, settings_json

    def _connector_manifest(
        self, kind: Kind, type_name: Any, stored: sqlite3.Row | None, errors: dict[str, str]
    ) -> ConnectorManifest | None:
        if not isinstance(type_name, str) or not type_name:
            return None
        label = kind.capitalize()
        if stored is not None and stored["type"] != type_name:
            errors["type"] = f"cannot change the type of a {label} connector (it is '{stored['type']}')"
            return None
        manifest = self._manifests.get(kind, type_name)
        if manifest is None:
            errors["type"] = f"unknown {label} connector type '{type_name}'"
        return manifest

    def stored_manifest(self, kind: Kind, stored_type: str, type_name: str | None = None) -> ConnectorManifest:
        """The manifest of a stored connector's type; ``SettingsError`` if it is gone or ``type_name`` differs."""
        label = kind.capitalize()
        if type_name and type_name != stored_type:
            raise SettingsError({"type": f"the {label} connector is of type '{stored_type}', not '{type_name}'"})
        manifest = self._manifests.get(kind, stored_type)
        if manifest is None:
            raise SettingsError({"type": f"unknown {label} connector type '{stored_type}'"})
        return manifest

    def _candidate(self, settings: msgspec.Struct, previous: Any, shape: Shape | None) -> dict[str, Any]:
        """Return validated settings as builtins, empty secrets taken from ``previous``, every secret decrypted."""
        value: dict[str, Any] = msgspec.to_builtins(settings)
        if shape is None:
            return value
        # Sealing then revealing reuses the update rules exactly (which secret counts as empty, lists by position).
        revealed: dict[str, Any] = reveal(seal(value, previous, shape, self._box), shape, self._box)
        return revealed

    def _sealed(self, settings: msgspec.Struct, previous: Any, shape: Shape | None) -> str:
        """Return stored JSON of validated settings (defaults filled in, secrets encrypted)."""
        if shape is None:
            return to_json(settings)
        return to_json(seal(msgspec.to_builtins(settings), previous, shape, self._box))

    # --- Reading ------------------------------------------------------------------------------------------

    def connector_settings(self, kind: Kind, connector_id: str) -> ConnectorSettingsDTO:
        """A connector's header and settings with every secret blank, and nothing else (light: no items read)."""
        with self._reading() as db:
            _, fields, _ = self._read_connector(db, kind, connector_id, "blank")
        return ConnectorSettingsDTO(**fields)

    def _read_connector(
        self, db: sqlite3.Connection, kind: Kind, connector_id: str, secrets: Secrets
    ) -> tuple[sqlite3.Row, dict[str, Any], dict[str, UserInfo]]:
        """Return a connector's row, the header fields and settings of its DTO, and the users."""
        row = db.execute(f"SELECT * FROM {kind}_connectors WHERE id = ?", (connector_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"{kind.capitalize()} {connector_id} not found")
        users = self._user_infos(db)
        manifest = self._manifests.get(kind, row["type"])
        shape = secret_shape(manifest.settings) if manifest else None
        settings = self._shown(from_json(row["settings"]), shape, manifest, secrets)
        return row, {**self._header(row, users), "settings": settings}, users

    def _header(self, row: sqlite3.Row, users: dict[str, UserInfo]) -> dict[str, Any]:
        """Return the ``ConnectorHeaderDTO`` keyword arguments of a connector row."""
        return {
            "id": row["id"],
            "name": row["name"],
            "type": row["type"],
            "description": row["description"],
            "enabled": bool(row["enabled"]),
            **self._audit(row, users),
        }

    def _shown(self, value: Any, shape: Shape | None, manifest: ConnectorManifest | None, secrets: Secrets) -> Any:
        if secrets == "reveal":
            return reveal(value, shape, self._box)
        if manifest is None:
            return blank_sealed(value)
        return blank(value, shape)


class ConnectorRepository(ConnectorStoreBase):
    """What holds for a connector of either kind (``store.connectors``): types, manifests, type and settings checks.

    A South itself is saved by ``SouthRepository`` (``store.souths``), a North by ``NorthRepository``
    (``store.norths``).
    """

    def connector_types(self, kind: Kind) -> list[dict[str, Any]]:
        """``GET /api/{kind}/types``: id, name, category, description and modes (South) or types (North)."""
        types = []
        for manifest in self._manifests.types(kind):
            dto = manifest.to_dto()
            dto.pop("settings", None)
            dto.pop("items", None)
            types.append(dto)
        return types

    def connector_manifest(self, kind: Kind, type_name: str) -> dict[str, Any]:
        """``GET /api/{kind}/manifests/{type}``."""
        manifest = self._manifests.get(kind, type_name)
        if manifest is None:
            raise NotFoundError(f"{kind.capitalize()} type {type_name} not found")
        return manifest.to_dto()

    def can_browse(self, type_name: str) -> bool:
        """Whether a South of this type lists its source's address space (``GET /api/south/{id}/browse``)."""
        manifest = self._manifests.get("south", type_name)
        return manifest is not None and manifest.browse

    # --- Settings to test ---------------------------------------------------------------------------------

    def candidate_settings(
        self, kind: Kind, connector_id: str, raw: Any, *, type_name: str | None = None
    ) -> dict[str, Any]:
        """Validate settings to test (``POST .../test/connection``) against the stored connector's manifest.

        As on update, an empty secret means "the stored one". The result has every secret DECRYPTED: it goes
        to the connector's worker only, never back to the API. ``type_name`` (upstream's ``southType`` or
        ``northType`` query) must be the stored type when given. Raises ``NotFoundError`` or ``SettingsError``.
        """
        with self._reading() as db:
            stored = self._stored_connector(db, kind, connector_id)
        assert stored is not None  # _stored_connector raises for an unknown id
        manifest = self.stored_manifest(kind, stored["type"], type_name)
        settings = convert(raw, manifest.settings, path="settings")
        return self._candidate(settings, from_json(stored["settings"]), secret_shape(manifest.settings))

    def connector_type(self, kind: Kind, connector_id: str) -> str:
        """The type of a stored connector (a light existence check); ``NotFoundError`` for an unknown id."""
        with self._reading() as db:
            row = db.execute(f"SELECT type FROM {kind}_connectors WHERE id = ?", (connector_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"{kind.capitalize()} {connector_id} not found")
        connector_type: str = row["type"]
        return connector_type
