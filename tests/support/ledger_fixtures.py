"""Ledger fixtures: a fresh ledger per test on SQLite (tmp file) and PostgreSQL (throwaway database, own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from adapters.ledger import SqlLedger, migrate

# The machine's server (trust auth); VDF_TEST_POSTGRES points the suite at another one.
POSTGRES_ADMIN = os.environ.get("VDF_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test")


def _admin_connect() -> psycopg.Connection:
    return psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database for this test session, dropped at the end; skips when PostgreSQL is unreachable."""
    try:
        admin = _admin_connect()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL unreachable ({POSTGRES_ADMIN}): {str(exc).strip().splitlines()[0]}")
    info = admin.info
    name = f"vdf_ledger_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_empty_url(postgres_database: str) -> Iterator[str]:
    """URL of an empty schema of its own (search_path), not migrated; dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_database.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield f"{postgres_database}?options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_database.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def sqlite_empty_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"


@pytest.fixture
def sqlite_ledger_url(sqlite_empty_url: str) -> str:
    """A migrated, empty SQLite ledger."""
    migrate(sqlite_empty_url)
    return sqlite_empty_url


@pytest.fixture
def postgres_ledger_url(postgres_empty_url: str) -> str:
    """A migrated, empty PostgreSQL ledger (its own schema)."""
    migrate(postgres_empty_url)
    return postgres_empty_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_backend(request: pytest.FixtureRequest) -> str:
    """Each test using a ledger runs once on SQLite and once on PostgreSQL."""
    backend: str = request.param
    return backend


@pytest.fixture
def empty_ledger_url(ledger_backend: str, request: pytest.FixtureRequest) -> str:
    """A fresh, not yet migrated ledger URL on each backend."""
    url: str = request.getfixturevalue(f"{ledger_backend}_empty_url")
    return url


@pytest.fixture
def ledger_url(empty_ledger_url: str) -> str:
    """A fresh, migrated ledger URL on each backend."""
    migrate(empty_ledger_url)
    return empty_ledger_url


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[SqlLedger]:
    """A SqlLedger on a fresh, migrated database, on each backend."""
    with SqlLedger(ledger_url) as sql_ledger:
        yield sql_ledger
