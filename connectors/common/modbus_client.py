"""Modbus TCP glue shared by the Modbus South and North: one pymodbus session, its errors made ours.

pymodbus exceptions are caught here and nowhere else (STYLE R10). The session never reconnects by itself
(``reconnect_delay=0``) and never retries a request (``retries=0``): the engine's runner owns reconnection
(STYLE R11), and a request that got no answer leaves the session in an unknown state, so it is reported as
a lost connection rather than retried on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from connectors.common import tcp
from connectors.common.modbus import ModbusConnectionSettings
from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorNotReady

__all__ = ["ModbusClient", "ModbusRefused", "probe"]

# pymodbus logs every failed connect and unanswered request on its own logger; with no handler configured
# Python would print them on standard error. The connectors report the same events through their logger,
# once per state change, so the library's copy is dropped.
logging.getLogger("pymodbus").addHandler(logging.NullHandler())

_EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}

_READ_FUNCTIONS = {
    "coil": "read_coils",
    "discrete-input": "read_discrete_inputs",
    "holding-register": "read_holding_registers",
    "input-register": "read_input_registers",
}


class ModbusRefused(ConnectorError):
    """The server answered a request with a Modbus exception (illegal address, device busy...)."""

    def __init__(self, what: str, code: int) -> None:
        self.code = code
        name = _EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__(f"{what}: the server answered {name} (Modbus exception {code})")


async def probe(host: str, port: int, timeout_ms: int) -> None:
    """Open and close a TCP connection to ``host:port``; raise ``ConnectorNotReady`` saying why it failed."""
    await tcp.probe(host, port, timeout_ms, "a Modbus server")


class ModbusClient:
    """One Modbus TCP session to one unit (``slave_id``).

    ``on_lost(reason)`` is called once when the server closes the session or it breaks, but not when
    ``close`` ends it: a connector passes its context's ``connection_lost`` so that the runner restarts it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        slave_id: int,
        *,
        connect_timeout_ms: int,
        network_timeout_ms: int,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.slave_id = slave_id
        self._connect_timeout_ms = connect_timeout_ms
        self._network_timeout_ms = network_timeout_ms
        self._on_lost = on_lost
        self._closing = False
        self._client = AsyncModbusTcpClient(
            host,
            port=port,
            name=f"oibus {host}:{port}",
            reconnect_delay=0,
            timeout=network_timeout_ms / 1000,
            retries=0,
            trace_connect=self._connection_changed,
        )

    @classmethod
    async def open(cls, settings: ModbusConnectionSettings, on_lost: Callable[[str], None]) -> ModbusClient:
        """A connected session to the server of a connector's settings (``ConnectorNotReady`` with the reason)."""
        client = cls(
            settings.host,
            settings.port,
            settings.slave_id,
            connect_timeout_ms=settings.connect_timeout,
            network_timeout_ms=settings.network_timeout,
            on_lost=on_lost,
        )
        await client.connect()
        return client

    @property
    def where(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"

    async def connect(self) -> None:
        """Open the session; raise ``ConnectorNotReady`` naming the reason when the server cannot be reached."""
        self._closing = False
        try:
            async with asyncio.timeout(self._connect_timeout_ms / 1000):
                connected = await self._client.connect()
        except TimeoutError:
            connected = False
        if connected:
            return
        self.close()
        # pymodbus only says that the connection failed; a plain TCP connection tells why.
        await probe(self.host, self.port, self._connect_timeout_ms)
        raise ConnectorNotReady(f"cannot open a Modbus session with {self.where}")

    def close(self) -> None:
        """End the session (no ``on_lost`` report); safe to call twice."""
        self._closing = True
        self._client.close()

    def _connection_changed(self, connected: bool) -> None:
        if connected or self._closing:
            return
        self._closing = True  # Report a loss once, whatever follows.
        if self._on_lost is not None:
            self._on_lost(f"connection to the Modbus server {self.where} closed")

    async def read(self, table: str, address: int, count: int) -> list[int]:
        """Read ``count`` registers (or bits, as 0/1) of ``table`` from ``address`` (0-based, on the wire)."""
        function = getattr(self._client, _READ_FUNCTIONS[table])
        what = f"read of {count} {table}(s) at address {address}"
        response = await self._execute(lambda: function(address, count=count, device_id=self.slave_id), what)
        if table in ("coil", "discrete-input"):
            return [1 if bit else 0 for bit in response.bits[:count]]
        registers = list(response.registers)
        if len(registers) != count:
            raise ConnectorError(f"{what}: the server answered {len(registers)} register(s)")
        return registers

    async def write_coil(self, address: int, value: bool) -> None:
        """Write one coil."""
        what = f"write of coil {address}"
        await self._execute(lambda: self._client.write_coil(address, value, device_id=self.slave_id), what)

    async def write_registers(self, address: int, registers: list[int]) -> None:
        """Write holding registers: one (function 6) or several contiguous ones (function 16)."""
        what = f"write of {len(registers)} holding register(s) at address {address}"
        if len(registers) == 1:
            await self._execute(
                lambda: self._client.write_register(address, registers[0], device_id=self.slave_id), what
            )
        else:
            await self._execute(lambda: self._client.write_registers(address, registers, device_id=self.slave_id), what)

    async def _execute(self, request: Callable[[], Awaitable[ModbusPDU]], what: str) -> ModbusPDU:
        if self._closing:
            raise ConnectorConnectionError(f"{what}: the session with {self.where} is closed")
        try:
            response = await request()
        except ConnectionException as err:
            raise ConnectorConnectionError(f"{what}: not connected to {self.where}") from err
        except ModbusIOException as err:
            raise ConnectorConnectionError(
                f"{what}: no answer from {self.where} within networkTimeout ({self._network_timeout_ms} ms)"
            ) from err
        except ModbusException as err:
            raise ConnectorError(f"{what}: {err}") from err
        if response.isError():
            raise ModbusRefused(what, int(getattr(response, "exception_code", 0)))
        return response


S = TypeVar("S", bound=ModbusConnectionSettings)


class ModbusSession(Generic[S]):
    """The lifecycle both Modbus connectors share: one session, opened by ``start``, closed by ``stop``.

    Mixed in before ``SouthConnector``/``NorthConnector``, whose constructor sets ``settings`` and ``context``.
    """

    settings: S
    context: Any
    _client: ModbusClient | None = None

    async def start(self) -> None:
        """Open the Modbus session; ``ConnectorNotReady`` says why the server cannot be reached."""
        self._client = await ModbusClient.open(self.settings, self.context.connection_lost)

    async def stop(self) -> None:
        """Close the session."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def test_connection(self) -> None:
        """Open a TCP connection to the server; ``ConnectorNotReady`` says why it failed (host, port, timeout)."""
        await probe(self.settings.host, self.settings.port, self.settings.connect_timeout)
