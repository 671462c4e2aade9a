"""HTTP glue of the oibus North: the paths of each OIBus generation, and aiohttp errors turned into ours."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorTimeout, SendError
from connectors.north.oibus.manifest import OIBusSettings

__all__ = ["RETRYABLE_STATUSES", "OIBusClient", "Paths", "basic", "paths_for"]

RETRYABLE_STATUSES = frozenset({401, 403, 404, 407, 408, 429, 500, 502, 503, 504, 511})
"""Answers that mean "not now" (upstream's retryable HTTP statuses): the entry stays in the cache, retried
without limit. Any other refusal counts towards the North's ``retryCount``, then the entry goes to ``error/``.
A 3.8+ receiver answers 503 while one of its Norths cannot store the data, and 404 while none receives it."""

_ANSWER_CHARS = 300


@dataclass(frozen=True, slots=True)
class Paths:
    """Where one generation of OIBus takes values, files and the connection test, and how values are wrapped."""

    values: str
    file: str
    test: str
    query: str
    """The query parameter naming the sender."""
    envelope: bool
    """Values go as ``{"type": "time-values", "content": [...]}`` (3.8+) rather than a bare array."""


_PATHS = {
    "3.8+": Paths("/api/content/content", "/api/content/file", "/api/engine/info", "dataSourceId", envelope=True),
    "3.0-3.4": Paths("/api/add-values", "/api/add-file", "/api/info", "name", envelope=False),
    "2": Paths("/engine/addValues", "/engine/addFile", "/info", "name", envelope=False),
}


def paths_for(target_version: str) -> Paths:
    """The paths of a ``targetVersion``."""
    return _PATHS[target_version]


class OIBusClient:
    """One aiohttp session to the other OIBus; use as ``async with``.

    Proxies from the environment are ignored (``trust_env=False``): the settings say whether to use one.
    """

    def __init__(self, settings: OIBusSettings, source_name: str) -> None:
        self.settings = settings
        self.paths = paths_for(settings.target_version)
        self.base = settings.host.rstrip("/")
        self.params = {self.paths.query: source_name}
        if settings.north_ids:
            # Upstream 3.8+ splits one northId on commas; it and this OIBus store in exactly those Norths.
            self.params["northId"] = ",".join(settings.north_ids)
        self._headers = {"Authorization": basic(settings.username, settings.password)} if settings.username else {}
        self._proxy = settings.proxy_url if settings.use_proxy else None
        self._proxy_headers = (
            {"Proxy-Authorization": basic(settings.proxy_username, settings.proxy_password)}
            if self._proxy and settings.proxy_username
            else None
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OIBusClient:
        connector = aiohttp.TCPConnector(ssl=False) if self.settings.accept_unauthorized else aiohttp.TCPConnector()
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
            headers=self._headers,
            trust_env=False,
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send_values(self, values_json: bytes) -> None:
        """POST a JSON array of time-values (wrapped for 3.8+); ``SendError`` unless the receiver stored it."""
        body = b'{"type":"time-values","content":' + values_json + b"}" if self.paths.envelope else values_json
        await self._send(self.paths.values, data=body, headers={"Content-Type": "application/json"})

    async def send_file(self, path: Path, filename: str) -> None:
        """POST the file at ``path`` as the multipart field ``file`` named ``filename``."""
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except OSError as err:
            raise SendError(f"cannot read cached file {path.name}: {err.strerror or err}") from err
        try:
            form = aiohttp.FormData()
            form.add_field("file", handle, filename=filename, content_type="application/octet-stream")
            await self._send(self.paths.file, data=form)
        finally:
            handle.close()

    async def test(self) -> None:
        """GET the generation's info path with the credentials; raise a ``ConnectorError`` that says what failed."""
        try:
            async with self._request("GET", self.paths.test) as response:
                if response.status < 300:
                    return
                answer = await _answer(response)
        except TimeoutError as err:
            raise ConnectorTimeout(f"{self.base} did not answer within {self.settings.timeout} s") from err
        except aiohttp.ClientError as err:
            raise ConnectorConnectionError(f"cannot reach {self.base}: {_describe(err)}") from err
        if response.status in (401, 403):
            refusal = f"{self.base} refused the credentials or this address (HTTP {response.status}){answer}"
            raise ConnectorError(refusal)
        raise ConnectorError(f"{self.base}{self.paths.test} answered HTTP {response.status}{answer}")

    def _request(self, method: str, path: str, **kwargs: Any) -> aiohttp.client._RequestContextManager:
        if self._session is None:
            raise SendError("client not started", retry_forever=True)
        return self._session.request(
            method, self.base + path, proxy=self._proxy, proxy_headers=self._proxy_headers, **kwargs
        )

    async def _send(self, path: str, **kwargs: Any) -> None:
        try:
            async with self._request("POST", path, params=self.params, **kwargs) as response:
                if response.status < 300:
                    return
                answer = await _answer(response)
        except TimeoutError as err:
            raise SendError(f"{self.base} did not answer within {self.settings.timeout} s", retry_forever=True) from err
        except aiohttp.ClientError as err:
            raise SendError(f"cannot reach {self.base}: {_describe(err)}", retry_forever=True) from err
        raise SendError(
            f"{self.base}{path} answered HTTP {response.status}{answer}",
            retry_forever=response.status in RETRYABLE_STATUSES,
        )


def basic(login: str, password: str | None) -> str:
    """An HTTP Basic ``Authorization`` value (UTF-8, as browsers and aiohttp send it)."""
    return "Basic " + base64.b64encode(f"{login}:{password or ''}".encode()).decode()


async def _answer(response: aiohttp.ClientResponse) -> str:
    """The start of a refusal's body, to explain it in the error (``": <text>"``, or empty)."""
    try:
        text = (await response.text(errors="replace")).strip()
    except (aiohttp.ClientError, TimeoutError):
        return ""
    if len(text) > _ANSWER_CHARS:
        text = text[:_ANSWER_CHARS] + "..."
    return f": {text}" if text else ""


def _describe(err: aiohttp.ClientError) -> str:
    """A short reason for a client error (never the URL's credentials: settings keep them apart)."""
    return str(err) or type(err).__name__
