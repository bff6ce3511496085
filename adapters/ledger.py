"""The ledger: the integration's source of truth (orders, watermarks, files, transactions) in SQL."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from adapters.ledger_sql import SqlLedger, migrate
from tasks.models import (
    DownloadOutcome,
    FileOutcome,
    InboundFile,
    LedgerOrder,
    LedgerTransaction,
    OrderState,
    PurchaseOrder,
    TransactionKind,
    TransactionStatus,
)

__all__ = ["Ledger", "SqlLedger", "migrate"]


class Ledger(Protocol):
    """State the flows resume from. Every method is one database transaction."""

    # orders -------------------------------------------------------------------------------
    def record_downloaded(self, account: str, orders: Sequence[PurchaseOrder]) -> DownloadOutcome:
        """Insert unknown orders (no PII); move known ones to cancelled if Amazon cancelled them before export."""
        ...

    def load_orders(
        self,
        account: str,
        states: Collection[OrderState],
        *,
        ship_from_party_id: str | None = None,
        purchase_order_numbers: Collection[str] | None = None,
    ) -> list[LedgerOrder]:
        """Orders of an account in the given states, oldest first."""
        ...

    def mark_acknowledging(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, *, from_batch: str | None = None
    ) -> list[str]:
        """Claim downloaded orders for one acknowledgement request; returns the ones this caller claimed.

        With from_batch, re-claim orders still acknowledging under that earlier batch (crash recovery).
        """
        ...

    def release_acknowledging(self, account: str, purchase_order_numbers: Collection[str], batch: str) -> list[str]:
        """Give claimed orders back (to downloaded) when their acknowledgement request was provably not applied."""
        ...

    def mark_acknowledged(
        self, account: str, purchase_order_numbers: Collection[str], transaction_id: str | None
    ) -> None:
        """Record the acknowledgement's transaction (status Processing) and move the orders to acknowledged.

        transaction_id is None when Amazon shows the order accepted but a crash lost the id: then no
        transaction row is written.
        """
        ...

    def mark_exporting(self, account: str, purchase_order_numbers: Collection[str], file_name: str) -> list[str]:
        """Claim acknowledged orders for one export file; returns the ones this caller claimed."""
        ...

    def mark_exported(self, account: str, file_name: str) -> list[str]:
        """Move every order exporting under this file name to exported; returns them."""
        ...

    def mark_held(self, account: str, purchase_order_number: str, reason: str) -> None:
        """Put one order aside for a person; the reason must hold no PII."""
        ...

    def count_orders(self, account: str | None = None) -> dict[OrderState, int]:
        """How many orders are in each state."""
        ...

    def account_lock(self, account: str, *, timeout: float = 600.0) -> AbstractContextManager[None]:
        """Hold the one-run-per-account lock; released when the block ends or the process dies."""
        ...

    # watermarks ---------------------------------------------------------------------------
    def load_watermark(self, account: str, scope: str) -> datetime | None:
        """Creation time up to which every order of this account and scope (ship-from id or '*') is downloaded."""
        ...

    def record_watermark(self, account: str, scope: str, value: datetime) -> None:
        """Advance the watermark; it never moves backwards."""
        ...

    # Amazon transactions ------------------------------------------------------------------
    def record_transaction(
        self, account: str, transaction_id: str, kind: TransactionKind, subjects: Sequence[str]
    ) -> None:
        """Remember a submitted transaction (Processing) and what it is about."""
        ...

    def record_transaction_status(self, status: TransactionStatus) -> None:
        """Store the latest outcome Amazon reported for a transaction."""
        ...

    def load_transactions(
        self, account: str | None = None, *, pending_only: bool = False
    ) -> list[LedgerTransaction]:
        """Transactions, optionally only those still Processing."""
        ...

    # inbound files ------------------------------------------------------------------------
    def record_file_received(self, account: str, warehouse: str, kind: str, name: str, checksum: str) -> bool:
        """Register an inbound file; False when this name + checksum was already received."""
        ...

    def mark_file(
        self, account: str, warehouse: str, name: str, checksum: str, outcome: FileOutcome, detail: str | None = None
    ) -> None:
        """Record where a received file ended (archived or quarantined)."""
        ...

    def load_files(self, account: str | None = None, warehouse: str | None = None) -> list[InboundFile]:
        """Inbound files, newest first."""
        ...
