"""Manifest and settings of the InfluxDB South (v1, v2, v3 as upstream 3.9)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.sql.settings import RequestTimeout
from connectors.manifest import ConnectorManifest, Modes, OptionalSecret

__all__ = ["MANIFEST", "InfluxdbItemSettings", "InfluxdbSettings"]

_NEEDED: dict[str, tuple[str, ...]] = {
    "1": ("host", "database"),
    "2": ("url", "organisation", "bucket"),
    "3": ("url", "database"),
}
"""The fields each version needs (upstream's enabling conditions plus REQUIRED validators)."""


class InfluxdbSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which InfluxDB, and how to reach it: v1 host/port/database, v2 url/organisation/bucket, v3 url/database."""

    version: Annotated[
        Literal["1", "2", "3"], msgspec.Meta(title="Version", description="1 (InfluxQL), 2 (Flux) or 3 (SQL).")
    ] = "1"
    host: Annotated[str | None, msgspec.Meta(title="Host", description="v1: server name or address.")] = "localhost"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="v1: HTTP API port.")] = 8086
    protocol: Annotated[
        Literal["http", "https"], msgspec.Meta(title="Protocol", description="v1: scheme of the HTTP API.")
    ] = "http"
    database: Annotated[str | None, msgspec.Meta(title="Database", description="v1 and v3: database name.")] = None
    username: Annotated[str | None, msgspec.Meta(title="Username", description="v1: login user.")] = None
    password: OptionalSecret = None
    url: Annotated[str | None, msgspec.Meta(title="URL", description="v2 and v3: base URL of the server.")] = (
        "http://localhost:8086"
    )
    token: OptionalSecret = None
    organisation: Annotated[str | None, msgspec.Meta(title="Organisation", description="v2: organization.")] = None
    bucket: Annotated[str | None, msgspec.Meta(title="Bucket", description="v2: bucket (the Flux query names it).")] = (
        None
    )

    def __post_init__(self) -> None:
        missing = [name for name in _NEEDED[self.version] if not getattr(self, name)]
        if missing:
            raise ValueError(f"{', '.join(missing)}: required for InfluxDB version {self.version}")
        if self.version != "1" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError(f"url: must start with http:// or https://, got {self.url!r}")


class InfluxdbItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One query, read over each history interval."""

    query: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Query",
            description="InfluxQL, Flux or SQL; @StartTime and @EndTime become the interval's ISO 8601 instants.",
        ),
    ] = "SELECT * FROM measurement WHERE time > '@StartTime' AND time <= '@EndTime'"
    request_timeout: RequestTimeout = 15000


MANIFEST = ConnectorManifest(
    id="influxdb",
    kind="south",
    name="InfluxDB",
    category="database",
    description="Query InfluxDB v1 (InfluxQL), v2 (Flux) or v3 (SQL) over history intervals",
    settings=InfluxdbSettings,
    item_settings=InfluxdbItemSettings,
    modes=Modes(history=True),
)
