"""pyads glue: one ADS connection to one PLC runtime, its blocking calls on one thread, its errors made ours.

pyads (over Beckhoff's AdsLib) is blocking: every call runs on the client's own single thread, so the event
loop never waits and calls never interleave. pyads exceptions are caught here and nowhere else (STYLE R10).
AdsLib does not reconnect by itself; the engine's runner owns reconnection (STYLE R11).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pyads
from pyads import constants, structs

from connectors.common import tcp
from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorNotReady
from connectors.south.ads.datatypes import DataTypeEntry, SymbolEntry, parse_datatype, parse_symbol
from connectors.south.ads.manifest import AdsSettings

__all__ = ["AdsClient", "AdsRefused"]

logging.getLogger("pyads").addHandler(logging.NullHandler())
logging.getLogger("pyads").propagate = False

ROUTER_PORT = 48898
"""The AMS router's TCP port when ``routerTcpPort`` is not set."""
REQUEST_TIMEOUT_MS = 5000
"""AdsLib's answer timeout: past it a read fails and the connection is restarted."""
SUM_READ_MAX = constants.MAX_ADS_SUB_COMMANDS
"""Symbols per sum read: Beckhoff's recommended most (500), as pyads and upstream 3.8.4 use."""
ADSIGRP_SYM_DT_INFOBYNAMEEX = 0xF011
"""Index group of a data type's description by name (TwinCAT's ADSIGRP_SYM_DT_INFOBYNAMEEX)."""
SYMBOL_NOT_FOUND = 0x710
"""ADS error of a symbol or type name the PLC does not know (ADSERR_DEVICE_SYMBOLNOTFOUND)."""
_DESCRIPTION_MAX = 256 * 1024
"""Most bytes a symbol or data type description may take; AdsLib reads into a buffer of this size."""
# ADS error codes that mean the connection, not the symbol, failed (AdsLib's port, route, target, timeout).
_CONNECTION_CODES = {6, 7, 18, 1792, 1861, 1863, 1864, 0x274C, 0x274D, 0x2751}

T = TypeVar("T")


class AdsRefused(ConnectorError):
    """The PLC refused a request about one symbol (unknown symbol, type it cannot give...)."""


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

    async def symbol(self, name: str) -> SymbolEntry:
        """What the PLC says of symbol ``name`` (ADSIGRP_SYM_INFOBYNAMEEX)."""
        raw = await self._request(
            lambda conn: self._describe(conn, constants.ADSIGRP_SYM_INFOBYNAMEEX, name), f"symbol {name!r}"
        )
        found = parse_symbol(raw)
        if found.index_group == constants.ADSIGRP_SYM_FB_PROP_CALL:
            # Such a property is computed on each read through a handle: it has no place a sum read can read.
            raise AdsRefused(f"symbol {name!r} is a function block property computed on read (monitoring 'call')")
        return found

    async def datatype(self, name: str) -> DataTypeEntry | None:
        """The PLC's description of type ``name`` (ADSIGRP_SYM_DT_INFOBYNAMEEX), ``None`` if it has none."""
        try:
            raw = await self._request(
                lambda conn: self._describe(conn, ADSIGRP_SYM_DT_INFOBYNAMEEX, name), f"data type {name!r}"
            )
        except AdsRefused as err:
            if isinstance(err.__cause__, pyads.ADSError) and err.__cause__.err_code == SYMBOL_NOT_FOUND:
                return None
            raise
        return parse_datatype(raw)

    @staticmethod
    def _describe(connection: pyads.Connection, index_group: int, name: str) -> bytes:
        buffer = connection.read_write(
            index_group,
            0,
            ctypes.c_ubyte * _DESCRIPTION_MAX,
            name,
            pyads.PLCTYPE_STRING,
            return_ctypes=True,
            check_length=False,
        )
        # The entry starts with its own length; the buffer past it is what AdsLib did not fill.
        length = int.from_bytes(bytes(buffer[:4]), "little")
        return bytes(buffer[:length])

    async def symbols(self) -> list[SymbolEntry]:
        """The PLC's whole symbol table: its size (ADSIGRP_SYM_UPLOADINFO2), then the table (ADSIGRP_SYM_UPLOAD)."""
        return await self._request(_upload, "upload of the symbol table")

    async def read(self, symbols: list[SymbolEntry]) -> list[bytes | int]:
        """The bytes of each symbol, or the ADS error the PLC answered for it, in sum reads as upstream 3.8.4."""
        what = f"read of {len(symbols)} symbol(s)"
        return await self._request(lambda conn: _sum_read(conn, symbols), what)

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


def _sum_read(connection: pyads.Connection, symbols: list[SymbolEntry]) -> list[bytes | int]:
    """ADSIGRP_SUMUP_READ by group and offset: the answer holds each read's error code, then each one's bytes."""
    read: list[bytes | int] = []
    for start in range(0, len(symbols), SUM_READ_MAX):
        chunk = symbols[start : start + SUM_READ_MAX]
        requests = (structs.SAdsSumRequest * len(chunk))()
        for request, symbol in zip(requests, chunk, strict=True):
            request.iGroup, request.iOffset, request.size = symbol.index_group, symbol.index_offset, symbol.size
        answer = connection.read_write(
            constants.ADSIGRP_SUMUP_READ, len(chunk), None, requests, None, return_ctypes=True, check_length=False
        )
        data = bytes(answer)
        errors = struct.unpack_from(f"<{len(chunk)}I", data)
        at = 4 * len(chunk)
        for symbol, error in zip(chunk, errors, strict=True):
            # A failed read keeps its place in the answer: each read's bytes follow at their requested size.
            read.append(error if error else data[at : at + symbol.size])
            at += symbol.size
    return read


def _upload(connection: pyads.Connection) -> list[SymbolEntry]:
    """The symbol table: AdsSymbolEntry after AdsSymbolEntry, each starting with its own length."""
    info = connection.read(
        constants.ADSIGRP_SYM_UPLOADINFO2, 0, ctypes.c_ubyte * 24, return_ctypes=True, check_length=False
    )
    count, length = struct.unpack_from("<II", bytes(info))
    if not count or not length:
        return []
    table = connection.read(
        constants.ADSIGRP_SYM_UPLOAD, 0, ctypes.c_ubyte * length, return_ctypes=True, check_length=False
    )
    raw = bytes(table)
    symbols: list[SymbolEntry] = []
    at = 0
    while len(symbols) < count and at + 4 <= len(raw):
        (size,) = struct.unpack_from("<I", raw, at)
        if size == 0:
            break
        symbols.append(parse_symbol(raw[at : at + size]))
        at += size
    return symbols
