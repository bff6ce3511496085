"""Prefect tasks that each make one ledger transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from tasks.core.models import (
    DownloadOutcome,
    LedgerOrder,
    LedgerTransaction,
    OrderState,
    PurchaseOrder,
    TransactionStatus,
)
from tasks.core.ports import Ledger
from tasks.prefect_support import side_effect_task


@side_effect_task(name="load-orders")
def load_orders(
    ledger: Ledger, account: str, states: Collection[OrderState], ship_from_party_id: str | None = None
) -> list[LedgerOrder]:
    """Load an account's orders in the given states."""
    return ledger.load_orders(account, states, ship_from_party_id=ship_from_party_id)


@side_effect_task(name="load-state-counts")
def load_state_counts(ledger: Ledger, account: str) -> dict[OrderState, int]:
    """Count an account's orders per state."""
    return ledger.count_orders(account)


@side_effect_task(name="load-pending-transactions")
def load_pending_transactions(ledger: Ledger, account: str) -> list[LedgerTransaction]:
    """Load an account's Amazon transactions still Processing."""
    return ledger.load_transactions(account, pending_only=True)


@side_effect_task(name="load-watermark")
def load_watermark(ledger: Ledger, account: str, scope: str) -> datetime | None:
    """Load how far orders are downloaded for an account and scope."""
    return ledger.load_watermark(account, scope)


@side_effect_task(name="record-downloaded")
def record_downloaded(ledger: Ledger, account: str, orders: Sequence[PurchaseOrder]) -> DownloadOutcome:
    """Record a page of downloaded orders (no PII); known orders are left as they are."""
    return ledger.record_downloaded(account, orders)


@side_effect_task(name="record-watermark")
def record_watermark(ledger: Ledger, account: str, scope: str, value: datetime) -> None:
    """Advance the download watermark."""
    ledger.record_watermark(account, scope, value)


@side_effect_task(name="mark-acknowledging")
def mark_acknowledging(
    ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], batch: str, from_batch: str | None = None
) -> list[str]:
    """Claim orders for one acknowledgement request, before it is sent."""
    return ledger.mark_acknowledging(account, purchase_order_numbers, batch, from_batch=from_batch)


@side_effect_task(name="release-acknowledging")
def release_acknowledging(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], batch: str) -> list[str]:
    """Give back orders whose acknowledgement request Amazon provably did not apply."""
    return ledger.release_acknowledging(account, purchase_order_numbers, batch)


@side_effect_task(name="mark-acknowledged")
def mark_acknowledged(
    ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], transaction_id: str | None
) -> None:
    """Record Amazon's transaction id for an acknowledgement and move its orders on."""
    ledger.mark_acknowledged(account, purchase_order_numbers, transaction_id)


@side_effect_task(name="mark-exporting")
def mark_exporting(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], file_name: str) -> list[str]:
    """Claim acknowledged orders for one export file, before it is uploaded."""
    return ledger.mark_exporting(account, purchase_order_numbers, file_name)


@side_effect_task(name="mark-exported")
def mark_exported(ledger: Ledger, account: str, file_name: str) -> list[str]:
    """Record that an export file is on the warehouse drop."""
    return ledger.mark_exported(account, file_name)


@side_effect_task(name="mark-cancelled")
def mark_cancelled(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str]) -> list[str]:
    """Record orders Amazon now reports cancelled (only those not yet exported move)."""
    return ledger.mark_cancelled(account, purchase_order_numbers)


@side_effect_task(name="mark-held")
def mark_held(ledger: Ledger, account: str, purchase_order_number: str, reason: str) -> None:
    """Put an order aside for a person, with a reason free of PII."""
    ledger.mark_held(account, purchase_order_number, reason)


@side_effect_task(name="record-transaction-status")
def record_transaction_status(ledger: Ledger, status: TransactionStatus) -> None:
    """Store the outcome Amazon reported for a transaction."""
    ledger.record_transaction_status(status)


@side_effect_task(name="mark-transactions-stuck")
def mark_transactions_stuck(ledger: Ledger, transaction_ids: Sequence[str]) -> list[str]:
    """Note transactions reported stuck; returns those reported for the first time (announced once)."""
    return ledger.mark_transactions_stuck(transaction_ids)
