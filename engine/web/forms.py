"""Turn a manifest's JSON Schema (as ``GET /api/{south|north}/manifests/{type}`` serves it) into form fields.

Enums become selects, booleans switches, nested objects fieldsets, lists and free-form maps JSON text
areas, ``secret`` fields password inputs that are never filled back; every field carries its dotted path
so that the API's field errors (``settings.inputFolder: ...``) land next to the input they name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a generated form (``kind``: text, integer, number, boolean, select, secret, json, group)."""

    path: str
    label: str
    kind: str
    description: str = ""
    required: bool = False
    value: Any = None
    options: tuple[str, ...] = ()
    children: tuple[Field, ...] = field(default=())


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(defs.get(ref.removeprefix("#/$defs/"), {}), defs)
    return schema


def _non_null(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of an optional value (``anyOf: [X, null]``) is X's."""
    for key in ("anyOf", "oneOf"):
        choices = schema.get(key)
        if isinstance(choices, list):
            kept = [_resolve(choice, defs) for choice in choices if choice.get("type") != "null"]
            if len(kept) == 1:
                return {**{k: v for k, v in schema.items() if k != key}, **kept[0]}
    return _resolve(schema, defs)


def fields(schema: dict[str, Any], values: dict[str, Any] | None = None, prefix: str = "settings") -> list[Field]:
    """The fields of an object schema, filled with ``values`` (secrets never are)."""
    defs = schema.get("$defs", {})
    return _object_fields(_resolve(schema, defs), defs, values or {}, prefix)


def _object_fields(schema: dict[str, Any], defs: dict[str, Any], values: dict[str, Any], prefix: str) -> list[Field]:
    required = set(schema.get("required", ()))
    found = []
    for name, raw in schema.get("properties", {}).items():
        prop = _non_null(raw, defs)
        path = f"{prefix}.{name}" if prefix else name
        label = str(raw.get("title") or prop.get("title") or name)
        description = str(raw.get("description") or prop.get("description") or "")
        value = values.get(name, prop.get("default", raw.get("default")))
        base = Field(path=path, label=label, kind="text", description=description, required=name in required)
        if raw.get("secret") or prop.get("secret"):
            found.append(replace(base, kind="secret", value=""))
        elif "enum" in prop:
            found.append(replace(base, kind="select", value=value, options=tuple(str(o) for o in prop["enum"])))
        elif prop.get("type") == "boolean":
            found.append(replace(base, kind="boolean", value=bool(value)))
        elif prop.get("type") in ("integer", "number"):
            found.append(replace(base, kind=str(prop["type"]), value=value))
        elif prop.get("type") == "object" and "properties" in prop:
            nested = value if isinstance(value, dict) else {}
            found.append(replace(base, kind="group", children=tuple(_object_fields(prop, defs, nested, path))))
        elif prop.get("type") in ("array", "object"):
            # A list, or a free-form map: edited as JSON text (the API checks its shape and names the field).
            found.append(replace(base, kind="json", value=value))
        else:
            found.append(replace(base, value="" if value is None else value))
    return found
