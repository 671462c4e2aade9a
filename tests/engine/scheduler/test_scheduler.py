"""Scan-mode timers: real crons with seconds on the running event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from structlog.testing import capture_logs

from engine.scheduler.scheduler import Scheduler

EVERY_SECOND = "* * * * * *"
YEARLY = "0 0 0 1 1 *"


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def timers(scan_mode_id: str) -> list[asyncio.Task[object]]:
    """The live timer tasks of one scan mode (the scheduler names them ``scan-mode:<id>``)."""
    return [task for task in asyncio.all_tasks() if task.get_name() == f"scan-mode:{scan_mode_id}" and not task.done()]


async def test_every_second_cron_fires() -> None:
    fired: list[str] = []
    scheduler = Scheduler(fired.append)
    async with asyncio.TaskGroup() as group:
        scheduler.start(group, {"fast": EVERY_SECOND, "manual": ""})
        assert len(timers("fast")) == 1
        assert timers("manual") == []  # an empty cron is a scan mode fired by hand (subscriptions, API)
        await wait_until(lambda: len(fired) >= 1, "a tick", timeout_s=3.0)
        await scheduler.stop()
    assert set(fired) == {"fast"}


async def test_update_removes_replaces_and_keeps_timers() -> None:
    fired: list[str] = []
    scheduler = Scheduler(fired.append)
    async with asyncio.TaskGroup() as group:
        scheduler.start(group, {"kept": EVERY_SECOND, "removed": EVERY_SECOND, "replaced": YEARLY})
        await wait_until(lambda: "kept" in fired and "removed" in fired, "the first ticks")
        assert "replaced" not in fired
        (kept,) = timers("kept")
        (removed,) = timers("removed")
        (replaced,) = timers("replaced")

        scheduler.update({"kept": EVERY_SECOND, "replaced": EVERY_SECOND})
        removed_ticks = fired.count("removed")
        assert timers("kept") == [kept]
        assert removed.cancelling() or removed.cancelled()
        await wait_until(lambda: removed.done() and replaced.done(), "the old timers to end")
        assert timers("removed") == []
        (new_replaced,) = timers("replaced")
        assert new_replaced is not replaced

        start = fired.count("kept")
        await wait_until(lambda: fired.count("kept") >= start + 2 and "replaced" in fired, "two more ticks")
        assert fired.count("removed") == removed_ticks

        # Back to a cron that will not fire during the test: the every-second timer is gone.
        scheduler.update({"kept": EVERY_SECOND, "replaced": YEARLY})
        replaced_ticks = fired.count("replaced")
        start = fired.count("kept")
        await wait_until(lambda: fired.count("kept") >= start + 2, "two more ticks")
        assert fired.count("replaced") == replaced_ticks
        await scheduler.stop()


async def test_invalid_cron_is_logged_and_not_scheduled() -> None:
    fired: list[str] = []
    scheduler = Scheduler(fired.append)
    with capture_logs() as logs:
        async with asyncio.TaskGroup() as group:
            # "61 ..." does not parse; "30 February" parses but never matches (it used to crash the group).
            scheduler.start(group, {"bad": "61 * * * * *", "never": "0 0 0 30 2 *", "good": EVERY_SECOND})
            await wait_until(lambda: fired.count("good") >= 2, "two ticks of the valid cron")
            assert timers("bad") == []
            assert timers("never") == []
            await scheduler.stop()
    assert set(fired) == {"good"}
    invalid = [entry for entry in logs if entry["event"] == "invalid cron, scan mode not scheduled"]
    assert sorted(entry["scanModeId"] for entry in invalid) == ["bad", "never"]
    assert all(entry["log_level"] == "error" for entry in invalid)


async def test_a_failing_callback_does_not_stop_the_timer() -> None:
    calls: list[str] = []

    def fire(scan_mode_id: str) -> None:
        calls.append(scan_mode_id)
        if len(calls) == 1:
            raise RuntimeError("routing bug")

    scheduler = Scheduler(fire)
    with capture_logs() as logs:
        async with asyncio.TaskGroup() as group:
            scheduler.start(group, {"fast": EVERY_SECOND})
            await wait_until(lambda: len(calls) >= 2, "a tick after the failing one")
            await scheduler.stop()
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == ["scan mode tick failed"]


async def test_stop_cancels_every_timer() -> None:
    fired: list[str] = []
    scheduler = Scheduler(fired.append)
    async with asyncio.TaskGroup() as group:
        scheduler.start(group, {"a": EVERY_SECOND, "b": EVERY_SECOND, "c": YEARLY})
        await wait_until(lambda: "a" in fired and "b" in fired, "the first ticks")
        tasks = [*timers("a"), *timers("b"), *timers("c")]
        assert len(tasks) == 3
        await scheduler.stop()
        assert all(task.cancelled() for task in tasks)
        assert [timers(name) for name in "abc"] == [[], [], []]
        count = len(fired)
        # Longer than one period of the every-second crons: a surviving timer would have fired.
        await asyncio.sleep(1.5)
        assert len(fired) == count
        # A stopped scheduler can be stopped again, and started again by an update.
        await scheduler.stop()
        scheduler.update({"a": EVERY_SECOND})
        await wait_until(lambda: len(fired) > count, "a tick after the restart")
        await scheduler.stop()
