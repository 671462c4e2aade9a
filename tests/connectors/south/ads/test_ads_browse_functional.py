"""Browsing an ADS PLC's symbols against pyads' test server: one level of the dotted names, a page at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink
from pyads import constants
from pyads.testserver import PLCVariable
from servers.ads import ads_server
from south_runner import AckingChannel

from connectors.base import ConnectorContext
from connectors.south.ads import MANIFEST, AdsSouth
from connectors.south.ads.manifest import AdsSettings
from engine.ipc import Start
from engine.worker.south import SouthRunner

NAMES = ["MAIN.counter", "MAIN.level", "MAIN.mode", "GVL.speed", "GVL.motor.torque", "Top"]


def variables() -> list[PLCVariable]:
    return [PLCVariable(name, 1, constants.ADST_INT16, "INT") for name in NAMES]


def south(port: int, tmp_path: Path) -> AdsSouth:
    settings = msgspec.convert(
        {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port}, AdsSettings
    )
    context = ConnectorContext(
        id="s1", name="plc", logger=RecordingLogger(), base_folder=tmp_path, data_folder=tmp_path
    )
    return AdsSouth(settings, context, RecordingSink(), None)  # type: ignore[arg-type]  # browsing keeps no state.


def ids(page: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(child["nodeId"], child["nodeClass"], child["hasChildren"]) for child in page["children"]]


def test_the_manifest_says_it_browses() -> None:
    assert MANIFEST.browse


async def test_levels_of_the_symbol_names_page_by_page(tmp_path: Path) -> None:
    with ads_server(variables()) as (server, port):
        connector = south(port, tmp_path)
        await connector.start()
        try:
            root = await connector.browse(None, None, 100)
            first = await connector.browse("MAIN", None, 2)
            second = await connector.browse("MAIN", first["cursor"], 2)
            gvl = await connector.browse("GVL", None, 100)
            motor = await connector.browse("GVL.motor", None, 100)
            uploads = sum(
                1
                for request in server.request_history
                if request.ams_header.data[:4] == constants.ADSIGRP_SYM_UPLOAD.to_bytes(4, "little")
            )
        finally:
            await connector.stop()
    assert ids(root) == [("GVL", "Object", True), ("MAIN", "Object", True), ("Top", "Variable", False)]
    assert root["cursor"] is None
    assert ids(first) == [("MAIN.counter", "Variable", False), ("MAIN.level", "Variable", False)]
    assert first["cursor"] is not None
    assert ids(second) == [("MAIN.mode", "Variable", False)]
    assert second["cursor"] is None
    assert (second["children"][0]["browseName"], second["children"][0]["displayName"]) == ("mode", "mode")
    assert ids(gvl) == [("GVL.motor", "Object", True), ("GVL.speed", "Variable", False)]
    assert ids(motor) == [("GVL.motor.torque", "Variable", False)]
    # The table is uploaded once for the connection, whatever the pages asked.
    assert uploads == 1


async def test_a_stopped_connector_opens_a_connection_for_the_page(tmp_path: Path) -> None:
    with ads_server(variables()) as (_server, port):
        page = await south(port, tmp_path).browse("MAIN", None, 100)
    assert [child["browseName"] for child in page["children"]] == ["counter", "level", "mode"]


async def test_a_cursor_it_did_not_give_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cursor"):
        await south(1, tmp_path).browse(None, "x1", 10)


async def test_the_worker_answers_a_browse_request_with_the_running_connection(tmp_path: Path) -> None:
    with ads_server(variables()) as (_server, port):
        dto = {
            "id": "s1",
            "name": "plc",
            "type": "ads",
            "settings": {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port},
            "items": [],
        }
        runner = SouthRunner(AckingChannel(), Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
        await runner.start_with_backoff()
        try:
            page = await runner.on_request("browse", {"node": "GVL", "cursor": None, "size": 1})
        finally:
            await runner.stop()
    assert ids(page) == [("GVL.motor", "Object", True)]
    assert page["cursor"] == "1"
