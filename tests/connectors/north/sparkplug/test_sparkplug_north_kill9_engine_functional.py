"""End to end: a million values posted to a real engine reach a Sparkplug host application, none lost.

The North publishes to a private Mosquitto (``tests/servers/mosquitto.py``; never the machine's broker, which
other tests share). The host application is ``mosquitto_sub`` on a persistent session (QoS 1), printing each
message's topic and payload in hex into a file, which the test decodes at the end. Half-way the North's worker is
killed with SIGKILL: the broker publishes its will (NDEATH with the session's ``bdSeq``); once the host received
it, the broker is restarted, cutting the new worker's connection too.

Delivery is at least once (MQTT QoS 1, and a cache entry sent again after the kill): a value may come twice, in
another DDATA with another ``seq``, so the values are compared as a set. A message the broker delivers twice to
the host (the same bytes, redelivered after the restart) is dropped before the sequence check.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from engine_process import running_engine, wait_for
from north_durability import EPOCH, create_north, post_kill_restart, wait_all_delivered
from servers.mosquitto import private_mosquitto

from connectors.common.sparkplug import decode_payload, metric_value

TOTAL = 1_000_000
BATCH = 10_000
EPOCH_MS = int(EPOCH.timestamp() * 1000)


class HostApplication:
    """``mosquitto_sub`` on a persistent session, every message of the group appended to ``output``."""

    def __init__(self, port: int, group: str, output: Path) -> None:
        self.output = output
        self._file = output.open("wb")
        command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", f"spBv1.0/{group}/#", "-q", "1"]
        command += ["-c", "-i", f"host-{group}", "-F", "%t %x", "-V", "mqttv311"]
        self.proc = subprocess.Popen(command, stdout=self._file, stderr=subprocess.PIPE)

    def lines(self) -> list[tuple[str, bytes]]:
        found = []
        for line in self.output.read_text().splitlines():
            topic, _, hexa = line.partition(" ")
            if topic.startswith("spBv1.0/"):
                found.append((topic.split("/")[2], bytes.fromhex(hexa)))
        return found

    def count_values(self) -> int:
        """How many DDATA metrics arrived so far (duplicates included), read from the file's hex lengths."""
        return sum(len(decode_payload(data).metrics) for kind, data in self.lines() if kind == "DDATA")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._file.close()


def bd_seq(payload: Any) -> int:
    return int(next(m.long_value for m in payload.metrics if m.name == "bdSeq"))


def check(messages: list[tuple[str, bytes]]) -> tuple[set[int], list[tuple[int, int]]]:
    """Decode every message and check it; the values, and the deaths as (bdSeq of the session, of the NDEATH).

    Checked: ``seq`` per session (0 at NBIRTH, +1 modulo 256), the DDATA aliases through the session's DBIRTH,
    each value's point (``p<n % 10>``) and timestamp (``EPOCH + n`` ms).
    """
    values: set[int] = set()
    deaths: list[tuple[int, int]] = []
    names: dict[int, str] = {}
    session: int | None = None
    expected: int | None = None
    recent: list[bytes] = []
    for kind, data in messages:
        if data in recent:
            continue  # the broker delivered these bytes again (QoS 1 redelivery to the host)
        recent = [*recent[-511:], data]
        payload = decode_payload(data)
        if kind == "NDEATH":
            assert not payload.HasField("seq")
            assert session is not None
            deaths.append((session, bd_seq(payload)))
            continue
        if kind == "NBIRTH":
            session, expected, names = bd_seq(payload), 0, {}
        assert payload.seq == expected, f"{kind} seq {payload.seq}, expected {expected} (session bdSeq {session})"
        expected = (payload.seq + 1) % 256
        if kind == "DBIRTH":
            names = {int(m.alias): m.name for m in payload.metrics}
        elif kind == "DDATA":
            for metric in payload.metrics:
                assert not metric.name, "DDATA carries aliases only"
                n = metric_value(metric, metric.datatype)
                assert isinstance(n, int)
                assert names[int(metric.alias)] == f"p{n % 10}", f"alias {metric.alias} of value {n}"
                assert metric.timestamp == EPOCH_MS + n
                values.add(n)
    return values, deaths


def test_a_million_values_none_lost_across_kill_9_and_a_broker_restart(tmp_path: Path) -> None:
    group = f"i15b-{uuid.uuid4().hex[:8]}"
    with private_mosquitto(tmp_path / "broker") as broker:
        host = HostApplication(broker.port, group, tmp_path / "host.txt")
        try:
            wait_for(lambda: f"Sending SUBACK to host-{group}" in broker.log(), 10, "host subscribed")

            def restart_broker() -> None:
                wait_for(lambda: any(k == "NDEATH" for k, _ in host.lines()), 30, "the will (NDEATH) published")
                broker.restart()

            with running_engine(tmp_path / "data") as engine:
                settings = {"url": broker.url, "groupId": group, "edgeNodeId": "edge", "deviceId": "dev"}
                north_id = create_north(engine, "sparkplug", settings, BATCH)
                post_kill_restart(engine, north_id, TOTAL, BATCH, restart_broker)
                wait_all_delivered(host.count_values, TOTAL, timeout_s=600)
                wait_for(lambda: len(check(host.lines())[0]) == TOTAL, 600, "every value at the host", poll_s=2)
        finally:
            host.stop()
    values, deaths = check(host.lines())
    assert values == set(range(TOTAL))
    # The killed worker's will: the death certificate of the session it had, published by the broker.
    assert deaths, "no NDEATH"
    session, died = deaths[0]
    assert died == session
    births = [bd_seq(decode_payload(data)) for kind, data in host.lines() if kind == "NBIRTH"]
    assert births[-1] != session, "the new worker's births carry a new bdSeq"
