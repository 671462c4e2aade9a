"""A login the database refuses is a permanent error (``ConnectorAuthError``), not a lost connection.

Against the machine's servers: MariaDB with a wrong password (error 1045), directly and through Debian's
MariaDB ODBC driver (SQLSTATE 28000); PostgreSQL with an unknown role (SQLSTATE 28000), directly and through
psqlODBC. The machine's PostgreSQL trusts every loopback login (``pg_hba``: ``trust``), so a wrong password is
accepted there: 28P01 is asyncpg's subclass of the 28000 error the test meets. In its real runner a South
whose login is refused logs it once, does not reconnect in a loop, tries again at each scan only, and logs
the recovery once the server accepts the login.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from south_runner import AckingChannel, until
from sql_harness import Harness, item
from sql_servers import mariadb_database, mariadb_user, mysql_cli, postgres_database

from connectors.errors import ConnectorAuthError
from connectors.south.mysql import MysqlSouth
from connectors.south.mysql.manifest import MysqlSettings
from connectors.south.postgresql import PostgresqlSouth
from connectors.south.postgresql.manifest import PostgresqlSettings
from engine.ipc import Content, Start
from engine.worker.south import SouthRunner

RIGHT, WRONG = "i17-right-pass", "i17-wrong-pass"
QUERY = "SELECT ts, value FROM data WHERE ts > @StartTime AND ts <= @EndTime"
TS_FIELD = {"fieldName": "ts", "useAsReference": True, "type": "date-time"}
START = datetime(2025, 1, 1, tzinfo=UTC)


def _odbc_drivers() -> str:
    try:
        return subprocess.run(["odbcinst", "-q", "-d"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return ""


async def _refused(harness: Harness) -> ConnectorAuthError:
    try:
        with pytest.raises(ConnectorAuthError) as caught:
            await harness.south.history_query([item(QUERY)], START, START + timedelta(hours=1))
    finally:
        harness.close()
    assert not isinstance(caught.value, ConnectionError), "a refused login is no lost connection"
    return caught.value


async def test_mariadb_wrong_password_is_a_refused_login(tmp_path: Path) -> None:
    with mariadb_database() as database, mariadb_user(database, RIGHT) as user:
        settings = MysqlSettings(host="127.0.0.1", database=database, username=user, password=WRONG)
        err = await _refused(Harness(MysqlSouth, settings, tmp_path))
    assert "1045" in str(err) and user in str(err), err
    assert WRONG not in str(err)


async def test_postgresql_unknown_role_is_a_refused_login(tmp_path: Path) -> None:
    with postgres_database() as database:
        settings = PostgresqlSettings(host="127.0.0.1", database=database, username="oibus_i17_nobody")
        err = await _refused(Harness(PostgresqlSouth, settings, tmp_path))
    assert "SQLSTATE 28000" in str(err) and "oibus_i17_nobody" in str(err), err


@pytest.mark.parametrize("driver", ["MariaDB Unicode", "PostgreSQL Unicode"])
async def test_odbc_refused_logins(tmp_path: Path, driver: str) -> None:
    if f"[{driver}]" not in _odbc_drivers():
        pytest.skip(f"ODBC driver {driver!r} missing (apt-get install odbc-mariadb odbc-postgresql)")
    from connectors.south.odbc import OdbcSouth
    from connectors.south.odbc.manifest import OdbcSettings

    if driver.startswith("MariaDB"):
        with mariadb_database() as database, mariadb_user(database, RIGHT) as user:
            text = f"Driver={{{driver}}};Server=127.0.0.1;Port=3306;Database={database};Uid={user}"
            odbc = OdbcSettings(connection_string=text, password=WRONG)
            err = await _refused(Harness(OdbcSouth, odbc, tmp_path))
        assert "28000" in str(err) and WRONG not in str(err), err
    else:
        with postgres_database() as database:
            text = f"Driver={{{driver}}};Server=127.0.0.1;Port=5432;Database={database};Uid=oibus_i17_nobody"
            err = await _refused(Harness(OdbcSouth, OdbcSettings(connection_string=text), tmp_path))
        assert "oibus_i17_nobody" in str(err), err
    assert "refused the login" in str(err)


async def test_a_south_with_a_refused_login_tries_at_each_scan_only_and_logs_once(tmp_path: Path) -> None:
    with mariadb_database() as database, mariadb_user(database, RIGHT) as user:
        mysql_cli(database, "CREATE TABLE data (ts DATETIME(3) PRIMARY KEY, value INT)")
        mysql_cli(database, "INSERT INTO data VALUES (UTC_TIMESTAMP(3) - INTERVAL 1 SECOND, 7)")
        settings = {"host": "127.0.0.1", "database": database, "username": user, "password": WRONG}
        items = [
            {
                "id": "i1",
                "name": "rows",
                "enabled": True,
                "scanModeId": "sm",
                "settings": {"query": QUERY, "dateTimeFields": [TS_FIELD], "serialization": {}},
                "maxReadInterval": 3600,
                "readDelay": 0,
            }
        ]
        dto = {"id": "sql-i17", "name": "plant", "type": "mysql", "settings": settings, "items": items}
        channel = AckingChannel()
        runner = SouthRunner(channel, Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
        channel.runner = runner
        await runner.start_with_backoff()

        async def one_scan() -> None:
            runner.on_trigger("sm")
            await until(lambda: "sm" not in runner._running)

        for _ in range(4):
            await one_scan()
        refused = channel.logs("login refused by the source; will retry at the next run")
        assert len(refused) == 1, channel.events()
        assert "1045" in str(refused[0]["error"]) and WRONG not in str(channel.sent)
        # No reconnection loop: the runner never restarted the connector between scans.
        assert "connection lost, reconnecting" not in channel.events()
        assert runner.started.is_set()

        # The account is changed on the server to what the South sends: the next scan reads, once logged.
        mysql_cli("", f"ALTER USER '{user}'@'%' IDENTIFIED BY '{WRONG}'")
        await one_scan()
        assert channel.events().count("login accepted by the source again") == 1, channel.events()
        assert any(isinstance(message, Content) for message in channel.sent)
        await runner.stop()
