"""Plain TCP reachability: why a peer's ``host:port`` cannot be reached, in an operator's words."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from connectors.errors import ConnectorNotReady

__all__ = ["probe", "unreachable"]


def unreachable(host: str, port: int, timeout_ms: int, err: BaseException, peer: str) -> str:
    """Why ``host:port`` could not be reached; ``peer`` names what should listen there ("a Modbus server")."""
    where = f"{host}:{port}"
    if isinstance(err, socket.gaierror):
        return f"host {host!r} not found ({err.strerror or err})"
    if isinstance(err, ConnectionRefusedError):
        return f"connection refused by {where}: is {peer} listening on that port?"
    if isinstance(err, TimeoutError):
        return f"no answer from {where} within connectTimeout ({timeout_ms} ms)"
    if isinstance(err, OSError):
        return f"cannot reach {where}: {err.strerror or err}"
    return f"cannot reach {where}: {err}"


async def probe(host: str, port: int, timeout_ms: int, peer: str) -> None:
    """Open and close a TCP connection to ``host:port``; raise ``ConnectorNotReady`` saying why it failed."""
    try:
        async with asyncio.timeout(timeout_ms / 1000):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as err:
        raise ConnectorNotReady(unreachable(host, port, timeout_ms, err, peer)) from err
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
