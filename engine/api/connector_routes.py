"""Routes South and North share, and what every connector route does after a stored change.

``connector_routes(kind, calls)`` returns a table holding ``/api/{kind}/types``, ``/manifests/{type}``, the list,
create, read, ``start`` and ``stop``; ``routes_south`` and ``routes_north`` add their own routes to it. After each
stored change the runtime reconciles the connector's worker, and the Norths whose routing the change touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import msgspec
from aiohttp import web

from engine.api.keys import RUNTIME, STORE
from engine.api.util import actor, json_response, no_content, offload, read_json
from engine.config.manifests import Kind
from engine.config.models import ConnectorHeaderDTO
from engine.config.store import ConfigStore

P = ParamSpec("P")
DtoT = TypeVar("DtoT", bound=ConnectorHeaderDTO)


class _Create(Protocol):
    def __call__(self, store: ConfigStore, body: Any, /, *, actor: str) -> ConnectorHeaderDTO: ...


class _SetEnabled(Protocol):
    def __call__(self, store: ConfigStore, connector_id: str, enabled: bool, /, *, actor: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ConnectorCalls:
    """The store methods of one kind behind the shared routes (``store.souths.list_souths``, ...)."""

    list_all: Callable[[ConfigStore], Iterable[ConnectorHeaderDTO]]
    create: _Create
    read: Callable[[ConfigStore, str], ConnectorHeaderDTO]
    set_enabled: _SetEnabled


async def reconcile(request: web.Request, kind: Kind, connector_id: str, norths: Iterable[str] = ()) -> None:
    """Make the worker of the connector, then those of ``norths``, match the stored configuration."""
    runtime = request.app[RUNTIME]
    if kind == "south":
        await runtime.reconcile_south(connector_id)
    else:
        await runtime.reconcile_north(connector_id)
    for north_id in norths:
        await runtime.reconcile_north(north_id)


async def reconciled(request: web.Request, kind: Kind, norths: Iterable[str] = ()) -> web.Response:
    """Reconcile the connector of the path's ``{id}`` (then ``norths``) after a stored change; 204."""
    await reconcile(request, kind, request.match_info["id"], norths)
    return no_content()


async def changed(
    request: web.Request,
    kind: Kind,
    change: Callable[Concatenate[str, P], object],
    *args: P.args,
    **kwargs: P.kwargs,
) -> web.Response:
    """Apply ``change(id, ...)`` to the connector of the path's ``{id}`` in the store, then reconcile it; 204."""
    await offload(change, request.match_info["id"], *args, **kwargs)
    return await reconciled(request, kind)


def _with_state(request: web.Request, kind: Kind, connector: DtoT) -> DtoT:
    return msgspec.structs.replace(connector, state=request.app[RUNTIME].connector_state(kind, connector.id))


def connector_routes(kind: Kind, calls: ConnectorCalls) -> web.RouteTableDef:
    """Return a route table with the routes of ``/api/{kind}`` every connector kind has."""
    routes = web.RouteTableDef()
    base = f"/api/{kind}"

    @routes.get(f"{base}/types")
    async def list_types(request: web.Request) -> web.Response:
        """Every available type (id, name, category, description; modes of a South, content types of a North)."""
        return json_response(await offload(request.app[STORE].connectors.connector_types, kind))

    @routes.get(f"{base}/manifests/{{type}}")
    async def get_manifest(request: web.Request) -> web.Response:
        """The manifest of a type (settings JSON Schema, and item settings JSON Schema for a South)."""
        return json_response(
            await offload(request.app[STORE].connectors.connector_manifest, kind, request.match_info["type"])
        )

    @routes.get(base)
    async def list_connectors(request: web.Request) -> web.Response:
        """Every connector (light form) with its worker state."""
        found = await offload(calls.list_all, request.app[STORE])
        return json_response([_with_state(request, kind, connector) for connector in found])

    @routes.post(base)
    async def create_connector(request: web.Request) -> web.Response:
        """Create a connector (a South with its groups and items); 201 with it."""
        body = await read_json(request)
        created = await offload(calls.create, request.app[STORE], body, actor=actor(request))
        await reconcile(request, kind, created.id)
        return json_response(_with_state(request, kind, created), status=201)

    # The OpenAPI summary comes from the docstring: say what this kind's body creates.
    create_connector.__doc__ = (
        "Create a South connector with its groups and items; 201 with it."
        if kind == "south"
        else "Create a North connector with its caching and routing rules (transformers); 201 with it."
    )

    @routes.get(f"{base}/{{id}}")
    async def get_connector(request: web.Request) -> web.Response:
        """One connector (secrets blank) with its worker state."""
        connector = await offload(calls.read, request.app[STORE], request.match_info["id"])
        return json_response(_with_state(request, kind, connector))

    async def set_enabled(request: web.Request, enabled: bool) -> web.Response:
        await offload(calls.set_enabled, request.app[STORE], request.match_info["id"], enabled, actor=actor(request))
        return await reconciled(request, kind)

    @routes.post(f"{base}/{{id}}/start")
    async def start_connector(request: web.Request) -> web.Response:
        """Enable a connector and start its worker."""
        return await set_enabled(request, True)

    @routes.post(f"{base}/{{id}}/stop")
    async def stop_connector(request: web.Request) -> web.Response:
        """Disable a connector and stop its worker."""
        return await set_enabled(request, False)

    return routes
