"""Sparkplug B North: NBIRTH/DBIRTH with aliases, DDATA with sequence numbers, NDEATH as the MQTT will.

Each point id is a metric of the device ``deviceId`` under the edge node ``edgeNodeId`` of ``groupId``. At start
the node connects with its death certificate (NDEATH carrying ``bdSeq``) as the will, subscribes to its NCMD and
DCMD topics, and publishes NBIRTH (``seq`` 0, with ``bdSeq`` and ``Node Control/Rebirth``) then DBIRTH (every
metric known so far, with its alias, data type and last value). A value of a new point, or of a point whose type
changed, triggers a rebirth first; later DDATA carry aliases only. ``Node Control/Rebirth`` written by a host
application (NCMD) triggers a rebirth too.

``bdSeq`` goes up by one at every connection and is kept in the connector's folder, so that a host application
never pairs a new birth with an old death certificate. ``seq`` goes 0…255 and wraps, on every message but NDEATH.

Durability: ``handle_values_json`` returns once the broker confirmed every DDATA (QoS ``qos``; Sparkplug 3.0
publishes DDATA at QoS 0, which nobody confirms: with ``qos`` "0" delivery is at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.mqtt import MqttSession
from connectors.common.published import decode_time_values, encode_values
from connectors.common.sparkplug import (
    DataType,
    DecodeError,
    Topic,
    datatype_of,
    decode_payload,
    new_payload,
    set_metric_value,
)
from connectors.errors import ConnectorError, SendError
from connectors.north.sparkplug.manifest import MANIFEST, SparkplugNorthSettings

__all__ = ["REBIRTH_METRIC", "SparkplugNorth"]

REBIRTH_METRIC = "Node Control/Rebirth"
_CONFIRM_TIMEOUT_S = 30.0
_BDSEQ_FILE = "sparkplug-bdseq"


class SparkplugNorth(NorthConnector[SparkplugNorthSettings]):
    """An edge node with one device; each time-value is a metric value of the device."""

    manifest = MANIFEST

    def __init__(self, settings: SparkplugNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        s = settings
        self._topics = {
            kind: Topic(s.group_id, kind, s.edge_node_id, s.device_id if kind[0] == "D" else None)
            for kind in ("NBIRTH", "NDEATH", "NCMD", "DBIRTH", "DDATA", "DDEATH", "DCMD")
        }
        self._aliases: dict[str, tuple[int, int]] = {}
        """Point id -> (alias, data type), as declared in the last DBIRTH (or to be declared in the next)."""
        self._last: dict[str, tuple[Any, int]] = {}
        """Point id -> (last value, its timestamp in ms), for the births."""
        self._session: MqttSession | None = None
        self._seq = 0
        self._bd_seq = 0
        self._births = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def bd_seq(self) -> int:
        """The ``bdSeq`` of the current connection."""
        return self._bd_seq

    async def start(self) -> None:
        """Connect with the death certificate as will, subscribe to the commands, publish the births."""
        self._bd_seq = self._next_bd_seq()
        death = new_payload(_now_ms(), None)
        self._bd_seq_metric(death)
        session = MqttSession(
            self.settings,
            f"oibus-{self.context.id}",
            data_folder=self.context.data_folder,
            clean=True,
            on_message=self._command,
            on_lost=self.context.connection_lost,
            will=(str(self._topics["NDEATH"]), death.SerializeToString(), 1),
        )
        self._session = session
        await session.connect()
        await session.subscribe([str(self._topics["NCMD"]), str(self._topics["DCMD"])], 1)
        await self._birth(session)

    async def stop(self) -> None:
        """Publish DDEATH and NDEATH (a clean disconnect sends no will), then disconnect (idempotent)."""
        session, self._session = self._session, None
        for task in list(self._tasks):
            task.cancel()
        if session is None:
            return
        with contextlib.suppress(ConnectorError, TimeoutError):
            async with asyncio.timeout(5):
                session.publish(str(self._topics["DDEATH"]), self._payload().SerializeToString(), 1, False)
                death = new_payload(_now_ms(), None)
                self._bd_seq_metric(death)
                session.publish(str(self._topics["NDEATH"]), death.SerializeToString(), 1, False)
                await session.wait_confirmed(0)
        await session.close()

    async def test_connection(self) -> None:
        """Connect with a test client id (no births, no will) and disconnect."""
        session = MqttSession(
            self.settings,
            f"oibus-{self.context.id}-test-{time.monotonic_ns() % 100000}",
            data_folder=self.context.data_folder,
        )
        try:
            await session.connect()
        finally:
            await session.close()

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Publish a batch given as decoded time-values."""
        await self.handle_values_json(encode_values(values))

    async def handle_values_json(self, data: bytes) -> None:
        """Publish the values as DDATA (after a rebirth when they bring new metrics); return once confirmed."""
        values = decode_time_values(data)
        session = self._session
        if session is None:
            raise SendError("not connected to the broker", retry_forever=True)
        rows = [(v["pointId"], _epoch_ms(v["timestamp"]), v["data"].get("value")) for v in values]
        try:
            async with asyncio.timeout(_CONFIRM_TIMEOUT_S):
                if self._declare(rows):
                    await self._birth(session)
                await self._publish_data(session, rows)
        except TimeoutError:
            raise SendError(
                f"broker {session.broker} did not confirm within {_CONFIRM_TIMEOUT_S:g} s", retry_forever=True
            ) from None
        except ConnectorError as err:
            raise SendError(str(err), retry_forever=True) from err

    def _declare(self, rows: list[tuple[str, int, Any]]) -> bool:
        """Record the points of ``rows``; true when one is new or changed type (a rebirth is due)."""
        rebirth = False
        for point, stamp, value in rows:
            datatype = datatype_of(value) if value is not None else DataType.STRING
            known = self._aliases.get(point)
            if known is None or (value is not None and known[1] != datatype):
                alias = known[0] if known is not None else len(self._aliases) + 1
                self._aliases[point] = (alias, datatype)
                rebirth = True
            self._last[point] = (value, stamp)
        return rebirth

    async def _publish_data(self, session: MqttSession, rows: list[tuple[str, int, Any]]) -> None:
        qos = self.settings.qos_level
        step = self.settings.metrics_per_message
        for start in range(0, len(rows), step):
            payload = self._payload()
            for point, stamp, value in rows[start : start + step]:
                alias, datatype = self._aliases[point]
                metric = payload.metrics.add(alias=alias, timestamp=stamp, datatype=datatype)
                set_metric_value(metric, datatype, value)
            await _publish(session, str(self._topics["DDATA"]), payload.SerializeToString(), qos)
        await session.wait_confirmed(0)

    async def _birth(self, session: MqttSession) -> None:
        """NBIRTH (``seq`` 0) then DBIRTH with every metric: names, aliases, types, last values."""
        async with self._births:
            self._seq = 0
            node = self._payload()
            self._bd_seq_metric(node)
            node.metrics.add(name=REBIRTH_METRIC, datatype=DataType.BOOLEAN, boolean_value=False)
            device = self._payload()
            for point, (alias, datatype) in self._aliases.items():
                value, stamp = self._last.get(point, (None, _now_ms()))
                metric = device.metrics.add(name=point, alias=alias, timestamp=stamp, datatype=datatype)
                set_metric_value(metric, datatype, value)
            await _publish(session, str(self._topics["NBIRTH"]), node.SerializeToString(), 1)
            await _publish(session, str(self._topics["DBIRTH"]), device.SerializeToString(), 1)
            await session.wait_confirmed(0)
        self.context.logger.info("sparkplug birth published", bdSeq=self._bd_seq, metrics=len(self._aliases))

    def _payload(self) -> Any:
        payload = new_payload(_now_ms(), self._seq)
        self._seq = (self._seq + 1) % 256
        return payload

    def _bd_seq_metric(self, payload: Any) -> None:
        payload.metrics.add(name="bdSeq", datatype=DataType.UINT64, long_value=self._bd_seq)

    def _next_bd_seq(self) -> int:
        path = Path(self.context.base_folder) / _BDSEQ_FILE
        try:
            previous = int(path.read_text().strip())
            current = (previous + 1) % 256
        except (OSError, ValueError):
            current = 0
        with contextlib.suppress(OSError):
            path.write_text(str(current))
        return current

    def _command(self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]) -> int:
        del client, qos, properties
        try:
            command = decode_payload(payload)
        except DecodeError:
            self.context.logger.warning("sparkplug command is not a Sparkplug B payload", topic=topic)
            return 0
        if any(m.name == REBIRTH_METRIC and m.boolean_value for m in command.metrics):
            session = self._session
            if session is not None:
                task = asyncio.get_running_loop().create_task(self._rebirth(session))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return 0

    async def _rebirth(self, session: MqttSession) -> None:
        self.context.logger.info("sparkplug rebirth requested by a host application")
        try:
            await self._birth(session)
        except ConnectorError as err:
            self.context.logger.warning("sparkplug rebirth failed", error=str(err))


async def _publish(session: MqttSession, topic: str, payload: bytes, qos: int) -> None:
    """Publish, first waiting while the broker's receive maximum of unconfirmed messages is reached."""
    window = max(1, min(1000, session.send_quota))
    if qos and session.unconfirmed >= window:
        await session.wait_confirmed(window - 1)
    session.publish(topic, payload, qos, False)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _epoch_ms(timestamp: str) -> int:
    try:
        return int(datetime.fromisoformat(timestamp).timestamp() * 1000)
    except ValueError:
        raise SendError(f"timestamp {timestamp!r} is not an ISO 8601 date") from None
