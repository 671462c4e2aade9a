"""Manifest and settings of the MQTT South (upstream names; item settings as upstream's ``jsonPayload``)."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal

import msgspec

from connectors.common.mqtt import FlushMessageTimeout, MqttConnectionSettings, topic_filter_problem
from connectors.manifest import ConnectorManifest, Modes
from connectors.south.mqtt.timestamps import strptime_format

__all__ = [
    "MANIFEST",
    "MqttItemSettings",
    "MqttJsonPayload",
    "MqttOtherField",
    "MqttSettings",
    "MqttTimestampPayload",
]


class MqttSettings(MqttConnectionSettings, frozen=True, kw_only=True, rename="camel"):
    """Broker connection, QoS and session, and how received messages are batched."""

    max_number_of_messages: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=100_000,
            title="Max number of messages",
            description="Hand the buffered messages over as soon as this many are received.",
        ),
    ] = 1000
    flush_message_timeout: FlushMessageTimeout = 1000


class MqttTimestampPayload(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the timestamp is in a JSON payload, and how it is written."""

    timestamp_path: Annotated[
        str, msgspec.Meta(title="Timestamp path", description="Dot path of the timestamp (e.g. data.ts).")
    ] = ""
    timestamp_type: Annotated[
        Literal["string", "iso-string", "unix-epoch", "unix-epoch-ms"],
        msgspec.Meta(title="Type", description="string (with format and timezone), iso-string, unix-epoch (s) or -ms."),
    ] = "unix-epoch-ms"
    timezone: Annotated[str, msgspec.Meta(title="Timezone", description="IANA timezone of a string timestamp.")] = "UTC"
    timestamp_format: Annotated[
        str, msgspec.Meta(title="Timestamp format", description="Luxon-style format of a string timestamp.")
    ] = "yyyy-MM-dd HH:mm:ss"

    def __post_init__(self) -> None:
        if self.timestamp_type == "string":
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"timezone: unknown timezone {self.timezone!r}") from None
            strptime_format(self.timestamp_format)  # Raises ValueError naming the bad token.


class MqttOtherField(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One more field copied from the payload into the value's ``data``."""

    name: Annotated[str, msgspec.Meta(min_length=1, title="Field name in output")]
    path: Annotated[str, msgspec.Meta(title="Path in the retrieved payload")] = ""


class MqttJsonPayload(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How a JSON payload becomes time-values (upstream's ``jsonPayload``)."""

    use_array: Annotated[
        bool, msgspec.Meta(title="Values in array", description="The payload holds an array of values.")
    ] = False
    data_array_path: Annotated[
        str, msgspec.Meta(title="Array path", description="Dot path of the array (empty: the payload itself).")
    ] = ""
    value_path: Annotated[str, msgspec.Meta(title="Value path", description="Dot path of the value.")] = "value"
    point_id_origin: Annotated[
        Literal["oibus", "payload"],
        msgspec.Meta(title="Point ID origin", description="oibus: the item name; payload: read at pointIdPath."),
    ] = "oibus"
    point_id_path: Annotated[
        str, msgspec.Meta(title="Point ID path", description="Dot path of the point id (payload origin).")
    ] = ""
    timestamp_origin: Annotated[
        Literal["payload", "oibus"],
        msgspec.Meta(title="Timestamp origin", description="oibus: reception time; payload: read at timestampPath."),
    ] = "oibus"
    timestamp_payload: MqttTimestampPayload = msgspec.field(default_factory=MqttTimestampPayload)
    other_fields: Annotated[
        list[MqttOtherField], msgspec.Meta(title="Structure", description="Other fields copied into data.")
    ] = msgspec.field(default_factory=list)


class MqttItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A topic (wildcards allowed) and how its messages become time-values or any-content."""

    topic: Annotated[str, msgspec.Meta(title="Topic", description="Topic filter; + and # wildcards allowed.")]
    value_type: Annotated[
        Literal["number", "string", "json", "any-content"],
        msgspec.Meta(
            title="Value type",
            description="number, string or json (time-values), or any-content (upstream 3.8+ raw messages).",
        ),
    ] = "any-content"
    json_payload: Annotated[
        MqttJsonPayload | None, msgspec.Meta(title="JSON payload", description="Mapping of a json payload.")
    ] = None

    def __post_init__(self) -> None:
        problem = topic_filter_problem(self.topic)
        if problem is not None:
            raise ValueError(f"topic: {problem}")
        if self.value_type == "json" and self.json_payload is None:
            raise ValueError("jsonPayload: required when valueType is json")


MANIFEST = ConnectorManifest(
    id="mqtt",
    kind="south",
    name="MQTT",
    category="iot",
    description="Subscribe to MQTT broker topics",
    settings=MqttSettings,
    item_settings=MqttItemSettings,
    modes=Modes(subscription=True),
)
