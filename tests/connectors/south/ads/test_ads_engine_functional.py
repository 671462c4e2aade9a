"""End to end: a real engine's ADS South reads pyads' ADS test server into a file-writer North, through a restart."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from engine_process import EngineProcess, latest_values, north_body, scan_mode_id, until
from pyads import constants
from pyads.testserver import AdsTestServer, PLCVariable
from servers.ads import PlcHandler, ads_server, serve

pytestmark = pytest.mark.timeout(180)

DATE = int(datetime(2024, 3, 1, 12, 30, tzinfo=UTC).timestamp())
# item name: (symbol, value held, ADS type, PLC type, value expected)
ITEMS: dict[str, tuple[str, Any, int, str, str]] = {
    "flag": ("MAIN.flag", True, constants.ADST_BIT, "BOOL", "1"),
    "count": ("MAIN.count", -42, constants.ADST_INT32, "DINT", "-42"),
    "word": ("MAIN.word", 65000, constants.ADST_UINT16, "WORD", "65000"),
    "level": ("MAIN.level", 12.5, constants.ADST_REAL32, "REAL", "12.5"),
    "precise": ("MAIN.precise", -1234.5678, constants.ADST_REAL64, "LREAL", "-1234.5678"),
    "label": ("MAIN.label", b"ok!" + bytes(78), constants.ADST_STRING, "STRING(80)", "ok!"),
    "since": ("MAIN.since", 90_000, constants.ADST_UINT32, "TIME", "90000"),
    "day": ("MAIN.day", struct.pack("<I", DATE), constants.ADST_UINT32, "DATE", "2024-03-01T12:30:00.000Z"),
}


async def test_values_reach_the_file_writer_and_resume_after_the_plc_restarts(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    variables = {name: PLCVariable(symbol, held, ads, plc) for name, (symbol, held, ads, plc, _) in ITEMS.items()}
    again: AdsTestServer | None = None
    with ads_server(list(variables.values())) as (server, port):
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            settings = {"outputFolder": str(output), "prefix": "", "suffix": ""}
            await asyncio.to_thread(
                engine.ok, "POST", "/api/north", north_body("files", "file-writer", settings, every_second)
            )
            south = await asyncio.to_thread(engine.ok, "POST", "/api/south", _south(port, every_second))

            async def latest_is(expected: dict[str, str]) -> bool:
                return await asyncio.to_thread(latest_values, output) == expected

            await until(
                partial(latest_is, {name: expected for name, (*_, expected) in ITEMS.items()}), 60, explain=engine.log
            )
            workers = {process.pid for process in engine.tree()[1:]}

            server.stop()
            await asyncio.to_thread(server.join, 5)
            await until(partial(_state_is, engine, south["id"], "retrying"), 60, explain=engine.log)
            variables["level"].value = struct.pack("<f", -3.25)
            # The PLC comes back as a real one boots: its router answers before its runtime does.
            assert isinstance(server.handler, PlcHandler)
            server.handler.booting = 2
            again = await asyncio.to_thread(serve, server.handler, port)
            await until(partial(_level_is, output, "-3.25"), 60, explain=engine.log)
            await until(partial(_state_is, engine, south["id"], "connected"), 60, explain=engine.log)
            found = await asyncio.to_thread(engine.ok, "GET", f"/api/south/{south['id']}")
            assert found["state"]["state"] == "RUNNING"
            # The same worker process read before and after: neither the engine nor its South was restarted.
            assert {process.pid for process in engine.tree()[1:]} == workers
        finally:
            await asyncio.to_thread(engine.stop)
            if again is not None:
                again.stop()
                again.join(5)
    log = engine.log()
    assert log.count("connector started after retries") == 1, log[-3000:]
    assert "item not read" not in log, log[-3000:]


async def _state_is(engine: EngineProcess, south_id: str, state: str) -> bool:
    found = await asyncio.to_thread(engine.ok, "GET", f"/api/south/{south_id}")
    connector = found["state"].get("connector") or {}
    if state == "retrying":
        return bool(connector.get("state") == "retrying" and connector.get("lastError"))
    return bool(connector.get("state") == state)


async def _level_is(output: Path, value: str) -> bool:
    return await asyncio.to_thread(lambda: latest_values(output).get("level") == value)


def _south(port: int, scan_mode: str) -> dict[str, Any]:
    return {
        "name": "plc",
        "type": "ads",
        "description": "",
        "enabled": True,
        "settings": {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port},
        "items": [
            {"name": name, "enabled": True, "scanModeId": scan_mode, "settings": {"address": symbol}}
            for name, (symbol, *_) in ITEMS.items()
        ],
        "groups": [],
    }
