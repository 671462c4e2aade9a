"""What the REST South and North share: authentication, proxy and key/value settings, and the request glue.

aiohttp is used with ``trust_env=False``: only the configured proxy applies, never the environment's.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import aiohttp
import msgspec
import yarl

from connectors.manifest import OptionalSecret

__all__ = [
    "ANSWER_CHARS",
    "KeyValue",
    "RestAuthentication",
    "RestProxy",
    "answer_excerpt",
    "apply_auth",
    "describe",
    "proxy_options",
    "session",
    "url_for",
]

ANSWER_CHARS = 500
"""Characters of a refusal's body quoted in the error."""


class KeyValue(msgspec.Struct, frozen=True, kw_only=True):
    """One query parameter or header."""

    key: Annotated[str, msgspec.Meta(min_length=1, title="Key")]
    value: Annotated[str, msgspec.Meta(title="Value")] = ""


class RestAuthentication(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How requests authenticate: none, basic, bearer, or an API key in a header or a query parameter."""

    type: Annotated[Literal["none", "basic", "bearer", "api-key"], msgspec.Meta(title="Authentication type")] = "none"
    username: Annotated[str | None, msgspec.Meta(title="Username", description="With basic.")] = None
    password: Annotated[OptionalSecret, msgspec.Meta(title="Password", description="With basic.")] = None
    token: Annotated[OptionalSecret, msgspec.Meta(title="Token", description="With bearer.")] = None
    api_key: Annotated[str | None, msgspec.Meta(title="API key name", description="With api-key.")] = None
    api_value: Annotated[OptionalSecret, msgspec.Meta(title="API key value", description="With api-key.")] = None
    add_to: Annotated[
        Literal["header", "query-params"], msgspec.Meta(title="Add to", description="Where the API key goes.")
    ] = "header"

    def __post_init__(self) -> None:
        if self.type == "basic" and not self.username:
            raise ValueError("username is required with basic authentication")
        if self.type == "api-key" and not self.api_key:
            raise ValueError("apiKey is required with api-key authentication")


class RestProxy(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An HTTP proxy to go through (CONNECT for https targets)."""

    use_proxy: Annotated[bool, msgspec.Meta(title="Use proxy")] = False
    proxy_url: Annotated[str | None, msgspec.Meta(title="Proxy URL")] = None
    proxy_username: Annotated[str | None, msgspec.Meta(title="Proxy username")] = None
    proxy_password: Annotated[OptionalSecret, msgspec.Meta(title="Proxy password")] = None

    def __post_init__(self) -> None:
        if self.use_proxy and not self.proxy_url:
            raise ValueError("proxyUrl is required when useProxy is set")


def session(accept_unauthorized: bool, timeout_s: float) -> aiohttp.ClientSession:
    """A session that checks TLS unless ``accept_unauthorized`` and ignores the environment's proxies."""
    connector = aiohttp.TCPConnector(ssl=not accept_unauthorized)
    return aiohttp.ClientSession(connector=connector, trust_env=False, timeout=aiohttp.ClientTimeout(total=timeout_s))


def proxy_options(proxy: RestProxy) -> dict[str, Any]:
    """The ``proxy``/``proxy_headers`` arguments of an aiohttp request (``proxy_auth`` is deprecated)."""
    if not proxy.use_proxy:
        return {}
    options: dict[str, Any] = {"proxy": proxy.proxy_url}
    if proxy.proxy_username:
        # A plain header: aiohttp deprecates ``proxy_auth`` and ``BasicAuth``; this works with every version we accept.
        pair = f"{proxy.proxy_username}:{proxy.proxy_password or ''}".encode()
        options["proxy_headers"] = {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode()}
    return options


def url_for(host: str, endpoint: str) -> yarl.URL:
    """``endpoint`` resolved against ``host``, as a browser (and upstream's ``new URL``) resolves it."""
    return yarl.URL(host).join(yarl.URL(endpoint))


def apply_auth(auth: RestAuthentication, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
    """Add the credentials to the request's headers or query parameters."""
    if auth.type == "basic" and auth.username:
        raw = f"{auth.username}:{auth.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    elif auth.type == "bearer" and auth.token:
        headers["Authorization"] = f"Bearer {auth.token}"
    elif auth.type == "api-key" and auth.api_key and auth.api_value:
        if auth.add_to == "header":
            headers[auth.api_key] = auth.api_value
        else:
            params.append((auth.api_key, auth.api_value))


async def answer_excerpt(response: aiohttp.ClientResponse) -> str:
    """The start of a refusal's body, to explain it in the error (``": <text>"``, or empty)."""
    try:
        text = (await response.text(errors="replace")).strip()
    except (aiohttp.ClientError, TimeoutError):
        return ""
    if len(text) > ANSWER_CHARS:
        text = text[:ANSWER_CHARS] + "..."
    return f": {text}" if text else ""


def describe(err: BaseException) -> str:
    """A short reason for a client error (never the URL's query, which may carry an API key)."""
    if isinstance(err, aiohttp.ClientConnectorError):
        return err.strerror or type(err).__name__
    if isinstance(err, TimeoutError):
        return "timed out"
    if isinstance(err, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return str(err) or type(err).__name__
    # Other client errors may quote the request URL, whose query may hold an API key: name the kind only.
    return type(err).__name__
