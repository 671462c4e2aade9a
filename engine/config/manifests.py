"""Where the store finds connector manifests: the registry, or a fixed set (tests, tools)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

import structlog

from connectors import registry
from connectors.manifest import ConnectorManifest

log = structlog.get_logger(__name__)

Kind = Literal["south", "north"]


class ManifestSource(Protocol):
    """Lists connector types and gives their manifests."""

    def types(self, kind: Kind) -> list[ConnectorManifest]:
        """Manifests of every available type of ``kind``."""
        ...

    def get(self, kind: Kind, type_name: str) -> ConnectorManifest | None:
        """Return the manifest of ``type_name``, or ``None`` when no such type exists."""
        ...


class RegistryManifests:
    """Manifests from ``connectors.registry`` (imports a connector module on first use)."""

    def types(self, kind: Kind) -> list[ConnectorManifest]:
        """Every registered type whose module imports."""
        table = registry.SOUTH if kind == "south" else registry.NORTH
        found = (self.get(kind, name) for name in sorted(table))
        return [manifest for manifest in found if manifest is not None]

    def get(self, kind: Kind, type_name: str) -> ConnectorManifest | None:
        """Return the registered manifest; ``None`` for an unknown type or a module that fails to import."""
        table = registry.SOUTH if kind == "south" else registry.NORTH
        if type_name not in table:
            return None
        try:
            return registry.manifest(kind, type_name)
        except Exception as err:  # a broken connector must not take the API down: log and hide it
            log.error("connector_manifest_unavailable", kind=kind, type=type_name, error=repr(err))
            return None


class StaticManifests:
    """A fixed set of manifests (tests and tools that must not depend on the registry)."""

    def __init__(self, manifests: Iterable[ConnectorManifest]) -> None:
        self._by_key = {(manifest.kind, manifest.id): manifest for manifest in manifests}

    def types(self, kind: Kind) -> list[ConnectorManifest]:
        """Every manifest of ``kind``, sorted by type name."""
        return sorted((m for (k, _), m in self._by_key.items() if k == kind), key=lambda m: m.id)

    def get(self, kind: Kind, type_name: str) -> ConnectorManifest | None:
        """Return the manifest of ``type_name``, or ``None``."""
        return self._by_key.get((kind, type_name))
