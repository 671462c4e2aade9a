"""One scenario for the Norths of peers that confirm (databases, brokers): a million values, a kill -9, a restart.

Values are posted to a real engine in batches while, half-way, the North's worker is killed with SIGKILL and the
peer is restarted; the test then waits until the peer holds every value. Value ``n`` is point ``p<n % 10>`` at
instant ``2026-01-01 + n ms``, valued ``n``: whatever the peer stores tells which values arrived.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from typing import Any

import psutil
from engine_process import EngineProcess, api_rule, north_body, post_values, scan_mode_id, wait_for

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def value(n: int) -> dict[str, Any]:
    """Time-value number ``n`` of the scenario."""
    instant = EPOCH + datetime.timedelta(milliseconds=n)
    return {"pointId": f"p{n % 10}", "timestamp": instant.isoformat(timespec="milliseconds"), "data": {"value": n}}


def create_north(engine: EngineProcess, type_: str, settings: dict[str, Any], batch: int) -> str:
    """A North of ``type_`` taking API content under ``src``, sending up to ``batch`` values per cache entry."""
    body = north_body(
        type_,
        type_,
        settings,
        scan_mode_id(engine, "Every second"),
        transformers=[api_rule("src")],
        throttling={"maxNumberOfElements": batch},
    )
    north_id: str = engine.ok("POST", "/api/north", body)["id"]
    engine.wait_state("north", north_id, "RUNNING", timeout_s=60)
    return north_id


def post_kill_restart(
    engine: EngineProcess, north_id: str, total: int, batch: int, restart_peer: Callable[[], None] | None
) -> None:
    """Post ``total`` values in batches; at the half, kill -9 the North's worker and restart the peer."""
    victim = engine.wait_state("north", north_id, "RUNNING")["state"]["pid"]
    posted = 0
    failures: list[str] = []

    def killer() -> None:
        psutil.Process(victim).kill()
        if restart_peer is not None:
            restart_peer()

    chaos: threading.Thread | None = None
    while posted < total:
        size = min(batch, total - posted)
        body = {"type": "time-values", "content": [value(n) for n in range(posted, posted + size)]}
        status = post_values(engine, body)
        if status != 204:
            failures.append(f"batch at {posted}: {status}")
            continue
        posted += size
        if chaos is None and posted >= total // 2:
            chaos = threading.Thread(target=killer)
            chaos.start()
    assert chaos is not None
    chaos.join(60)
    assert not failures, failures[:5]
    state = engine.wait_state("north", north_id, "RUNNING", timeout_s=60)["state"]
    assert state["pid"] != victim, "the worker was not replaced"


def wait_all_delivered(count: Callable[[], int], total: int, timeout_s: float) -> None:
    """Wait until the peer holds ``total`` values (a hang is reported with the last count)."""
    wait_for(lambda: count() >= total, timeout_s, f"{total} values at the peer (last count {count()})", poll_s=1.0)
