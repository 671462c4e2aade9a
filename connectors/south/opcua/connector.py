"""OPC UA South connector: DA items polled or subscribed, HA items read from history."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Client, ua

from connectors.base import Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.opcua import SESSION_ERRORS, close_session, connection_error, open_session, parse_node_id
from connectors.errors import ConnectorConnectionError, ConnectorError, ContentRefused
from connectors.south.opcua.browse import browse_page
from connectors.south.opcua.client import (
    HISTORY_PAGE_VALUES,
    BatchSubscription,
    iso,
    quality,
    read_parameters,
    text_value,
)
from connectors.south.opcua.manifest import (
    MANIFEST,
    OpcuaHaMode,
    OpcuaItemSettings,
    OpcuaSettings,
    processing_interval_ms,
)

__all__ = ["OpcuaSouth"]

OpcuaItem = Item[OpcuaItemSettings]

_AGGREGATE_IDS = {
    "average": ua.ObjectIds.AggregateFunction_Average,
    "minimum": ua.ObjectIds.AggregateFunction_Minimum,
    "maximum": ua.ObjectIds.AggregateFunction_Maximum,
    "count": ua.ObjectIds.AggregateFunction_Count,
}
_MONITORED_ITEMS_PER_REQUEST = 1000
_STOP_FLUSH_S = 2.0
_RAW = OpcuaHaMode()


@dataclass(slots=True)
class _ReadPlan:
    """A batched Read of the DA items of one scan, built once per item list (the list rarely changes)."""

    params: ua.ReadParameters
    items: list[OpcuaItem]
    item_ids: list[str]


@dataclass(slots=True)
class _Monitored:
    """A subscribed item: what each of its changes becomes."""

    item: OpcuaItem
    origin: str
    server_handle: int | None = None


class OpcuaSouth(SouthConnector[OpcuaSettings, OpcuaItemSettings]):
    """Reads an OPC UA server (asyncua). One session per connector, opened by ``start``.

    DA items of a scan mode are read in ONE Read request per run; items of the ``subscription`` scan mode
    become monitored items of one subscription whose changes are buffered and handed over in batches of up to
    ``maxNumberOfMessages`` at least every ``flushMessageTimeout``; HA items are read with HistoryRead (raw or
    processed) over the windows the runner computes, following continuation points.
    """

    manifest = MANIFEST

    def __init__(self, settings: OpcuaSettings, context: Any, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._client: Client | None = None
        self._plans: dict[tuple[str, ...], _ReadPlan] = {}
        self._unreadable: set[str] = set()
        self._subscription: BatchSubscription | None = None
        self._monitored: dict[int, _Monitored] = {}
        self._handles: dict[str, int] = {}
        self._next_handle = 1
        self._buffer: list[TimeValue] = []
        self._buffer_items: dict[str, None] = {}
        self._flush_now = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._lost = False

    @property
    def _timeout_s(self) -> float:
        return self.settings.read_timeout / 1000

    @property
    def _data_folder(self) -> Path:
        # The OIBus certificate lives in the data folder's certs/.
        return self.context.data_folder

    async def start(self) -> None:
        """Open the session (``ConnectorNotReady`` with the reason when the server cannot be used)."""
        self._client = await open_session(
            self.settings,
            data_folder=self._data_folder,
            timeout_s=self._timeout_s,
            name=self.context.name,
            on_lost=self._report_lost,
        )
        self._lost = False

    def _report_lost(self, reason: str) -> None:
        # The session probe and the subscription (asyncua ends it with BadShutdown) both notice a loss:
        # the runner hears of it once.
        if not self._lost:
            self._lost = True
            self.context.connection_lost(reason)

    async def stop(self) -> None:
        """Hand over what the subscription buffered (briefly), then close the session; safe to call twice."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            with contextlib.suppress(Exception, TimeoutError):
                async with asyncio.timeout(_STOP_FLUSH_S):
                    await self._flush()
        self._subscription = None
        self._monitored.clear()
        self._handles.clear()
        client, self._client = self._client, None
        if client is not None:
            await close_session(client)

    def _session(self) -> Client:
        if self._client is None:
            raise ConnectorConnectionError("no OPC UA session (connector not started)")
        return self._client

    def history_items(self, items: list[OpcuaItem]) -> list[OpcuaItem]:
        """HA items are read from history; DA items by ``last_point``."""
        return [item for item in items if item.settings.mode == "ha"]

    # --- DA: polled reads -------------------------------------------------------------------------------

    async def last_point(self, items: list[OpcuaItem]) -> None:
        """Read the current value of every DA item of ``items`` in one request and hand them over."""
        values, item_ids = await self._read_current([item for item in items if item.settings.mode == "da"])
        if values:
            await self.sink.add_values(values, items=item_ids)

    def _plan(self, items: list[OpcuaItem]) -> _ReadPlan:
        key = tuple(item.id for item in items)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 64:
                self._plans.clear()
            node_ids = [parse_node_id(item.settings.node_id, f"item {item.name}: nodeId") for item in items]
            plan = self._plans[key] = _ReadPlan(read_parameters(node_ids), items, list(key))
        return plan

    async def _read_current(self, items: list[OpcuaItem]) -> tuple[list[TimeValue], list[str]]:
        if not items:
            return [], []
        plan = self._plan(items)
        client = self._session()
        try:
            results = await client.uaclient.read(plan.params)
        except SESSION_ERRORS as err:
            raise connection_error(err, self.settings.url) from err
        except ua.UaStatusCodeError as err:
            raise ConnectorError(f"the server refused the read of {len(items)} nodes: {err}") from err
        read_at = iso(datetime.now(UTC))
        values: list[TimeValue] = []
        append = values.append
        for item, result in zip(plan.items, results, strict=False):
            text = text_value(result.Value)
            if text is None:
                self._note_unreadable(item, result.StatusCode)
                continue
            if self._unreadable and item.id in self._unreadable:
                self._unreadable.discard(item.id)
                self.context.logger.info("item readable again", item=item.name, nodeId=item.settings.node_id)
            append(
                {
                    "pointId": item.name,
                    "timestamp": _timestamp(item.settings.timestamp_origin, result, read_at),
                    "data": {"value": text, "quality": quality(result.StatusCode)},
                }
            )
        return values, plan.item_ids

    def _note_unreadable(self, item: OpcuaItem, status: ua.StatusCode | None) -> None:
        # Warn once per item while it stays unreadable (an unknown node would otherwise log every second).
        if item.id in self._unreadable:
            return
        self._unreadable.add(item.id)
        self.context.logger.warning(
            "item has no readable value",
            item=item.name,
            nodeId=item.settings.node_id,
            status=status.name if status is not None else None,
        )

    # --- DA: subscription -------------------------------------------------------------------------------

    async def subscribe(self, items: list[OpcuaItem]) -> None:
        """Monitor the DA items of ``items``; every change is buffered and handed over in batches."""
        wanted = [item for item in items if item.settings.mode == "da" and item.id not in self._handles]
        if not wanted:
            return
        client = self._session()
        try:
            if self._subscription is None:
                self._subscription = await self._create_subscription(client)
            requests = []
            for item in wanted:
                handle = self._next_handle
                self._next_handle += 1
                node_id = parse_node_id(item.settings.node_id, f"item {item.name}: nodeId")
                self._monitored[handle] = _Monitored(item, item.settings.timestamp_origin)
                self._handles[item.id] = handle
                requests.append(_monitored_item_request(node_id, handle))
            for start in range(0, len(requests), _MONITORED_ITEMS_PER_REQUEST):
                chunk = requests[start : start + _MONITORED_ITEMS_PER_REQUEST]
                results = await self._subscription.create_monitored_items(chunk)
                for request, result in zip(chunk, results, strict=True):
                    monitored = self._monitored[request.RequestedParameters.ClientHandle]
                    if isinstance(result, ua.StatusCode):
                        self._forget(monitored.item.id)
                        self.context.logger.warning(
                            "item cannot be subscribed",
                            item=monitored.item.name,
                            nodeId=monitored.item.settings.node_id,
                            status=result.name,
                        )
                    else:
                        monitored.server_handle = result
        except SESSION_ERRORS as err:
            raise connection_error(err, self.settings.url) from err
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name=f"{self.context.id}:opcua-flush")

    async def _create_subscription(self, client: Client) -> BatchSubscription:
        params = ua.CreateSubscriptionParameters()
        # Publishing at most twice per flush period keeps answers few (each carries many changes) while a
        # change still waits less than a flush period before it is buffered.
        interval = max(50.0, min(500.0, self.settings.flush_message_timeout / 2))
        params.RequestedPublishingInterval = interval
        params.RequestedLifetimeCount = 10000
        params.RequestedMaxKeepAliveCount = client.get_keepalive_count(interval)
        params.MaxNotificationsPerPublish = 0
        params.PublishingEnabled = True
        params.Priority = 0
        subscription = BatchSubscription(client.uaclient.session, params, self._on_changes, self._on_status)
        await subscription.init()
        return subscription

    def _forget(self, item_id: str) -> None:
        handle = self._handles.pop(item_id, None)
        if handle is not None:
            self._monitored.pop(handle, None)

    async def unsubscribe(self, items: list[OpcuaItem]) -> None:
        """Stop monitoring ``items``."""
        server_handles = []
        for item in items:
            handle = self._handles.get(item.id)
            monitored = self._monitored.get(handle) if handle is not None else None
            if monitored is not None and monitored.server_handle is not None:
                server_handles.append(monitored.server_handle)
            self._forget(item.id)
        if server_handles and self._subscription is not None:
            try:
                await self._subscription.unsubscribe(server_handles)
            except SESSION_ERRORS as err:
                raise connection_error(err, self.settings.url) from err

    def _on_changes(self, notifications: list[ua.MonitoredItemNotification]) -> None:
        received_at = iso(datetime.now(UTC))
        monitored_items = self._monitored
        buffer = self._buffer
        buffer_items = self._buffer_items
        for notification in notifications:
            monitored = monitored_items.get(notification.ClientHandle)
            if monitored is None:
                continue
            data_value = notification.Value
            text = text_value(data_value.Value)
            if text is None:
                continue
            item = monitored.item
            buffer.append(
                {
                    "pointId": item.name,
                    "timestamp": _timestamp(monitored.origin, data_value, received_at),
                    "data": {"value": text, "quality": quality(data_value.StatusCode)},
                }
            )
            buffer_items[item.id] = None
        if len(buffer) >= self.settings.max_number_of_messages:
            self._flush_now.set()

    def _on_status(self, status: ua.StatusCode) -> None:
        if not status.is_good():
            self._report_lost(f"the server ended the OPC UA subscription: {status.name}")

    async def _flush_loop(self) -> None:
        period = self.settings.flush_message_timeout / 1000
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._flush_now.wait()
            self._flush_now.clear()
            await self._flush()

    async def _flush(self) -> None:
        """Hand the buffered changes over; kept for the next flush if a North refuses them."""
        while self._buffer:
            batch, self._buffer = self._buffer, []
            item_ids, self._buffer_items = list(self._buffer_items), {}
            try:
                await self.sink.add_values(batch, items=item_ids)
            except ContentRefused as err:
                self.context.logger.warning("subscription values refused; kept for the next flush", reason=str(err))
                self._buffer[:0] = batch
                self._buffer_items = dict.fromkeys(item_ids) | self._buffer_items
                return

    # --- HA: history ------------------------------------------------------------------------------------

    async def history_query(self, items: list[OpcuaItem], start: datetime, end: datetime) -> datetime | None:
        """Read the history of the HA items of ``items`` in ``[start, end]``; return the newest instant read.

        Items sharing an aggregate and a resampling are read in one request. Each page of values (the server
        pages with continuation points) is handed over before the next one is asked for.
        """
        groups: dict[tuple[str, str], list[OpcuaItem]] = {}
        for item in items:
            if item.settings.mode == "ha":
                ha_mode = item.settings.ha_mode or _RAW
                groups.setdefault((ha_mode.aggregate, ha_mode.resampling), []).append(item)
        newest: datetime | None = None
        for group in groups.values():
            instant = await self._read_history(group, start, end)
            if instant is not None and (newest is None or instant > newest):
                newest = instant
        return newest

    async def _read_history(self, items: list[OpcuaItem], start: datetime, end: datetime) -> datetime | None:
        client = self._session()
        ha_mode = items[0].settings.ha_mode or _RAW
        details = _history_details(ha_mode, start, end, len(items))
        pending: list[tuple[OpcuaItem, ua.HistoryReadValueId]] = []
        for item in items:
            read = ua.HistoryReadValueId()
            read.NodeId = parse_node_id(item.settings.node_id, f"item {item.name}: nodeId")
            pending.append((item, read))
        newest: datetime | None = None
        try:
            while pending:
                params = ua.HistoryReadParameters()
                params.HistoryReadDetails = details
                params.TimestampsToReturn = ua.TimestampsToReturn.Both
                params.ReleaseContinuationPoints = False
                params.NodesToRead = [read for _, read in pending]
                try:
                    results = await client.uaclient.history_read(params)
                except SESSION_ERRORS as err:
                    raise connection_error(err, self.settings.url) from err
                except ua.UaStatusCodeError as err:
                    raise ConnectorError(f"the server refused the history read: {err}") from err
                values: list[TimeValue] = []
                following = []
                for (item, read), result in zip(pending, results, strict=False):
                    instant = _history_values(item, result, values)
                    if instant is not None and (newest is None or instant > newest):
                        newest = instant
                    if result.ContinuationPoint:
                        read.ContinuationPoint = result.ContinuationPoint
                        following.append((item, read))
                    elif not result.StatusCode.is_good() and result.StatusCode.value != ua.StatusCodes.GoodNoData:
                        self._note_history_status(item, result.StatusCode)
                if values:
                    await self.sink.add_values(values, items=[item.id for item in items])
                pending = following
        finally:
            if pending:
                await self._release(client, details, [read for _, read in pending])
        return newest

    def _note_history_status(self, item: OpcuaItem, status: ua.StatusCode) -> None:
        if status.value in (ua.StatusCodes.BadNoData,):
            return
        self._note_unreadable(item, status)

    async def _release(self, client: Client, details: Any, reads: list[ua.HistoryReadValueId]) -> None:
        # A read cut short (hand-over refused, lost session) leaves continuation points on the server.
        params = ua.HistoryReadParameters()
        params.HistoryReadDetails = details
        params.TimestampsToReturn = ua.TimestampsToReturn.Both
        params.ReleaseContinuationPoints = True
        params.NodesToRead = reads
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._timeout_s):
                await client.uaclient.history_read(params)

    # --- browsing --------------------------------------------------------------------------------------

    async def browse(self, node_id: str | None, cursor: str | None, size: int) -> dict[str, Any]:
        """One page of a node's children (``browse.browse_page``), on the open session or on one opened for it."""
        opened = self._client is None
        if opened:
            await self.start()
        try:
            return await browse_page(self._session(), node_id, cursor, size)
        except SESSION_ERRORS as err:
            raise connection_error(err, self.settings.url) from err
        finally:
            if opened:
                await self.stop()

    # --- tests ------------------------------------------------------------------------------------------

    async def test_connection(self) -> None:
        """Open a session with these settings and read the server's state; the error says what failed."""
        await self.start()
        try:
            client = self._session()
            try:
                state = await client.nodes.server_state.read_value()
            except Exception as err:
                raise ConnectorError(f"session opened but the server state cannot be read: {err}") from err
            if state != ua.ServerState.Running:
                raise ConnectorError(f"the server answers but is not running (state {state.name})")
        finally:
            await self.stop()

    async def test_item(self, item: OpcuaItem, start: datetime, end: datetime) -> None:
        """Read the item once (a DA item's current value, an HA item's history in ``[start, end]``)."""
        await self.start()
        try:
            if item.settings.mode == "da":
                values, _ = await self._read_current([item])
                if not values:
                    raise ConnectorError(f"node {item.settings.node_id} has no readable value")
                await self.sink.add_values(values, items=[item.id])
            else:
                await self.history_query([item], start, end)
        finally:
            await self.stop()


def _timestamp(origin: str, data_value: ua.DataValue, fallback: str) -> str:
    if origin == "point":
        instant = data_value.SourceTimestamp or data_value.ServerTimestamp
    elif origin == "server":
        instant = data_value.ServerTimestamp or data_value.SourceTimestamp
    else:
        return fallback
    return iso(instant) if instant is not None else fallback


def _monitored_item_request(node_id: ua.NodeId, handle: int) -> ua.MonitoredItemCreateRequest:
    read = ua.ReadValueId()
    read.NodeId = node_id
    read.AttributeId = ua.AttributeIds.Value
    parameters = ua.MonitoringParameters()
    parameters.ClientHandle = handle
    parameters.SamplingInterval = 0
    # A queue on the server keeps every change between two publishes (each change is delivered, not
    # only the latest one).
    parameters.QueueSize = 100
    parameters.DiscardOldest = True
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = read
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = parameters
    return request


def _history_details(ha_mode: OpcuaHaMode, start: datetime, end: datetime, count: int) -> Any:
    if ha_mode.aggregate == "raw":
        raw = ua.ReadRawModifiedDetails()
        raw.IsReadModified = False
        raw.StartTime = start
        raw.EndTime = end
        raw.NumValuesPerNode = HISTORY_PAGE_VALUES
        raw.ReturnBounds = False
        return raw
    processed = ua.ReadProcessedDetails()
    processed.StartTime = start
    processed.EndTime = end
    processed.ProcessingInterval = float(processing_interval_ms(ha_mode))
    processed.AggregateType = [ua.NodeId(_AGGREGATE_IDS[ha_mode.aggregate])] * count
    return processed


def _history_values(item: OpcuaItem, result: ua.HistoryReadResult, into: list[TimeValue]) -> datetime | None:
    """Append the values of one node's history answer; return the newest instant among them."""
    history = result.HistoryData
    data_values = getattr(history, "DataValues", None) if history is not None else None
    if not data_values:
        return None
    newest: datetime | None = None
    name = item.name
    for data_value in data_values:
        instant = data_value.SourceTimestamp or data_value.ServerTimestamp
        if instant is None:
            continue
        if newest is None or instant > newest:
            newest = instant
        text = text_value(data_value.Value)
        if text is None:
            continue
        into.append(
            {
                "pointId": name,
                "timestamp": iso(instant),
                "data": {"value": text, "quality": quality(data_value.StatusCode)},
            }
        )
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return newest
