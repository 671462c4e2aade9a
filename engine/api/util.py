"""Small helpers shared by the route modules: JSON in and out, work off the event loop, who asks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import msgspec
from aiohttp import ClientPayloadError, http_exceptions, web

from engine.api.errors import InvalidRequest, json_response
from engine.api.keys import USER
from engine.config.models import SYSTEM_USER

__all__ = [
    "MALFORMED_MULTIPART",
    "actor",
    "json_response",
    "no_content",
    "offload",
    "query_bool",
    "query_int",
    "read_json",
]

# What aiohttp's multipart and form readers raise on a malformed body: no boundary, a bad or hostile header
# (control characters), bad framing, a body cut short. A client error, answered 400 naming the body.
MALFORMED_MULTIPART = (ValueError, AssertionError, http_exceptions.HttpProcessingError, ClientPayloadError)

P = ParamSpec("P")
R = TypeVar("R")


_EXACT_INTEGERS = 2**53


def _json_number(text: str) -> int | float:
    # JSON has one number type: ``3.0`` is the integer 3 to a JSON Schema, and a client (or a JavaScript
    # ``JSON.stringify``) may send it so. An integral value a float holds exactly becomes an int, so an
    # integer field takes it; a float field takes the int as well.
    value = float(text)
    return int(value) if value.is_integer() and abs(value) <= _EXACT_INTEGERS else value


_BODY_DECODER = msgspec.json.Decoder(float_hook=_json_number)


async def read_json(request: web.Request) -> Any:
    """Decode the JSON body; ``InvalidRequest`` names the problem (empty, truncated, malformed)."""
    raw = await request.read()
    if not raw.strip():
        raise InvalidRequest("Invalid JSON payload: the body is empty")
    try:
        return _BODY_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError) as err:
        # msgspec raises RecursionError for JSON nested deeper than it decodes (``[[[[...]]]]``).
        raise InvalidRequest(f"Invalid JSON payload: {err}") from err


def no_content() -> web.Response:
    """Return an empty 204 answer."""
    return web.Response(status=204)


async def offload(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a blocking store call in a thread so a large configuration never stalls the event loop."""
    return await asyncio.to_thread(func, *args, **kwargs)


def query_bool(request: web.Request, name: str) -> bool | None:
    """Read an optional ``true``/``false`` query parameter."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidRequest(f"Query parameter {name} must be true or false, got {value!r}")


# Page numbers and counts end up in SQL ``LIMIT``/``OFFSET`` (64-bit) after a multiplication by a page size:
# a bound far below that keeps a huge number a client error instead of an overflow.
QUERY_INT_MAX = 2**31 - 1


def query_int(request: web.Request, name: str, default: int) -> int:
    """Read an optional integer query parameter between 0 and ``QUERY_INT_MAX``."""
    value = request.query.get(name)
    if value is None or value == "":
        return default
    # Digits only, and few of them: int() of a 5,000-digit string is refused (or slow) by Python itself.
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else -1
    if not 0 <= number <= QUERY_INT_MAX:
        raise InvalidRequest(f"Query parameter {name} must be an integer from 0 to {QUERY_INT_MAX}, got {value[:40]!r}")
    return number


def actor(request: web.Request) -> str:
    """Return the id of the user making ``request`` (``system`` when unauthenticated)."""
    user: str = request.get(USER, SYSTEM_USER)
    return user
