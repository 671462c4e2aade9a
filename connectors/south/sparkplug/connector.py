"""Sparkplug B South: a host application that decodes a Sparkplug namespace into time-values.

Each item names edge nodes and devices (``+``: any). The connector subscribes to every message of those nodes
(their ``seq`` counts all of them), decodes births, data and deaths with ``NamespaceDecoder``, and asks a node
for a rebirth (``NCMD`` writing ``Node Control/Rebirth`` = true) when its state cannot be trusted: data before
its birth, an alias no birth declared, a sequence gap. A request is repeated at most every
``REBIRTH_HOLDOFF_S`` per node until the node's ``NBIRTH`` arrives.

Durability as the MQTT South: with QoS 1/2 a message is acknowledged to the broker only once the values of its
batch were handed over (``sink.add_values`` returned), in reception order; a crash before that makes the broker
deliver it again (a duplicate, never a loss). With QoS 0 nothing is acknowledged, and nothing is redelivered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.mqtt import MqttSession, probe_connection
from connectors.common.sparkplug import DataType, Topic, new_payload
from connectors.errors import ConnectorError, ConnectorNotReady
from connectors.south.sparkplug.decoder import Decoded, NamespaceDecoder, subscription_topics
from connectors.south.sparkplug.manifest import MANIFEST, SparkplugItemSettings, SparkplugSettings

__all__ = ["REBIRTH_HOLDOFF_S", "REBIRTH_METRIC", "SparkplugSouth"]

REBIRTH_METRIC = "Node Control/Rebirth"
REBIRTH_HOLDOFF_S = 5.0
"""A node asked for a rebirth is not asked again before this long, unless it was born meanwhile."""
FINAL_FLUSH_TIMEOUT_S = 5.0


@dataclass(slots=True)
class _Batch:
    values: list[TimeValue] = field(default_factory=list)
    items: dict[str, None] = field(default_factory=dict)
    settled: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class SparkplugSouth(SouthConnector[SparkplugSettings, SparkplugItemSettings]):
    """Subscribes to the items' edge nodes and hands their metrics over as time-values."""

    manifest = MANIFEST

    def __init__(
        self, settings: SparkplugSettings, context: ConnectorContext, sink: ValueSink, cache: SouthCache
    ) -> None:
        super().__init__(settings, context, sink, cache)
        self.decoder = NamespaceDecoder(settings.point_id_template, settings.node_point_id_template)
        self._session: MqttSession | None = None
        self._items: dict[str, Item[SparkplugItemSettings]] = {}
        self._topics: list[str] = []
        self._batch: _Batch | None = None
        self._previous: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._asked: dict[tuple[str, str], float] = {}
        self._logged: set[str] = set()
        self._stopping = False
        self.rebirth_requests = 0
        """Rebirth requests published so far (for tests and the bench)."""

    async def start(self) -> None:
        """Connect (resuming the stored session when persistent with QoS 1/2)."""
        self._stopping = False
        manual = self.settings.qos != "0"
        session = MqttSession(
            self.settings,
            self.context.id,
            data_folder=self.context.data_folder,
            clean=not (self.settings.persistent and manual),
            on_message=self._receive_acked if manual else self._receive,
            on_lost=self.context.connection_lost,
            manual_ack=manual,
            receive_maximum=1000 if manual else None,
        )
        self._session = session
        await session.connect()

    async def subscribe(self, items: list[Item[SparkplugItemSettings]]) -> None:
        """Take ``items``: subscribe to the topics of their edge nodes."""
        for item in items:
            self._items[item.id] = item
        await self._resubscribe()

    async def unsubscribe(self, items: list[Item[SparkplugItemSettings]]) -> None:
        """Drop ``items`` (a node's topics stay while another item takes it)."""
        for item in items:
            self._items.pop(item.id, None)
        await self._resubscribe()

    async def _resubscribe(self) -> None:
        self.decoder.set_items(list(self._items.values()))
        wanted = subscription_topics(list(self._items.values()))
        session = self._require_session()
        stale = sorted(set(self._topics) - set(wanted))
        new = sorted(set(wanted) - set(self._topics))
        self._topics = wanted
        if stale:
            session.unsubscribe(stale)
        granted = await session.subscribe(new, self.settings.qos_level)
        refused = sorted(topic for topic, qos in granted.items() if qos >= 0x80)
        if refused:
            self.context.logger.warning("subscription refused by the broker", topics=refused, broker=session.broker)

    async def stop(self) -> None:
        """Hand over what was decoded (bounded), disconnect, release the unacknowledged messages (idempotent)."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=FINAL_FLUSH_TIMEOUT_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0)  # gmqtt sends the acknowledgements of settled messages on the next turn
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._previous is not None and not self._previous.done():
            self._previous.set_result(None)

    async def test_connection(self) -> None:
        """Connect with a test client id and disconnect; raise a ``ConnectorError`` naming the broker and why."""
        await probe_connection(self.settings, self.context.id, self.context.data_folder)

    async def test_item(self, item: Item[SparkplugItemSettings], start: datetime, end: datetime) -> None:
        """Not available: a Sparkplug value needs the node's birth, which only a rebirth would bring."""
        del item, start, end
        raise ConnectorNotReady("a Sparkplug item cannot be tested alone: its values need the node's birth")

    # --- reception (runs in gmqtt's read loop) ------------------------------------------------------------

    def _take(self, topic: str, payload: bytes) -> _Batch | None:
        if self._stopping:
            return None
        decoded = self.decoder.decode(topic, payload, time.time_ns() // 1_000_000)
        self._react(decoded)
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            self._timer = asyncio.get_running_loop().call_later(self.settings.flush_message_timeout / 1000, self._flush)
        if decoded.values:
            batch.values.extend(decoded.values)
            for item_id in decoded.items:
                batch.items[item_id] = None
            if len(batch.values) >= self.settings.max_number_of_values:
                self._flush()
        return batch

    def _react(self, decoded: Decoded) -> None:
        node = decoded.node
        if node is None:
            return
        if decoded.event is not None and decoded.event not in self._logged and len(self._logged) < 1000:
            self._logged.add(decoded.event)
            self.context.logger.warning("sparkplug message", group=node[0], edgeNode=node[1], event=decoded.event)
        if decoded.born:
            self._asked.pop(node, None)
        if decoded.rebirth is None:
            return
        now = time.monotonic()
        if now - self._asked.get(node, -REBIRTH_HOLDOFF_S) < REBIRTH_HOLDOFF_S:
            return  # already said (and asked) for this node a moment ago
        self._asked[node] = now
        where = {"group": node[0], "edgeNode": node[1]}
        session = self._session
        if not self.settings.request_rebirth or session is None:
            self.context.logger.warning("sparkplug node state lost", **where, reason=decoded.rebirth)
            return
        command = new_payload(time.time_ns() // 1_000_000, None)
        command.metrics.add(name=REBIRTH_METRIC, datatype=DataType.BOOLEAN, boolean_value=True)
        try:
            session.publish(str(Topic(node[0], "NCMD", node[1])), command.SerializeToString(), 0, False)
        except ConnectorError:
            return  # the connection is lost: the runner reconnects, and the node's state is rebuilt then
        self.rebirth_requests += 1
        self.context.logger.warning("sparkplug rebirth requested", **where, reason=decoded.rebirth)

    def _receive(self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]) -> None:
        del client, qos, properties
        self._take(topic, payload)

    async def _receive_acked(
        self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]
    ) -> int:
        """Its return sends the PUBACK/PUBREC: once the message's batch was handed over."""
        del client, properties
        batch = self._take(topic, payload)
        if batch is None or qos == 0:
            return 0
        await batch.settled
        return 0

    # --- hand-over ----------------------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, None
        if batch is None:
            return
        previous, self._previous = self._previous, batch.settled
        task = asyncio.get_running_loop().create_task(self._hand_over(batch, previous), name=f"{self.context.id}:flush")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hand_over(self, batch: _Batch, previous: asyncio.Future[None] | None) -> None:
        try:
            if batch.values:
                await self.sink.add_values(batch.values, items=list(batch.items))
        except Exception as err:
            # Not acknowledged: the runner reconnects and the broker delivers the messages again.
            self.context.connection_lost(f"values could not be handed over: {err}")
            return
        if previous is not None:
            await previous  # acknowledgements in reception order
        if not batch.settled.done():
            batch.settled.set_result(None)

    def _require_session(self) -> MqttSession:
        if self._session is None:
            raise ConnectorNotReady("not connected to the broker")
        return self._session
