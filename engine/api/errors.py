"""REST error handling: one middleware maps our exception hierarchy to statuses and JSON bodies.

``SettingsError`` → 400 ``{"message", "errors": {path: problem}}``; ``NotFoundError`` → 404 ``{"message"}``;
``RefusedError``/``InvalidRequest``/``ConnectorTestFailed`` → 400 ``{"message"}``; ``ConnectorNotRunning`` → 409
``{"message"}``; ``TryAgainLater`` → 503 ``{"message"}``;
``AuthenticationError`` → its status with upstream's ``{"error", "status"}``; ``AddressRefused`` → 401 text;
aiohttp's own errors under ``/api`` (404, 405, 413) → the same ``{"message"}`` shape; anything else → 500
with a generic message and a log line.
Handlers never build error JSON: they raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from connectors.errors import OIBusError, SettingsError
from engine.config.errors import NotFoundError, RefusedError
from engine.errors import TryAgainLater

log = structlog.get_logger(__name__)

_SHOWN_PATHS = 5
_CHALLENGE = 'Basic realm="Secure Area"'


class InvalidRequest(OIBusError, ValueError):
    """The request itself is malformed: unreadable JSON, a bad query parameter."""


class ConnectorTestFailed(OIBusError):
    """A connection or item test failed; the message is the connector's own explanation (upstream's 400)."""


class ConnectorNotRunning(OIBusError, ConnectionError):
    """The operation needs the connector's worker (it runs connector code, or owns the cache) and it is not running."""


class AuthenticationError(OIBusError, PermissionError):
    """Credentials missing or refused: upstream's ``{"error", "status"}`` answer.

    ``challenge`` adds ``WWW-Authenticate: Basic realm="Secure Area"`` (upstream leaves it out on the login
    route only); ``retry_after`` adds ``Retry-After`` (seconds).
    """

    def __init__(self, error: str, status: int, *, challenge: bool, retry_after: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.challenge = challenge
        self.retry_after = retry_after


class AddressRefused(OIBusError, PermissionError):
    """The client's address passes no IP filter: 401 with upstream's plain-text answer."""

    def __init__(self, address: str) -> None:
        super().__init__(f"Access denied. IP ADDRESS {address} UNAUTHORIZED")
        self.address = address


def summary(errors: dict[str, str]) -> str:
    """Return a one-line summary of validation errors naming the first bad fields."""
    paths = list(errors)
    shown = ", ".join(paths[:_SHOWN_PATHS]) + (", ..." if len(paths) > _SHOWN_PATHS else "")
    return f"{len(paths)} invalid field{'s' if len(paths) != 1 else ''}: {shown}"


def json_response(value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Encode ``value`` (builtins or msgspec Structs) as a JSON response."""
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json", headers=headers
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn raised errors into JSON answers; never let one escape to aiohttp's default page."""
    try:
        return await handler(request)
    except SettingsError as err:
        return json_response({"message": summary(err.errors), "errors": err.errors}, status=400)
    except NotFoundError as err:
        return json_response({"message": str(err)}, status=404)
    except (RefusedError, InvalidRequest, ConnectorTestFailed) as err:
        return json_response({"message": str(err)}, status=400)
    except ConnectorNotRunning as err:
        return json_response({"message": str(err)}, status=409)
    except TryAgainLater as err:
        return json_response({"message": str(err)}, status=err.status, headers={"Retry-After": "5"})
    except AuthenticationError as err:
        headers = {"WWW-Authenticate": _CHALLENGE} if err.challenge else {}
        if err.retry_after is not None:
            headers["Retry-After"] = str(err.retry_after)
        return json_response({"error": err.error, "status": err.status}, status=err.status, headers=headers)
    except AddressRefused as err:
        return web.Response(text=str(err), status=401)
    except web.HTTPException as err:
        if err.status < 400 or not request.path.startswith("/api"):
            raise
        headers = {k: v for k, v in err.headers.items() if k.lower() not in ("content-type", "content-length")}
        return json_response({"message": err.reason}, status=err.status, headers=headers)
    except Exception:
        log.exception("api_request_failed", method=request.method, path=request.path)
        return json_response({"message": "Internal server error"}, status=500)
