"""The ports: what the flows need from Amazon, the ledger and the warehouse drop, as Protocols (no I/O here)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from tasks.core.models import (
    DownloadOutcome,
    FileOutcome,
    InboundFile,
    InventoryUpdate,
    LedgerOrder,
    LedgerTransaction,
    OrderAcknowledgement,
    OrderPage,
    OrderState,
    PurchaseOrder,
    ShipmentConfirmation,
    ShipmentLine,
    TimeWindow,
    TransactionKind,
    TransactionStatus,
)


class VendorApi(Protocol):
    """The Amazon operations the product uses; raises only tasks.core.errors exceptions."""

    def fetch_orders_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> OrderPage:
        """One page of getOrders (2021-12-28, details and PII included).

        Orders that could not be read are in `rejected`; a returned next_token never equals the one sent.
        """
        ...

    def fetch_order(self, purchase_order_number: str) -> PurchaseOrder:
        """getOrder (2021-12-28) for one purchase order."""
        ...

    def submit_acknowledgements(self, acknowledgements: Sequence[OrderAcknowledgement]) -> str:
        """submitAcknowledgement for many orders at once; returns the transaction id.

        Writes raise OutcomeUnknownError when Amazon may have applied them without a readable answer.
        """
        ...

    def submit_shipment_confirmations(self, confirmations: Sequence[ShipmentConfirmation]) -> str:
        """submitShipmentConfirmations for many orders at once; returns the transaction id."""
        ...

    def submit_inventory_update(self, update: InventoryUpdate) -> str:
        """submitInventoryUpdate (v1) for one warehouse; returns the transaction id."""
        ...

    def fetch_transaction_status(self, transaction_id: str) -> TransactionStatus:
        """getTransactionStatus (2021-12-28)."""
        ...

    def close(self) -> None:
        """Close every connection this client opened."""
        ...


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

    def mark_cancelled(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Move orders Amazon reports cancelled to cancelled, if not yet exported; returns the ones moved."""
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
        """Store the latest outcome Amazon reported for a transaction, and what it means for its orders.

        A shipment confirmation's Success moves its orders to confirmed; a Failure moves the orders its errors
        name (all of them when an error names none) to confirm_failed with Amazon's codes, the others to confirmed.
        """
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

    def close(self) -> None:
        """Release the database connections."""
        ...

    # shipments ----------------------------------------------------------------------------------------------
    def record_shipment_lines(self, account: str, warehouse: str, lines: Sequence[ShipmentLine]) -> int:
        """Keep shipment-file lines until their orders are confirmed; returns how many were new.

        A line is known by its file, checksum and row: recording a file's lines again adds nothing.
        """
        ...

    def load_shipment_lines(
        self,
        account: str,
        *,
        ship_from_party_id: str | None = None,
        states: Collection[OrderState] | None = None,
        purchase_order_numbers: Collection[str] | None = None,
    ) -> list[ShipmentLine]:
        """Kept shipment lines of an account's orders (optionally of one warehouse, in some states), by order,
        file and row."""
        ...

    def mark_confirming(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, *, from_batch: str | None = None
    ) -> list[str]:
        """Claim exported (or failed) orders for one confirmation request; returns the ones this caller claimed.

        With from_batch, re-claim orders still confirming under that earlier batch (resending after recovery).
        """
        ...

    def release_confirming(self, account: str, purchase_order_numbers: Collection[str], batch: str) -> list[str]:
        """Give claimed orders back (to exported) when their confirmation was provably not applied."""
        ...

    def mark_confirmation_sent(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, transaction_id: str
    ) -> None:
        """Record the confirmation's transaction (Processing) on the orders of that batch, still confirming."""
        ...

    def mark_confirmed(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Move confirming orders to confirmed when Amazon shows them shipped but the transaction id was lost."""
        ...

    def mark_shipment_held(self, account: str, reasons: Mapping[str, str]) -> list[str]:
        """Hold exported or confirming orders for a person, each with its reason (no PII); returns those held."""
        ...


Folder = Literal["orders", "shipments", "inventory", "archive", "error"]


@dataclass(frozen=True)
class RemoteFile:
    """A complete file waiting in an inbound folder."""

    folder: Folder
    name: str
    size: int
    mtime: float


class WarehouseDrop(Protocol):
    """File operations on one warehouse's drop; folders come from the configuration."""

    def upload(self, folder: Folder, name: str, data: bytes) -> None:
        """Write data under name atomically (temporary name, then rename); a retry replaces, never duplicates.

        Temporary files an earlier, killed upload of the same name left in the folder are removed first.
        """
        ...

    def list_new(self, folder: Folder, patterns: Sequence[str] = ("*",)) -> list[RemoteFile]:
        """Complete files in an inbound folder matching the patterns, oldest first (partial ones are left)."""
        ...

    def exists(self, folder: Folder, name: str) -> bool:
        """Tell whether a complete file of that name is in the folder."""
        ...

    def download(self, folder: Folder, name: str) -> bytes:
        """Read one file."""
        ...

    def archive(self, folder: Folder, name: str) -> str:
        """Move a processed file to the archive folder; returns its new name."""
        ...

    def quarantine(self, folder: Folder, name: str, report_name: str, report: bytes) -> str:
        """Move a bad file to the error folder with its report beside it; returns its new name."""
        ...

    def remove_stale_parts(self, folder: Folder, older_than_seconds: float = 3600) -> list[str]:
        """Delete temporary `*.part-*` files older than the given age from the folder; returns their names."""
        ...

    def close(self) -> None:
        """Release the connection, if any."""
        ...
