"""History queries: the list with each query's status, range and live progress ("interval n of N").

Start, pause and delete are ``[data-api]`` buttons on ``/api/history-queries/{id}/...``; the progress is the
engine's (``HistoryRuns.progress``) when the page is rendered.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.keys import HISTORY, STORE
from engine.api.util import offload
from engine.web.render import page, render

routes = web.RouteTableDef()


@routes.get("/history-queries")
@page
async def history_queries_page(request: web.Request) -> web.Response:
    """Every history query with its status and, while it runs, its progress."""
    queries = await offload(request.app[STORE].history_queries.list_history_queries)
    runs = request.app.get(HISTORY)
    progress: dict[str, dict[str, Any]] = {
        query.id: (runs.progress(query.id).get("historyMetrics") or {}) if runs is not None else {} for query in queries
    }
    return await render(request, "history_queries.html", {"queries": queries, "progress": progress})
