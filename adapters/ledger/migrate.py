"""Schema migrations with Alembic, configured in code so that no alembic.ini is needed at run time."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from adapters.ledger.engine import create_ledger_engine, parse_ledger_url
from adapters.ledger.errors import translate

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """Alembic's configuration built in code, so no alembic.ini is needed at run time."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine) -> None:
    """Run alembic upgrade head on this engine in one transaction."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two workers starting together must not both run the DDL; the lock ends with the transaction.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(0x7664665F6C6467)))
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def migrate(url: str) -> None:
    """Bring the ledger schema to the latest revision (alembic upgrade head); harmless when already there."""
    parsed = parse_ledger_url(url)
    engine = create_ledger_engine(parsed)
    try:
        upgrade(engine)
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, parsed, "migrate") from exc
    finally:
        engine.dispose()
