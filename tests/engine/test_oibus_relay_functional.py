"""OIBus to OIBus with two real engines on loopback: an OT engine relays its data and logs through an IT one.

OT reaches IT through a TCP relay that connects from 127.0.0.2 (a NAT between the two networks), so IT sees a
client that is not loopback and applies its IP filters and credentials. The outage is a graceful stop of IT
while OT keeps producing, long enough for OT's sends to fail and be retried; not a full minute, since what is
proven (retries, no loss, a drained cache) does not depend on the outage's length.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from engine_process import (
    AUTH,
    EngineProcess,
    api_rule,
    batch,
    folder_scanner_body,
    north_body,
    post_values,
    scan_mode_id,
    wait_for,
)
from servers.tcp_relay import TcpRelay

OT_PASSWORD = "ot-relay-secret"


def logs(engine: EngineProcess, query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = engine.ok("GET", f"/api/logs?{query}")["content"]
    return found


def written(folder: Path) -> tuple[list[Any], dict[str, str]]:
    """Time-values of the JSON files (sorted) and text of the other files the IT file-writer wrote."""
    values: list[Any] = []
    files: dict[str, str] = {}
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue  # a file being written
        if path.suffix == ".json":
            values.extend(json.loads(path.read_bytes()))
        else:
            files[path.name] = path.read_text()
    return sorted(values, key=json.dumps), files


def numbers(folder: Path) -> list[int]:
    """The values of the time-values written, as numbers."""
    return [int(value["data"]["value"]) for value in written(folder)[0]]


def archive(engine: EngineProcess, out: Path, *senders: str) -> None:
    """A running file-writer North on ``engine`` taking what ``senders`` send, files under their own names."""
    writer = engine.ok(
        "POST",
        "/api/north",
        north_body(
            "archive",
            "file-writer",
            {"outputFolder": str(out), "prefix": "", "suffix": ""},
            scan_mode_id(engine, "Every second"),
            transformers=[api_rule(sender) for sender in senders],
        ),
    )
    engine.wait_state("north", writer["id"], "RUNNING")


def cache_entries(engine: EngineProcess, north_id: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = engine.ok("GET", f"/api/north/{north_id}/cache/search")
    return found


def refused_login(engine: EngineProcess) -> int:
    """A request with a wrong password: the engine logs a warning about it."""
    token = base64.b64encode(b"intruder:guess").decode()
    request = urllib.request.Request(f"{engine.url}/api/engine", headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_ot_relays_data_and_logs_through_it(tmp_path: Path) -> None:
    out, inbox = tmp_path / "out", tmp_path / "in"
    out.mkdir()
    inbox.mkdir()
    it = EngineProcess(tmp_path / "it").start()
    ot: EngineProcess | None = None
    try:
        with TcpRelay(("127.0.0.1", it.port), source="127.0.0.2") as nat:
            ot = EngineProcess(tmp_path / "ot").start()
            it.ok("PUT", "/api/engine/name", {"name": "IT-OIBus"})
            ot.ok("PUT", "/api/engine/name", {"name": "OT-OIBus"})
            archive(it, out, "ToIT")
            relay = f"http://127.0.0.1:{nat.port}"
            to_it = ot.ok(
                "POST",
                "/api/north",
                north_body(
                    "ToIT",
                    "oibus",
                    {"host": relay, "username": "ot-bus", "password": OT_PASSWORD, "timeout": 10},
                    scan_mode_id(ot, "Every second"),
                    error={"retryInterval": 200},
                    transformers=[api_rule("plc")],
                ),
            )
            ot.wait_state("north", to_it["id"], "RUNNING")
            loki = {"level": "warn", "interval": 1, "address": f"{relay}/logs", "username": "ot-bus"}
            ot.ok("PUT", "/api/engine/logger", {"loki": {**loki, "password": OT_PASSWORD}})
            ot.ok("POST", "/api/south", folder_scanner_body(inbox, scan_mode_id(ot, "Every second")))

            # OT produces: a file from its folder, and time-values from its ingestion API.
            (inbox / "report-1.csv").write_text("a;b\n1;2\n")
            assert post_values(ot, batch(0, 100), "plc") == 204

            # 1. IT refuses OT's address, then OT's credentials; nothing arrives meanwhile.
            wait_for(lambda: bool(logs(it, "messageContent=127.0.0.2&levels=warn")), 30, "IT refuses 127.0.0.2")
            wait_for(
                lambda: "UNAUTHORIZED" in json.dumps(logs(ot, "messageContent=Access%20denied&scopeTypes=north")),
                30,
                "OT's North is told why",
            )
            it.ok("POST", "/api/ip-filters", {"address": "127.0.0.2", "description": "OT network"})
            wait_for(lambda: bool(logs(it, "messageContent=login=ot-bus&levels=warn")), 30, "IT refuses OT's login")
            assert written(out) == ([], {})
            assert cache_entries(ot, to_it["id"])["cache"], "OT keeps its data"
            it.ok("POST", "/api/users", {"login": "ot-bus", "password": OT_PASSWORD})
            wait_for(lambda: len(numbers(out)) >= 100 and bool(written(out)[1]), 30, "first data reaches IT")
            assert sorted(numbers(out)) == list(range(100))
            assert written(out)[1] == {"report-1.csv": "a;b\n1;2\n"}

            # 2. IT goes away while OT keeps producing; OT keeps everything and retries.
            failures_before = len(logs(ot, "messageContent=cache%20entry%20send%20failed"))
            it.pin_port()  # OT keeps sending to the same port after IT restarts
            assert it.stop() == 0
            for index in range(1, 10):
                assert post_values(ot, batch(index * 100, 100), "plc") == 204
            for index in (2, 3):
                (inbox / f"report-{index}.csv").write_text(f"a;b\n{index};{index}\n")
            wait_for(lambda: not any(inbox.iterdir()), 30, "OT's folder scanner took the files")
            wait_for(
                lambda: len(logs(ot, "messageContent=cache%20entry%20send%20failed")) > failures_before,
                30,
                "OT tries to send while IT is down",
            )
            assert len(cache_entries(ot, to_it["id"])["cache"]) >= 1
            it.start()
            wait_for(lambda: set(numbers(out)) == set(range(1000)), 60, "the backlog reaches IT")
            wait_for(lambda: len(written(out)[1]) == 3, 30, "every file reaches IT")
            # At least once: a batch in flight when IT stopped may come twice, nothing more.
            assert max(Counter(numbers(out)).values()) <= 2
            expected = {f"report-{n}.csv": f"a;b\n{n};{n}\n" for n in (2, 3)}
            assert written(out)[1] == {"report-1.csv": "a;b\n1;2\n", **expected}
            wait_for(lambda: not cache_entries(ot, to_it["id"])["cache"], 30, "OT's cache drains")
            assert cache_entries(ot, to_it["id"])["error"] == []

            # 3. OT's logs at warn and above reach IT with OT's labels; its info lines do not.
            assert refused_login(ot) == 401
            wait_for(lambda: bool(logs(it, "messageContent=login=intruder")), 30, "OT's warning reaches IT")
            (relayed,) = logs(it, "messageContent=login=intruder")
            assert relayed["level"] == "warn" and "name=OT-OIBus" in relayed["message"]
            from_ot = logs(it, "messageContent=name=OT-OIBus")
            assert {log["level"] for log in from_ot} <= {"warn", "error", "fatal"}
            north_lines = logs(it, "messageContent=name=OT-OIBus&scopeTypes=north")
            assert north_lines and all(log["scopeName"] == "ToIT" for log in north_lines)
            assert logs(ot, "messageContent=target%20recovered&levels=info"), "OT did log info lines"
    finally:
        codes = [engine.stop() for engine in (ot, it) if engine is not None and engine.proc is not None]
        assert codes == [0] * len(codes)


V34_VALUES = (
    b'[{"pointId":"tank.level","timestamp":"2023-05-01T08:00:00.000Z","data":{"value":"7.25","quality":"good"}}]'
)
V2_VALUES = b'[{"pointId":"line.speed","timestamp":"2021-02-03T04:05:06.789Z","data":{"value":42}}]'


async def test_upstream_v2_and_v34_senders_are_accepted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    it = EngineProcess(tmp_path / "it").start()
    try:
        archive(it, out, "OT-3.4", "OIBus-v2:OIConnect")
        it.ok("POST", "/api/external-sources", {"reference": "OT-3.4", "description": "a 3.4 oibus North"})
        it.ok("POST", "/api/external-sources", {"reference": "OIBus-v2:OIConnect"})
        async with aiohttp.ClientSession(base_url=it.url, headers={"Authorization": AUTH}) as session:
            json_type = {"Content-Type": "application/json"}
            async with session.post("/api/add-values?name=OT-3.4", data=V34_VALUES, headers=json_type) as answer:
                assert answer.status == 204, await answer.text()
            form = aiohttp.FormData()
            form.add_field("file", b"x,y\n", filename="from-34.csv", content_type="text/csv")
            async with session.post("/api/add-file?name=OT-3.4", data=form) as answer:
                assert answer.status == 204, await answer.text()
            async with session.post(
                "/engine/addValues?name=OIBus-v2:OIConnect", data=V2_VALUES, headers=json_type
            ) as answer:
                assert answer.status == 200, await answer.text()
            form = aiohttp.FormData()
            form.add_field("file", b"v2 file", filename="from-v2.txt")
            async with session.post("/engine/addFile?name=OIBus-v2:OIConnect", data=form) as answer:
                assert answer.status == 200, await answer.text()
            async with session.post("/api/add-values?name=unknown", data=V34_VALUES, headers=json_type) as answer:
                assert answer.status == 404
                assert "unknown" in (await answer.json())["message"]
        # Stored in the North's cache when answered; written to the folder by its next send.
        wait_for(lambda: len(written(out)[0]) == 2 and len(written(out)[1]) == 2, 30, "everything is written")
        values, files = written(out)
        assert values == sorted([*json.loads(V34_VALUES), *json.loads(V2_VALUES)], key=json.dumps)
        assert files == {"from-34.csv": "x,y\n", "from-v2.txt": "v2 file"}
        wait_for(lambda: bool(logs(it, "messageContent=external_source_unknown&levels=warn")), 30, "refusal logged")
    finally:
        assert it.stop() == 0
