"""What outstanding Amazon transactions mean for a person: which orders failed, which transactions are stuck."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tasks.core.models import AmazonErrorDetail, LedgerTransaction, TransactionState


def failed_subjects(subjects: Sequence[str], errors: Sequence[AmazonErrorDetail]) -> tuple[list[str], bool]:
    """The subjects (order numbers) Amazon's errors name, and whether they were named at all.

    A transaction of 100 acknowledgements usually fails for a few orders: those are what a person must fix.
    When no error names a subject, every subject of the transaction is returned and the flag is False.
    """
    text = " ".join(" ".join(filter(None, (e.code, e.message, e.details))) for e in errors)
    named = [s for s in subjects if s and s in text]
    return (named, True) if named else (list(subjects), False)


def stuck_transactions(
    transactions: Sequence[LedgerTransaction], *, now: datetime, after: timedelta
) -> list[LedgerTransaction]:
    """Transactions still Processing longer than `after` since they were submitted, oldest first."""
    found = [
        t
        for t in transactions
        if t.status is TransactionState.PROCESSING and t.submitted_at is not None and now - t.submitted_at > after
    ]
    return sorted(found, key=lambda t: (t.submitted_at or now, t.transaction_id))


def age_text(delta: timedelta) -> str:
    """A short human age: 45s, 12m, 3h05m, 2d04h."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
