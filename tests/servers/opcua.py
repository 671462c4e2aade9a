"""An in-process asyncua server for the OPC UA connector tests (and a stand-alone one for the bench).

``OpcuaTestServer`` listens on a loopback port the system assigns (``port``, ``url`` once started) with:
- one writable variable per built-in type in namespace 2 (``ns=2;s=<Type>``, see ``SCALARS``), plus ``Array``
  (Int32[]), ``Uncertain`` (a value with an Uncertain status) and ``Counter`` (Double, for subscriptions);
- a historized Double ``ns=2;s=History`` whose history a test fills with ``add_history``; raw reads are
  paged with continuation points (``page_size`` values per answer), and **processed reads** (Average,
  Minimum, Maximum, Count with a processing interval) are answered too: asyncua's own history manager
  answers them with BadNotImplemented, so ``ProcessedHistoryManager`` adds them (a test server, by design);
- the security policies asked for (``"none"`` and/or ``(policy, mode)`` pairs), a server certificate
  generated with the connector's own helper, users (user name -> password) and trusted user certificates.

``stop()`` then ``start()`` restarts it on the same port with the same history and current values (what a
peer restart looks like to a client). ``python tests/servers/opcua.py --items N --period-ms T`` serves N
Double variables ``ns=2;s=Item<i>`` that all change every T ms on a port the system assigns (printed on its
``ready`` line; ``--port P`` for a fixed one); the bench runs it in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import logging
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from asyncua import Server, ua
from asyncua.crypto import uacrypto
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.history import HistoryDict, HistoryManager
from cryptography import x509

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from connectors.common.opcua import self_signed_certificate  # noqa: E402

NAMESPACE = "urn:oibus:test"
HISTORY_NODE = "ns=2;s=History"

SCALARS: dict[str, tuple[ua.VariantType, Any]] = {
    "Boolean": (ua.VariantType.Boolean, True),
    "SByte": (ua.VariantType.SByte, -12),
    "Byte": (ua.VariantType.Byte, 200),
    "Int16": (ua.VariantType.Int16, -30000),
    "UInt16": (ua.VariantType.UInt16, 60000),
    "Int32": (ua.VariantType.Int32, -2_000_000_000),
    "UInt32": (ua.VariantType.UInt32, 4_000_000_000),
    "Int64": (ua.VariantType.Int64, -9_000_000_000_000_000_000),
    "UInt64": (ua.VariantType.UInt64, 18_000_000_000_000_000_000),
    "Float": (ua.VariantType.Float, 1.5),
    "Double": (ua.VariantType.Double, 3.25),
    "String": (ua.VariantType.String, "héllo"),
    "DateTime": (ua.VariantType.DateTime, datetime(2024, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)),
    "ByteString": (ua.VariantType.ByteString, b"\x01\xab"),
    "Guid": (ua.VariantType.Guid, uuid.UUID("12345678-1234-5678-1234-567812345678")),
    "LocalizedText": (ua.VariantType.LocalizedText, ua.LocalizedText("bonjour", "fr")),
    "QualifiedName": (ua.VariantType.QualifiedName, ua.QualifiedName("Name", 2)),
    "NodeId": (ua.VariantType.NodeId, ua.NodeId("Target", 2)),
    "StatusCode": (ua.VariantType.StatusCode, ua.StatusCode(ua.StatusCodes.BadNoData)),
}
"""Node name -> (type, initial value)."""

_AGGREGATES = {
    ua.ObjectIds.AggregateFunction_Average: "average",
    ua.ObjectIds.AggregateFunction_Minimum: "minimum",
    ua.ObjectIds.AggregateFunction_Maximum: "maximum",
    ua.ObjectIds.AggregateFunction_Count: "count",
}


class KeptHistory(HistoryDict):  # type: ignore[misc]
    """In-memory history that survives a server restart (a node historized again keeps its values)."""

    async def new_historized_node(self, node_id: ua.NodeId, period: timedelta | None, count: int = 0) -> None:
        if node_id not in self._datachanges:
            await super().new_historized_node(node_id, period, count)

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        # Kept in time order, as a historian answers (a test may log past values after live ones).
        values = self._datachanges[node_id]
        bisect.insort(values, datavalue, key=lambda value: value.SourceTimestamp)

    async def stop(self) -> None:
        """Keep the values for the next start."""

    def all_values(self, node_id: ua.NodeId) -> list[ua.DataValue]:
        return list(self._datachanges.get(node_id, []))


class ProcessedHistoryManager(HistoryManager):  # type: ignore[misc]
    """asyncua's history manager, plus processed (aggregate) reads over the stored raw values."""

    async def read_history(self, params: ua.HistoryReadParameters) -> list[ua.HistoryReadResult]:
        details = params.HistoryReadDetails
        if not isinstance(details, ua.ReadProcessedDetails):
            answered: list[ua.HistoryReadResult] = await super().read_history(params)
            return answered
        results = []
        for index, read in enumerate(params.NodesToRead):
            aggregate = details.AggregateType[index] if index < len(details.AggregateType) else None
            results.append(self._processed(read.NodeId, details, aggregate))
        return results

    def _processed(
        self, node_id: ua.NodeId, details: ua.ReadProcessedDetails, aggregate: ua.NodeId | None
    ) -> ua.HistoryReadResult:
        result = ua.HistoryReadResult()
        name = (
            _AGGREGATES.get(aggregate.Identifier) if aggregate is not None and aggregate.NamespaceIndex == 0 else None
        )
        if name is None:
            result.StatusCode = ua.StatusCode(ua.StatusCodes.BadAggregateNotSupported)
            return result
        storage = self.storage
        assert isinstance(storage, KeptHistory)
        start, end = details.StartTime, details.EndTime
        raw = [dv for dv in storage.all_values(node_id) if start <= dv.SourceTimestamp < end]
        step = timedelta(milliseconds=details.ProcessingInterval) if details.ProcessingInterval else end - start
        values = []
        bucket = start
        while bucket < end:
            bucket_end = min(bucket + step, end)
            numbers = [float(dv.Value.Value) for dv in raw if bucket <= dv.SourceTimestamp < bucket_end]
            if name == "count":
                variant = ua.Variant(len(numbers), ua.VariantType.Int32)
                status = ua.StatusCode(ua.StatusCodes.Good)
            elif numbers:
                computed = (
                    statistics.fmean(numbers)
                    if name == "average"
                    else min(numbers)
                    if name == "minimum"
                    else max(numbers)
                )
                variant = ua.Variant(computed, ua.VariantType.Double)
                status = ua.StatusCode(ua.StatusCodes.Good)
            else:
                variant = ua.Variant()
                status = ua.StatusCode(ua.StatusCodes.BadNoData)
            values.append(ua.DataValue(variant, StatusCode=status, SourceTimestamp=bucket, ServerTimestamp=bucket))
            bucket = bucket_end
        result.HistoryData = ua.HistoryData()
        result.HistoryData.DataValues = values
        return result


class _Users:
    """The server's user manager: known user names and passwords, trusted user certificates, anonymous."""

    def __init__(self, users: dict[str, str], certificates: Iterable[bytes], anonymous: bool) -> None:
        self.users = users
        self.certificates = {uacrypto.der_from_x509(x509.load_pem_x509_certificate(pem)) for pem in certificates}
        self.anonymous = anonymous

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        # ``certificate`` is the X509 token's certificate, or else the secure channel's: a user certificate
        # is only trusted when listed, and anything else is anonymous.
        if username is not None:
            return User(role=UserRole.User, name=username) if self.users.get(username) == password else None
        if certificate is not None:
            der = certificate if isinstance(certificate, bytes) else uacrypto.der_from_x509(certificate)
            if der in self.certificates:
                return User(role=UserRole.User, name="cert")
        return User(role=UserRole.User) if self.anonymous else None


_POLICY_TYPES = {
    ("basic128-rsa15", "sign"): ua.SecurityPolicyType.Basic128Rsa15_Sign,
    ("basic128-rsa15", "sign-and-encrypt"): ua.SecurityPolicyType.Basic128Rsa15_SignAndEncrypt,
    ("basic256", "sign"): ua.SecurityPolicyType.Basic256_Sign,
    ("basic256", "sign-and-encrypt"): ua.SecurityPolicyType.Basic256_SignAndEncrypt,
    ("basic256-sha256", "sign"): ua.SecurityPolicyType.Basic256Sha256_Sign,
    ("basic256-sha256", "sign-and-encrypt"): ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ("aes128-sha256-rsa-oaep", "sign"): ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign,
    ("aes128-sha256-rsa-oaep", "sign-and-encrypt"): ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt,
    ("aes256-sha256-rsa-pss", "sign"): ua.SecurityPolicyType.Aes256Sha256RsaPss_Sign,
    ("aes256-sha256-rsa-pss", "sign-and-encrypt"): ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt,
}

_SERVER_CERT: tuple[bytes, bytes] | None = None


def _server_certificate() -> tuple[bytes, bytes]:
    """One server certificate per test process (RSA generation is the slow part of a start)."""
    global _SERVER_CERT
    if _SERVER_CERT is None:
        _SERVER_CERT = self_signed_certificate("OIBus test server", "urn:oibus:test-server", "localhost")
    return _SERVER_CERT


TREE_NODE = "ns=2;s=Tree"
"""The folder ``generate_tree`` fills: folder ``f`` is ``ns=2;s=Tree.F<f>``, its variable ``v`` ``...F<f>.V<v>``."""


def _reference(target: ua.NodeId, node_class: ua.NodeClass, name: ua.QualifiedName, forward: bool) -> Any:
    reference = ua.ReferenceDescription()
    reference.ReferenceTypeId = ua.NodeId(ua.ObjectIds.Organizes)
    reference.NodeId = target
    reference.NodeClass = node_class
    reference.BrowseName = name
    reference.DisplayName = ua.LocalizedText(name.Name)
    reference.TypeDefinition = ua.NodeId(
        ua.ObjectIds.FolderType if node_class == ua.NodeClass.Object else ua.ObjectIds.BaseDataVariableType
    )
    reference.IsForward = forward
    return reference


def generate_tree(server: Server, index: int, folders: int, per_folder: int) -> None:
    """``folders`` folders of ``per_folder`` Double variables under ``Objects/Tree``, added in bulk.

    asyncua's ``add_variable`` checks each new reference against all of its parent's (quadratic: hours for
    100,000 nodes); here each node is added unchecked and its two references appended directly.
    """
    service, space = server.iserver.node_mgt_service, server.iserver.aspace
    admin = User(role=UserRole.Admin)

    def add(node_id: ua.NodeId, parent: ua.NodeId, name: str, node_class: ua.NodeClass) -> None:
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = node_id
        item.BrowseName = ua.QualifiedName(name, index)
        item.NodeClass = node_class
        item.ParentNodeId = ua.NodeId()
        if node_class == ua.NodeClass.Object:
            attributes: Any = ua.ObjectAttributes()
        else:
            attributes = ua.VariableAttributes()
            attributes.Value = ua.Variant(0.0, ua.VariantType.Double)
            attributes.DataType = ua.NodeId(ua.ObjectIds.Double)
        attributes.DisplayName = ua.LocalizedText(name)
        item.NodeAttributes = attributes
        service._add_node(item, admin, check=False)
        parent_data = space[parent]
        parent_class = ua.NodeClass.Object
        parent_name = ua.QualifiedName(parent.Identifier if isinstance(parent.Identifier, str) else "Objects", index)
        parent_data.references.append(_reference(node_id, node_class, item.BrowseName, True))
        space[node_id].references.append(_reference(parent, parent_class, parent_name, False))

    root = ua.NodeId("Tree", index)
    add(root, ua.NodeId(ua.ObjectIds.ObjectsFolder), "Tree", ua.NodeClass.Object)
    for f in range(folders):
        folder = ua.NodeId(f"Tree.F{f}", index)
        add(folder, root, f"F{f}", ua.NodeClass.Object)
        for v in range(per_folder):
            add(ua.NodeId(f"Tree.F{f}.V{v}", index), folder, f"V{v}", ua.NodeClass.Variable)


class OpcuaTestServer:
    """See the module docstring. Use ``async with OpcuaTestServer(...) as server``."""

    def __init__(
        self,
        *,
        port: int = 0,
        policies: Iterable[str | tuple[str, str]] = ("none",),
        users: dict[str, str] | None = None,
        user_certificates: Iterable[bytes] = (),
        anonymous: bool = True,
        page_size: int = 10_000,
        items: int = 0,
        tree: tuple[int, int] = (0, 0),
    ) -> None:
        self.port = port
        """0 until the first ``start``, which takes the port the system assigns; restarts reuse it."""
        self.policies = list(policies)
        self.users = _Users(users or {}, user_certificates, anonymous)
        self.history = KeptHistory(max_history_data_response_size=page_size)
        self.items = items
        self.tree = tree
        """``(folders, variables per folder)`` generated under ``Objects/Tree`` (``generate_tree``)."""
        self.values: dict[str, ua.DataValue] = {}
        self.server: Server | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="oibus-opcua-server-")

    @property
    def url(self) -> str:
        """The endpoint URL clients connect to."""
        return f"opc.tcp://127.0.0.1:{self.port}/oibus/"

    async def __aenter__(self) -> OpcuaTestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        self._folder.cleanup()

    async def start(self) -> None:
        """Start (again) on ``self.port``, with the values and history kept from a previous run."""
        server = Server()
        server.iserver.history_manager = ProcessedHistoryManager(server.iserver)
        await server.init()
        server.iserver.history_manager.set_storage(self.history)
        server.set_endpoint(self.url)
        server.set_server_name("OIBus test server")
        await server.set_application_uri("urn:oibus:test-server")
        types = [ua.SecurityPolicyType.NoSecurity] if "none" in self.policies else []
        types += [_POLICY_TYPES[policy] for policy in self.policies if isinstance(policy, tuple)]
        if any(isinstance(policy, tuple) for policy in self.policies):
            cert_pem, key_pem = _server_certificate()
            await server.load_certificate(cert_pem, format="pem")
            await server.load_private_key(key_pem, format="pem")
        server.set_security_policy(types)
        tokens: list[type] = [ua.UserNameIdentityToken, ua.X509IdentityToken]
        if self.users.anonymous:
            tokens.append(ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        server.iserver.user_manager = self.users
        index = await server.register_namespace(NAMESPACE)
        objects = server.nodes.objects
        folder = await objects.add_folder(index, "OIBus")
        for name, (kind, initial) in SCALARS.items():
            await self._variable(folder, index, name, kind, initial)
        await self._variable(folder, index, "Array", ua.VariantType.Int32, [1, 2, 3])
        await self._variable(folder, index, "Counter", ua.VariantType.Double, 0.0)
        uncertain = await self._variable(folder, index, "Uncertain", ua.VariantType.Double, 7.5)
        if "Uncertain" not in self.values:
            await uncertain.write_value(
                ua.DataValue(
                    ua.Variant(7.5, ua.VariantType.Double),
                    StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue),
                )
            )
        history = await self._variable(folder, index, "History", ua.VariantType.Double, 0.0)
        await server.historize_node_data_change(history, period=None, count=0)
        for i in range(self.items):
            await self._variable(folder, index, f"Item{i}", ua.VariantType.Double, 0.0)
        if self.tree != (0, 0):
            generate_tree(server, index, *self.tree)
        await server.start()
        if self.port == 0:
            self._adopt_assigned_port(server)
        self.server = server

    def _adopt_assigned_port(self, server: Server) -> None:
        """After a first start on port 0: keep the port the system gave, and advertise it in the endpoints.

        asyncua builds its endpoint descriptions before it binds, so they still say port 0.
        """
        assert server.bserver is not None
        self.port = int(server.bserver.port)
        server.endpoint = urlparse(self.url)
        for endpoint in server.iserver.endpoints:
            endpoint.EndpointUrl = self.url
            endpoint.Server.DiscoveryUrls = [self.url]

    async def _variable(self, folder: Any, index: int, name: str, kind: ua.VariantType, initial: Any) -> Any:
        kept = self.values.get(name)
        node = await folder.add_variable(
            ua.NodeId(name, index), name, kept.Value if kept is not None else ua.Variant(initial, kind)
        )
        await node.set_writable()
        if kept is not None and kept.StatusCode is not None and not kept.StatusCode.is_good():
            await node.write_value(kept)
        return node

    async def stop(self) -> None:
        """Stop listening; current values are remembered for the next ``start``."""
        server = self.server
        if server is None:
            return
        self.server = None
        for name in [*SCALARS, "Array", "Counter", "Uncertain"]:
            with contextlib.suppress(Exception):
                self.values[name] = await server.get_node(f"ns=2;s={name}").read_data_value()
        await server.stop()
        # A session with subscriptions outlives its connection (asyncua keeps it for a transfer until its
        # timeout); a stopped server process would take it along, and its watchdog and subscription tasks
        # must not outlive the test.
        for session in list(getattr(server.iserver, "_external_sessions", {}).values()):
            await session.close_session(True)

    async def reset(self) -> None:
        """Give every variable its initial value back and forget the history (a server shared by tests)."""
        for name, (kind, initial) in SCALARS.items():
            await self.write(f"ns=2;s={name}", initial, kind)
        await self.write("ns=2;s=Counter", 0.0, ua.VariantType.Double)
        for values in self.history._datachanges.values():
            values.clear()

    def node(self, node_id: str) -> Any:
        """A server-side node (to write a value or read one back)."""
        assert self.server is not None, "server not started"
        return self.server.get_node(node_id)

    async def write(self, node_id: str, value: Any, kind: ua.VariantType) -> None:
        """Change a value as a device would."""
        await self.node(node_id).write_value(ua.Variant(value, kind))

    async def read(self, node_id: str) -> Any:
        """The current value of a node."""
        return await self.node(node_id).read_value()

    async def add_history(self, points: Iterable[tuple[datetime, float]], node_id: str = HISTORY_NODE) -> None:
        """Store past values of the historized node, as its device logged them."""
        node = ua.NodeId.from_string(node_id)
        for instant, value in points:
            await self.history.save_node_value(
                node,
                ua.DataValue(
                    ua.Variant(value, ua.VariantType.Double), SourceTimestamp=instant, ServerTimestamp=instant
                ),
            )


async def _serve(port: int, items: int, period_ms: int) -> None:
    """Serve ``items`` Double variables that all change every ``period_ms`` (the bench's peer)."""
    logging.basicConfig(level=logging.WARNING)
    async with OpcuaTestServer(port=port, items=items) as server:
        assert server.server is not None
        nodes = [ua.NodeId(f"Item{i}", 2) for i in range(items)]
        iserver = server.server.iserver
        print(f"ready {server.url}", flush=True)  # the bench reads the URL (and the assigned port) here
        tick = 0
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            tick += 1
            now = datetime.now(UTC)
            for i, node in enumerate(nodes):
                # The internal write path: no session, no encoding, so the server spends little per change.
                await iserver.write_attribute_value(
                    node,
                    ua.DataValue(ua.Variant(float(tick * 100_000 + i), ua.VariantType.Double), SourceTimestamp=now),
                )
            next_at += period_ms / 1000
            await asyncio.sleep(max(0.0, next_at - loop.time()))


def main() -> None:
    """``python tests/servers/opcua.py [--port P] --items N --period-ms T`` (port 0: the system assigns one)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--period-ms", type=int, default=1000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.items, args.period_ms))


if __name__ == "__main__":
    main()
