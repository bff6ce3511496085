"""Alembic environment: runs on the connection migrate() passes in, or on alembic.ini's URL for developers."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from adapters.ledger_sql import create_ledger_engine, metadata

config = context.config

if config.config_file_name is not None and config.get_section("loggers") is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_migrations() -> None:
    """Run the pending revisions in one transaction."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url in alembic.ini, or call adapters.ledger_sql.migrate(url)")
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as conn:
            # SQLite cannot ALTER most things in place: batch mode rebuilds tables when a revision needs it.
            context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the ledger migrates online only: run `alembic upgrade head` against a database")
run_migrations()
