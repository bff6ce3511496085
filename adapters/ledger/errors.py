"""SQLAlchemy errors mapped into the integration's tree, with the password and the statement left out."""

from __future__ import annotations

import re

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from tasks.core.errors import PermanentError, TransientError

# Operational errors that retrying cannot fix: the URL names a database, role or file that is not there,
# or the credentials are wrong. Everything else operational (refused, reset, locked, deadlock) is retried.
_PERMANENT_OPERATIONAL = re.compile(
    r"does not exist|authentication failed|no pg_hba\.conf entry|unable to open database file|no such table"
    r"|no such column|syntax error",
    re.IGNORECASE,
)


def _reason(exc: BaseException, url: URL) -> str:
    """One line from the driver's message with the password removed (psycopg may quote the DSN)."""
    origin = getattr(exc, "orig", None) or exc
    text = str(origin).strip().splitlines()[0] if str(origin).strip() else type(origin).__name__
    if url.password:
        text = text.replace(str(url.password), "***")
    text = re.sub(r"password=\S+", "password=***", text)
    return f"{type(origin).__name__}: {text}"[:300]


def translate(exc: sa_exc.SQLAlchemyError, url: URL, operation: str) -> Exception:
    """Map a SQLAlchemy error into the integration's tree; statements and parameters stay out of the message."""
    where = f"ledger {url.render_as_string(hide_password=True)}: {operation} failed"
    reason = _reason(exc, url)
    unmigrated = re.search(r"no such table|relation .* does not exist|UndefinedTable", reason)
    hint = "; is the ledger migrated? run `vdf migrate`" if unmigrated else ""
    if isinstance(exc, sa_exc.OperationalError):
        if _PERMANENT_OPERATIONAL.search(reason):
            return PermanentError(f"{where} ({reason}){hint or '; check ledger_url'}")
        return TransientError(f"{where} ({reason})")
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return TransientError(f"{where} (connection lost: {reason})")
    if isinstance(exc, sa_exc.InterfaceError | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return TransientError(f"{where} ({reason})")
    if isinstance(exc, sa_exc.IntegrityError):
        return PermanentError(f"{where}: a constraint refused the change ({reason})")
    return PermanentError(f"{where} ({reason}){hint}")
