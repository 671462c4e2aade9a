"""A connector that asks for a retry interval (``ConnectorNotReady.retry_after_s``) is retried at that interval.

The OPC South (upstream's ``retryInterval``) starts while its OIBus Agent is down: the runner reports
``retrying`` with the agent's error and waits exactly the interval between attempts (the pauses are
recorded, not taken), then connects once the agent listens.
"""

from __future__ import annotations

import socket
from pathlib import Path

from servers.oibus_agent import FakeAgent
from test_runner_requests import RecordingChannel

from engine.ipc import ConnectorState, Start
from engine.worker.south import SouthRunner


async def test_an_unreachable_agent_is_retried_at_the_retry_interval(tmp_path: Path) -> None:
    # Bound but not listening until the third pause: attempts are refused, and nobody else takes the port.
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    port: int = held.getsockname()[1]
    agent = FakeAgent(port=port)
    dto = {
        "id": "opc1",
        "name": "historian",
        "type": "opc",
        "settings": {"agentUrl": f"http://127.0.0.1:{port}", "retryInterval": 300},
        "items": [],
    }
    channel = RecordingChannel()
    runner = SouthRunner(channel, Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
    pauses: list[float] = []

    async def record(pause: float) -> None:
        pauses.append(pause)
        if len(pauses) == 3:
            held.close()
            await agent.start()

    runner.sleep = record
    try:
        await runner.start_with_backoff()
    finally:
        held.close()
        await runner.stop()
        await agent.stop()
    assert pauses == [0.3, 0.3, 0.3]  # upstream's retryInterval, not the engine's doubling backoff
    states = [message for message in channel.sent if isinstance(message, ConnectorState)]
    retrying = [state for state in states if state.state == "retrying"]
    assert retrying and f"cannot reach the OIBus Agent at http://127.0.0.1:{port}" in (retrying[0].error or "")
    assert retrying[0].next_attempt is not None
    assert states[-1].state == "connected"
    assert [call.action for call in agent.calls] == ["connect", "disconnect"]
