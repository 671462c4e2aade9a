"""The contract every registered connector keeps, run over ``connectors/registry.py``: new types get it for free.

With its manifest defaults and nothing to talk to (no server, an empty folder), a connector either refuses
its settings with an error naming the field, or builds; then ``start`` and ``test_connection`` either work
or raise an error that says something; ``stop`` twice is clean; and no asyncio task is left behind.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from connectors import registry
from connectors.base import ConnectorContext, NorthConnector, SouthConnector, TimeValue
from connectors.errors import SettingsError
from engine.worker.runner import convert_settings

START_TIMEOUT_S = 60.0
"""Generous: a connector trying its default peer may wait for its own connect timeout first."""


class QuietLogger:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def _log(self, level: str, event: str, **fields: Any) -> None:
        self.records.append((level, event))

    def debug(self, event: str, /, **fields: Any) -> None:
        self._log("debug", event)

    def info(self, event: str, /, **fields: Any) -> None:
        self._log("info", event)

    def warning(self, event: str, /, **fields: Any) -> None:
        self._log("warning", event)

    def error(self, event: str, /, **fields: Any) -> None:
        self._log("error", event)


class KeepingSink:
    def __init__(self) -> None:
        self.values: list[TimeValue] = []

    async def add_values(self, values: list[TimeValue], *, items: list[str] | None = None) -> None:
        self.values += values

    async def add_file(
        self, path: Path, *, filename: str | None = None, owned: bool = False, items: list[str] | None = None
    ) -> None:
        pass

    async def add_files(self, files: list[tuple[Path, str]], *, owned: bool = False) -> None:
        pass

    async def add_content(self, content: str) -> None:
        pass


class MemoryCache:
    def __init__(self) -> None:
        self.instants: dict[tuple[str | None, str | None], datetime] = {}
        self.values: dict[tuple[str | None, str | None], Any] = {}

    def get_tracked_instant(self, item_id: str | None, group_id: str | None = None) -> datetime | None:
        return self.instants.get((item_id, group_id))

    def set_tracked_instant(self, item_id: str | None, instant: datetime, group_id: str | None = None) -> None:
        self.instants[(item_id, group_id)] = instant

    def get_value(self, item_id: str | None, group_id: str | None = None) -> Any:
        return self.values.get((item_id, group_id))

    def set_value(self, item_id: str | None, value: Any, group_id: str | None = None) -> None:
        self.values[(item_id, group_id)] = value


TYPES = [("south", name) for name in sorted(registry.SOUTH)] + [("north", name) for name in sorted(registry.NORTH)]


def build(kind: str, type_name: str, folder: Path) -> SouthConnector[Any, Any] | NorthConnector[Any] | None:
    """The connector with its manifest defaults, or None when the defaults are refused (with a named field)."""
    manifest = registry.manifest(kind, type_name)
    try:
        settings = convert_settings({}, manifest.settings, "settings")
    except SettingsError as err:
        assert err.errors, f"{type_name}: a settings error must name the field"
        assert all(path.startswith("settings") and problem for path, problem in err.errors.items())
        return None
    context = ConnectorContext(
        id=f"contract-{type_name}",
        name=type_name,
        logger=QuietLogger(),
        base_folder=folder,
        # Relative default folders land in the test's own folder, not in the working directory.
        data_folder=folder,
    )
    cls = registry.connector_class(kind, type_name)
    if kind == "south":
        connector: SouthConnector[Any, Any] | NorthConnector[Any] = cls(settings, context, KeepingSink(), MemoryCache())
    else:
        connector = cls(settings, context)
    return connector


async def clear_or_works(call: Any, type_name: str, what: str) -> None:
    try:
        await asyncio.wait_for(call(), START_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        raise
    except Exception as err:  # the contract: any error is fine as long as it explains itself
        assert str(err).strip(), f"{type_name}: {what} raised {type(err).__name__} without a message"


@pytest.mark.parametrize(("kind", "type_name"), TYPES, ids=[f"{kind}-{name}" for kind, name in TYPES])
async def test_connector_contract(kind: str, type_name: str, tmp_path: Path) -> None:
    before = asyncio.all_tasks()
    connector = build(kind, type_name, tmp_path)
    if connector is None:
        return
    await clear_or_works(connector.start, type_name, "start")
    await clear_or_works(connector.test_connection, type_name, "test_connection")
    await asyncio.wait_for(connector.stop(), START_TIMEOUT_S)
    await asyncio.wait_for(connector.stop(), START_TIMEOUT_S)
    await asyncio.sleep(0)
    left = {task for task in asyncio.all_tasks() - before if not task.done()}
    assert not left, f"{type_name} left tasks behind: {sorted(task.get_name() for task in left)}"


def test_every_registered_type_is_covered() -> None:
    assert len(TYPES) == len(registry.SOUTH) + len(registry.NORTH)
    assert all(isinstance(registry.manifest(kind, name).settings, type(msgspec.Struct)) for kind, name in TYPES)
