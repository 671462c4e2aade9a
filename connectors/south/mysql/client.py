"""asyncmy glue: an unbuffered (server-side) cursor streams a query's rows; driver errors become ours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import asyncmy
from asyncmy.cursors import SSCursor
from asyncmy.errors import MySQLError, OperationalError

from connectors.common.sql.query import ParamStyle
from connectors.common.sql.south import NaiveUtcClient
from connectors.errors import ConnectorAuthError, ConnectorConnectionError, ConnectorError
from connectors.south.mysql.manifest import MysqlSettings

# Client error codes of a connection that is gone (CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ...).
_LOST_CODES = frozenset({2006, 2013, 2055})

# Server error codes of a refused login: ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR (wrong password,
# unknown user), ER_ACCESS_DENIED_NO_PASSWORD_ERROR, ER_MUST_CHANGE_PASSWORD_LOGIN, a locked account (MySQL
# 3118, MariaDB 4151).
_AUTH_CODES = frozenset({1044, 1045, 1698, 1862, 3118, 4151})


class MysqlClient(NaiveUtcClient[MysqlSettings]):
    """One asyncmy connection; rows come from an ``SSCursor``, so the server streams them."""

    paramstyle: ClassVar[ParamStyle] = "format"

    async def connect(self) -> None:
        """Open the connection (``connectionTimeout``), in UTC so that TIMESTAMP columns read as UTC."""
        s = self._settings
        try:
            self._connection = await asyncmy.connect(
                host=s.host,
                port=s.port,
                user=s.username or "",
                password=s.password or "",
                database=s.database,
                connect_timeout=max(1, s.connection_timeout // 1000),
                read_timeout=max(1, s.request_timeout // 1000),
                init_command="SET time_zone = '+00:00'",
                autocommit=True,
            )
        except MySQLError as err:
            if err.args and err.args[0] in _AUTH_CODES:
                raise ConnectorAuthError(
                    f"MySQL {s.host}:{s.port} refused the login of user {s.username!r}: {err}"
                ) from err
            raise ConnectorConnectionError(f"cannot connect to MySQL {s.host}:{s.port}: {err}") from err
        except (OSError, TimeoutError) as err:
            raise ConnectorConnectionError(f"cannot connect to MySQL {s.host}:{s.port}: {err}") from err

    async def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            cursor, self._cursor = self._cursor, None
            try:
                if cursor is not None:
                    await cursor.close()
            except Exception:  # The connection is closed below anyway.
                pass
            connection.close()

    def _error(self, err: Exception) -> Exception:
        code = err.args[0] if err.args and isinstance(err.args[0], int) else 0
        if isinstance(err, OSError) or (isinstance(err, OperationalError) and code in _LOST_CODES):
            return ConnectorConnectionError(f"MySQL connection lost: {err}")
        return ConnectorError(f"MySQL query failed: {err}")

    async def execute(self, text: str, params: Sequence[Any]) -> list[str]:
        """Run the statement on an unbuffered cursor."""
        assert self._connection is not None
        try:
            self._cursor = self._connection.cursor(SSCursor)
            await self._cursor.execute(text, tuple(params) if params else None)
        except (OSError, MySQLError) as err:
            raise self._error(err) from err
        return [column[0] for column in self._cursor.description or ()]

    async def fetch(self, size: int) -> Sequence[Sequence[Any]]:
        """The next rows."""
        try:
            rows: Sequence[Sequence[Any]] = await self._cursor.fetchmany(size)
            return rows
        except (OSError, MySQLError) as err:
            raise self._error(err) from err
