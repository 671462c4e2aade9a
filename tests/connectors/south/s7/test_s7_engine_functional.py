"""End to end: a real engine's S7 South reads a python-snap7 PLC into a file-writer North, through a PLC restart."""

from __future__ import annotations

import asyncio
import struct
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from engine_process import EngineProcess, latest_values, north_body, scan_mode_id, until
from servers.s7 import s7_server

from connectors.south.s7.address import parse_address

pytestmark = pytest.mark.timeout(180)

ITEMS = {
    "flag": ("DB1,X0.3", bytes([0b1000]), "true"),
    "count": ("DB1,DINT2", struct.pack(">i", -42), "-42"),
    "level": ("DB1,REAL6", struct.pack(">f", 12.5), "12.5"),
    "label": ("DB1,STRING10.8", bytes([8, 3]) + b"ok!", "ok!"),
    "memory": ("MW0", struct.pack(">H", 4242), "4242"),
}


async def test_values_reach_the_file_writer_and_resume_after_the_plc_restarts(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    async with s7_server() as server:
        for address, data, _expected in ITEMS.values():
            parsed = parse_address(address)
            server.write(parsed.area, parsed.db, parsed.offset, data)
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            settings = {"outputFolder": str(output), "prefix": "", "suffix": ""}
            await asyncio.to_thread(
                engine.ok, "POST", "/api/north", north_body("files", "file-writer", settings, every_second)
            )
            south = await asyncio.to_thread(engine.ok, "POST", "/api/south", _south(server.port, every_second))

            async def latest_is(expected: dict[str, str]) -> bool:
                return await asyncio.to_thread(latest_values, output) == expected

            await until(
                partial(latest_is, {name: expected for name, (_, _, expected) in ITEMS.items()}), 60, explain=engine.log
            )

            await asyncio.to_thread(server.stop)

            async def retrying() -> bool:
                found = await asyncio.to_thread(engine.ok, "GET", f"/api/south/{south['id']}")
                state = found["state"].get("connector") or {}
                return bool(state.get("state") == "retrying" and state.get("lastError"))

            await until(retrying, 60, explain=engine.log)
            server.write("DB", 1, 6, struct.pack(">f", -3.25))
            await asyncio.to_thread(server.start)
            await until(partial(_level_is, output, "-3.25"), 60, explain=engine.log)
        finally:
            await asyncio.to_thread(engine.stop)
    log = engine.log()
    assert log.count("connector started after retries") == 1, log[-3000:]


async def _level_is(output: Path, value: str) -> bool:
    return await asyncio.to_thread(lambda: latest_values(output).get("level") == value)


def _south(port: int, scan_mode: str) -> dict[str, Any]:
    return {
        "name": "plc",
        "type": "s7",
        "description": "",
        "enabled": True,
        "settings": {"host": "127.0.0.1", "port": port, "requestTimeout": 2000},
        "items": [
            {"name": name, "enabled": True, "scanModeId": scan_mode, "settings": {"address": address}}
            for name, (address, _, _) in ITEMS.items()
        ],
        "groups": [],
    }
