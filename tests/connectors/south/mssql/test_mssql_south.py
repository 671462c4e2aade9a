"""MSSQL South without a SQL Server (none can run here): settings, placeholders, the driver's quoting, errors.

What a real server would add (row types, TLS, NTLM) is not tested; the README says so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pymssql
import pytest
from sql_peers import assert_unreachable

from connectors.common.sql.query import bind_placeholders
from connectors.south.mssql import MANIFEST, MssqlSouth
from connectors.south.mssql.client import MssqlClient
from connectors.south.mssql.manifest import MssqlSettings

INJECTION = "'; DROP TABLE x; --"


def test_settings_follow_upstream_and_name_the_bad_field() -> None:
    settings = msgspec.convert({}, MssqlSettings)
    assert (settings.port, settings.connection_timeout, settings.request_timeout) == (1433, 1000, 15000)
    assert not settings.encryption and not settings.trust_server_certificate
    assert MANIFEST.modes.history and MANIFEST.item_settings is not None
    with pytest.raises(msgspec.ValidationError, match="trustServerCertificate: must be true when encryption is on"):
        msgspec.convert({"encryption": True}, MssqlSettings)
    with pytest.raises(msgspec.ValidationError, match=r"\$.port"):
        msgspec.convert({"port": 70000}, MssqlSettings)
    assert msgspec.convert({"encryption": True, "trustServerCertificate": True}, MssqlSettings).encryption


def test_domain_logins_are_ntlm_style() -> None:
    client = MssqlClient(MssqlSettings(username="reader", domain="PLANT"))
    assert client._login() == "PLANT\\reader"
    assert MssqlClient(MssqlSettings(username="sa"))._login() == "sa"


def test_placeholders_become_driver_parameters_the_driver_quotes() -> None:
    query = "SELECT * FROM t WHERE ts > @StartTime AND ts <= @EndTime AND note LIKE '%status @StartTime 100%'"
    bound = bind_placeholders(query, MssqlClient.paramstyle)
    assert bound.text == "SELECT * FROM t WHERE ts > %(p1)s AND ts <= %(p2)s AND note LIKE '%status @StartTime 100%'"
    start = datetime(2024, 1, 1, 12, 0, 0, 123000)
    values: dict[str, Any] = {f"p{i}": value for i, value in enumerate(bound.values(INJECTION, start), 1)}
    # What pymssql sends: the value travels as a quoted N'' literal, so it is only ever compared, and
    # the query's own '%s' stays as written.
    wire = pymssql._mssql.substitute_params(bound.text, values)
    assert wire == (
        b"SELECT * FROM t WHERE ts > N'''; DROP TABLE x; --' AND ts <= '2024-01-01 12:00:00.123' "
        b"AND note LIKE '%status @StartTime 100%'"
    )


def test_instants_bind_as_naive_utc() -> None:
    paris = datetime(2024, 7, 1, 14, 0, tzinfo=UTC) + timedelta(0)
    assert MssqlClient(MssqlSettings()).native_instant(paris) == datetime(2024, 7, 1, 14, 0)


async def test_a_closed_port_and_a_silent_peer_are_connection_errors(tmp_path: Path) -> None:
    def settings(port: int) -> MssqlSettings:
        return MssqlSettings(host="127.0.0.1", port=port, connection_timeout=500)

    await assert_unreachable(MssqlSouth, settings, "cannot connect to SQL Server", tmp_path)


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (pymssql.OperationalError(18456, b"Login failed for user 'oibus'."), True),
        # FreeTDS wraps the server's refusal in its own "connection failed" number.
        (pymssql.OperationalError((20002, b"Login failed for user 'oibus'.\nDB-Lib error message 20002")), True),
        (pymssql.OperationalError((20009, b"Unable to connect: Adaptive Server is unavailable")), False),
    ],
)
def test_a_refused_login_is_told_from_an_unreachable_server(error: Exception, refused: bool) -> None:
    from connectors.south.mssql.client import refused_login

    assert refused_login(error) is refused
