"""The engine works on the cache folder of a North without a worker, and no worker starts meanwhile.

An in-process ``Engine`` on a real store, spawning a real worker process for the North once it is enabled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from config_fakes import FAST_HASHER

from engine.cache.north import NewEntry, NorthStore
from engine.config import ConfigStore
from engine.config_source import StoreConfigSource
from engine.engine import Engine
from engine.states import WorkerState


class Quiet:
    def debug(self, event: str, /, **fields: object) -> None: ...
    def info(self, event: str, /, **fields: object) -> None: ...
    def warning(self, event: str, /, **fields: object) -> None: ...
    def error(self, event: str, /, **fields: object) -> None: ...


async def test_no_worker_starts_while_the_engine_holds_the_cache(tmp_path: Path) -> None:
    with ConfigStore.open(tmp_path, init=None, password_hasher=FAST_HASHER) as store:
        minute = next(mode.id for mode in store.scan_modes.list_scan_modes() if mode.name == "Every minute")
        north = store.norths.create_north(
            {
                "name": "console",
                "type": "console",
                "enabled": False,
                "settings": {"verbose": False},
                "caching": {"trigger": {"scanModeId": minute}},
            }
        )
        # Something in its cache, as a worker left it.
        cache = NorthStore(tmp_path, f"north-{north.id}", logger=Quiet())
        await cache.open()
        assert await cache.store([NewEntry(content_type="any-content", payload=b"{}", count=1)]) == [None]
        await cache.close()
        engine = Engine(tmp_path, StoreConfigSource(store))
        async with asyncio.TaskGroup() as group:
            await engine.start(group)
            found = await engine.north_cache_request(north.id, "cache_search", {})
            (entry,) = found["cache"]
            moved = await engine.north_cache_request(
                north.id, "cache_update", {"cache": {"move": [{"filename": entry["filename"], "to": "error"}]}}
            )
            assert moved == {"removed": 0, "moved": 1}

            # While the engine holds the folder, enabling the North does not spawn its worker.
            store.norths.set_north_enabled(north.id, True)
            async with engine.offline_caches.lock(north.id):
                reconcile = asyncio.create_task(engine.reconcile_north(north.id))
                for _ in range(20):
                    await asyncio.sleep(0.01)
                    assert north.id not in engine.norths
            await reconcile
            assert north.id in engine.norths
            for _ in range(400):
                if engine.connector_state("north", north.id)["state"] == WorkerState.RUNNING.label:
                    break
                await asyncio.sleep(0.05)
            # Now the worker owns the cache, and answers for it: it sees what the engine did.
            found = await engine.north_cache_request(north.id, "cache_search", {})
            assert found["cache"] == [] and [e["filename"] for e in found["error"]] == [entry["filename"]]
            await engine.stop()
