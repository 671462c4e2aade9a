"""Per-test databases on the machine's PostgreSQL and MariaDB (shared with other helpers: unique names)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from conftest import require_service

__all__ = ["mariadb_database", "mysql_cli", "postgres_database", "psql"]


def psql(database: str, sql: str) -> str:
    """Run ``sql`` with the ``psql`` client as ``postgres`` on loopback."""
    done = subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-At",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.strip()


def mysql_cli(database: str, sql: str) -> str:
    """Run ``sql`` with the ``mysql`` client as ``root`` on loopback."""
    done = subprocess.run(
        ["mysql", "-h", "127.0.0.1", "-uroot", "-N", "-B", database, "-e", sql],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.strip()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new PostgreSQL database, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"oibus_sql_{uuid.uuid4().hex[:12]}"
    psql("postgres", f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def mariadb_database() -> Iterator[str]:
    """A new MariaDB database, dropped afterwards."""
    require_service("MariaDB", "127.0.0.1", 3306)
    name = f"oibus_sql_{uuid.uuid4().hex[:12]}"
    mysql_cli("", f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        mysql_cli("", f"DROP DATABASE IF EXISTS {name}")


@contextmanager
def mariadb_user(database: str, password: str) -> Iterator[str]:
    """A new MariaDB user with ``password`` who may read ``database``, dropped afterwards."""
    name = f"oibus_{uuid.uuid4().hex[:12]}"
    mysql_cli("", f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'; GRANT SELECT ON {database}.* TO '{name}'@'%'")
    try:
        yield name
    finally:
        mysql_cli("", f"DROP USER IF EXISTS '{name}'@'%'")
