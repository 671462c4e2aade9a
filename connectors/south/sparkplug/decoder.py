"""The host application's view of a Sparkplug B namespace: births, aliases and sequence numbers, per edge node.

``NamespaceDecoder.decode`` takes one received message and returns the time-values it carries, the ids of the
items they belong to, and, when the node's state cannot be trusted, why a rebirth is due (Sparkplug 3.0: data
before a birth, an alias no birth declared, a ``seq`` that is not the previous one plus one modulo 256).

- ``NBIRTH`` starts the node's state afresh: its ``bdSeq``, ``seq`` 0, the aliases and data types of its metrics.
  ``DBIRTH`` does the same for one device (its aliases; the node's ``seq`` goes on).
- ``NDATA``/``DDATA`` metrics carry an alias, a name, or both; the birth gives the name and the data type.
- ``NDEATH`` whose ``bdSeq`` is the birth's (or any when no birth was seen) forgets the node: its next data
  wait for a new birth. A death with another ``bdSeq`` is a stale certificate of an older session: ignored.
- ``NCMD``/``DCMD`` (commands of host applications, ours included) and ``DDEATH`` carry no values.

Values of births are handed over too: a birth states each metric's current value.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import Item, TimeValue
from connectors.common.sparkplug import DecodeError, decode_payload, metric_value, parse_topic
from connectors.south.sparkplug.manifest import SparkplugItemSettings

__all__ = ["Decoded", "NamespaceDecoder", "subscription_topics"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NODE_CONTROL = "Node Control/"
_BD_SEQ = "bdSeq"
_VALUE_MESSAGES = frozenset({"NBIRTH", "DBIRTH", "NDATA", "DDATA"})


def subscription_topics(items: Sequence[Item[SparkplugItemSettings]]) -> list[str]:
    """The topic filters that receive every message of the items' edge nodes (``#`` matches the node level too).

    A node's ``seq`` counts its messages and all its devices' messages: checking it needs all of them, even
    when an item takes one device only.
    """
    return sorted({f"spBv1.0/{i.settings.group_id}/+/{i.settings.edge_node_id}/#" for i in items})


class _IsoClock:
    """ISO-8601 UTC of ms instants: the date and time of day formatted once per second, the ms appended."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, epoch_ms: int) -> str:
        second, ms = divmod(epoch_ms, 1000)
        if second != self._second:
            self._second = second
            self._prefix = (_EPOCH + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{ms:03d}Z"


@dataclass(slots=True)
class _Node:
    """What the last birth of one edge node (and of its devices) declared."""

    bd_seq: int | None = None
    expected_seq: int | None = None
    """The ``seq`` the next message must carry; ``None`` until a birth."""
    aliases: dict[tuple[str | None, int], tuple[str, int]] = field(default_factory=dict)
    """(device or ``None`` for the node, alias) -> (metric name, data type)."""
    types: dict[tuple[str | None, str], int] = field(default_factory=dict)
    """(device or ``None``, metric name) -> data type."""

    def forget(self, device: str | None) -> None:
        self.aliases = {key: known for key, known in self.aliases.items() if key[0] != device}
        self.types = {key: known for key, known in self.types.items() if key[0] != device}


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one message brings."""

    values: list[TimeValue]
    items: list[str]
    rebirth: str | None = None
    """Why the node must publish its births again (``None``: its state is sound)."""
    node: tuple[str, str] | None = None
    """(group, edge node) of the message."""
    born: bool = False
    """The message is an ``NBIRTH``."""
    event: str | None = None
    """Something to log once: an undecodable payload, a node going offline."""


_NOTHING = Decoded([], [])


class NamespaceDecoder:
    """Births, aliases and sequence numbers of every edge node seen; point ids from the templates."""

    def __init__(self, point_id_template: str, node_point_id_template: str) -> None:
        self._device_template = point_id_template
        self._node_template = node_point_id_template
        self._nodes: dict[tuple[str, str], _Node] = {}
        self._items: list[Item[SparkplugItemSettings]] = []
        self._routes: dict[tuple[str, str, str | None], list[str]] = {}
        self._point_ids: dict[tuple[str, str, str | None, str], str] = {}
        self._iso = _IsoClock()

    def set_items(self, items: Sequence[Item[SparkplugItemSettings]]) -> None:
        """The items whose values are wanted (the state of every node seen is kept whatever they are)."""
        self._items = list(items)
        self._routes.clear()

    def _route(self, group: str, node: str, device: str | None) -> list[str]:
        key = (group, node, device)
        found = self._routes.get(key)
        if found is None:
            found = []
            for item in self._items:
                s = item.settings
                if s.group_id not in ("+", group) or s.edge_node_id not in ("+", node):
                    continue
                if (device is None and s.node_metrics) or (device is not None and s.device_id in ("+", device)):
                    found.append(item.id)
            self._routes[key] = found
        return found

    def _point_id(self, group: str, node: str, device: str | None, metric: str) -> str:
        key = (group, node, device, metric)
        found = self._point_ids.get(key)
        if found is None:
            template = self._node_template if device is None else self._device_template
            found = template.format(group=group, node=node, device=device or "", metric=metric)
            self._point_ids[key] = found
        return found

    def decode(self, topic: str, data: bytes, received_ms: int) -> Decoded:
        """The values of one message, and whether the node must be asked for a rebirth."""
        parsed = parse_topic(topic)
        if parsed is None or parsed.message_type in ("NCMD", "DCMD"):
            return _NOTHING
        where = (parsed.group, parsed.edge_node)
        kind = parsed.message_type
        try:
            payload = decode_payload(data)
        except DecodeError:
            return Decoded([], [], node=where, event=f"{kind} on {topic} is not a Sparkplug B payload")
        node = self._nodes.get(where)
        if node is None:
            node = self._nodes[where] = _Node()
        if kind == "NDEATH":
            return self._death(node, where, payload)
        rebirth = self._sequence(node, kind, payload)
        if kind not in _VALUE_MESSAGES:
            return Decoded([], [], rebirth, where)
        device = parsed.device
        if kind in ("NBIRTH", "DBIRTH"):
            node.forget(device)
            if kind == "NBIRTH":
                node.bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == _BD_SEQ), None)
        try:
            values, unknown = self._values(node, parsed.group, parsed.edge_node, device, payload, kind, received_ms)
        except OverflowError:
            return Decoded([], [], rebirth, where, event=f"{kind} on {topic} has a timestamp past year 9999")
        if unknown and rebirth is None:
            rebirth = f"{kind} uses alias {unknown} that no birth declared"
        items = self._route(parsed.group, parsed.edge_node, device) if values else []
        return Decoded(values if items else [], items, rebirth, where, born=kind == "NBIRTH")

    def _death(self, node: _Node, where: tuple[str, str], payload: Any) -> Decoded:
        bd_seq = next((int(m.long_value) for m in payload.metrics if m.name == _BD_SEQ), None)
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            return Decoded([], [], node=where)  # an older session's certificate
        self._nodes.pop(where, None)
        return Decoded([], [], node=where, event="edge node offline (NDEATH)")

    @staticmethod
    def _sequence(node: _Node, kind: str, payload: Any) -> str | None:
        seq = int(payload.seq) if payload.HasField("seq") else None
        if kind == "NBIRTH":
            node.expected_seq = ((seq or 0) + 1) % 256
            return None
        expected = node.expected_seq
        if expected is None:
            return f"{kind} before any NBIRTH of the node"
        if seq is None:
            return f"{kind} without a sequence number"
        node.expected_seq = (seq + 1) % 256
        if seq != expected:
            return f"sequence gap: {kind} seq {seq}, expected {expected}"
        return None

    def _values(
        self, node: _Node, group: str, edge: str, device: str | None, payload: Any, kind: str, received_ms: int
    ) -> tuple[list[TimeValue], int | None]:
        values: list[TimeValue] = []
        unknown: int | None = None
        birth = kind[1:] == "BIRTH"
        default_ms = int(payload.timestamp) if payload.HasField("timestamp") else received_ms
        aliases, types, iso = node.aliases, node.types, self._iso
        for metric in payload.metrics:
            name: str = metric.name
            if name:
                datatype = int(metric.datatype) or types.get((device, name), 0)
                if birth:
                    types[(device, name)] = datatype
                    if metric.HasField("alias"):
                        aliases[(device, int(metric.alias))] = (name, datatype)
                if device is None and (name == _BD_SEQ or name.startswith(_NODE_CONTROL)):
                    continue
            else:
                known = aliases.get((device, int(metric.alias)))
                if known is None:
                    unknown = int(metric.alias)
                    continue
                name, datatype = known
            value = metric_value(metric, datatype)
            if isinstance(value, bytes):
                value = base64.b64encode(value).decode()
            stamp = int(metric.timestamp) if metric.HasField("timestamp") else default_ms
            point = self._point_id(group, edge, device, name)
            values.append({"pointId": point, "timestamp": iso(stamp), "data": {"value": value}})
        return values, unknown
