"""South items as CSV (to-csv, export, import check, import) and the bulk item routes, over a real socket."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from typing import Any

import aiohttp
from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    client_fixture,
    create_connector,
    runtime_fixture,
    scan_mode_id,
    south_body,
    store_fixture,
)

from engine.config import ConfigStore
from engine.config.items_csv import COLUMNS

SECRET = "item-key-k3y-never-shown"


def form(**fields: str | bytes) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        if isinstance(value, bytes):
            data.add_field(name, value, filename=f"{name}.dat", content_type="application/octet-stream")
        else:
            data.add_field(name, value)
    return data


async def csv_of(response: aiohttp.ClientResponse) -> str:
    assert response.status == 200, await response.text()
    assert response.content_type == "text/csv"
    assert 'filename="items.csv"' in response.headers["Content-Disposition"]
    return await response.text()


def rows(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


async def source_south(client: Client, store: ConfigStore) -> dict[str, Any]:
    """A South with a group, a disabled item, history fields, a secret and a non-default setting."""
    every_second, every_minute = scan_mode_id(store), scan_mode_id(store, "Every minute")
    body = south_body(store, name="source", items=0)
    body["groups"] = [{"standardSettings": {"name": "line 1", "scanModeId": every_minute}}]
    body["items"] = [
        {"name": "a", "enabled": True, "settings": {"address": "%MW1"}, "scanModeId": every_second},
        {
            "name": "b, with comma",
            "enabled": False,
            "settings": {"address": 'quote " and\nnewline', "scale": 2.5, "key": SECRET},
            "scanModeId": every_second,
            "maxReadInterval": 60,
            "readDelay": 10,
            "startTimeOffset": -5,
            "endTimeOffset": 5,
            "recoveryStrategy": "newest",
        },
        {"name": "c", "settings": {"address": "%MW3"}, "groupName": "line 1", "syncWithGroup": True},
    ]
    return await create_connector(client, "south", body)


def comparable(item: dict[str, Any]) -> dict[str, Any]:
    """What an item is, leaving out ids and audit fields."""
    return {
        "name": item["name"],
        "enabled": item["enabled"],
        "settings": item["settings"],
        "scanMode": item["scanMode"]["id"],
        "group": item["group"]["name"] if item["group"] else None,
        **{
            key: item[key]
            for key in (
                "syncWithGroup",
                "maxReadInterval",
                "readDelay",
                "startTimeOffset",
                "endTimeOffset",
                "recoveryStrategy",
            )
        },
    }


async def items_of(client: Client, south_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/south/{south_id}/items/list", headers=AUTH)
    assert response.status == 200
    found: list[dict[str, Any]] = await response.json()
    return found


async def test_export_then_import_gives_the_same_items(client: Client, store: ConfigStore) -> None:
    source = await source_south(client, store)
    text = await csv_of(await client.get(f"/api/south/{source['id']}/items/export", headers=AUTH))
    exported = rows(text)
    # Upstream's columns (reference §2.7), then one per item setting of the type.
    assert tuple(exported[0])[: len(COLUMNS)] == COLUMNS
    assert COLUMNS[:4] == ("name", "enabled", "scanMode", "group") and COLUMNS[-1] == "syncWithGroup"
    assert {"settings_address", "settings_scale", "settings_key"} <= set(exported[0])
    by_name = {row["name"]: row for row in exported}
    assert by_name["b, with comma"]["settings_address"] == 'quote " and\nnewline'
    assert by_name["b, with comma"]["enabled"] == "false" and by_name["c"]["group"] == "line 1"
    assert SECRET not in text and by_name["b, with comma"]["settings_key"] == ""
    # Upstream's POST form with another delimiter gives the same table.
    response = await client.post(f"/api/south/{source['id']}/items/export", json={"delimiter": ";"}, headers=AUTH)
    assert rows(await csv_of(response), ";") == exported

    target = await create_connector(client, "south", south_body(store, name="target", items=0))
    check = await client.post(
        f"/api/south/{target['id']}/items/import/check", data=form(itemsToImport=text.encode()), headers=AUTH
    )
    assert check.status == 200, await check.text()
    checked = await check.json()
    assert checked["errors"] == [] and [item["name"] for item in checked["items"]] == sorted(by_name)
    # Nothing is stored by a check.
    assert await items_of(client, target["id"]) == []

    response = await client.post(
        f"/api/south/{target['id']}/items/import", data=form(itemsToImport=text.encode()), headers=AUTH
    )
    assert response.status == 204, await response.text()
    imported = await items_of(client, target["id"])
    assert [comparable(item) for item in imported] == [comparable(item) for item in source["items"]]
    groups = await (await client.get(f"/api/south/{target['id']}/groups", headers=AUTH)).json()
    assert [(g["standardSettings"]["name"], g["standardSettings"]["scanMode"]["name"]) for g in groups] == [
        ("line 1", "Every minute")
    ]


async def test_checked_items_import_as_upstream_does(client: Client, store: ConfigStore) -> None:
    """Upstream's UI checks the CSV by South type, then posts the checked items as the JSON file ``items``."""
    target = await create_connector(client, "south", south_body(store, name="target", items=1))
    text = (
        "name,scanMode,group,settings_address,settings_scale\nx,Every second,,%MW1,3\ny,Every minute,new group,%MW2,\n"
    )
    # The create form holds an item named x: the CSV's x updates it, y is new.
    current = json.dumps([{"id": "form-1", "name": "x"}]).encode()
    check = await client.post(
        "/api/south/test-south/items/import/check",
        data=form(itemsToImport=text.encode(), currentItems=current, delimiter=","),
        headers=AUTH,
    )
    answer = await check.json()
    assert answer["errors"] == []
    assert [(item["name"], item["action"], item["id"]) for item in answer["items"]] == [
        ("x", "update", "form-1"),
        ("y", "new", ""),
    ]
    item = answer["items"][1]
    assert item["group"] == {"id": "", "name": "new group"}
    assert item["settings"] == {"address": "%MW2", "scale": 1.0, "key": ""}
    response = await client.post(
        f"/api/south/{target['id']}/items/import", data=form(items=json.dumps(answer["items"]).encode()), headers=AUTH
    )
    assert response.status == 204, await response.text()
    names = {i["name"]: i for i in await items_of(client, target["id"])}
    assert set(names) == {"item-0", "x", "y"} and names["y"]["group"]["name"] == "new group"
    # Importing the same items again updates them by name: same ids, nothing added.
    again = await client.post(
        f"/api/south/{target['id']}/items/import", data=form(items=json.dumps(answer["items"]).encode()), headers=AUTH
    )
    assert again.status == 204, await again.text()
    assert {i["name"]: i["id"] for i in await items_of(client, target["id"])} == {
        name: found["id"] for name, found in names.items()
    }
    # A name given twice, or an id's item renamed onto another item's name, stores nothing.
    twice = [answer["items"][1], {**answer["items"][1], "enabled": False}]
    refused = await client.post(
        f"/api/south/{target['id']}/items/import", data=form(items=json.dumps(twice).encode()), headers=AUTH
    )
    assert refused.status == 400
    assert (await refused.json())["errors"] == {"items[1].name": "item name 'y' already used by items[0]"}
    renamed = [{**answer["items"][1], "id": names["x"]["id"], "name": "item-0"}]
    refused = await client.post(
        f"/api/south/{target['id']}/items/import", data=form(items=json.dumps(renamed).encode()), headers=AUTH
    )
    assert (await refused.json())["errors"] == {"items[0].name": "item name 'item-0' already used by another item"}
    assert {i["name"] for i in await items_of(client, target["id"])} == {"item-0", "x", "y"}


async def test_a_csv_updates_the_items_it_names_and_adds_the_others(client: Client, store: ConfigStore) -> None:
    """A row naming a stored item updates it in place (same id, its stored secret kept when the cell is empty)."""
    south = await create_connector(client, "south", south_body(store, name="plant", items=0))
    first = "name,scanMode,settings_address,settings_key\nkept,Every second,%MW1,\nsecret,Every second,%MW2,k3y\n"
    response = await client.post(
        f"/api/south/{south['id']}/items/import", data=form(itemsToImport=first.encode()), headers=AUTH
    )
    assert response.status == 204, await response.text()
    before = {item["name"]: item for item in await items_of(client, south["id"])}
    text = (
        "name,enabled,scanMode,settings_address,settings_key\n"
        "secret,false,Every minute,%MW20,\n"  # line 2: updates, keeps its key
        "fresh,true,Every second,%MW3,\n"  # line 3: new
    )
    check = await client.post(
        f"/api/south/{south['id']}/items/import/check", data=form(itemsToImport=text.encode()), headers=AUTH
    )
    answer = await check.json()
    assert answer["errors"] == []
    assert [(item["line"], item["name"], item["action"], item["id"]) for item in answer["items"]] == [
        (2, "secret", "update", before["secret"]["id"]),
        (3, "fresh", "new", ""),
    ]
    assert "k3y" not in await check.text()
    assert {item["name"] for item in await items_of(client, south["id"])} == {"kept", "secret"}  # nothing stored

    response = await client.post(
        f"/api/south/{south['id']}/items/import", data=form(itemsToImport=text.encode()), headers=AUTH
    )
    assert response.status == 204, await response.text()
    after = {item["name"]: item for item in await items_of(client, south["id"])}
    assert set(after) == {"kept", "secret", "fresh"}
    assert after["secret"]["id"] == before["secret"]["id"] and after["kept"] == before["kept"]
    assert (after["secret"]["enabled"], after["secret"]["scanMode"]["name"]) == (False, "Every minute")
    assert after["secret"]["settings"]["address"] == "%MW20"
    # The stored secret is the one imported first (the empty cell kept it), sealed at rest.
    revealed = {item.name: item.settings for item in store.souths.get_south(south["id"]).items}
    assert revealed["secret"]["key"] == "k3y"
    with sqlite3.connect(store.data_dir / "oibus.db") as db:
        (sealed,) = db.execute("SELECT settings FROM south_items WHERE id = ?", (after["secret"]["id"],)).fetchone()
    assert "k3y" not in sealed


def snapshot(store: ConfigStore) -> list[Any]:
    with sqlite3.connect(store.data_dir / "oibus.db") as db:
        return [
            db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            for table in ("south_items", "south_item_groups")
        ]


BAD_CSV = (
    "name,enabled,scanMode,group,settings_address,settings_scale,settings_key\n"
    "good,true,Every second,,%MW1,1.5,k1\n"  # line 2
    "bad scale,true,Every second,,%MW2,abc,\n"  # line 3
    'multi,true,Every second,,"two\nlines",1,\n'  # lines 4-5
    "bad flag,maybe,nope,,%MW3,,\n"  # line 6
    "no address,true,Every second,,,,secret-in-a-bad-row\n"  # line 7
    "good,true,Every second,,%MW8,,\n"  # line 8: the name is already on line 2
    "item-0,true,Every second,,%MW9,,\n"  # line 9: updates the stored item-0
)


async def test_bad_rows_name_line_and_field_and_change_nothing(client: Client, store: ConfigStore) -> None:
    south = await create_connector(client, "south", south_body(store, items=1))
    check = await client.post(
        f"/api/south/{south['id']}/items/import/check", data=form(itemsToImport=BAD_CSV.encode()), headers=AUTH
    )
    answer = await check.json()
    assert [(item["name"], item["action"]) for item in answer["items"]] == [
        ("good", "new"),
        ("multi", "new"),
        ("item-0", "update"),
    ]
    assert answer["items"][0]["settings"]["key"] == ""  # secrets never come back
    assert {(e["line"], e["field"]) for e in answer["errors"]} == {
        (3, "settings_scale"),
        (6, "enabled"),
        (6, "scanMode"),
        (7, "settings_address"),
        (8, "name"),
    }
    assert next(e for e in answer["errors"] if e["line"] == 8)["error"] == (
        "name: item name 'good' already used on line 2 of this file"
    )
    assert all(e["error"].startswith(f"{e['field']}: ") for e in answer["errors"])
    assert "secret-in-a-bad-row" not in await check.text()

    before = snapshot(store)
    response = await client.post(
        f"/api/south/{south['id']}/items/import", data=form(itemsToImport=BAD_CSV.encode()), headers=AUTH
    )
    assert response.status == 400
    errors = (await response.json())["errors"]
    assert set(errors) == {
        "line 3.settings_scale",
        "line 6.enabled",
        "line 6.scanMode",
        "line 7.settings_address",
        "line 8.name",
    }
    assert errors["line 6.scanMode"] == "unknown scan mode 'nope'"
    assert snapshot(store) == before


async def test_unreadable_files_and_fields_are_named(client: Client, store: ConfigStore) -> None:
    south = await create_connector(client, "south", south_body(store, items=0))
    url = f"/api/south/{south['id']}/items/import/check"

    async def refused(data: aiohttp.FormData) -> dict[str, str]:
        response = await client.post(url, data=data, headers=AUTH)
        assert response.status == 400, await response.text()
        errors: dict[str, str] = (await response.json())["errors"]
        return errors

    semicolons = b"name;scanMode;settings_address\nx;Every second;%MW1\n"
    assert "delimited by ';'" in (await refused(form(itemsToImport=semicolons)))["itemsToImport"]
    assert set(await refused(form(itemsToImport=b"", delimiter=";"))) == {"itemsToImport"}
    assert set(await refused(form(itemsToImport=b"\xff\xfe name"))) == {"itemsToImport"}
    assert set(await refused(form(itemsToImport=semicolons, delimiter="ab"))) == {"delimiter"}
    assert set(await refused(form(delimiter=";"))) == {"itemsToImport"}
    assert set(await refused(form(itemsToImport=semicolons, currentItems=b"{"))) == {"currentItems"}
    extra = b"name,scanMode,settings_address,settings_nope\nx,Every second,%MW1,1\n"
    answer = await (await client.post(url, data=form(itemsToImport=extra), headers=AUTH)).json()
    assert [(e["line"], e["field"]) for e in answer["errors"]] == [(2, "settings_nope")]
    assert (await client.post("/api/south/nope/items/import/check", data=form(), headers=AUTH)).status == 404
    # A South type is not a South to export from.
    assert (await client.get("/api/south/test-south/items/export", headers=AUTH)).status == 400


async def test_items_to_csv_blanks_secrets(client: Client) -> None:
    items = [
        {"name": "n1", "enabled": True, "scanModeName": "Every second", "settings": {"address": "a", "key": SECRET}},
        {"name": "n2", "enabled": False, "scanModeName": "Every minute", "settings": {"address": "b", "extra": [1]}},
    ]
    response = await client.post(
        "/api/south/test-south/items/to-csv", data=form(items=json.dumps(items).encode(), delimiter="\t"), headers=AUTH
    )
    text = await csv_of(response)
    assert SECRET not in text
    table = rows(text, "\t")
    assert [(row["name"], row["enabled"], row["scanMode"]) for row in table] == [
        ("n1", "true", "Every second"),
        ("n2", "false", "Every minute"),
    ]
    assert table[1]["settings_extra"] == "[1]" and table[0]["settings_key"] == ""
    bad = await client.post("/api/south/test-south/items/to-csv", data=form(items="{}"), headers=AUTH)
    assert bad.status == 400 and set((await bad.json())["errors"]) == {"items"}


async def test_bulk_enable_disable_delete_both_body_shapes(client: Client, store: ConfigStore) -> None:
    south = await create_connector(client, "south", south_body(store, items=3))
    ids = [item["id"] for item in south["items"]]
    base = f"/api/south/{south['id']}/items"

    async def enabled() -> list[bool]:
        return [item["enabled"] for item in await items_of(client, south["id"])]

    response = await client.post(f"{base}/disable", json={"itemIds": ids[:2]}, headers=AUTH)
    assert response.status == 204
    assert await enabled() == [False, False, True]
    assert (await client.post(f"{base}/enable", json=[ids[0]], headers=AUTH)).status == 204
    assert await enabled() == [True, False, True]
    unknown = await client.post(f"{base}/enable", json={"itemIds": [ids[1], "nope"]}, headers=AUTH)
    assert unknown.status == 400
    assert (await unknown.json())["errors"] == {"itemIds[1]": "unknown item 'nope'"}
    assert await enabled() == [True, False, True]
    bad_shape = await client.post(f"{base}/delete", json={"itemIds": "x"}, headers=AUTH)
    assert bad_shape.status == 400 and set((await bad_shape.json())["errors"]) == {"itemIds"}
    assert (await client.post(f"{base}/delete", json={"itemIds": ids[1:]}, headers=AUTH)).status == 204
    assert [item["id"] for item in await items_of(client, south["id"])] == [ids[0]]
