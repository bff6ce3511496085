"""In-memory fakes of the ports (VendorApi, Ledger, WarehouseDrop) for the fast unit tier: no sockets, no Prefect.

They implement the same Protocols as the real adapters and follow the same rules (the ledger applies the order
state machine of tasks.core.states), so flow decisions can be tested in milliseconds. Faults are injected by
queueing exceptions per operation (`fail(operation, exc, times)`), never by patching.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from tasks.core import states
from tasks.core.errors import DataError, NotFoundError, PermanentError, RequestRefusedError
from tasks.core.models import (
    AmazonErrorDetail,
    AmazonOrderStatus,
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
    TransactionState,
    TransactionStatus,
)
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
    ) -> OrderPage:
        self.faults.check("fetch_orders_page")
        matching = sorted(
            (
                o
                for o in self.orders.values()
                if window.start <= o.order_date < window.end
                and (ship_from_party_id is None or o.ship_from_party_id == ship_from_party_id)
            ),
            key=lambda o: (o.order_date, o.purchase_order_number),
        )
        start = int(next_token or 0)
        page = matching[start : start + limit]
        more = start + limit < len(matching)
        return OrderPage(tuple(page), str(start + limit) if more else None)

    def fetch_order(self, purchase_order_number: str) -> PurchaseOrder:
        self.faults.check("fetch_order")
        try:
            return self.orders[purchase_order_number]
        except KeyError:
            raise NotFoundError("Amazon does not know this order", subject=purchase_order_number) from None

    def submit_acknowledgements(self, acknowledgements: Sequence[OrderAcknowledgement]) -> str:
        self.faults.check("submit_acknowledgements")
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


class FakeLedger:
    """The Ledger in dicts, with the same state machine and claim semantics as the SQL ledger."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.orders: dict[tuple[str, str], _Row] = {}
        self.watermarks: dict[tuple[str, str], datetime] = {}
        self.transactions: dict[str, LedgerTransaction] = {}
        self.files: list[_File] = []
        self.shipment_lines: dict[tuple[str, str, str, str, int], ShipmentLine] = {}
        self.faults = Faults()
        self.locked: set[str] = set()
        self.closed = False

    # orders ---------------------------------------------------------------------------------------------

    def record_downloaded(self, account: str, orders: Sequence[PurchaseOrder]) -> DownloadOutcome:
        self.faults.check("record_downloaded")
        page = {o.purchase_order_number: o for o in orders}
        new, cancelled, known = [], [], []
        for number, order in page.items():
            is_cancelled = order.status is AmazonOrderStatus.CANCELLED
            row = self.orders.get((account, number))
            if row is None:
                self.orders[(account, number)] = _Row(
                    LedgerOrder(
                        account=account,
                        purchase_order_number=number,
                        selling_party_id=order.selling_party_id,
                        ship_from_party_id=order.ship_from_party_id,
                        order_date=order.order_date,
                        state=OrderState.CANCELLED if is_cancelled else OrderState.DOWNLOADED,
                        lines=tuple(replace(line, title=None, gift_message=None) for line in order.lines),
                        required_ship_date=order.required_ship_date,
                    ),
                    self.clock(),
                )
                new.append(number)
                if is_cancelled:
                    cancelled.append(number)
            elif is_cancelled and states.allowed(OrderEvent.CANCEL, row.order.state):
                self._move(account, number, OrderEvent.CANCEL)
                cancelled.append(number)
            else:
                known.append(number)
        return DownloadOutcome(tuple(new), tuple(cancelled), tuple(known))

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
        return self._claim(
            account,
            purchase_order_numbers,
            event,
            when=lambda o: from_batch is None or o.ack_batch == from_batch,
            ack_batch=batch,
        )

    def release_acknowledging(self, account: str, purchase_order_numbers: Collection[str], batch: str) -> list[str]:
        self.faults.check("release_acknowledging")
        return self._claim(
            account,
            purchase_order_numbers,
            OrderEvent.RELEASE_ACKNOWLEDGEMENT,
            when=lambda o: o.ack_batch == batch,
            ack_batch=None,
        )

    def mark_acknowledged(
        self, account: str, purchase_order_numbers: Collection[str], transaction_id: str | None
    ) -> None:
        self.faults.check("mark_acknowledged")
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


# ------------------------------------------------------------------------------------------------ warehouse


@dataclass
class FakeWarehouseDrop:
    """A warehouse drop as folders of bytes; every write is whole (the real drops upload atomically)."""

    folders: dict[str, dict[str, bytes]] = field(default_factory=lambda: defaultdict(dict))
    faults: Faults = field(default_factory=Faults)
    closed: bool = False

    def put(self, folder: Folder, name: str, data: bytes) -> None:
        """The warehouse drops a file (what a test sets up)."""
        self.folders[folder][name] = data

    def upload(self, folder: Folder, name: str, data: bytes) -> None:
        self.faults.check("upload")
        self.folders[folder][name] = bytes(data)

    def list_new(self, folder: Folder, patterns: Sequence[str] = ("*",)) -> list[RemoteFile]:
        self.faults.check("list_new")
        return [
            RemoteFile(folder, name, len(data), float(position))
            for position, (name, data) in enumerate(self.folders[folder].items())
            if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
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
        return moved

    def remove_stale_parts(self, folder: Folder, older_than_seconds: float = 3600) -> list[str]:
        return []

    def close(self) -> None:
        self.closed = True

    def _move(self, folder: Folder, name: str, target: str) -> str:
        data = self.download(folder, name)
        placed, n = name, 1
        while placed in self.folders[target]:
            n += 1
            placed = f"{name}-{n}"
        self.folders[target][placed] = data
        del self.folders[folder][name]
        return placed
