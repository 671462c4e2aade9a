"""Users in the store: CRUD, validation of every field at once, argon2id, the credentials snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from argon2 import PasswordHasher
from config_fakes import open_store, store_fixture  # noqa: F401

from connectors.errors import SettingsError
from engine.config import ConfigStore, InitSettings, NotFoundError, RefusedError
from engine.config.crypto import token_key


def _body(login: str = "operator", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "login": login,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "language": "fr",
        "timezone": "Europe/London",
        "password": "op-pw",
    }
    body.update(extra)
    return body


def _admin_id(store: ConfigStore) -> str:
    found = store.users.credentials_by_login("admin")
    assert found is not None
    return found.user_id


def test_first_user_is_the_admin(store: ConfigStore) -> None:
    page = store.users.search_users()
    assert (page.total_elements, page.total_pages, page.size, page.number) == (1, 1, 50, 0)
    (admin,) = page.content
    assert (admin.login, admin.language, admin.timezone, admin.email) == ("admin", "en", "Europe/Paris", None)
    assert admin.friendly_name == "admin"


def test_create_get_update_delete(store: ConfigStore) -> None:
    created = store.users.create_user(_body(), actor=_admin_id(store))
    assert (created.login, created.first_name, created.language, created.timezone) == (
        "operator",
        "Ada",
        "fr",
        "Europe/London",
    )
    assert created.friendly_name == "Ada Lovelace"
    assert created.created_by is not None and created.created_by.friendly_name == "admin"
    assert "password" not in msgspec.to_builtins(created)
    assert store.users.get_user(created.id) == created
    found = store.users.credentials_by_login("operator")
    assert found is not None and found.password_hash.startswith("$argon2id$")
    assert store.users.verify_password(found.password_hash, "op-pw")

    updated = store.users.update_user(
        created.id, {"login": "operator2", "email": "", "language": "en", "timezone": "UTC", "password": "ignored"}
    )
    assert (updated.login, updated.email, updated.first_name, updated.friendly_name) == (
        "operator2",
        None,
        None,
        "operator2",
    )
    assert store.users.credentials_by_login("operator") is None
    renamed = store.users.credentials_by_login("operator2")
    assert renamed is not None and store.users.verify_password(renamed.password_hash, "op-pw")

    store.users.delete_user(created.id)
    assert store.users.credentials_by_id(created.id) is None
    with pytest.raises(NotFoundError):
        store.users.get_user(created.id)
    with pytest.raises(NotFoundError):
        store.users.delete_user(created.id)
    with pytest.raises(NotFoundError):
        store.users.update_user(created.id, _body())


def test_upstream_create_body_is_read(store: ConfigStore) -> None:
    body = _body()
    password = body.pop("password")
    created = store.users.create_user({"user": body, "password": password})
    found = store.users.credentials_by_id(created.id)
    assert found is not None and store.users.verify_password(found.password_hash, "op-pw")
    with pytest.raises(SettingsError) as caught:
        store.users.create_user({"user": _body("other", password=None)})
    assert set(caught.value.errors) == {"password"}


def test_every_bad_field_at_once(store: ConfigStore) -> None:
    with pytest.raises(SettingsError) as caught:
        store.users.create_user(
            {
                "login": "ab",
                "firstName": 3,
                "email": "not-an-email",
                "language": "de",
                "timezone": "Mars/Olympus",
                "password": "",
            }
        )
    assert set(caught.value.errors) == {"login", "firstName", "email", "language", "timezone", "password"}
    with pytest.raises(SettingsError) as caught:
        store.users.create_user({"firstName": "x"})
    assert set(caught.value.errors) == {"login", "password"}
    with pytest.raises(SettingsError) as caught:
        store.users.create_user(["not", "an", "object"])
    assert set(caught.value.errors) == {"body"}
    # A colon would split the Basic-auth pair in the wrong place: such a login could never log in.
    with pytest.raises(SettingsError) as caught:
        store.users.create_user(_body("ops:north"))
    assert set(caught.value.errors) == {"login"}
    assert store.users.search_users().total_elements == 1


def test_login_must_be_unique(store: ConfigStore) -> None:
    with pytest.raises(SettingsError) as caught:
        store.users.create_user(_body("admin", language="xx"))
    assert caught.value.errors["login"] == "already used by another user"
    assert set(caught.value.errors) == {"login", "language"}
    other = store.users.create_user(_body())
    with pytest.raises(SettingsError) as caught:
        store.users.update_user(other.id, _body("admin"))
    assert set(caught.value.errors) == {"login"}
    # Keeping one's own login is no clash.
    assert store.users.update_user(other.id, _body(firstName="Grace")).first_name == "Grace"


def test_the_last_user_cannot_be_deleted(store: ConfigStore) -> None:
    admin_id = _admin_id(store)
    with pytest.raises(RefusedError, match="last user"):
        store.users.delete_user(admin_id)
    other = store.users.create_user(_body())
    store.users.delete_user(admin_id)
    with pytest.raises(RefusedError):
        store.users.delete_user(other.id)
    assert [user.login for user in store.users.search_users().content] == ["operator"]


def test_search_pages_and_filters(store: ConfigStore) -> None:
    for index in range(55):
        store.users.create_user(_body(f"user_{index:02d}"))
    store.users.create_user(_body("userX01"))
    first = store.users.search_users()
    assert (first.total_elements, first.total_pages, len(first.content)) == (57, 2, 50)
    assert first.content[0].login == "admin"
    second = store.users.search_users(page=1)
    # By login, byte order: "userX01" comes before "user_00".
    assert first.content[1].login == "userX01"
    assert [user.login for user in second.content] == [f"user_{index}" for index in range(48, 55)]
    # "_" is a literal underscore, not LIKE's any-character.
    assert store.users.search_users(login="r_0").total_elements == 10
    assert store.users.search_users(login="USER_0").total_elements == 10  # as SQLite's LIKE: ASCII case folded
    assert store.users.search_users(login="nobody").content == []


def test_change_password(store: ConfigStore) -> None:
    admin_id = _admin_id(store)
    before = store.users.credentials_by_id(admin_id)
    with pytest.raises(SettingsError) as caught:
        store.users.change_password(admin_id, {"currentPassword": "wrong", "newPassword": "n3w"})
    assert set(caught.value.errors) == {"currentPassword"}
    with pytest.raises(SettingsError) as caught:
        store.users.change_password(admin_id, {"newPassword": ""})
    assert set(caught.value.errors) == {"newPassword"}
    with pytest.raises(NotFoundError):
        store.users.change_password("nobody", {"newPassword": "n3w"})
    assert store.users.credentials_by_id(admin_id) == before
    store.users.change_password(admin_id, {"currentPassword": "pass", "newPassword": "n3w"})
    after = store.users.credentials_by_id(admin_id)
    assert after is not None and after != before
    assert store.users.verify_password(after.password_hash, "n3w")
    assert not store.users.verify_password(after.password_hash, "pass")
    # Without currentPassword, as upstream (every user is an administrator).
    store.users.change_password(admin_id, {"newPassword": "again"})
    again = store.users.credentials_by_id(admin_id)
    assert again is not None and store.users.verify_password(again.password_hash, "again")


def test_default_password_flag(store: ConfigStore) -> None:
    admin_id = _admin_id(store)
    assert store.users.default_password_in_use()
    assert store.users.current_user(admin_id).default_password_in_use
    store.users.set_user_password("admin", "n3w")
    assert not store.users.default_password_in_use()
    store.users.change_password(admin_id, {"newPassword": "pass"})
    assert store.users.default_password_in_use()
    # Renamed, the admin account no longer answers to the well-known pair.
    store.users.update_user(admin_id, {"login": "boss", "language": "en", "timezone": "UTC"})
    assert not store.users.default_password_in_use()
    other = store.users.create_user(_body("admin", password="pass"))
    assert store.users.default_password_in_use()
    # The flag is about the engine, whoever asks.
    assert store.users.current_user(admin_id).default_password_in_use
    store.users.delete_user(other.id)
    assert not store.users.default_password_in_use()


def test_init_password_is_not_flagged(tmp_path: Path) -> None:
    with open_store(tmp_path, InitSettings(admin_password="s3cret")) as store:
        assert not store.users.default_password_in_use()


def test_real_hasher_hashes_created_users_with_argon2id(tmp_path: Path) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with ConfigStore.open(tmp_path, init=None, password_hasher=hasher) as store:
        created = store.users.create_user(_body())
        found = store.users.credentials_by_id(created.id)
        assert found is not None and found.password_hash.startswith("$argon2id$")


def test_token_key_is_kept_in_crypto_db(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        key, engine_id = store.token_key, store.engine_id
    assert len(key) == 32
    with open_store(tmp_path) as store:
        assert store.token_key == key
    assert token_key(tmp_path / "crypto.db", engine_id) == key
    # A key of its own, not the secrets' AES key.
    assert token_key(tmp_path / "crypto.db", "other-engine") != key
