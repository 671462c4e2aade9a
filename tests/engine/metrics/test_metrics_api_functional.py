"""Metrics over HTTP on real sockets: resets, the live streams, ``/metrics``, the restart route, authentication.

The application runs in an ``AppRunner`` as the engine runs it (no handler cancellation on disconnect: a
stream must notice a gone client by itself).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from config_fakes import (  # noqa: F401
    AUTH,
    RecordingRuntime,
    basic,
    bearer,
    north_body,
    runtime_fixture,
    south_body,
    store_fixture,
)

from engine.api import EngineInfo, create_app
from engine.api.keys import METRICS_TEXT, STOP_ENGINE
from engine.api.metrics import routes as prometheus_routes
from engine.api.routes_metrics import routes as reset_routes
from engine.api.routes_restart import routes as restart_routes
from engine.api.routes_sse import install
from engine.api.routes_sse import routes as sse_routes
from engine.api.sse import LiveStreams
from engine.config import ConfigStore
from engine.metrics import MetricsStore, ProcessSample


class FixedSampler:
    def sample(self) -> ProcessSample:
        return ProcessSample(
            cpu_instant=0.1,
            cpu_average=0.05,
            uptime_ms=1234,
            free_memory=100,
            total_memory=1000,
            memory={"Rss": 7, "HeapTotal": 9, "HeapUsed": 8, "External": 2, "ArrayBuffers": 0},
        )


@dataclass
class Served:
    url: str
    session: aiohttp.ClientSession
    runner: web.AppRunner
    metrics: MetricsStore
    streams: LiveStreams
    stop: asyncio.Event

    async def token(self) -> str:
        async with self.session.post(f"{self.url}/api/users/authentication", headers=AUTH) as response:
            assert response.status == 200
            token: str = (await response.json())["access_token"]
            return token


@pytest.fixture
async def served(store: ConfigStore, runtime: RecordingRuntime, tmp_path: Path) -> AsyncIterator[Served]:
    async with MetricsStore(tmp_path / "metrics.db", sampler=FixedSampler()) as metrics:
        app = create_app(
            store,
            runtime,
            EngineInfo(data_directory=store.data_dir, launcher_version="3.9.0"),
            extra_routes=[prometheus_routes, reset_routes, sse_routes, restart_routes],
        )
        streams = LiveStreams(interval_s=0.02)
        install(app, metrics, streams)
        app[STOP_ENGINE] = stop = asyncio.Event()
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        try:
            async with aiohttp.ClientSession() as session:
                yield Served(f"http://{host}:{port}", session, runner, metrics, streams, stop)
        finally:
            if runner.server is not None:  # not already shut down by the test
                await runner.cleanup()
    assert streams.open == 0


async def create(served: Served, kind: str, body: dict[str, Any]) -> str:
    async with served.session.post(f"{served.url}/api/{kind}", json=body, headers=AUTH) as response:
        assert response.status == 201, await response.text()
        connector_id: str = (await response.json())["id"]
        return connector_id


async def frames(response: aiohttp.ClientResponse, count: int) -> list[Any]:
    """Read ``count`` SSE frames (``data: <json>`` then a blank line)."""
    found: list[Any] = []
    while len(found) < count:
        line = await response.content.readline()
        assert line, "stream ended early"
        if line.startswith(b"data: "):
            found.append(json.loads(line[len(b"data: ") :]))
    return found


async def test_south_stream_sends_the_cumulative_row_every_interval(served: Served, store: ConfigStore) -> None:
    south_id = await create(served, "south", south_body(store))
    served.metrics.record(f"south:{south_id}", {"numberOfValuesRetrieved": 5})
    served.metrics.record(f"south:{south_id}", {"numberOfValuesRetrieved": 2})  # a restarted worker
    async with served.session.get(f"{served.url}/sse/south/{south_id}", headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first, _ = await frames(response, 2)
        assert first["numberOfValuesRetrieved"] == 7
        served.metrics.record(f"south:{south_id}", {"numberOfValuesRetrieved": 4})
        while (await frames(response, 1))[0]["numberOfValuesRetrieved"] != 9:
            pass


async def test_home_and_engine_streams(served: Served, store: ConfigStore) -> None:
    south_id = await create(served, "south", south_body(store))
    north_id = await create(served, "north", north_body(store))
    served.metrics.record(f"north:{north_id}", {"contentSentSize": 10})
    await served.metrics.tick()
    async with served.session.get(f"{served.url}/sse/home", headers=AUTH) as response:
        (home,) = await frames(response, 1)
    assert list(home) == ["norths", "engine", "souths", "states"]
    assert home["states"]["south"][south_id] == {"state": "RUNNING", "connectorState": None, "lastError": None}
    assert list(home["states"]["north"]) == [north_id]
    assert list(home["souths"]) == [south_id] and home["souths"][south_id]["numberOfValuesRetrieved"] == 0
    assert home["norths"][north_id]["contentSentSize"] == 10
    assert home["engine"]["currentRss"] == 7
    async with served.session.get(f"{served.url}/sse/engine", headers=AUTH) as response:
        (engine,) = await frames(response, 1)
    assert (engine["processUptime"], engine["maxHeapTotal"], engine["currentArrayBuffers"]) == (1234, 9, 0)


async def test_stream_ends_when_the_client_disconnects(served: Served) -> None:
    response = await served.session.get(f"{served.url}/sse/engine", headers=AUTH)
    await frames(response, 1)
    assert served.streams.open == 1
    response.close()  # drops the connection
    # The server notices at its next write; the guard only turns a hang into a failure.
    async with asyncio.timeout(30):
        await served.streams.wait_idle()
    assert served.streams.open == 0


async def test_streams_end_when_the_application_shuts_down(served: Served, store: ConfigStore) -> None:
    north_id = await create(served, "north", north_body(store))
    paths = ("/sse/home", f"/sse/north/{north_id}")
    responses = [await served.session.get(f"{served.url}{path}", headers=AUTH) for path in paths]
    for response in responses:
        await frames(response, 1)
    # Would wait for aiohttp's 60 s shutdown timeout if the streams did not end by themselves.
    async with asyncio.timeout(30):
        await served.runner.cleanup()
    for response in responses:
        async with asyncio.timeout(30):
            await response.content.read()  # the rest of the stream, up to its end
        assert response.content.at_eof()
        response.release()
    assert served.streams.open == 0


async def test_streams_refuse_anonymous_clients_and_accept_a_token_parameter(served: Served) -> None:
    for path in ("/sse/home", "/sse/engine", "/sse/south/x", "/metrics"):
        async with served.session.get(f"{served.url}{path}") as response:
            assert response.status == 401, path
            assert await response.json() == {"error": "Unauthorized", "status": 401}
        async with served.session.get(f"{served.url}{path}", headers=basic("admin", "wrong")) as response:
            assert response.status == 401, path
    token = await served.token()
    async with served.session.get(f"{served.url}/sse/engine", params={"token": token}) as response:
        assert response.status == 200
        await frames(response, 1)
    async with served.session.get(f"{served.url}/sse/engine", params={"token": token + "x"}) as response:
        assert response.status == 403
    # The query token is for EventSource only: /metrics wants a header.
    async with served.session.get(f"{served.url}/metrics", params={"token": token}) as response:
        assert response.status == 401
    async with served.session.get(f"{served.url}/metrics", headers=bearer(token)) as response:
        assert response.status == 200


async def test_unknown_connectors_are_404(served: Served) -> None:
    for method, path in (
        ("GET", "/sse/south/nope"),
        ("GET", "/sse/north/nope"),
        ("POST", "/api/south/nope/metrics/reset"),
        ("POST", "/api/north/nope/metrics/reset"),
    ):
        async with served.session.request(method, f"{served.url}{path}", headers=AUTH) as response:
            assert response.status == 404, path
    assert served.streams.open == 0


async def test_resets(served: Served, store: ConfigStore) -> None:
    south_id = await create(served, "south", south_body(store))
    north_id = await create(served, "north", north_body(store))
    served.metrics.record(f"south:{south_id}", {"numberOfValuesRetrieved": 50, "lastValueRetrieved": {"v": 1}})
    served.metrics.record(f"north:{north_id}", {"contentSentSize": 70, "currentCacheSize": 3})
    await served.metrics.tick()
    before = served.metrics.get("south", south_id)["metricsStart"]
    for kind, connector_id in (("south", south_id), ("north", north_id)):
        async with served.session.post(f"{served.url}/api/{kind}/{connector_id}/metrics/reset", headers=AUTH) as r:
            assert r.status == 204
    south = served.metrics.get("south", south_id)
    assert (south["numberOfValuesRetrieved"], south["lastValueRetrieved"]) == (0, None)
    assert south["metricsStart"] >= before
    north = served.metrics.get("north", north_id)
    assert (north["contentSentSize"], north["currentCacheSize"]) == (0, 3)
    async with served.session.post(f"{served.url}/api/engine/metrics/reset", headers=AUTH) as response:
        assert response.status == 204
    engine = served.metrics.engine()
    assert engine["minRss"] == engine["maxRss"] == 7
    async with served.session.post(f"{served.url}/api/engine/metrics/reset") as response:
        assert response.status == 401


async def test_prometheus_serves_the_persisted_counters(
    served: Served, store: ConfigStore, runtime: RecordingRuntime
) -> None:
    south_id = await create(served, "south", south_body(store))
    served.metrics.record(f"south:{south_id}", {"numberOfValuesRetrieved": 5})
    served.metrics.worker_started(f"south:{south_id}")
    served.metrics.record(f"south:{south_id}", {"numberOfValuesRetrieved": 6})
    await served.metrics.tick()
    async with served.session.get(f"{served.url}/metrics", headers=AUTH) as response:
        text = await response.text()
    lines = set(text.splitlines())
    assert f'oibus_south_number_of_values_retrieved{{id="{south_id}"}} 11' in lines
    assert f'oibus_south_state{{id="{south_id}",state="RUNNING"}} 1' in lines  # the fake runtime's state
    assert "oibus_engine_current_rss 7" in lines
    assert "oibus_engine_process_uptime 1234" in lines


async def test_prometheus_text_is_cached_but_a_reset_shows_at_once(served: Served, store: ConfigStore) -> None:
    south_id = await create(served, "south", south_body(store))
    served.metrics.record(f"south:{south_id}", {"numberOfValuesRetrieved": 5})
    await served.metrics.tick()
    line = f'oibus_south_number_of_values_retrieved{{id="{south_id}"}}'
    served.runner.app[METRICS_TEXT].ttl_s = 3600  # no expiry during the test: it never depends on timing

    async def scrape() -> set[str]:
        async with served.session.get(f"{served.url}/metrics", headers=AUTH) as response:
            assert response.status == 200
            return set((await response.text()).splitlines())

    assert f"{line} 5" in await scrape()
    # Within the cache interval a new count is not read again (the text is rendered once for every scraper)...
    served.metrics.record(f"south:{south_id}", {"numberOfValuesRetrieved": 9})
    await served.metrics.tick()
    assert served.metrics.get("south", south_id)["numberOfValuesRetrieved"] == 9
    assert f"{line} 5" in await scrape()
    # ...but a reset is shown by the very next scrape.
    async with served.session.post(f"{served.url}/api/south/{south_id}/metrics/reset", headers=AUTH) as response:
        assert response.status == 204
    assert f"{line} 0" in await scrape()


async def test_restart_answers_then_sets_the_stop_event(served: Served) -> None:
    async with served.session.post(f"{served.url}/api/engine/restart") as response:
        assert response.status == 401
    assert not served.stop.is_set()
    async with served.session.post(f"{served.url}/api/engine/restart", headers=AUTH) as response:
        assert response.status == 204
        assert await response.read() == b""
    assert served.stop.is_set()


async def test_every_new_route_refuses_anonymous_clients(served: Served) -> None:
    tables = (reset_routes, sse_routes, restart_routes, prometheus_routes)
    found = [(route.method, route.path) for table in tables for route in table if isinstance(route, web.RouteDef)]
    assert len(found) == 11
    for method, path in found:
        async with served.session.request(method, served.url + path.replace("{id}", "x1")) as response:
            assert response.status == 401, f"{method} {path}"
            assert response.headers["WWW-Authenticate"] == 'Basic realm="Secure Area"'
    assert not served.stop.is_set()


async def test_the_history_route(served: Served) -> None:
    served.metrics.record("south:s1", {"numberOfValuesRetrieved": 0})
    await served.metrics.tick()
    url = f"{served.url}/api/engine/metrics/history"
    async with served.session.get(url, headers=AUTH) as response:
        assert response.status == 200
        body = await response.json()
    assert set(body) == {"times", "valuesPerSecond", "filesPerSecond", "cacheSize", "stepS"}
    assert body["times"] == [] and body["stepS"] == 10.0
    for bad in ("0", "61", "x"):
        async with served.session.get(url, params={"minutes": bad}, headers=AUTH) as response:
            assert response.status == 400, bad
            assert "minutes" in (await response.json())["message"]
