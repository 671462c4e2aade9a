"""The manifest-to-form generator: kinds chosen from the JSON Schema, values filled in, secrets never."""

from __future__ import annotations

from typing import Annotated

import msgspec

import engine.api  # noqa: F401  (first: the known api/web import cycle, see tests/test_architecture.py)
from connectors.manifest import SECRET, OptionalSecret, settings_schema
from engine.web.forms import Field, fields


class _Proxy(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    url: str = ""
    proxy_password: OptionalSecret = None


class _Settings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    host: str
    port: int = 502
    mode: Annotated[str, msgspec.Meta(extra_json_schema={"enum": ["a", "b"]})] = "a"
    tls: bool = False
    token: Annotated[str, SECRET] = ""
    topics: list[str] = []
    headers: dict[str, str] = {}
    proxy: _Proxy | None = None


def _by_path(found: list[Field]) -> dict[str, Field]:
    flat: dict[str, Field] = {}
    for field in found:
        flat[field.path] = field
        flat.update(_by_path(list(field.children)))
    return flat


def test_kinds_values_and_secrets() -> None:
    stored = {"host": "plc", "port": 503, "token": "leak-me", "topics": ["a/b"], "proxy": {"proxyPassword": "p"}}
    found = _by_path(fields(settings_schema(_Settings), stored))
    kinds = {path: field.kind for path, field in found.items()}
    assert kinds == {
        "settings.host": "text",
        "settings.port": "integer",
        "settings.mode": "select",
        "settings.tls": "boolean",
        "settings.token": "secret",
        "settings.topics": "json",
        "settings.headers": "json",
        "settings.proxy": "group",
        "settings.proxy.url": "text",
        "settings.proxy.proxyPassword": "secret",
    }
    assert found["settings.host"].required and not found["settings.port"].required
    assert (found["settings.port"].value, found["settings.topics"].value) == (503, ["a/b"])
    # Secrets are never filled back, at any depth.
    assert found["settings.token"].value == "" and found["settings.proxy.proxyPassword"].value == ""
