"""Pure rules behind health and transactions: the orders a Failure names, stuck transactions, late-shipment risk."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from tasks.core.config import OrderDownload
from tasks.core.health import download_overdue, late_shipment_risk
from tasks.core.models import (
    AmazonErrorDetail,
    LedgerOrder,
    LedgerTransaction,
    OrderState,
    TransactionKind,
    TransactionState,
)
from tasks.core.transactions import age_text, failed_subjects, stuck_transactions

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_failed_subjects_are_the_ones_amazon_names():
    errors = [AmazonErrorDetail("ORDER_CANCELLED", "Order PO2 is cancelled.", "purchaseOrderNumber=PO2")]
    assert failed_subjects(["PO1", "PO2", "PO3"], errors) == (["PO2"], True)
    assert failed_subjects(["PO1", "PO2"], [AmazonErrorDetail("X", "Something failed.")]) == (["PO1", "PO2"], False)


def _txn(tid: str, minutes: float, status: TransactionState = TransactionState.PROCESSING) -> LedgerTransaction:
    return LedgerTransaction(
        tid, "acme", TransactionKind.ACKNOWLEDGEMENT, ("PO1",), status, (), NOW - timedelta(minutes=minutes)
    )


def test_stuck_transactions_are_processing_beyond_the_limit():
    found = stuck_transactions(
        [_txn("young", 10), _txn("old", 31), _txn("older", 90), _txn("done", 90, TransactionState.SUCCESS)],
        now=NOW,
        after=timedelta(minutes=30),
    )
    assert [t.transaction_id for t in found] == ["older", "old"]
    assert age_text(timedelta(minutes=90)) == "1h30m" and age_text(timedelta(days=3)) == "3d00h"


@dataclass(frozen=True)
class _Dated(LedgerOrder):
    required_ship_date: datetime | None = None


def test_late_shipment_risk_needs_required_ship_dates():
    order = LedgerOrder("acme", "PO1", "V", "WH1", NOW, OrderState.EXPORTED, ())
    assert late_shipment_risk([order], now=NOW) is None  # the ledger keeps no ship date yet: unknown
    assert late_shipment_risk([], now=NOW) == []
    soon = _Dated(**{**order.__dict__, "required_ship_date": NOW + timedelta(hours=5)})
    later = replace(soon, purchase_order_number="PO2", required_ship_date=NOW + timedelta(days=3))
    assert late_shipment_risk([soon, later], now=NOW) == [("PO1", NOW + timedelta(hours=5))]


def test_a_watermark_too_far_behind_is_overdue():
    options = OrderDownload(lag_minutes=30, interval_minutes=30)
    assert download_overdue(None, options, now=NOW) is None
    assert download_overdue(NOW - timedelta(minutes=60), options, now=NOW) is None
    assert download_overdue(NOW - timedelta(hours=3), options, now=NOW) == timedelta(hours=3)
