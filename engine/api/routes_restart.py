"""``POST /api/engine/restart`` (reference §6.4): answer 204, then stop gracefully and exit 0.

The launcher starts the engine again at once after a clean exit (``launcher.cli``). The route asks for the
restart as the OIAnalytics commands do (``engine.upgrade.request_restart``): the usual graceful stop follows,
as for SIGTERM.
"""

from __future__ import annotations

from aiohttp import web

from engine.api.keys import STOP_ENGINE
from engine.api.util import actor
from engine.upgrade import request_restart

routes = web.RouteTableDef()


@routes.post("/api/engine/restart")
async def restart_engine(request: web.Request) -> web.StreamResponse:
    """Stop the engine once the answer is on its way; the launcher starts it again."""
    response = web.StreamResponse(status=204)
    # Written before stopping: the client gets its answer even though the server goes away right after.
    await response.prepare(request)
    await response.write_eof()
    request_restart(request.app[STOP_ENGINE], reason="api", user=actor(request))
    return response
