"""pyads glue: one ADS connection to one PLC runtime, its blocking calls on one thread, its errors made ours.

pyads (over Beckhoff's AdsLib) is blocking: every call runs on the client's own single thread, so the event
loop never waits and calls never interleave. pyads exceptions are caught here and nowhere else (STYLE R10).
AdsLib does not reconnect by itself; the engine's runner owns reconnection (STYLE R11).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pyads

from connectors.common import tcp
from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorNotReady
from connectors.south.ads.manifest import AdsSettings

__all__ = ["AdsClient", "AdsRefused", "Symbol"]

logging.getLogger("pyads").addHandler(logging.NullHandler())
logging.getLogger("pyads").propagate = False

ROUTER_PORT = 48898
"""The AMS router's TCP port when ``routerTcpPort`` is not set."""
REQUEST_TIMEOUT_MS = 5000
"""AdsLib's answer timeout: past it a read fails and the connection is restarted."""
# ADS error codes that mean the connection, not the symbol, failed (AdsLib's port, route, target, timeout).
_CONNECTION_CODES = {6, 7, 18, 1792, 1861, 1863, 1864, 0x274C, 0x274D, 0x2751}

T = TypeVar("T")


class AdsRefused(ConnectorError):
    """The PLC refused a request about one symbol (unknown symbol, type it cannot give...)."""


class Symbol:
    """A symbol the PLC described: its name and PLC type name (``INT``, ``STRING(80)``, ``E_Mode``...)."""

    def __init__(self, name: str, type_name: str, readable: bool) -> None:
        self.name = name
        self.type_name = type_name
        self.readable = readable


class AdsClient:
    """One ADS connection to the PLC runtime of a connector's settings."""

    def __init__(self, settings: AdsSettings) -> None:
        self.settings = settings
        host = settings.router_address or ".".join(settings.net_id.split(".")[:4])
        self.host = host
        self.router_port = settings.router_tcp_port or ROUTER_PORT
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ads")
        self._connection: pyads.Connection | None = None

    @property
    def where(self) -> str:
        """``net id:port via host:router port``, for messages."""
        return f"{self.settings.net_id}:{self.settings.port} via {self.host}:{self.router_port}"

    async def connect(self) -> None:
        """Open the connection; raise ``ConnectorNotReady`` naming why the PLC cannot be reached."""
        # AdsLib answers a closed router port only with a timeout: a plain TCP connection tells why first.
        await tcp.probe(self.host, self.router_port, REQUEST_TIMEOUT_MS, "an ADS router")
        try:
            await self._call(self._open)
        except pyads.ADSError as err:
            await self.close()
            raise ConnectorNotReady(f"cannot open an ADS connection to {self.where}: {err}") from err
        except BaseException:
            # Cancelled (a stop during the start): the thread may still open the connection; close after it.
            await asyncio.shield(self.close())
            raise

    def _open(self) -> None:
        if self.settings.client_ams_net_id:
            # The local net id is the process's AdsLib router's; it needs no port (opening one per attempt
            # would use up AdsLib's ports after as many reconnections).
            pyads.set_local_address(self.settings.client_ams_net_id)
        route = self.host if self.router_port == ROUTER_PORT else f"{self.host}:{self.router_port}"
        connection = pyads.Connection(self.settings.net_id, self.settings.port, route)
        connection.open()
        try:
            connection.set_timeout(REQUEST_TIMEOUT_MS)
            # A device that answers its state is there: an opened port alone proves nothing.
            connection.read_state()
        except BaseException:
            # An opened connection holds a route in the process's AdsLib router, and AdsLib hands that route's
            # TCP connection to every later connection to the same net id: left open, it would outlive the
            # PLC's restart and every reconnection would time out on its dead socket.
            connection.close()
            raise
        self._connection = connection

    async def close(self) -> None:
        """Close the connection and its thread; safe to call twice."""
        # On the client's own thread, so that a connection an interrupted ``_open`` is still making is closed.
        with contextlib.suppress(RuntimeError):  # The thread was already shut down: closed before.
            await self._call(self._drop)
        self._executor.shutdown(wait=True)

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(pyads.ADSError, OSError, RuntimeError):
                connection.close()

    async def symbol(self, name: str) -> Symbol:
        """What the PLC says of symbol ``name``."""
        found = await self._request(lambda conn: conn.get_symbol(name), f"symbol {name!r}")
        return Symbol(name, str(found.symbol_type), found.plc_type is not None)

    async def read(self, names: list[str]) -> dict[str, Any]:
        """Read symbols in sum reads (as many as a request allows), as upstream 3.8.4 batches them."""
        return await self._request(lambda conn: conn.read_list_by_name(names), f"read of {len(names)} symbol(s)")

    async def _request(self, call: Callable[[pyads.Connection], T], what: str) -> T:
        connection = self._connection
        if connection is None:
            raise ConnectorConnectionError(f"{what}: not connected to {self.where}")
        try:
            return await self._call(lambda: call(connection))
        except pyads.ADSError as err:
            if err.err_code in _CONNECTION_CODES:
                raise ConnectorConnectionError(f"{what}: connection to {self.where} lost ({err})") from err
            raise AdsRefused(f"{what}: {err}") from err
        except (OSError, RuntimeError) as err:
            raise ConnectorConnectionError(f"{what}: connection to {self.where} lost ({err})") from err

    async def _call(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function)
