"""First-start provisioning: precedence of init file, *_FILE variables and plain variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from config_fakes import FAST_HASHER, MANIFESTS, open_store

from connectors.errors import SettingsError
from engine.config import ConfigStore, InitSettings, delete_init_file, read_init_settings


def test_defaults_without_any_source(tmp_path: Path) -> None:
    assert read_init_settings(tmp_path, {}) == InitSettings(
        engine_name="OIBus", admin_username="admin", admin_password="pass", port=2223
    )


def test_plain_variables(tmp_path: Path) -> None:
    env = {"ENGINE_NAME": "Plant", "ADMIN_USERNAME": "root", "ADMIN_PASSWORD": "pw", "DEFAULT_PORT": "2300"}
    assert read_init_settings(tmp_path, env) == InitSettings(
        engine_name="Plant", admin_username="root", admin_password="pw", port=2300
    )


def test_file_variables_beat_plain_variables(tmp_path: Path) -> None:
    (tmp_path / "user").write_text("docker-user\n")
    (tmp_path / "password").write_text("docker-pw\n")
    env = {
        "ADMIN_USERNAME_FILE": str(tmp_path / "user"),
        "ADMIN_PASSWORD_FILE": str(tmp_path / "password"),
        "ADMIN_USERNAME": "env-user",
        "ADMIN_PASSWORD": "env-pw",
    }
    settings = read_init_settings(tmp_path, env)
    assert (settings.admin_username, settings.admin_password) == ("docker-user", "docker-pw")


def test_init_file_beats_everything_field_by_field(tmp_path: Path) -> None:
    (tmp_path / "oibus.init.json").write_text(json.dumps({"engineName": "From file", "adminPassword": "file-pw"}))
    (tmp_path / "user").write_text("docker-user")
    env = {
        "ENGINE_NAME": "env",
        "ADMIN_USERNAME_FILE": str(tmp_path / "user"),
        "ADMIN_PASSWORD": "env-pw",
        "DEFAULT_PORT": "3000",
    }
    assert read_init_settings(tmp_path, env) == InitSettings(
        engine_name="From file", admin_username="docker-user", admin_password="file-pw", port=3000
    )


def test_port_0_is_kept_not_replaced_by_a_default(tmp_path: Path) -> None:
    # 0 asks the system for a free port at each start: it must win over DEFAULT_PORT, not read as "unset".
    (tmp_path / "oibus.init.json").write_text(json.dumps({"port": 0}))
    assert read_init_settings(tmp_path, {"DEFAULT_PORT": "3000"}).port == 0
    assert read_init_settings(tmp_path / "none", {"DEFAULT_PORT": "0"}).port == 0


def test_bad_sources_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "oibus.init.json").write_text(json.dumps({"port": "x", "adminUsername": 3}))
    env = {"ADMIN_PASSWORD_FILE": str(tmp_path / "missing"), "DEFAULT_PORT": "70000"}
    with pytest.raises(SettingsError) as caught:
        read_init_settings(tmp_path, env)
    assert set(caught.value.errors) == {
        "oibus.init.json.port",
        "oibus.init.json.adminUsername",
        "ADMIN_PASSWORD_FILE",
        "DEFAULT_PORT",
    }


def test_unparsable_init_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "oibus.init.json").write_text("{not json")
    with pytest.raises(SettingsError, match=r"oibus\.init\.json"):
        read_init_settings(tmp_path, {})


def test_init_settings_repr_hides_the_password() -> None:
    assert "hunter2" not in repr(InitSettings(admin_password="hunter2"))


def test_init_is_used_only_when_rows_are_created(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with open_store(
        data, InitSettings(engine_name="First", admin_username="boss", admin_password="pw1", port=2400)
    ) as store:
        dto = store.engine_settings_dto()
        assert (dto.general.name, dto.web_server.port) == ("First", 2400)
        found = store.users.password_hash("boss")
        assert found is not None and store.users.verify_password(found[1], "pw1")
        assert store.users.password_hash("admin") is None
    with open_store(data, InitSettings(engine_name="Second", admin_username="other", port=2500)) as store:
        dto = store.engine_settings_dto()
        assert (dto.general.name, dto.web_server.port) == ("First", 2400)
        assert store.users.password_hash("other") is None


def test_default_admin_and_engine_row(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        found = store.users.password_hash("admin")
        assert found is not None
        assert found[1].startswith("$argon2id$")
        assert store.users.verify_password(found[1], "pass")
        assert not store.users.verify_password(found[1], "wrong")
        assert len(store.engine_id) == 16 and store.engine_id.isalnum()
        dto = store.engine_settings_dto()
        assert dto.id == store.engine_id
        assert dto.general.name == "OIBus" and dto.web_server.port == 2223
        assert dto.version


def test_delete_init_file(tmp_path: Path) -> None:
    (tmp_path / "oibus.init.json").write_text("{}")
    assert delete_init_file(tmp_path)
    assert not (tmp_path / "oibus.init.json").exists()
    assert not delete_init_file(tmp_path)


def test_real_hasher_is_argon2id(tmp_path: Path) -> None:
    # The production default (not the cheap test hasher) must be argon2id.
    with ConfigStore.open(tmp_path, init=None, manifests=MANIFESTS) as store:
        found = store.users.password_hash("admin")
        assert found is not None and found[1].startswith("$argon2id$")
    assert FAST_HASHER.time_cost == 1
