"""Why a history query is ERRORED is stored with it: shown by the API and SSE, kept across a restart, cleared on start.

A real engine reads the machine's MariaDB as a user whose password is wrong: the login refusal is permanent,
so the query is ERRORED at its first read (no retry of a transient class), with the driver's message and no
secret. The engine is restarted: the query is still ERRORED with the same reason. Its password is fixed, it is
started again: the reason is gone and it FINISHES with every row. A reason that would quote a secret (here
a table named like the password) is stored with the secret masked.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine_process import EngineProcess, wait_for
from history_support import RANGE_QUERY, Frames, csv_data_rows, history_body, postgres, sql_item, wait_for_status
from sql_servers import mariadb_database, mariadb_user, mysql_cli, postgres_database

RIGHT, WRONG = "i17-right-pass", "i17-wrong-pass"
TIME_RANGE = ("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", 3600)


def test_a_refused_login_errors_at_once_and_its_reason_survives_a_restart(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    with mariadb_database() as database, mariadb_user(database, RIGHT) as user:
        mysql_cli(
            database,
            "CREATE TABLE data (ts DATETIME(3) PRIMARY KEY, value INT);"
            "INSERT INTO data SELECT TIMESTAMP '2025-01-01 00:30:00' + INTERVAL seq HOUR, seq FROM seq_0_to_23",
        )

        def body(password: str) -> dict[str, object]:
            south = {"host": "127.0.0.1", "port": 3306, "database": database, "username": user, "password": password}
            items = [sql_item("hours", field_type="date-time")]
            return history_body("refused", TIME_RANGE, ("mysql", south), output, items)

        engine = EngineProcess(tmp_path / "data").start()
        try:
            history_id = engine.ok("POST", "/api/history-queries", body(WRONG))["id"]
            path = f"/api/history-queries/{history_id}"
            assert engine.ok("GET", path)["error"] is None
            engine.ok("POST", f"{path}/start")
            wait_for_status(engine, history_id, "ERRORED", 60)
            shown = engine.ok("GET", path)
            reason = shown["error"]
            assert "item hours" in reason and "refused the login" in reason and "1045" in reason, reason
            assert WRONG not in json.dumps(shown)
            # Permanent at the first refusal: never retried as a transient failure.
            assert "history read failed; retrying" not in engine.log()

            assert engine.stop() == 0, engine.log()
            engine.start()
            after = engine.ok("GET", path)
            assert (after["status"], after["error"]) == ("ERRORED", reason)
            listed = next(query for query in engine.ok("GET", "/api/history-queries") if query["id"] == history_id)
            assert listed["error"] == reason
            stream = Frames(f"{engine.url}/sse/history-queries/{history_id}")
            try:
                wait_for(lambda: any(frame.get("error") == reason for frame in stream.frames), 10, "an ERRORED frame")
            finally:
                stream.close()

            engine.ok("PUT", path, body(RIGHT))
            engine.ok("POST", f"{path}/start")
            assert engine.ok("GET", path)["error"] is None, "started again: the reason is cleared"
            wait_for_status(engine, history_id, "FINISHED", 60)
            assert engine.ok("GET", path)["error"] is None
        finally:
            if engine.proc is not None and engine.proc.poll() is None:
                assert engine.stop() == 0, engine.log()
    assert csv_data_rows(output) == 24


def test_a_reason_that_quotes_a_secret_is_stored_masked(tmp_path: Path) -> None:
    secret = "i17-secret-named-table"
    output = tmp_path / "out"
    output.mkdir()
    # PostgreSQL here trusts loopback logins: the password is sent, accepted, and quoted by the error below.
    query = RANGE_QUERY.replace("FROM data", f'FROM "{secret}"')
    with postgres_database() as database:
        south = postgres(database, password=secret)
        body = history_body("masked", TIME_RANGE, south, output, [sql_item("minutes", query=query)])
        engine = EngineProcess(tmp_path / "data").start()
        try:
            history_id = engine.ok("POST", "/api/history-queries", body)["id"]
            engine.ok("POST", f"/api/history-queries/{history_id}/start")
            wait_for_status(engine, history_id, "ERRORED", 90)
            shown = engine.ok("GET", f"/api/history-queries/{history_id}")
        finally:
            assert engine.stop() == 0, engine.log()
    assert 'relation "***" does not exist' in shown["error"], shown["error"]
    assert secret not in shown["error"]
