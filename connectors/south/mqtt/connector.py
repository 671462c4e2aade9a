"""MQTT South connector: subscribes to item topics, batches messages, acknowledges them once handed over.

A QoS 1/2 message is acknowledged to the broker (PUBACK, or PUBREC for QoS 2) only after ``sink.add_values``
(or ``add_content``) returned for the batch it is in, that is once every target North stored it durably. A
crash before that leaves it unacknowledged, and the broker delivers it again on the persistent session:
duplicates are possible, loss is not. Acknowledgements follow the order of reception (MQTT 4.6).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.mqtt import MqttSession, probe_connection, test_client_id
from connectors.errors import ConnectorNotReady, ConnectorTimeout, ContentRefused
from connectors.south.mqtt.manifest import MANIFEST, MqttItemSettings, MqttSettings
from connectors.south.mqtt.payload import PayloadError, TopicRouter, number, text, to_values
from connectors.south.mqtt.timestamps import iso_utc

__all__ = ["MAX_BATCHES_IN_FLIGHT", "MqttSouth"]

MAX_BATCHES_IN_FLIGHT = 4
"""Batches handed over concurrently. Each hand-over waits for the Norths' durable store (a round trip through
the engine and an fsync), so one at a time would cap the throughput; their acks still go out in order."""

TEST_ITEM_TIMEOUT_S = 15.0
"""How long an item test waits for a message on the item's topic."""

REFUSED_RETRY_INITIAL_S = 1.0
_REFUSED_RETRY_MAX_S = 30.0
FINAL_FLUSH_TIMEOUT_S = 5.0
_MAX_LOGGED_TOPICS = 1000
STOP_SETTLE_S = 0.1

Received = tuple[str, bytes, str]
"""A message as buffered: topic, payload, reception instant (ISO-8601 UTC)."""


@dataclass(slots=True)
class _Batch:
    """Messages handed over together; ``settled`` resolves when their acknowledgement may be sent."""

    messages: list[Received] = field(default_factory=list)
    settled: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class MqttSouth(SouthConnector[MqttSettings, MqttItemSettings]):
    """Subscribes to each item's topic and hands the messages over as time-values or any-content."""

    manifest = MANIFEST

    def __init__(self, settings: MqttSettings, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._session: MqttSession | None = None
        self._router = TopicRouter([])
        self._items: dict[str, Item[MqttItemSettings]] = {}
        self._batch: _Batch | None = None
        self._previous: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsettled: list[_Batch] = []
        self._timer: asyncio.TimerHandle | None = None
        self._ready_timer: asyncio.TimerHandle | None = None
        self._ready = False
        self._due = False
        self._stopping = False
        self._held = 0
        self._max_held = max(20 * settings.max_number_of_messages, 20_000)
        self._paused = False
        self._stamp = ""
        self._stamp_at = 0.0
        self._bad_items: set[str] = set()
        self._unrouted: set[str] = set()
        self._refused = False
        self._acks_waiting = 0
        self._acks_sent = asyncio.Event()
        self._closed: asyncio.Future[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def _persistent(self) -> bool:
        return self.settings.persistent and self.settings.qos != "0"

    async def start(self) -> None:
        """Connect (resuming the stored session when persistent); messages wait until ``subscribe``."""
        self._stopping = False
        self._closed = asyncio.get_running_loop().create_future()
        manual = self.settings.qos != "0"
        session = MqttSession(
            self.settings,
            self.context.id,
            data_folder=self.context.data_folder,
            clean=not self._persistent,
            on_message=self._receive_acked if manual else self._receive,
            on_lost=self.context.connection_lost,
            manual_ack=manual,
            # The broker keeps at most this many unacknowledged messages in flight to us (MQTT 5).
            receive_maximum=min(65535, max(10 * self.settings.max_number_of_messages, 1000)),
            # QoS 0 needs neither a session nor acknowledgements: MQTT 3.1.1 is cheaper per message.
            mqtt5=manual,
        )
        self._session = session
        await session.connect()
        # A resumed session delivers what the broker kept before ``subscribe`` names the items: those
        # messages wait in the buffer. Without any subscription item, they are dropped after a flush period.
        self._ready_timer = asyncio.get_running_loop().call_later(self._flush_delay_s, self._set_ready)
        self.context.logger.debug("mqtt connected", broker=session.broker, sessionPresent=session.session_present)

    async def subscribe(self, items: list[Item[MqttItemSettings]]) -> None:
        """Subscribe to the items' topics (the broker's refusal of one is logged, naming it)."""
        for item in items:
            self._items[item.id] = item
        self._router = TopicRouter(list(self._items.values()))
        session = self._require_session()
        granted = await session.subscribe(self._router.topics, self.settings.qos_level)
        refused = sorted(topic for topic, qos in granted.items() if qos >= 0x80)
        if refused:
            self.context.logger.warning("subscription refused by the broker", topics=refused, broker=session.broker)
        self._set_ready()

    async def unsubscribe(self, items: list[Item[MqttItemSettings]]) -> None:
        """Stop receiving the topics of ``items`` (kept if another item uses the same topic)."""
        for item in items:
            self._items.pop(item.id, None)
        before = set(self._router.topics)
        self._router = TopicRouter(list(self._items.values()))
        stale = sorted(before - set(self._router.topics))
        if self._session is not None and stale:
            self._session.unsubscribe(stale)

    async def stop(self) -> None:
        """Hand over what was received and send its acknowledgements (bounded), disconnect, release the rest.

        Messages arriving during the stop are neither buffered nor acknowledged: the broker delivers them
        again on the next session. An acknowledgement released after the disconnect cannot reach the broker.
        Idempotent.
        """
        self._stopping = True
        for handle in (self._timer, self._ready_timer):
            if handle is not None:
                handle.cancel()
        batch, self._batch = self._batch, None
        if batch is not None and batch.messages:
            self._spawn(batch)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=FINAL_FLUSH_TIMEOUT_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._acks_waiting:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FINAL_FLUSH_TIMEOUT_S):
                    await self._acks_sent.wait()
        # gmqtt writes an acknowledgement in the done-callback of its task (one more turn of the loop). Then
        # the broker's answers (PUBREL for QoS 2) must be read before the socket closes: closing with unread
        # data sends a TCP reset, and the broker may then drop our last acknowledgements (duplicates later).
        await asyncio.sleep(STOP_SETTLE_S)
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        for unsettled in self._unsettled:
            if not unsettled.settled.done():
                unsettled.settled.set_result(None)
        self._unsettled.clear()

    async def test_connection(self) -> None:
        """Connect with a test client id and disconnect; raise a ``ConnectorError`` naming the broker and why."""
        await probe_connection(self.settings, self.context.id, self.context.data_folder)

    async def test_item(self, item: Item[MqttItemSettings], start: datetime, end: datetime) -> None:
        """Wait for one message on the item's topic (retained ones come at once) and hand it over converted."""
        del start, end  # A subscription has no history.
        received: asyncio.Future[tuple[str, bytes]] = asyncio.get_running_loop().create_future()

        def first(client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]) -> None:
            del client, qos, properties
            if not received.done():
                received.set_result((topic, payload))

        session = MqttSession(
            self.settings, test_client_id(self.context.id), data_folder=self.context.data_folder, on_message=first
        )
        try:
            await session.connect()
            await session.subscribe([item.settings.topic], self.settings.qos_level)
            try:
                async with asyncio.timeout(TEST_ITEM_TIMEOUT_S):
                    topic, payload = await received
            except TimeoutError:
                raise ConnectorTimeout(
                    f"no message on topic {item.settings.topic!r} within {TEST_ITEM_TIMEOUT_S:g} s"
                ) from None
        finally:
            await session.close()
        stamp = iso_utc(datetime.now(UTC))
        if item.settings.value_type == "any-content":
            await self.sink.add_content(_any_content([(item, topic, payload, stamp)]))
        else:
            try:
                values = to_values(item, payload, stamp)
            except PayloadError as err:
                raise PayloadError(f"message on topic {topic!r}: {err}") from None
            await self.sink.add_values(values, items=[item.id])

    # --- reception (runs in gmqtt's read loop: keep it short) ----------------------------------------------

    @property
    def _flush_delay_s(self) -> float:
        return self.settings.flush_message_timeout / 1000

    def _buffer(self, topic: str, payload: bytes) -> _Batch | None:
        """Add a message to the current batch; ``None`` when we are stopping (the message is not taken)."""
        if self._stopping:
            return None
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
        messages = batch.messages
        if not messages:
            self._timer = asyncio.get_running_loop().call_later(self._flush_delay_s, self._flush_due)
        now = time.time()
        if now - self._stamp_at >= 0.001:  # One ISO string per millisecond, not per message.
            self._stamp_at = now
            self._stamp = iso_utc(datetime.fromtimestamp(now, UTC))
        messages.append((topic, payload, self._stamp))
        self._held += 1
        if self._paused and self._session is not None:
            # gmqtt reads through an asyncio StreamReader whose own flow control resumes the transport once its
            # buffer drains, undoing our pause if it had paused first: a message arriving while paused re-asserts it.
            self._session.pause_reading()
        elif self._held >= self._max_held and self._session is not None:
            # The Norths do not keep up: stop reading, and the broker holds the rest (TCP back-pressure).
            self._paused = True
            self._session.pause_reading()
            self.context.logger.warning("reading paused: the Norths do not keep up", held=self._held)
        if len(messages) >= self.settings.max_number_of_messages:
            self._maybe_flush()
        return batch

    def _receive(self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]) -> None:
        """The gmqtt callback of QoS 0 subscriptions (nothing to acknowledge)."""
        del client, properties
        self._buffer(topic, payload)

    async def _receive_acked(
        self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]
    ) -> int:
        """The gmqtt callback of QoS 1/2 subscriptions: its return sends the PUBACK/PUBREC (reason 0)."""
        del client, properties
        batch = self._buffer(topic, payload)
        if qos == 0:
            return 0
        if batch is None:
            # Not buffered (we are stopping): never acknowledge it through this session.
            if self._closed is not None:
                await self._closed
            return 0
        self._acks_waiting += 1
        self._acks_sent.clear()
        try:
            await batch.settled
        finally:
            self._acks_waiting -= 1
            if not self._acks_waiting:
                self._acks_sent.set()
        return 0

    # --- batching ----------------------------------------------------------------------------------------

    def _set_ready(self) -> None:
        if self._ready_timer is not None:
            self._ready_timer.cancel()
            self._ready_timer = None
        if not self._ready:
            self._ready = True
            self._maybe_flush()

    def _flush_due(self) -> None:
        self._timer = None
        self._due = True
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        batch = self._batch
        if self._stopping or not self._ready or batch is None or not batch.messages:
            return
        if not self._due and len(batch.messages) < self.settings.max_number_of_messages:
            return
        if len(self._tasks) >= MAX_BATCHES_IN_FLIGHT:
            return  # Flushed when a hand-over ends; meanwhile the batch grows.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = False
        self._batch = None
        self._spawn(batch)

    def _spawn(self, batch: _Batch) -> None:
        previous, self._previous = self._previous, batch.settled
        self._unsettled.append(batch)
        task = asyncio.get_running_loop().create_task(self._hand_over(batch, previous), name=f"{self.context.id}:flush")
        self._tasks.add(task)
        task.add_done_callback(self._handed_over)

    def _handed_over(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._maybe_flush()

    async def _hand_over(self, batch: _Batch, previous: asyncio.Future[None] | None) -> None:
        try:
            await self._deliver(batch)
        except Exception as err:
            # Not acknowledged: the runner reconnects and the broker delivers the messages again.
            self.context.connection_lost(f"messages could not be handed over: {err}")
            return
        # Acknowledge in reception order: after every earlier batch.
        if previous is not None:
            await previous
        if not batch.settled.done():
            batch.settled.set_result(None)
        self._unsettled.remove(batch)

    async def _deliver(self, batch: _Batch) -> None:
        values, items, contents = self._convert(batch.messages)
        delay = REFUSED_RETRY_INITIAL_S
        while True:
            try:
                if values:
                    await self.sink.add_values(values, items=items)
                    values = []
                if contents:
                    await self.sink.add_content(contents)
                    contents = ""
                break
            except ContentRefused as err:
                # Kept in memory (and unacknowledged) until a North has room again.
                if not self._refused:
                    self._refused = True
                    self.context.logger.warning("messages kept: content refused by the engine", reason=str(err))
                await asyncio.sleep(delay)
                delay = min(delay * 2, _REFUSED_RETRY_MAX_S)
        if self._refused:
            self._refused = False
            self.context.logger.info("messages accepted again")
        self._held -= len(batch.messages)
        if self._paused and self._held < self._max_held // 2 and self._session is not None:
            self._paused = False
            self._session.resume_reading()
            self.context.logger.info("reading resumed")

    def _convert(self, messages: list[Received]) -> tuple[list[TimeValue], list[str], str]:
        """Time-values (with their item ids) and the any-content payload of a batch."""
        values: list[TimeValue] = []
        item_ids: dict[str, None] = {}
        raw: list[tuple[Item[MqttItemSettings], str, bytes, str]] = []
        router = self._router
        append = values.append
        for topic, payload, received in messages:
            item = router.item_for(topic)
            if item is None:
                self._log_unrouted(topic)
                continue
            kind = item.settings.value_type
            try:
                # number and string inline: one dict per message is all the hot path may afford.
                if kind == "number":
                    append({"pointId": item.name, "timestamp": received, "data": {"value": number(payload)}})
                elif kind == "string":
                    append({"pointId": item.name, "timestamp": received, "data": {"value": text(payload)}})
                elif kind == "json":
                    values.extend(to_values(item, payload, received))
                else:
                    raw.append((item, topic, payload, received))
                    continue
            except PayloadError as err:
                if item.id not in self._bad_items:
                    self._bad_items.add(item.id)
                    self.context.logger.warning("message dropped", item=item.name, topic=topic, error=str(err))
                continue
            if item.id not in item_ids:
                item_ids[item.id] = None
                if item.id in self._bad_items:
                    self._bad_items.discard(item.id)
                    self.context.logger.info("messages readable again", item=item.name)
        return values, list(item_ids), _any_content(raw) if raw else ""

    def _log_unrouted(self, topic: str) -> None:
        if topic not in self._unrouted and len(self._unrouted) < _MAX_LOGGED_TOPICS:
            self._unrouted.add(topic)
            self.context.logger.warning("message of a topic no item takes dropped", topic=topic)

    def _require_session(self) -> MqttSession:
        if self._session is None:
            raise ConnectorNotReady("not connected to the broker")
        return self._session


def _any_content(messages: list[tuple[Item[MqttItemSettings], str, bytes, str]]) -> str:
    """Upstream's any-content: ``[{message, timestamp, item: {id, name, topic}}]`` (topic: the item's filter)."""
    records = [
        {
            "message": payload.decode(errors="replace"),
            "timestamp": received,
            "item": {"id": item.id, "name": item.name, "topic": item.settings.topic},
        }
        for item, _, payload, received in messages
    ]
    return msgspec.json.encode(records).decode()
