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
    is_pslip_required: bool = False  # Amazon's packing slip must go in the box


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
    vendor_product_identifier: str | None  # None when Amazon knows the item by its ASIN only
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


class RequestState(enum.StrEnum):
    """Where one acknowledgement request is; written before the request is sent and after its answer."""

    CLAIMED = "claimed"  # its orders are claimed; the request has not been sent (a later run may send it now)
    SENDING = "sending"  # written just before the request: it may have reached Amazon or not
    SENT = "sent"  # Amazon answered with a transaction id (or showed the orders accepted)
    RELEASED = "released"  # provably not applied: its orders were given back


@dataclass(frozen=True)
class WaitingAcknowledgement:
    """An acknowledgement request whose orders are still 'acknowledging': what recovery and `vdf status` read."""

    account: str
    request_id: str
    ship_from_party_id: str
    state: RequestState
    orders: int  # how many of its orders are still acknowledging
    claimed_at: datetime
    sending_at: datetime | None = None

    @property
    def since(self) -> datetime:
        """Since when its orders have waited for an outcome: the send, or the claim when it was never sent."""
        return self.sending_at or self.claimed_at


@dataclass(frozen=True)
class DownloadOutcome:
    """What record_downloaded did with one page of orders."""

    new: tuple[str, ...] = ()  # inserted now (state downloaded, or cancelled when Amazon said so)
    cancelled: tuple[str, ...] = ()  # newly cancelled: inserted as cancelled or moved there before export
    known: tuple[str, ...] = ()  # already in the ledger, left unchanged
    claimed: tuple[str, ...] = ()  # of the new ones, those claimed at once for an acknowledgement request


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


# retention ----


@dataclass(frozen=True)
class PlacedFile:
    """A file the ledger says this integration put on a warehouse drop: an order file it exported, or an inbound
    file it archived or quarantined. Only such files (and their error reports) are ever purged."""

    kind: str  # "orders" | "shipments" | "stock"
    folder: str  # the drop folder it is in: "orders" | "archive" | "error"
    name: str  # the name we gave it (a move under a taken name adds a timestamp; see tasks.core.names)
    placed_at: datetime
    warehouse: str | None = None  # inbound files: the warehouse name
    ship_from_party_id: str | None = None  # order files: the warehouse's Amazon code


@dataclass(frozen=True)
class PurgedFile:
    """A file the purge removed: names and counts only, never content."""

    warehouse: str
    folder: str
    name: str
    purged_at: datetime

# ------------------------------------------------------------------------------------------------ inventory


class FeedMode(enum.StrEnum):
    FULL = "full"  # isFullUpdate=true: one request, Amazon zeroes every item left out
    DELTA = "delta"  # partial updates of what changed since the last accepted feed, in chunks


class FeedState(enum.StrEnum):
    """Where an inventory feed is; the ledger moves it, poll-transactions settles it."""

    HELD = "held"  # the guard kept it back; nothing sent (sent later with force)
    SENDING = "sending"  # intent recorded: its items and chunks are in the ledger, requests go out
    SENT = "sent"  # every chunk has a transaction id; Amazon has not decided yet
    ACCEPTED = "accepted"  # every transaction ended in Success: Amazon shows this stock
    FAILED = "failed"  # Amazon refused a request or a transaction ended in Failure
    UNKNOWN = "unknown"  # a request may or may not have reached Amazon; it is never resent
    SUPERSEDED = "superseded"  # a newer stock file came before this feed was sent whole; the rest is not sent


class ChunkState(enum.StrEnum):
    """One request of a feed (a full feed has one, a delta feed one per chunk)."""

    PENDING = "pending"
    SENDING = "sending"  # claimed; the request is in flight
    SENT = "sent"  # Amazon answered with a transaction id
    UNKNOWN = "unknown"  # in flight when its run died, or sent without a readable answer
    REFUSED = "refused"  # Amazon refused it as invalid (400/413): nothing was applied
    CANCELLED = "cancelled"  # never sent: its feed was superseded


@dataclass(frozen=True)
class FeedItems:
    """Items of a feed, column by column (one entry per item at Amazon): SKUs and quantities, no PII.

    `chunks` says which request carries the item; None means it is not sent (unchanged in a delta feed).
    """

    keys: tuple[str, ...]  # the identifier Amazon knows the item by (vendor SKU or ASIN, as configured)
    vendor_skus: tuple[str | None, ...]
    asins: tuple[str | None, ...]
    quantities: tuple[int, ...]
    chunks: tuple[int | None, ...]

    def __post_init__(self) -> None:
        lengths = {len(self.keys), len(self.vendor_skus), len(self.asins), len(self.quantities), len(self.chunks)}
        if len(lengths) > 1:
            raise ValueError("FeedItems columns must all have the same length")

    def __len__(self) -> int:
        return len(self.keys)


EMPTY_FEED_ITEMS = FeedItems((), (), (), (), ())


@dataclass(frozen=True)
class FeedPlan:
    """What a run decided for one stock file, recorded before anything is sent."""

    mode: FeedMode
    warehouse_id: str  # the Amazon warehouse code
    held: bool  # the guard kept it back: nothing is sent
    forced: bool  # a person sent it past the guard
    items: int  # items in the feed's stock (the file's rows, mapped)
    total_quantity: int
    sent_items: int  # items in the requests
    zeros: int  # items sent with quantity 0
    chunks: int  # requests
    detail: str | None = None  # the guard's verdict when held


@dataclass(frozen=True)
class InventoryFeed:
    """One stock file's feed as the ledger keeps it."""

    feed_id: int
    account: str
    warehouse: str
    warehouse_id: str
    file: str
    checksum: str
    mode: FeedMode
    state: FeedState
    forced: bool
    items: int
    total_quantity: int
    sent_items: int
    zeros: int
    chunk_states: tuple[ChunkState, ...]  # by chunk number
    transaction_ids: tuple[str, ...]  # of the chunks Amazon answered, by chunk number
    detail: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class InventoryBaseline:
    """What Amazon holds for a warehouse as far as the ledger knows: the guard and the delta compare against it."""

    accepted: InventoryFeed | None  # the last accepted feed
    levels: FeedItems  # the stock that feed carried (all its items)
    pending: FeedItems  # items sent by newer feeds Amazon has not settled (sent, sending or unknown)

# ------------------------------------------------------------------------------ labels, packing slips, cancellations


class LabelFormat(enum.StrEnum):
    """ShippingLabel.labelFormat (Shipping 2021-12-28)."""

    ZPL = "ZPL"
    PNG = "PNG"


class LabelState(enum.StrEnum):
    """Where an order's Amazon shipping label is; each step is recorded before the next side effect."""

    REQUESTING = "requesting"  # claimed: createShippingLabels may be in flight
    CREATED = "created"  # Amazon answered with the label (tracking numbers recorded)
    DROPPED = "dropped"  # the label files are on the warehouse drop


class PackingSlipState(enum.StrEnum):
    WAITING = "waiting"  # required, not available from Amazon yet
    DROPPED = "dropped"  # the PDF is on the warehouse drop
    MISSING = "missing"  # the deadline passed: exported without it (flagged) as configured


@dataclass(frozen=True)
class Carton:
    """One package we ask Amazon to label: its weight, optional dimensions, and what is packed in it."""

    container_identifier: str
    weight: float
    weight_unit: str  # "KG" | "LB"
    items: tuple[ShippedItem, ...] = ()
    length: float | None = None
    width: float | None = None
    height: float | None = None
    dimension_unit: str | None = None  # "IN" | "CM"


@dataclass(frozen=True)
class LabelRequest:
    """createShippingLabels for one order: the parties and the cartons to label."""

    purchase_order_number: str
    selling_party_id: str
    ship_from_party_id: str
    cartons: tuple[Carton, ...]


@dataclass(frozen=True)
class LabelPackage:
    """One labelled package; `content` is the printed label, which shows the customer's address (PII)."""

    package_identifier: str  # "001", "002", ...
    tracking_number: str
    ship_method: str | None = None
    ship_method_name: str | None = None
    content: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class ShippingLabel:
    purchase_order_number: str
    selling_party_id: str
    ship_from_party_id: str
    label_format: LabelFormat
    packages: tuple[LabelPackage, ...]


@dataclass(frozen=True)
class LabelPage:
    labels: tuple[ShippingLabel, ...]
    next_token: str | None = None


@dataclass(frozen=True)
class PackingSlip:
    """Amazon's packing slip for one order; the PDF shows the customer's address (PII)."""

    purchase_order_number: str
    content: bytes = field(repr=False)
    content_type: str = "application/pdf"


@dataclass(frozen=True)
class PackingSlipPage:
    slips: tuple[PackingSlip, ...]
    next_token: str | None = None


@dataclass(frozen=True)
class OrderNumbersPage:
    """One page of getOrders with includeDetails=false: purchase order numbers only (no PII)."""

    numbers: tuple[str, ...]
    next_token: str | None = None


@dataclass(frozen=True)
class LabelRecord:
    """What the ledger keeps of an order's label: package ids, tracking numbers and ship method, never the label."""

    account: str
    purchase_order_number: str
    ship_from_party_id: str
    state: LabelState
    label_format: LabelFormat | None = None
    packages: tuple[LabelPackage, ...] = ()  # without content
    requested_at: datetime | None = None
    created_at: datetime | None = None
    dropped_at: datetime | None = None


@dataclass(frozen=True)
class PackingSlipRecord:
    account: str
    purchase_order_number: str
    ship_from_party_id: str
    state: PackingSlipState
    first_try_at: datetime
    dropped_at: datetime | None = None


@dataclass(frozen=True)
class CancellationNotice:
    """An order Amazon cancelled after we exported it, and the file that told the warehouse (once)."""

    account: str
    purchase_order_number: str
    ship_from_party_id: str
    order_date: datetime
    export_file: str | None
    detected_at: datetime
    notice_file: str | None = None  # claimed for this cancellations file
    notified_at: datetime | None = None  # the file is on the warehouse drop
