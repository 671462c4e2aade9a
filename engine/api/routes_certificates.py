"""Certificates (reference §6.4): ``GET/POST /api/certificates``, ``GET/PUT/DELETE /api/certificates/{id}``.

Generated self-signed (``options``) or imported from PEM (``certificate`` + ``privateKey``). The private
key is never answered; RSA key generation runs in a thread.
"""

from __future__ import annotations

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import actor, json_response, no_content, offload, read_json

routes = web.RouteTableDef()


@routes.get("/api/certificates")
async def list_certificates(request: web.Request) -> web.Response:
    """Every certificate (no private key)."""
    return json_response(await offload(request.app[STORE].certificates.list_certificates))


@routes.post("/api/certificates")
async def create_certificate(request: web.Request) -> web.Response:
    """Generate or import a certificate; 201 with it."""
    body = await read_json(request)
    created = await offload(request.app[STORE].certificates.create_certificate, body, actor=actor(request))
    return json_response(created, status=201)


@routes.get("/api/certificates/{id}")
async def get_certificate(request: web.Request) -> web.Response:
    """One certificate."""
    return json_response(await offload(request.app[STORE].certificates.get_certificate, request.match_info["id"]))


@routes.put("/api/certificates/{id}")
async def update_certificate(request: web.Request) -> web.Response:
    """Rename, regenerate or replace a certificate; 204."""
    body = await read_json(request)
    await offload(
        request.app[STORE].certificates.update_certificate, request.match_info["id"], body, actor=actor(request)
    )
    return no_content()


@routes.delete("/api/certificates/{id}")
async def delete_certificate(request: web.Request) -> web.Response:
    """Delete a certificate; 204."""
    await offload(request.app[STORE].certificates.delete_certificate, request.match_info["id"])
    return no_content()
