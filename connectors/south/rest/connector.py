"""REST South connector: one HTTP request per item and history window, its answer handed over as a file.

``@StartTime`` and ``@EndTime`` in query parameters, headers and the body are replaced by the window's bounds,
written as each one's ``dateTimeInput`` says. With ``trackingInstant``, the newest instant the JSONPath finds in
a JSON answer is returned to the runner, which starts the next window there (only once the file is stored).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime
from typing import Any

import aiohttp
import jsonpath
import msgspec

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, ValueSink
from connectors.common.file_naming import FORBIDDEN_CHARACTERS
from connectors.common.rest import answer_excerpt, apply_auth, describe, proxy_options, session, url_for
from connectors.common.timestamps import format_instant, parse_timestamp
from connectors.errors import ConnectorError, ConnectorNotReady
from connectors.south.rest.manifest import (
    MANIFEST,
    DateTimeInput,
    RestItemSettings,
    RestSettings,
    TrackingInstant,
)

__all__ = ["RestSouth"]

_DISPOSITION = re.compile(r"filename[^;=\n]*=((['\"]).*?\2|[^;\n]*)")
_DEFAULT_INPUT = DateTimeInput()


class RestSouth(SouthConnector[RestSettings, RestItemSettings]):
    """Queries an HTTP API window by window (``history`` mode) with one aiohttp session."""

    manifest = MANIFEST

    def __init__(self, settings: RestSettings, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._session: aiohttp.ClientSession | None = None
        self._tmp_folder = context.base_folder / "tmp"

    async def start(self) -> None:
        """Open the HTTP session and the scratch folder."""
        await asyncio.to_thread(self._tmp_folder.mkdir, parents=True, exist_ok=True)
        self._session = session(self.settings.accept_unauthorized, self.settings.timeout)

    async def stop(self) -> None:
        """Close the HTTP session."""
        client, self._session = self._session, None
        if client is not None:
            await client.close()

    async def test_connection(self) -> None:
        """Send the test request; raise a ``ConnectorError`` naming the URL and what answered."""
        test = self.settings.test
        url = url_for(self.settings.host, test.endpoint)
        headers: dict[str, str] = {}
        params: list[tuple[str, str]] = []
        apply_auth(self.settings.authentication, headers, params)
        body = test.body if test.body and test.method in ("POST", "PUT") else None
        async with session(self.settings.accept_unauthorized, self.settings.timeout) as client:
            try:
                async with client.request(
                    test.method, url, params=params, headers=headers, data=body, **proxy_options(self.settings.proxy)
                ) as response:
                    if response.status == test.success_code:
                        return
                    answer = await answer_excerpt(response)
            except (aiohttp.ClientError, TimeoutError) as err:
                raise ConnectorNotReady(f"cannot reach {url}: {describe(err)}") from err
        raise ConnectorError(f"{url} answered HTTP {response.status}, expected {test.success_code}{answer}")

    async def history_query(
        self, items: list[Item[RestItemSettings]], start: datetime, end: datetime
    ) -> datetime | None:
        """Query each item over ``[start, end]``; hand each non-empty answer over; return the newest instant."""
        if self._session is None:
            raise ConnectorNotReady("connector not started")
        newest: datetime | None = None
        for item in items:
            name, content, instant = await self._query(self._session, item, start, end)
            if content:
                path = self._tmp_folder / f"{secrets.token_hex(8)}.download"
                await asyncio.to_thread(path.write_bytes, content)
                try:
                    await self.sink.add_file(path, filename=name, owned=True)
                finally:
                    await asyncio.to_thread(path.unlink, missing_ok=True)
            if instant is not None and (newest is None or instant > newest):
                newest = instant
        return newest

    async def test_item(self, item: Item[RestItemSettings], start: datetime, end: datetime) -> None:
        """Query the item once over ``[start, end]`` and hand the answer over as ``any-content``."""
        await self.start()
        try:
            assert self._session is not None
            _, content, _ = await self._query(self._session, item, start, end)
        finally:
            await self.stop()
        await self.sink.add_content(content.decode("utf-8", errors="replace"))

    async def _query(
        self, client: aiohttp.ClientSession, item: Item[RestItemSettings], start: datetime, end: datetime
    ) -> tuple[str, bytes, datetime | None]:
        settings = item.settings
        url = url_for(self.settings.host, settings.endpoint)
        params = [(param.key, _fill(param.value, param.date_time_input, start, end)) for param in settings.query_params]
        headers = {header.key: _fill(header.value, header.date_time_input, start, end) for header in settings.headers}
        body: str | None = None
        if settings.method in ("POST", "PUT", "PATCH", "DELETE") and settings.body.content:
            body = _fill(settings.body.content, settings.body.date_time_input, start, end)
            headers.setdefault("Content-Type", "application/json")
        apply_auth(self.settings.authentication, headers, params)
        try:
            async with client.request(
                settings.method, url, params=params, headers=headers, data=body, **proxy_options(self.settings.proxy)
            ) as response:
                if not 200 <= response.status < 300:
                    answer = await answer_excerpt(response)
                    raise ConnectorError(f"{url} answered HTTP {response.status}{answer}")
                content = await response.read()
                content_type = response.headers.get("Content-Type", "").lower()
                disposition = response.headers.get("Content-Disposition", "")
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ConnectorNotReady(f"cannot reach {url}: {describe(err)}") from err
        stem = _safe(f"{self.context.name}-{item.name}-{secrets.token_hex(5)}")
        if settings.return_type == "file":
            match = _DISPOSITION.search(disposition)
            name = _safe(match.group(1).strip("'\"")) if match and match.group(1) else stem
            return name, content, None
        if "xml" in content_type:
            return f"{stem}.xml", content, None
        try:
            parsed = msgspec.json.decode(content)
        except msgspec.DecodeError:
            if "json" in content_type:
                raise ConnectorError(f"{url} answered invalid JSON") from None
            return stem, content, None
        if not isinstance(parsed, dict | list):
            return f"{stem}.json", content, None
        instant = _newest(settings.tracking_instant, parsed, item.name, self.context)
        return f"{stem}.json", content, instant


def _fill(text: str, date_input: DateTimeInput | None, start: datetime, end: datetime) -> str:
    if "@StartTime" not in text and "@EndTime" not in text:
        return text
    form = date_input or _DEFAULT_INPUT
    return text.replace("@StartTime", format_instant(start, form.type, form.timezone, form.format)).replace(
        "@EndTime", format_instant(end, form.type, form.timezone, form.format)
    )


def _newest(tracking: TrackingInstant, answer: Any, item: str, context: ConnectorContext) -> datetime | None:
    """The newest instant the JSONPath finds in ``answer`` (values that do not convert are logged once)."""
    if not tracking.track_instant or not tracking.json_path:
        return None
    form = tracking.date_time_input
    newest: datetime | None = None
    rejected = 0
    for raw in jsonpath.findall(tracking.json_path, answer):
        if raw is None or raw == "":
            continue
        try:
            instant = datetime.fromisoformat(parse_timestamp(raw, form.type, form.timezone, form.format))
        except (ValueError, TypeError):
            rejected += 1
            continue
        if newest is None or instant > newest:
            newest = instant
    if rejected:
        context.logger.warning("tracked instants not read", item=item, rejected=rejected, type=form.type)
    return newest


def _safe(name: str) -> str:
    for character in FORBIDDEN_CHARACTERS:
        name = name.replace(character, "_")
    return name or "file"
