"""Ledger connections: URL parsing and engines with the session settings SQLite and PostgreSQL need."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from tasks.core.errors import ConfigError


def parse_ledger_url(url: str) -> URL:
    """Parse a ledger URL; plain postgresql:// means psycopg 3, the driver this project ships."""
    try:
        parsed = sa.make_url(url)
    except (sa_exc.ArgumentError, ValueError) as exc:
        # The library's message quotes the whole URL, password included: say what is wrong without it.
        raise ConfigError("ledger_url is not a database URL (expected sqlite:///path or postgresql://...)") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ConfigError(
            f"ledger_url uses {parsed.drivername!r}: only sqlite:///path and postgresql[+psycopg]:// are supported"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError("ledger_url must name a SQLite file (sqlite:///path.db): an in-memory ledger forgets")
    return parsed


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Autocommit at the driver level so that the "begin" hook below decides how transactions start.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster commits
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for another writer (SQLITE_BUSY at once,
    # busy_timeout ignored); taking the write lock up front makes concurrent writers queue instead.
    mode = conn.get_execution_options().get("ledger_sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_ledger_engine(url: str | URL) -> Engine:
    """An Engine for the ledger with the session settings every connection needs."""
    parsed = parse_ledger_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 10
    return sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
