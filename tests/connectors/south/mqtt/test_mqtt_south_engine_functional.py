"""MQTT South in a real engine, to a file-writer North: broker restart mid-flow, and kill -9 of the engine tree.

The publisher is the real ``mosquitto_pub`` client against a private Mosquitto that keeps every message of
an offline persistent session. Every value published (0..N-1) must reach the file-writer, which is stronger
than "every value the broker acknowledged" (``mosquitto_pub -l`` exits 0 even when it could not publish all
of a fast input: the pace of the flow is kept well below that).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from engine_process import EngineProcess, north_body, running_engine, scan_mode_id, wait_for
from servers.mosquitto import Mosquitto, private_mosquitto, publish, publish_command

TOPIC = "plant/counter"


def mqtt_south_body(broker: Mosquitto) -> dict[str, Any]:
    return {
        "name": "broker",
        "type": "mqtt",
        "description": "",
        "enabled": True,
        "settings": {
            "url": broker.url,
            "qos": "1",
            "persistent": True,
            "authentication": {"type": "none"},
            "rejectUnauthorized": False,
            "reconnectPeriod": 1000,
            "connectTimeout": 5000,
            "maxNumberOfMessages": 500,
            "flushMessageTimeout": 100,
        },
        "items": [
            {
                "name": "counter",
                "enabled": True,
                "scanModeId": "subscription",
                "settings": {"topic": TOPIC, "valueType": "number"},
            }
        ],
        "groups": [],
    }


def written(folder: Path) -> set[int]:
    values: set[int] = set()
    for path in folder.glob("*.json"):
        try:
            values.update(int(v["data"]["value"]) for v in json.loads(path.read_bytes()))
        except (OSError, ValueError):
            continue  # Being renamed into place; read at the next poll.
    return values


def pipeline(engine: EngineProcess, broker: Mosquitto, output: Path) -> str:
    """A file-writer North and the MQTT South; returns the South id once a probe message went through."""
    north = engine.ok(
        "POST",
        "/api/north",
        north_body(
            "writer",
            "file-writer",
            {"outputFolder": str(output), "prefix": "", "suffix": ""},
            scan_mode_id(engine, "Every second"),
        ),
    )
    engine.wait_state("north", north["id"], "RUNNING")
    south = engine.ok("POST", "/api/south", mqtt_south_body(broker))
    engine.wait_state("south", south["id"], "RUNNING")

    def probe_through() -> bool:
        publish(broker.port, TOPIC, ["-1"])
        return -1 in written(output)

    # The subscription exists once a probe comes through; from then on the broker keeps everything for us.
    wait_for(probe_through, 30, "probe message written", poll_s=0.5)
    return str(south["id"])


def test_broker_restart_mid_flow_reconnects_logs_the_gap_once_and_loses_nothing(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    with private_mosquitto(tmp_path / "broker") as broker, running_engine(tmp_path / "data") as engine:
        pipeline(engine, broker, output)
        publish(broker.port, TOPIC, [str(n) for n in range(5000)])
        broker.restart()  # while the South is still taking the first 5000 in
        publish(broker.port, TOPIC, [str(n) for n in range(5000, 8000)])
        wait_for(lambda: set(range(8000)) <= written(output), 60, "every acknowledged message written")
        log = engine.log()
        assert log.count("connection lost, reconnecting") == 1, log[-3000:]
        wait_for(lambda: engine.log().count("connector started after retries") == 1, 30, "recovery logged once")


def test_kill_9_of_the_engine_tree_during_a_qos1_flow_loses_no_acknowledged_message(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    total = 20_000
    with private_mosquitto(tmp_path / "broker") as broker:
        engine = EngineProcess(tmp_path / "data").start()
        publisher: subprocess.Popen[str] | None = None
        try:
            pipeline(engine, broker, output)
            publisher = subprocess.Popen(
                publish_command(broker.port, TOPIC, qos=1),
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            feeder = threading.Thread(target=_feed, args=(publisher, total), daemon=True)
            feeder.start()
            wait_for(lambda: len(written(output)) >= 3000, 60, "flow under way")
            engine.kill_tree()
            feeder.join(60)
            assert publisher.wait(60) == 0, publisher.stderr.read() if publisher.stderr else ""
        finally:
            if publisher is not None and publisher.poll() is None:
                publisher.kill()
                publisher.wait(10)
            if engine.proc is not None and engine.proc.poll() is None:
                engine.kill_tree()
        assert len(written(output) & set(range(total))) < total, "the kill happened before the end of the flow"

        restarted = EngineProcess(tmp_path / "data", engine.port).start()
        try:
            wait_for(lambda: set(range(total)) <= written(output), 90, "every acknowledged message written")
        finally:
            assert restarted.stop() == 0, restarted.log()


def _feed(publisher: subprocess.Popen[str], total: int) -> None:
    """Write ``total`` lines to ``mosquitto_pub -l`` at a steady pace (about 10,000 a second), then close."""
    assert publisher.stdin is not None
    chunk = 200
    for start in range(0, total, chunk):
        publisher.stdin.write("".join(f"{n}\n" for n in range(start, min(start + chunk, total))))
        publisher.stdin.flush()
        time.sleep(0.02)
    publisher.stdin.close()
