"""A real pymodbus TCP server on loopback for the Modbus tests and benchmark (STYLE R13).

In a test: ``async with modbus_server() as server:`` gives a started ``ModbusTestServer`` on a port the kernel
assigns to its listener, with four separate tables (coils, discrete inputs, holding and input registers) of
``size`` addresses each, all 0.
``set``/``get`` change and read the tables from the test; ``stop``/``start`` drop and bring back the server on
the same port, keeping the tables (a device rebooting, or a network cut).

Standalone (``python tests/servers/modbus.py [--port N]``, by default on a port the system assigns, printed on
its first line), it serves tables where register ``i`` holds ``i`` and coil ``i`` is ``i % 2``, until SIGTERM or
SIGINT: the benchmark runs it in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

__all__ = ["TABLE_CODES", "ModbusTestServer", "Received", "modbus_server"]

TABLE_CODES = {"coil": 1, "discrete-input": 2, "holding-register": 3, "input-register": 4}
"""The read function code of each table, which is how pymodbus's datastore names a table."""


@dataclass(frozen=True, slots=True)
class Received:
    """A request the server received: function code, unit id, address and count (registers or bits)."""

    function_code: int
    unit: int
    address: int
    count: int


class ModbusTestServer:
    """A pymodbus ``ModbusTcpServer`` answering every unit id, on ``127.0.0.1:port``.

    ``requests`` lists what it received (when ``record``), so that a test can count requests and check the
    addresses and unit id on the wire.
    """

    def __init__(
        self, port: int | None = None, *, size: int = 1000, pattern: bool = False, record: bool = True
    ) -> None:
        self.port = port or 0
        """0 until the first ``start``: the kernel assigns the port to the listener itself (no guessed port)."""
        self.requests: list[Received] = []
        self.busy: set[int] = set()
        """Holding-register addresses whose reads are answered "device busy" (Modbus exception 6)."""
        self._record = record
        self.size = size
        self.host = "127.0.0.1"
        registers: int | list[int] = [i & 0xFFFF for i in range(size)] if pattern else 0
        bits: bool | list[bool] = [bool(i % 2) for i in range(size)] if pattern else False
        # Device id 0 answers every unit id; four separate tables, as most PLCs have.
        self._device = SimDevice(
            id=0,
            simdata=(
                [SimData(0, count=1 if pattern else size, values=bits, datatype=DataType.BITS)],
                [SimData(0, count=1 if pattern else size, values=bits, datatype=DataType.BITS)],
                [SimData(0, count=1 if pattern else size, values=registers, datatype=DataType.REGISTERS)],
                [SimData(0, count=1 if pattern else size, values=registers, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )
        self._server: ModbusTcpServer | None = None
        self._core: ModbusServerContext | SimCore | None = None

    async def start(self) -> None:
        """Listen (again) on the same port; the tables keep what they held."""
        server = ModbusTcpServer(
            self._device, address=(self.host, self.port), trace_pdu=self._trace if self._record else None
        )
        if self._core is not None:
            # A new listener over the same datastore: what the tests wrote survives the restart.
            server.context = self._core
        self._core = server.context
        await server.serve_forever(background=True)
        self._server = server
        if self.port == 0:
            listener = server.transport
            assert isinstance(listener, asyncio.base_events.Server)
            self.port = listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and every client connection."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        del start_address, registers
        if function_code == 3 and values is None and self.busy.intersection(range(address, address + count)):
            return ExcCodes.DEVICE_BUSY
        return None

    def _trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            count = pdu.count or len(pdu.registers) or len(pdu.bits)
            self.requests.append(Received(pdu.function_code, pdu.dev_id, pdu.address, count))
        return pdu

    @property
    def running(self) -> bool:
        """Whether the server listens."""
        return self._server is not None

    async def set(self, table: str, address: int, values: list[int] | list[bool]) -> None:
        """Write ``values`` into ``table`` from ``address`` (0-based, as on the wire)."""
        server = self._require()
        # The datastore names a table by its read function code, for writes too.
        await server.async_setValues(0, TABLE_CODES[table], address, values)

    async def get(self, table: str, address: int, count: int = 1) -> list[int]:
        """Read ``count`` values of ``table`` from ``address`` (bits as 0/1)."""
        server = self._require()
        found = await server.async_getValues(0, TABLE_CODES[table], address, count)
        return [int(value) for value in found]

    def _require(self) -> ModbusTcpServer:
        if self._server is None:
            raise RuntimeError("the Modbus test server is stopped")
        return self._server


@contextlib.asynccontextmanager
async def modbus_server(port: int | None = None, *, size: int = 1000) -> AsyncIterator[ModbusTestServer]:
    """A started server, stopped on exit."""
    server = ModbusTestServer(port, size=size)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _serve(port: int, size: int) -> None:
    server = ModbusTestServer(port, size=size, pattern=True, record=False)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening {server.host}:{server.port}", flush=True)
    await stop.wait()
    await server.stop()


def main() -> None:
    """Serve until SIGTERM/SIGINT (used by ``bench/modbus.py``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 (default): the system assigns one, printed")
    parser.add_argument("--size", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.size))


if __name__ == "__main__":
    main()
