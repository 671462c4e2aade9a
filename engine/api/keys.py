"""Typed keys of the aiohttp application and request state (the only way handlers reach shared objects)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from engine.api.credentials import CredentialCache
from engine.api.ip_allow import IpFilter
from engine.api.refusals import RefusedNames
from engine.api.sse import LiveStreams
from engine.api.throttle import LoginThrottle
from engine.api.tokens import TokenSigner
from engine.api.ttl_cache import TtlCache
from engine.config.store import ConfigStore
from engine.history_query.runs import HistoryRuns
from engine.info import EngineInfo
from engine.logs.database import LogStore
from engine.logs.pipeline import LogPipeline
from engine.metrics.store import MetricsStore
from engine.runtime import Runtime
from engine.sandbox.client import SandboxClient

if TYPE_CHECKING:
    from engine.oianalytics.agent import OIAnalyticsAgent

STORE = web.AppKey("store", ConfigStore)
"""The configuration store."""

# A Protocol cannot be passed where mypy expects a concrete class, hence the annotation form.
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
"""The running engine (reconciles workers after each stored change)."""

INFO = web.AppKey("info", EngineInfo)
"""Facts about this engine process for ``GET /api/engine/info``."""

CREDENTIALS = web.AppKey("credentials", CredentialCache)
"""Basic-auth credentials already verified with argon2."""

IP_FILTER = web.AppKey("ip_filter", IpFilter)
"""The compiled IP filters (follows the store's addresses)."""

REFUSED_NAMES = web.AppKey("refused_names", RefusedNames)
"""Names of unknown external sources already logged (one warning per name until the sources change)."""

TOKENS = web.AppKey("tokens", TokenSigner)
"""Issues and checks the Bearer tokens of ``POST /api/users/authentication``."""

THROTTLE = web.AppKey("throttle", LoginThrottle)
"""Failed logins per client address (429 once too many)."""

LOGS = web.AppKey("logs", LogStore)
"""Reads of ``logs/logs.db`` for ``/api/logs``."""

LOG_PIPELINE = web.AppKey("log_pipeline", LogPipeline)
"""The running log pipeline (levels and sinks change live when the engine settings do)."""

METRICS = web.AppKey("metrics", MetricsStore)
"""The persisted connector and engine metrics (``logs/metrics.db``): resets, live streams, ``/metrics``."""

METRICS_TEXT: web.AppKey[TtlCache[str]] = web.AppKey("metrics_text")
"""The Prometheus text of ``/metrics`` rendered less than a second ago (scrapers ask more often than it changes)."""

LIVE_STREAMS = web.AppKey("live_streams", LiveStreams)
"""The open ``/sse`` streams (ended when the application shuts down)."""

STOP_ENGINE = web.AppKey("stop_engine", asyncio.Event)
"""Set to stop the engine gracefully; it then exits 0, which the launcher takes as a restart request."""

OIANALYTICS: web.AppKey[OIAnalyticsAgent] = web.AppKey("oianalytics")
"""The OIAnalytics agent (registration, commands, messages, log forwarding)."""

SANDBOX = web.AppKey("sandbox", SandboxClient)
"""The custom transformer sandbox process the test routes run in (started on first use)."""

UI_ROUTES: web.AppKey[frozenset[web.AbstractRoute]] = web.AppKey("ui_routes")
"""The routes the ``ui`` given to ``create_app`` added (pages, static files): not part of the REST API."""

USER = web.RequestKey("user", str)
"""Id of the authenticated user of a request (recorded as ``createdBy``/``updatedBy``)."""

HISTORY: web.AppKey[HistoryRuns] = web.AppKey("history")
"""The running history queries (start, pause, progress, tests and cache operations)."""
