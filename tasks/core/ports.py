"""The ports: what the flows need from Amazon, the ledger and the warehouse drop, as Protocols (no I/O here)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from tasks.core.models import (
    AmazonOrderStatus,
    CancellationNotice,
    ChunkState,
    DownloadOutcome,
    FeedItems,
    FeedPlan,
    FeedState,
    FileOutcome,
    InboundFile,
    InventoryBaseline,
    InventoryFeed,
    InventoryUpdate,
    LabelPage,
    LabelRecord,
    LabelRequest,
    LabelState,
    LedgerOrder,
    LedgerTransaction,
    OrderAcknowledgement,
    OrderNumbersPage,
    OrderPage,
    OrderState,
    PackingSlip,
    PackingSlipPage,
    PackingSlipRecord,
    PackingSlipState,
    PlacedFile,
    PurchaseOrder,
    PurgedFile,
    ShipmentConfirmation,
    ShipmentLine,
    ShippingLabel,
    TimeWindow,
    TransactionKind,
    TransactionStatus,
    WaitingAcknowledgement,
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
        status: AmazonOrderStatus | None = None,
    ) -> OrderPage:
        """One page of getOrders (2021-12-28, details and PII included); unreadable orders are in `rejected`.

        With status, only orders Amazon shows in that status (the sweep for orders still NEW). Paging (and the
        guard against a nextToken loop) is tasks.core.orders.follow_pages.
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

    # labels and packing slips ----------------------------------------------------------------
    def create_shipping_labels(self, request: LabelRequest) -> ShippingLabel:
        """createShippingLabels (synchronous, RDT) for one order.

        Amazon answers 409 when the order has labels already: then the existing ones are read with
        getShippingLabel and returned, so asking twice never makes a second label.
        """
        ...

    def fetch_shipping_label(self, purchase_order_number: str) -> ShippingLabel:
        """getShippingLabel (RDT); NotFoundError when the order has no label."""
        ...

    def fetch_shipping_labels_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> LabelPage:
        """One page of getShippingLabels (RDT): labels created in the window (7 days at most)."""
        ...

    def fetch_packing_slip(self, purchase_order_number: str) -> PackingSlip | None:
        """getPackingSlip (RDT); None while Amazon has no slip for the order (not required, or not ready yet)."""
        ...

    def fetch_packing_slips_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> PackingSlipPage:
        """One page of getPackingSlips (RDT): slips that became available in the window (7 days at most)."""
        ...

    def fetch_order_numbers_page(
        self,
        window: TimeWindow,
        *,
        status: AmazonOrderStatus,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> OrderNumbersPage:
        """One page of getOrders with a status filter and includeDetails=false: numbers only, no PII."""
        ...


class Ledger(Protocol):
    """State the flows resume from. Every method is one database transaction."""

    # orders -------------------------------------------------------------------------------
    def record_downloaded(
        self, account: str, orders: Sequence[PurchaseOrder], *, claim_for: str | None = None
    ) -> DownloadOutcome:
        """Insert unknown orders (no PII); move known ones to cancelled if Amazon cancelled them before export.

        With claim_for, the new orders that are not cancelled are claimed at once for that acknowledgement request
        (state acknowledging, the request recorded as claimed): downloaded and claimed in one transaction.
        """
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
        """Claim downloaded orders for one acknowledgement request (recorded as claimed); returns the ones claimed.

        With from_batch, re-claim orders still acknowledging under that earlier request (crash recovery, or the
        halves of a refused request): each request id is sent at most once.
        """
        ...

    def release_acknowledging(self, account: str, purchase_order_numbers: Collection[str], batch: str) -> list[str]:
        """Give claimed orders back (to downloaded) when their acknowledgement request was provably not applied.

        The request is recorded as released.
        """
        ...

    def mark_acknowledged(
        self, account: str, purchase_order_numbers: Collection[str], transaction_id: str | None
    ) -> None:
        """Record the acknowledgement's transaction (status Processing) and move the orders to acknowledged.

        Their request is recorded as sent, with the transaction id, in the same database transaction: a request
        whose transaction id is known has no order left waiting (poll-transactions settles its outcome).
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
        """Store the latest outcome Amazon reported for a transaction, and what it means for its subject.

        inventory_update: a Failure fails its feed; the last Success of a sent feed makes it the accepted one.
        shipment_confirmation: a Success moves its orders to confirmed; a Failure moves the orders its errors
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

    # retention ----
    def load_placed_files(self, account: str) -> list[PlacedFile]:
        """Files this integration put on the account's drops: order files exported (placed when their orders
        last moved), inbound files archived or quarantined (placed when marked)."""
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


    # ops ----------------------------------------------------------------------------------
    def mark_transactions_stuck(self, transaction_ids: Collection[str]) -> list[str]:
        """Note that these Processing transactions were reported stuck; returns the ones not reported before."""
        ...

    def count_orders_by_warehouse(self, account: str) -> dict[str, dict[OrderState, int]]:
        """How many orders of an account are in each state, per ship-from party id."""
        ...


    def record_purged(self, account: str, purged: Sequence[PurgedFile]) -> None:
        """Remember files the purge removed (names only)."""
        ...

    def load_purged(self, account: str | None = None, since: datetime | None = None) -> list[PurgedFile]:
        """Files the purge removed, newest first."""
        ...

    # orders: acknowledgement requests ----------------------------------------------------------
    def mark_acknowledgement_sending(self, account: str, request_id: str) -> list[str]:
        """Record, just before it is sent, that a claimed request is being sent; returns its orders to send.

        Empty when the request is no longer claimed (already sent, or taken over by another run): send nothing.
        """
        ...

    def load_waiting_acknowledgements(
        self, account: str | None = None, *, ship_from_party_id: str | None = None
    ) -> list[WaitingAcknowledgement]:
        """Acknowledgement requests that still have orders in 'acknowledging', oldest first (recovery, status)."""
        ...

    # inventory ----------------------------------------------------------------------------------------------
    def load_inventory_feed(self, account: str, warehouse: str, file: str, checksum: str) -> InventoryFeed | None:
        """The feed recorded for one stock file (name + checksum) of a warehouse, if any."""
        ...

    def load_inventory_feeds(
        self, account: str | None = None, warehouse: str | None = None, *, states: Collection[FeedState] | None = None
    ) -> list[InventoryFeed]:
        """Inventory feeds, newest first, optionally only those in the given states."""
        ...

    def load_inventory_baseline(self, account: str, warehouse: str) -> InventoryBaseline:
        """The last accepted feed with the stock it carried, and the items newer unsettled feeds sent."""
        ...

    def record_inventory_feed(
        self, account: str, warehouse: str, file: str, checksum: str, plan: FeedPlan, items: FeedItems
    ) -> InventoryFeed:
        """Record a stock file's feed before anything is sent, in one transaction.

        A held plan keeps no items; otherwise the feed is `sending` with its items and its chunks `pending`
        (no chunk at all: accepted at once, Amazon already shows that stock). A feed already recorded for
        this file is returned unchanged unless it was held.
        """
        ...

    def claim_inventory_chunk(self, feed_id: int, chunk: int) -> bool:
        """Claim a pending chunk of a sending feed for its request; False when someone else has it or it is over."""
        ...

    def load_inventory_chunk(self, feed_id: int, chunk: int) -> FeedItems:
        """The items one request of a feed carries."""
        ...

    def mark_inventory_chunk(
        self,
        feed_id: int,
        chunk: int,
        state: ChunkState,
        *,
        transaction_id: str | None = None,
        detail: str | None = None,
    ) -> InventoryFeed:
        """Record how a claimed chunk's request ended: sent (its transaction recorded as Processing), unknown,
        refused, or pending again (provably not applied). Once no chunk is pending or in flight the feed becomes
        sent, unknown or failed. An inventory transaction's outcome later makes it accepted or failed
        (record_transaction_status)."""
        ...

    def supersede_inventory_feed(self, feed_id: int) -> InventoryFeed:
        """Stop a held or half-sent feed for a newer file: pending chunks are cancelled, chunks in flight become
        unknown. A feed in any other state is returned unchanged."""
        ...

    # labels, packing slips, cancellations ---------------------------------------------------------
    def claim_labels(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Record the intent to ask Amazon for a label, once per order; returns the orders this caller claimed.

        Only orders that are acknowledged or exported, not cancelled after export, and have no label row yet
        can be claimed: a label is requested once per order and never for a cancelled one.
        """
        ...

    def release_labels(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Forget claims whose createShippingLabels provably made no label (refused, or never sent)."""
        ...

    def record_labels(self, account: str, labels: Sequence[ShippingLabel]) -> list[str]:
        """Store package ids, tracking numbers and ship methods (never the label itself); requesting -> created."""
        ...

    def mark_labels_dropped(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Record that the orders' label files are on the warehouse drop (created -> dropped)."""
        ...

    def load_labels(
        self,
        account: str,
        *,
        purchase_order_numbers: Collection[str] | None = None,
        states: Collection[LabelState] | None = None,
        ship_from_party_id: str | None = None,
    ) -> list[LabelRecord]:
        """Label records of an account, by order number."""
        ...

    def record_packing_slips_waiting(
        self, account: str, ship_from_party_id: str, purchase_order_numbers: Collection[str], when: datetime
    ) -> list[str]:
        """Remember that these orders need Amazon's packing slip (first asked at `when`); returns the new ones."""
        ...

    def mark_packing_slips(
        self, account: str, purchase_order_numbers: Collection[str], state: PackingSlipState
    ) -> list[str]:
        """Move waiting slips to dropped, or to missing (deadline passed); returns the ones moved."""
        ...

    def load_packing_slips(
        self,
        account: str,
        *,
        purchase_order_numbers: Collection[str] | None = None,
        states: Collection[PackingSlipState] | None = None,
        ship_from_party_id: str | None = None,
    ) -> list[PackingSlipRecord]:
        """Packing slip records of an account, by order number."""
        ...

    def record_cancelled_after_export(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Remember exported orders Amazon reports cancelled, once each; returns the ones new to the ledger."""
        ...

    def claim_cancellation_notices(
        self, account: str, ship_from_party_id: str, file_name: str
    ) -> list[CancellationNotice]:
        """Claim every cancellation of a warehouse not yet in a cancellations file for this file name."""
        ...

    def mark_cancellations_notified(self, account: str, file_name: str) -> list[str]:
        """Record that the cancellations file is on the warehouse drop; returns its orders."""
        ...

    def load_cancellation_notices(
        self,
        account: str,
        *,
        ship_from_party_id: str | None = None,
        purchase_order_numbers: Collection[str] | None = None,
        pending_only: bool = False,
    ) -> list[CancellationNotice]:
        """Orders cancelled after export (pending_only: the warehouse has not been told yet), oldest first."""
        ...


Folder = Literal[
    "orders",
    "shipments",
    "inventory",
    "archive",
    "error",
    "labels",
    "packing_slips",
    "cancellations",
    "packages",
]


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

    # retention ----
    def list_files(self, folder: Folder) -> list[RemoteFile]:
        """Every regular file in the folder with its size and mtime (seconds since the epoch), names unfiltered
        except those no path may be built from; none when the folder does not exist."""
        ...

    def delete(self, folder: Folder, name: str) -> bool:
        """Delete one file; False when it was already gone."""
        ...

    # labels and packing slips ----------------------------------------------------------------
    def upload_many(self, folder: Folder, files: Mapping[str, bytes]) -> None:
        """Upload each file as `upload` does (atomically, replacing); leftovers are looked for once per batch."""
        ...
