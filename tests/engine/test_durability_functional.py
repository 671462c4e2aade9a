"""The durability contract, end to end with real processes: outages, kill -9, a full cache."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from engine_process import (
    AUTH,
    EngineProcess,
    api_rule,
    batch,
    north_body,
    post_values,
    running_engine,
    scan_mode_id,
    wait_for,
)


def written_values(folder: Path) -> list[int]:
    """Values in the file-writer's JSON files, in the order the files were written."""
    values: list[int] = []
    files = sorted((p for p in folder.glob("*.json")), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for path in files:
        values.extend(int(v["data"]["value"]) for v in json.loads(path.read_bytes()))
    return values


def metric(engine: EngineProcess, name: str, connector_id: str) -> float:
    req = urllib.request.Request(f"{engine.url}/metrics", headers={"Authorization": AUTH})
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(f'{name}{{id="{connector_id}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    with running_engine(tmp_path / "data") as process:
        yield process


def test_target_outage_keeps_data_and_drains_in_order(engine: EngineProcess, tmp_path: Path) -> None:
    output = tmp_path / "out"  # missing: the file-writer fails with a retry-forever error
    north = engine.ok(
        "POST",
        "/api/north",
        north_body(
            "writer",
            "file-writer",
            {"outputFolder": str(output), "prefix": "", "suffix": ""},
            scan_mode_id(engine, "Every second"),
            error={"retryInterval": 100},
            transformers=[api_rule("src")],
        ),
    )
    engine.wait_state("north", north["id"], "RUNNING")
    for index in range(20):
        assert post_values(engine, batch(index * 50, 50)) == 204
    time.sleep(1.0)  # several retry intervals pass while the target is down
    cache_dir = engine.data_dir / "cache" / f"north-{north['id']}" / "metadata"
    assert any(cache_dir.iterdir()), "the data waits in the cache"
    assert not output.exists()
    output.mkdir()
    wait_for(lambda: len(written_values(output)) >= 1000, 30, "backlog drained")
    assert written_values(output) == list(range(1000))
    wait_for(lambda: not any(cache_dir.iterdir()), 10, "cache emptied")
    assert not any((engine.data_dir / "error" / f"north-{north['id']}" / "metadata").iterdir())


def test_max_size_refuses_new_data_loudly(engine: EngineProcess, tmp_path: Path) -> None:
    north = engine.ok(
        "POST",
        "/api/north",
        north_body(
            "small",
            "file-writer",
            {"outputFolder": str(tmp_path / "missing"), "prefix": "", "suffix": ""},
            scan_mode_id(engine, "Every second"),
            throttling={"maxSize": 1},
            transformers=[api_rule("src")],
        ),
    )
    engine.wait_state("north", north["id"], "RUNNING")
    statuses = [post_values(engine, batch(index * 2000, 2000)) for index in range(40)]  # ~3 MB in all
    assert statuses[0] == 204
    assert 503 in statuses, statuses
    refused_at = statuses.index(503)
    assert all(status == 503 for status in statuses[refused_at:]), "once full, new data is refused"
    wait_for(lambda: metric(engine, "oibus_north_refused_count", north["id"]) > 0, 10, "refusal metric")
    wait_for(lambda: "cache entry refused" in engine.log(), 10, "refusal log line")


def test_killed_north_worker_comes_back_and_the_other_north_has_no_gap(engine: EngineProcess, tmp_path: Path) -> None:
    every_second = scan_mode_id(engine, "Every second")
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    out_a.mkdir()
    out_b.mkdir()
    norths = [
        engine.ok(
            "POST",
            "/api/north",
            north_body(
                name,
                "file-writer",
                {"outputFolder": str(out), "prefix": "", "suffix": ""},
                every_second,
                transformers=[api_rule("src")],
            ),
        )
        for name, out in (("a", out_a), ("b", out_b))
    ]
    for north in norths:
        engine.wait_state("north", north["id"], "RUNNING")
    victim = engine.wait_state("north", norths[0]["id"], "RUNNING")["state"]["pid"]

    answered: list[int] = []
    stop = threading.Event()

    def client() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            if post_values(engine, batch(n * 10, 10)) == 204:
                answered.append(n)
            n += 1

    thread = threading.Thread(target=client)
    thread.start()
    wait_for(lambda: len(answered) >= 50, 30, "flow started")
    psutil.Process(victim).kill()
    b_before = len(written_values(out_b))
    wait_for(lambda: len(written_values(out_b)) > b_before + 50, 30, "North b keeps receiving")
    thread.join(120)
    stop.set()
    state = engine.wait_state("north", norths[0]["id"], "RUNNING")["state"]
    assert state["pid"] != victim
    assert state["restarts"] >= 1
    expected = sorted(v for n in answered for v in range(n * 10, n * 10 + 10))
    for out in (out_a, out_b):

        def complete(folder: Path = out) -> bool:
            return set(expected) <= set(written_values(folder))

        wait_for(complete, 30, f"{out.name} complete")


def test_kill_9_of_the_whole_tree_loses_nothing_answered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    output = tmp_path / "out"
    output.mkdir()
    engine = EngineProcess(data).start()
    try:
        north = engine.ok(
            "POST",
            "/api/north",
            north_body(
                "writer",
                "file-writer",
                {"outputFolder": str(output), "prefix": "", "suffix": ""},
                scan_mode_id(engine, "Every second"),
                transformers=[api_rule("src")],
            ),
        )
        engine.wait_state("north", north["id"], "RUNNING")
        files_dir = tmp_path / "files"
        files_dir.mkdir()
        answered_values: list[int] = []
        answered_files: list[str] = []
        stop = threading.Event()

        def post_file(name: str, data_bytes: bytes) -> int:
            boundary = "oibusboundary"
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n"
                ).encode()
                + data_bytes
                + f"\r\n--{boundary}--\r\n".encode()
            )
            req = urllib.request.Request(
                f"{engine.url}/api/content/file?dataSourceId=src",
                data=body,
                method="POST",
                headers={"Authorization": AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as err:
                return int(err.code)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return 0

        def values_client() -> None:
            n = 0
            while not stop.is_set():
                if post_values(engine, batch(n * 100, 100)) == 204:
                    answered_values.extend(range(n * 100, n * 100 + 100))
                n += 1

        def files_client() -> None:
            n = 0
            while not stop.is_set():
                name = f"upload-{n:05d}.txt"
                if post_file(name, f"content of {name}".encode()) == 204:
                    answered_files.append(name)
                n += 1

        threads = [threading.Thread(target=values_client), threading.Thread(target=files_client)]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(answered_values) >= 2000 and len(answered_files) >= 20, 60, "flow started")
        engine.kill_tree()
        stop.set()
        for thread in threads:
            thread.join(60)
    finally:
        if engine.proc is not None and engine.proc.poll() is None:
            engine.kill_tree()

    restarted = EngineProcess(data, engine.port).start()
    try:
        wait_for(lambda: set(answered_values) <= set(written_values(output)), 60, "every answered value delivered")
        delivered_files = {p.name for p in output.iterdir() if not p.name.endswith(".json")}
        wait_for(lambda: set(answered_files) <= {p.name for p in output.iterdir()}, 60, "every answered file")
        assert set(answered_files) <= delivered_files | {p.name for p in output.iterdir()}
        for name in answered_files:
            assert (output / name).read_bytes() == f"content of {name}".encode()
    finally:
        assert restarted.stop() == 0, restarted.log()
