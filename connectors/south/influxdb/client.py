"""InfluxDB's HTTP query APIs: v1 ``/query`` (InfluxQL), v2 ``/api/v2/query`` (Flux), v3 ``/api/v3/query_sql``.

Each answer becomes a list of rows (column name to value), as upstream's client libraries give them:
InfluxQL series flattened with their tags and ``time`` as an ISO instant in milliseconds; Flux's annotated
CSV typed by its ``#datatype`` row (``result``, ``table`` and every column kept); v3 SQL rows as its JSON
format returns them. Library errors are caught here and re-raised as ours.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec

from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorTimeout
from connectors.south.influxdb.manifest import InfluxdbSettings

__all__ = ["InfluxdbClient", "Row", "parse_annotated_csv", "read_only_statements"]

Row = dict[str, Any]


_UTC_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z")
"""How InfluxDB 1.x writes every ``time`` (UTC, ``Z``, the fraction's trailing zeros dropped)."""


def _iso_ms(text: str) -> str:
    """An RFC 3339 instant (nanoseconds allowed) as ``2024-01-01T00:00:00.123Z``, as upstream's v1 rows have it."""
    # The server's own shape is rewritten as text: parsing and formatting a datetime per row cost the South
    # most of its CPU time (a window holds hundreds of thousands of rows). Any other shape is parsed.
    found = _UTC_RFC3339.fullmatch(text)
    if found is not None:
        return f"{found[1]}.{(found[2] or '')[:3]:0<3}Z"
    head, _, fraction = text.rstrip("Z").partition(".")
    instant = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{fraction[:3]:0<3}Z"


def _number(kind: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        if kind == "double":
            return float(text)
        return int(text)

    return convert


_FLUX_TYPES: dict[str, Callable[[str], Any]] = {
    "long": _number("long"),
    "unsignedLong": _number("long"),
    "double": _number("double"),
    "boolean": lambda text: text == "true",
}


def parse_annotated_csv(text: str) -> Iterator[Row]:
    """The rows of a Flux annotated CSV answer; ``ConnectorError`` for an error table in the stream."""
    types: list[str] = []
    defaults: list[str] = []
    header: list[str] | None = None
    for record in csv.reader(io.StringIO(text)):
        if not record or not any(record):
            header = None  # A blank line ends a table: annotations and a header follow.
            continue
        first = record[0]
        if first.startswith("#"):
            if first == "#datatype":
                types, header = record, None
            elif first == "#default":
                defaults = record
            continue
        if header is None:
            header = record
            continue
        if header[1:] == ["error", "reference"]:
            # How Flux reports a failure that happens once the answer has started.
            raise ConnectorError(f"InfluxDB v2 query failed: {record[1]}")
        row: Row = {}
        for index in range(1, len(header)):
            value = record[index] if index < len(record) else ""
            if value == "" and index < len(defaults):
                value = defaults[index]
            kind = types[index] if index < len(types) else "string"
            convert = _FLUX_TYPES.get(kind)
            row[header[index]] = None if value == "" and convert else (convert(value) if convert else value)
        yield row


# A quoted string or identifier (backslash escapes), a line comment, a statement separator, other text.
_INFLUXQL_TOKENS = re.compile(r"""'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|--[^\n]*|;|[^'";-]+|-""")
_READ_ONLY = frozenset({"SELECT", "SHOW", "EXPLAIN"})


def read_only_statements(query: str) -> None:
    """Refuse an InfluxQL text with any statement but ``SELECT``, ``SHOW`` or ``EXPLAIN`` (``ConnectorError``).

    InfluxDB 1.x still runs a ``DROP`` or ``DELETE`` sent with GET (it only warns), so the South checks
    the statements itself: strings, quoted identifiers and ``--`` comments are skipped, ``;`` splits.
    """
    statements = [""]
    for token in _INFLUXQL_TOKENS.findall(query):
        if token == ";":
            statements.append("")
        elif token.startswith(("'", '"', "--")):
            statements[-1] += " _ "
        else:
            statements[-1] += token
    for statement in statements:
        words = statement.split()
        if words and words[0].upper() not in _READ_ONLY:
            raise ConnectorError(f"query: only SELECT, SHOW and EXPLAIN statements are run, found {words[0]!r}")


def _influxql_rows(answer: Any) -> list[Row]:
    rows: list[Row] = []
    if isinstance(answer, dict) and answer.get("error"):
        raise ConnectorError(f"InfluxDB v1 query failed: {answer['error']}")
    for result in answer.get("results", []) if isinstance(answer, dict) else []:
        if result.get("error"):
            raise ConnectorError(f"InfluxDB v1 query failed: {result['error']}")
        for series in result.get("series", []):
            columns = series.get("columns", [])
            tags = series.get("tags") or {}
            for values in series.get("values", []):
                row: Row = dict(zip(columns, values, strict=False))
                row.update(tags)
                if isinstance(row.get("time"), str):
                    row["time"] = _iso_ms(row["time"])
                rows.append(row)
    return rows


class InfluxdbClient:
    """One HTTP session to the InfluxDB the settings describe (``async with``)."""

    def __init__(self, settings: InfluxdbSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> InfluxdbClient:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def where(self) -> str:
        """The server, for messages (never with credentials)."""
        s = self._settings
        return f"{s.protocol}://{s.host}:{s.port}" if s.version == "1" else str(s.url)

    async def _request(self, method: str, url: str, timeout_ms: int, **kwargs: Any) -> tuple[int, bytes, Any]:
        assert self._session is not None
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000)
            async with self._session.request(method, url, timeout=timeout, **kwargs) as response:
                return response.status, await response.read(), response.headers
        except TimeoutError as err:
            raise ConnectorTimeout(f"InfluxDB v{self._settings.version} at {self.where}: no answer in time") from err
        except aiohttp.ClientError as err:
            raise ConnectorConnectionError(
                f"cannot reach InfluxDB v{self._settings.version} at {self.where}: {err}"
            ) from err

    def _refused(self, status: int, body: bytes) -> ConnectorError:
        text = body.decode(errors="replace").strip()
        try:
            decoded = msgspec.json.decode(body)
            if isinstance(decoded, dict):
                text = str(decoded.get("message") or decoded.get("error") or text)
        except msgspec.DecodeError:
            pass
        return ConnectorError(f"InfluxDB v{self._settings.version} query failed with HTTP {status}: {text[:500]}")

    async def query(self, text: str, timeout_ms: int) -> list[Row]:
        """Run one query of the settings' version; its rows."""
        version = self._settings.version
        if version == "1":
            return await self._query_v1(text, timeout_ms)
        if version == "2":
            return await self._query_v2(text, timeout_ms)
        return await self._query_v3(text, timeout_ms)

    async def _query_v1(self, text: str, timeout_ms: int) -> list[Row]:
        s = self._settings
        read_only_statements(text)
        auth = aiohttp.BasicAuth(s.username, s.password or "") if s.username else None
        status, body, _ = await self._request(
            "GET", f"{self.where}/query", timeout_ms, params={"db": s.database or "", "q": text}, auth=auth
        )
        try:
            answer = msgspec.json.decode(body)
        except msgspec.DecodeError as err:
            raise self._refused(status, body) from err
        if status >= 400 and not (isinstance(answer, dict) and (answer.get("error") or answer.get("results"))):
            raise self._refused(status, body)
        return _influxql_rows(answer)

    async def _query_v2(self, text: str, timeout_ms: int) -> list[Row]:
        s = self._settings
        dialect = {"header": True, "delimiter": ",", "annotations": ["datatype", "group", "default"]}
        status, body, _ = await self._request(
            "POST",
            f"{str(s.url).rstrip('/')}/api/v2/query",
            timeout_ms,
            params={"org": s.organisation or ""},
            headers={"Authorization": f"Token {s.token or ''}", "Accept": "application/csv"},
            json={"query": text, "type": "flux", "dialect": dialect},
        )
        if status >= 400:
            raise self._refused(status, body)
        return list(parse_annotated_csv(body.decode()))

    async def _query_v3(self, text: str, timeout_ms: int) -> list[Row]:
        s = self._settings
        status, body, _ = await self._request(
            "POST",
            f"{str(s.url).rstrip('/')}/api/v3/query_sql",
            timeout_ms,
            headers={"Authorization": f"Bearer {s.token or ''}"},
            json={"db": s.database or "", "q": text, "format": "json"},
        )
        if status >= 400:
            raise self._refused(status, body)
        try:
            rows = msgspec.json.decode(body)
        except msgspec.DecodeError as err:
            raise ConnectorError(f"InfluxDB v3 answer is not JSON: {err}") from err
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ConnectorError("InfluxDB v3 answer is not a list of rows")
        return rows

    async def ping(self) -> None:
        """v1: ``GET /ping`` answers 204; v2: ``buckets()``; v3: ``SELECT 1`` (as upstream's tests)."""
        version = self._settings.version
        if version == "1":
            status, body, _ = await self._request("GET", f"{self.where}/ping", 5000)
            if status != 204:
                raise self._refused(status, body)
        elif version == "2":
            await self._query_v2("buckets()", 5000)
        else:
            await self._query_v3("SELECT 1", 5000)
