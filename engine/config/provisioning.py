"""First-start settings: engine name, admin credentials and port, used only when rows are first created.

Each value comes from the first source that gives it: ``oibus.init.json`` (``{engineName, adminUsername,
adminPassword, port}``) in the data folder, then ``ADMIN_USERNAME_FILE``/``ADMIN_PASSWORD_FILE`` (Docker
secrets), then ``ENGINE_NAME``, ``ADMIN_USERNAME``, ``ADMIN_PASSWORD``, ``DEFAULT_PORT``, then the
defaults (``OIBus``, ``admin``/``pass``, 2223). The engine deletes the file once fully started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
import structlog

from connectors.errors import SettingsError
from engine.config.validation import convert

log = structlog.get_logger(__name__)

INIT_FILE = "oibus.init.json"


@dataclass(frozen=True, slots=True)
class InitSettings:
    """What a first start creates: the engine name and port, and the first user."""

    engine_name: str = "OIBus"
    admin_username: str = "admin"
    admin_password: str = "pass"
    port: int = 2223

    def __repr__(self) -> str:
        # The password must never reach a log line through a repr.
        return (
            f"InitSettings(engine_name={self.engine_name!r}, admin_username={self.admin_username!r}, "
            f"admin_password='***', port={self.port})"
        )


# 0: the system picks a free port at each start (tests, several engines on one host).
_Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class _InitFile(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    engine_name: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    admin_username: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    admin_password: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    port: _Port | None = None


def read_init_settings(data_dir: Path, environ: Mapping[str, str] | None = None) -> InitSettings:
    """Merge the init file, the ``*_FILE`` variables and the plain variables (first wins per field).

    Raises ``SettingsError`` for an unreadable source: silently falling back to ``admin``/``pass``
    when an operator meant to set a password would be worse than refusing to start.
    """
    env = os.environ if environ is None else environ
    errors: dict[str, str] = {}
    from_file = _read_file(data_dir / INIT_FILE, errors)
    username_file = _read_secret_file(env, "ADMIN_USERNAME_FILE", errors)
    password_file = _read_secret_file(env, "ADMIN_PASSWORD_FILE", errors)
    port_env = env.get("DEFAULT_PORT") or None
    port: int | None = None
    if port_env is not None:
        try:
            port = msgspec.convert(port_env, _Port, strict=False)
        except msgspec.ValidationError as err:
            errors["DEFAULT_PORT"] = f"{err} (got {port_env!r})"
    if errors:
        raise SettingsError(errors)
    defaults = InitSettings()
    settings = InitSettings(
        engine_name=_first(from_file.engine_name, env.get("ENGINE_NAME"), defaults.engine_name),
        admin_username=_first(from_file.admin_username, username_file, env.get("ADMIN_USERNAME"), "admin"),
        admin_password=_first(from_file.admin_password, password_file, env.get("ADMIN_PASSWORD"), "pass"),
        port=next((value for value in (from_file.port, port) if value is not None), defaults.port),
    )
    log.info(
        "init_settings_read",
        engine_name=settings.engine_name,
        admin_username=settings.admin_username,
        port=settings.port,
        from_file=from_file != _InitFile(),
    )
    return settings


def delete_init_file(data_dir: Path) -> bool:
    """Remove ``oibus.init.json`` (called once the engine is fully started); ``True`` if it existed."""
    path = data_dir / INIT_FILE
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    log.info("init_file_deleted", path=str(path))
    return True


def _read_file(path: Path, errors: dict[str, str]) -> _InitFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _InitFile()
    except OSError as err:
        errors[INIT_FILE] = f"cannot read: {err.strerror}"
        return _InitFile()
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError as err:
        errors[INIT_FILE] = f"invalid JSON: {err}"
        return _InitFile()
    try:
        return convert(data, _InitFile, path=INIT_FILE)
    except SettingsError as err:
        errors.update(err.errors)
        return _InitFile()


def _read_secret_file(env: Mapping[str, str], variable: str, errors: dict[str, str]) -> str | None:
    name = env.get(variable)
    if not name:
        return None
    try:
        # Secret files usually end with a newline that is not part of the value.
        value = Path(name).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as err:
        errors[variable] = f"cannot read {name}: {err.strerror}"
        return None
    return value or None


def _first(*values: str | None) -> str:
    for value in values:
        if value:
            return value
    return ""
