"""Helpers of the OIAnalytics tests: a registered engine against the fake OIAnalytics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine_process import EngineProcess
from servers.oianalytics import FakeOIAnalytics

# Registration checks every 0.2 s instead of 10 s, so a test waits for activation only briefly.
FAST_CHECK = {"OIBUS_OIA_CHECK_INTERVAL_S": "0.2"}


def registration_body(fake: FakeOIAnalytics, **overrides: Any) -> dict[str, Any]:
    """A registration body for ``fake`` with 1 s command and message intervals."""
    body: dict[str, Any] = {
        "host": fake.url,
        "acceptUnauthorized": fake.tls_folder is not None,
        "useProxy": False,
        "useApiGateway": False,
        "commandRefreshInterval": 1,
        "commandRetryInterval": 1,
        "messageRetryInterval": 1,
    }
    if fake.prefix or fake.gateway_header:
        body.update(
            useApiGateway=True,
            apiGatewayBaseEndpoint=fake.prefix or None,
            apiGatewayHeaderKey=fake.gateway_header[0] if fake.gateway_header else None,
            apiGatewayHeaderValue=fake.gateway_header[1] if fake.gateway_header else None,
        )
    body.update(overrides)
    return body


def wait_until(predicate: Any, timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"no {what} within {timeout_s} s")


def register(engine: EngineProcess, fake: FakeOIAnalytics, **overrides: Any) -> dict[str, Any]:
    """Register ``engine`` with ``fake``, accept it there, and wait until REGISTERED."""
    engine.ok("POST", "/api/oianalytics/register", registration_body(fake, **overrides))
    fake.accepted = True
    return dict(
        wait_until(
            lambda: (found := engine.ok("GET", "/api/oianalytics/registration"))["status"] == "REGISTERED" and found,
            what="REGISTERED",
        )
    )


@contextmanager
def registered_engine(tmp_path: Path, fake: FakeOIAnalytics, **overrides: Any) -> Iterator[EngineProcess]:
    """A running engine registered with ``fake`` (stopped at the end)."""
    engine = EngineProcess(tmp_path / "data", env=FAST_CHECK).start()
    try:
        register(engine, fake, **overrides)
        yield engine
    finally:
        engine.stop()


def api_answers(engine: EngineProcess) -> str:
    """The text of every API answer that could show a secret: connectors, engine, registration, commands, logs."""
    answers: list[Any] = [
        engine.ok("GET", "/api/engine"),
        engine.ok("GET", "/api/oianalytics/registration"),
        engine.ok("GET", "/api/oianalytics/commands/search"),
        engine.ok("GET", "/api/logs"),
    ]
    for kind in ("south", "north"):
        for connector in engine.ok("GET", f"/api/{kind}"):
            answers.append(engine.ok("GET", f"/api/{kind}/{connector['id']}"))
    return json.dumps(answers)


def assert_secret_nowhere(secret: str, engine: EngineProcess, fake: FakeOIAnalytics) -> None:
    """``secret`` is in no message or log sent to OIAnalytics, no API answer and no log file of the engine.

    Generic on purpose: rerun it with any connector's secret once that connector has a real peer here.
    """
    for text in fake.everything_received():
        assert secret not in text, "a message or log sent to OIAnalytics holds the secret"
    assert secret not in api_answers(engine), "an API answer holds the secret"
    assert secret not in engine.log(), "the engine's output holds the secret"
    logs = engine.data_dir / "logs"
    for path in logs.glob("*") if logs.is_dir() else ():
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"{path.name} holds the secret"
