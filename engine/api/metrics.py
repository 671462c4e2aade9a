"""``GET /metrics``: connector metrics in Prometheus text format, for operators who already scrape.

Authenticated like ``/api``. Every numeric metric a worker reports becomes a gauge
``oibus_<kind>_<metric_in_snake_case>{id="<connector id>"}``; the supervision state is a labelled gauge.
"""

from __future__ import annotations

import re

from aiohttp import web

from engine.api.keys import RUNTIME

routes = web.RouteTableDef()

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _name(kind: str, metric: str) -> str:
    return f"oibus_{kind}_{_CAMEL.sub('_', metric).lower()}"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(metrics: dict[str, dict[str, object]]) -> str:
    """The Prometheus exposition text of ``metrics`` (``{"north:<id>": {...}}``)."""
    samples: dict[str, list[str]] = {}
    for key, values in sorted(metrics.items()):
        kind, _, connector_id = key.partition(":")
        labels = f'id="{_label(connector_id)}"'
        for metric, value in values.items():
            if metric == "state" and isinstance(value, str):
                name = f"oibus_{kind}_state"
                samples.setdefault(name, []).append(f'{name}{{{labels},state="{_label(value)}"}} 1')
            elif isinstance(value, int | float) and not isinstance(value, bool):
                name = _name(kind, metric)
                samples.setdefault(name, []).append(f"{name}{{{labels}}} {value}")
    lines: list[str] = []
    for name, rows in samples.items():
        lines.append(f"# TYPE {name} gauge")
        lines.extend(rows)
    return "\n".join(lines) + "\n"


@routes.get("/metrics")
async def get_metrics(request: web.Request) -> web.Response:
    """Serve every worker's latest metrics."""
    return web.Response(text=render(request.app[RUNTIME].connector_metrics()), content_type="text/plain")
