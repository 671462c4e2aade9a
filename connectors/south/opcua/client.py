"""OPC UA South glue: DataValue -> time-value conversion, batched requests, and a batching subscription.

Values are written as strings, as upstream 3.8.8 does for every OPC UA value (booleans ``"1"``/``"0"``,
numbers as JavaScript prints them), so what reaches OIAnalytics does not change with the port. The quality is
upstream's ``JSON.stringify(statusCode)``: ``{"value":<code>}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from asyncua.common.subscription import Subscription

__all__ = [
    "HISTORY_PAGE_VALUES",
    "BatchSubscription",
    "iso",
    "quality",
    "read_parameters",
    "text_value",
]

HISTORY_PAGE_VALUES = 1000
"""Raw history values asked per node and request (upstream's ``NUM_VALUES_PER_NODE``); more come by continuation."""

_QUALITIES: dict[int, str] = {}


def quality(status: ua.StatusCode | None) -> str:
    """``{"value":<code>}`` of a status code (cached: a handful of codes is ever seen)."""
    code = 0 if status is None else status.value
    text = _QUALITIES.get(code)
    if text is None:
        text = _QUALITIES[code] = f'{{"value":{code}}}'
    return text


def iso(instant: datetime) -> str:
    """``2024-03-01T12:30:15.250Z`` (asyncua gives UTC datetimes; a naive one is taken as UTC)."""
    if instant.tzinfo is not None and instant.utcoffset():
        instant = instant.astimezone(UTC)
    return instant.isoformat(timespec="milliseconds")[:23] + "Z"


def _number(value: float) -> str:
    # As JavaScript's Number#toString: integral values without ".0", NaN and Infinity spelled its way.
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _string(value: str) -> str:
    # Some PLCs pad strings with NULs; upstream keeps what comes before the first one.
    return value.split("\0", 1)[0] if "\0" in value else value


_SCALAR: dict[ua.VariantType, Callable[[Any], str | None]] = {
    ua.VariantType.Boolean: lambda value: "1" if value else "0",
    ua.VariantType.SByte: str,
    ua.VariantType.Byte: str,
    ua.VariantType.Int16: str,
    ua.VariantType.UInt16: str,
    ua.VariantType.Int32: str,
    ua.VariantType.UInt32: str,
    ua.VariantType.Int64: str,
    ua.VariantType.UInt64: str,
    ua.VariantType.Float: _number,
    ua.VariantType.Double: _number,
    ua.VariantType.String: _string,
    ua.VariantType.DateTime: iso,
    ua.VariantType.ByteString: lambda value: bytes(value).hex(),
    ua.VariantType.Guid: str,
    ua.VariantType.LocalizedText: lambda value: value.Text,
    ua.VariantType.QualifiedName: lambda value: value.to_string(),
    ua.VariantType.NodeId: lambda value: value.to_string(),
    ua.VariantType.ExpandedNodeId: lambda value: value.to_string(),
    ua.VariantType.StatusCode: lambda value: value.name,
}
"""Types with a text form; anything else (Null, ExtensionObject, XmlElement, DiagnosticInfo...) gives no value."""


def text_value(variant: ua.Variant | None) -> str | None:
    """The value as upstream writes it, or ``None`` when there is none or its type has no text form.

    An array becomes its elements' texts joined by commas (JavaScript's ``Array#toString``).
    """
    if variant is None:
        return None
    convert = _SCALAR.get(variant.VariantType)
    value = variant.Value
    if convert is None or value is None:
        return None
    if isinstance(value, list):
        texts = [convert(element) for element in value]
        return ",".join(text or "" for text in texts)
    return convert(value)


def read_parameters(node_ids: Sequence[ua.NodeId]) -> ua.ReadParameters:
    """One Read request for the Value attribute of ``node_ids``, with source and server timestamps."""
    params = ua.ReadParameters()
    params.MaxAge = 0
    params.TimestampsToReturn = ua.TimestampsToReturn.Both
    nodes = []
    for node_id in node_ids:
        read = ua.ReadValueId()
        read.NodeId = node_id
        read.AttributeId = ua.AttributeIds.Value
        nodes.append(read)
    params.NodesToRead = nodes
    return params


class BatchSubscription(Subscription):  # type: ignore[misc]
    """A subscription that hands each publish answer's data changes over in one call, not one task per value.

    asyncua's callback mode starts a task per changed value and its iterator mode queues one event object per
    value; at thousands of changes per second both cost more than the values themselves. ``on_changes``
    receives the ``MonitoredItemNotification`` list of each notification (synchronously, in the publish
    loop), and ``on_status`` the status of a ``StatusChangeNotification`` (the server ended the subscription).
    """

    def __init__(
        self,
        session: Any,
        params: ua.CreateSubscriptionParameters,
        on_changes: Callable[[list[ua.MonitoredItemNotification]], None],
        on_status: Callable[[ua.StatusCode], None],
    ) -> None:
        super().__init__(session, params, None, queue_maxsize=1)
        self._on_changes = on_changes
        self._on_status = on_status

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        """Dispatch one publish answer (keeps the bookkeeping asyncua's stale check reads)."""
        self.last_publish_at = time.monotonic()
        message = publish_result.NotificationMessage
        if message.NotificationData is None:
            return
        self.last_sequence_number = int(message.SequenceNumber)
        for notification in message.NotificationData:
            if isinstance(notification, ua.DataChangeNotification):
                self._on_changes(notification.MonitoredItems)
            elif isinstance(notification, ua.StatusChangeNotification):
                self._on_status(notification.Status)
