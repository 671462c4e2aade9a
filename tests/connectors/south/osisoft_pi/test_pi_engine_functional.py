"""OSIsoft PI South in a real engine, into a file-writer North, while its OIBus Agent restarts mid catch-up.

See ``agent_support.catch_up_across_an_agent_restart``: a point-id item and a point-query item (whose
values carry the PI points' names); every generated value reaches the files; no restart of OIBus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_support import catch_up_across_an_agent_restart, history_query_across_an_agent_restart
from servers.oibus_agent import FakeAgent


def pi_south(agent: FakeAgent) -> dict[str, Any]:
    return {
        "name": "pi",
        "type": "osisoft-pi",
        "description": "",
        "settings": {"agentUrl": agent.url, "retryInterval": 500},
        "items": [
            {"name": "level", "enabled": True, "settings": {"type": "point-id", "piPoint": "\\\\PISRV\\LEVEL"}},
            {"name": "temps", "enabled": True, "settings": {"type": "point-query", "piQuery": "Name:='CDT*'"}},
        ],
        "groups": [],
    }


async def test_every_value_reaches_the_files_across_an_agent_restart_mid_read(tmp_path: Path) -> None:
    await catch_up_across_an_agent_restart(tmp_path, pi_south, ["level", "CDT158"])


async def test_a_history_query_reads_every_window_across_an_agent_restart(tmp_path: Path) -> None:
    def settings(agent: FakeAgent) -> dict[str, Any]:
        return dict(pi_south(agent)["settings"])

    items = list(pi_south(FakeAgent())["items"])
    await history_query_across_an_agent_restart(tmp_path, ("osisoft-pi", settings), items, ["level", "CDT158"])
