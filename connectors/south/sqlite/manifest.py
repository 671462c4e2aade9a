"""Manifest and settings of the SQLite South."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.sql.settings import SqlItemSettings
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "SqliteSettings"]


class SqliteSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which database file to read."""

    database_path: Annotated[
        str,
        msgspec.Meta(
            min_length=1, title="Database path", description="SQLite file; a relative path is from the data folder."
        ),
    ] = "./test.db"


MANIFEST = ConnectorManifest(
    id="sqlite",
    kind="south",
    name="SQLite",
    category="database",
    description="Request SQLite databases with SQL queries",
    settings=SqliteSettings,
    item_settings=SqlItemSettings,
    modes=Modes(history=True),
)
