"""Suite-wide fixtures: the leak guards (no child process, thread or asyncio task outlives its test), services."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import psutil
import pytest
from launcher_process import LauncherRun
from release_build import Release, shared_release


def _children() -> set[int]:
    try:
        return {child.pid for child in psutil.Process().children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fail a test that leaves child processes behind (and kill them so the next test starts clean)."""
    before = _children()
    yield
    deadline = time.monotonic() + 10.0
    leaked = _children() - before
    while leaked and time.monotonic() < deadline:
        time.sleep(0.1)
        leaked = {pid for pid in leaked if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"}
    if leaked:
        names = []
        for pid in leaked:
            try:
                proc = psutil.Process(pid)
                names.append(f"{pid}:{' '.join(proc.cmdline()[:4])}")
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        if names:
            pytest.fail(f"test left child processes behind: {names}")


THREAD_GRACE_S = 5.0
"""How long a thread a test started may take to end after the test (a server's thread joining, say)."""

PROCESS_WIDE_THREADS = (
    # asyncio's default executor (``to_thread``, ``getaddrinfo``): owned by the loop, joined when the loop closes,
    # which for a sync test's ``asyncio.run`` is already done, and for an async test comes after this check.
    "asyncio_",
    # Playwright's driver connection lives for the browser session fixture, shared by the web UI tests.
    "playwright",
    # pytest-timeout's watchdog (method=thread) and execnet's (pytest-xdist) I/O threads belong to the runner.
    "pytest_timeout",
    "execnet",
)
"""Name prefixes of threads that are process-wide by design, not a test's leak."""


def _threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.is_alive()}


def _leaked_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [
        thread
        for thread in _threads() - before
        if thread.is_alive() and not thread.name.startswith(PROCESS_WIDE_THREADS)
    ]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread it started running (after ``THREAD_GRACE_S`` to end)."""
    before = _threads()
    yield
    deadline = time.monotonic() + THREAD_GRACE_S
    leaked = _leaked_threads(before)
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = _leaked_threads(before)
    if leaked:
        names = sorted(f"{thread.name} (daemon={thread.daemon})" for thread in leaked)
        pytest.fail(f"test left threads running: {names}")


TASK_GRACE_S = 2.0
"""How long tasks still pending after a test's teardown may take to finish before they count as leaked."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every asyncio test that owns its loop the task guard, first of its fixtures so that it is torn down last.

    A test on a shared loop (``loop_scope="module"``) does not own it: tasks of the module's fixtures run on.
    """
    for item in items:
        marker = item.get_closest_marker("asyncio")
        if marker is None or not isinstance(item, pytest.Function):
            continue
        if marker.kwargs.get("loop_scope", "function") == "function":
            item.fixturenames.insert(0, "no_leaked_tasks")


def _pending_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current and not task.done()}


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail an asyncio test that leaves tasks pending in its loop once it and its fixtures are done.

    The loop is the test's own (function scope); its runner would cancel such tasks silently at close, hiding
    a connector or helper that forgot one. The leaked tasks are cancelled here so the loop closes clean.
    """
    before = _pending_tasks()
    yield
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TASK_GRACE_S
    pending = _pending_tasks() - before
    while pending and loop.time() < deadline:
        await asyncio.wait(pending, timeout=0.05)
        pending = _pending_tasks() - before
    if pending:
        names = sorted(f"{task.get_name()}: {task.get_coro()!r}"[:200] for task in pending)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        pytest.fail(f"test left asyncio tasks pending: {names}")


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a system service is unreachable, or fail when ``OIBUS_REQUIRE_SERVICES=1`` (CI)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as err:
        reason = f"{name} not reachable on {host}:{port} ({err})"
    if os.environ.get("OIBUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; OIBUS_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture
def launchers() -> Iterator[list[LauncherRun]]:
    """Launcher processes a test starts; whatever is left of them is killed at the end."""
    runs: list[LauncherRun] = []
    yield runs
    for run in runs:
        run.cleanup()


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The release bundles built from this checkout (one PyInstaller build per run, see ``release_build``)."""
    return shared_release(tmp_path_factory)
