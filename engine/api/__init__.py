"""REST API (aiohttp): upstream paths and DTO shapes, IP filters, Basic and token auth, one error middleware."""

from engine.api.app import ROUTE_TABLES, create_app
from engine.info import EngineInfo

__all__ = ["ROUTE_TABLES", "EngineInfo", "create_app"]
