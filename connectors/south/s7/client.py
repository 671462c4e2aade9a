"""python-snap7 glue: one ISO-on-TCP session to one PLC, its errors made ours.

snap7 exceptions are caught here and nowhere else (STYLE R10). The session never reconnects by itself: a
read that fails on the connection (closed, timed out) is raised as ``ConnectorConnectionError`` and the
engine's runner restarts the connector with its backoff (STYLE R11).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from snap7.async_client import AsyncClient
from snap7.error import S7ConnectionError, S7Error, S7ProtocolError, S7TimeoutError
from snap7.type import Area as SnapArea

from connectors.common import tcp
from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorNotReady
from connectors.south.s7.address import Area
from connectors.south.s7.manifest import S7Settings

__all__ = ["S7Client", "S7Refused"]

# snap7 logs each connection and refused read on its own logger; the connector reports the same events
# once per state change through its logger, so the library's copy is dropped.
logging.getLogger("snap7").addHandler(logging.NullHandler())
logging.getLogger("snap7").propagate = False

_AREAS = {"DB": SnapArea.DB, "M": SnapArea.MK, "I": SnapArea.PE, "Q": SnapArea.PA}
_CONNECTION_TYPES = {"PG": 1, "OP": 2, "S7Basic": 3}
_READ_OVERHEAD = 18
"""Bytes of an S7 read answer that are not data: a read spans at most ``pdu_length - 18`` bytes."""


class S7Refused(ConnectorError):
    """The PLC answered a read with an error (data block missing, range outside the area...)."""


class S7Client:
    """One session to the PLC of a connector's settings."""

    def __init__(self, settings: S7Settings) -> None:
        self.settings = settings
        self._client = AsyncClient()
        self._client.set_connection_type(_CONNECTION_TYPES[settings.connection_type])

    @property
    def where(self) -> str:
        """``host:port``, for messages."""
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def max_read(self) -> int:
        """The most bytes one read request may ask for (from the PDU size the PLC granted)."""
        return max(1, self._client.pdu_length - _READ_OVERHEAD)

    async def connect(self) -> None:
        """Open the session; raise ``ConnectorNotReady`` naming why the PLC cannot be reached."""
        settings = self.settings
        try:
            async with asyncio.timeout(settings.connect_timeout / 1000):
                await self._client.connect(settings.host, settings.rack, settings.slot, settings.port)
            return
        except (S7Error, OSError, TimeoutError) as err:
            reason = str(err)
        await self.close()
        # snap7 says little about a failed TCP connection; a plain one tells why (refused, unknown host...).
        await tcp.probe(settings.host, settings.port, settings.connect_timeout, "an S7 PLC")
        raise ConnectorNotReady(
            f"{self.where} accepts TCP but refused an S7 session (rack {settings.rack}, slot {settings.slot}, "
            f"{settings.connection_type}): {reason}"
        )

    async def close(self) -> None:
        """End the session; safe to call twice."""
        with contextlib.suppress(S7Error, OSError):
            await self._client.disconnect()

    async def read(self, area: Area, db: int, start: int, size: int) -> bytes:
        """Read ``size`` bytes of ``area`` (data block ``db``) from byte ``start``."""
        what = f"read of {size} byte(s) at {_name(area, db)} byte {start}"
        try:
            async with asyncio.timeout(self.settings.request_timeout / 1000):
                return bytes(await self._client.read_area(_AREAS[area], db, start, size))
        except TimeoutError as err:
            raise ConnectorConnectionError(
                f"{what}: no answer from {self.where} within requestTimeout ({self.settings.request_timeout} ms)"
            ) from err
        except (S7ConnectionError, S7TimeoutError, OSError) as err:
            raise ConnectorConnectionError(f"{what}: connection to {self.where} lost ({err})") from err
        except S7ProtocolError as err:
            if not self._client.get_connected():
                raise ConnectorConnectionError(f"{what}: connection to {self.where} lost ({err})") from err
            raise S7Refused(f"{what}: {err}") from err
        except S7Error as err:
            raise ConnectorConnectionError(f"{what}: {err}") from err


def _name(area: Area, db: int) -> str:
    return f"DB{db}" if area == "DB" else {"M": "memory (M)", "I": "inputs (I)", "Q": "outputs (Q)"}[area]
