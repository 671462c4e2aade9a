"""HTTP transport to OIAnalytics, shared by the OIAnalytics agent, the North and the South ``oianalytics``.

Every request follows the protocol's common rules: ``User-Agent: OIBus/<version> (...)``, the API gateway
header and path prefix when the registration uses one (the prefix is concatenated before the endpoint and
the path of ``host`` is dropped, as WHATWG URL resolution does upstream), the proxy (with its credentials)
and ``acceptUnauthorized`` applied to both the target and the proxy, and a non-2xx answer turned into an
error whose message is ``"<status> - <body>"`` (two consumers match on it). Environment proxies are ignored.

The connectors get the registration through ``ConnectorContext.extra["oianalytics"]`` (``OIAConnectionInfo``
wire form), filled by the engine: they never read the engine's store.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import aiohttp
import msgspec

from connectors.errors import (
    ConnectorConnectionError,
    ConnectorError,
    ConnectorFatal,
    ConnectorNotReady,
    ConnectorTimeout,
    SettingsError,
)
from connectors.manifest import SECRET

__all__ = [
    "RETRYABLE_STATUSES",
    "OIAClient",
    "OIAConnection",
    "OIAHttpError",
    "OIASpecificSettings",
    "SpecificSettings",
    "TimeoutSeconds",
    "UseOiaModule",
    "connection_for",
    "start_connection",
    "test_status",
]

RETRYABLE_STATUSES = frozenset({401, 403, 404, 407, 408, 429, 500, 502, 503, 504, 511})
"""Statuses a North retries forever (upstream's ``retryableHttpStatusCodes``)."""

EXTRA_KEY = "oianalytics"
"""Key of ``ConnectorContext.extra`` holding the registration's connection (``OIAConnection.to_wire``)."""

NOT_REGISTERED = "OIBus not registered in OIAnalytics"


class OIAHttpError(ConnectorError):
    """OIAnalytics answered with a non-2xx status; the message is ``"<status> - <body>"`` as upstream."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status} - {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class OIAConnection:
    """Where and how to reach OIAnalytics (secrets excluded from ``repr``)."""

    host: str
    user_agent: str = "OIBus"
    accept_unauthorized: bool = False
    use_proxy: bool = False
    proxy_url: str | None = None
    proxy_username: str | None = None
    proxy_password: str | None = field(default=None, repr=False)
    gateway_header_key: str | None = None
    gateway_header_value: str | None = field(default=None, repr=False)
    gateway_prefix: str = ""
    authorization: str | None = field(default=None, repr=False)
    """The whole ``Authorization`` value (``Bearer ...``, ``Basic ...``), or None for none."""
    timeout_s: float = 30.0

    def url(self, endpoint: str) -> str:
        """``host`` (scheme and authority only) + gateway prefix + ``endpoint``; an absolute ``endpoint`` wins."""
        if endpoint.startswith(("http://", "https://")) and not self.gateway_prefix:
            return endpoint
        parts = urlsplit(self.host)
        if not parts.scheme or not parts.netloc:
            raise SettingsError({"host": f"must be an http(s) URL, got {self.host!r}"})
        path = self.gateway_prefix + (endpoint if endpoint.startswith("/") else "/" + endpoint)
        return f"{parts.scheme}://{parts.netloc}{path}"

    def headers(self) -> dict[str, str]:
        """The headers every request carries."""
        headers = {"User-Agent": self.user_agent}
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        if self.gateway_header_key:
            headers[self.gateway_header_key] = self.gateway_header_value or ""
        return headers

    def with_token(self, token: str) -> OIAConnection:
        """Return this connection with ``Authorization: Bearer <token>`` (a token already prefixed is kept as is)."""
        value = token if token.startswith("Bearer ") else f"Bearer {token}"
        return replace(self, authorization=value)

    def to_wire(self) -> dict[str, Any]:
        """The form handed to workers (inside ``ConnectorContext.extra``)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> OIAConnection:
        """Inverse of ``to_wire`` (unknown keys ignored)."""
        return cls(**{name: wire[name] for name in cls.__dataclass_fields__ if name in wire})

    def _proxy(self) -> tuple[str | None, aiohttp.BasicAuth | None]:
        if not self.use_proxy:
            return None, None
        if not self.proxy_url:
            raise SettingsError({"proxyUrl": "Proxy URL not specified using registered OIAnalytics module"})
        if not self.proxy_username:
            return self.proxy_url, None
        try:
            return self.proxy_url, aiohttp.BasicAuth(self.proxy_username, self.proxy_password or "")
        except ValueError as err:
            # Basic auth joins login and password with a colon: a login holding one cannot be sent.
            raise SettingsError({"proxyUsername": str(err)}) from err

    def session(self) -> aiohttp.ClientSession:
        """A session for one exchange (TLS checks off when ``accept_unauthorized``, environment proxies ignored)."""
        connector = aiohttp.TCPConnector(ssl=not self.accept_unauthorized)
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        json: Any = None,
        data: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> bytes:
        """One exchange; returns the body of a 2xx answer.

        Raises ``OIAHttpError`` for another status, ``ConnectorConnectionError``/``ConnectorTimeout`` when
        OIAnalytics cannot be reached, ``SettingsError`` for an unusable host or proxy.
        """
        url = self.url(endpoint)
        all_headers = self.headers()
        body = data
        if json is not None:
            body = msgspec.json.encode(json)
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)
        proxy, proxy_auth = self._proxy()
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        try:
            async with (
                self.session() as session,
                session.request(
                    method,
                    url,
                    data=body,
                    params=params,
                    headers=all_headers,
                    proxy=proxy,
                    proxy_auth=proxy_auth,
                    timeout=timeout,
                ) as response,
            ):
                raw = await response.read()
                if not 200 <= response.status <= 299:
                    raise OIAHttpError(response.status, raw.decode(errors="replace"))
                return raw
        except TimeoutError as err:
            raise ConnectorTimeout(f"{method} {url}: no answer within {timeout.total:g} s") from err
        except aiohttp.InvalidURL as err:
            # A host no request can be sent to (``http://0``): the settings are wrong, retrying will not help.
            raise SettingsError({"host": f"not a usable URL: {err}"}) from err
        except (aiohttp.ClientError, OSError) as err:
            raise ConnectorConnectionError(f"{method} {url}: {str(err) or type(err).__name__}") from err

    async def download(self, endpoint: str, target: Path, *, params: Any = None, timeout_s: float = 900.0) -> int:
        """Stream the body of a GET into ``target``; returns its size. Errors as ``request``."""
        url = self.url(endpoint)
        proxy, proxy_auth = self._proxy()
        size = 0
        try:
            async with (
                self.session() as session,
                session.get(
                    url,
                    params=params,
                    headers=self.headers(),
                    proxy=proxy,
                    proxy_auth=proxy_auth,
                    timeout=aiohttp.ClientTimeout(total=timeout_s),
                ) as response,
            ):
                if not 200 <= response.status <= 299:
                    raise OIAHttpError(response.status, (await response.read()).decode(errors="replace"))
                with target.open("wb") as file:
                    async for chunk in response.content.iter_chunked(256 * 1024):
                        file.write(chunk)
                        size += len(chunk)
        except TimeoutError as err:
            raise ConnectorTimeout(f"GET {url}: not downloaded within {timeout_s:g} s") from err
        except (aiohttp.ClientError, OSError) as err:
            raise ConnectorConnectionError(f"GET {url}: {str(err) or type(err).__name__}") from err
        return size


# --- Connector settings (North and South ``oianalytics``) ------------------------------------------------

Authentication = Literal["basic", "aad-client-secret", "aad-certificate"]


class OIASpecificSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``specificSettings``: how to reach OIAnalytics without the registration (``useOiaModule`` false)."""

    host: Annotated[str, msgspec.Meta(title="Host", description="OIAnalytics URL.")] = (
        "https://instance_name.oianalytics.fr"
    )
    accept_unauthorized: Annotated[
        bool, msgspec.Meta(title="Accept unauthorized", description="Accept invalid TLS certificates.")
    ] = False
    authentication: Annotated[
        Authentication,
        msgspec.Meta(title="Authentication", description="basic (access and secret keys) or Azure AD."),
    ] = "basic"
    access_key: Annotated[str | None, msgspec.Meta(title="Access key")] = None
    secret_key: Annotated[str | None, msgspec.Meta(title="Secret key"), SECRET] = None
    tenant_id: Annotated[str | None, msgspec.Meta(title="Tenant id")] = None
    client_id: Annotated[str | None, msgspec.Meta(title="Client id")] = None
    client_secret: Annotated[str | None, msgspec.Meta(title="Client secret"), SECRET] = None
    certificate_id: Annotated[str | None, msgspec.Meta(title="Certificate id")] = None
    scope: Annotated[str | None, msgspec.Meta(title="Scope")] = None
    use_proxy: Annotated[bool, msgspec.Meta(title="Use proxy")] = False
    proxy_url: Annotated[str | None, msgspec.Meta(title="Proxy URL")] = None
    proxy_username: Annotated[str | None, msgspec.Meta(title="Proxy username")] = None
    proxy_password: Annotated[str | None, msgspec.Meta(title="Proxy password"), SECRET] = None


UseOiaModule = Annotated[
    bool,
    msgspec.Meta(
        title="Use OIAnalytics module",
        description="Use the registration (host, token, proxy, gateway) instead of specific settings.",
    ),
]
TimeoutSeconds = Annotated[
    int, msgspec.Meta(ge=1, le=3600, title="Timeout", description="Request timeout.", extra={"unit": "s"})
]
SpecificSettings = Annotated[
    OIASpecificSettings | None,
    msgspec.Meta(title="Specific settings", description="Used when useOiaModule is false."),
]


def connection_for(
    use_oia_module: bool,
    specific: OIASpecificSettings | None,
    extra: Mapping[str, Any],
    timeout_s: float,
) -> OIAConnection:
    """The connection a North or South ``oianalytics`` uses.

    With ``use_oia_module``: the registration's (Bearer token, gateway header and prefix, proxy, TLS);
    ``ConnectorError("OIBus not registered in OIAnalytics")`` when not registered. Otherwise the
    ``specificSettings`` with Basic credentials; the registration's gateway *prefix* is still applied (but
    not its header), as upstream does.
    """
    wire = extra.get(EXTRA_KEY) or {}
    user_agent = str(wire.get("userAgent") or "OIBus")
    if use_oia_module:
        registration = wire.get("registration")
        if not registration:
            raise ConnectorError(NOT_REGISTERED)
        return replace(OIAConnection.from_wire(registration), timeout_s=timeout_s)
    if specific is None:
        raise SettingsError({"specificSettings": "required when useOiaModule is false"})
    if specific.authentication != "basic":
        raise SettingsError(
            {"specificSettings.authentication": f"{specific.authentication} is not supported by this version"}
        )
    authorization = None
    if specific.access_key:
        pair = f"{specific.access_key}:{specific.secret_key or ''}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode()
    return OIAConnection(
        host=specific.host,
        user_agent=user_agent,
        accept_unauthorized=specific.accept_unauthorized,
        use_proxy=specific.use_proxy,
        proxy_url=specific.proxy_url,
        proxy_username=specific.proxy_username,
        proxy_password=specific.proxy_password,
        gateway_prefix=str(wire.get("gatewayPrefix") or ""),
        authorization=authorization,
        timeout_s=timeout_s,
    )


def start_connection(
    use_oia_module: bool, specific: OIASpecificSettings | None, extra: Mapping[str, Any], timeout_s: float
) -> OIAConnection:
    """``connection_for`` for a connector's ``start``: bad settings are fatal, not registered yet is retried."""
    try:
        return connection_for(use_oia_module, specific, extra, timeout_s)
    except SettingsError as err:
        raise ConnectorFatal(str(err)) from err
    except ConnectorError as err:
        if str(err) == NOT_REGISTERED:
            raise ConnectorNotReady(str(err)) from err
        raise


STATUS_ENDPOINT = "/api/oianalytics/oibus/status"


async def test_status(target: OIAConnection) -> None:
    """A connector's connection test: ``GET /api/oianalytics/oibus/status`` answers 2xx."""
    try:
        await target.request("GET", STATUS_ENDPOINT)
    except OIAHttpError as err:
        raise ConnectorError(f"OIAnalytics answered {err}") from err


class OIAClient:
    """What the North and the South ``oianalytics`` share: resolve the connection at start, test it.

    Mixed in before the connector base class; the connector's settings carry ``useOiaModule``, ``timeout``
    and ``specificSettings``, and its context carries the registration in ``extra``.
    """

    settings: Any
    context: Any
    _target: OIAConnection | None = None

    def _connection(self) -> OIAConnection:
        settings = self.settings
        return connection_for(
            settings.use_oia_module, settings.specific_settings, self.context.extra, float(settings.timeout)
        )

    async def start(self) -> None:
        """Resolve the connection; not registered yet is retried (the registration restarts the connector)."""
        settings = self.settings
        self._target = start_connection(
            settings.use_oia_module, settings.specific_settings, self.context.extra, float(settings.timeout)
        )

    async def stop(self) -> None:
        """Nothing is held between requests."""
        self._target = None

    async def test_connection(self) -> None:
        """``GET /api/oianalytics/oibus/status`` with these settings."""
        await test_status(self._connection())
