"""In-memory fakes of the ports (VendorApi, Ledger, WarehouseDrop) for the fast unit tier: no sockets, no Prefect.

They implement the same Protocols as the real adapters and follow the same rules (the ledger applies the order
state machine of tasks.core.states), so flow decisions can be tested in milliseconds. Faults are injected by
queueing exceptions per operation (`fail(operation, exc, times)`), never by patching.
"""

from __future__ import annotations

import fnmatch
import itertools
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from tasks.core import states
from tasks.core.errors import DataError, NotFoundError, PermanentError, RequestRefusedError
from tasks.core.models import (
    EMPTY_FEED_ITEMS,
    AmazonErrorDetail,
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
    LabelFormat,
    LabelPackage,
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
    RejectedOrder,
    RequestState,
    ShipmentConfirmation,
    ShipmentLine,
    ShippingLabel,
    TimeWindow,
    TransactionKind,
    TransactionState,
    TransactionStatus,
    WaitingAcknowledgement,
)
from tasks.core.names import addressable, error_report_name, free_names, name_problem, safe_name_for, unsafe_name_report
from tasks.core.ports import Folder, RemoteFile
from tasks.core.states import OrderEvent


class Faults:
    """Exceptions queued per operation name; each call of that operation raises the next one first."""

    def __init__(self) -> None:
        self._queued: dict[str, deque[BaseException]] = defaultdict(deque)
        self.calls: dict[str, int] = defaultdict(int)

    def fail(self, operation: str, exc: BaseException, times: int = 1) -> None:
        """Make the next `times` calls of `operation` raise `exc`."""
        self._queued[operation].extend([exc] * times)

    def check(self, operation: str) -> None:
        self.calls[operation] += 1
        if self._queued[operation]:
            raise self._queued[operation].popleft()


# ------------------------------------------------------------------------------------------------ Amazon


@dataclass
class FakeVendorApi:
    """Amazon as a dict of orders; writes are recorded and applied at once (Success) unless told otherwise."""

    orders: dict[str, PurchaseOrder] = field(default_factory=dict)
    acknowledgements: list[tuple[str, tuple[OrderAcknowledgement, ...]]] = field(default_factory=list)
    confirmations: list[tuple[str, tuple[ShipmentConfirmation, ...]]] = field(default_factory=list)
    inventory_updates: list[tuple[str, InventoryUpdate]] = field(default_factory=list)
    transactions: dict[str, TransactionStatus] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    refused_orders: set[str] = field(default_factory=set)  # a confirmation request holding one is refused (400)
    closed: bool = False
    refused: set[str] = field(default_factory=set)  # acknowledging any of these orders is refused (HTTP 400)
    unreadable: dict[str, str] = field(default_factory=dict)  # order number -> reason: in OrderPage.rejected
    page_requests: list[tuple[TimeWindow, AmazonOrderStatus | None]] = field(default_factory=list)

    labels: dict[str, ShippingLabel] = field(default_factory=dict)
    label_requests: list[LabelRequest] = field(default_factory=list)  # every createShippingLabels received
    label_created: dict[str, datetime] = field(default_factory=dict)
    slips_ready: set[str] = field(default_factory=set)  # orders whose packing slip Amazon has made available
    label_format: LabelFormat = LabelFormat.ZPL
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # what a test sets up --------------------------------------------------------------------------------

    def add(self, *orders: PurchaseOrder) -> None:
        """Make orders visible to getOrders (status NEW unless given)."""
        for order in orders:
            status = order.status or AmazonOrderStatus.NEW
            self.orders[order.purchase_order_number] = replace(order, status=status)

    def set_status(self, purchase_order_number: str, status: AmazonOrderStatus) -> None:
        self.orders[purchase_order_number] = replace(self.orders[purchase_order_number], status=status)

    def settle(self, transaction_id: str, state: TransactionState, errors: Sequence[AmazonErrorDetail] = ()) -> None:
        """Decide a transaction's outcome as Amazon would report it later."""
        self.transactions[transaction_id] = TransactionStatus(transaction_id, state, tuple(errors))

    def acknowledged(self) -> dict[str, int]:
        """How many acknowledgements each order received."""
        counts: dict[str, int] = defaultdict(int)
        for _, acks in self.acknowledgements:
            for ack in acks:
                counts[ack.purchase_order_number] += 1
        return dict(counts)

    def confirmed(self) -> dict[str, int]:
        """How many shipment confirmations each order received."""
        counts: dict[str, int] = defaultdict(int)
        for _, sent in self.confirmations:
            for confirmation in sent:
                counts[confirmation.purchase_order_number] += 1
        return dict(counts)

    # the port -------------------------------------------------------------------------------------------

    def fetch_orders_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
        status: AmazonOrderStatus | None = None,
    ) -> OrderPage:
        self.faults.check("fetch_orders_page")
        self.page_requests.append((window, status))
        matching = sorted(
            (
                o
                for o in self.orders.values()
                if window.start <= o.order_date < window.end
                and (ship_from_party_id is None or o.ship_from_party_id == ship_from_party_id)
                and (status is None or o.status is status)
            ),
            key=lambda o: (o.order_date, o.purchase_order_number),
        )
        start = int(next_token or 0)
        page = matching[start : start + limit]
        more = start + limit < len(matching)
        rejected = tuple(
            RejectedOrder(o.purchase_order_number, self.unreadable[o.purchase_order_number])
            for o in page
            if o.purchase_order_number in self.unreadable
        )
        readable = tuple(o for o in page if o.purchase_order_number not in self.unreadable)
        return OrderPage(readable, str(start + limit) if more else None, rejected)

    def fetch_order(self, purchase_order_number: str) -> PurchaseOrder:
        self.faults.check("fetch_order")
        try:
            return self.orders[purchase_order_number]
        except KeyError:
            raise NotFoundError("Amazon does not know this order", subject=purchase_order_number) from None

    def submit_acknowledgements(self, acknowledgements: Sequence[OrderAcknowledgement]) -> str:
        self.faults.check("submit_acknowledgements")
        if any(ack.purchase_order_number in self.refused for ack in acknowledgements):
            raise RequestRefusedError("Amazon refused the request as invalid (fake)", code="InvalidInput", status=400)
        transaction_id = self._new_transaction()
        self.acknowledgements.append((transaction_id, tuple(acknowledgements)))
        for ack in acknowledgements:
            order = self.orders.get(ack.purchase_order_number)
            if order is not None and order.status is AmazonOrderStatus.NEW:
                self.set_status(ack.purchase_order_number, AmazonOrderStatus.ACCEPTED)
        return transaction_id

    def submit_shipment_confirmations(self, confirmations: Sequence[ShipmentConfirmation]) -> str:
        self.faults.check("submit_shipment_confirmations")
        refused = sorted(self.refused_orders & {c.purchase_order_number for c in confirmations})
        if refused:
            raise RequestRefusedError("Amazon refused the request as invalid", code="InvalidInput", status=400)
        transaction_id = self._new_transaction()
        self.confirmations.append((transaction_id, tuple(confirmations)))
        for confirmation in confirmations:
            if confirmation.purchase_order_number in self.orders:
                denied = confirmation.confirmation_type == "FloorDenial"
                status = AmazonOrderStatus.CANCELLED if denied else AmazonOrderStatus.SHIPPED
                self.set_status(confirmation.purchase_order_number, status)
        return transaction_id

    def submit_inventory_update(self, update: InventoryUpdate) -> str:
        self.faults.check("submit_inventory_update")
        transaction_id = self._new_transaction()
        self.inventory_updates.append((transaction_id, update))
        return transaction_id

    def fetch_transaction_status(self, transaction_id: str) -> TransactionStatus:
        self.faults.check("fetch_transaction_status")
        try:
            return self.transactions[transaction_id]
        except KeyError:
            raise NotFoundError("Amazon does not know this transaction", subject=transaction_id) from None

    def close(self) -> None:
        self.closed = True

    # labels and packing slips (the port) -----------------------------------------------------------------

    def create_shipping_labels(self, request: LabelRequest) -> ShippingLabel:
        self.faults.check("create_shipping_labels")
        number = request.purchase_order_number
        self.label_requests.append(request)
        if number in self.labels:  # Amazon's 409, answered with getShippingLabel
            return self.fetch_shipping_label(number)
        order = self.orders.get(number)
        if order is None:
            raise NotFoundError("Amazon does not know this order", subject=number)
        if order.status in (AmazonOrderStatus.CANCELLED, AmazonOrderStatus.SHIPPED):
            raise RequestRefusedError(f"order is {order.status}; no label", code="InvalidInput", subject=number)
        cartons = request.cartons or ()
        packages = tuple(
            LabelPackage(
                package_identifier=f"{index:03d}",
                tracking_number=f"1ZFAKE{number}{index:03d}",
                ship_method=order.ship_method,
                ship_method_name=order.ship_method.replace("_", " "),
                content=f"^XA^FD{number} {index:03d}^FS^XZ".encode(),
            )
            for index in range(1, max(1, len(cartons)) + 1)
        )
        label = ShippingLabel(number, request.selling_party_id, request.ship_from_party_id, self.label_format, packages)
        self.labels[number] = label
        self.label_created[number] = datetime.now(UTC)
        return label

    def fetch_shipping_label(self, purchase_order_number: str) -> ShippingLabel:
        self.faults.check("fetch_shipping_label")
        try:
            return self.labels[purchase_order_number]
        except KeyError:
            raise NotFoundError("no label for this order", subject=purchase_order_number) from None

    def fetch_shipping_labels_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> LabelPage:
        self.faults.check("fetch_shipping_labels_page")
        matching = [
            label
            for number, label in sorted(self.labels.items(), key=lambda item: (self.label_created[item[0]], item[0]))
            if window.start <= self.label_created[number] < window.end
            and (ship_from_party_id is None or label.ship_from_party_id == ship_from_party_id)
        ]
        start = int(next_token or 0)
        more = start + limit < len(matching)
        return LabelPage(tuple(matching[start : start + limit]), str(start + limit) if more else None)

    def fetch_packing_slip(self, purchase_order_number: str) -> PackingSlip | None:
        self.faults.check("fetch_packing_slip")
        if purchase_order_number not in self.slips_ready:
            return None
        return PackingSlip(purchase_order_number, f"%PDF-1.4 slip {purchase_order_number}".encode())

    def fetch_packing_slips_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> PackingSlipPage:
        self.faults.check("fetch_packing_slips_page")
        # a slip becomes available with its order here: listed by the order's date
        matching = [
            PackingSlip(o.purchase_order_number, f"%PDF-1.4 slip {o.purchase_order_number}".encode())
            for o in sorted(self.orders.values(), key=lambda o: (o.order_date, o.purchase_order_number))
            if o.purchase_order_number in self.slips_ready
            and window.start <= o.order_date < window.end
            and (ship_from_party_id is None or o.ship_from_party_id == ship_from_party_id)
        ]
        start = int(next_token or 0)
        more = start + limit < len(matching)
        return PackingSlipPage(tuple(matching[start : start + limit]), str(start + limit) if more else None)

    def fetch_order_numbers_page(
        self,
        window: TimeWindow,
        *,
        status: AmazonOrderStatus,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> OrderNumbersPage:
        self.faults.check("fetch_order_numbers_page")
        matching = [
            o.purchase_order_number
            for o in sorted(self.orders.values(), key=lambda o: (o.order_date, o.purchase_order_number))
            if window.start <= o.order_date < window.end
            and o.status is status
            and (ship_from_party_id is None or o.ship_from_party_id == ship_from_party_id)
        ]
        start = int(next_token or 0)
        more = start + limit < len(matching)
        return OrderNumbersPage(tuple(matching[start : start + limit]), str(start + limit) if more else None)

    def _new_transaction(self) -> str:
        transaction_id = f"txn-{next(self._ids):06d}"
        self.transactions[transaction_id] = TransactionStatus(transaction_id, TransactionState.SUCCESS)
        return transaction_id


# ------------------------------------------------------------------------------------------------ ledger


@dataclass
class _Row:
    order: LedgerOrder
    updated_at: datetime


@dataclass
class _File:
    record: InboundFile
    received_at: datetime
    updated_at: datetime | None = None


@dataclass
class _Chunk:
    state: ChunkState = ChunkState.PENDING
    transaction_id: str | None = None
    detail: str | None = None


@dataclass
class _Feed:
    feed: InventoryFeed
    chunks: list[_Chunk]
    items: FeedItems


_SUPERSEDED_CHUNKS = {ChunkState.PENDING: ChunkState.CANCELLED, ChunkState.SENDING: ChunkState.UNKNOWN}
_CHUNK_OUTCOMES = {ChunkState.SENT, ChunkState.UNKNOWN, ChunkState.REFUSED, ChunkState.PENDING}


class FakeLedger:
    """The Ledger in dicts, with the same state machine and claim semantics as the SQL ledger."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.orders: dict[tuple[str, str], _Row] = {}
        self.watermarks: dict[tuple[str, str], datetime] = {}
        self.transactions: dict[str, LedgerTransaction] = {}
        self.requests: dict[tuple[str, str], WaitingAcknowledgement] = {}  # acknowledgement requests (orders=0)
        self.files: list[_File] = []
        self.purged: list[tuple[str, PurgedFile]] = []

        self.feeds: dict[int, _Feed] = {}
        self._feed_ids = itertools.count(1)

        self.labels: dict[tuple[str, str], LabelRecord] = {}
        self.slips: dict[tuple[str, str], PackingSlipRecord] = {}
        self.notices: dict[tuple[str, str], CancellationNotice] = {}

        self.stuck_reported: set[str] = set()
        self.shipment_lines: dict[tuple[str, str, str, str, int], ShipmentLine] = {}
        self.faults = Faults()
        self.locked: set[str] = set()
        self.closed = False

    # orders ---------------------------------------------------------------------------------------------

    def record_downloaded(
        self, account: str, orders: Sequence[PurchaseOrder], *, claim_for: str | None = None
    ) -> DownloadOutcome:
        self.faults.check("record_downloaded")
        page = {o.purchase_order_number: o for o in orders}
        new, cancelled, known, claimed = [], [], [], []
        for number, order in page.items():
            is_cancelled = order.status is AmazonOrderStatus.CANCELLED
            row = self.orders.get((account, number))
            if row is None:
                claim = claim_for is not None and not is_cancelled
                state = OrderState.CANCELLED if is_cancelled else OrderState.DOWNLOADED
                if claim:
                    state = states.target(OrderEvent.CLAIM_ACKNOWLEDGEMENT)
                self.orders[(account, number)] = _Row(
                    LedgerOrder(
                        account=account,
                        purchase_order_number=number,
                        selling_party_id=order.selling_party_id,
                        ship_from_party_id=order.ship_from_party_id,
                        order_date=order.order_date,
                        state=state,
                        lines=tuple(replace(line, title=None, gift_message=None) for line in order.lines),
                        required_ship_date=order.required_ship_date,
                        ack_batch=claim_for if claim else None,
                    ),
                    self.clock(),
                )
                new.append(number)
                if is_cancelled:
                    cancelled.append(number)
                if claim:
                    claimed.append(number)
            elif is_cancelled and states.allowed(OrderEvent.CANCEL, row.order.state):
                self._move(account, number, OrderEvent.CANCEL)
                cancelled.append(number)
            else:
                known.append(number)
        if claim_for is not None and claimed:
            self._record_request(account, claim_for, page[claimed[0]].ship_from_party_id)
        return DownloadOutcome(tuple(new), tuple(cancelled), tuple(known), tuple(claimed))

    def load_orders(
        self,
        account: str,
        states: Collection[OrderState],
        *,
        ship_from_party_id: str | None = None,
        purchase_order_numbers: Collection[str] | None = None,
    ) -> list[LedgerOrder]:
        self.faults.check("load_orders")
        wanted = None if purchase_order_numbers is None else set(purchase_order_numbers)
        found = [
            row.order
            for (acct, number), row in self.orders.items()
            if acct == account
            and row.order.state in states
            and (ship_from_party_id is None or row.order.ship_from_party_id == ship_from_party_id)
            and (wanted is None or number in wanted)
        ]
        return sorted(found, key=lambda o: (o.order_date, o.purchase_order_number))

    def mark_acknowledging(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, *, from_batch: str | None = None
    ) -> list[str]:
        self.faults.check("mark_acknowledging")
        event = OrderEvent.CLAIM_ACKNOWLEDGEMENT if from_batch is None else OrderEvent.RECLAIM_ACKNOWLEDGEMENT
        claimed = self._claim(
            account,
            purchase_order_numbers,
            event,
            when=lambda o: from_batch is None or o.ack_batch == from_batch,
            ack_batch=batch,
        )
        if claimed:
            self._record_request(account, batch, self.orders[(account, claimed[0])].order.ship_from_party_id)
        return claimed

    def release_acknowledging(self, account: str, purchase_order_numbers: Collection[str], batch: str) -> list[str]:
        self.faults.check("release_acknowledging")
        released = self._claim(
            account,
            purchase_order_numbers,
            OrderEvent.RELEASE_ACKNOWLEDGEMENT,
            when=lambda o: o.ack_batch == batch,
            ack_batch=None,
        )
        self._set_request(account, batch, RequestState.RELEASED)
        return released

    def mark_acknowledged(
        self, account: str, purchase_order_numbers: Collection[str], transaction_id: str | None
    ) -> None:
        self.faults.check("mark_acknowledged")
        for number in purchase_order_numbers:
            row = self.orders.get((account, number))
            if row is not None and row.order.state is OrderState.ACKNOWLEDGING and row.order.ack_batch:
                self._set_request(account, row.order.ack_batch, RequestState.SENT)
        if transaction_id is not None:
            self._record_transaction(
                account, transaction_id, TransactionKind.ACKNOWLEDGEMENT, list(dict.fromkeys(purchase_order_numbers))
            )
        self._claim(account, purchase_order_numbers, OrderEvent.ACKNOWLEDGE, ack_transaction_id=transaction_id)

    def mark_exporting(self, account: str, purchase_order_numbers: Collection[str], file_name: str) -> list[str]:
        self.faults.check("mark_exporting")
        return self._claim(account, purchase_order_numbers, OrderEvent.CLAIM_EXPORT, export_file=file_name)

    def mark_exported(self, account: str, file_name: str) -> list[str]:
        self.faults.check("mark_exported")
        numbers = [
            o.purchase_order_number
            for o in self.load_orders(account, [OrderState.EXPORTING])
            if o.export_file == file_name
        ]
        return self._claim(account, numbers, OrderEvent.EXPORT)

    def mark_cancelled(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        self.faults.check("mark_cancelled")
        return self._claim(account, purchase_order_numbers, OrderEvent.CANCEL)

    def mark_held(self, account: str, purchase_order_number: str, reason: str) -> None:
        self.faults.check("mark_held")
        row = self.orders.get((account, purchase_order_number))
        if row is None:
            raise DataError(
                f"cannot hold an order the ledger does not know (account {account})", subject=purchase_order_number
            )
        self._move(account, purchase_order_number, OrderEvent.HOLD, held_reason=reason)

    def count_orders(self, account: str | None = None) -> dict[OrderState, int]:
        counts = dict.fromkeys(OrderState, 0)
        for (acct, _), row in self.orders.items():
            if account is None or acct == account:
                counts[row.order.state] += 1
        return counts

    @contextmanager
    def account_lock(self, account: str, *, timeout: float = 600.0) -> Iterator[None]:
        if account in self.locked:
            raise PermanentError(f"account {account} is already locked in this fake")
        self.locked.add(account)
        try:
            yield
        finally:
            self.locked.discard(account)

    # acknowledgement requests ---------------------------------------------------------------------------

    def mark_acknowledgement_sending(self, account: str, request_id: str) -> list[str]:
        self.faults.check("mark_acknowledgement_sending")
        request = self.requests.get((account, request_id))
        if request is None or request.state is not RequestState.CLAIMED:
            return []
        self.requests[(account, request_id)] = replace(request, state=RequestState.SENDING, sending_at=self.clock())
        return [
            o.purchase_order_number
            for o in self.load_orders(account, [OrderState.ACKNOWLEDGING])
            if o.ack_batch == request_id
        ]

    def load_waiting_acknowledgements(
        self, account: str | None = None, *, ship_from_party_id: str | None = None
    ) -> list[WaitingAcknowledgement]:
        self.faults.check("load_waiting_acknowledgements")
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for (acct, _), row in self.orders.items():
            if row.order.state is OrderState.ACKNOWLEDGING and row.order.ack_batch is not None:
                counts[(acct, row.order.ack_batch)] += 1
        waiting = [
            replace(request, orders=counts[key])
            for key, request in self.requests.items()
            if counts.get(key)
            and (account is None or request.account == account)
            and (ship_from_party_id is None or request.ship_from_party_id == ship_from_party_id)
        ]
        return sorted(waiting, key=lambda w: (w.since, w.request_id))

    def _record_request(self, account: str, request_id: str, ship_from: str) -> None:
        self.requests.setdefault(
            (account, request_id),
            WaitingAcknowledgement(account, request_id, ship_from, RequestState.CLAIMED, 0, self.clock()),
        )

    def _set_request(self, account: str, request_id: str, state: RequestState) -> None:
        request = self.requests.get((account, request_id))
        if request is not None:
            self.requests[(account, request_id)] = replace(request, state=state)

    # watermarks -----------------------------------------------------------------------------------------

    def load_watermark(self, account: str, scope: str) -> datetime | None:
        self.faults.check("load_watermark")
        return self.watermarks.get((account, scope))

    def record_watermark(self, account: str, scope: str, value: datetime) -> None:
        self.faults.check("record_watermark")
        current = self.watermarks.get((account, scope))
        if current is None or value > current:
            self.watermarks[(account, scope)] = value

    # transactions ---------------------------------------------------------------------------------------

    def record_transaction(
        self, account: str, transaction_id: str, kind: TransactionKind, subjects: Sequence[str]
    ) -> None:
        self.faults.check("record_transaction")
        self._record_transaction(account, transaction_id, kind, subjects)

    def record_transaction_status(self, status: TransactionStatus) -> None:
        self.faults.check("record_transaction_status")
        known = self.transactions.get(status.transaction_id)
        if known is None:
            raise DataError("status for a transaction the ledger never recorded", subject=status.transaction_id)
        if status.status is TransactionState.PROCESSING and known.status is not TransactionState.PROCESSING:
            return
        errors = tuple(AmazonErrorDetail(e.code, e.message) for e in status.errors)
        self.transactions[status.transaction_id] = replace(
            known, status=status.status, errors=errors, updated_at=self.clock()
        )
        if status.status is not TransactionState.PROCESSING:
            self._settle_inventory_transaction(status)
        if known.kind is TransactionKind.SHIPMENT_CONFIRMATION and status.status is not TransactionState.PROCESSING:
            failed, succeeded = states.settle_confirmation(status, known.subjects)
            carried = lambda o: o.ship_transaction_id == status.transaction_id  # noqa: E731
            self._claim(known.account, succeeded, OrderEvent.CONFIRM, when=carried, ship_errors=None)
            for number, codes in failed.items():
                if self._claim(known.account, [number], OrderEvent.FAIL_CONFIRMATION, when=carried, ship_errors=codes):
                    self._drop_lines(known.account, number)

    def load_transactions(
        self, account: str | None = None, *, pending_only: bool = False
    ) -> list[LedgerTransaction]:
        found = [
            t
            for t in self.transactions.values()
            if (account is None or t.account == account)
            and (not pending_only or t.status is TransactionState.PROCESSING)
        ]
        return sorted(found, key=lambda t: (t.submitted_at or self.clock(), t.transaction_id))

    # inbound files --------------------------------------------------------------------------------------

    def record_file_received(self, account: str, warehouse: str, kind: str, name: str, checksum: str) -> bool:
        self.faults.check("record_file_received")
        if self._file(account, warehouse, name, checksum) is not None:
            return False
        record = InboundFile(account, warehouse, kind, name, checksum, FileOutcome.RECEIVED)
        self.files.append(_File(record, self.clock()))
        return True

    def mark_file(
        self, account: str, warehouse: str, name: str, checksum: str, outcome: FileOutcome, detail: str | None = None
    ) -> None:
        self.faults.check("mark_file")
        found = self._file(account, warehouse, name, checksum)
        if found is None:
            raise DataError(f"file was never recorded as received (warehouse {warehouse})", subject=name)
        found.record = replace(found.record, outcome=FileOutcome(outcome), detail=detail)
        found.updated_at = self.clock()

    def load_files(self, account: str | None = None, warehouse: str | None = None) -> list[InboundFile]:
        found = [
            f
            for f in self.files
            if (account is None or f.record.account == account)
            and (warehouse is None or f.record.warehouse == warehouse)
        ]
        return [f.record for f in reversed(found)]

    def close(self) -> None:
        self.closed = True

    # retention ------------------------------------------------------------------------------------------

    def load_placed_files(self, account: str) -> list[PlacedFile]:
        self.faults.check("load_placed_files")
        exported: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        for (acct, _), row in self.orders.items():
            if acct == account and row.order.export_file:
                exported[(row.order.export_file, row.order.ship_from_party_id)].append(row)
        placed = [
            PlacedFile("orders", "orders", name, max(r.updated_at for r in rows), ship_from_party_id=ship_from)
            for (name, ship_from), rows in exported.items()
            if all(r.order.state is not OrderState.EXPORTING for r in rows)
        ]
        placed.extend(
            PlacedFile(
                f.record.kind,
                "archive" if f.record.outcome is FileOutcome.ARCHIVED else "error",
                f.record.name,
                f.updated_at or f.received_at,
                warehouse=f.record.warehouse,
            )
            for f in self.files
            if f.record.account == account and f.record.outcome in (FileOutcome.ARCHIVED, FileOutcome.QUARANTINED)
        )
        return placed

    def record_purged(self, account: str, purged: Sequence[PurgedFile]) -> None:
        self.faults.check("record_purged")
        self.purged.extend((account, p) for p in purged)

    def load_purged(self, account: str | None = None, since: datetime | None = None) -> list[PurgedFile]:
        return [
            p
            for acct, p in reversed(self.purged)
            if (account is None or acct == account) and (since is None or p.purged_at >= since)
        ]

    # inventory ------------------------------------------------------------------------------------------

    def load_inventory_feed(self, account: str, warehouse: str, file: str, checksum: str) -> InventoryFeed | None:
        self.faults.check("load_inventory_feed")
        found = self._feed_of(account, warehouse, file, checksum)
        return None if found is None else self._view(found)

    def load_inventory_feeds(
        self, account: str | None = None, warehouse: str | None = None, *, states: Collection[FeedState] | None = None
    ) -> list[InventoryFeed]:
        self.faults.check("load_inventory_feeds")
        return [
            self._view(held)
            for _, held in sorted(self.feeds.items(), reverse=True)
            if (account is None or held.feed.account == account)
            and (warehouse is None or held.feed.warehouse == warehouse)
            and (states is None or held.feed.state in states)
        ]

    def load_inventory_baseline(self, account: str, warehouse: str) -> InventoryBaseline:
        self.faults.check("load_inventory_baseline")
        mine = {i: f for i, f in self.feeds.items() if (f.feed.account, f.feed.warehouse) == (account, warehouse)}
        accepted_ids = [i for i, f in mine.items() if f.feed.state is FeedState.ACCEPTED]
        last = max(accepted_ids, default=0)
        parts = [
            _sent_items(f.items)
            for i, f in sorted(mine.items())
            if i > last and f.feed.state not in (FeedState.HELD, FeedState.ACCEPTED)
        ]
        pending = FeedItems(*(tuple(v for part in parts for v in getattr(part, name)) for name in _ITEM_FIELDS))
        if not last:
            return InventoryBaseline(None, EMPTY_FEED_ITEMS, pending)
        return InventoryBaseline(self._view(mine[last]), mine[last].items, pending)

    def record_inventory_feed(
        self, account: str, warehouse: str, file: str, checksum: str, plan: FeedPlan, items: FeedItems
    ) -> InventoryFeed:
        self.faults.check("record_inventory_feed")
        known = self._feed_of(account, warehouse, file, checksum)
        if known is not None and known.feed.state is not FeedState.HELD:
            return self._view(known)
        state = FeedState.HELD if plan.held else FeedState.ACCEPTED if plan.chunks == 0 else FeedState.SENDING
        now = self.clock()
        feed_id = known.feed.feed_id if known is not None else next(self._feed_ids)
        feed = InventoryFeed(
            feed_id=feed_id,
            account=account,
            warehouse=warehouse,
            warehouse_id=plan.warehouse_id,
            file=file,
            checksum=checksum,
            mode=plan.mode,
            state=state,
            forced=plan.forced,
            items=plan.items,
            total_quantity=plan.total_quantity,
            sent_items=plan.sent_items,
            zeros=plan.zeros,
            chunk_states=(),
            transaction_ids=(),
            detail=plan.detail,
            created_at=known.feed.created_at if known is not None else now,
            updated_at=now,
        )
        if state is FeedState.HELD:
            self.feeds[feed_id] = _Feed(feed, [], EMPTY_FEED_ITEMS)
        else:
            chunks = sorted({c for c in items.chunks if c is not None})
            if chunks != list(range(len(chunks))):
                raise DataError("chunks must be numbered from 0 without gaps", subject=file)
            self.feeds[feed_id] = _Feed(feed, [_Chunk() for _ in chunks], items)
            if state is FeedState.ACCEPTED:
                self._after_accept(account, warehouse)
        return self._view(self.feeds[feed_id])

    def claim_inventory_chunk(self, feed_id: int, chunk: int) -> bool:
        self.faults.check("claim_inventory_chunk")
        held = self.feeds[feed_id]
        if held.feed.state is not FeedState.SENDING or held.chunks[chunk].state is not ChunkState.PENDING:
            return False
        held.chunks[chunk].state = ChunkState.SENDING
        return True

    def load_inventory_chunk(self, feed_id: int, chunk: int) -> FeedItems:
        self.faults.check("load_inventory_chunk")
        items = self.feeds[feed_id].items
        rows = [i for i, c in enumerate(items.chunks) if c == chunk]
        return FeedItems(*(tuple(getattr(items, name)[i] for i in rows) for name in _ITEM_FIELDS))

    def mark_inventory_chunk(
        self,
        feed_id: int,
        chunk: int,
        state: ChunkState,
        *,
        transaction_id: str | None = None,
        detail: str | None = None,
    ) -> InventoryFeed:
        self.faults.check("mark_inventory_chunk")
        if state not in _CHUNK_OUTCOMES or (state is ChunkState.SENT) != (transaction_id is not None):
            raise DataError(f"a claimed chunk cannot become {state} like this", subject=f"feed {feed_id}")
        held = self.feeds[feed_id]
        one = held.chunks[chunk]
        if one.state is not ChunkState.SENDING:
            if (one.state, one.transaction_id) == (state, transaction_id):
                return self._view(held)
            raise DataError(f"chunk {chunk} is {one.state}, not in flight", subject=f"inventory feed {feed_id}")
        if transaction_id is not None:
            self._record_transaction(
                held.feed.account, transaction_id, TransactionKind.INVENTORY_UPDATE, [held.feed.warehouse_id]
            )
        one.state, one.transaction_id, one.detail = state, transaction_id, detail
        self._settle_feed(held)
        return self._view(held)

    def supersede_inventory_feed(self, feed_id: int) -> InventoryFeed:
        self.faults.check("supersede_inventory_feed")
        held = self.feeds[feed_id]
        if held.feed.state in (FeedState.SENDING, FeedState.HELD):
            held.feed = replace(held.feed, state=FeedState.SUPERSEDED, updated_at=self.clock())
            for one in held.chunks:
                one.state = _SUPERSEDED_CHUNKS.get(one.state, one.state)
        return self._view(held)

    def _feed_of(self, account: str, warehouse: str, file: str, checksum: str) -> _Feed | None:
        for held in self.feeds.values():
            f = held.feed
            if (f.account, f.warehouse, f.file, f.checksum) == (account, warehouse, file, checksum):
                return held
        return None

    def _view(self, held: _Feed) -> InventoryFeed:
        return replace(
            held.feed,
            chunk_states=tuple(c.state for c in held.chunks),
            transaction_ids=tuple(c.transaction_id for c in held.chunks if c.transaction_id),
        )

    def _set_state(self, held: _Feed, state: FeedState, detail: str | None = None) -> None:
        held.feed = replace(held.feed, state=state, detail=detail or held.feed.detail, updated_at=self.clock())

    def _settle_feed(self, held: _Feed) -> None:
        states_now = {c.state for c in held.chunks}
        if held.feed.state is not FeedState.SENDING or states_now & {ChunkState.PENDING, ChunkState.SENDING}:
            return
        if ChunkState.REFUSED in states_now:
            self._set_state(held, FeedState.FAILED)
        elif states_now & {ChunkState.UNKNOWN, ChunkState.CANCELLED}:
            self._set_state(held, FeedState.UNKNOWN)
        else:
            self._set_state(held, FeedState.SENT)
            self._accept_if_settled(held)

    def _accept_if_settled(self, held: _Feed) -> None:
        outcomes = [self.transactions[c.transaction_id].status for c in held.chunks if c.transaction_id]
        if TransactionState.FAILURE in outcomes:
            self._set_state(held, FeedState.FAILED, "Amazon reported a Failure for one of its transactions")
        elif len(outcomes) == len(held.chunks) and set(outcomes) <= {TransactionState.SUCCESS}:
            if held.feed.state is FeedState.SENT:
                self._set_state(held, FeedState.ACCEPTED)
                self._after_accept(held.feed.account, held.feed.warehouse)

    def _after_accept(self, account: str, warehouse: str) -> None:
        mine = [i for i, f in self.feeds.items() if (f.feed.account, f.feed.warehouse) == (account, warehouse)]
        last = max(i for i in mine if self.feeds[i].feed.state is FeedState.ACCEPTED)
        for i in mine:
            if i < last:
                self.feeds[i].items = EMPTY_FEED_ITEMS

    def _settle_inventory_transaction(self, status: TransactionStatus) -> None:
        for held in self.feeds.values():
            if any(c.transaction_id == status.transaction_id for c in held.chunks):
                if status.status is TransactionState.FAILURE:
                    if held.feed.state not in (FeedState.HELD, FeedState.FAILED):
                        codes = ", ".join(e.code for e in status.errors) or "no error code"
                        self._set_state(
                            held,
                            FeedState.FAILED,
                            f"Amazon reported Failure for transaction {status.transaction_id} ({codes})",
                        )
                elif held.feed.state is FeedState.SENT:
                    self._accept_if_settled(held)
                return

    # labels, packing slips, cancellations -----------------------------------------------------------------

    def claim_labels(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        self.faults.check("claim_labels")
        claimed = []
        for number in dict.fromkeys(purchase_order_numbers):
            row = self.orders.get((account, number))
            if (
                row is None
                or row.order.state not in (OrderState.ACKNOWLEDGED, OrderState.EXPORTED)
                or (account, number) in self.notices
                or (account, number) in self.labels
            ):
                continue
            now = self.clock()
            self.labels[(account, number)] = LabelRecord(
                account, number, row.order.ship_from_party_id, LabelState.REQUESTING, requested_at=now
            )
            claimed.append(number)
        return claimed

    def release_labels(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        self.faults.check("release_labels")
        released = []
        for number in dict.fromkeys(purchase_order_numbers):
            record = self.labels.get((account, number))
            if record is not None and record.state is LabelState.REQUESTING:
                del self.labels[(account, number)]
                released.append(number)
        return released

    def record_labels(self, account: str, labels: Sequence[ShippingLabel]) -> list[str]:
        self.faults.check("record_labels")
        recorded = []
        for label in labels:
            record = self.labels.get((account, label.purchase_order_number))
            if record is None or record.state is not LabelState.REQUESTING:
                continue
            packages = tuple(replace(package, content=b"") for package in label.packages)
            self.labels[(account, label.purchase_order_number)] = replace(
                record,
                state=LabelState.CREATED,
                label_format=label.label_format,
                packages=packages,
                created_at=self.clock(),
            )
            recorded.append(label.purchase_order_number)
        return recorded

    def mark_labels_dropped(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        self.faults.check("mark_labels_dropped")
        moved = []
        for number in dict.fromkeys(purchase_order_numbers):
            record = self.labels.get((account, number))
            if record is not None and record.state is LabelState.CREATED:
                self.labels[(account, number)] = replace(record, state=LabelState.DROPPED, dropped_at=self.clock())
                moved.append(number)
        return moved

    def load_labels(
        self,
        account: str,
        *,
        purchase_order_numbers: Collection[str] | None = None,
        states: Collection[LabelState] | None = None,
        ship_from_party_id: str | None = None,
    ) -> list[LabelRecord]:
        self.faults.check("load_labels")
        wanted = None if purchase_order_numbers is None else set(purchase_order_numbers)
        found = [
            record
            for (acct, number), record in self.labels.items()
            if acct == account
            and (wanted is None or number in wanted)
            and (states is None or record.state in states)
            and (ship_from_party_id is None or record.ship_from_party_id == ship_from_party_id)
        ]
        return sorted(found, key=lambda record: record.purchase_order_number)

    def record_packing_slips_waiting(
        self, account: str, ship_from_party_id: str, purchase_order_numbers: Collection[str], when: datetime
    ) -> list[str]:
        self.faults.check("record_packing_slips_waiting")
        if when.tzinfo is None:
            raise DataError("packing slip first try must be timezone-aware (got a naive datetime)")
        inserted = []
        for number in dict.fromkeys(purchase_order_numbers):
            if (account, number) not in self.slips:
                self.slips[(account, number)] = PackingSlipRecord(
                    account, number, ship_from_party_id, PackingSlipState.WAITING, when
                )
                inserted.append(number)
        return inserted

    def mark_packing_slips(
        self, account: str, purchase_order_numbers: Collection[str], state: PackingSlipState
    ) -> list[str]:
        self.faults.check("mark_packing_slips")
        if state is PackingSlipState.WAITING:
            raise DataError("a packing slip cannot go back to waiting")
        moved = []
        for number in dict.fromkeys(purchase_order_numbers):
            record = self.slips.get((account, number))
            if record is not None and record.state is PackingSlipState.WAITING:
                dropped = self.clock() if state is PackingSlipState.DROPPED else None
                self.slips[(account, number)] = replace(record, state=state, dropped_at=dropped)
                moved.append(number)
        return moved

    def load_packing_slips(
        self,
        account: str,
        *,
        purchase_order_numbers: Collection[str] | None = None,
        states: Collection[PackingSlipState] | None = None,
        ship_from_party_id: str | None = None,
    ) -> list[PackingSlipRecord]:
        self.faults.check("load_packing_slips")
        wanted = None if purchase_order_numbers is None else set(purchase_order_numbers)
        found = [
            record
            for (acct, number), record in self.slips.items()
            if acct == account
            and (wanted is None or number in wanted)
            and (states is None or record.state in states)
            and (ship_from_party_id is None or record.ship_from_party_id == ship_from_party_id)
        ]
        return sorted(found, key=lambda record: record.purchase_order_number)

    def record_cancelled_after_export(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        self.faults.check("record_cancelled_after_export")
        recorded = []
        for number in dict.fromkeys(purchase_order_numbers):
            row = self.orders.get((account, number))
            if row is None or row.order.state is not OrderState.EXPORTED or (account, number) in self.notices:
                continue
            order = row.order
            self.notices[(account, number)] = CancellationNotice(
                account, number, order.ship_from_party_id, order.order_date, order.export_file, self.clock()
            )
            recorded.append(number)
        return recorded

    def claim_cancellation_notices(
        self, account: str, ship_from_party_id: str, file_name: str
    ) -> list[CancellationNotice]:
        self.faults.check("claim_cancellation_notices")
        for key, notice in self.notices.items():
            if notice.account == account and notice.ship_from_party_id == ship_from_party_id and not notice.notice_file:
                self.notices[key] = replace(notice, notice_file=file_name)
        return self._sorted_notices(n for n in self.notices.values() if n.account == account
                                    and n.notice_file == file_name)

    def mark_cancellations_notified(self, account: str, file_name: str) -> list[str]:
        self.faults.check("mark_cancellations_notified")
        moved = []
        for key, notice in self.notices.items():
            if notice.account == account and notice.notice_file == file_name and notice.notified_at is None:
                self.notices[key] = replace(notice, notified_at=self.clock())
                moved.append(notice.purchase_order_number)
        return sorted(moved)

    def load_cancellation_notices(
        self,
        account: str,
        *,
        ship_from_party_id: str | None = None,
        purchase_order_numbers: Collection[str] | None = None,
        pending_only: bool = False,
    ) -> list[CancellationNotice]:
        self.faults.check("load_cancellation_notices")
        wanted = None if purchase_order_numbers is None else set(purchase_order_numbers)
        return self._sorted_notices(
            notice
            for notice in self.notices.values()
            if notice.account == account
            and (ship_from_party_id is None or notice.ship_from_party_id == ship_from_party_id)
            and (wanted is None or notice.purchase_order_number in wanted)
            and (not pending_only or notice.notified_at is None)
        )

    @staticmethod
    def _sorted_notices(notices: Iterable[CancellationNotice]) -> list[CancellationNotice]:
        return sorted(notices, key=lambda n: (n.detected_at, n.order_date, n.purchase_order_number))

    # ops ------------------------------------------------------------------------------------------------

    def mark_transactions_stuck(self, transaction_ids: Collection[str]) -> list[str]:
        self.faults.check("mark_transactions_stuck")
        fresh = [
            t
            for t in dict.fromkeys(transaction_ids)
            if t in self.transactions
            and self.transactions[t].status is TransactionState.PROCESSING
            and t not in self.stuck_reported
        ]
        self.stuck_reported.update(fresh)
        return fresh

    def count_orders_by_warehouse(self, account: str) -> dict[str, dict[OrderState, int]]:
        counts: dict[str, dict[OrderState, int]] = {}
        for (acct, _), row in self.orders.items():
            if acct == account:
                per = counts.setdefault(row.order.ship_from_party_id, dict.fromkeys(OrderState, 0))
                per[row.order.state] += 1
        return counts

    # shipments ------------------------------------------------------------------------------------------

    def record_shipment_lines(self, account: str, warehouse: str, lines: Sequence[ShipmentLine]) -> int:
        self.faults.check("record_shipment_lines")
        new = 0
        for line in lines:
            key = (account, warehouse, line.file, line.checksum, line.row)
            if key not in self.shipment_lines:
                if (account, line.purchase_order_number) not in self.orders:
                    raise DataError("shipment line of an order the ledger does not know", subject=line.file)
                self.shipment_lines[key] = line
                new += 1
        return new

    def load_shipment_lines(
        self,
        account: str,
        *,
        ship_from_party_id: str | None = None,
        states: Collection[OrderState] | None = None,
        purchase_order_numbers: Collection[str] | None = None,
    ) -> list[ShipmentLine]:
        self.faults.check("load_shipment_lines")
        wanted = None if purchase_order_numbers is None else set(purchase_order_numbers)
        found = []
        for (acct, *_), line in self.shipment_lines.items():
            row = self.orders.get((acct, line.purchase_order_number))
            if acct != account or row is None:
                continue
            if ship_from_party_id is not None and row.order.ship_from_party_id != ship_from_party_id:
                continue
            if (states is not None and row.order.state not in states) or (
                wanted is not None and line.purchase_order_number not in wanted
            ):
                continue
            found.append(line)
        return sorted(found, key=lambda line: (line.purchase_order_number, line.file, line.row))

    def mark_confirming(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, *, from_batch: str | None = None
    ) -> list[str]:
        self.faults.check("mark_confirming")
        event = OrderEvent.CLAIM_CONFIRMATION if from_batch is None else OrderEvent.RECLAIM_CONFIRMATION
        return self._claim(
            account,
            purchase_order_numbers,
            event,
            when=lambda o: from_batch is None or o.ship_batch == from_batch,
            ship_batch=batch,
            ship_transaction_id=None,
        )

    def release_confirming(self, account: str, purchase_order_numbers: Collection[str], batch: str) -> list[str]:
        self.faults.check("release_confirming")
        return self._claim(
            account,
            purchase_order_numbers,
            OrderEvent.RELEASE_CONFIRMATION,
            when=lambda o: o.ship_batch == batch,
            ship_batch=None,
        )

    def mark_confirmation_sent(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, transaction_id: str
    ) -> None:
        self.faults.check("mark_confirmation_sent")
        self._record_transaction(
            account,
            transaction_id,
            TransactionKind.SHIPMENT_CONFIRMATION,
            list(dict.fromkeys(purchase_order_numbers)),
        )
        self._claim(
            account,
            purchase_order_numbers,
            OrderEvent.RECLAIM_CONFIRMATION,
            when=lambda o: o.ship_batch == batch,
            ship_transaction_id=transaction_id,
        )

    def mark_confirmed(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        self.faults.check("mark_confirmed")
        return self._claim(account, purchase_order_numbers, OrderEvent.CONFIRM)

    def mark_shipment_held(self, account: str, reasons: Mapping[str, str]) -> list[str]:
        self.faults.check("mark_shipment_held")
        held = []
        for number in sorted(reasons):
            held += self._claim(account, [number], OrderEvent.HOLD_SHIPMENT, held_reason=reasons[number][:500])
        return [number for number in reasons if number in held]

    # helpers --------------------------------------------------------------------------------------------

    def _drop_lines(self, account: str, number: str) -> None:
        for key in [k for k, line in self.shipment_lines.items() if k[0] == account
                    and line.purchase_order_number == number]:
            del self.shipment_lines[key]

    def states(self, account: str) -> dict[str, OrderState]:
        """Each order's state: what tests assert on."""
        return {number: row.order.state for (acct, number), row in self.orders.items() if acct == account}

    def _claim(
        self,
        account: str,
        purchase_order_numbers: Collection[str],
        event: OrderEvent,
        *,
        when: Callable[[LedgerOrder], bool] = lambda _: True,
        **changes: object,
    ) -> list[str]:
        claimed = []
        for number in dict.fromkeys(purchase_order_numbers):
            row = self.orders.get((account, number))
            if row is not None and states.allowed(event, row.order.state) and when(row.order):
                self._move(account, number, event, **changes)
                claimed.append(number)
        return claimed

    def _move(self, account: str, number: str, event: OrderEvent, **changes: object) -> None:
        row = self.orders[(account, number)]
        state = states.apply(event, row.order.state, subject=number)
        row.order = replace(row.order, state=state, **changes)  # type: ignore[arg-type]
        row.updated_at = self.clock()

    def _record_transaction(
        self, account: str, transaction_id: str, kind: TransactionKind, subjects: Sequence[str]
    ) -> None:
        known = self.transactions.get(transaction_id)
        if known is not None:
            if (known.account, known.kind) != (account, kind):
                raise PermanentError(
                    f"transaction is already recorded for account {known.account} as {known.kind}",
                    subject=transaction_id,
                )
            return
        now = self.clock()
        self.transactions[transaction_id] = LedgerTransaction(
            transaction_id, account, kind, tuple(subjects), TransactionState.PROCESSING, (), now, now
        )

    def _file(self, account: str, warehouse: str, name: str, checksum: str) -> _File | None:
        for found in self.files:
            r = found.record
            if (r.account, r.warehouse, r.name, r.checksum) == (account, warehouse, name, checksum):
                return found
        return None


_ITEM_FIELDS = ("keys", "vendor_skus", "asins", "quantities", "chunks")


def _sent_items(items: FeedItems) -> FeedItems:
    rows = [i for i, chunk in enumerate(items.chunks) if chunk is not None]
    return FeedItems(*(tuple(getattr(items, name)[i] for i in rows) for name in _ITEM_FIELDS))


# ------------------------------------------------------------------------------------------------ warehouse


@dataclass
class FakeWarehouseDrop:
    """A warehouse drop as folders of bytes; every write is whole (the real drops upload atomically)."""

    folders: dict[str, dict[str, bytes]] = field(default_factory=lambda: defaultdict(dict))
    faults: Faults = field(default_factory=Faults)
    closed: bool = False
    mtimes: dict[tuple[str, str], float] = field(default_factory=dict)  # set by put(); others: when written
    clock: Callable[[], float] = time.time

    def put(self, folder: Folder, name: str, data: bytes, mtime: float | None = None) -> None:
        """The warehouse drops a file (what a test sets up), optionally with its modification time."""
        self.folders[folder][name] = data
        self.mtimes[(folder, name)] = self.clock() if mtime is None else mtime

    def upload(self, folder: Folder, name: str, data: bytes) -> None:
        self.faults.check("upload")
        self.folders[folder][name] = bytes(data)
        self.mtimes[(folder, name)] = self.clock()

    def upload_many(self, folder: Folder, files: Mapping[str, bytes]) -> None:
        for name, data in files.items():
            self.upload(folder, name, data)

    def list_new(self, folder: Folder, patterns: Sequence[str] = ("*",)) -> list[RemoteFile]:
        self.faults.check("list_new")
        listed = [
            (position, name, data)
            for position, (name, data) in enumerate(self.folders[folder].items())
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
        ]
        for _, name, _ in listed:  # as the real drops do: an unsafe name is quarantined, never offered
            problem = name_problem(name)
            if problem is not None:
                placed = self._move(folder, name, "error", safe_name_for(name)) if addressable(name) else None
                report = unsafe_name_report(name, folder, problem, placed)
                self.upload("error", error_report_name(placed or safe_name_for(name)), report)
        return [
            RemoteFile(folder, name, len(data), float(position))
            for position, name, data in listed
            if name_problem(name) is None
        ]

    def exists(self, folder: Folder, name: str) -> bool:
        self.faults.check("exists")
        return name in self.folders[folder]

    def download(self, folder: Folder, name: str) -> bytes:
        self.faults.check("download")
        try:
            return self.folders[folder][name]
        except KeyError:
            raise PermanentError(f"no file {folder}/{name} on the drop", subject=name) from None

    def archive(self, folder: Folder, name: str) -> str:
        self.faults.check("archive")
        return self._move(folder, name, "archive")

    def quarantine(self, folder: Folder, name: str, report_name: str, report: bytes) -> str:
        self.faults.check("quarantine")
        moved = self._move(folder, name, "error")
        self.folders["error"][report_name] = report
        self.mtimes[("error", report_name)] = self.clock()
        return moved

    def remove_stale_parts(self, folder: Folder, older_than_seconds: float = 3600) -> list[str]:
        return []

    def close(self) -> None:
        self.closed = True

    def list_files(self, folder: Folder) -> list[RemoteFile]:
        self.faults.check("list_files")
        files = [
            RemoteFile(folder, name, len(data), self.mtimes.get((folder, name), self.clock()))
            for name, data in self.folders[folder].items()
            if name_problem(name) is None
        ]
        return sorted(files, key=lambda f: (f.mtime, f.name))

    def delete(self, folder: Folder, name: str) -> bool:
        self.faults.check("delete")
        if name_problem(name) is not None:
            raise PermanentError("not a plain file name", subject=name)
        self.mtimes.pop((folder, name), None)
        return self.folders[folder].pop(name, None) is not None

    def _move(self, folder: Folder, name: str, target: str, as_name: str | None = None) -> str:
        try:
            data = self.folders[folder][name]
        except KeyError:
            raise PermanentError(f"no file {folder}/{name} on the drop", subject=name) from None
        placed = next(candidate for candidate in free_names(as_name or name) if candidate not in self.folders[target])
        self.folders[target][placed] = data
        self.mtimes[(target, placed)] = self.mtimes.pop((folder, name), self.clock())  # a move keeps the mtime
        del self.folders[folder][name]
        return placed
