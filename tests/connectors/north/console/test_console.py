"""Console North: prints on standard error only (standard output is a worker's IPC pipe)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest
from fakes import RecordingLogger

from connectors import registry
from connectors.base import ConnectorContext, TimeValue
from connectors.north.console import MANIFEST, ConsoleNorth
from connectors.north.console.manifest import ConsoleSettings

README = Path(__file__).resolve().parents[4] / "connectors" / "north" / "console" / "README.md"
VALUES: list[TimeValue] = [
    {"pointId": "temperature", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": "21.5"}},
    {"pointId": "pressure", "timestamp": "2026-01-01T00:00:01.000Z", "data": {"value": "1013"}},
]


def console(tmp_path: Path, verbose: bool) -> ConsoleNorth:
    context = ConnectorContext(
        id="n1", name="Debug", logger=RecordingLogger(), base_folder=tmp_path, data_folder=tmp_path
    )
    return ConsoleNorth(msgspec.convert({"verbose": verbose}, ConsoleSettings), context)


async def test_counts_only_when_not_verbose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    north = console(tmp_path, verbose=False)
    await north.start()
    await north.handle_values(VALUES)
    await north.handle_values(VALUES[:1])
    await north.handle_file(tmp_path / "does-not-matter", "a.csv")
    await north.stop()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["Debug: 2 values", "Debug: 1 value", "Debug: 1 file"]


async def test_verbose_prints_values_and_file_details(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "entry"
    file.write_bytes(b"0123456789")
    north = console(tmp_path, verbose=True)
    await north.handle_values(VALUES)
    await north.handle_file(file, "2024/data.csv")
    await north.handle_file(tmp_path / "vanished", "gone.csv")
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == "Debug: 2 values"
    assert [json.loads(line) for line in lines[1:3]] == VALUES
    assert lines[3:] == ["Debug: file 2024/data.csv (10 bytes)", "Debug: file gone.csv (size unknown)"]


def test_manifest_and_registry() -> None:
    assert MANIFEST.types == ("any", "time-values", "setpoint")
    assert msgspec.convert({}, ConsoleSettings).verbose is True
    assert registry.connector_class("north", "console") is ConsoleNorth
    table = README.read_text().split("\n## Settings\n", 1)[1]
    assert re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE) == ["verbose"]


def test_defaults_match_upstream() -> None:
    # Upstream's console North prints every value unless told otherwise.
    assert msgspec.convert({}, ConsoleSettings).verbose is True
