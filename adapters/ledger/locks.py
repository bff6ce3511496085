"""The one-run-per-account lock: a PostgreSQL session advisory lock, or a file lock beside a SQLite ledger.

Both die with the process that holds them, so a killed run never leaves an account locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine

from adapters.ledger.errors import translate
from tasks.core.errors import TransientError
from tasks.core.names import slug


def _lock_key(account: str) -> int:
    """A stable signed 64-bit advisory-lock key for an account."""
    digest = hashlib.sha256(f"vdf-bridge:orders:{account}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _wait_or_give_up(account: str, deadline: float, poll: float) -> None:
    if time.monotonic() >= deadline:
        raise TransientError(f"another run of account {account} still holds its lock; try again when it has finished")
    time.sleep(poll)


@contextmanager
def account_lock(
    engine: Engine, url: URL, account: str, *, timeout: float = 600.0, poll: float = 0.2
) -> Iterator[None]:
    """Hold the account's run lock; it dies with the process (PostgreSQL session lock, or a SQLite file lock)."""
    deadline = time.monotonic() + timeout
    if engine.dialect.name == "postgresql":
        key = _lock_key(account)
        try:
            with engine.connect() as conn:
                while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                    conn.rollback()
                    _wait_or_give_up(account, deadline, poll)
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, url, "account_lock") from exc
        return
    path = Path(f"{url.database}.{slug(account, empty='account')}.lock")
    with path.open("a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _wait_or_give_up(account, deadline, poll)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
