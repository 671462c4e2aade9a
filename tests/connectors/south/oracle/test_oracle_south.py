"""Oracle South without an Oracle server (none can run here): settings, placeholders, binding, errors.

What a real server would add (row types, permissions, server errors) is not tested; the README says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from sql_harness import item
from sql_peers import assert_unreachable

from connectors.common.sql.output import parameter_value
from connectors.common.sql.query import bind_placeholders
from connectors.south.oracle import MANIFEST, OracleSouth
from connectors.south.oracle.client import OracleClient
from connectors.south.oracle.manifest import OracleSettings

INJECTION = "'; DROP TABLE x; --"


def test_settings_follow_upstream_and_name_the_bad_field() -> None:
    settings = msgspec.convert({}, OracleSettings)
    assert (settings.port, settings.connection_timeout, settings.request_timeout) == (1521, 15000, 15000)
    assert MANIFEST.modes.history
    with pytest.raises(msgspec.ValidationError, match="thickMode: the Oracle Instant Client mode is not supported"):
        msgspec.convert({"thickMode": True, "oracleClient": "/opt/instantclient"}, OracleSettings)
    with pytest.raises(msgspec.ValidationError, match=r"\$.connectionTimeout"):
        msgspec.convert({"connectionTimeout": 10}, OracleSettings)


def test_placeholders_become_numbered_binds_and_values_stay_apart() -> None:
    query = "SELECT * FROM t WHERE label = @StartTime OR ts <= @EndTime OR note = '@EndTime' -- @StartTime"
    bound = bind_placeholders(query, OracleClient.paramstyle)
    assert bound.text == "SELECT * FROM t WHERE label = :1 OR ts <= :2 OR note = '@EndTime' -- @StartTime"
    field = item(
        "q",
        dateTimeFields=[
            {"fieldName": "label", "useAsReference": True, "type": "string", "format": "yyyy'; DROP TABLE x; --'"}
        ],
    ).settings.date_time_fields[0]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    values = bound.values(parameter_value(start, field, OracleClient(OracleSettings()).native_instant), "end")
    # The injection text is a bind value of its own, never part of the statement text.
    assert values == ["2024; DROP TABLE x; --", "end"] and "DROP" not in bound.text


def test_instants_bind_as_naive_utc() -> None:
    instant = datetime(2024, 7, 1, 14, 0, tzinfo=UTC)
    assert OracleClient(OracleSettings()).native_instant(instant) == datetime(2024, 7, 1, 14, 0)


async def test_a_closed_port_and_a_silent_peer_are_connection_errors(tmp_path: Path) -> None:
    def settings(port: int) -> OracleSettings:
        return OracleSettings(host="127.0.0.1", port=port, connection_timeout=500)

    await assert_unreachable(OracleSouth, settings, "cannot connect to Oracle", tmp_path)


@pytest.mark.parametrize(
    ("code", "refused"),
    [(1017, True), (28000, True), (28001, True), (12541, False), (3113, False)],
)
def test_a_refused_login_is_told_from_an_unreachable_server(code: int, refused: bool) -> None:
    import oracledb
    from oracledb import errors

    from connectors.south.oracle.client import refused_login

    # The driver's own error object, as a server's ORA-nnnnn answer builds it.
    error = oracledb.DatabaseError(errors._Error(f"ORA-{code:05d}: from the server", code=code))
    assert refused_login(error) is refused
