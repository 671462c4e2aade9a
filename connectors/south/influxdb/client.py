"""InfluxDB's HTTP query APIs: v1 ``/query`` (InfluxQL), v2 ``/api/v2/query`` (Flux), v3 ``/api/v3/query_sql``.

Each answer becomes rows (column name to value), as upstream's client libraries give them: InfluxQL series
flattened with their tags and ``time`` as an ISO instant in milliseconds; Flux's annotated CSV typed by its
``#datatype`` row (``result``, ``table`` and every column kept); v3 SQL rows as its JSON format returns them.
v1 and v2 answers are streamed: v1 is asked for ``chunked=true`` (one JSON object a line, ``chunk_size``
rows each) and v2's CSV is parsed as its lines come, so a big window never sits in memory whole. Library
errors are caught here and re-raised as ours.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec

from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorTimeout
from connectors.south.influxdb.manifest import InfluxdbSettings

__all__ = [
    "CHUNK_ROWS",
    "AnnotatedCsv",
    "InfluxdbClient",
    "Row",
    "parse_annotated_csv",
    "read_only_statements",
    "text_pieces",
]

Row = dict[str, Any]

CHUNK_ROWS = 10_000
"""Rows a v1 answer carries per chunk (``chunk_size``); a v3 answer is sliced alike."""


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


class AnnotatedCsv:
    """A Flux annotated CSV parser fed record by record: its annotations and header carry over between feeds."""

    def __init__(self) -> None:
        self._types: list[str] = []
        self._defaults: list[str] = []
        self._header: list[str] | None = None

    def rows(self, records: Iterable[list[str]]) -> Iterator[Row]:
        """The rows of ``records``; ``ConnectorError`` for an error table in the stream."""
        for record in records:
            if not record or not any(record):
                self._header = None  # A blank line ends a table: annotations and a header follow.
                continue
            first = record[0]
            if first.startswith("#"):
                if first == "#datatype":
                    self._types, self._header = record, None
                elif first == "#default":
                    self._defaults = record
                continue
            if self._header is None:
                self._header = record
                continue
            yield self._row(self._header, record)

    def _row(self, header: list[str], record: list[str]) -> Row:
        if header[1:] == ["error", "reference"]:
            # How Flux reports a failure that happens once the answer has started.
            raise ConnectorError(f"InfluxDB v2 query failed: {record[1]}")
        types, defaults = self._types, self._defaults
        row: Row = {}
        for index in range(1, len(header)):
            value = record[index] if index < len(record) else ""
            if value == "" and index < len(defaults):
                value = defaults[index]
            kind = types[index] if index < len(types) else "string"
            convert = _FLUX_TYPES.get(kind)
            row[header[index]] = None if value == "" and convert else (convert(value) if convert else value)
        return row


def parse_annotated_csv(text: str) -> Iterator[Row]:
    """The rows of a whole Flux annotated CSV answer; ``ConnectorError`` for an error table in the stream."""
    return AnnotatedCsv().rows(csv.reader(io.StringIO(text)))


async def text_pieces(content: AsyncIterable[bytes], csv_quotes: bool) -> AsyncIterator[str]:
    """The answer's text as it comes, each piece ending with a whole line (or the answer's end).

    ``csv_quotes``: a piece never ends inside a quoted CSV field (a Flux string may hold a newline): an odd
    number of ``"`` before a newline means the field goes on.
    """
    pending = bytearray()
    async for data in content:
        pending += data
        cut = pending.rfind(b"\n")
        while csv_quotes and cut >= 0 and pending.count(b'"', 0, cut) % 2:
            cut = pending.rfind(b"\n", 0, cut)
        if cut >= 0:
            yield pending[: cut + 1].decode()
            del pending[: cut + 1]
    if pending:
        yield pending.decode()


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
    """One HTTP session to the InfluxDB the settings describe (``async with``).

    ``chunk_rows``: the rows of a v1 chunk (``chunk_size``) and of a v3 slice. ``chunks`` counts the pieces
    of answers read so far (v1: JSON lines; v2: CSV pieces; v3: whole answers), for tests and figures.
    """

    def __init__(self, settings: InfluxdbSettings, chunk_rows: int = CHUNK_ROWS) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self.chunk_rows = chunk_rows
        self.chunks = 0

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

    @asynccontextmanager
    async def _open(self, method: str, url: str, timeout_ms: int, **kwargs: Any) -> AsyncIterator[Any]:
        """The response, its body unread; ``timeout_ms`` bounds the connection and each wait for data.

        A window that streams steadily for longer than ``requestTimeout`` is not cut; a server that stops
        sending is. Errors while the body is read inside the ``async with`` become ours too.
        """
        assert self._session is not None
        seconds = timeout_ms / 1000
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
        try:
            async with self._session.request(method, url, timeout=timeout, **kwargs) as response:
                yield response
        except TimeoutError as err:
            raise ConnectorTimeout(f"InfluxDB v{self._settings.version} at {self.where}: no answer in time") from err
        except aiohttp.ClientError as err:
            raise ConnectorConnectionError(
                f"cannot reach InfluxDB v{self._settings.version} at {self.where}: {err}"
            ) from err

    async def _request(self, method: str, url: str, timeout_ms: int, **kwargs: Any) -> tuple[int, bytes]:
        async with self._open(method, url, timeout_ms, **kwargs) as response:
            return response.status, await response.read()

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
        """Run one query of the settings' version; all its rows (``stream`` holds fewer at a time)."""
        return [row async for rows in self.stream(text, timeout_ms) for row in rows]

    def stream(self, text: str, timeout_ms: int) -> AsyncGenerator[list[Row], None]:
        """Run one query of the settings' version; its rows as the answer comes, a list at a time.

        Close it (``contextlib.aclosing``) when not read to its end.
        """
        version = self._settings.version
        if version == "1":
            return self._stream_v1(text, timeout_ms)
        if version == "2":
            return self._stream_v2(text, timeout_ms)
        return self._stream_v3(text, timeout_ms)

    async def _stream_v1(self, text: str, timeout_ms: int) -> AsyncGenerator[list[Row], None]:
        s = self._settings
        read_only_statements(text)
        auth = aiohttp.BasicAuth(s.username, s.password or "") if s.username else None
        params = {"db": s.database or "", "q": text, "chunked": "true", "chunk_size": str(self.chunk_rows)}
        async with self._open("GET", f"{self.where}/query", timeout_ms, params=params, auth=auth) as response:
            if response.status >= 400:
                body = await response.read()
                try:
                    answer = msgspec.json.decode(body)
                except msgspec.DecodeError as err:
                    raise self._refused(response.status, body) from err
                if not (isinstance(answer, dict) and (answer.get("error") or answer.get("results"))):
                    raise self._refused(response.status, body)
                yield _influxql_rows(answer)
                return
            async for piece in text_pieces(response.content.iter_any(), csv_quotes=False):
                for line in piece.splitlines():
                    if not line.strip():
                        continue
                    self.chunks += 1
                    try:
                        answer = msgspec.json.decode(line)
                    except msgspec.DecodeError as err:
                        raise ConnectorError(f"InfluxDB v1 answer is not JSON: {err}") from err
                    yield _influxql_rows(answer)

    async def _stream_v2(self, text: str, timeout_ms: int) -> AsyncGenerator[list[Row], None]:
        s = self._settings
        dialect = {"header": True, "delimiter": ",", "annotations": ["datatype", "group", "default"]}
        async with self._open(
            "POST",
            f"{str(s.url).rstrip('/')}/api/v2/query",
            timeout_ms,
            params={"org": s.organisation or ""},
            headers={"Authorization": f"Token {s.token or ''}", "Accept": "application/csv"},
            json={"query": text, "type": "flux", "dialect": dialect},
        ) as response:
            if response.status >= 400:
                raise self._refused(response.status, await response.read())
            parser = AnnotatedCsv()
            async for piece in text_pieces(response.content.iter_any(), csv_quotes=True):
                self.chunks += 1
                yield list(parser.rows(csv.reader(io.StringIO(piece))))

    async def _stream_v3(self, text: str, timeout_ms: int) -> AsyncGenerator[list[Row], None]:
        s = self._settings
        status, body = await self._request(
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
        self.chunks += 1
        for first in range(0, len(rows), self.chunk_rows):
            yield rows[first : first + self.chunk_rows]

    async def ping(self) -> None:
        """v1: ``GET /ping`` answers 204; v2: ``buckets()``; v3: ``SELECT 1`` (as upstream's tests)."""
        version = self._settings.version
        if version == "1":
            status, body = await self._request("GET", f"{self.where}/ping", 5000)
            if status != 204:
                raise self._refused(status, body)
        else:
            await self.query("buckets()" if version == "2" else "SELECT 1", 5000)
