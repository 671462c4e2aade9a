"""Transformer routes at upstream's paths: types, manifests, search, list, custom CRUD, tests, input templates.

The standard transformers are listed beside the stored custom ones. A test of a custom transformer runs it
in the sandbox process (:mod:`engine.sandbox`), exactly as a North would; a test of a standard one runs its
Python function.
"""

from __future__ import annotations

import math

import msgspec
from aiohttp import web

from connectors.errors import SettingsError
from engine.api.keys import SANDBOX, STORE
from engine.api.util import actor, json_response, no_content, offload, query_int, read_json
from engine.config.base import require_object
from engine.config.errors import NotFoundError
from engine.config.models import (
    INPUT_TYPES,
    STANDARD_TRANSFORMERS,
    CustomTransformerDTO,
    Page,
    StandardTransformerDTO,
)
from engine.config.validation import try_convert
from engine.routing.transformers import STANDARD
from engine.sandbox.templates import TEMPLATES
from engine.sandbox.testing import CustomTransformerTest, TransformerTestRequest, run_custom, run_standard

routes = web.RouteTableDef()

PAGE_SIZE = 10
"""Upstream pages transformer searches by 10."""

TransformerDTO = StandardTransformerDTO | CustomTransformerDTO


def _all(request: web.Request) -> list[TransformerDTO]:
    return [*STANDARD_TRANSFORMERS.values(), *request.app[STORE].custom_transformers.list_custom_transformers()]


def _find(request: web.Request, transformer_id: str) -> TransformerDTO:
    standard = STANDARD_TRANSFORMERS.get(transformer_id)
    return (
        standard
        if standard is not None
        else request.app[STORE].custom_transformers.get_custom_transformer(transformer_id)
    )


@routes.get("/api/transformers/types")
async def list_types(request: web.Request) -> web.Response:
    """Every standard transformer type: ``[{id, inputType, outputType}]``."""
    return json_response(
        [{"id": key, "inputType": value.input_type, "outputType": value.output_type} for key, value in STANDARD.items()]
    )


@routes.get("/api/transformers/manifests/{type}")
async def get_manifest(request: web.Request) -> web.Response:
    """A standard transformer's manifest: its types and the JSON Schema of its options."""
    found = STANDARD.get(request.match_info["type"])
    if found is None:
        raise NotFoundError(f"Transformer manifest {request.match_info['type']} not found")
    return json_response(
        {
            "id": found.id,
            "inputType": found.input_type,
            "outputType": found.output_type,
            "settings": msgspec.json.schema(found.options),
        }
    )


@routes.get("/api/transformers/search")
async def search(request: web.Request) -> web.Response:
    """Transformers filtered by ``type``, ``inputType`` and ``outputType``, 10 a page from ``page`` 0."""
    query = request.query
    page = query_int(request, "page", 0)
    found = [
        dto
        for dto in await offload(_all, request)
        if query.get("type") in (None, "", _type(dto))
        and query.get("inputType") in (None, "", dto.input_type)
        and query.get("outputType") in (None, "", dto.output_type)
    ]
    return json_response(
        Page(
            content=found[page * PAGE_SIZE : (page + 1) * PAGE_SIZE],
            size=PAGE_SIZE,
            number=page,
            total_elements=len(found),
            total_pages=math.ceil(len(found) / PAGE_SIZE),
        )
    )


def _type(dto: TransformerDTO) -> str:
    return "standard" if isinstance(dto, StandardTransformerDTO) else "custom"


@routes.get("/api/transformers/list")
async def list_all(request: web.Request) -> web.Response:
    """Every transformer, standard ones first."""
    return json_response(await offload(_all, request))


@routes.get("/api/transformers/template/{inputType}")
async def get_template(request: web.Request) -> web.Response:
    """A sample input and the skeleton of a transformer for ``inputType`` (``any``, ``time-values``, ``setpoint``)."""
    input_type = request.match_info["inputType"]
    if input_type not in INPUT_TYPES:
        raise SettingsError({"inputType": f"expected one of {', '.join(INPUT_TYPES)}"})
    return json_response(TEMPLATES[input_type])


@routes.post("/api/transformers/test")
async def test_unsaved(request: web.Request) -> web.Response:
    """Run a custom transformer that is not saved yet on ``testRequest.inputData``."""
    errors: dict[str, str] = {}
    body = try_convert(require_object(await read_json(request)), CustomTransformerTest, "", errors)
    if errors or body is None:
        raise SettingsError(errors)
    command = body.command
    return json_response(
        await run_custom(
            request.app[SANDBOX], command.custom_code, command.output_type, command.timeout, body.test_request
        )
    )


@routes.get("/api/transformers/{id}")
async def get_transformer(request: web.Request) -> web.Response:
    """One transformer, standard or custom."""
    return json_response(await offload(_find, request, request.match_info["id"]))


@routes.post("/api/transformers")
async def create_transformer(request: web.Request) -> web.Response:
    """Store a custom transformer; 201 with it."""
    body = await read_json(request)
    created = await offload(
        request.app[STORE].custom_transformers.create_custom_transformer, body, actor=actor(request)
    )
    return json_response(created, status=201)


@routes.put("/api/transformers/{id}")
async def update_transformer(request: web.Request) -> web.Response:
    """Replace a custom transformer; 204 (standard ones cannot be changed: 404)."""
    body = await read_json(request)
    await offload(
        request.app[STORE].custom_transformers.update_custom_transformer,
        request.match_info["id"],
        body,
        actor=actor(request),
    )
    return no_content()


@routes.delete("/api/transformers/{id}")
async def delete_transformer(request: web.Request) -> web.Response:
    """Delete a custom transformer no North rule uses; 204."""
    await offload(request.app[STORE].custom_transformers.delete_custom_transformer, request.match_info["id"])
    return no_content()


@routes.post("/api/transformers/{id}/test")
async def test_transformer(request: web.Request) -> web.Response:
    """Run a stored (or standard) transformer on ``inputData`` with ``options``."""
    errors: dict[str, str] = {}
    test = try_convert(require_object(await read_json(request)), TransformerTestRequest, "", errors)
    if errors or test is None:
        raise SettingsError(errors)
    found = await offload(_find, request, request.match_info["id"])
    if isinstance(found, CustomTransformerDTO):
        return json_response(
            await run_custom(request.app[SANDBOX], found.custom_code, found.output_type, found.timeout, test)
        )
    return json_response(run_standard(found.id, test))
