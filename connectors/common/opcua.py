"""What the OPC UA South and North share: connection settings, the OIBus client certificate, sessions, types.

Library errors (asyncua, socket, cryptography) are caught here and re-raised as ``connectors.errors`` types
whose message says what to check (STYLE R10). Reconnection belongs to the engine's runner (STYLE R11):
sessions are opened with asyncua's ``auto_reconnect=False`` and its connection supervisor only *reports* a
lost session through ``on_lost``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import msgspec
from asyncua import Client, ua
from asyncua.crypto import security_policies
from cryptography import x509

from connectors.common.x509 import (
    CERT_FILE,
    OIBUS_DAYS,
    PRIVATE_KEY_FILE,
    Subject,
    application_uri,
    generate,
    oibus_certificate,
)
from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorFatal, ConnectorNotReady
from connectors.manifest import SECRET

__all__ = [
    "CERT_FILE",
    "PRIVATE_KEY_FILE",
    "ClientCertificate",
    "OpcuaAuthentication",
    "OpcuaConnectionSettings",
    "SecurityMode",
    "SecurityPolicy",
    "client_certificate",
    "open_session",
    "self_signed_certificate",
    "variant_type",
]

"""File names in ``<data folder>/certs/``, as upstream OIBus names them (its folder can be copied over)."""

SecurityMode = Literal["none", "sign", "sign-and-encrypt"]
SecurityPolicy = Literal[
    "none",
    "basic128",
    "basic192",
    "basic192-rsa15",
    "basic256-rsa15",
    "basic128-rsa15",
    "basic256",
    "basic256-sha256",
    "aes128-sha256-rsa-oaep",
    "aes256-sha256-rsa-pss",
    "pub-sub-aes-128-ctr",
    "pub-sub-aes-256-ctr",
]

_MODES: dict[str, ua.MessageSecurityMode] = {
    "none": ua.MessageSecurityMode.None_,
    "sign": ua.MessageSecurityMode.Sign,
    "sign-and-encrypt": ua.MessageSecurityMode.SignAndEncrypt,
}
_POLICIES: dict[str, type[security_policies.SecurityPolicy]] = {
    "basic128-rsa15": security_policies.SecurityPolicyBasic128Rsa15,
    "basic256": security_policies.SecurityPolicyBasic256,
    "basic256-sha256": security_policies.SecurityPolicyBasic256Sha256,
    "aes128-sha256-rsa-oaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "aes256-sha256-rsa-pss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}


# Offered by upstream OIBus (node-opcua) but not implemented by asyncua: accepted by the schema so that an
# upstream configuration is read, then refused by ``check_security`` with a message saying why.
UNSUPPORTED_POLICIES = frozenset(
    {"basic128", "basic192", "basic192-rsa15", "basic256-rsa15", "pub-sub-aes-128-ctr", "pub-sub-aes-256-ctr"}
)


class OpcuaAuthentication(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How the session authenticates: anonymous, user name and password, or a user certificate."""

    type: Annotated[
        Literal["none", "basic", "cert"],
        msgspec.Meta(title="Authentication", description="none (anonymous), basic (user/password) or cert."),
    ] = "none"
    username: Annotated[str | None, msgspec.Meta(title="Username", description="User name (basic).")] = None
    password: Annotated[str | None, msgspec.Meta(title="Password", description="Password (basic)."), SECRET] = None
    cert_file_path: Annotated[
        str | None,
        msgspec.Meta(
            title="Certificate file", description="PEM or DER user certificate (cert); relative to the data folder."
        ),
    ] = None
    key_file_path: Annotated[
        str | None,
        msgspec.Meta(title="Key file", description="PEM private key of the user certificate (cert)."),
    ] = None

    def __post_init__(self) -> None:
        # Checked here so that a bad combination is a validation error naming the field, not a failed start.
        if self.type == "basic" and not self.username:
            raise ValueError("authentication.username is required when authentication.type is 'basic'")
        if self.type == "cert" and not (self.cert_file_path and self.key_file_path):
            raise ValueError(
                "authentication.certFilePath and keyFilePath are required when authentication.type is 'cert'"
            )


Url = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^opc\.tcp://.+",
        title="URL",
        description="Server endpoint, opc.tcp://host:port/path.",
        examples=["opc.tcp://localhost:4840/freeopcua/server/"],
    ),
]
KeepSessionAlive = Annotated[
    bool,
    msgspec.Meta(
        title="Keep session alive",
        description="Accepted for compatibility; the session is always probed (a lost one is reported).",
    ),
]
RetryInterval = Annotated[
    int,
    msgspec.Meta(
        ge=100,
        le=30000,
        title="Retry interval",
        description="Accepted for compatibility; the engine reconnects with its own backoff (1 s doubling to 60 s).",
        extra={"unit": "ms"},
    ),
]
SecurityModeField = Annotated[
    SecurityMode, msgspec.Meta(title="Security mode", description="Message security: none, sign or sign-and-encrypt.")
]
SecurityPolicyField = Annotated[
    SecurityPolicy | None,
    msgspec.Meta(
        title="Security policy",
        description=(
            "Policy used with sign / sign-and-encrypt. basic128, basic192, basic192-rsa15, basic256-rsa15, "
            "pub-sub-aes-128-ctr and pub-sub-aes-256-ctr (upstream's) are refused: asyncua does not implement them."
        ),
    ),
]
AuthenticationField = Annotated[
    OpcuaAuthentication, msgspec.Meta(title="Authentication", description="Anonymous, user/password or certificate.")
]


class OpcuaConnectionSettings(Protocol):
    """The settings fields both connectors declare (and ``open_session`` reads)."""

    @property
    def url(self) -> str:
        """Server endpoint."""

    @property
    def security_mode(self) -> SecurityMode:
        """Message security mode."""

    @property
    def security_policy(self) -> SecurityPolicy | None:
        """Security policy (with sign / sign-and-encrypt)."""

    @property
    def authentication(self) -> OpcuaAuthentication:
        """User identity."""


def check_security(mode: SecurityMode, policy: SecurityPolicy | None) -> None:
    """Raise ``ValueError`` (a validation error of ``securityPolicy``) when mode and policy do not fit."""
    if policy in UNSUPPORTED_POLICIES:
        raise ValueError(
            f"securityPolicy '{policy}' is offered by upstream OIBus but not supported by asyncua, the OPC UA "
            f"library of this OIBus; use one of {', '.join(sorted(_POLICIES))}"
        )
    if mode != "none" and (policy is None or policy == "none"):
        raise ValueError(f"securityPolicy must name a policy when securityMode is '{mode}'")


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """The OIBus client certificate: PEM files, and the application URI it names (asyncua must use the same)."""

    cert_path: Path
    key_path: Path
    application_uri: str


def self_signed_certificate(
    common_name: str, application_uri: str, hostname: str, *, key_size: int = 2048, days: int = OIBUS_DAYS
) -> tuple[bytes, bytes]:
    """A self-signed OPC UA application certificate and its key, both PEM.

    The subject alternative name carries ``application_uri`` and ``hostname``, which OPC UA peers check. 2048
    bits is the size every policy accepts (Basic128Rsa15 and Basic256 stop at 2048).
    """
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri), x509.DNSName(hostname)]
    pair = generate(Subject(common_name=common_name), key_size=key_size, days=days, alternative_names=names)
    return pair.certificate.encode(), pair.private_key.encode()


def client_certificate(data_folder: Path) -> ClientCertificate:
    """OIBus's certificate of ``<data folder>/certs/`` (shared with the HTTPS listener), generated on first use.

    Blocking: run it in a thread.
    """
    try:
        cert_path, key_path = oibus_certificate(data_folder)
    except ValueError as err:
        raise ConnectorFatal(str(err)) from err
    uri = application_uri(cert_path.read_text()) or f"urn:{socket.gethostname()}:OIBus"
    return ClientCertificate(cert_path, key_path, uri)


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 300 else text[:300] + "..."


def _translate(err: BaseException, settings: OpcuaConnectionSettings, timeout_s: float) -> ConnectorError:
    """A library error of a session opening, as one of ours that says what to check."""
    url = settings.url
    if isinstance(err, ConnectorError):
        return err
    if isinstance(err, TimeoutError):
        return ConnectorNotReady(f"{url} did not answer within {timeout_s:g} s")
    if isinstance(err, socket.gaierror):
        return ConnectorNotReady(f"host of {url} is unknown: {_describe(err)}")
    if isinstance(err, ConnectionRefusedError):
        return ConnectorNotReady(f"{url} refused the connection (no OPC UA server listening there)")
    if isinstance(err, OSError):
        return ConnectorNotReady(f"cannot reach {url}: {_describe(err)}")
    if isinstance(
        err,
        ua.uaerrors.BadUserAccessDenied | ua.uaerrors.BadIdentityTokenRejected | ua.uaerrors.BadIdentityTokenInvalid,
    ):
        what = {
            "basic": "check authentication.username and password",
            "cert": "check authentication.certFilePath and keyFilePath (is the certificate trusted by the server?)",
        }.get(settings.authentication.type, "the server refuses anonymous sessions")
        return ConnectorNotReady(f"{url} rejected the user identity ({type(err).__name__}): {what}")
    text = _describe(err)
    if "No matching endpoints" in text:
        return ConnectorNotReady(
            f"{url} offers no endpoint with securityMode '{settings.security_mode}' and securityPolicy "
            f"'{settings.security_policy}'"
        )
    if isinstance(err, ua.UaStatusCodeError) and "Security" in type(err).__name__ + text:
        return ConnectorNotReady(
            f"{url} refused the secure channel ({type(err).__name__}): does it trust the OIBus certificate?"
        )
    return ConnectorNotReady(f"cannot open a session on {url}: {type(err).__name__}: {text}")


async def open_session(
    settings: OpcuaConnectionSettings,
    *,
    data_folder: Path,
    timeout_s: float,
    name: str,
    on_lost: Callable[[str], None] | None = None,
) -> Client:
    """Connect to the server and activate a session; raise ``ConnectorNotReady``/``ConnectorFatal`` with a reason.

    ``on_lost(reason)`` is called once if the session later dies (asyncua's supervisor probes it and, with
    ``auto_reconnect=False``, only reports).
    """
    # The probe reads the server state every ``timeout_s`` and gives it as long to answer: a busy server (one
    # creating thousands of monitored items) is not a dead one. A closed connection is noticed at once.
    client = Client(settings.url, timeout=timeout_s, watchdog_intervall=timeout_s, auto_reconnect=False)
    client.name = client.description = f"OIBus {name}"
    client.product_uri = "urn:oibus"
    # A dead session must be noticed by the probe, not kept on the server for asyncua's default hour.
    client.session_timeout = 60_000
    mode = settings.security_mode
    try:
        if mode != "none":
            policy = _POLICIES[settings.security_policy or ""]
            certificate = await asyncio.to_thread(client_certificate, data_folder)
            client.application_uri = certificate.application_uri
            await client.set_security(policy, str(certificate.cert_path), str(certificate.key_path), mode=_MODES[mode])
        await _set_identity(client, settings.authentication, data_folder)
        async with asyncio.timeout(timeout_s * 2):
            await client.connect()
    except (ConnectorFatal, KeyError) as err:
        await _close_quietly(client)
        if isinstance(err, KeyError):
            raise ConnectorFatal(f"securityPolicy '{settings.security_policy}' is not supported") from err
        raise
    except Exception as err:
        await _close_quietly(client)
        raise _translate(err, settings, timeout_s) from err
    if on_lost is not None:

        async def lost(exc: Exception) -> None:
            on_lost(f"OPC UA session to {settings.url} lost: {_describe(exc)}")

        client.connection_lost_callback = lost
    return client


async def _set_identity(client: Client, auth: OpcuaAuthentication, data_folder: Path) -> None:
    if auth.type == "basic":
        client.set_user(auth.username or "")
        client.set_password(auth.password or "")
    elif auth.type == "cert":
        cert_file = data_folder / (auth.cert_file_path or "")
        key_file = data_folder / (auth.key_file_path or "")
        try:
            await client.load_client_certificate(str(cert_file), await _encoding(cert_file))
        except (OSError, ValueError) as err:
            raise ConnectorFatal(
                f"authentication.certFilePath: cannot read a certificate in {cert_file}: {err}"
            ) from err
        try:
            await client.load_private_key(key_file, extension=await _encoding(key_file))
        except (OSError, ValueError, TypeError) as err:
            raise ConnectorFatal(f"authentication.keyFilePath: cannot read a private key in {key_file}: {err}") from err


async def _encoding(path: Path) -> str:
    """``pem`` or ``der`` by content (asyncua guesses from the file extension, and ``.key``/``.crt`` are both)."""
    head = await asyncio.to_thread(_head, path)
    return "pem" if b"-----BEGIN" in head else "der"


def _head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(64)


async def _close_quietly(client: Client) -> None:
    try:
        async with asyncio.timeout(2):
            await client.disconnect()
    except Exception:  # the session is being dropped anyway
        client.disconnect_socket()


async def close_session(client: Client) -> None:
    """Close the session (a dead peer is not waited for long); never raises."""
    client.connection_lost_callback = None
    await _close_quietly(client)


def parse_node_id(text: str, field: str) -> ua.NodeId:
    """``ns=2;s=Temp`` as a NodeId, or ``ValueError`` naming ``field``."""
    try:
        return ua.NodeId.from_string(text)
    except Exception as err:
        raise ValueError(f"{field}: '{text}' is not an OPC UA node id (e.g. ns=2;s=Name, ns=0;i=2258)") from err


def connection_error(err: BaseException, url: str) -> ConnectorConnectionError:
    """A failure of a request on an open session, as a lost connection (the runner reconnects)."""
    return ConnectorConnectionError(f"OPC UA request to {url} failed: {type(err).__name__}: {_describe(err)}")


# Session-level failures: the transport or the session is gone, as opposed to a bad node or value.
SESSION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    ConnectionError,
    ua.uaerrors.BadSessionIdInvalid,
    ua.uaerrors.BadSessionClosed,
    ua.uaerrors.BadSecureChannelIdInvalid,
    ua.uaerrors.BadConnectionClosed,
    ua.uaerrors.BadServerNotConnected,
    ua.uaerrors.BadCommunicationError,
)


def variant_type(name: str) -> ua.VariantType:
    """A built-in type by name (``Double``, ``int32``...), or ``ValueError``."""
    found = _VARIANT_NAMES.get(name.lower())
    if found is None:
        raise ValueError(f"unknown OPC UA data type '{name}' (one of {', '.join(sorted(_WRITABLE))})")
    return found


_WRITABLE = (
    "Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
    "Float", "Double", "String", "DateTime", "ByteString", "Guid",
)  # fmt: skip
_VARIANT_NAMES = {name.lower(): ua.VariantType[name] for name in _WRITABLE}
_INT_RANGES = {
    ua.VariantType.SByte: (-(2**7), 2**7 - 1),
    ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-(2**15), 2**15 - 1),
    ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-(2**31), 2**31 - 1),
    ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-(2**63), 2**63 - 1),
    ua.VariantType.UInt64: (0, 2**64 - 1),
}


def coerce(value: Any, kind: ua.VariantType) -> Any:
    """``value`` (JSON: string, number or boolean) as the Python value of an OPC UA ``kind``; ``ValueError`` if not."""
    if isinstance(value, dict | list) or value is None:
        raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")
    if kind == ua.VariantType.Boolean:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "1.0"):
            return True
        if text in ("0", "false", "0.0"):
            return False
        raise ValueError(f"'{value}' is not a boolean (true/false/1/0)")
    if kind in _INT_RANGES:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value} is not an integer")
        try:
            number = int(value) if not isinstance(value, str) else int(float(value)) if "." in value else int(value)
        except ValueError as err:
            raise ValueError(f"'{value}' is not an integer") from err
        low, high = _INT_RANGES[kind]
        if not low <= number <= high:
            raise ValueError(f"{number} is out of the {kind.name} range [{low}, {high}]")
        return number
    if kind in (ua.VariantType.Float, ua.VariantType.Double):
        try:
            return float(value)
        except ValueError as err:
            raise ValueError(f"'{value}' is not a number") from err
    if kind == ua.VariantType.String:
        return str(value)
    if kind == ua.VariantType.DateTime:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError as err:
            raise ValueError(f"'{value}' is not an ISO-8601 date-time") from err
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if kind == ua.VariantType.ByteString:
        text = str(value)
        try:
            return bytes.fromhex(text)
        except ValueError:
            try:
                return base64.b64decode(text, validate=True)
            except binascii.Error as err:
                raise ValueError(f"'{value}' is neither hex nor base64") from err
    if kind == ua.VariantType.Guid:
        try:
            return uuid.UUID(str(value))
        except ValueError as err:
            raise ValueError(f"'{value}' is not a GUID") from err
    raise ValueError(f"writing {kind.name} values is not supported")
