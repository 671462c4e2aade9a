"""Connector manifests: typed data that is the single source for validation, UI forms, OpenAPI and docs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec


@dataclass(frozen=True, slots=True)
class Modes:
    """What a South can do; the engine branches on these flags, never on ``isinstance``."""

    subscription: bool = False
    last_point: bool = False
    last_file: bool = False
    history: bool = False


@dataclass(frozen=True, slots=True)
class ConnectorManifest:
    """Describes one connector type.

    ``settings`` and ``item_settings`` are frozen msgspec Structs (camelCase on the wire); fields whose
    ``msgspec.Meta(extra={"secret": True})`` is set are secrets. ``types`` lists, for a North, the content
    types it can send.
    """

    id: str
    kind: Literal["south", "north"]
    name: str
    category: str
    description: str
    settings: type[msgspec.Struct]
    item_settings: type[msgspec.Struct] | None = None
    modes: Modes = field(default_factory=Modes)
    types: tuple[str, ...] = ()
    schema_version: int = 1

    def to_dto(self) -> dict[str, Any]:
        """Return the manifest as served by ``GET /api/{south|north}/manifests/{type}``."""
        dto: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "settings": settings_schema(self.settings),
        }
        if self.kind == "south":
            dto["modes"] = {
                "subscription": self.modes.subscription,
                "lastPoint": self.modes.last_point,
                "lastFile": self.modes.last_file,
                "history": self.modes.history,
            }
            dto["items"] = settings_schema(self.item_settings) if self.item_settings else None
        else:
            dto["types"] = list(self.types)
        return dto


def settings_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """JSON Schema of a settings struct (the UI form and OpenAPI both use it).

    msgspec keeps ``Meta(extra=...)`` out of the schema, so each field declared with
    ``Meta(extra={"secret": True})`` gets ``"secret": true`` added to its property here, in every struct.
    """
    schema: dict[str, Any] = msgspec.json.schema(struct)
    definitions = schema.get("$defs", {})
    for struct_type in _struct_types(msgspec.inspect.type_info(struct)):
        properties = definitions.get(struct_type.cls.__name__, {}).get("properties", {})
        for field_info in struct_type.fields:
            if _is_secret(field_info.type) and field_info.encode_name in properties:
                properties[field_info.encode_name]["secret"] = True
    return schema


def secret_fields(struct: type[msgspec.Struct]) -> frozenset[str]:
    """Wire names of the fields of ``struct`` marked secret (top level)."""
    return frozenset(
        name for name, props in _properties(struct).items() if isinstance(props, dict) and props.get("secret")
    )


def _is_secret(type_info: msgspec.inspect.Type) -> bool:
    if isinstance(type_info, msgspec.inspect.Metadata):
        return bool((type_info.extra or {}).get("secret")) or _is_secret(type_info.type)
    if isinstance(type_info, msgspec.inspect.UnionType):
        return any(_is_secret(member) for member in type_info.types)
    return False


def _struct_types(root: msgspec.inspect.Type) -> list[msgspec.inspect.StructType]:
    """Every struct type reachable from ``root`` (through fields, unions, containers and metadata)."""
    found: dict[type, msgspec.inspect.StructType] = {}
    pending: list[msgspec.inspect.Type] = [root]
    while pending:
        current = pending.pop()
        if isinstance(current, msgspec.inspect.StructType):
            if current.cls in found:
                continue
            found[current.cls] = current
            pending.extend(field_info.type for field_info in current.fields)
        elif isinstance(current, msgspec.inspect.Metadata):
            pending.append(current.type)
        elif isinstance(current, msgspec.inspect.UnionType):
            pending.extend(current.types)
        elif isinstance(current, msgspec.inspect.CollectionType):
            pending.append(current.item_type)
        elif isinstance(current, msgspec.inspect.DictType):
            pending.append(current.value_type)
        elif isinstance(current, msgspec.inspect.TupleType):
            pending.extend(current.item_types)
    return list(found.values())


def _properties(struct: type[msgspec.Struct]) -> dict[str, Any]:
    schema = settings_schema(struct)
    ref = schema.get("$ref", "")
    definition = schema.get("$defs", {}).get(ref.rsplit("/", 1)[-1], schema)
    props: dict[str, Any] = definition.get("properties", {})
    return props
