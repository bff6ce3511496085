"""Alembic environment: runs on the connection migrate() passes in, or on alembic.ini's URL for developers."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from adapters.ledger.engine import create_ledger_engine
from adapters.ledger.schema import metadata

config = context.config

if config.config_file_name is not None and config.get_section("loggers") is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place: batch mode rebuilds tables when a revision needs it.
        render_as_batch=True,
        # Our SQLite connections issue BEGIN themselves (adapters.ledger.repository), so their DDL is transactional
        # too: a failed revision leaves the schema as it was, on both backends.
        transactional_ddl=True,
    )


def run_migrations() -> None:
    """Run the pending revisions in one transaction."""
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url in alembic.ini, or call adapters.ledger.repository.migrate(url)")
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as conn:
            configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the ledger migrates online only: run `alembic upgrade head` against a database")
run_migrations()
