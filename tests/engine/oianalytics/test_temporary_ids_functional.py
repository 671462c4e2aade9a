"""OIAnalytics ``create-south``/``update-south`` with temporary group ids, as upstream's UI and OIAnalytics send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_process import EngineProcess, scan_mode_id
from oia_support import registered_engine, wait_until
from servers.oianalytics import FakeOIAnalytics

ITEMS = 300


def grouped_south(inbox: Path, mode: str, name: str = "Grouped") -> dict[str, Any]:
    return {
        "name": name,
        "type": "folder-scanner",
        "description": "",
        "enabled": False,
        "settings": {"inputFolder": str(inbox), "compression": False},
        "groups": [
            {"id": "temp_a", "standardSettings": {"name": "A", "scanModeId": mode}},
            {"id": "temp_b", "standardSettings": {"name": "B", "scanModeId": mode}},
        ],
        "items": [
            {
                "id": None,
                "name": f"files-{index}",
                "enabled": True,
                "groupId": "temp_a" if index % 2 == 0 else "temp_b",
                "settings": {"regex": f"f{index}\\.csv", "minAge": 0, "preserveFiles": True},
            }
            for index in range(ITEMS)
        ],
    }


def final(fake: FakeOIAnalytics, command_id: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_until(lambda: fake.final_status(command_id), 60.0, f"final status of {command_id}")
    return found


def assert_grouped(engine: EngineProcess, south_id: str) -> None:
    south = engine.ok("GET", f"/api/south/{south_id}")
    groups = {group["standardSettings"]["name"]: group["id"] for group in south["groups"]}
    assert set(groups) == {"A", "B"} and not any(gid.startswith("temp_") for gid in groups.values())
    items = engine.ok("GET", f"/api/south/{south_id}/items/list")
    assert len(items) == ITEMS
    for item in items:
        expected = groups["A" if int(item["name"].split("-")[1]) % 2 == 0 else "B"]
        assert item["group"] is not None and item["group"]["id"] == expected, item["name"]


def test_create_and_update_south_with_temporary_groups(tmp_path: Path) -> None:
    fake = FakeOIAnalytics()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with fake, registered_engine(tmp_path, fake) as engine:
        version = engine.ok("GET", "/api/engine/info")["version"]
        mode = scan_mode_id(engine, "Every second")
        created = final(
            fake,
            fake.add_command(
                "create-south", version, retrieveSecretsFromSouth=None, commandContent=grouped_south(inbox, mode)
            ),
        )
        assert created["status"] == "COMPLETED", created
        south_id = next(s["id"] for s in engine.ok("GET", "/api/south") if s["name"] == "Grouped")
        assert_grouped(engine, south_id)
        # update-south replaces groups and items; the new temporary groups get real ids again.
        updated = final(
            fake,
            fake.add_command(
                "update-south",
                version,
                southConnectorId=south_id,
                retrieveSecretsFromSouth=None,
                commandContent=grouped_south(inbox, mode),
            ),
        )
        assert updated["status"] == "COMPLETED", updated
        assert_grouped(engine, south_id)
