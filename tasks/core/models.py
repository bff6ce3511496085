"""Domain types shared by tasks and adapters: our names, not Amazon's JSON field names."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Region(enum.StrEnum):
    NA = "na"
    EU = "eu"
    FE = "fe"


class AmazonOrderStatus(enum.StrEnum):
    NEW = "NEW"
    SHIPPED = "SHIPPED"
    ACCEPTED = "ACCEPTED"
    CANCELLED = "CANCELLED"


class TransactionState(enum.StrEnum):
    PROCESSING = "Processing"
    SUCCESS = "Success"
    FAILURE = "Failure"


class TransactionKind(enum.StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    SHIPMENT_CONFIRMATION = "shipment_confirmation"
    INVENTORY_UPDATE = "inventory_update"


@dataclass(frozen=True)
class TimeWindow:
    """A half-open interval [start, end) of order creation times, both timezone-aware UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("TimeWindow needs timezone-aware datetimes")
        if self.end <= self.start:
            raise ValueError(f"TimeWindow end {self.end.isoformat()} is not after start {self.start.isoformat()}")

    def label(self) -> str:
        """Short, PII-free text for run names and artifacts."""
        return f"{self.start:%Y-%m-%dT%H:%M}Z..{self.end:%Y-%m-%dT%H:%M}Z"


@dataclass(frozen=True)
class Address:
    """A ship-to address. PII: every field is hidden from repr, so it cannot leak through logs."""

    name: str = field(repr=False)
    address_line1: str = field(repr=False)
    state_or_region: str = field(repr=False)
    country_code: str = field(repr=False)
    address_line2: str | None = field(default=None, repr=False)
    address_line3: str | None = field(default=None, repr=False)
    city: str | None = field(default=None, repr=False)
    county: str | None = field(default=None, repr=False)
    district: str | None = field(default=None, repr=False)
    postal_code: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    attention: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OrderLine:
    """One purchase order line; product ids are kept exactly as Amazon sent them (acks echo them)."""

    item_sequence_number: str
    ordered_quantity: int
    buyer_product_identifier: str | None = None  # ASIN
    vendor_product_identifier: str | None = None  # vendor SKU
    unit_of_measure: str = "Each"
    title: str | None = None
    gift_message: str | None = field(default=None, repr=False)  # written by the buyer: treat as PII


@dataclass(frozen=True)
class PurchaseOrder:
    """A drop-ship purchase order as downloaded; ship_to is PII and never stored in the ledger."""

    purchase_order_number: str
    customer_order_number: str
    order_date: datetime
    selling_party_id: str
    ship_from_party_id: str
    ship_method: str
    required_ship_date: datetime
    lines: tuple[OrderLine, ...]
    status: AmazonOrderStatus | None = None
    is_gift: bool = False
    is_priority: bool = False
    promised_delivery_date: datetime | None = None
    ship_to: Address | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AcknowledgementLine:
    item_sequence_number: str
    acknowledged_quantity: int
    buyer_product_identifier: str | None = None
    vendor_product_identifier: str | None = None
    unit_of_measure: str = "Each"


@dataclass(frozen=True)
class OrderAcknowledgement:
    """A full accept (code 00) or a rejection of one order; fill-or-kill, every line."""

    purchase_order_number: str
    vendor_order_number: str
    acknowledgement_date: datetime
    selling_party_id: str
    ship_from_party_id: str
    lines: tuple[AcknowledgementLine, ...]
    code: str = "00"
    description: str = "Accepted"


@dataclass(frozen=True)
class ShippedItem:
    item_sequence_number: str
    shipped_quantity: int
    buyer_product_identifier: str | None = None
    vendor_product_identifier: str | None = None


@dataclass(frozen=True)
class Package:
    """One shipped container (carton) with its tracking number."""

    container_identifier: str
    tracking_number: str
    weight: float
    weight_unit: str  # "KG" | "LB"
    items: tuple[ShippedItem, ...]
    carrier: str | None = None
    ship_method: str | None = None
    scac: str | None = None
    length: float | None = None
    width: float | None = None
    height: float | None = None
    dimension_unit: str | None = None  # "IN" | "CM"


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    """One line of a warehouse shipment file as the ledger keeps it until its order is confirmed (no PII).

    `item_sequence_number` is the order line's own, as Amazon sent it, whatever the file wrote. A line the
    warehouse marked "could not ship" has shipped=False and needs no package fields.
    """

    purchase_order_number: str
    item_sequence_number: str
    quantity: int
    file: str
    checksum: str
    row: int
    ship_date: datetime | None
    shipped: bool = True
    tracking_number: str | None = None
    package_id: str | None = None
    carrier: str | None = None
    ship_method: str | None = None
    scac: str | None = None
    weight: float | None = None
    weight_unit: str | None = None
    length: float | None = None
    width: float | None = None
    height: float | None = None
    dimension_unit: str | None = None


@dataclass(frozen=True)
class ShipmentConfirmation:
    purchase_order_number: str
    shipped_date: datetime
    selling_party_id: str
    ship_from_party_id: str
    items: tuple[ShippedItem, ...]
    packages: tuple[Package, ...]
    confirmation_type: str = "Shipped"


@dataclass(frozen=True)
class InventoryItem:
    vendor_product_identifier: str
    available_quantity: int
    buyer_product_identifier: str | None = None
    is_obsolete: bool = False


@dataclass(frozen=True)
class InventoryUpdate:
    selling_party_id: str
    warehouse_id: str  # the Amazon warehouse code = ship-from party id
    items: tuple[InventoryItem, ...]
    is_full_update: bool = True


@dataclass(frozen=True)
class AmazonErrorDetail:
    code: str
    message: str
    details: str | None = None


@dataclass(frozen=True)
class TransactionStatus:
    transaction_id: str
    status: TransactionState
    errors: tuple[AmazonErrorDetail, ...] = ()


@dataclass(frozen=True)
class RejectedOrder:
    """An order in a page that could not be read (a required field missing): its number and what is wrong."""

    purchase_order_number: str
    reason: str  # names fields, never values: no PII


@dataclass(frozen=True)
class OrderPage:
    """One page of getOrders; next_token is None on the last page."""

    orders: tuple[PurchaseOrder, ...]
    next_token: str | None = None
    rejected: tuple[RejectedOrder, ...] = ()


class OrderState(enum.StrEnum):
    """Where an order is in our cycle (DESIGN §3); each transition is recorded before the next side effect."""

    DOWNLOADED = "downloaded"
    ACKNOWLEDGING = "acknowledging"  # intent recorded, acknowledgement request in flight
    ACKNOWLEDGED = "acknowledged"  # Amazon answered 202 with a transaction id
    EXPORTING = "exporting"  # file name chosen, upload in flight
    EXPORTED = "exported"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"  # seen cancelled before export
    HELD = "held"  # needs a person
    # shipments: every line of an exported order is in the warehouse's shipment files
    CONFIRMING = "confirming"  # claimed for one confirmation request (intent), then sent: awaiting Amazon's verdict
    CONFIRMED = "confirmed"  # Amazon's transaction said Success (or Amazon shows the order shipped)
    CONFIRM_FAILED = "confirm_failed"  # Amazon's transaction said Failure; its codes are kept (16 characters max)


class FileOutcome(enum.StrEnum):
    RECEIVED = "received"
    ARCHIVED = "archived"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class LedgerOrder:
    """What the ledger keeps of an order: enough to acknowledge and confirm it, and no PII."""

    account: str
    purchase_order_number: str
    selling_party_id: str
    ship_from_party_id: str
    order_date: datetime
    state: OrderState
    lines: tuple[OrderLine, ...]
    ack_batch: str | None = None
    ack_transaction_id: str | None = None
    export_file: str | None = None
    held_reason: str | None = None
    required_ship_date: datetime | None = None  # None for orders recorded before the ledger kept it
    ship_batch: str | None = None  # the confirmation request that claimed it (carries the claim time)
    ship_transaction_id: str | None = None  # Amazon's transaction of its shipment confirmation
    ship_errors: str | None = None  # Amazon's codes when the confirmation failed


@dataclass(frozen=True)
class DownloadOutcome:
    """What record_downloaded did with one page of orders."""

    new: tuple[str, ...] = ()  # inserted now (state downloaded, or cancelled when Amazon said so)
    cancelled: tuple[str, ...] = ()  # newly cancelled: inserted as cancelled or moved there before export
    known: tuple[str, ...] = ()  # already in the ledger, left unchanged


@dataclass(frozen=True)
class LedgerTransaction:
    transaction_id: str
    account: str
    kind: TransactionKind
    subjects: tuple[str, ...]  # purchase order numbers, or the warehouse code for inventory
    status: TransactionState
    errors: tuple[AmazonErrorDetail, ...] = ()
    submitted_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class InboundFile:
    account: str
    warehouse: str
    kind: str  # "shipments" | "stock"
    name: str
    checksum: str  # sha256 hex
    outcome: FileOutcome
    detail: str | None = None  # report file name or summary
