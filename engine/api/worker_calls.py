"""Route helpers for what only a connector's worker can do: run connector code, and manage a North's cache.

The engine never runs connector code, and a North's cache belongs to its worker, so these routes ask the
running worker (``Runtime.worker_request``) and translate the outcome into our errors: no running worker →
``ConnectorNotRunning`` (409); a failure reported by the worker, or no answer in time → the error class the
route chose (``ConnectorTestFailed``, 400, for tests).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.errors import OIBusError
from engine.api.errors import ConnectorNotRunning, ConnectorTestFailed
from engine.api.keys import RUNTIME, STORE
from engine.api.util import no_content, offload, read_json
from engine.config.manifests import Kind

TEST_TIMEOUT_S = 30.0
"""How long a connection test may take in the worker."""


async def call_worker(
    request: web.Request,
    kind: Kind,
    connector_id: str,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    why: str,
    timeout_s: float = TEST_TIMEOUT_S,
    failure: type[OIBusError] = ConnectorTestFailed,
    cache: bool = False,
) -> Any:
    """Call ``method`` in the connector's worker; ``why`` completes the 409 message (what needs the worker).

    ``cache``: a North cache operation, which the engine runs itself when the North has no worker.
    """
    runtime = request.app[RUNTIME]
    label = f"{kind.capitalize()} {connector_id}"
    try:
        if cache:
            return await runtime.north_cache_request(connector_id, method, params or {}, timeout_s)
        return await runtime.worker_request(kind, connector_id, method, params or {}, timeout_s)
    except ConnectionError as err:
        # The engine's WorkerGone: disabled, still starting, backing off after a crash, or gone during the call.
        state = runtime.connector_state(kind, connector_id).get("state") or "STOPPED"
        raise ConnectorNotRunning(f"{label} is not running (state {state}): {why}") from err
    except TimeoutError as err:
        raise failure(f"{label} did not answer within {timeout_s:g} s") from err
    except RuntimeError as err:
        # The worker's handler raised: its message is the connector's explanation.
        raise failure(str(err)) from err


async def optional_json(request: web.Request) -> Any:
    """Return the decoded JSON body, or ``None`` when the request has no body."""
    if not (await request.read()).strip():
        return None
    return await read_json(request)


def settings_to_test(body: Any) -> tuple[Any, str | None]:
    """Return the settings a connection-test body holds (``None``: the stored ones) and the type it names.

    Accepted: ``{"settings": {...}, "type"?: ...}`` (a connector command), the settings object itself
    (upstream 3.9 posts the bare settings), or no body / ``{}`` / ``null``.
    """
    if isinstance(body, dict) and isinstance(body.get("settings"), dict):
        type_name = body.get("type")
        return body["settings"], type_name if isinstance(type_name, str) else None
    if body is None or body == {}:
        return None, None
    return body, None


async def test_connection(request: web.Request, kind: Kind) -> web.Response:
    """``POST /api/{kind}/{id}/test/connection``: 204 when the connector reaches its peer, else 400 saying why.

    Settings in the body are tested instead of the stored ones (validated here, an empty secret meaning the
    stored one); the query's ``southType``/``northType`` must then be the stored type. The test runs in the
    connector's worker on an instance built for it, so the connector must be running (409 otherwise).
    """
    store, connector_id = request.app[STORE], request.match_info["id"]
    raw, body_type = settings_to_test(await optional_json(request))
    type_name = request.query.get(f"{kind}Type") or body_type
    params: dict[str, Any] = {}
    if raw is None:
        stored_type = await offload(store.connectors.connector_type, kind, connector_id)
        await offload(store.connectors.stored_manifest, kind, stored_type, type_name)
    else:
        params["settings"] = await offload(
            store.connectors.candidate_settings, kind, connector_id, raw, type_name=type_name
        )
    await call_worker(
        request, kind, connector_id, "test_connection", params, why="connection tests run in the connector's worker"
    )
    return no_content()
