"""A fake OIAnalytics: the server side of the whole OIBus ⇄ OIAnalytics protocol, checking what it receives.

It runs its aiohttp application in a thread of its own (tests drive a real engine with blocking calls), over
HTTP or HTTPS with a self-signed certificate, optionally behind an API gateway prefix and header. Every
request is checked field by field against ``oianalytics-protocol.md``; a deviation is answered 400 and
recorded in ``problems`` (tests assert it stays empty). ``go_offline``/``go_online`` close and reopen the
listening socket on the same port, for outage tests.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.oianalytics.cipher import encrypt_for
from servers.tls import self_signed

REGISTRATION_KEYS = ["activationCode", "oibusId", "oibusName", "oibusVersion", "oibusOs", "oibusArch", "publicKey"]
ACK_KEYS = [
    "id",
    "createdBy",
    "updatedBy",
    "createdAt",
    "updatedAt",
    "status",
    "ack",
    "targetVersion",
    "retrievedDate",
    "completedDate",
    "result",
    "type",
]
ACK_ID_KEYS = [
    "scanModeId",
    "ipFilterId",
    "certificateId",
    "southConnectorId",
    "northConnectorId",
    "historyQueryId",
    "itemId",
    "transformerId",
]
FULL_CONFIG_KEYS = [
    "engine",
    "registration",
    "scanModes",
    "ipFilters",
    "certificates",
    "southConnectors",
    "northConnectors",
    "users",
    "transformers",
]
LOG_KEYS = [
    "timestamp",
    "level",
    "scopeType",
    "scopeId",
    "scopeName",
    "itemId",
    "itemName",
    "groupId",
    "groupName",
    "message",
]
USER_AGENT = re.compile(r"^OIBus/[0-9][^ ]* \(https://oibus\.optimistik\.com/\)$")
CHECK_PATH = "/api/oianalytics/oibus/check-registration"
PATH = web.RequestKey("path", str)
"""The request path without the gateway prefix."""


@dataclass
class FakeOIAnalytics:
    """See the module docstring. ``token`` is handed out on activation; ``basic`` are North/South credentials."""

    prefix: str = ""
    gateway_header: tuple[str, str] | None = None
    token: str = "fake-oia-token-7f3b"
    basic: tuple[str, str] = ("oia-access", "oia-secret")
    tls_folder: Path | None = None
    port: int = 0

    problems: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    accepted: bool = False
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    configurations: list[dict[str, Any]] = field(default_factory=list)
    history_messages: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    values: list[tuple[str, list[dict[str, Any]], bool]] = field(default_factory=list)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    assets: dict[str, bytes] = field(default_factory=dict)
    series: list[dict[str, Any]] = field(default_factory=list)
    """What ``GET /api/oianalytics/data/values`` answers (South queries)."""
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    configuration_status: int = 204
    status_delay_s: float = 0.0
    """How long ``GET /status`` takes (a slow connection test keeps the command executor busy)."""
    """Status of ``PUT /configuration`` answers (e.g. 500 to make OIBus retry)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _public_key: str = ""
    _ssl_context: ssl.SSLContext | None = None

    # --- Lifecycle --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL OIBus registers with (without the gateway prefix)."""
        scheme = "https" if self.tls_folder is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _ssl(self) -> ssl.SSLContext | None:
        if self.tls_folder is None:
            return None
        return self_signed(self.tls_folder).server_context()

    def start(self) -> FakeOIAnalytics:
        """Serve in a background thread; returns once listening."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        context = self._ssl()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            app = web.Application(middlewares=[self._check_middleware], client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._dispatch)
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(self._listen(context))
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="fake-oianalytics", daemon=True)
        self._thread.start()
        if not ready.wait(20):
            raise TimeoutError("fake OIAnalytics did not start")
        return self

    async def _listen(self, context: ssl.SSLContext | None) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=context, reuse_address=True)
        await self._site.start()
        if not self.port:
            server = self._site._server
            assert isinstance(server, asyncio.base_events.Server)
            self.port = server.sockets[0].getsockname()[1]
        self._ssl_context = context

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(20)

    def go_offline(self) -> None:
        """Stop listening (connections are refused) until ``go_online``."""

        async def down() -> None:
            assert self._site is not None
            await self._site.stop()

        self._call(down())

    def go_online(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen(self._ssl_context))

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(20)

    def __enter__(self) -> FakeOIAnalytics:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- What tests use ----------------------------------------------------------------------------------

    @property
    def activation_code(self) -> str | None:
        """The code of the last registration received."""
        return self.registrations[-1]["activationCode"] if self.registrations else None

    def encrypt(self, plaintext: str) -> str:
        """RSA-OAEP(SHA-256) ciphertext of ``plaintext`` with the last public key received, as OIAnalytics sends."""
        with self._lock:
            key = self._public_key
        return encrypt_for(key, plaintext)

    def add_command(self, command_type: str, target_version: str, **fields: Any) -> str:
        """Queue a command for ``/pending``; returns its id."""
        with self._lock:
            command_id = f"cmd-{len(self.commands) + 1:04d}"
            self.commands[command_id] = {
                "id": command_id,
                "type": command_type,
                "targetVersion": target_version,
                **fields,
            }
        return command_id

    def reported(self, command_id: str) -> list[dict[str, Any]]:
        """Every status object received for ``command_id``, in order."""
        with self._lock:
            return [entry for entry in self.statuses if entry["id"] == command_id]

    def final_status(self, command_id: str) -> dict[str, Any] | None:
        """The last COMPLETED/ERRORED/CANCELLED status received for ``command_id``."""
        finals = [e for e in self.reported(command_id) if e["status"] in ("COMPLETED", "ERRORED", "CANCELLED")]
        return finals[-1] if finals else None

    def everything_received(self) -> Iterator[str]:
        """Every JSON text and body this fake received (to look for leaked secrets)."""
        import json

        with self._lock:
            yield from (json.dumps(entry) for entry in self.registrations)
            yield from (json.dumps(entry) for entry in self.statuses)
            yield from (json.dumps(entry) for entry in self.configurations)
            yield from (json.dumps(entry) for entry in self.logs)

    # --- Checks -------------------------------------------------------------------------------------------

    def _problem(self, text: str) -> web.Response:
        self.problems.append(text)
        return web.json_response({"message": f"Bad Request: {text}"}, status=400)

    @web.middleware
    async def _check_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        self.requests.append((request.method, path))
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return self._problem(f"{request.method} {path}: missing gateway prefix {self.prefix}")
            path = path[len(self.prefix) :]
        request[PATH] = path
        user_agent = request.headers.get("User-Agent", "")
        if not USER_AGENT.match(user_agent):
            return self._problem(f"{request.method} {path}: bad User-Agent {user_agent!r}")
        authorization = request.headers.get("Authorization")
        # Connector endpoints take the North/South Basic credentials as well as the registration's token.
        data_path = path.startswith(
            ("/api/oianalytics/oibus/time-values", "/api/oianalytics/file-uploads", "/api/oianalytics/data/")
        ) or (path == "/api/oianalytics/oibus/status" and not (authorization or "").startswith("Bearer"))
        bearer = authorization == f"Bearer {self.token}"
        if self.gateway_header is not None and (not data_path or bearer):
            key, value = self.gateway_header
            if request.headers.get(key) != value:
                return self._problem(f"{request.method} {path}: gateway header {key} missing or wrong")
        if path == "/api/oianalytics/oibus/registration" or path.startswith(CHECK_PATH):
            if authorization is not None:
                return self._problem(f"{path}: no Authorization expected during registration")
        elif data_path:
            basic = "Basic " + base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            if not bearer and authorization != basic:
                return web.json_response({"message": "Unauthorized"}, status=401)
        elif not bearer:
            return web.json_response({"message": "Unauthorized"}, status=401)
        return await handler(request)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request[PATH]
        route = {
            ("POST", "/api/oianalytics/oibus/registration"): self._register,
            ("GET", CHECK_PATH): self._check,
            ("GET", "/api/oianalytics/oibus/status"): self._status,
            ("GET", "/api/oianalytics/oibus/commands/list-by-ids"): self._list_by_ids,
            ("GET", "/api/oianalytics/oibus/commands/pending"): self._pending,
            ("PUT", "/api/oianalytics/oibus/commands/status"): self._command_status,
            ("GET", "/api/oianalytics/oibus/upgrade/asset"): self._asset,
            ("PUT", "/api/oianalytics/oibus/configuration"): self._configuration,
            ("PUT", "/api/oianalytics/oibus/configuration/history-query"): self._history,
            ("POST", "/api/oianalytics/oibus/logs"): self._logs,
            ("POST", "/api/oianalytics/oibus/time-values"): self._time_values,
            ("POST", "/api/oianalytics/oibus/time-values/compressed"): self._time_values,
            ("POST", "/api/oianalytics/file-uploads"): self._file,
            ("GET", "/api/oianalytics/data/values"): self._data_values,
        }.get((request.method, path))
        if route is None:
            return self._problem(f"unexpected {request.method} {path}")
        return await route(request)

    async def _json(self, request: web.Request) -> Any:
        if request.content_type != "application/json":
            raise ValueError(f"Content-Type {request.content_type!r}, expected application/json")
        return await request.json()

    # --- Registration -------------------------------------------------------------------------------------

    async def _register(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if list(body) != REGISTRATION_KEYS:
            return self._problem(f"registration keys {list(body)} != {REGISTRATION_KEYS}")
        if not re.fullmatch(r"[0-9a-zA-Z]{6}", str(body["activationCode"])):
            return self._problem(f"activationCode {body['activationCode']!r}")
        if not all(isinstance(body[key], str) and body[key] for key in REGISTRATION_KEYS):
            return self._problem("a registration field is empty or not a string")
        try:
            key = serialization.load_pem_public_key(body["publicKey"].encode())
        except ValueError:
            return self._problem("publicKey is not a PEM SPKI key")
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
            return self._problem("publicKey is not an RSA key of 2048 bits or more")
        with self._lock:
            self.registrations.append(body)
            self._public_key = body["publicKey"]
            self.accepted = False
        expiration = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
        return web.json_response(
            {"redirectUrl": f"{CHECK_PATH}?id={len(self.registrations)}", "expirationDate": expiration}
        )

    async def _check(self, request: web.Request) -> web.Response:
        if request.query.get("id") != str(len(self.registrations)):
            return self._problem(f"check of an old registration {request.query.get('id')}")
        if self.accepted:
            return web.json_response({"status": "COMPLETED", "expired": False, "accessToken": self.token})
        return web.json_response({"status": "PENDING", "expired": False, "accessToken": None})

    async def _status(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.status_delay_s)
        return web.Response(status=200)

    # --- Commands -----------------------------------------------------------------------------------------

    async def _list_by_ids(self, request: web.Request) -> web.Response:
        ids = request.query.getall("ids", [])
        if not ids:
            return self._problem("list-by-ids without ids")
        return web.json_response([self.commands[i] for i in ids if i in self.cancelled and i in self.commands])

    async def _pending(self, request: web.Request) -> web.Response:
        with self._lock:
            reported = {entry["id"] for entry in self.statuses}
            pending = [c for i, c in self.commands.items() if i not in reported and i not in self.cancelled]
        return web.json_response(pending)

    async def _command_status(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if not isinstance(body, list) or not body:
            return self._problem("commands/status body must be a non-empty array")
        for entry in body:
            keys = list(entry)
            expected = (
                ACK_KEYS + [k for k in ACK_ID_KEYS if k in entry] + (["commandContent"] * ("commandContent" in entry))
            )
            if keys != expected:
                return self._problem(f"status keys {keys} != {expected}")
            if entry["status"] not in ("RETRIEVED", "RUNNING", "COMPLETED", "ERRORED", "CANCELLED"):
                return self._problem(f"status {entry['status']!r}")
            if entry["ack"] is not False or entry["id"] not in self.commands:
                return self._problem(f"ack {entry['ack']!r} or unknown id {entry['id']!r}")
            if entry["status"] == "COMPLETED" and not entry["completedDate"]:
                return self._problem(f"COMPLETED {entry['id']} without completedDate")
        with self._lock:
            self.statuses.extend(body)
        return web.Response(status=204)

    async def _asset(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.query.get("assetId", ""))
        if asset is None:
            return web.Response(status=404, text="no such asset")
        return web.Response(body=asset, content_type="application/octet-stream")

    # --- Messages and logs --------------------------------------------------------------------------------

    async def _configuration(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if list(body) != FULL_CONFIG_KEYS:
            return self._problem(f"full-config keys {list(body)} != {FULL_CONFIG_KEYS}")
        if not body["registration"]["publicKey"].startswith("-----BEGIN PUBLIC KEY-----"):
            return self._problem("full-config without the registration public key")
        if self.configuration_status >= 300:
            return web.Response(status=self.configuration_status, text="try later")
        with self._lock:
            self.configurations.append(body)
        return web.Response(status=204)

    async def _history(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if list(body) != ["historyQueries"] or not isinstance(body["historyQueries"], list):
            return self._problem(f"history-queries keys {list(body)}")
        self.history_messages.append(body)
        return web.Response(status=204)

    async def _logs(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if not isinstance(body, list):
            return self._problem("logs body must be an array")
        for entry in body:
            expected = [key for key in LOG_KEYS if key != "level" or "level" in entry]
            if list(entry) != expected:
                return self._problem(f"log keys {list(entry)} != {expected}")
            if entry.get("level", "INFO") not in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR"):
                return self._problem(f"log level {entry['level']!r}")
            if entry["scopeType"] not in ("SOUTH", "NORTH", "HISTORY_QUERY", "INTERNAL"):
                return self._problem(f"log scopeType {entry['scopeType']!r}")
        with self._lock:
            self.logs.extend(body)
        return web.Response(status=204)

    # --- Data (North and South ``oianalytics``) -----------------------------------------------------------

    async def _time_values(self, request: web.Request) -> web.Response:
        source = request.query.get("dataSourceId")
        if not source:
            return self._problem("time-values without dataSourceId")
        if request.content_type != "application/json":
            return self._problem(f"time-values Content-Type {request.content_type!r}")
        raw = await request.read()
        compressed = request.path.endswith("/compressed")
        if compressed:
            raw = gzip.decompress(raw)
        import json

        values = json.loads(raw)
        for value in values:
            if list(value) != ["pointId", "timestamp", "data"] or "value" not in value["data"]:
                return self._problem(f"time-value shape {value}")
        self.values.append((source, values, compressed))
        return web.Response(status=204)

    async def _file(self, request: web.Request) -> web.Response:
        source = request.query.get("dataSourceId")
        if not source:
            return self._problem("file upload without dataSourceId")
        reader = await request.multipart()
        part = await reader.next()
        if part is None or getattr(part, "name", None) != "file":
            return self._problem("file upload without a 'file' part")
        data = await part.read()  # type: ignore[union-attr]
        self.files.append((source, part.filename or "", bytes(data)))  # type: ignore[union-attr]
        return web.Response(status=204)

    async def _data_values(self, request: web.Request) -> web.Response:
        self.queries.append({key: request.query.getall(key) for key in request.query})
        return web.json_response(self.series)
