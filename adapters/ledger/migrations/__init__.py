"""Alembic migrations of the ledger schema, shipped inside the adapters package."""
