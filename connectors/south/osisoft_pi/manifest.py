"""Manifest and settings of the OSIsoft PI South (through the OIBus Agent's PI driver, as upstream 3.9)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.oibus_agent import AgentSettings
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "PiItemSettings", "PiSettings"]


class PiSettings(AgentSettings, frozen=True, kw_only=True, rename="camel"):
    """Which agent reads the PI server (the agent's PI SDK names the server): upstream's two fields."""


class PiItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One PI point by id, or every point a PI point query selects."""

    type: Annotated[
        Literal["point-id", "point-query"],
        msgspec.Meta(title="Type", description="point-id: one point; point-query: the points a query selects."),
    ] = "point-id"
    pi_point: Annotated[
        str | None, msgspec.Meta(title="Point ID", description="point-id: the point's path, without the server.")
    ] = None
    pi_query: Annotated[
        str | None, msgspec.Meta(title="Point query", description="point-query: a PI point query (Name:='SIN*').")
    ] = "*"

    def __post_init__(self) -> None:
        if self.type == "point-id" and not self.pi_point:
            raise ValueError("piPoint: required when type is point-id")
        if self.type == "point-query" and not self.pi_query:
            raise ValueError("piQuery: required when type is point-query")


MANIFEST = ConnectorManifest(
    id="osisoft-pi",
    kind="south",
    name="OSIsoft PI",
    category="database",
    description="Read OSIsoft PI points through the OIBus Agent",
    settings=PiSettings,
    item_settings=PiItemSettings,
    modes=Modes(history=True),
)
