"""Test doubles for the configuration store and the REST API: small manifests, a recording runtime."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import AbstractRouteDef, Application, Request
from argon2 import PasswordHasher

from connectors.manifest import ConnectorManifest, Modes, OptionalSecret, Secret
from engine.api import EngineInfo, create_app
from engine.api.throttle import LoginThrottle
from engine.config import ConfigStore, InitSettings, StaticManifests
from engine.runtime import IngestResult
from engine.web import setup as setup_web

# argon2 at its cheapest: the tests check behaviour, not the cost of a hash.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

Client = TestClient[Request, Application]


class FakeAuth(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    username: str = ""
    token: Secret = ""


class FakeEndpoint(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    url: str
    api_key: Secret = ""


class FakeSouthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    host: Annotated[str, msgspec.Meta(min_length=1)]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 502
    password: OptionalSecret = None
    auth: FakeAuth = FakeAuth()
    endpoints: list[FakeEndpoint] = []


class FakeItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    address: str
    scale: float = 1.0
    key: Secret = ""


class FakeNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    output_folder: Annotated[str, msgspec.Meta(min_length=1)]
    token: Secret = ""


SOUTH_MANIFEST = ConnectorManifest(
    id="test-south",
    kind="south",
    name="Test South",
    category="debug",
    description="A South used by tests",
    settings=FakeSouthSettings,
    item_settings=FakeItemSettings,
    modes=Modes(last_point=True, history=True),
)
# The test South again, with subscription as its only mode.
SUBSCRIPTION_MANIFEST = replace(
    SOUTH_MANIFEST,
    id="test-subscription",
    name="Test subscription South",
    description="A South that subscribes",
    modes=Modes(subscription=True),
)
NORTH_MANIFEST = ConnectorManifest(
    id="test-north",
    kind="north",
    name="Test North",
    category="debug",
    description="A North used by tests",
    settings=FakeNorthSettings,
    types=("any", "time-values"),
)
MANIFESTS = StaticManifests([SOUTH_MANIFEST, SUBSCRIPTION_MANIFEST, NORTH_MANIFEST])


def open_store(data_dir: Path, init: InitSettings | None = None) -> ConfigStore:
    """Open a store on the test manifests with cheap argon2."""
    return ConfigStore.open(data_dir, init=init, manifests=MANIFESTS, password_hasher=FAST_HASHER)


def scan_mode_id(store: ConfigStore, name: str = "Every second") -> str:
    """Return the id of a seeded scan mode."""
    return next(mode.id for mode in store.scan_modes.list_scan_modes() if mode.name == name)


def south_body(store: ConfigStore, *, name: str = "PLC", items: int = 2, **extra: Any) -> dict[str, Any]:
    """Return a valid South command body with ``items`` items."""
    mode = scan_mode_id(store)
    body: dict[str, Any] = {
        "name": name,
        "type": "test-south",
        "description": "a test South",
        "enabled": True,
        "settings": {"host": "plc.local", "password": "s3cret-pw", "auth": {"username": "u", "token": "tok-1"}},
        "items": [
            {"name": f"item-{index}", "enabled": True, "settings": {"address": f"%MW{index}"}, "scanModeId": mode}
            for index in range(items)
        ],
    }
    body.update(extra)
    return body


def north_body(store: ConfigStore, *, name: str = "Files", **extra: Any) -> dict[str, Any]:
    """Return a valid North command body."""
    body: dict[str, Any] = {
        "name": name,
        "type": "test-north",
        "description": "",
        "enabled": True,
        "settings": {"outputFolder": "out", "token": "north-token"},
        "caching": {"trigger": {"scanModeId": scan_mode_id(store, "Every minute")}},
        "transformers": [],
    }
    body.update(extra)
    return body


@dataclass
class RecordingRuntime:
    """A ``Runtime`` that records the calls the API makes after each stored change."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    async def reconcile_south(self, south_id: str) -> None:
        self.calls.append(("reconcile_south", south_id))

    async def reconcile_north(self, north_id: str) -> None:
        self.calls.append(("reconcile_north", north_id))

    async def reload_scan_modes(self) -> None:
        self.calls.append(("reload_scan_modes", ""))

    async def engine_settings_changed(self) -> None:
        self.calls.append(("engine_settings_changed", ""))

    def connector_state(self, kind: str, connector_id: str) -> dict[str, Any]:
        return {"state": "RUNNING", "kind": kind}

    def connector_metrics(self) -> dict[str, dict[str, Any]]:
        return {}

    async def worker_request(
        self, kind: str, connector_id: str, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0
    ) -> Any:
        self.calls.append(("worker_request", f"{kind}:{connector_id}:{method}"))
        return None

    async def north_cache_request(
        self, north_id: str, method: str, params: dict[str, Any], timeout_s: float = 60.0
    ) -> Any:
        self.calls.append(("north_cache_request", f"{north_id}:{method}"))
        return None

    async def ingest_values(
        self, values_json: bytes, count: int, *, data_source_id: str, north_ids: list[str] | None
    ) -> IngestResult:
        return IngestResult(stored=(), refused={})

    async def ingest_file(
        self, path: Path, filename: str, *, data_source_id: str, north_ids: list[str] | None
    ) -> IngestResult:
        return IngestResult(stored=(), refused={})

    async def ingest_content(self, content: bytes, *, data_source_id: str, north_ids: list[str] | None) -> IngestResult:
        return IngestResult(stored=(), refused={})


@dataclass
class IngestingRuntime(RecordingRuntime):
    """Records what reaches the runtime; answers as told."""

    answer: IngestResult = field(default_factory=lambda: IngestResult(stored=("n1",), refused={}))
    received: list[tuple[str, Any, dict[str, Any]]] = field(default_factory=list)

    async def ingest_values(
        self, values_json: bytes, count: int, *, data_source_id: str, north_ids: list[str] | None
    ) -> IngestResult:
        self.received.append(("values", (values_json, count), {"source": data_source_id, "norths": north_ids}))
        return self.answer

    async def ingest_file(
        self, path: Path, filename: str, *, data_source_id: str, north_ids: list[str] | None
    ) -> IngestResult:
        data = await asyncio.to_thread(path.read_bytes)
        self.received.append(("file", (data, filename), {"source": data_source_id, "norths": north_ids}))
        return self.answer

    async def ingest_content(self, content: bytes, *, data_source_id: str, north_ids: list[str] | None) -> IngestResult:
        self.received.append(("content", content, {"source": data_source_id, "norths": north_ids}))
        return self.answer


@asynccontextmanager
async def api_client(
    store: ConfigStore,
    runtime: RecordingRuntime,
    *,
    info: EngineInfo | None = None,
    throttle: LoginThrottle | None = None,
    extra_routes: Iterable[Iterable[AbstractRouteDef]] = (),
) -> AsyncIterator[Client]:
    """Serve the API on a real loopback socket and yield a client for it."""
    app = create_app(
        store,
        runtime,
        info or EngineInfo(data_directory=store.data_dir, launcher_version="3.9.0"),
        throttle=throttle,
        extra_routes=extra_routes,
        ui=setup_web,
    )
    async with TestClient(TestServer(app)) as client:
        yield client


async def create_connector(client: Client, kind: Literal["south", "north"], body: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/{kind}`` a body that must be accepted; return the created connector."""
    response = await client.post(f"/api/{kind}", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


def basic(login: str, password: str) -> dict[str, str]:
    """Return an ``Authorization`` header for Basic credentials."""
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    """Return an ``Authorization`` header for a login token."""
    return {"Authorization": f"Bearer {token}"}


AUTH = basic("admin", "pass")


async def login_token(client: Client, headers: dict[str, str] = AUTH) -> str:
    """``POST /api/users/authentication`` with credentials that must be accepted; return the token."""
    response = await client.post("/api/users/authentication", headers=headers)
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token


# Fixtures, imported by the test modules that use them (``from config_fakes import store_fixture``):
# nested conftest.py files would clash as modules named ``conftest`` for mypy.


@pytest.fixture(name="store")
def store_fixture(tmp_path: Path) -> Iterator[ConfigStore]:
    """A store in a fresh data folder."""
    with open_store(tmp_path / "data") as opened:
        yield opened


@pytest.fixture(name="runtime")
def runtime_fixture() -> RecordingRuntime:
    """A runtime that records the calls it gets."""
    return RecordingRuntime()


@pytest.fixture(name="client")
async def client_fixture(store: ConfigStore, runtime: RecordingRuntime) -> AsyncIterator[Client]:
    """A client of the API served on a loopback socket."""
    async with api_client(store, runtime) as live:
        yield live
