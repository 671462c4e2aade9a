"""Property-based fuzzing of the API's write routes over a real socket (hypothesis).

Each example takes a valid body (built fresh, or read back from the API as a client would), mutates it
(wrong types, missing and extra fields, huge and negative numbers, bad crons, unknown types, nested garbage,
unreadable JSON) and sends it. Whatever the body:

- the API never answers 5xx;
- a 400 is JSON whose ``errors`` (or ``message``) names a field the mutation touched;
- a refused request leaves ``oibus.db`` exactly as it was;
- an accepted request answers what the OpenAPI document says (decoded with the same model).

``OIBUS_FUZZ_EXAMPLES`` raises the number of examples per route family (default 60).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request
from config_fakes import AUTH, RecordingRuntime, open_store, scan_mode_id
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from engine.api import EngineInfo, create_app
from engine.api.content import routes as content_routes
from engine.api.openapi_operations import OPERATIONS, ItemSettings, PerType
from engine.config import ConfigStore
from engine.scheduler.timing import Timing
from engine.scheduler.verify import verify_timing

T = TypeVar("T")
Json = Any
Path_ = tuple[str | int, ...]

MAX_EXAMPLES = int(os.environ.get("OIBUS_FUZZ_EXAMPLES", "60"))

# --- What a mutation puts in a body -------------------------------------------------------------------------

TRICKY_STRINGS = (
    "",
    " ",
    "\x00",
    "a" * 5000,
    "☃ 🙂 \u202e",
    "' OR 1=1 --",
    "%_\\",
    "../../etc/passwd",
    "null",
    "* * * * * *",
    "*/0 * * * * *",
    "61 * * * * *",
    "0 0 0 31 2 *",
    "0 0 0 30 2 *",
    "L W # ? H",
    "* * * * *",
    "@daily",
    "*/99999999999999999999 * * * * *",
    "1-0 * * * * *",
    "subscription",
    "iso",
    "unknown-type",
    "test-south",
    "test-north",
    "*",
    "::1",
    "2026-01-01T00:00:00Z",
    "2026-13-45T99:99:99",
)
TRICKY_NUMBERS: tuple[int | float, ...] = (
    0,
    -1,
    1,
    65536,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    -(10**30),
    1.5,
    -0.0,
    1e300,
)
RAW_BODIES = (
    b"",
    b"   ",
    b"{",
    b'{"name": ',
    b"nul",
    b"\xff\xfe\x00",
    b"\xef\xbb\xbf{}",
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"1e400",
    b'"\\ud800"',
    b"NaN",
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(TRICKY_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(TRICKY_STRINGS),
)
GARBAGE = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
EXTRA_KEYS = st.sampled_from(
    ("id", "type", "overlap", "scanMode", "group", "user", "password", "settings", "items", "__proto__")
) | st.text(max_size=8)


def render(path: Path_) -> str:
    """``("items", 3, "name")`` as the API names it: ``items[3].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.removeprefix(".")


def nodes(value: Json, path: Path_ = ()) -> Iterator[tuple[Path_, Json]]:
    """Every node of a JSON value with its path, the root first."""
    yield path, value
    if isinstance(value, dict):
        for key, nested in value.items():
            yield from nodes(nested, (*path, key))
    elif isinstance(value, list):
        for index, nested in enumerate(value):
            yield from nodes(nested, (*path, index))


def put(root: Json, path: Path_, value: Json) -> Json:
    """Set the node at ``path`` (the root itself when empty); return the root."""
    if not path:
        return value
    parent = root
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return root


@dataclass(frozen=True)
class Change:
    """The random material of one mutation, drawn before the base body is known.

    Base bodies are read from the API, so their shape depends on what earlier examples changed. Every draw
    is therefore made the same way whatever the body (hypothesis insists on that), then applied to it:
    ``node`` picks the node, ``kind`` what to do to it, ``pick`` an element to duplicate.
    """

    node: int
    kind: int
    pick: int
    garbage: Json
    key: str
    text: str
    number: int | float


_INDEX = st.integers(0, 2**16)
CHANGES = st.builds(
    Change,
    node=_INDEX,
    kind=_INDEX,
    pick=_INDEX,
    garbage=GARBAGE,
    key=EXTRA_KEYS,
    text=st.sampled_from(TRICKY_STRINGS) | st.text(max_size=30),
    number=st.sampled_from(TRICKY_NUMBERS),
)
# Mostly up to two changes of a valid body (none: the valid body itself); sometimes a body that is not JSON.
PLANS: st.SearchStrategy[list[Change] | bytes] = st.lists(CHANGES, max_size=2) | st.sampled_from(RAW_BODIES)


def change(root: Json, how: Change) -> tuple[Json, str]:
    """Apply one change to ``root`` (modified in place); return the new root and the path it touched."""
    candidates = list(nodes(root))
    where, node = candidates[how.node % len(candidates)]
    kinds = ["replace"]
    if where and isinstance(where[-1], str):
        kinds.append("delete")
    if isinstance(node, dict):
        kinds += ["extra", "emptied"]
    if isinstance(node, list):
        kinds += ["emptied", "append"] + (["duplicate"] if node else [])
    if isinstance(node, str):
        kinds.append("string")
    if isinstance(node, int | float) and not isinstance(node, bool):
        kinds.append("number")
    kind = kinds[how.kind % len(kinds)]
    if kind == "delete":
        parent = root
        for part in where[:-1]:
            parent = parent[part]
        del parent[where[-1]]
        return root, render(where)
    if kind == "extra":
        node[how.key] = copy.deepcopy(how.garbage)
        return root, render((*where, how.key))
    if kind == "emptied":
        return put(root, where, type(node)()), render(where)
    if kind in ("append", "duplicate"):
        node.append(copy.deepcopy(how.garbage if kind == "append" else node[how.pick % len(node)]))
        return root, render((*where, len(node) - 1))
    if kind == "string":
        return put(root, where, how.text), render(where)
    if kind == "number":
        return put(root, where, how.number), render(where)
    return put(root, where, copy.deepcopy(how.garbage)), render(where)


@dataclass(frozen=True)
class Body:
    """What an example sends, and the paths its changes touched (none: the base body; ``None``: not JSON)."""

    raw: bytes
    touched: list[str] | None

    def __repr__(self) -> str:
        shown = self.raw if len(self.raw) <= 400 else self.raw[:200] + b"..." + self.raw[-100:]
        return f"Body({shown!r}, touched={self.touched})"


def mutated(base: Json, plan: list[Change] | bytes) -> Body:
    """``base`` with the changes of ``plan`` applied, or the raw bytes of ``plan``."""
    if isinstance(plan, bytes):
        return Body(plan, None)
    value, touched = copy.deepcopy(base), []
    for how in plan:
        value, where = change(value, how)
        touched.append(where)
    return Body(json.dumps(value).encode(), touched)


# --- Judging answers ---------------------------------------------------------------------------------------

# Fields that stand for each other: ``scanMode: {id}`` is read as ``scanModeId``, a scan mode is given by id or
# by name, an item without a group needs a scan mode, 3.8's ``overlap`` is 3.9's ``startTimeOffset``.
ALIASES = (
    {"scanMode", "scanModeId", "scanModeName"},
    {"group", "groupId", "groupName", "scanModeId"},
    {"transformer", "transformerId"},
    {"south", "southId"},
    {"overlap", "startTimeOffset"},
)
# A change to what others refer to is reported where they refer to it (removing a group: at the items naming it).
REFERRED = {"groups": {"groupId", "groupName"}}


def related(error: str, touched: str) -> bool:
    """Whether an error at path ``error`` names what a mutation at ``touched`` changed."""
    if touched == "" or error == touched:
        return True
    if error.startswith((touched + ".", touched + "[")) or touched.startswith((error + ".", error + "[")):
        return True
    error_parent, _, error_name = error.rpartition(".")
    # ``scanMode.id`` changed is reported at ``scanModeId``: an alias of the touched field or of its parents.
    parts = touched.split(".")
    for end in range(len(parts), 0, -1):
        parent, name = ".".join(parts[: end - 1]), parts[end - 1]
        if error_parent == parent and any({error_name, name} <= names for names in ALIASES):
            return True
    return error_name in REFERRED.get(parts[0].split("[")[0], set())


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of ``oibus.db`` (read through a connection of its own)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in tables}


# --- The application under test ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A route to fuzz: its method, its path and how to build a valid body for it now."""

    method: str
    route: str
    base: Callable[[Harness], Awaitable[tuple[str, Json]]]


class Harness:
    """A store, the API on a loopback socket, and an event loop the synchronous hypothesis test drives."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.store: ConfigStore = open_store(data_dir)
        self.db = data_dir / "oibus.db"
        self.app = create_app(
            self.store, RecordingRuntime(), EngineInfo(data_directory=data_dir), extra_routes=[content_routes]
        )
        self._client: TestClient[Request, Application] | None = None
        self.names = itertools.count()
        self.ids: dict[str, str] = {}

    @property
    def client(self) -> TestClient[Request, Application]:
        assert self._client is not None, "seed() starts the server"
        return self._client

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.names)}"

    def unique_address(self) -> str:
        number = next(self.names)
        return f"10.{number // 250 % 250}.{number % 250}.*"

    async def get(self, path: str) -> Json:
        response = await self.client.get(path, headers=AUTH)
        assert response.status == 200, f"GET {path}: {response.status} {await response.text()}"
        return await response.json()

    async def send(self, method: str, path: str, raw: bytes) -> tuple[int, str, str]:
        headers = {**AUTH, "Content-Type": "application/json"}
        response = await self.client.request(method, path, data=raw, headers=headers)
        return response.status, response.content_type, await response.text()

    async def create(self, path: str, body: Json) -> Json:
        response = await self.client.post(path, json=body, headers=AUTH)
        assert response.status == 201, f"POST {path}: {response.status} {await response.text()}"
        return await response.json()

    async def seed(self) -> None:
        """A South with a group and items, a North routing from it, a second user, an IP filter, a scan mode."""
        # Built inside the loop: aiohttp's client wants a running one.
        self._client = TestClient(TestServer(self.app))
        await self._client.start_server()
        south = await self.create("/api/south", self.south_body())
        self.ids["south"] = south["id"]
        self.ids["group"] = south["groups"][0]["id"]
        north = await self.create("/api/north", self.north_body())
        self.ids["north"] = north["id"]
        user = await self.create("/api/users", {"login": "fuzzer", "password": "fuzz-pass"})
        self.ids["user"] = user["id"]
        self.ids["ip"] = (await self.create("/api/ip-filters", {"address": "10.1.*.*"}))["id"]
        self.ids["mode"] = (await self.create("/api/scan-modes", {"name": "Fuzz", "cron": "*/5 * * * * *"}))["id"]

    def south_body(self) -> Json:
        mode = scan_mode_id(self.store)
        group = self.unique("group")
        return {
            "name": self.unique("south"),
            "type": "test-south",
            "enabled": False,
            "settings": {"host": "plc", "password": "pw", "auth": {"username": "u", "token": "t"}, "endpoints": []},
            "groups": [{"standardSettings": {"name": group, "scanModeId": mode}, "historySettings": {}}],
            "items": [
                {"name": "a", "settings": {"address": "%MW1", "key": "k"}, "scanModeId": mode},
                {"name": "b", "settings": {"address": "%MW2"}, "groupName": group, "syncWithGroup": True},
            ],
        }

    def north_body(self) -> Json:
        source: Json = {"type": "south", "southId": self.ids["south"], "items": []}
        return {
            "name": self.unique("north"),
            "type": "test-north",
            "enabled": False,
            "settings": {"outputFolder": "out", "token": "tok"},
            "caching": {"trigger": {"scanModeId": scan_mode_id(self.store, "Every minute")}},
            "transformers": [{"source": source, "transformerId": "iso"}],
        }

    async def item_id(self) -> str:
        items = await self.get(f"/api/south/{self.ids['south']}/items/list")
        if not items:
            created = await self.create(
                f"/api/south/{self.ids['south']}/items",
                {"name": self.unique("item"), "settings": {"address": "x"}, "scanModeId": scan_mode_id(self.store)},
            )
            return str(created["id"])
        return str(items[0]["id"])


@contextmanager
def harness(data_dir: Path) -> Iterator[Harness]:
    h = Harness(data_dir)
    try:
        h.run(h.seed())
        yield h
    finally:
        if h._client is not None:
            h.run(h._client.close())
        h.run(h.loop.shutdown_default_executor())
        h.loop.close()
        h.store.close()


# --- Route families -----------------------------------------------------------------------------------------


def fixed(path: str, body: Callable[[Harness], Json]) -> Callable[[Harness], Awaitable[tuple[str, Json]]]:
    """A base body built from scratch; ``{name}`` in ``path`` comes from ``Harness.ids``."""

    async def base(h: Harness) -> tuple[str, Json]:
        return path.format(**h.ids), body(h)

    return base


def read_back(
    path: str, read: str | None = None, section: str | None = None
) -> Callable[[Harness], Awaitable[tuple[str, Json]]]:
    """A base body read back from ``read`` (``path`` by default), as a client edits what it read."""

    async def base(h: Harness) -> tuple[str, Json]:
        ids = {**h.ids, "item": await h.item_id()} if "{item}" in path else h.ids
        found = await h.get((read or path).format(**ids))
        return path.format(**ids), found[section] if section else found

    return base


def ids_body(action: str) -> Callable[[Harness], Awaitable[tuple[str, Json]]]:
    async def base(h: Harness) -> tuple[str, Json]:
        return f"/api/south/{h.ids['south']}/items/{action}", [await h.item_id()]

    return base


FAMILIES: dict[str, list[Target]] = {
    "scan-modes": [
        Target(
            "POST",
            "/api/scan-modes",
            fixed("/api/scan-modes", lambda h: {"name": h.unique("mode"), "description": "d", "cron": "0 */5 * * * *"}),
        ),
        Target("PUT", "/api/scan-modes/{id}", read_back("/api/scan-modes/{mode}")),
        Target("POST", "/api/scan-modes/verify", fixed("/api/scan-modes/verify", lambda h: {"cron": "*/10 * * * * *"})),
    ],
    "south": [
        Target("POST", "/api/south", fixed("/api/south", Harness.south_body)),
        Target("PUT", "/api/south/{id}", read_back("/api/south/{south}")),
    ],
    "items": [
        Target(
            "POST",
            "/api/south/{id}/items",
            fixed(
                "/api/south/{south}/items",
                lambda h: {
                    "name": h.unique("item"),
                    "settings": {"address": "%MW9"},
                    "scanModeId": scan_mode_id(h.store),
                },
            ),
        ),
        Target("PUT", "/api/south/{id}/items/{itemId}", read_back("/api/south/{south}/items/{item}")),
        Target("POST", "/api/south/{id}/items/enable", ids_body("enable")),
        Target("POST", "/api/south/{id}/items/disable", ids_body("disable")),
    ],
    "groups": [
        Target(
            "POST",
            "/api/south/{id}/groups",
            fixed(
                "/api/south/{south}/groups",
                lambda h: {"standardSettings": {"name": h.unique("group"), "scanModeName": "Every minute"}},
            ),
        ),
        Target("PUT", "/api/south/{id}/groups/{groupId}", read_back("/api/south/{south}/groups/{group}")),
    ],
    "north": [
        Target("POST", "/api/north", fixed("/api/north", Harness.north_body)),
        Target("PUT", "/api/north/{id}", read_back("/api/north/{north}")),
        Target(
            "POST",
            "/api/north/{id}/transformers",
            fixed(
                "/api/north/{north}/transformers",
                lambda h: {
                    "source": {"type": "south", "southId": h.ids["south"], "groupId": h.ids["group"]},
                    "transformerId": "ignore",
                },
            ),
        ),
    ],
    "users": [
        Target(
            "POST",
            "/api/users",
            fixed(
                "/api/users",
                lambda h: {"login": h.unique("user"), "password": "secret", "email": "a@b.c", "language": "fr"},
            ),
        ),
        Target("PUT", "/api/users/{id}", read_back("/api/users/{user}")),
        Target(
            "POST",
            "/api/users/{id}/password",
            fixed("/api/users/{user}/password", lambda h: {"newPassword": "fuzz-pass"}),
        ),
    ],
    "ip-filters": [
        Target(
            "POST",
            "/api/ip-filters",
            fixed("/api/ip-filters", lambda h: {"address": h.unique_address(), "description": "lan"}),
        ),
        Target("PUT", "/api/ip-filters/{id}", read_back("/api/ip-filters/{ip}")),
    ],
    "engine": [
        Target("PUT", "/api/engine", read_back("/api/engine")),
        Target("PUT", "/api/engine/name", read_back("/api/engine/name", "/api/engine", "general")),
        Target("PUT", "/api/engine/proxy", read_back("/api/engine/proxy", "/api/engine", "proxyServer")),
        Target("PUT", "/api/engine/logger", read_back("/api/engine/logger", "/api/engine", "logger")),
        Target("PUT", "/api/engine/web-server", read_back("/api/engine/web-server", "/api/engine", "webServer")),
    ],
    "content": [
        Target(
            "POST",
            "/api/content/content",
            fixed(
                "/api/content/content?dataSourceId=fuzz",
                lambda h: {
                    "type": "time-values",
                    "content": [{"pointId": "p", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 1.5}}],
                },
            ),
        ),
    ],
}


def answer_model(method: str, route: str) -> Any:
    """The model the OpenAPI document gives the success answer of a route (``None`` when it has none)."""
    answer = OPERATIONS[(method, route)].answer
    if isinstance(answer, PerType | ItemSettings):
        return answer.model
    return None if answer is None or isinstance(answer, dict) else answer


def check(h: Harness, target: Target, body: Body, answer: tuple[int, str, str], before: Any) -> None:
    """The properties every answer must have (see the module docstring)."""
    status, content_type, text = answer
    touched = body.touched
    note(f"{target.method} {target.route} touched={touched} -> {status} {text[:500]}")
    assert status < 500, f"{target.method} {target.route} answered {status}: {text[:500]}"
    if status < 300:
        model = answer_model(target.method, target.route)
        if model is not None:
            msgspec.json.decode(text, type=model)
        return
    assert snapshot(h.db) == before, "a refused request changed the store"
    assert content_type == "application/json", text
    answered = json.loads(text)
    assert isinstance(answered.get("message"), str), text
    if status != 400:
        # 404: content nobody receives (the recording runtime has no North running); nothing else may 404 here.
        assert (status, target.route) == (404, "/api/content/content"), text
        return
    assert touched != [], f"the unmutated body was refused: {text}"
    if touched is None:
        assert answered["message"].startswith("Invalid JSON payload") or "body" in answered.get("errors", {}), text
        return
    errors = answered.get("errors")
    assert isinstance(errors, dict) and errors, f"a 400 names no field: {text}"
    for path in errors:
        assert any(related(path, where) for where in touched), f"{path!r} is not among the touched {touched}: {text}"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_write_routes_survive_fuzzing(family: str, tmp_path: Path) -> None:
    targets = FAMILIES[family]
    with harness(tmp_path / "data") as h:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(data=st.data())
        def fuzz(data: st.DataObject) -> None:
            target = data.draw(st.sampled_from(targets), label="target")
            path, base = h.run(target.base(h))
            body = mutated(base, data.draw(PLANS, label="plan"))
            note(repr(body))
            before = snapshot(h.db)
            check(h, target, body, h.run(h.send(target.method, path, body.raw)), before)

        fuzz()


def test_every_fuzzed_route_is_in_the_openapi_operations() -> None:
    for targets in FAMILIES.values():
        for target in targets:
            assert (target.method, target.route) in OPERATIONS


# --- Bodies the OpenAPI document allows ---------------------------------------------------------------------

# What msgspec says when a value does not fit the model; the store's own refusals (an unknown scan mode, a
# name already used, a cron that never fires) read differently.
STRUCTURAL = ("Expected `", "Object missing required field", "Object contains unknown field", "Invalid enum value")


class FromSchema:
    """Hypothesis strategies for the JSON Schema the document uses: msgspec's output, ``allOf``, ``oneOf``."""

    def __init__(self, document: Json) -> None:
        self.components: dict[str, Json] = document["components"]["schemas"]

    def resolve(self, schema: Json) -> Json:
        while "$ref" in schema:
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            schema = {**self.components[schema["$ref"].rsplit("/", 1)[-1]], **rest}
        return schema

    def merged(self, parts: list[Json]) -> Json:
        """One object schema of an ``allOf``: a later part narrows a property (a type's settings), so it wins."""
        merged: Json = {"type": "object", "properties": {}, "required": []}
        for part in map(self.resolve, parts):
            if "allOf" in part:
                part = self.merged(part["allOf"])
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        return merged

    def of(self, schema: Json) -> st.SearchStrategy[Json]:
        schema = self.resolve(schema)
        if "allOf" in schema:
            return self.of(self.merged(schema["allOf"]))
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return st.one_of([self.of(option) for option in schema[key]])
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self.of({**schema, "type": one}) for one in kind])
        if kind == "object":
            properties = {name: self.of(value) for name, value in schema.get("properties", {}).items()}
            required = set(schema.get("required", ()))
            return st.fixed_dictionaries(
                {name: value for name, value in properties.items() if name in required},
                optional={name: value for name, value in properties.items() if name not in required},
            )
        if kind == "array":
            items = self.of(schema["items"]) if "items" in schema else GARBAGE
            return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
        if kind == "string":
            return self.string(schema)
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "number":
            return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        return GARBAGE

    @staticmethod
    def string(schema: Json) -> st.SearchStrategy[str]:
        low, high = schema.get("minLength", 0), schema.get("maxLength", 30)
        if schema.get("format") == "date-time":
            zones = st.sampled_from((UTC, timezone(timedelta(hours=-5, minutes=-30))))
            return st.datetimes(timezones=zones).map(datetime.isoformat)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda text: low <= len(text) <= high)
        return st.text(min_size=low, max_size=min(high, low + 30))


def request_schema(document: Json, target: Target) -> Json:
    return document["paths"][target.route][target.method.lower()]["requestBody"]["content"]["application/json"][
        "schema"
    ]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bodies_the_document_allows_are_refused_for_their_meaning_only(family: str, tmp_path: Path) -> None:
    """A body valid against ``/api/openapi.json`` may be refused for what it says, never for its shape."""
    targets = FAMILIES[family]
    with harness(tmp_path / "data") as h:
        document = h.run(h.get("/api/openapi.json"))
        schemas = FromSchema(document)
        bodies = {target: schemas.of(request_schema(document, target)) for target in targets}

        @settings(
            max_examples=max(MAX_EXAMPLES // 2, 10),
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )
        @given(data=st.data())
        def fuzz(data: st.DataObject) -> None:
            target = data.draw(st.sampled_from(targets), label="target")
            path, _ = h.run(target.base(h))
            value = data.draw(bodies[target], label="body")
            body = Body(json.dumps(value).encode(), [""])
            before = snapshot(h.db)
            answer = h.run(h.send(target.method, path, body.raw))
            check(h, target, body, answer, before)
            if answer[0] == 400:
                errors = json.loads(answer[2]).get("errors", {})
                shape = {path: problem for path, problem in errors.items() if problem.startswith(STRUCTURAL)}
                assert not shape, f"refused for a shape the document allows: {shape}"

        fuzz()


# --- What the fuzzing found, kept as plain examples -------------------------------------------------------

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    ("method", "path", "raw", "named"),
    [
        # JSON nested deeper than msgspec decodes raised RecursionError: a 500.
        ("POST", "/api/scan-modes", DEEP, "Invalid JSON payload"),
        ("POST", "/api/content/content?dataSourceId=d", b'{"a":' * 3000 + b"1" + b"}" * 3000, "Invalid JSON payload"),
        (
            "POST",
            "/api/content/content?dataSourceId=d",
            b'{"type": "time-values", "content": ' + DEEP + b"}",
            "Invalid JSON payload",
        ),
        # A cron naming no real date (February 30th) passed validation, then failed to compute its runs: a 500.
        ("POST", "/api/scan-modes", b'{"name": "never", "cron": "0 0 0 30 2 *"}', "cron"),
        # Integers past 64 bits reached SQLite: OverflowError, a 500.
        (
            "POST",
            "/api/south/{south}/groups",
            b'{"standardSettings": {"name": "g", "scanModeName": "Every minute"}, '
            b'"historySettings": {"startTimeOffset": 9223372036854775808}}',
            "historySettings.startTimeOffset",
        ),
        (
            "PUT",
            "/api/south/{south}/items/{item}",
            b'{"name": "i", "settings": {"address": "a"}, '
            b'"scanModeName": "Every minute", "readDelay": 18446744073709551616}',
            "readDelay",
        ),
        # A section route named the field in the whole settings (``general.name``), not in the body sent.
        ("PUT", "/api/engine/name", b'{"name": ""}', "name"),
        ("PUT", "/api/engine/name", b"[]", "body"),
        # Python's ``$`` matched before a final newline: a login, an address and an email the UI refuses.
        ("POST", "/api/users", b'{"login": "newline\\n", "password": "p"}', "login"),
        ("POST", "/api/users", b'{"login": "newline", "password": "p", "email": "a@b.c\\n"}', "email"),
        ("POST", "/api/ip-filters", b'{"address": "10.0.0.1\\n"}', "address"),
        # Upstream's ``{user, password}``: its problems were named ``login``, not where the client put it.
        ("POST", "/api/users", b'{"login": "flat", "password": "p", "user": {}}', "user.login"),
        ("POST", "/api/users", b'{"user": {"login": "a:b"}, "password": "p"}', "user.login"),
        ("POST", "/api/users", b'{"user": {"login": "nested"}, "password": ""}', "password"),
    ],
)
def test_found_by_fuzzing(method: str, path: str, raw: bytes, named: str, tmp_path: Path) -> None:
    with harness(tmp_path / "data") as h:
        before = snapshot(h.db)
        target = path.format(**h.ids, item=h.run(h.item_id()))
        status, _, text = h.run(h.send(method, target, raw))
        assert status == 400, text
        answered = json.loads(text)
        assert named in answered.get("errors", {}) or answered["message"].startswith(named), text
        assert snapshot(h.db) == before
    # And the cron check the UI calls says why instead of failing.
    check = verify_timing(Timing(cron="0 0 0 30 2 *"))
    assert not check.is_valid and "never fires" in check.error_message
