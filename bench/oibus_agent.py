"""OPC and PI Souths through the fake OIBus Agent: values/s of history reads; prints its figures.

    .venv/bin/python bench/oibus_agent.py                       # 2 days of 1-second data, 1-hour windows
    .venv/bin/python bench/oibus_agent.py --hours 12 --window 600 --items 4

The fake agent (``tests/servers/oibus_agent.py``, upstream's contract, generated history with one value
per second per item) runs in a child process, so that the figures are the South's side: HTTP, JSON
decoding and checking of each value, hand-over to a sink that only counts. For each connector (``opc``,
``osisoft-pi``) it reads ``--hours`` of ``--items`` items in ``--window``-second windows, as the worker
would. Figures:

  values/s     values handed over per second of wall time (the agent's share of the machine included).
  values/CPU-s values per CPU second of this process: the South's own cost.

It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from connectors.base import ConnectorContext, Item, SouthConnector, TimeValue  # noqa: E402
from connectors.south.opc import OpcSouth  # noqa: E402
from connectors.south.osisoft_pi import PiSouth  # noqa: E402

BASE = datetime(2026, 1, 1, tzinfo=UTC)


class CountingSink:
    """Counts the values handed over."""

    def __init__(self) -> None:
        self.values = 0

    async def add_values(self, values: list[TimeValue], *, items: list[str] | None = None) -> None:
        self.values += len(values)


class NullLogger:
    def debug(self, event: str, /, **fields: Any) -> None: ...
    def info(self, event: str, /, **fields: Any) -> None: ...
    def warning(self, event: str, /, **fields: Any) -> None: ...
    def error(self, event: str, /, **fields: Any) -> None: ...


async def serve(port_file: Path) -> None:
    """The child: run the fake agent until killed; write its port to ``port_file``."""
    from servers.oibus_agent import FakeAgent

    async with FakeAgent(step_ms=1000, now=lambda: datetime.now(UTC)) as agent:
        await asyncio.to_thread(port_file.write_text, str(agent.port))
        await asyncio.Event().wait()


def _items(cls: type[SouthConnector[Any, Any]], count: int) -> list[Item[Any]]:
    struct = cls.manifest.item_settings
    assert struct is not None
    items: list[Item[Any]] = []
    for n in range(count):
        raw = {"nodeId": f"Plant.Tag{n}"} if cls is OpcSouth else {"type": "point-id", "piPoint": f"TAG{n}"}
        items.append(Item(id=f"i{n}", name=f"tag{n}", enabled=True, settings=msgspec.convert(raw, struct)))
    return items


async def read(cls: type[SouthConnector[Any, Any]], url: str, args: argparse.Namespace) -> tuple[int, float, float]:
    settings = msgspec.convert({"agentUrl": url}, cls.manifest.settings)
    sink = CountingSink()
    context = ConnectorContext(
        id="bench", name="bench", logger=NullLogger(), base_folder=Path("."), data_folder=Path(".")
    )
    south = cls(settings, context, sink, None)  # type: ignore[arg-type]
    items = _items(cls, args.items)
    end = BASE + timedelta(hours=args.hours)
    await south.start()
    began, cpu = time.perf_counter(), time.process_time()
    try:
        for item in items:
            cursor = BASE
            while cursor < end:
                upper = min(cursor + timedelta(seconds=args.window), end)
                await south.history_query([item], cursor, upper)
                cursor = upper
    finally:
        await south.stop()
    return sink.values, time.perf_counter() - began, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=48)
    parser.add_argument("--window", type=int, default=3600, help="seconds per window (maxReadInterval)")
    parser.add_argument("--items", type=int, default=2)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    port_file = Path(f"/tmp/oibus-bench-agent-{time.time_ns()}.port")
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file)])
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or child.poll() is not None:
                raise SystemExit("the fake agent did not start")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        for cls in (OpcSouth, PiSouth):
            values, seconds, cpu_seconds = asyncio.run(read(cls, url, args))
            print(f"{cls.manifest.id:<11} {values:,} values, {args.items} items, {args.window} s windows")
            print(f"  values/s      {values / seconds:,.0f}  ({seconds:.1f} s)")
            print(f"  values/CPU-s  {values / cpu_seconds:,.0f}  ({cpu_seconds:.1f} CPU s)")
    finally:
        child.terminate()
        child.wait(10)
        port_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
