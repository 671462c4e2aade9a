"""South cache (cache.db): item and group rows, JSON values, instants, deletion, migration, sharing."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.base import SouthCache
from engine.cache.south import SCHEMA_VERSION, SouthCacheDB, format_instant, parse_instant

T0 = datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "cache.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[SouthCacheDB]:
    cache_db = SouthCacheDB(db_path)
    yield cache_db
    # Closing twice is harmless: tests that reopen the file close it themselves first.
    cache_db.close()


def _rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT south_id, item_id, group_id, value, tracked_instant FROM south_item_cache "
            "ORDER BY south_id, item_id, group_id"
        ).fetchall()


def test_creates_the_file_in_wal_mode_with_the_schema_version(db: SouthCacheDB, db_path: Path) -> None:
    assert db_path.exists()
    assert db.schema_version == SCHEMA_VERSION == 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in conn.execute("PRAGMA table_info(south_item_cache)")]
    assert columns == ["south_id", "item_id", "group_id", "query_time", "value", "tracked_instant"]
    db.close()


def test_implements_the_connector_protocol(db: SouthCacheDB) -> None:
    cache: SouthCache = db.for_south("s1")
    assert cache.get_tracked_instant("item") is None
    assert cache.get_value("item") is None
    db.close()


def test_tracked_instant_round_trip_is_stored_in_upstream_format(db: SouthCacheDB, db_path: Path) -> None:
    cache = db.for_south("s1")
    cache.set_tracked_instant("i1", T0)
    assert cache.get_tracked_instant("i1") == T0
    assert _rows(db_path) == [("s1", "i1", None, None, "2026-01-01T00:00:00.123Z")]

    later = T0 + timedelta(hours=1)
    cache.set_tracked_instant("i1", later)
    assert cache.get_tracked_instant("i1") == later
    assert len(_rows(db_path)) == 1
    db.close()


def test_instants_are_normalised_to_utc_and_truncated_to_the_millisecond() -> None:
    paris_summer = timezone(timedelta(hours=2))
    instant = datetime(2026, 7, 1, 12, 0, 0, 987654, tzinfo=paris_summer)
    assert format_instant(instant) == "2026-07-01T10:00:00.987Z"
    assert parse_instant("2026-07-01T10:00:00.987Z") == datetime(2026, 7, 1, 10, 0, 0, 987000, tzinfo=UTC)
    # Rows written without an offset are read as UTC rather than as naive datetimes.
    assert parse_instant("2026-07-01T10:00:00") == datetime(2026, 7, 1, 10, tzinfo=UTC)
    assert parse_instant(None) is None
    with pytest.raises(ValueError, match="time zone"):
        format_instant(datetime(2026, 1, 1))


def test_value_and_tracked_instant_do_not_overwrite_each_other(db: SouthCacheDB) -> None:
    cache = db.for_south("s1")
    preserved = [{"filename": "a.csv", "modifiedTime": 1767225600000}]
    cache.set_value("i1", preserved)
    cache.set_tracked_instant("i1", T0)
    assert cache.get_value("i1") == preserved
    cache.set_value("i1", {"other": True})
    assert cache.get_tracked_instant("i1") == T0

    entry = cache.entry("i1")
    assert entry is not None
    assert entry.value == {"other": True}
    assert entry.tracked_instant == T0
    assert entry.query_time is not None
    assert entry.query_time.tzinfo is not None
    assert cache.entry("unknown") is None
    db.close()


def test_group_rows_have_no_item_and_stay_unique(db: SouthCacheDB, db_path: Path) -> None:
    cache = db.for_south("s1")
    cache.set_tracked_instant(None, T0, group_id="g1")
    cache.set_tracked_instant(None, T0 + timedelta(seconds=1), group_id="g1")
    cache.set_value(None, [1, 2], group_id="g1")
    # An item of the same group keeps its own row: the group id on it is informational.
    cache.set_tracked_instant("i1", T0, group_id="g1")

    assert cache.get_tracked_instant(None, group_id="g1") == T0 + timedelta(seconds=1)
    assert cache.get_value(None, group_id="g1") == [1, 2]
    assert cache.get_tracked_instant("i1") == T0
    assert _rows(db_path) == [
        ("s1", None, "g1", "[1,2]", "2026-01-01T00:00:01.123Z"),
        ("s1", "i1", "g1", None, "2026-01-01T00:00:00.123Z"),
    ]
    with pytest.raises(ValueError, match="item_id or a group_id"):
        cache.get_value(None)
    db.close()


def test_souths_are_isolated(db: SouthCacheDB) -> None:
    first, second = db.for_south("s1"), db.for_south("s2")
    first.set_value("i1", "first")
    second.set_value("i1", "second")
    assert first.get_value("i1") == "first"
    assert second.get_value("i1") == "second"
    db.close()


def test_delete_south_and_delete_items(db: SouthCacheDB, db_path: Path) -> None:
    s1, s2 = db.for_south("s1"), db.for_south("s2")
    # More ids than one DELETE statement takes, to exercise the chunking.
    many = [f"i{index}" for index in range(1200)]
    for item_id in many:
        s1.set_value(item_id, item_id)
    s1.set_value(None, "group", group_id="g1")
    s2.set_value("i1", "kept")

    db.delete_items("s1", many[:1100])
    assert s1.get_value("i1099") is None
    assert s1.get_value("i1100") == "i1100"
    assert s1.get_value(None, group_id="g1") == "group"
    assert s2.get_value("i1") == "kept"

    db.delete_south("s1")
    assert _rows(db_path) == [("s2", "i1", None, '"kept"', None)]
    db.close()


def test_non_json_values_are_returned_as_text(db: SouthCacheDB, db_path: Path) -> None:
    db.for_south("s1").set_value("i1", 1)
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE south_item_cache SET value = 'not json'")
    assert db.for_south("s1").get_value("i1") == "not json"
    db.close()


def test_data_survives_reopening_without_remigrating(db: SouthCacheDB, db_path: Path) -> None:
    db.for_south("s1").set_tracked_instant("i1", T0)
    db.close()
    with SouthCacheDB(db_path) as reopened:
        assert reopened.schema_version == SCHEMA_VERSION
        assert reopened.for_south("s1").get_tracked_instant("i1") == T0


def test_a_newer_schema_is_refused(db: SouthCacheDB, db_path: Path) -> None:
    db.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this OIBus supports"):
        SouthCacheDB(db_path)


def test_two_connections_share_the_file(db: SouthCacheDB, db_path: Path) -> None:
    with SouthCacheDB(db_path) as other:
        db.for_south("s1").set_value("i1", "from first")
        other.for_south("s2").set_value("i1", "from second")
        assert other.for_south("s1").get_value("i1") == "from first"
        assert db.for_south("s2").get_value("i1") == "from second"
    db.close()


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from engine.cache.south import SouthCacheDB

    with SouthCacheDB(Path(sys.argv[1])) as db:
        cache = db.for_south("child")
        for index in range(300):
            cache.set_value(f"i{index}", index)
    """
)


async def test_worker_processes_write_concurrently(db: SouthCacheDB, db_path: Path) -> None:
    """Another process writes while this one does: busy_timeout + WAL, no 'database is locked'."""
    cache = db.for_south("parent")

    child_done = asyncio.Event()
    written = 0

    async def run_child() -> subprocess.CompletedProcess[str]:
        try:
            return await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", _CHILD, str(db_path)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            child_done.set()

    async def write_here() -> None:
        # Keep writing for as long as the child runs, so the two writers overlap for sure.
        nonlocal written
        while not child_done.is_set() or written < 300:
            cache.set_value(f"i{written % 300}", written % 300)
            written += 1
            if written % 20 == 0:
                await asyncio.sleep(0)

    result, _ = await asyncio.gather(run_child(), write_here())
    assert result.returncode == 0, result.stderr
    child_view = db.for_south("child")
    assert [child_view.get_value(f"i{index}") for index in (0, 150, 299)] == [0, 150, 299]
    assert cache.get_value("i299") == 299
    db.close()
