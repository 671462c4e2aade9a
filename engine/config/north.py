"""North connectors in the store: settings, caching and routing rules (``transformers[]``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog

from connectors.errors import SettingsError
from engine.cache.settings import CachingSettings
from engine.config.base import claim_id, from_json, moved, now, random_id, require_object, to_json
from engine.config.connector_base import ConnectorStoreBase, Secrets, command_columns
from engine.config.custom_transformers import custom_transformer_dto, is_custom_transformer
from engine.config.errors import NotFoundError
from engine.config.models import (
    STANDARD_TRANSFORMERS,
    SUBSCRIPTION_ID,
    SYSTEM_USER,
    ItemRef,
    NorthCommand,
    NorthConnectorDTO,
    NorthConnectorLightDTO,
    NorthTransformerCommand,
    NorthTransformerDTO,
    OIBusApiSource,
    ScanModeDTO,
    SetpointSource,
    SouthSource,
    TransformerSource,
)
from engine.config.validation import try_convert
from engine.routing.transformers import STANDARD

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Rule:
    id: str
    transformer_id: str
    options: str
    source_type: str
    south_id: str | None
    group_id: str | None
    data_source_id: str | None
    items: list[str]


def _raw_trigger_id(top: dict[str, Any]) -> str | None:
    caching = top.get("caching")
    trigger = caching.get("trigger") if isinstance(caching, dict) else None
    value = trigger.get("scanModeId") if isinstance(trigger, dict) else None
    return value if isinstance(value, str) else None


def normalize_rule(raw: Any) -> Any:
    """Accept ``transformer: {id}`` for ``transformerId`` and ``south/group: {id}`` in a South source."""
    if not isinstance(raw, dict):
        return raw
    raw = moved(raw, "transformer", "transformerId")
    source = raw.get("source")
    if isinstance(source, dict):
        raw = {**raw, "source": moved(moved(source, "south", "southId"), "group", "groupId")}
    return raw


def _columns(command: NorthCommand, settings: str) -> dict[str, Any]:
    """Columns a North command sets on its row, on creation and update alike."""
    return {
        **command_columns(command, settings),
        "caching": to_json(command.caching),
        "caching_scan_mode_id": command.caching.trigger.scan_mode_id,
    }


class NorthRepository(ConnectorStoreBase):
    """North connectors (``store.norths``): where a North and its routing rules (transformers) are saved."""

    def list_norths(self) -> list[NorthConnectorLightDTO]:
        """Every North, without settings, sorted by name."""
        return self._list_connectors("north", NorthConnectorLightDTO)

    def get_north(self, north_id: str) -> NorthConnectorDTO:
        """Return a North with caching and rules, secrets DECRYPTED (for its worker; never for the API)."""
        with self._reading() as db:
            return self._north(db, north_id, secrets="reveal")

    def north_dto(self, north_id: str) -> NorthConnectorDTO:
        """Return a North as the API shows it (every secret blank)."""
        with self._reading() as db:
            return self._north(db, north_id, secrets="blank")

    def create_north(self, body: Any, *, actor: str = SYSTEM_USER) -> NorthConnectorDTO:
        """Validate and store a ``NorthCommand`` body."""
        north_id = random_id()
        with self._transaction() as db:
            command, settings, rules = self._check_north(db, body, None)
            stamp = now()
            columns = {"type": command.type, **_columns(command, settings)}
            self._insert_connector(db, "north", north_id, columns, actor, stamp)
            self._write_rules(db, north_id, rules or [], actor, stamp)
        log.info("north_created", north_id=north_id, type=command.type)
        return self.north_dto(north_id)

    def update_north(self, north_id: str, body: Any, *, actor: str = SYSTEM_USER) -> None:
        """Replace a North from a ``NorthCommand`` body (``transformers`` left out: rules kept)."""
        with self._transaction() as db:
            command, settings, rules = self._check_north(db, body, north_id)
            stamp = now()
            self._update_connector(db, "north", north_id, _columns(command, settings), actor, stamp)
            if rules is not None:
                self._write_rules(db, north_id, rules, actor, stamp)
        log.info("north_updated", north_id=north_id)

    def delete_north(self, north_id: str) -> None:
        """Delete a North and its rules."""
        with self._transaction() as db:
            self._require_connector(db, "north", north_id)
            db.execute("DELETE FROM north_connectors WHERE id = ?", (north_id,))
        log.info("north_deleted", north_id=north_id)

    def set_north_enabled(self, north_id: str, enabled: bool, *, actor: str = SYSTEM_USER) -> None:
        """Persist ``enabled`` (``POST /api/north/{id}/start|stop``)."""
        self._set_connector_enabled("north", north_id, enabled, actor)
        log.info("north_enabled_set", north_id=north_id, enabled=enabled)

    def upsert_north_transformer(self, north_id: str, body: Any, *, actor: str = SYSTEM_USER) -> NorthTransformerDTO:
        """Add a rule, or replace the rule whose ``id`` the body names (it keeps its place in the list)."""
        with self._transaction() as db:
            self._require_connector(db, "north", north_id)
            stored = self._stored_rules(db, north_id)
            errors: dict[str, str] = {}
            rule = self._check_rule(db, normalize_rule(require_object(body)), "", set(stored), errors, {})
            if errors or rule is None:
                raise SettingsError(errors)
            # A known id replaces that rule in place (dicts keep the position); a new one goes last.
            stored[rule.id] = rule
            self._write_rules(db, north_id, list(stored.values()), actor, now())
        log.info("north_transformer_saved", north_id=north_id, transformer_id=rule.id)
        for dto in self.north_dto(north_id).transformers:
            if dto.id == rule.id:
                return dto
        raise NotFoundError(f"Transformer {rule.id} not found in North {north_id}")  # pragma: no cover

    def delete_north_transformer(self, north_id: str, rule_id: str) -> None:
        """Delete one rule of a North."""
        with self._transaction() as db:
            self._require_connector(db, "north", north_id)
            deleted = db.execute(
                "DELETE FROM north_transformers WHERE id = ? AND north_id = ?", (rule_id, north_id)
            ).rowcount
            if not deleted:
                raise NotFoundError(f"Transformer {rule_id} not found in North {north_id}")
        log.info("north_transformer_deleted", north_id=north_id, transformer_id=rule_id)

    # --- Checking -------------------------------------------------------------------------------------------

    def _check_north(
        self, db: sqlite3.Connection, body: Any, north_id: str | None
    ) -> tuple[NorthCommand, str, list[_Rule] | None]:
        raw = require_object(body)
        stored = self._stored_connector(db, "north", north_id)
        errors: dict[str, str] = {}
        modes = self._scan_modes(db, self._user_infos(db))
        top = {key: value for key, value in raw.items() if key != "transformers"}
        top = self._normalize_caching(top, modes, errors)
        command = try_convert(top, NorthCommand, "", errors)
        _, settings_json = self._check_connector(db, "north", raw, stored, errors)
        # Checked on the raw body so that a problem elsewhere in the command does not hide this one.
        trigger = _raw_trigger_id(top)
        if trigger == SUBSCRIPTION_ID:
            errors["caching.trigger.scanModeId"] = "the subscription scan mode cannot trigger a North"
        elif trigger is not None and trigger not in modes and "caching.trigger.scanModeName" not in errors:
            errors["caching.trigger.scanModeId"] = f"unknown scan mode '{trigger}'"
        if command is not None and command.caching.trigger.scan_mode_id in modes:
            command = self._named_trigger(command, modes)
        rules: list[_Rule] | None = None
        raw_rules = raw.get("transformers")
        if "transformers" in raw and not isinstance(raw_rules, list):
            try_convert(raw_rules, list[Any], "transformers", errors)
        elif isinstance(raw_rules, list):
            stored_rules = set(self._stored_rules(db, north_id)) if north_id is not None else set()
            rules = []
            souths: dict[str, tuple[set[str], set[str]] | None] = {}
            for index, rule_raw in enumerate(raw_rules):
                rule = self._check_rule(
                    db, normalize_rule(rule_raw), f"transformers[{index}]", stored_rules, errors, souths
                )
                if rule is not None:
                    rules.append(rule)
        if errors or command is None:
            raise SettingsError(errors)
        return command, settings_json, rules

    def _normalize_caching(
        self, top: dict[str, Any], modes: dict[str, ScanModeDTO], errors: dict[str, str]
    ) -> dict[str, Any]:
        """Accept ``trigger.scanMode: {id}`` and a trigger given by ``scanModeName`` only."""
        caching = top.get("caching")
        trigger = caching.get("trigger") if isinstance(caching, dict) else None
        if not isinstance(caching, dict) or not isinstance(trigger, dict):
            return top
        trigger = moved(trigger, "scanMode", "scanModeId")
        name = trigger.get("scanModeName")
        if trigger.get("scanModeId") is None and isinstance(name, str) and name:
            found = next((mode.id for mode in modes.values() if mode.name == name), None)
            if found is None:
                errors["caching.trigger.scanModeName"] = f"unknown scan mode '{name}'"
            trigger = {**trigger, "scanModeId": found or ""}
        return {**top, "caching": {**caching, "trigger": trigger}}

    @staticmethod
    def _named_trigger(command: NorthCommand, modes: dict[str, ScanModeDTO]) -> NorthCommand:
        trigger = command.caching.trigger
        named = msgspec.structs.replace(trigger, scan_mode_name=modes[trigger.scan_mode_id].name)
        return msgspec.structs.replace(command, caching=msgspec.structs.replace(command.caching, trigger=named))

    def _check_south_source(
        self,
        db: sqlite3.Connection,
        source: SouthSource,
        prefix: str,
        errors: dict[str, str],
        souths: dict[str, tuple[set[str], set[str]] | None],
    ) -> list[str] | None:
        """The item ids a South source names, once each; None (the reasons in ``errors``) if any is unknown."""
        south_id, group_id = source.south_id, source.group_id
        if south_id not in souths:
            souths[south_id] = self._south_refs(db, south_id)
        refs = souths[south_id]
        if refs is None:
            errors[f"{prefix}source.southId"] = f"unknown South connector '{south_id}'"
            return None
        groups, known_items = refs
        bad = False
        if group_id is not None and group_id not in groups:
            errors[f"{prefix}source.groupId"] = f"unknown group '{group_id}' in South '{south_id}'"
            bad = True
        for index, ref in enumerate(source.items):
            if ref.id not in known_items:
                errors[f"{prefix}source.items[{index}].id"] = f"unknown item '{ref.id}' in South '{south_id}'"
                bad = True
        return None if bad else list(dict.fromkeys(ref.id for ref in source.items))

    def _check_rule(
        self,
        db: sqlite3.Connection,
        raw: Any,
        path: str,
        reusable: set[str],
        errors: dict[str, str],
        souths: dict[str, tuple[set[str], set[str]] | None],
    ) -> _Rule | None:
        """One rule: shape, a known transformer, and a source whose South, group and items exist."""
        command = try_convert(raw, NorthTransformerCommand, path, errors)
        prefix = f"{path}." if path else ""
        bad = command is None
        transformer_id = raw.get("transformerId") if isinstance(raw, dict) else None
        if (
            isinstance(transformer_id, str)
            and transformer_id
            and transformer_id not in STANDARD_TRANSFORMERS
            and not is_custom_transformer(db, transformer_id)
        ):
            errors[f"{prefix}transformerId"] = (
                f"unknown transformer '{transformer_id}' (available: {', '.join(STANDARD_TRANSFORMERS)}, "
                "or a custom transformer's id)"
            )
            bad = True
        if command is None:
            return None
        transformer = STANDARD.get(command.transformer_id)
        if (
            transformer is not None
            and try_convert(command.options, transformer.options, f"{prefix}options", errors) is None
        ):
            bad = True
        source = command.source
        items: list[str] = []
        south_id = group_id = data_source_id = None
        if isinstance(source, SouthSource):
            south_id, group_id = source.south_id, source.group_id
            found = self._check_south_source(db, source, prefix, errors, souths)
            if found is None:
                return None
            items = found
        elif isinstance(source, OIBusApiSource):
            data_source_id = source.data_source_id
        if bad:
            return None
        reused = claim_id(command.id, reusable)
        return _Rule(
            id=reused or random_id(),
            transformer_id=command.transformer_id,
            options=to_json(command.options),
            source_type=source.__struct_config__.tag if isinstance(source.__struct_config__.tag, str) else "",
            south_id=south_id,
            group_id=group_id,
            data_source_id=data_source_id,
            items=items,
        )

    @staticmethod
    def _south_refs(db: sqlite3.Connection, south_id: str) -> tuple[set[str], set[str]] | None:
        if not db.execute("SELECT 1 FROM south_connectors WHERE id = ?", (south_id,)).fetchone():
            return None
        groups = {row[0] for row in db.execute("SELECT id FROM south_item_groups WHERE connector_id = ?", (south_id,))}
        items = {row[0] for row in db.execute("SELECT id FROM south_items WHERE connector_id = ?", (south_id,))}
        return groups, items

    def _stored_rules(self, db: sqlite3.Connection, north_id: str | None) -> dict[str, _Rule]:
        rules: dict[str, _Rule] = {}
        for row in db.execute("SELECT * FROM north_transformers WHERE north_id = ? ORDER BY position", (north_id,)):
            rules[row["id"]] = _Rule(
                id=row["id"],
                transformer_id=row["transformer_id"],
                options=row["options"],
                source_type=row["source_type"],
                south_id=row["south_id"],
                group_id=row["group_id"],
                data_source_id=row["data_source_id"],
                items=[],
            )
        for rule_id, item_id in db.execute(
            "SELECT t.north_transformer_id, t.item_id FROM north_transformer_items t "
            "JOIN north_transformers r ON r.id = t.north_transformer_id WHERE r.north_id = ?",
            (north_id,),
        ):
            rules[rule_id].items.append(item_id)
        return rules

    @staticmethod
    def _write_rules(db: sqlite3.Connection, north_id: str, rules: list[_Rule], actor: str, stamp: str) -> None:
        """Replace the rules of a North by ``rules``, in order (earliest rule wins when routing)."""
        created = {
            row[0]: (row[1], row[2])
            for row in db.execute(
                "SELECT id, created_by, created_at FROM north_transformers WHERE north_id = ?", (north_id,)
            )
        }
        db.execute("DELETE FROM north_transformers WHERE north_id = ?", (north_id,))
        db.executemany(
            "INSERT INTO north_transformers (id, north_id, position, transformer_id, options, source_type, "
            "south_id, group_id, data_source_id, items_scoped, created_by, updated_by, created_at, "
            "updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    rule.id,
                    north_id,
                    position,
                    rule.transformer_id,
                    rule.options,
                    rule.source_type,
                    rule.south_id,
                    rule.group_id,
                    rule.data_source_id,
                    bool(rule.items),
                    created.get(rule.id, (actor, stamp))[0],
                    actor,
                    created.get(rule.id, (actor, stamp))[1],
                    stamp,
                )
                for position, rule in enumerate(rules)
            ],
        )
        db.executemany(
            "INSERT INTO north_transformer_items (north_transformer_id, item_id) VALUES (?, ?)",
            [(rule.id, item_id) for rule in rules for item_id in rule.items],
        )

    # --- Reading ------------------------------------------------------------------------------------------

    def _north(self, db: sqlite3.Connection, north_id: str, *, secrets: Secrets) -> NorthConnectorDTO:
        row, fields, users = self._read_connector(db, "north", north_id, secrets)
        modes = self._scan_modes(db, users)
        caching = msgspec.json.decode(row["caching"], type=CachingSettings)
        mode = modes.get(caching.trigger.scan_mode_id)
        if mode is not None:
            caching = msgspec.structs.replace(
                caching, trigger=msgspec.structs.replace(caching.trigger, scan_mode_name=mode.name)
            )
        return NorthConnectorDTO(**fields, caching=caching, transformers=self._rule_dtos(db, north_id))

    def _rule_dtos(self, db: sqlite3.Connection, north_id: str) -> list[NorthTransformerDTO]:
        refs: dict[str, list[ItemRef]] = {}
        for rule_id, item_id, name, enabled in db.execute(
            "SELECT t.north_transformer_id, i.id, i.name, i.enabled FROM north_transformer_items t "
            "JOIN north_transformers r ON r.id = t.north_transformer_id "
            "JOIN south_items i ON i.id = t.item_id "
            "WHERE r.north_id = ? ORDER BY i.name",
            (north_id,),
        ):
            refs.setdefault(rule_id, []).append(ItemRef(id=item_id, name=name, enabled=bool(enabled)))
        dtos: list[NorthTransformerDTO] = []
        for row in db.execute("SELECT * FROM north_transformers WHERE north_id = ? ORDER BY position", (north_id,)):
            source: TransformerSource
            if row["source_type"] == "south":
                source = SouthSource(south_id=row["south_id"], group_id=row["group_id"], items=refs.get(row["id"], []))
            elif row["source_type"] == "oibus-api":
                source = OIBusApiSource(data_source_id=row["data_source_id"])
            else:
                source = SetpointSource()
            dtos.append(
                NorthTransformerDTO(
                    id=row["id"],
                    source=source,
                    transformer=STANDARD_TRANSFORMERS.get(row["transformer_id"])
                    or custom_transformer_dto(db, row["transformer_id"]),
                    options=from_json(row["options"]),
                )
            )
        return dtos
