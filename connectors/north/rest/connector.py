"""REST North connector: sends each cache entry to an HTTP endpoint, and classifies refusals.

Classification (the issue's rule for upstream's REST North): a network failure, a timeout, a 5xx, a 408
(request timeout) or a 429 (too many requests) is transient and retried without limit; any other 4xx means
the target will refuse this entry whatever happens (bad request, unknown endpoint, refused credentials), so
it counts towards the cache's retries and then lands in ``error/``, where an operator can look at it and
retry it.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.rest import answer_excerpt, apply_auth, describe, proxy_options, session, url_for
from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.north.rest.manifest import MANIFEST, RestNorthSettings

__all__ = ["CONTENT_TYPES", "RestNorth", "is_transient"]

CONTENT_TYPES = {".json": "application/json", ".xml": "application/xml", ".txt": "text/plain", ".csv": "text/csv"}
"""Content type of a raw body by file extension, as upstream; other files go without one."""


def is_transient(status: int) -> bool:
    """Whether a refusal with this status is worth retrying forever (see the module docstring)."""
    return not (400 <= status < 500) or status in (408, 429)


class RestNorth(NorthConnector[RestNorthSettings]):
    """Sends files (raw body or multipart ``file``) and values batches (JSON) with one aiohttp session."""

    manifest = MANIFEST

    def __init__(self, settings: RestNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._session: aiohttp.ClientSession | None = None
        self._url = url_for(settings.host, settings.endpoint)

    async def start(self) -> None:
        """Open the HTTP session (no request: the target may be down now and up at the first send)."""
        self._session = session(self.settings.accept_unauthorized, self.settings.timeout)

    async def stop(self) -> None:
        """Close the HTTP session."""
        client, self._session = self._session, None
        if client is not None:
            await client.close()

    async def test_connection(self) -> None:
        """Send the test request; raise a ``ConnectorError`` naming the URL and what answered."""
        test = self.settings.test
        url = url_for(self.settings.host, test.test_endpoint)
        headers, params = self._headers_and_params()
        body = test.body if test.body and test.test_method in ("POST", "PUT") else None
        async with session(self.settings.accept_unauthorized, self.settings.timeout) as client:
            try:
                async with client.request(
                    test.test_method, url, params=params, headers=headers, data=body, **self._proxy()
                ) as response:
                    if response.status == test.test_success_code:
                        return
                    answer = await answer_excerpt(response)
            except (aiohttp.ClientError, TimeoutError) as err:
                raise ConnectorNotReady(f"cannot reach {url}: {describe(err)}") from err
        raise ConnectorError(f"{url} answered HTTP {response.status}, expected {test.test_success_code}{answer}")

    async def handle_file(self, path: Path, filename: str) -> None:
        """Send the file as the raw body, or as the multipart field ``file`` (``sendAs``)."""
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except OSError as err:
            # The cache entry itself is unreadable: retrying cannot help.
            raise SendError(f"cache file {path} cannot be read: {err.strerror or err}") from err
        try:
            name = filename.replace("\\", "/").rsplit("/", 1)[-1] or "file"
            await self._send(handle, name)
        finally:
            handle.close()

    async def handle_values_json(self, data: bytes) -> None:
        """Send the cached JSON array as it is (``<random id>.json`` when sent as a file)."""
        await self._send(data, f"{secrets.token_hex(6)}.json")

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Send the batch as a JSON array."""
        await self.handle_values_json(msgspec.json.encode(values))

    async def _send(self, payload: Any, name: str) -> None:
        if self._session is None:
            raise SendError("connector not started", retry_forever=True)
        headers, params = self._headers_and_params()
        data: Any
        if self.settings.send_as == "file":
            form = aiohttp.FormData()
            form.add_field("file", payload, filename=name, content_type="application/octet-stream")
            data = form
        else:
            data = payload
            extension = name[name.rfind(".") :].lower() if "." in name else ""
            if extension in CONTENT_TYPES:
                headers.setdefault("Content-Type", CONTENT_TYPES[extension])
        # Custom headers last: they may override the content type, as upstream lets them.
        for header in self.settings.headers:
            headers[header.key] = header.value
        try:
            async with self._session.request(
                self.settings.method, self._url, params=params, headers=headers, data=data, **self._proxy()
            ) as response:
                if response.status == self.settings.success_code or 200 <= response.status < 300:
                    return
                answer = await answer_excerpt(response)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise SendError(f"cannot reach {self._url}: {describe(err)}", retry_forever=True) from err
        raise SendError(
            f"{self._url} answered HTTP {response.status}{answer}", retry_forever=is_transient(response.status)
        )

    def _headers_and_params(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        headers: dict[str, str] = {}
        params = [(param.key, param.value) for param in self.settings.query_params]
        apply_auth(self.settings.authentication, headers, params)
        return headers, params

    def _proxy(self) -> dict[str, Any]:
        return proxy_options(self.settings.proxy)
