"""Browsing an OPC UA server through the REST API: one level at a time, paged, run in the South's worker.

A real engine and worker walk a generated address space (``Objects/Tree``: 3 folders of 250 variables) on an
in-process asyncua server. The pages of a folder, followed cursor to cursor, give every child exactly once, in
the server's order; an unsaved configuration browses the same; bad cursors, sizes and nodes are named.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path
from typing import Any

from engine_process import EngineProcess, north_body, opcua_south_body, scan_mode_id
from servers.opcua import OpcuaTestServer

FOLDERS, PER_FOLDER = 3, 250


def browse(engine: EngineProcess, south_id: str, **query: Any) -> tuple[int, Any]:
    return engine.request("GET", f"/api/south/{south_id}/browse?{urllib.parse.urlencode(query)}")


def walk(engine: EngineProcess, south_id: str, node: str, size: int) -> list[list[dict[str, Any]]]:
    """Every page of ``node``'s children, following the cursors."""
    pages: list[list[dict[str, Any]]] = []
    cursor = ""
    while True:
        status, page = browse(engine, south_id, node=node, cursor=cursor, pageSize=size)
        assert status == 200, page
        assert page["nodeId"] == node
        pages.append(page["children"])
        if page["cursor"] is None:
            return pages
        cursor = page["cursor"]


async def test_pages_of_a_generated_tree_give_each_child_once(tmp_path: Path) -> None:
    async with OpcuaTestServer(tree=(FOLDERS, PER_FOLDER)) as server:
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            await asyncio.to_thread(_check_browsing, engine, server.url, tmp_path)
        finally:
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]


def _check_browsing(engine: EngineProcess, url: str, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    engine.ok(
        "POST",
        "/api/north",
        north_body(
            "sink", "file-writer", {"outputFolder": str(tmp_path / "out")}, scan_mode_id(engine, "Every second")
        ),
    )
    south = engine.ok("POST", "/api/south", opcua_south_body("plant", url))
    engine.wait_state("south", south["id"], "RUNNING")

    # The first level (Objects) holds the generated folder beside the server's own objects.
    status, objects = browse(engine, south["id"])
    assert status == 200, objects
    assert objects["nodeId"] == "i=85"
    tree = [child for child in objects["children"] if child["displayName"] == "Tree"]
    assert tree == [
        {
            "nodeId": "ns=2;s=Tree",
            "browseName": "Tree",
            "displayName": "Tree",
            "nodeClass": "Object",
            "hasChildren": True,
        }
    ]
    folders = walk(engine, south["id"], "ns=2;s=Tree", 2)
    assert [len(page) for page in folders] == [2, 1]
    assert [child["nodeId"] for page in folders for child in page] == [f"ns=2;s=Tree.F{f}" for f in range(FOLDERS)]

    # A folder of 250 variables in pages of 100: 100, 100, 50, each child once, in order.
    pages = walk(engine, south["id"], "ns=2;s=Tree.F1", 100)
    assert [len(page) for page in pages] == [100, 100, 50]
    ids = [child["nodeId"] for page in pages for child in page]
    assert ids == [f"ns=2;s=Tree.F1.V{v}" for v in range(PER_FOLDER)]
    assert {child["nodeClass"] for page in pages for child in page} == {"Variable"}
    assert not any(child["hasChildren"] for page in pages for child in page)
    # A page size that divides the level exactly ends with a null cursor, not an empty page.
    assert [len(page) for page in walk(engine, south["id"], "ns=2;s=Tree.F2", 125)] == [125, 125]

    # The same walk with settings not saved yet (what the create form browses with).
    status, unsaved = engine.request(
        "POST",
        f"/api/south/{south['id']}/browse",
        {"settings": {"url": url, "readTimeout": 5000}, "node": "ns=2;s=Tree.F0", "pageSize": 10, "cursor": "240"},
    )
    assert status == 200, unsaved
    assert [child["nodeId"] for child in unsaved["children"]] == [f"ns=2;s=Tree.F0.V{v}" for v in range(240, 250)]
    assert unsaved["cursor"] is None

    # Bad input is named; the worker keeps serving.
    status, answer = browse(engine, south["id"], node="ns=2;s=Tree.F0", cursor="nope")
    assert status == 400 and "cursor" in answer["message"], answer
    status, answer = browse(engine, south["id"], pageSize=0)
    assert status == 400 and "pageSize" in answer["errors"], answer
    status, answer = browse(engine, south["id"], node="ns=2;s=Nowhere")
    assert status == 400 and "ns=2;s=Nowhere" in answer["message"], answer
    status, answer = browse(engine, south["id"], node="not a node id")
    assert status == 400 and "node" in answer["message"], answer
    status, answer = engine.request("POST", f"/api/south/{south['id']}/browse", {"settings": {"url": 3}})
    assert status == 400 and "settings.url" in answer["errors"], answer
    assert browse(engine, south["id"], node="ns=2;s=Tree", pageSize=1)[0] == 200
    status, answer = browse(engine, "unknown")
    assert status == 404, answer
