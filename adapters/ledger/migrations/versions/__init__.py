"""Ledger schema revisions, oldest first by down_revision."""
