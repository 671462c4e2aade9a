"""Ingestion on the paths of older OIBus senders, mapped onto the 3.8+ ingestion path (reference §12).

- v3.0-3.4 ``oibus`` North: ``POST /api/add-values?name=<name>`` (a JSON array of time-values) and
  ``POST /api/add-file?name=<name>`` (multipart field ``file``); 204 once stored.
- v2 ``OIConnect`` North: ``POST /engine/addValues?name=<OIBus>:<North>`` and ``POST /engine/addFile``, same
  bodies; 200 once stored. v2 senders retry only on 400 and 500, so everything they must send again
  answers 500 here (503 and 404 elsewhere).

``name`` (``dataSourceId`` is read too) must be the reference of an external source, else the data is
refused with a message saying how to accept it, and one log line per name until the external sources
change (upstream silently dropped such data). The content is routed like ``/api/content`` content with
``dataSourceId = name``: to the Norths whose ``transformers[]`` has an ``oibus-api`` rule for that name, and
answered only once every one of them stored it durably.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from aiohttp import web

from engine.api.content import answer, receive_file, validate_values
from engine.api.errors import InvalidRequest
from engine.api.keys import REFUSED_NAMES, RUNTIME, STORE
from engine.config.errors import NotFoundError, RefusedError

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class Generation:
    """How one generation of senders is answered."""

    label: str
    ok_status: int
    failure_status: int | None
    unknown_name: type[Exception]
    """Raised for a name that is no external source: 404 for 3.0-3.4 senders, which retry it; 400 for v2 ones."""


V3 = Generation("3.0-3.4", 204, None, NotFoundError)
V2 = Generation("2", 200, 500, RefusedError)


def _external_source(request: web.Request, generation: Generation) -> str:
    """The ``name`` of the request, which must be an external source's reference."""
    name = request.query.get("name") or request.query.get("dataSourceId")
    if not name:
        raise InvalidRequest("Query parameter name is required: the external source the data comes from")
    references = request.app[STORE].external_sources.external_source_references()
    if name in references:
        return name
    if request.app[REFUSED_NAMES].first(name, references):
        log.warning(
            "external_source_unknown",
            name=name,
            path=request.path,
            address=request.remote,
            fix="create an external source with this reference: POST /api/external-sources",
        )
    raise generation.unknown_name(
        f"No external source named {name!r}: data sent under this name is refused until an external source with "
        'this reference exists (POST /api/external-sources {"reference": ...})'
    )


async def _values(request: web.Request, generation: Generation) -> web.Response:
    name = _external_source(request, generation)
    body = await request.read()
    count = validate_values(body, "body")
    result = await request.app[RUNTIME].ingest_values(body, count, data_source_id=name, north_ids=None)
    return answer(result, name, ok_status=generation.ok_status, failure_status=generation.failure_status)


async def _file(request: web.Request, generation: Generation) -> web.Response:
    name = _external_source(request, generation)
    result = await receive_file(request, name, None)
    return answer(result, name, ok_status=generation.ok_status, failure_status=generation.failure_status)


@routes.post("/api/add-values")
async def add_values(request: web.Request) -> web.Response:
    """3.0-3.4: a JSON array of time-values from the external source ``name``; 204 once stored."""
    return await _values(request, V3)


@routes.post("/api/add-file")
async def add_file(request: web.Request) -> web.Response:
    """3.0-3.4: multipart field ``file`` from the external source ``name``; 204 once stored."""
    return await _file(request, V3)


@routes.post("/engine/addValues")
async def add_values_v2(request: web.Request) -> web.Response:
    """v2: a JSON array of time-values from ``name`` (``<OIBus>:<North>``); 200 once stored."""
    return await _values(request, V2)


@routes.post("/engine/addFile")
async def add_file_v2(request: web.Request) -> web.Response:
    """v2: multipart field ``file`` from ``name`` (``<OIBus>:<North>``); 200 once stored."""
    return await _file(request, V2)
