"""MQTT end to end against REAL processes: mosquitto_pub -> Mosquitto -> OIBus MQTT South -> file-writer North.

    .venv/bin/python bench/mqtt.py                          # QoS 0 (500,000 messages) and QoS 1 (200,000)
    .venv/bin/python bench/mqtt.py --qos 0 --messages 200000 --publishers 2

For each QoS: a private Mosquitto (no queue limits), a real engine with a file-writer North and an MQTT South
(one item ``bench/+``, valueType number), a probe message through the whole chain, then ``--publishers``
processes publish their share of the messages at once (payloads 0..N-1): ``mosquitto_pub -l`` at QoS 0 (C,
cheap), and at QoS 1/2 a gmqtt publisher that waits for every acknowledgement (``mosquitto_pub -l`` gives up
silently on a fast QoS 1 input: it exits 0 after publishing a part of it). The figure is
messages/s from the start of the publishers until the N-th value is in the file-writer's output files; every
value is then checked (duplicates allowed, loss reported). Memory (USS/PSS) and the CPU split of each
process are printed. Not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from engine_process import scan_mode_id  # noqa: E402
from pipeline import MIB, CpuWatch, Fleet, file_writer_body, label, visible_files  # noqa: E402
from servers.mosquitto import Mosquitto, publish, publish_command  # noqa: E402

from connectors.common.mqtt import MqttConnectionSettings, MqttSession  # noqa: E402

SUMMARY: list[tuple[str, str, str]] = []


def south_body(broker: Mosquitto, qos: str, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "name": "mqtt-in",
        "type": "mqtt",
        "description": "",
        "enabled": True,
        "settings": {
            "url": broker.url,
            "qos": qos,
            "persistent": qos != "0",
            "authentication": {"type": "none"},
            "connectTimeout": 10000,
            "maxNumberOfMessages": args.batch,
            "flushMessageTimeout": args.flush_ms,
        },
        "items": [
            {
                "name": "bench",
                "enabled": True,
                "scanModeId": "subscription",
                "settings": {"topic": "bench/+", "valueType": "number"},
            }
        ],
        "groups": [],
    }


class OutputCounter:
    """Counts values in the file-writer's JSON files cheaply while timing (one ``"pointId"`` key per value)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counted: dict[str, int] = {}
        self.total = 0

    def scan(self) -> int:
        for entry in visible_files(self.folder):
            if entry.name not in self.counted:
                with open(entry.path, "rb") as handle:
                    self.counted[entry.name] = handle.read().count(b'"pointId"')
                self.total += self.counted[entry.name]
        return self.total

    def distinct(self) -> set[int]:
        seen: set[int] = set()
        for entry in visible_files(self.folder):
            seen.update(int(value["data"]["value"]) for value in json.loads(Path(entry.path).read_bytes()))
        return seen


def memory_rows(engine_tree: list[psutil.Process], engine_pid: int) -> list[tuple[str, int, int, int]]:
    rows = []
    for proc in engine_tree:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rows.append((label(proc, engine_pid), info.pss, info.uss, info.rss))
    return rows


def bench_qos(fleet: Fleet, tmp: Path, qos: str, total: int, args: argparse.Namespace) -> None:
    print(
        f"\n[QoS {qos}] {total:,} messages, {args.publishers} {'mosquitto_pub -l' if qos == '0' else 'gmqtt'} "
        f"publishers, South batches of "
        f"{args.batch} / {args.flush_ms} ms, persistent session: {qos != '0'}"
    )
    base = tmp / f"qos{qos}"
    output = base / "output"
    output.mkdir(parents=True)
    broker = Mosquitto(base / "broker")
    broker.start()
    publishers: list[subprocess.Popen[bytes]] = []
    try:
        engine = fleet.engine(base / "data", args.log_level)
        north = engine.ok("POST", "/api/north", file_writer_body("out", output, scan_mode_id(engine, "Every second")))
        engine.wait_state("north", north["id"], "RUNNING")
        south = engine.ok("POST", "/api/south", south_body(broker, qos, args))
        engine.wait_state("south", south["id"], "RUNNING")
        counter = OutputCounter(output)
        deadline = time.monotonic() + 30
        while counter.scan() < 1:  # The probe: the subscription is in place and the chain works.
            if time.monotonic() > deadline:
                raise TimeoutError(f"probe message not written\n{engine.log()[-3000:]}")
            publish(broker.port, "bench/probe", ["-1"], qos=int(qos))
            time.sleep(0.5)
        probe_values = counter.total

        shares = [range(index, total, args.publishers) for index in range(args.publishers)]
        inputs = []
        for index, share in enumerate(shares):
            path = base / f"publisher-{index}.txt"
            path.write_text("".join(f"{n}\n" for n in share))
            inputs.append(path)
        assert engine.proc is not None
        cpu = CpuWatch(engine).start()
        started = time.monotonic()
        for index, path in enumerate(inputs):
            if qos == "0":
                with path.open("rb") as stdin:
                    command = publish_command(broker.port, f"bench/{index}", qos=0)
                    publishers.append(subprocess.Popen(command, stdin=stdin, stderr=subprocess.PIPE))
            else:
                command = [sys.executable, __file__, "--publish", f"{broker.port},bench/{index},{path},{qos}"]
                publishers.append(subprocess.Popen(command, stderr=subprocess.PIPE))
        published_at = 0.0
        while True:
            if not published_at and all(p.poll() is not None for p in publishers):
                published_at = time.monotonic()
            if counter.scan() - probe_values >= total:
                break
            if time.monotonic() - started > args.timeout:
                print(f"    !! only {counter.total - probe_values:,} of {total:,} written after {args.timeout} s")
                break
            time.sleep(0.05)
        ended = time.monotonic()
        cpu_lines = cpu.report(total, "message")
        rows = memory_rows(engine.tree(), engine.proc.pid)
        for publisher in publishers:
            code = publisher.wait(60)
            if code != 0:
                error = publisher.stderr.read().decode() if publisher.stderr else ""
                print(f"    !! mosquitto_pub exited {code}: {error}")
        if not published_at:
            published_at = time.monotonic()
        e2e = ended - started
        rate = total / e2e
        print(
            f"    publishers done after {published_at - started:.2f} s = {total / (published_at - started):,.0f} msg/s"
        )
        print(f"    end to end (publishers start -> N-th value written): {e2e:.2f} s = {rate:,.0f} messages/s")
        seen = counter.distinct()
        missing = total - len(seen & set(range(total)))
        written = counter.total - probe_values
        print(
            f"    check: {len(counter.counted)} output files, {written:,} values written, {missing} missing, "
            f"{max(0, written - len(seen) + 1):,} duplicates"
        )
        print("\n".join(cpu_lines))
        print(f"    {'process (after the run)':<24} {'PSS MiB':>9} {'USS MiB':>9} {'RSS MiB':>9}")
        for name, pss, uss, rss in rows:
            print(f"    {name:<24} {pss / MIB:9.1f} {uss / MIB:9.1f} {rss / MIB:9.1f}")
        SUMMARY.append((f"QoS {qos} end to end ({total:,} messages, {missing} missing)", f"{rate:,.0f}", "msg/s"))
        south_id = str(south["id"])
        for name, pss, uss, _ in rows:
            if south_id[:8] in name or north["id"][:8] in name:
                role = "South" if south_id[:8] in name else "North"
                SUMMARY.append((f"QoS {qos} {role} worker USS / PSS", f"{uss / MIB:.1f} / {pss / MIB:.1f}", "MiB"))
        fleet.stop(engine)
    finally:
        for publisher in publishers:
            if publisher.poll() is None:
                publisher.kill()
                publisher.wait(10)
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)


async def _publish(port: int, topic: str, path: Path, qos: int) -> None:
    """Publish one message per line of ``path``; return once the broker acknowledged every one."""
    settings = msgspec.convert({"url": f"mqtt://127.0.0.1:{port}", "qos": str(qos)}, MqttConnectionSettings)
    session = MqttSession(settings, f"bench-publisher-{os.getpid()}", data_folder=path.parent)
    await session.connect()
    window = max(1, min(1000, session.send_quota))
    try:
        lines = (await asyncio.to_thread(path.read_bytes)).splitlines()
        for line in lines:
            if session.unconfirmed >= window:
                await session.wait_confirmed(window - 1)
            session.publish(topic, line, qos, False)
        await session.wait_confirmed(0)
    finally:
        await session.close()


def _on_sigterm(signum: int, frame: Any) -> None:
    del signum, frame
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qos", default="0,1", help="comma-separated QoS levels (default 0,1)")
    parser.add_argument(
        "--messages", type=int, default=0, help="messages per QoS (default 500,000 QoS 0, 200,000 else)"
    )
    parser.add_argument("--publishers", type=int, default=2, help="parallel mosquitto_pub processes (default 2)")
    parser.add_argument("--batch", type=int, default=1000, help="South maxNumberOfMessages (default 1000)")
    parser.add_argument("--flush-ms", type=int, default=200, help="South flushMessageTimeout (default 200 ms)")
    parser.add_argument("--timeout", type=float, default=300, help="give up a run after this many seconds")
    parser.add_argument("--log-level", default="info", help="OIBUS_LOG_LEVEL of the engine (default info)")
    parser.add_argument("--publish", help=argparse.SUPPRESS)  # port,topic,file,qos: a QoS 1/2 publisher process
    args = parser.parse_args()
    if args.publish:
        port, topic, path, qos = args.publish.split(",")
        asyncio.run(_publish(int(port), topic, Path(path), int(qos)))
        return 0
    signal.signal(signal.SIGTERM, _on_sigterm)
    fleet = Fleet()
    tmp = Path(tempfile.mkdtemp(prefix="oibus-bench-mqtt-"))
    load = os.getloadavg()
    print(
        f"OIBus MQTT benchmark — python {sys.version.split()[0]}, {psutil.cpu_count()} CPUs; "
        f"load average before start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other processes skew every figure)"
    )
    try:
        for qos in [q.strip() for q in args.qos.split(",") if q.strip()]:
            total = args.messages or (500_000 if qos == "0" else 200_000)
            bench_qos(fleet, tmp, qos, total, args)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process started")
        return 130
    finally:
        fleet.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nSummary")
    width = max((len(row[0]) for row in SUMMARY), default=10)
    for figure, value, unit in SUMMARY:
        print(f"  {figure:<{width}}  {value:>14}  {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
