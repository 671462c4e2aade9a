"""The ``update-version`` command and its report on the next start, with a test double of ``engine.upgrade``.

``engine.upgrade`` (verify, stage, outcome) is built on another branch; the agent takes it through the
``stage_upgrade`` / ``upgrade_outcome`` parameters, so these tests run the real agent, the real store and
the fake OIAnalytics around a small double of that interface. The launcher end-to-end test (two bundles,
a broken one rolled back) runs once both branches are merged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from config_fakes import FAST_HASHER, RecordingRuntime
from oia_support import registration_body
from servers.oianalytics import FakeOIAnalytics

from engine.config import ConfigStore
from engine.info import EngineInfo
from engine.oianalytics.agent import OIAnalyticsAgent, UpgradeOutcome, stop_agent
from engine.runtime import IngestResult
from engine.version import engine_version

BUNDLE = b"PK\x03\x04 a signed bundle"


class AgentRuntime(RecordingRuntime):
    async def ingest_setpoints(self, setpoints_json: bytes, count: int, *, north_ids: list[str]) -> IngestResult:
        return IngestResult(stored=(), refused={})


@dataclass
class Outcome:
    from_version: str
    to_version: str
    status: str
    reason: str | None = None
    command_id: str | None = None


class UpgradeRefused(Exception):
    pass


@dataclass
class UpgradeDouble:
    """Stands for ``engine.upgrade``: records what it staged, refuses when told, reports a chosen outcome once."""

    refuse: str | None = None
    staged: list[tuple[bytes, str | None]] = field(default_factory=list)
    outcome: UpgradeOutcome | None = None
    on_trial: bool = False

    def upgrade_on_trial(self) -> bool:
        return self.on_trial

    def stage_upgrade(self, data_dir: Path, bundle: Path, *, command_id: str | None = None) -> str:
        if self.refuse:
            raise UpgradeRefused(self.refuse)
        self.staged.append((bundle.read_bytes(), command_id))
        return "9.9.9"

    def upgrade_outcome(self, data_dir: Path) -> UpgradeOutcome | None:
        found, self.outcome = self.outcome, None
        return found


async def until(predicate: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        found = predicate()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError(what)


@asynccontextmanager
async def running_agent(
    data_dir: Path, upgrade: UpgradeDouble, *, ignore_remote_update: bool = False
) -> AsyncIterator[tuple[OIAnalyticsAgent, list[str]]]:
    store = ConfigStore.open(data_dir, init=None, password_hasher=FAST_HASHER)
    exits: list[str] = []

    async def request_exit() -> None:
        exits.append("exit")

    agent = OIAnalyticsAgent(
        data_dir,
        store,
        AgentRuntime(),
        EngineInfo(data_directory=data_dir, ignore_remote_update=ignore_remote_update),
        request_exit=request_exit,
        key_size=2048,
        check_interval_s=0.1,
        stage_upgrade=upgrade.stage_upgrade,
        upgrade_outcome=upgrade.upgrade_outcome,
        upgrade_on_trial=upgrade.upgrade_on_trial,
    )
    task = asyncio.create_task(agent.run(), name="test:agent")
    try:
        yield agent, exits
    finally:
        await stop_agent(task)
        agent.close()
        store.close()


async def registered(agent: OIAnalyticsAgent, fake: FakeOIAnalytics) -> None:
    await agent.registration.register(registration_body(fake))
    fake.accepted = True
    await until(lambda: agent.repo.registration().registered, "REGISTERED")


def upgrade_command(fake: FakeOIAnalytics) -> str:
    fake.assets["asset-1"] = BUNDLE
    return fake.add_command(
        "update-version",
        engine_version(),
        version=f"v{engine_version()}",
        assetId="asset-1",
        updateLauncher=False,
        backupFoldersPattern="cache/*",
    )


@pytest.mark.parametrize(
    ("outcome", "status", "result"),
    [
        ("completed", "COMPLETED", f"OIBus updated to version {engine_version()}"),
        ("rolled-back", "ERRORED", "OIBus has not been updated (rolled-back: new version did not stay up)"),
    ],
)
async def test_upgrade_is_staged_then_reported_by_what_runs(
    tmp_path: Path, outcome: str, status: str, result: str
) -> None:
    upgrade = UpgradeDouble()
    with FakeOIAnalytics() as fake:
        async with running_agent(tmp_path, upgrade) as (agent, exits):
            await registered(agent, fake)
            command_id = upgrade_command(fake)
            await until(lambda: exits, "exit requested")
            # Downloaded through OIAnalytics (with the token), staged, and left RUNNING for the next start.
            assert upgrade.staged == [(BUNDLE, command_id)]
            assert ("GET", "/api/oianalytics/oibus/upgrade/asset") in fake.requests
            await until(lambda: any(e["status"] == "RUNNING" for e in fake.reported(command_id)), "RUNNING")
            assert fake.final_status(command_id) is None
            assert not await asyncio.to_thread(lambda: list(tmp_path.glob("oibus-upgrade-*")))  # download removed
        reason = "new version did not stay up" if outcome != "completed" else None
        upgrade.outcome = Outcome("0.0.9", engine_version(), outcome, reason, command_id)
        async with running_agent(tmp_path, upgrade) as (agent, exits):
            final = await until(lambda: fake.final_status(command_id), "final status after restart")
            assert final["status"] == status
            assert final["result"].startswith(result)
            assert exits == []
        assert fake.problems == []


async def test_refused_upgrades(tmp_path: Path) -> None:
    upgrade = UpgradeDouble(refuse="bad signature")
    with FakeOIAnalytics() as fake:
        async with running_agent(tmp_path / "a", upgrade) as (agent, exits):
            await registered(agent, fake)
            refused = upgrade_command(fake)
            final = await until(lambda: fake.final_status(refused), "refused upgrade")
            assert final["status"] == "ERRORED" and final["result"] == "Upgrade refused: bad signature"
            missing = fake.add_command("update-version", engine_version(), version="v1", assetId="nope")
            final = await until(lambda: fake.final_status(missing), "missing asset")
            assert final["status"] == "ERRORED" and final["result"].startswith("404 - ")
            assert exits == []
        fake.registrations.clear()
        upgrade.refuse = None
        async with running_agent(tmp_path / "b", upgrade, ignore_remote_update=True) as (agent, exits):
            await registered(agent, fake)
            ignored = upgrade_command(fake)
            final = await until(lambda: fake.final_status(ignored), "ignored upgrade")
            assert final == {**final, "status": "ERRORED", "result": "OIBus is not set up to execute remote update"}
            assert upgrade.staged == [] and exits == []
        # A RUNNING upgrade with no outcome (the engine restarted without the launcher applying it) is ERRORED.
        async with running_agent(tmp_path / "a", upgrade) as (agent, exits):
            agent.repo.set_status(refused, "RUNNING")
        async with running_agent(tmp_path / "a", upgrade) as (agent, exits):
            await until(lambda: agent.repo.command(refused).status == "ERRORED", "no outcome")
            assert "without applying the upgrade" in (agent.repo.command(refused).result or "")


async def test_a_new_version_on_trial_is_reported_once_the_launcher_keeps_it(tmp_path: Path) -> None:
    upgrade = UpgradeDouble()
    with FakeOIAnalytics() as fake:
        async with running_agent(tmp_path, upgrade) as (agent, exits):
            await registered(agent, fake)
            command_id = upgrade_command(fake)
            await until(lambda: exits, "exit requested")
        # The new version starts while the launcher still watches it: no verdict yet, so no report.
        upgrade.on_trial = True
        async with running_agent(tmp_path, upgrade) as (agent, exits):
            await until(lambda: agent._verdict is not None, "the report deferred to the launcher's verdict")
            assert agent.repo.command(command_id).status == "RUNNING"
            assert fake.final_status(command_id) is None
            upgrade.outcome = Outcome("0.0.9", engine_version(), "completed", None, command_id)
            upgrade.on_trial = False
            final = await until(lambda: fake.final_status(command_id), "final status after the trial")
            assert final["status"] == "COMPLETED"
        assert fake.problems == []
