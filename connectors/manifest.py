"""Connector manifests: typed data that is the single source for validation, UI forms, OpenAPI and docs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec

# The one secret marker: ``"secret": true`` goes straight into the field's JSON Schema property (the UI
# masks it) and the engine's secret walk looks for the same key (encrypted at rest, blanked by the API,
# kept when sent empty). Annotate a field with it next to its other ``Meta``.
SECRET = msgspec.Meta(extra_json_schema={"secret": True})
Secret = Annotated[str, SECRET]
OptionalSecret = Annotated[str | None, SECRET]


def is_secret(meta: msgspec.inspect.Metadata) -> bool:
    """Whether the annotations of a field mark it secret (``SECRET`` among them)."""
    return bool((meta.extra_json_schema or {}).get("secret"))


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

    ``settings`` and ``item_settings`` are frozen msgspec Structs (camelCase on the wire); fields annotated
    with ``SECRET`` are secrets. ``types`` lists, for a North, the content types it can send.
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
    browse: bool = False
    """A South that lists its source's address space one level at a time (``browse(node, cursor, size)``)."""

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
    """JSON Schema of a settings struct (the UI form and OpenAPI both use it); secrets carry ``"secret": true``."""
    schema: dict[str, Any] = msgspec.json.schema(struct)
    return schema


def secret_fields(struct: type[msgspec.Struct]) -> frozenset[str]:
    """Wire names of the fields of ``struct`` marked secret (top level)."""
    schema = settings_schema(struct)
    definition = schema.get("$defs", {}).get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
    return frozenset(
        name
        for name, props in definition.get("properties", {}).items()
        if isinstance(props, dict) and props.get("secret")
    )
