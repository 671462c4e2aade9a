"""The ADS client against pyads' test server: a refused connection attempt leaves no route behind.

AdsLib keeps one route per net id in the process and gives its TCP connection to every later connection to
that net id: a connection an attempt opened and left open outlives the PLC's restart, and each reconnection
then times out on its dead socket.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from pyads import constants
from pyads.testserver import PLCVariable
from servers.ads import PlcHandler, ads_server, serve

from connectors.errors import ConnectorNotReady
from connectors.south.ads.client import AdsClient
from connectors.south.ads.manifest import AdsSettings

pytestmark = pytest.mark.timeout(60)


async def test_a_plc_still_booting_leaves_no_stale_route_for_the_next_attempt() -> None:
    variable = PLCVariable("MAIN.level", 7, constants.ADST_INT16, "INT")
    with ads_server([variable]) as (server, port):
        settings = msgspec.convert(
            {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port}, AdsSettings
        )
        assert isinstance(server.handler, PlcHandler)
        server.handler.booting = 1
        refused = AdsClient(settings)
        # The error is kept (as a log record or a chained exception keeps it): its traceback holds the frames of
        # the attempt, so nothing but the client itself can close the connection that attempt opened.
        with pytest.raises(ConnectorNotReady, match="Target port not found") as refusal:
            await refused.connect()
        # The PLC restarts: AdsLib would reuse a route still open for the net id, on the dead TCP connection.
        server.stop()
        await asyncio.to_thread(server.join, 5)
        again = await asyncio.to_thread(serve, server.handler, port)
        client = AdsClient(settings)
        try:
            await client.connect()
            symbol = await client.symbol("MAIN.level")
            assert await client.read([symbol]) == [(7).to_bytes(2, "little")]
        finally:
            await client.close()
            again.stop()
            again.join(5)
    assert refusal.value.__cause__ is not None
