"""Secrets: blank in the API form, kept when sent empty, encrypted at rest, decrypted for workers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from config_fakes import (
    FakeSouthSettings,
    north_body,
    open_store,
    south_body,
    store_fixture,  # noqa: F401
)

from engine.config import ConfigStore
from engine.config.crypto import MARKER, SecretBox, blank, seal, secret_shape

PLAINTEXTS = ("s3cret-pw", "tok-1", "key-of-item", "api-key-2", "north-token", "loki-pw")


def _create_everything(store: ConfigStore) -> tuple[str, str]:
    body = south_body(store, items=1)
    body["settings"]["endpoints"] = [{"url": "http://a", "apiKey": "api-key-2"}]
    body["items"][0]["settings"]["key"] = "key-of-item"
    south = store.souths.create_south(body)
    north = store.norths.create_north(north_body(store))
    store.update_engine_settings({"logger": {"loki": {"password": "loki-pw", "address": "http://loki"}}})
    return south.id, north.id


def test_api_form_blanks_every_secret_recursively(store: ConfigStore) -> None:
    south_id, north_id = _create_everything(store)
    south = store.souths.south_dto(south_id)
    assert south.settings["password"] == ""
    assert south.settings["auth"] == {"username": "u", "token": ""}
    assert south.settings["endpoints"] == [{"url": "http://a", "apiKey": ""}]
    assert south.items[0].settings["key"] == ""
    assert store.souths.list_items(south_id)[0].settings["key"] == ""
    assert store.norths.north_dto(north_id).settings["token"] == ""
    assert store.engine_settings_dto().logger.loki.password == ""


def test_worker_form_decrypts(store: ConfigStore) -> None:
    south_id, north_id = _create_everything(store)
    south = store.souths.get_south(south_id)
    assert south.settings["password"] == "s3cret-pw"
    assert south.settings["auth"]["token"] == "tok-1"
    assert south.settings["endpoints"][0]["apiKey"] == "api-key-2"
    assert south.items[0].settings["key"] == "key-of-item"
    assert store.norths.get_north(north_id).settings["token"] == "north-token"
    assert store.engine_settings().logger.loki.password == "loki-pw"


def test_empty_secret_keeps_the_stored_one(store: ConfigStore) -> None:
    south_id, north_id = _create_everything(store)
    dto = store.souths.south_dto(south_id)
    body = south_body(store)
    body["settings"] = dict(dto.settings, host="other")  # what a UI sends back: secrets blank
    body["items"] = [
        {
            "id": dto.items[0].id,
            "name": "item-0",
            "settings": dto.items[0].settings,
            "scanModeId": dto.items[0].scan_mode.id,
        }
    ]
    store.souths.update_south(south_id, body)
    south = store.souths.get_south(south_id)
    assert south.settings["host"] == "other"
    assert south.settings["password"] == "s3cret-pw"
    assert south.settings["auth"]["token"] == "tok-1"
    assert south.settings["endpoints"][0]["apiKey"] == "api-key-2"
    assert south.items[0].settings["key"] == "key-of-item"
    store.norths.update_north(north_id, north_body(store, settings={"outputFolder": "o2", "token": ""}))
    assert store.norths.get_north(north_id).settings["token"] == "north-token"
    store.update_engine_settings({"logger": {"loki": {"password": "", "level": "info"}}})
    assert store.engine_settings().logger.loki.password == "loki-pw"
    # A non-empty value replaces it.
    store.norths.update_north(north_id, north_body(store, settings={"outputFolder": "o2", "token": "new"}))
    assert store.norths.get_north(north_id).settings["token"] == "new"


def test_no_plaintext_at_rest(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        _create_everything(store)
    for name in ("oibus.db", "oibus.db-wal"):
        path = tmp_path / name
        if path.exists():
            content = path.read_bytes()
            for secret in PLAINTEXTS:
                assert secret.encode() not in content, (name, secret)
    db = sqlite3.connect(tmp_path / "oibus.db")
    (settings,) = db.execute("SELECT settings FROM south_connectors").fetchone()
    db.close()
    assert MARKER in settings


def test_fresh_nonce_per_value(tmp_path: Path) -> None:
    box = SecretBox.open(tmp_path / "crypto.db", "engine")
    assert box.encrypt("same") != box.encrypt("same")
    assert box.decrypt(box.encrypt("same")) == "same"
    # The key is kept: a second open decrypts what the first encrypted.
    assert SecretBox.open(tmp_path / "crypto.db", "engine").decrypt(box.encrypt("x")) == "x"


def test_lost_key_gives_empty_secrets_not_a_crash(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        south_id, _ = _create_everything(store)
    (tmp_path / "crypto.db").unlink()
    with open_store(tmp_path) as store:
        assert store.souths.get_south(south_id).settings["password"] == ""


def test_shape_walks_nested_structs_lists_and_unions() -> None:
    shape = secret_shape(FakeSouthSettings)
    value = {
        "host": "h",
        "password": "p",
        "auth": {"username": "u", "token": "t"},
        "endpoints": [{"url": "u", "apiKey": "k"}],
    }
    assert blank(value, shape) == {
        "host": "h",
        "password": "",
        "auth": {"username": "u", "token": ""},
        "endpoints": [{"url": "u", "apiKey": ""}],
    }


def test_seal_keeps_previous_by_position(tmp_path: Path) -> None:
    box = SecretBox.open(tmp_path / "crypto.db", "k")
    shape = secret_shape(FakeSouthSettings)
    previous = seal({"endpoints": [{"url": "a", "apiKey": "k1"}]}, None, shape, box)
    sealed = seal({"endpoints": [{"url": "a", "apiKey": ""}, {"url": "b", "apiKey": ""}]}, previous, shape, box)
    assert box.decrypt(sealed["endpoints"][0]["apiKey"]) == "k1"
    assert sealed["endpoints"][1]["apiKey"] == ""
