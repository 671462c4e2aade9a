"""OIAnalytics North connector: values to ``/time-values[/compressed]``, files to ``/file-uploads``.

``dataSourceId`` is the North's name. A network failure, a timeout and the statuses upstream retries
(401, 403, 404, 407, 408, 429, 5xx gateway errors) are retried forever; any other refusal counts towards the
North's ``retryCount`` before the entry moves to ``error/``.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import msgspec

from connectors.base import NorthConnector, TimeValue
from connectors.common.oianalytics import (
    RETRYABLE_STATUSES,
    OIAClient,
    OIAConnection,
    OIAHttpError,
)
from connectors.errors import SendError
from connectors.north.oianalytics.manifest import MANIFEST, OIAnalyticsNorthSettings

__all__ = ["OIAnalyticsNorth"]

VALUES_ENDPOINT = "/api/oianalytics/oibus/time-values"
FILES_ENDPOINT = "/api/oianalytics/file-uploads"


class OIAnalyticsNorth(OIAClient, NorthConnector[OIAnalyticsNorthSettings]):
    """Sends to OIAnalytics (see the module docstring)."""

    manifest = MANIFEST

    async def _send(self, call: Callable[[OIAConnection], Awaitable[bytes]]) -> None:
        target = self._target or self._connection()
        try:
            await call(target)
        except OIAHttpError as err:
            raise SendError(f"Error {err.status}: {err.body}", retry_forever=err.status in RETRYABLE_STATUSES) from err
        except (ConnectionError, TimeoutError) as err:
            raise SendError(str(err), retry_forever=True) from err

    async def handle_values_json(self, data: bytes) -> None:
        """POST the cached JSON array as is (gzip when ``compress``, on the ``/compressed`` endpoint)."""
        endpoint = VALUES_ENDPOINT
        if self.settings.compress:
            data = await asyncio.to_thread(gzip.compress, data)
            endpoint += "/compressed"
        params = {"dataSourceId": self.context.name}
        headers = {"Content-Type": "application/json"}
        await self._send(lambda target: target.request("POST", endpoint, data=data, params=params, headers=headers))

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Send decoded values (the runner normally hands over the cached JSON instead)."""
        await self.handle_values_json(msgspec.json.encode(values))

    async def handle_content(self, content_type: str, data: bytes) -> None:
        """``oianalytics`` content (a transformer's output) has the time-values shape: sent the same way."""
        if content_type != "oianalytics":
            raise SendError(f"content type {content_type!r} cannot be sent to OIAnalytics")
        await self.handle_values_json(data)

    async def handle_file(self, path: Path, filename: str) -> None:
        """Multipart ``file`` part (gzip and ``.gz`` when ``compress`` and not already gzipped)."""
        with tempfile.TemporaryDirectory(prefix="oia-upload-") as scratch:
            source, name = path, filename
            if self.settings.compress and not filename.endswith(".gz"):
                source, name = Path(scratch) / "upload.gz", f"{filename}.gz"
                await asyncio.to_thread(_gzip_file, path, source)
            params = {"dataSourceId": self.context.name}

            async def upload(target: OIAConnection) -> bytes:
                with source.open("rb") as file:
                    form = aiohttp.FormData()
                    form.add_field("file", file, filename=name, content_type="application/octet-stream")
                    return await target.request("POST", FILES_ENDPOINT, data=form, params=params)

            await self._send(upload)


def _gzip_file(source: Path, target: Path) -> None:
    with source.open("rb") as raw, gzip.open(target, "wb", compresslevel=9) as packed:
        shutil.copyfileobj(raw, packed)
