"""Shared helpers of the SQL South tests: a connector on a recording sink, read window by window.

``read_history`` plays the South runner's history path (``engine.history.windowing``): the windows from the
tracked instant, ``maxReadInterval`` splitting, and the tracked instant saved only after a window's file
was handed over. Import as ``from sql_harness import ...`` (``tests`` is on pytest's ``pythonpath``).
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from fakes import RecordingLogger, RecordingSink

from connectors.base import ConnectorContext, Item
from connectors.common.sql.settings import SqlItemSettings
from connectors.common.sql.south import SqlSouth
from engine.cache.south import SouthCacheDB
from engine.history.windowing import history_intervals, run_history

__all__ = ["Harness", "csv_rows", "item"]


def item(query: str, *, name: str = "rows", **settings: Any) -> Item[SqlItemSettings]:
    """An enabled item with ``query`` and the other item settings given in wire (camelCase) form."""
    converted = msgspec.convert({"query": query, **settings}, SqlItemSettings)
    return Item(id=f"item-{name}", name=name, enabled=True, settings=converted)


def csv_rows(sink: RecordingSink, delimiter: str = ",") -> list[list[str]]:
    """Every data row of every CSV file the sink received (headers dropped), in hand-over order."""
    rows: list[list[str]] = []
    for recorded in sink.files:
        data = gzip.decompress(recorded.data) if recorded.filename.endswith(".gz") else recorded.data
        reader = csv.reader(io.StringIO(data.decode()), delimiter=delimiter)
        next(reader)
        rows.extend(reader)
    return rows


class Harness:
    """One SQL South on a ``RecordingSink`` and a real South cache in ``tmp_path``."""

    def __init__(self, cls: type[SqlSouth[Any]], settings: msgspec.Struct, tmp_path: Path) -> None:
        self.sink = RecordingSink()
        self.logger = RecordingLogger()
        self.cache_db = SouthCacheDB(tmp_path / "cache.db")
        self.cache = self.cache_db.for_south("sql")
        context = ConnectorContext(
            id="sql",
            name="plant-db",
            logger=self.logger,
            base_folder=tmp_path / "south",
            data_folder=tmp_path / "south",
        )
        self.south = cls(settings, context, self.sink, self.cache)

    def close(self) -> None:
        """Close the cache."""
        self.cache_db.close()

    async def read_history(
        self, the_item: Item[SqlItemSettings], start: datetime, end: datetime, max_read_interval_s: int
    ) -> datetime | None:
        """Read ``[start, end]`` (from the tracked instant, if any) in windows, as the runner does."""
        tracked = self.cache.get_tracked_instant(the_item.id)
        intervals = history_intervals(start, end, tracked_instant=tracked, max_read_interval_s=max_read_interval_s)
        return await run_history(
            lambda s, e: self.south.history_query([the_item], s, e),
            intervals,
            0,
            lambda instant: self.cache.set_tracked_instant(the_item.id, instant),
            "oldest",
            tracked_instant=tracked,
        )
