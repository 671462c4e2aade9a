"""The contract every registered connector keeps, run over ``connectors/registry.py``: new types get it for free.

With its manifest defaults and nothing to talk to (no server, an empty folder), a connector either refuses
its settings with an error naming the field, or builds; then ``start`` and ``test_connection`` either work
or raise a clear error: one the worker knows how to report (``OIBusError``: settings, not ready, fatal,
connection...; or the ``OSError`` of the missing peer), with a message; never a bare bug (``KeyError``,
``AttributeError``...). ``stop`` twice is clean, and no asyncio task, thread or child process is left behind
(the suite's leak guards in ``tests/conftest.py`` check the same for every test; here it is the contract).
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest

from connectors import registry
from connectors.base import ConnectorContext, NorthConnector, SouthConnector, TimeValue
from connectors.errors import OIBusError, SettingsError
from engine.worker.runner import convert_settings

START_TIMEOUT_S = 60.0
"""Generous: a connector trying its default peer may wait for its own connect timeout first."""

CLEAR_ERRORS = (OIBusError, OSError)
"""What a connector may raise when its peer is missing: errors the worker reports as the connector's state."""

LEFTOVER_GRACE_S = 5.0
"""How long a stopped connector's threads and child processes may take to end."""


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


NOTHING_HOST = "127.0.0.1"
"""What a required text setting gets: a host (or folder, bucket...) where nothing listens."""


def nothing_for(kind: msgspec.inspect.Type) -> Any:
    """A value of ``kind`` pointing at nothing: the loopback for text, the lowest allowed number, no entries."""
    if isinstance(kind, msgspec.inspect.Metadata):
        return nothing_for(kind.type)
    if isinstance(kind, msgspec.inspect.IntType):
        return max(1, kind.ge or 1, (kind.gt or 0) + 1)
    if isinstance(kind, msgspec.inspect.FloatType):
        return 1.0
    if isinstance(kind, msgspec.inspect.BoolType):
        return False
    if isinstance(kind, msgspec.inspect.LiteralType):
        return kind.values[0]
    if isinstance(kind, msgspec.inspect.EnumType):
        return next(iter(kind.cls)).value
    if isinstance(kind, msgspec.inspect.StructType):
        return {f.encode_name: nothing_for(f.type) for f in kind.fields if f.required}
    if isinstance(kind, msgspec.inspect.UnionType):
        return nothing_for(next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)))
    if isinstance(kind, msgspec.inspect.ListType | msgspec.inspect.DictType):
        return [] if isinstance(kind, msgspec.inspect.ListType) else {}
    return NOTHING_HOST


CLOSED = "127.0.0.1:1"
"""A peer that is not there: nothing listens on port 1 of the loopback, so a connection is refused at once."""

AGAINST_NOTHING: dict[tuple[str, str], dict[str, Any]] = {
    # Required settings whose form a generic value cannot meet (a URL scheme, an address pattern, a rule
    # between fields); everything else keeps its manifest default.
    ("south", "ads"): {"netId": "127.0.0.1.1.1", "host": "127.0.0.1", "port": 1},
    ("south", "ftp"): {"host": "127.0.0.1", "port": 1, "username": "contract"},
    ("south", "influxdb"): {"host": f"http://{CLOSED}", "database": "contract"},
    ("south", "mqtt"): {"url": f"mqtt://{CLOSED}"},
    ("south", "opcua"): {"url": f"opc.tcp://{CLOSED}"},
    ("south", "rest"): {"host": f"http://{CLOSED}"},
    ("south", "sparkplug"): {"url": f"mqtt://{CLOSED}"},
    ("north", "aws-s3"): {"bucket": "contract", "accessKey": "contract", "endpoint": f"http://{CLOSED}"},
    ("north", "azure-blob"): {
        "useCustomUrl": True,
        "customUrl": f"http://{CLOSED}",
        "container": "contract",
        "accessKey": "contract",
    },
    ("north", "mqtt"): {"url": f"mqtt://{CLOSED}"},
    ("north", "oibus"): {"host": f"http://{CLOSED}"},
    ("north", "opcua"): {"url": f"opc.tcp://{CLOSED}"},
    ("north", "rest"): {"host": f"http://{CLOSED}"},
    ("north", "sparkplug"): {"url": f"mqtt://{CLOSED}"},
}
"""A new type whose defaults are refused gets an entry here, or its required settings a generic value."""


def defaults(kind: str, type_name: str) -> tuple[Any, dict[str, Any]]:
    """The manifest's defaults, and what was added for settings that have none (pointing at nothing).

    Defaults that are refused name their field; then the required settings get a generic value (the loopback
    for text, the lowest number allowed), or, when their form asks for more, the entry of ``AGAINST_NOTHING``.
    """
    manifest = registry.manifest(kind, type_name)
    try:
        return convert_settings({}, manifest.settings, "settings"), {}
    except SettingsError as err:
        assert err.errors, f"{type_name}: a settings error must name the field"
        assert all(path.startswith("settings") and problem for path, problem in err.errors.items())
    added = AGAINST_NOTHING.get((kind, type_name)) or nothing_for(msgspec.inspect.type_info(manifest.settings))
    return convert_settings(added, manifest.settings, "settings"), added


def build(kind: str, type_name: str, folder: Path) -> SouthConnector[Any, Any] | NorthConnector[Any]:
    """The connector with its manifest defaults (required settings without one pointing at nothing)."""
    settings, _ = defaults(kind, type_name)
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
    except Exception as err:  # the contract: an error is fine as long as it is one we report, and explains itself
        assert isinstance(err, CLEAR_ERRORS), f"{type_name}: {what} raised {type(err).__name__}: {err}"
        assert str(err).strip(), f"{type_name}: {what} raised {type(err).__name__} without a message"


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True) if child.status() != "zombie"}


def leftovers(threads: set[threading.Thread], children: set[int]) -> tuple[list[str], list[int]]:
    """Threads and child processes started since ``threads``/``children`` that are still alive after a grace."""
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while True:
        new_threads = [t.name for t in threading.enumerate() if t not in threads and not t.name.startswith("asyncio_")]
        new_children = sorted(_children() - children)
        if (not new_threads and not new_children) or time.monotonic() > deadline:
            return new_threads, new_children
        time.sleep(0.05)


@pytest.mark.parametrize(("kind", "type_name"), TYPES, ids=[f"{kind}-{name}" for kind, name in TYPES])
async def test_connector_contract(kind: str, type_name: str, tmp_path: Path) -> None:
    before = asyncio.all_tasks()
    threads, children = set(threading.enumerate()), _children()
    connector = build(kind, type_name, tmp_path)
    await clear_or_works(connector.start, type_name, "start")
    await clear_or_works(connector.test_connection, type_name, "test_connection")
    await asyncio.wait_for(connector.stop(), START_TIMEOUT_S)
    await asyncio.wait_for(connector.stop(), START_TIMEOUT_S)
    await asyncio.sleep(0)
    left = {task for task in asyncio.all_tasks() - before if not task.done()}
    assert not left, f"{type_name} left tasks behind: {sorted(task.get_name() for task in left)}"
    # asyncio's own executor threads (``to_thread``) belong to the loop, which joins them when it closes.
    new_threads, new_children = await asyncio.to_thread(leftovers, threads, children)
    assert not new_threads, f"{type_name} left threads behind: {new_threads}"
    assert not new_children, f"{type_name} left child processes behind: {new_children}"


def test_every_registered_type_is_covered() -> None:
    assert len(TYPES) == len(registry.SOUTH) + len(registry.NORTH)
    assert all(isinstance(registry.manifest(kind, name).settings, type(msgspec.Struct)) for kind, name in TYPES)
