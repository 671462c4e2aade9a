"""InfluxDB for tests: Debian's ``influxd`` (1.x) started by the test, and a fake of the v2/v3 HTTP APIs.

    with influxdb_v1(tmp_path) as server:
        server.url  # http://127.0.0.1:<port>

``influxd`` binds ``127.0.0.1:0`` (HTTP API and the RPC service alike) and logs the address the kernel gave
its HTTP listener (``msg="Listening on HTTP" ... addr=127.0.0.1:<port>``): the port is read from that line,
never guessed. Its meta, data and WAL folders live in the test's folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

INFLUXD = "/usr/bin/influxd"
_LISTENING = re.compile(r'msg="Listening on HTTP".*addr=(127\.0\.0\.1:\d+)')


@dataclass(frozen=True, slots=True)
class InfluxServer:
    """A running ``influxd``: its HTTP API base URL and port."""

    url: str
    port: int


def _config(folder: Path) -> Path:
    for name in ("meta", "data", "wal"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    config = folder / "influxdb.conf"
    config.write_text(
        'reporting-disabled = true\nbind-address = "127.0.0.1:0"\n'
        f'[meta]\n  dir = "{folder / "meta"}"\n'
        f'[data]\n  dir = "{folder / "data"}"\n  wal-dir = "{folder / "wal"}"\n  query-log-enabled = false\n'
        '[http]\n  enabled = true\n  bind-address = "127.0.0.1:0"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n"
    )
    return config


@contextmanager
def influxdb_v1(folder: Path, timeout_s: float = 30.0) -> Iterator[InfluxServer]:
    """Start ``influxd`` in ``folder``; stop it (terminate, then kill) on exit."""
    if not os.path.exists(INFLUXD):
        reason = f"{INFLUXD} missing (Debian package influxdb, installed by .ci/run)"
        if os.environ.get("OIBUS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; OIBUS_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(reason)
    log = folder / "influxd.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [INFLUXD, "run", "-config", str(_config(folder))], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout_s
        found = None
        while found is None:
            found = _LISTENING.search(log.read_text(errors="replace"))
            if found is None:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"influxd did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)
        address = found.group(1)
        yield InfluxServer(url=f"http://{address}", port=int(address.rsplit(":", 1)[1]))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class InfluxHttpFake:
    """InfluxDB v2 and v3 query APIs as documented, on a kernel-assigned port (no server can run here).

    v2 ``POST /api/v2/query?org=`` (``Authorization: Token``) answers annotated CSV; v3 ``POST
    /api/v3/query_sql`` (``Authorization: Bearer``) answers ``format: json`` rows. Points lie every
    ``step_s`` seconds from ``base``; a query's range is read from its text (Flux ``range(start:, stop:)``,
    SQL ``time > '..' AND time <= '..'``), so the fake checks what the South substituted.
    """

    def __init__(self, token: str, org: str, base: datetime, step_s: int, points: int) -> None:
        self.token, self.org, self.base, self.step_s, self.points = token, org, base, step_s, points
        self.queries: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def _times(self, low: str, high: str) -> list[datetime]:
        start, stop = datetime.fromisoformat(low), datetime.fromisoformat(high)
        every = (self.base + timedelta(seconds=self.step_s * i) for i in range(self.points))
        return [instant for instant in every if start < instant <= stop]

    async def _v2(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token {self.token}" or request.query.get("org") != self.org:
            return web.json_response({"code": "unauthorized", "message": "unauthorized access"}, status=401)
        body = await request.json()
        query = body["query"]
        self.queries.append(query)
        if query == "buckets()":
            return web.Response(
                text="#datatype,string,long,string\n#group,false,false,false\n#default,_result,,\n"
                ",result,table,name\n,,0,plant\n,,0,_monitoring\n",
                content_type="text/csv",
            )
        if "fail-mid" in query:
            return web.Response(
                text="#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n"
                ',"runtime error: out of memory",897\n',
                content_type="text/csv",
            )
        found = re.search(r"range\(start: ([^,]+), stop: ([^)]+)\)", query)
        if found is None:
            return web.json_response(
                {"code": "invalid", "message": "error @1:1-1:5: undefined identifier fro"}, status=400
            )
        head = (
            "#datatype,string,long,dateTime:RFC3339,double,string,boolean\n#group,false,false,false,false,true,false"
            "\n#default,_result,,,,,\n,result,table,_time,_value,_field,ok\n"
        )
        lines = [
            f",,0,{t.isoformat().replace('+00:00', 'Z')},{i / 2},temp,true"
            for i, t in enumerate(self._times(found.group(1), found.group(2)))
        ]
        return web.Response(text=head + "\n".join(lines) + "\n", content_type="text/csv")

    async def _v3(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        body = await request.json()
        query = body["q"]
        self.queries.append(query)
        if query == "SELECT 1":
            return web.json_response([{"Int64(1)": 1}])
        found = re.search(r"time > '([^']+)' AND time <= '([^']+)'", query)
        if found is None or body.get("db") != "plant" or body.get("format") != "json":
            return web.json_response({"error": "Error during planning: table 'plant.public.tmp' not found"}, status=400)
        rows = [
            {"time": t.replace(tzinfo=None).isoformat(), "value": i / 2, "site": "a"}
            for i, t in enumerate(self._times(found.group(1), found.group(2)))
        ]
        return web.json_response(rows)

    async def __aenter__(self) -> InfluxHttpFake:
        app = web.Application()
        app.router.add_post("/api/v2/query", self._v2)
        app.router.add_post("/api/v3/query_sql", self._v3)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
