"""Schema migrations of ``oibus.db``, applied in order; the version is ``PRAGMA user_version``.

Migration ``n`` (1-based) is ``MIGRATIONS[n - 1]``. Each one runs in its own transaction together with the
version bump, and is idempotent (``IF NOT EXISTS``) so a half-applied schema from a crash, or a copy of
tables made by hand, never blocks a start. Append new migrations; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import structlog

from engine.config.errors import ConfigError

log = structlog.get_logger(__name__)

Migration = Callable[[sqlite3.Connection], None]

_AUDIT = (
    "created_by TEXT NOT NULL DEFAULT 'system', updated_by TEXT NOT NULL DEFAULT 'system', "
    "created_at TEXT NOT NULL, updated_at TEXT NOT NULL"
)

_V1 = (
    f"""CREATE TABLE IF NOT EXISTS engines (
        id TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        oibus_version TEXT NOT NULL DEFAULT '',
        oibus_launcher_version TEXT NOT NULL DEFAULT '',
        {_AUDIT})""",
    f"""CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,
        first_name TEXT,
        last_name TEXT,
        email TEXT,
        language TEXT NOT NULL DEFAULT 'en',
        timezone TEXT NOT NULL DEFAULT 'Europe/Paris',
        password TEXT NOT NULL,
        {_AUDIT})""",
    f"""CREATE TABLE IF NOT EXISTS scan_modes (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        cron TEXT NOT NULL,
        {_AUDIT})""",
    f"""CREATE TABLE IF NOT EXISTS south_connectors (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        {_AUDIT})""",
    f"""CREATE TABLE IF NOT EXISTS south_item_groups (
        id TEXT PRIMARY KEY,
        connector_id TEXT NOT NULL REFERENCES south_connectors(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        scan_mode_id TEXT NOT NULL REFERENCES scan_modes(id),
        start_time_offset INTEGER,
        end_time_offset INTEGER,
        max_read_interval INTEGER,
        read_delay INTEGER,
        recovery_strategy TEXT,
        {_AUDIT},
        UNIQUE (connector_id, name))""",
    # scan_mode_id is the effective scan mode: the group's when the item is in a group.
    f"""CREATE TABLE IF NOT EXISTS south_items (
        id TEXT PRIMARY KEY,
        connector_id TEXT NOT NULL REFERENCES south_connectors(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        scan_mode_id TEXT NOT NULL REFERENCES scan_modes(id),
        group_id TEXT REFERENCES south_item_groups(id) ON DELETE SET NULL,
        sync_with_group INTEGER NOT NULL DEFAULT 0,
        max_read_interval INTEGER,
        read_delay INTEGER,
        start_time_offset INTEGER,
        end_time_offset INTEGER,
        recovery_strategy TEXT,
        {_AUDIT},
        UNIQUE (connector_id, name))""",
    "CREATE INDEX IF NOT EXISTS south_items_scan_mode ON south_items (scan_mode_id)",
    "CREATE INDEX IF NOT EXISTS south_items_group ON south_items (group_id)",
    "CREATE INDEX IF NOT EXISTS south_item_groups_scan_mode ON south_item_groups (scan_mode_id)",
    f"""CREATE TABLE IF NOT EXISTS north_connectors (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        caching TEXT NOT NULL,
        caching_scan_mode_id TEXT NOT NULL REFERENCES scan_modes(id),
        {_AUDIT})""",
    # A rule scoped to items (items_scoped = 1) must not silently widen to the whole South when its
    # items are deleted: the store deletes such a rule once it has no item left.
    f"""CREATE TABLE IF NOT EXISTS north_transformers (
        id TEXT PRIMARY KEY,
        north_id TEXT NOT NULL REFERENCES north_connectors(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        transformer_id TEXT NOT NULL,
        options TEXT NOT NULL,
        source_type TEXT NOT NULL,
        south_id TEXT REFERENCES south_connectors(id) ON DELETE CASCADE,
        group_id TEXT REFERENCES south_item_groups(id) ON DELETE CASCADE,
        data_source_id TEXT,
        items_scoped INTEGER NOT NULL DEFAULT 0,
        {_AUDIT})""",
    "CREATE INDEX IF NOT EXISTS north_transformers_north ON north_transformers (north_id)",
    "CREATE INDEX IF NOT EXISTS north_transformers_south ON north_transformers (south_id)",
    """CREATE TABLE IF NOT EXISTS north_transformer_items (
        north_transformer_id TEXT NOT NULL REFERENCES north_transformers(id) ON DELETE CASCADE,
        item_id TEXT NOT NULL REFERENCES south_items(id) ON DELETE CASCADE,
        PRIMARY KEY (north_transformer_id, item_id))""",
    "CREATE INDEX IF NOT EXISTS north_transformer_items_item ON north_transformer_items (item_id)",
)


def _v1_initial_schema(db: sqlite3.Connection) -> None:
    """Engine, users, scan modes, South connectors/groups/items, North connectors/routing rules."""
    for statement in _V1:
        db.execute(statement)


def _v2_ip_filters(db: sqlite3.Connection) -> None:
    """IP filters: the addresses (``*`` wildcards) allowed to reach the web server besides loopback."""
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS ip_filters (
            id TEXT PRIMARY KEY,
            address TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            {_AUDIT})"""
    )


def _v3_external_sources(db: sqlite3.Connection) -> None:
    """External sources: the names remote OIBus engines send data under on the 3.0-3.4 and v2 paths."""
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS external_sources (
            id TEXT PRIMARY KEY,
            reference TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            {_AUDIT})"""
    )


def _v4_certificates(db: sqlite3.Connection) -> None:
    """Certificates of ``/api/certificates``: PEM certificate and public key, the private key encrypted."""
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS certificates (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            public_key TEXT NOT NULL,
            certificate TEXT NOT NULL,
            private_key TEXT NOT NULL,
            expiry TEXT NOT NULL,
            {_AUDIT})"""
    )


def _v5_oianalytics(db: sqlite3.Connection) -> None:
    """OIAnalytics: the registration (one row), the commands received and the messages queued for it."""
    _v5_registrations(db)
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS commands (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            ack INTEGER NOT NULL DEFAULT 0,
            target_version TEXT NOT NULL DEFAULT '',
            retrieved_date TEXT NOT NULL,
            completed_date TEXT,
            result TEXT,
            scan_mode_id TEXT,
            ip_filter_id TEXT,
            certificate_id TEXT,
            south_connector_id TEXT,
            north_connector_id TEXT,
            history_query_id TEXT,
            item_id TEXT,
            transformer_id TEXT,
            command_content TEXT,
            {_AUDIT})"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS commands_status ON commands (status, retrieved_date)")
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS oianalytics_messages (
            id TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            completed_date TEXT,
            {_AUDIT})"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS oianalytics_messages_status ON oianalytics_messages (status, created_at)")


def _v6_custom_transformers(db: sqlite3.Connection) -> None:
    """Custom transformers (upstream's ``transformers`` rows of type ``custom``): code, manifest and limits."""
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS custom_transformers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            input_type TEXT NOT NULL,
            output_type TEXT NOT NULL,
            language TEXT NOT NULL DEFAULT 'javascript',
            custom_code TEXT NOT NULL,
            custom_manifest TEXT NOT NULL DEFAULT '{{}}',
            timeout INTEGER NOT NULL,
            {_AUDIT})"""
    )


def _v7_history_queries(db: sqlite3.Connection) -> None:
    """History queries (upstream's ``history_queries`` and ``history_items``): one South into one private North."""
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS history_queries (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'PENDING',
            start_time TEXT NOT NULL,
            end_time TEXT NOT NULL,
            max_read_interval INTEGER NOT NULL,
            read_delay INTEGER NOT NULL,
            south_type TEXT NOT NULL,
            south_settings TEXT NOT NULL,
            north_type TEXT NOT NULL,
            north_settings TEXT NOT NULL,
            caching TEXT NOT NULL,
            {_AUDIT})"""
    )
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS history_items (
            id TEXT PRIMARY KEY,
            history_id TEXT NOT NULL REFERENCES history_queries(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            settings TEXT NOT NULL,
            {_AUDIT},
            UNIQUE (history_id, name))"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS history_items_query ON history_items (history_id)")


def _v8_scan_mode_timing(db: sqlite3.Connection) -> None:
    """Scan modes of type ``interval`` and activation windows (upstream v3.10); existing ones stay crons."""
    # ALTER TABLE has no IF NOT EXISTS: look first, so the migration stays idempotent.
    present = {row[1] for row in db.execute("PRAGMA table_info(scan_modes)")}
    for column, declaration in (
        ("type", "TEXT NOT NULL DEFAULT 'cron'"),
        ("interval", "TEXT"),
        ("activation_window", "TEXT"),
    ):
        if column not in present:
            # Both names are literals of this function, never input.
            db.execute(f"ALTER TABLE scan_modes ADD COLUMN {column} {declaration}")


def _v9_history_north_transformers(db: sqlite3.Connection) -> None:
    """A history query's North transformers (``northTransformers``), as JSON (idempotent: the column once)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(history_queries)")}
    if "north_transformers" not in columns:
        db.execute("ALTER TABLE history_queries ADD COLUMN north_transformers TEXT NOT NULL DEFAULT '[]'")


def _v10_history_error(db: sqlite3.Connection) -> None:
    """Why a history query is ERRORED (NULL otherwise), kept across restarts (idempotent: the column once)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(history_queries)")}
    if "error" not in columns:
        db.execute("ALTER TABLE history_queries ADD COLUMN error TEXT")


MIGRATIONS: tuple[Migration, ...] = (
    _v1_initial_schema,
    _v2_ip_filters,
    _v3_external_sources,
    _v4_certificates,
    _v5_oianalytics,
    _v6_custom_transformers,
    _v7_history_queries,
    _v8_scan_mode_timing,
    _v9_history_north_transformers,
    _v10_history_error,
)


def _v5_registrations(db: sqlite3.Connection) -> None:
    """The OIAnalytics registration: one row."""
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS registrations (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'NOT_REGISTERED',
            activation_code TEXT NOT NULL DEFAULT '',
            check_url TEXT NOT NULL DEFAULT '',
            activation_expiration_date TEXT NOT NULL DEFAULT '',
            activation_date TEXT NOT NULL DEFAULT '',
            token TEXT NOT NULL DEFAULT '',
            public_key TEXT NOT NULL DEFAULT '',
            private_key TEXT NOT NULL DEFAULT '',
            use_proxy INTEGER NOT NULL DEFAULT 0,
            proxy_url TEXT,
            proxy_username TEXT,
            proxy_password TEXT,
            accept_unauthorized INTEGER NOT NULL DEFAULT 0,
            use_api_gateway INTEGER NOT NULL DEFAULT 0,
            api_gateway_header_key TEXT,
            api_gateway_header_value TEXT,
            api_gateway_base_endpoint TEXT,
            command_refresh_interval INTEGER NOT NULL DEFAULT 60,
            command_retry_interval INTEGER NOT NULL DEFAULT 5,
            message_retry_interval INTEGER NOT NULL DEFAULT 5,
            command_permissions TEXT NOT NULL DEFAULT '{{}}',
            {_AUDIT})"""
    )


def schema_version(db: sqlite3.Connection) -> int:
    """Return the migration level of ``db`` (0 for a new database)."""
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the pending migrations in order; returns the new version.

    ``db`` must be in autocommit mode (``isolation_level=None``) so each migration gets its own explicit
    transaction. A database newer than this code is refused rather than used with a schema we do not know.
    """
    current = schema_version(db)
    if current > len(migrations):
        raise ConfigError(f"oibus.db schema version {current} is newer than this OIBus ({len(migrations)})")
    for version in range(current + 1, len(migrations) + 1):
        migration = migrations[version - 1]
        db.execute("BEGIN IMMEDIATE")
        try:
            migration(db)
            # PRAGMA takes no parameters; version is an int we computed.
            db.execute(f"PRAGMA user_version = {version:d}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        log.info("config_migration_applied", version=version, migration=migration.__name__)
    return len(migrations)
