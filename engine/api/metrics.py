"""``GET /metrics``: connector metrics in Prometheus text format, for operators who already scrape.

Authenticated like ``/api``. Every numeric metric of a connector becomes a gauge
``oibus_<kind>_<metric_in_snake_case>{id="<connector id>"}``; the supervision state (``oibus_<kind>_state``)
and the connector's own state (``oibus_<kind>_connector_state``: connecting, connected, retrying, fatal)
are labelled gauges.
With a metrics store (``METRICS``), counters are the persisted cumulative ones (they survive worker and
engine restarts, and go back to zero on a reset), every configured connector is listed, running or not, and
the engine's own metrics come as ``oibus_engine_<metric>`` without labels. Without one, each running
worker's latest report is served as it is.

The text is rendered at most once a second (``METRICS_TEXT``): metrics are flushed about that often, and a
scraper or a busy dashboard must not make every request read the store. Each request is still
authenticated, so a changed password is refused at once.
"""

from __future__ import annotations

import re

from aiohttp import web

from engine.api.keys import METRICS, METRICS_TEXT, RUNTIME, STORE
from engine.api.util import offload
from engine.metrics.model import Kind

routes = web.RouteTableDef()

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _name(kind: str, metric: str) -> str:
    return f"oibus_{kind}_{_CAMEL.sub('_', metric).lower()}"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(metrics: dict[str, dict[str, object]]) -> str:
    """The Prometheus exposition text of ``metrics`` (``{"north:<id>": {...}, "engine": {...}}``)."""
    samples: dict[str, list[str]] = {}
    for key, values in sorted(metrics.items()):
        kind, _, connector_id = key.partition(":")
        labels = f'id="{_label(connector_id)}"' if connector_id else ""
        for metric, value in values.items():
            if metric in ("state", "connectorState") and isinstance(value, str):
                name = _name(kind, metric)
                samples.setdefault(name, []).append(f'{name}{{{labels},state="{_label(value)}"}} 1')
            elif isinstance(value, int | float) and not isinstance(value, bool):
                name = _name(kind, metric)
                samples.setdefault(name, []).append(f"{name}{{{labels}}} {value}" if labels else f"{name} {value}")
    lines: list[str] = []
    for name, rows in samples.items():
        lines.append(f"# TYPE {name} gauge")
        lines.extend(rows)
    return "\n".join(lines) + "\n"


async def _persisted(request: web.Request) -> dict[str, dict[str, object]]:
    """The persisted rows of every configured connector with its supervision state, and the engine row."""
    runtime, store, metrics = request.app[RUNTIME], request.app[STORE], request.app[METRICS]
    live = runtime.connector_metrics()
    configured: list[tuple[Kind, list[str]]] = [
        ("south", [south.id for south in await offload(store.souths.list_souths)]),
        ("north", [north.id for north in await offload(store.norths.list_norths)]),
    ]
    rows: dict[str, dict[str, object]] = {}
    for kind, ids in configured:
        for connector_id in ids:
            key = f"{kind}:{connector_id}"
            worker = live.get(key) or runtime.connector_state(kind, connector_id)
            rows[key] = {
                **metrics.get(kind, connector_id),
                "state": worker.get("state"),
                "restarts": worker.get("restarts", 0),
                "connectorState": worker.get("connectorState") or (worker.get("connector") or {}).get("state"),
            }
    rows["engine"] = metrics.engine()
    return rows


@routes.get("/metrics")
async def get_metrics(request: web.Request) -> web.Response:
    """Serve the metrics of every connector and of the engine."""

    async def rendered() -> str:
        if METRICS in request.app:
            return render(await _persisted(request))
        return render(request.app[RUNTIME].connector_metrics())

    return web.Response(text=await request.app[METRICS_TEXT].get(rendered), content_type="text/plain")
