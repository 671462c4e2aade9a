"""What the REST API needs from the running engine: reconcile workers after configuration changes.

The API stores a change first, then calls the runtime, which starts, reconfigures or stops the worker of
that connector. The runtime never raises for a connector that fails to start: it is supervised instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Outcome of an ingestion: which Norths stored the content and which refused it (with reasons)."""

    stored: tuple[str, ...]
    refused: dict[str, str]
    ignored: bool = False


class Runtime(Protocol):
    """The engine seen from the API."""

    async def reconcile_south(self, south_id: str) -> None:
        """Make the worker of ``south_id`` match the stored configuration (start, reconfigure, stop)."""
        ...

    async def reconcile_north(self, north_id: str) -> None:
        """Same for a North connector; also refreshes routing."""
        ...

    async def reload_scan_modes(self) -> None:
        """Re-read the scan modes and reschedule their crons."""
        ...

    async def engine_settings_changed(self) -> None:
        """Apply stored engine settings that take effect live (log levels and sinks, engine name)."""
        ...

    def connector_state(self, kind: str, connector_id: str) -> dict[str, Any]:
        """Supervision state of a connector's worker (``{"state": "RUNNING", ...}``)."""
        ...

    async def worker_request(
        self, kind: str, connector_id: str, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0
    ) -> Any:
        """Call ``method`` in the worker of a running connector; see ``Engine.worker_request``."""
        ...

    async def north_cache_request(
        self, north_id: str, method: str, params: dict[str, Any], timeout_s: float = 60.0
    ) -> Any:
        """Run a cache operation for a North: in its worker, or here when it has none (disabled)."""
        ...

    def connector_metrics(self) -> dict[str, dict[str, Any]]:
        """Latest metrics reported by each worker, keyed ``south:<id>`` / ``north:<id>``."""
        ...

    async def ingest_values(
        self, values_json: bytes, count: int, *, data_source_id: str, north_ids: list[str] | None
    ) -> IngestResult:
        """Route a JSON array of time-values; returns once every target North stored it or refused it."""
        ...

    async def ingest_file(
        self, path: Path, filename: str, *, data_source_id: str, north_ids: list[str] | None
    ) -> IngestResult:
        """Route a file (``path`` is a private scratch file the engine deletes afterwards)."""
        ...

    async def ingest_content(self, content: bytes, *, data_source_id: str, north_ids: list[str] | None) -> IngestResult:
        """Route an ``any-content`` payload."""
        ...
