"""Values/s decoded by the Sparkplug South: its decoder alone, and end to end through the machine's Mosquitto.

    .venv/bin/python bench/sparkplug_south.py                  # 1,000,000 values decoded, 200,000 end to end
    .venv/bin/python bench/sparkplug_south.py --values 500000 --metrics 100

``decoder``: DDATA payloads shaped as our Sparkplug North publishes them (``--metrics`` metrics by alias, each
with its timestamp, 10 points of type Double) after an NBIRTH/DBIRTH, decoded in this process by
``NamespaceDecoder`` into time-values (protobuf parse, alias lookup, point id, ISO timestamp).

``end to end``: our Sparkplug North publishes ``--e2e`` values (QoS 1, ``--metrics`` per DDATA) to the machine's
Mosquitto; a Sparkplug South in the same process (QoS 1, acknowledging after each hand-over) receives them into a
counting sink. The figure runs from the first publish to the last value handed over. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes import RecordingLogger  # noqa: E402
from north_durability import value  # noqa: E402

from connectors.base import ConnectorContext, Item, TimeValue  # noqa: E402
from connectors.common.sparkplug import DataType, new_payload  # noqa: E402
from connectors.north.sparkplug import SparkplugNorth  # noqa: E402
from connectors.north.sparkplug.manifest import SparkplugNorthSettings  # noqa: E402
from connectors.south.sparkplug import SparkplugSouth  # noqa: E402
from connectors.south.sparkplug.decoder import NamespaceDecoder  # noqa: E402
from connectors.south.sparkplug.manifest import SparkplugItemSettings, SparkplugSettings  # noqa: E402

BROKER = "mqtt://127.0.0.1:1883"


def bench_decoder(total: int, per_message: int) -> float:
    decoder = NamespaceDecoder("{group}/{node}/{device}/{metric}", "{group}/{node}/{metric}")
    decoder.set_items([Item("all", "all", True, SparkplugItemSettings())])
    birth = new_payload(0, 0)
    birth.metrics.add(name="bdSeq", datatype=DataType.UINT64, long_value=0)
    decoder.decode("spBv1.0/g/NBIRTH/n", birth.SerializeToString(), 0)
    device = new_payload(0, 1)
    for alias in range(1, 11):
        device.metrics.add(name=f"p{alias - 1}", alias=alias, datatype=DataType.DOUBLE, double_value=0.0)
    decoder.decode("spBv1.0/g/DBIRTH/n/d", device.SerializeToString(), 0)
    messages: list[bytes] = []
    for start in range(0, total, per_message):
        data = new_payload(1_767_225_600_000 + start, (2 + len(messages)) % 256)
        for n in range(start, min(start + per_message, total)):
            data.metrics.add(
                alias=n % 10 + 1, timestamp=1_767_225_600_000 + n, datatype=DataType.DOUBLE, double_value=n
            )
        messages.append(data.SerializeToString())
    count = 0
    started = time.perf_counter()
    for data in messages:
        decoded = decoder.decode("spBv1.0/g/DDATA/n/d", data, 0)
        count += len(decoded.values)
        assert decoded.rebirth is None
    elapsed = time.perf_counter() - started
    assert count == total, count
    return total / elapsed


class CountingSink:
    """A ValueSink that only counts, and tells when it has seen ``target`` values."""

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = asyncio.Event()

    async def add_values(self, values: list[TimeValue], *, items: list[str] | None = None) -> None:
        self.count += len(values)
        if self.count >= self.target:
            self.done.set()

    async def add_file(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def add_files(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def add_content(self, content: str) -> None:
        raise NotImplementedError


async def bench_end_to_end(total: int, per_message: int) -> float:
    group = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:

        def context(name: str) -> ConnectorContext:
            return ConnectorContext(
                id=f"{name}-{group}",
                name=name,
                logger=RecordingLogger(),
                base_folder=Path(folder),
                data_folder=Path(folder),
            )

        north_settings = {"url": BROKER, "groupId": group, "qos": "1", "metricsPerMessage": per_message}
        north = SparkplugNorth(msgspec.convert(north_settings, SparkplugNorthSettings), context("north"))
        # The birth (one per new point) restates the 10 points' last values: they count too.
        sink = CountingSink(total + 10)
        south_settings = msgspec.convert({"url": BROKER, "qos": "1", "maxNumberOfValues": 10_000}, SparkplugSettings)
        south = SparkplugSouth(south_settings, context("south"), sink, None)  # type: ignore[arg-type]
        await south.start()
        await south.subscribe([Item("all", "all", True, SparkplugItemSettings(group_id=group))])
        await north.start()
        entries = [
            json.dumps([value(n) for n in range(s, min(s + 10_000, total))]).encode() for s in range(0, total, 10_000)
        ]
        try:
            started = time.perf_counter()
            for data in entries:
                await north.handle_values_json(data)
            async with asyncio.timeout(300):
                await sink.done.wait()
            elapsed = time.perf_counter() - started
        finally:
            await north.stop()
            await south.stop()
        assert south.rebirth_requests == 0
        return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--e2e", type=int, default=200_000)
    parser.add_argument("--metrics", type=int, default=500)
    args = parser.parse_args()
    rate = bench_decoder(args.values, args.metrics)
    print(f"decoder     {args.values:>9,} values, {args.metrics} per DDATA: {rate:>10,.0f} values/s", flush=True)
    rate = asyncio.run(bench_end_to_end(args.e2e, args.metrics))
    print(f"end to end  {args.e2e:>9,} values, {args.metrics} per DDATA: {rate:>10,.0f} values/s (QoS 1)", flush=True)


if __name__ == "__main__":
    main()
