"""A full disk under a North cache: refused with the reason (507 at the API), then stored again once freed.

The file system is real: a 2 MiB tmpfs the test mounts over the data folder (we run as root in CI),
fills with a filler file, then empties; nothing stored before is lost and no restart is needed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from config_fakes import AUTH, IngestingRuntime, api_client, store_fixture  # noqa: F401
from disk_support import fill, small_file_system
from north_cache_support import RecordingLogger, make_cache, opened, values

from engine.api.content import routes as content_routes
from engine.cache.north import NewEntry
from engine.cache.space import NO_SPACE
from engine.config import ConfigStore
from engine.rebuildable import open_rebuildable
from engine.runtime import IngestResult


async def test_a_full_disk_refuses_with_the_reason_then_stores_again_once_freed(tmp_path: Path) -> None:
    with small_file_system(tmp_path / "data") as data:
        logger = RecordingLogger()
        async with opened(make_cache(data, logger=logger)) as cache:
            assert await cache.store([NewEntry.time_values(values(1), 1)]) == [None]
            filler = fill(data)
            refusals = [await cache.store([NewEntry.time_values(values(n), 1)]) for n in (2, 3, 4)]
            for [reason] in refusals:
                assert reason is not None and NO_SPACE in reason and "bytes free" in reason, reason
            # One warning for the episode, however many refusals.
            assert logger.events("warning").count(NO_SPACE) == 1
            filler.unlink()
            # Space freed: no restart, the next store succeeds and the episode is said to be over.
            assert await cache.store([NewEntry.time_values(values(5), 1)]) == [None]
            assert "cache stores again: space was freed on the data folder's disk" in logger.events("info")
            # Everything stored is still there; nothing refused was half written.
            assert len(cache.queued()) == 2


async def test_the_api_answers_507_with_retry_after_when_a_north_has_no_space(store: ConfigStore) -> None:
    runtime = IngestingRuntime(answer=IngestResult(stored=(), refused={"n1": f"{NO_SPACE} (0 bytes free)"}))
    async with api_client(store, runtime, extra_routes=[content_routes]) as client:
        response = await client.post(
            "/api/content/content?dataSourceId=s",
            json={
                "type": "time-values",
                "content": [{"pointId": "p", "timestamp": "2024-01-01T00:00:00Z", "data": {"value": 1}}],
            },
            headers=AUTH,
        )
        assert response.status == 507, await response.text()
        assert response.headers["Retry-After"]
        assert NO_SPACE in (await response.json())["message"]


def _grow(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lines (body BLOB)")
        conn.execute("INSERT INTO lines VALUES (zeroblob(1000000))")
    return conn


def test_a_rebuildable_store_is_not_moved_aside_when_the_disk_is_full(tmp_path: Path) -> None:
    with small_file_system(tmp_path / "data") as data:
        logs = data / "logs.db"
        _grow(logs).close()
        filler = fill(data)
        logger = RecordingLogger()
        with pytest.raises(sqlite3.OperationalError, match="full"):
            open_rebuildable(logs, _grow, loss="old log lines", logger=logger)
        # Not damage: the file stays where it is, nothing is renamed .corrupt-<time>, nothing said lost.
        assert sorted(path.name for path in data.iterdir() if path.name.startswith("logs.db")) == ["logs.db"]
        assert logger.events("error") == []
        filler.unlink()
        open_rebuildable(logs, _grow, loss="old log lines", logger=logger).close()
        assert sqlite3.connect(logs).execute("SELECT count(*) FROM lines").fetchone() == (2,)
