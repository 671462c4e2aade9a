"""OPC UA North connector: writes node values in one Write request per cache entry."""

from __future__ import annotations

from typing import Any

import msgspec
from asyncua import Client, ua

from connectors.base import ConnectorContext, NorthConnector
from connectors.common.opcua import (
    SESSION_ERRORS,
    close_session,
    coerce,
    open_session,
    parse_node_id,
    variant_type,
)
from connectors.errors import ConnectorError, SendError
from connectors.north.opcua.manifest import MANIFEST, OpcuaNorthSettings

__all__ = ["OpcuaNorth"]

TIMEOUT_S = 15.0
_MAX_REASONS = 5


class OpcuaWrite(msgspec.Struct, frozen=True, rename="camel"):
    """One element of ``opcua`` content."""

    node_id: str
    value: str | int | float | bool
    data_type: str | None = None


_DECODER = msgspec.json.Decoder(list[OpcuaWrite])


class OpcuaNorth(NorthConnector[OpcuaNorthSettings]):
    """Writes ``[{nodeId, value, dataType?}]`` to the server.

    The OPC UA type of a node is ``dataType`` when given (``Double``, ``Int32``, ``Boolean``...), else the
    node's own (its DataType attribute for a built-in type, else the type of its current value), read once
    per node in one batched request and remembered. An element that can never be written (bad node id,
    unknown node, value that does not fit the type, node not writable) is logged and skipped: retrying it
    would not help and would block the entries behind it. A lost session is retried forever.
    """

    manifest = MANIFEST

    def __init__(self, settings: OpcuaNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._client: Client | None = None
        self._types: dict[str, ua.VariantType] = {}

    async def start(self) -> None:
        """Open the session (``ConnectorNotReady`` with the reason when the server cannot be used)."""
        self._client = await open_session(
            self.settings,
            data_folder=self.context.data_folder,
            timeout_s=TIMEOUT_S,
            name=self.context.name,
            on_lost=self.context.connection_lost,
        )

    async def stop(self) -> None:
        """Close the session; safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            await close_session(client)

    async def test_connection(self) -> None:
        """Open a session with these settings and read the server's state."""
        await self.start()
        try:
            assert self._client is not None
            state = await self._client.nodes.server_state.read_value()
            if state != ua.ServerState.Running:
                raise ConnectorError(f"the server answers but is not running (state {state.name})")
        finally:
            await self.stop()

    async def handle_content(self, content_type: str, data: bytes) -> None:
        """Write an ``opcua`` JSON array; returns once the server answered the Write."""
        if content_type != "opcua":
            raise SendError(f"the OPC UA North sends 'opcua' content, not {content_type!r}")
        try:
            writes = _DECODER.decode(data)
        except msgspec.DecodeError as err:
            raise SendError(f"opcua content is not [{{nodeId, value, dataType?}}]: {err}") from err
        client = self._client
        if client is None:
            raise SendError("no OPC UA session", retry_forever=True)
        try:
            await self._write(client, writes)
        except SESSION_ERRORS as err:
            reason = f"OPC UA write to {self.settings.url} failed: {type(err).__name__}: {err}"
            self.context.connection_lost(reason)
            raise SendError(reason, retry_forever=True) from err

    async def _write(self, client: Client, writes: list[OpcuaWrite]) -> None:
        problems: list[str] = []
        parsed: list[tuple[int, ua.NodeId]] = []
        for index, write in enumerate(writes):
            try:
                parsed.append((index, parse_node_id(write.node_id, f"[{index}].nodeId")))
            except ValueError as err:
                problems.append(str(err))
        await self._learn_types(client, [node_id for index, node_id in parsed if writes[index].data_type is None])
        values = []
        written: list[OpcuaWrite] = []
        for index, node_id in parsed:
            write = writes[index]
            try:
                kind = variant_type(write.data_type) if write.data_type else self._types.get(node_id.to_string())
                if kind is None:
                    raise ValueError("the node's data type cannot be read (unknown node?)")
                value = ua.WriteValue()
                value.NodeId = node_id
                value.AttributeId = ua.AttributeIds.Value
                value.Value = ua.DataValue(ua.Variant(coerce(write.value, kind), kind))
                values.append(value)
                written.append(write)
            except ValueError as err:
                problems.append(f"[{index}] {write.node_id}: {err}")
        if values:
            params = ua.WriteParameters()
            params.NodesToWrite = values
            results = await client.uaclient.write(params)
            for write, status in zip(written, results, strict=False):
                if not status.is_good():
                    problems.append(f"{write.node_id}: {status.name}")
        if problems:
            self.context.logger.error(
                "values not written",
                count=len(problems),
                total=len(writes),
                reasons="; ".join(problems[:_MAX_REASONS]),
            )

    async def _learn_types(self, client: Client, node_ids: list[ua.NodeId]) -> None:
        unknown = list(
            {node_id.to_string(): node_id for node_id in node_ids if node_id.to_string() not in self._types}.values()
        )
        if not unknown:
            return
        data_types = await _read(client, unknown, ua.AttributeIds.DataType)
        by_value = []
        for node_id, result in zip(unknown, data_types, strict=False):
            kind = _builtin(result)
            if kind is None:
                by_value.append(node_id)
            else:
                self._types[node_id.to_string()] = kind
        if by_value:
            # A derived type (Duration, an enumeration...): the type of the value the node holds says.
            for node_id, result in zip(by_value, await _read(client, by_value, ua.AttributeIds.Value), strict=False):
                variant = result.Value
                if result.StatusCode.is_good() and variant is not None and variant.VariantType != ua.VariantType.Null:
                    self._types[node_id.to_string()] = variant.VariantType


async def _read(client: Client, node_ids: list[ua.NodeId], attribute: Any) -> list[ua.DataValue]:
    params = ua.ReadParameters()
    reads = []
    for node_id in node_ids:
        read = ua.ReadValueId()
        read.NodeId = node_id
        read.AttributeId = attribute
        reads.append(read)
    params.NodesToRead = reads
    results: list[ua.DataValue] = await client.uaclient.read(params)
    return results


def _builtin(result: ua.DataValue) -> ua.VariantType | None:
    """The built-in type a DataType attribute names (``ns=0;i=1..25``), if it names one."""
    if not result.StatusCode.is_good() or result.Value is None:
        return None
    data_type = result.Value.Value
    if not isinstance(data_type, ua.NodeId) or data_type.NamespaceIndex != 0:
        return None
    identifier = data_type.Identifier
    if isinstance(identifier, int) and 1 <= identifier <= 15:
        return ua.VariantType(identifier)
    return None
