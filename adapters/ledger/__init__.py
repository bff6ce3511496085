"""The ledger in SQL (SQLite or PostgreSQL through SQLAlchemy 2): the Ledger port's implementation."""

from adapters.ledger.migrate import migrate
from adapters.ledger.repository import SqlLedger

__all__ = ["SqlLedger", "migrate"]
