"""Users in the store: CRUD, argon2id passwords, and the credentials the API checks on every request.

Every user is an administrator, as upstream. The password hash never leaves the store in a DTO. The API
reads credentials from an in-memory snapshot (``credentials_by_login``/``credentials_by_id``) that every
change replaces, so a request costs no SQL and a changed or deleted user is refused at once.

argon2 is slow on purpose: hashing and verifying run outside the store lock so that a password change does
not stall every other configuration call.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import zoneinfo
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from connectors.errors import SettingsError
from engine.config.base import (
    PAGE_SIZE,
    Database,
    StoreBase,
    contains_pattern,
    friendly_name,
    now,
    random_id,
    require_object,
)
from engine.config.errors import NotFoundError, RefusedError
from engine.config.models import (
    SYSTEM_USER,
    ChangePasswordCommand,
    CurrentUserDTO,
    Page,
    UserCommand,
    UserCreateCommand,
    UserDTO,
    UserInfo,
)
from engine.config.validation import try_convert

log = structlog.get_logger(__name__)

T = TypeVar("T")
UserT = TypeVar("UserT", bound=UserCommand)

DEFAULT_LOGIN = "admin"
# Upstream's well-known first-start password: checked only to warn while it still opens the engine.
DEFAULT_PASSWORD = "pass"
_LOGIN_TAKEN = "already used by another user"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What authenticating a request needs to know about a user."""

    user_id: str
    login: str
    password_hash: str


@functools.cache
def time_zones() -> frozenset[str]:
    """The time zone names a user's ``timezone`` may take (empty without tz data: any is accepted then)."""
    # Without tz data (a bare Windows Python) nothing could be checked: any name is accepted then.
    return frozenset(zoneinfo.available_timezones())


class UserRepository(StoreBase):
    """Users (``store.users``): CRUD, passwords, and the in-memory credentials every request checks."""

    _by_login: dict[str, Credentials]
    _by_id: dict[str, Credentials]
    _default_password: bool | None

    def __init__(self, database: Database, hasher: PasswordHasher) -> None:
        super().__init__(database)
        self._hasher = hasher
        self._load_credentials()

    # --- Per-request lookups (memory only) ------------------------------------------------------------------

    def credentials_by_login(self, login: str) -> Credentials | None:
        """The credentials of ``login``, or ``None``."""
        return self._by_login.get(login)

    def credentials_by_id(self, user_id: str) -> Credentials | None:
        """The credentials of the user ``user_id``, or ``None`` (deleted since a token was issued)."""
        return self._by_id.get(user_id)

    def password_hash(self, login: str) -> tuple[str, str] | None:
        """Return ``(user_id, argon2 hash)`` of ``login`` or ``None``."""
        found = self._by_login.get(login)
        return None if found is None else (found.user_id, found.password_hash)

    # --- Passwords ----------------------------------------------------------------------------------------

    def verify_password(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash`` (argon2: slow on purpose, call it off the loop)."""
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    def hash_password(self, password: str) -> str:
        """Return the argon2id hash of ``password`` with this store's parameters."""
        return str(self._hasher.hash(password))

    def set_user_password(self, login: str, password: str, *, actor: str = SYSTEM_USER) -> None:
        """Replace the password of ``login`` (credentials verified with the old one stop working at once)."""
        hashed = self.hash_password(password)
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE users SET password = ?, updated_by = ?, updated_at = ? WHERE login = ?",
                (hashed, actor, now(), login),
            ).rowcount
            if not updated:
                raise NotFoundError(f"User {login} not found")
        self._load_credentials()
        log.info("user_password_changed", login=login)

    def change_password(self, user_id: str, body: Any, *, actor: str = SYSTEM_USER) -> None:
        """Apply a ``ChangePasswordCommand``: ``currentPassword``, when given, must be the current one."""
        command = self._convert(body, ChangePasswordCommand)
        found = self._by_id.get(user_id)
        if found is None:
            raise NotFoundError(f"User {user_id} not found")
        if command.current_password is not None and not self.verify_password(
            found.password_hash, command.current_password
        ):
            raise SettingsError({"currentPassword": "does not match the current password"})
        hashed = self.hash_password(command.new_password)
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE users SET password = ?, updated_by = ?, updated_at = ? WHERE id = ?",
                (hashed, actor, now(), user_id),
            ).rowcount
            if not updated:
                raise NotFoundError(f"User {user_id} not found")
        self._load_credentials()
        log.info("user_password_changed", user_id=user_id, login=found.login)

    def default_password_in_use(self) -> bool:
        """Whether ``admin``/``pass`` opens this engine (one argon2 verification, then remembered)."""
        with self._lock:
            known, admin = self._default_password, self._by_login.get(DEFAULT_LOGIN)
        if known is not None:
            return known
        in_use = admin is not None and self.verify_password(admin.password_hash, DEFAULT_PASSWORD)
        with self._lock:
            # A change meanwhile reset the snapshot: the answer computed from the old one is not kept.
            if self._by_login.get(DEFAULT_LOGIN) is admin:
                self._default_password = in_use
        return in_use

    # --- CRUD ---------------------------------------------------------------------------------------------

    def search_users(self, *, login: str | None = None, page: int = 0) -> Page[UserDTO]:
        """One page (50 users, by login) of the users whose login contains ``login``."""
        where, params = ("WHERE login LIKE ? ESCAPE '\\'", [contains_pattern(login)]) if login else ("", [])
        page = max(page, 0)
        with self._reading() as db:
            total = int(db.execute(f"SELECT COUNT(*) FROM users {where}", params).fetchone()[0])
            users = self._user_infos(db)
            rows = db.execute(
                f"SELECT * FROM users {where} ORDER BY login LIMIT {PAGE_SIZE} OFFSET {page * PAGE_SIZE}", params
            ).fetchall()
        return Page(
            content=[self._user_dto(row, users) for row in rows],
            size=PAGE_SIZE,
            number=page,
            total_elements=total,
            total_pages=math.ceil(total / PAGE_SIZE),
        )

    def get_user(self, user_id: str) -> UserDTO:
        """One user (``NotFoundError`` if none)."""
        with self._reading() as db:
            row = db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"User {user_id} not found")
            return self._user_dto(row, self._user_infos(db))

    def current_user(self, user_id: str) -> CurrentUserDTO:
        """``GET /api/users/current-user``: the user and whether the default password is still in use."""
        user = self.get_user(user_id)
        return CurrentUserDTO(**msgspec.structs.asdict(user), default_password_in_use=self.default_password_in_use())

    def create_user(self, body: Any, *, actor: str = SYSTEM_USER) -> UserDTO:
        """Store a new user from a ``UserCreateCommand`` body (flat, or upstream's ``{user, password}``)."""
        raw = require_object(body)
        nested = raw.get("user")
        if not isinstance(nested, dict):
            command = self._check_user(raw, UserCreateCommand, None)
        else:
            password = {"password": raw["password"]} if "password" in raw else {}
            try:
                command = self._check_user({**nested, **password}, UserCreateCommand, None)
            except SettingsError as err:
                # Name the fields where the client put them: ``user.login``, but ``password`` beside ``user``.
                raise SettingsError(
                    {path if path == "password" else f"user.{path}": problem for path, problem in err.errors.items()}
                ) from err
        hashed = self.hash_password(command.password)
        new_id = random_id()
        stamp = now()
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO users (id, login, first_name, last_name, email, language, timezone, password, "
                    "created_by, updated_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (new_id, *self._profile(command), hashed, actor, actor, stamp, stamp),
                )
            except sqlite3.IntegrityError as err:
                # Another request took the login between the check and this insert.
                raise SettingsError({"login": _LOGIN_TAKEN}) from err
        self._load_credentials()
        log.info("user_created", user_id=new_id, login=command.login)
        return self.get_user(new_id)

    def update_user(self, user_id: str, body: Any, *, actor: str = SYSTEM_USER) -> UserDTO:
        """Replace the profile of a user (a ``password`` in the body is ignored: it has its own route)."""
        self._require_user(user_id)
        command = self._check_user(require_object(body), UserCommand, user_id)
        with self._transaction() as db:
            try:
                updated = db.execute(
                    "UPDATE users SET login = ?, first_name = ?, last_name = ?, email = ?, language = ?, "
                    "timezone = ?, updated_by = ?, updated_at = ? WHERE id = ?",
                    (*self._profile(command), actor, now(), user_id),
                ).rowcount
            except sqlite3.IntegrityError as err:
                raise SettingsError({"login": _LOGIN_TAKEN}) from err
            if not updated:
                raise NotFoundError(f"User {user_id} not found")
        self._load_credentials()
        log.info("user_updated", user_id=user_id, login=command.login)
        return self.get_user(user_id)

    def delete_user(self, user_id: str) -> None:
        """Delete a user; the last one is refused (nobody could log in any more)."""
        with self._transaction() as db:
            row = db.execute("SELECT login FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"User {user_id} not found")
            if db.execute("SELECT COUNT(*) FROM users").fetchone()[0] <= 1:
                raise RefusedError("The last user cannot be deleted")
            db.execute("DELETE FROM users WHERE id = ?", (user_id,))
        self._load_credentials()
        log.info("user_deleted", user_id=user_id, login=row["login"])

    # --- Helpers ------------------------------------------------------------------------------------------

    def _load_credentials(self) -> None:
        """Replace the in-memory credentials with what ``oibus.db`` holds now."""
        with self._lock:
            rows = self._db.execute("SELECT id, login, password FROM users").fetchall()
            found = [Credentials(user_id=row["id"], login=row["login"], password_hash=row["password"]) for row in rows]
            self._by_login = {credentials.login: credentials for credentials in found}
            self._by_id = {credentials.user_id: credentials for credentials in found}
            self._default_password = None

    def _require_user(self, user_id: str) -> None:
        if self._by_id.get(user_id) is None:
            raise NotFoundError(f"User {user_id} not found")

    @staticmethod
    def _convert(body: Any, type_: type[T]) -> T:
        errors: dict[str, str] = {}
        command = try_convert(require_object(body), type_, "", errors)
        if command is None:
            raise SettingsError(errors)
        return command

    def _check_user(self, raw: dict[str, Any], type_: type[UserT], own_id: str | None) -> UserT:
        """Validate a user body: every bad field at once, a login taken by another user included."""
        errors: dict[str, str] = {}
        command = try_convert(raw, type_, "", errors)
        login, zone = raw.get("login"), raw.get("timezone")
        if isinstance(login, str) and login:
            taken = self._by_login.get(login)
            if taken is not None and taken.user_id != own_id:
                errors["login"] = _LOGIN_TAKEN
        if isinstance(zone, str) and zone and time_zones() and zone not in time_zones():
            errors["timezone"] = f"unknown time zone '{zone}'"
        if errors or command is None:
            raise SettingsError(errors)
        return command

    @staticmethod
    def _profile(command: UserCommand) -> tuple[str, str | None, str | None, str | None, str, str]:
        """The profile columns of a command, in table order (an empty email is stored as none)."""
        return (
            command.login,
            command.first_name or None,
            command.last_name or None,
            command.email or None,
            command.language,
            command.timezone,
        )

    def _user_dto(self, row: sqlite3.Row, users: dict[str, UserInfo]) -> UserDTO:
        return UserDTO(
            id=row["id"],
            login=row["login"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            email=row["email"],
            language=row["language"],
            timezone=row["timezone"],
            friendly_name=friendly_name(row["login"], row["first_name"], row["last_name"]),
            **self._audit(row, users),
        )
