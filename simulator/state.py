"""The simulator's in-memory Amazon: orders, transactions and Amazon's business rules, behind one lock."""

from __future__ import annotations

import base64
import binascii
import bisect
import heapq
import json
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator import documents, rules
from simulator.config import LABEL_FORMATS, Faults, SimulatorConfig
from simulator.generator import LineSpec, OrderGenerator

ORDER_STATUSES = ("NEW", "ACCEPTED", "SHIPPED", "CANCELLED")
TRANSACTION_STATUSES = ("Processing", "Success", "Failure")
MAX_ORDERS_PER_CALL = 10_000


# Orders model, Address: for "Amazon label only" vendors these shipToParty fields come back as `xxxxx`.
MASKED_ADDRESS_FIELDS = frozenset(
    {"name", "attention", "addressLine1", "addressLine2", "addressLine3", "city", "county", "district", "phone"}
)
MASK = "xxxxx"


class InvalidInput(ValueError):
    """A request parameter Amazon would answer with 400 InvalidInput."""


class Conflict(Exception):
    """What Amazon answers with 409: the resource (a shipping label) already exists."""


class NotAvailable(LookupError):
    """A document Amazon does not have (yet) for a known order: answered 404."""


@dataclass
class _Order:
    key: tuple[datetime, str]
    body: dict[str, Any]  # Order JSON without orderStatus; never mutated after creation
    status: str = "NEW"
    appeared: float = 0.0  # monotonic time the order was created in the simulator

    @property
    def number(self) -> str:
        return self.key[1]

    @property
    def details(self) -> dict[str, Any]:
        details: dict[str, Any] = self.body["orderDetails"]
        return details

    def as_json(self, include_details: bool = True, *, masked: bool = False) -> dict[str, Any]:
        if not include_details:
            return {"purchaseOrderNumber": self.number}
        details = {**self.details, "orderStatus": self.status}
        if masked:
            details["shipToParty"] = {
                key: MASK if key in MASKED_ADDRESS_FIELDS else value for key, value in details["shipToParty"].items()
            }
        return {"purchaseOrderNumber": self.number, "orderDetails": details}


@dataclass
class _Label:
    key: tuple[datetime, str]  # creation time, purchase order number
    body: dict[str, Any]  # ShippingLabel JSON
    tracking: tuple[str, ...]


@dataclass(frozen=True)
class ListQuery:
    """getShippingLabels / getPackingSlips parameters after validation (a creation-time window, paged)."""

    created_after: datetime
    created_before: datetime
    ship_from_party_id: str | None = None
    limit: int = 50
    descending: bool = False
    cursor: tuple[datetime, str] | None = None


@dataclass(frozen=True)
class OrderQuery:
    """getOrders parameters after validation."""

    created_after: datetime
    created_before: datetime
    ship_from_party_id: str | None = None
    status: str | None = None
    limit: int = 50
    descending: bool = False
    include_details: bool = True
    cursor: tuple[datetime, str] | None = None


@dataclass
class _Transaction:
    transaction_id: str
    kind: str
    received_at: datetime
    due: float
    payload: Any
    subjects: tuple[str, ...]
    status: str = "Processing"
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"transactionId": self.transaction_id, "status": self.status}
        if self.status == "Failure":
            # 2021-12-28 types Transaction.errors as ErrorList: an object wrapping the array.
            body["errors"] = {"errors": list(self.errors)}
        return {"transactionStatus": body}


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one request."""

    drop: bool = False
    status: int | None = None
    body: str = "json"  # "json", "empty" or "html"
    delay: float = 0.0


def copy_json(value: Any) -> Any:
    """A deep copy of plain JSON data, so callers cannot change what the state keeps."""
    return json.loads(json.dumps(value))


def _window_indices(keys: Sequence[tuple[datetime, str]], query: ListQuery) -> range:
    if query.descending:
        end = bisect.bisect_left(keys, (query.created_before, ""))
        if query.cursor is not None:
            end = min(end, bisect.bisect_left(keys, query.cursor))
        return range(end - 1, -1, -1)
    start = bisect.bisect_left(keys, (query.created_after, ""))
    if query.cursor is not None:
        start = max(start, bisect.bisect_right(keys, query.cursor))
    return range(start, len(keys))


def _page(
    keys: Sequence[tuple[datetime, str]],
    query: ListQuery,
    pick: Callable[[tuple[datetime, str]], dict[str, Any] | None],
) -> tuple[list[dict[str, Any]], tuple[datetime, str] | None]:
    """One page of the keys inside the window that `pick` turns into items, and the key to continue after (or None)."""
    page: list[dict[str, Any]] = []
    last: tuple[datetime, str] | None = None
    for index in _window_indices(keys, query):
        key = keys[index]
        if not query.created_after <= key[0] < query.created_before:
            break
        item = pick(key)
        if item is None:
            continue
        if len(page) == query.limit:
            return page, last
        page.append(item)
        last = key
    return page, None


def encode_cursor(key: tuple[datetime, str]) -> str:
    raw = json.dumps({"d": key[0].isoformat(), "p": key[1]}, separators=(",", ":")).encode()
    return base64.b64encode(raw).decode("ascii")


def decode_cursor(token: str) -> tuple[datetime, str]:
    try:
        data = json.loads(base64.b64decode(token.encode("ascii"), validate=True))
        moment = datetime.fromisoformat(data["d"])
        number = data["p"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeEncodeError) as exc:
        raise InvalidInput("nextToken is not a token this API returned.") from exc
    if not isinstance(number, str) or moment.tzinfo is None:
        raise InvalidInput("nextToken is not a token this API returned.")
    return moment, number


class SimulatorState:
    """Everything the fake Amazon remembers; every public method takes the lock and first settles due transactions."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._clock = clock
        self._now = wall_clock
        self._lock = threading.RLock()
        self._fault_rng = random.Random(None if config.seed is None else config.seed + 1)
        self._reset_locked()
        self._faults = config.faults()
        self._label_only: set[str] = set(config.label_only_parties)
        self._label_format = config.label_format
        self._slip_delay = config.packing_slip_delay

    def _reset_locked(self) -> None:
        self._generator = OrderGenerator(
            self.config.selling_party_id, self.config.warehouses, self.config.seed, self.config.currency_code
        )
        self._orders: dict[str, _Order] = {}
        self._keys: list[tuple[datetime, str]] = []
        self._transactions: dict[str, _Transaction] = {}
        self._due: list[tuple[float, int, str]] = []
        self._sequence = 0
        self._acks: dict[str, list[dict[str, Any]]] = {}
        self._confirmations: dict[str, list[dict[str, Any]]] = {}
        self._stock: dict[str, dict[str, dict[str, Any]]] = {wh: {} for wh in self.config.warehouses}
        self._inventory_updates: Counter[str] = Counter()
        self._log: deque[dict[str, Any]] = deque(maxlen=100_000)
        self._labels: dict[str, _Label] = {}
        self._label_keys: list[tuple[datetime, str]] = []
        self._label_conflicts: Counter[str] = Counter()
        self._label_rng = random.Random(None if self.config.seed is None else self.config.seed + 2)
        self._slips: dict[str, str] = {}  # base64 PDFs, made on first request

    def reset(self) -> None:
        """Forget orders, transactions, acknowledgements, confirmations, stock and the request log (not tokens)."""
        with self._lock:
            self._reset_locked()

    # ---- orders ---------------------------------------------------------------------------------------------

    def create_orders(
        self,
        count: int,
        ship_from_party_id: str | None = None,
        created_at: datetime | None = None,
        lines: int | Sequence[LineSpec] | None = None,
        ship_to: Mapping[str, str] | None = None,
    ) -> list[str]:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ORDERS_PER_CALL:
            raise ValueError(f"count must be an integer between 1 and {MAX_ORDERS_PER_CALL}")
        if ship_from_party_id is not None and ship_from_party_id not in self.config.warehouses:
            raise ValueError(f"ship_from_party_id {ship_from_party_id!r} is not one of {list(self.config.warehouses)}")
        if created_at is not None and created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        if isinstance(lines, int) and not 1 <= lines <= 50:
            raise ValueError("lines must be between 1 and 50")
        if isinstance(lines, Sequence) and not 1 <= len(lines) <= 50:
            raise ValueError("lines must hold between 1 and 50 line specs")
        with self._lock:
            self._settle_locked()
            moment = (created_at or self._now()).astimezone(UTC)
            # orderDate carries milliseconds; the sort key must equal what clients read back.
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            numbers = []
            for _ in range(count):
                number = self._generator.purchase_order_number()
                while number in self._orders:
                    number = self._generator.purchase_order_number()
                body = self._generator.order(number, moment, ship_from_party_id, lines, ship_to)
                order = _Order((moment, number), body, appeared=self._clock())
                self._orders[number] = order
                bisect.insort(self._keys, order.key)
                numbers.append(number)
            return numbers

    def cancel_order(self, number: str) -> str:
        """Amazon cancels an order (the customer did); a shipped order cannot be cancelled."""
        with self._lock:
            self._settle_locked()
            order = self._orders.get(number)
            if order is None:
                raise KeyError(number)
            if order.status == "SHIPPED":
                raise ValueError(f"order {number} has shipped and cannot be cancelled")
            order.status = "CANCELLED"
            return order.status

    def order(self, number: str) -> dict[str, Any] | None:
        with self._lock:
            self._settle_locked()
            order = self._orders.get(number)
            return None if order is None else order.as_json(masked=self._masked(order))

    def _masked(self, order: _Order) -> bool:
        return bool(order.details["sellingParty"]["partyId"] in self._label_only)

    def order_status(self, number: str) -> str | None:
        with self._lock:
            self._settle_locked()
            order = self._orders.get(number)
            return None if order is None else order.status

    def orders_page(self, query: OrderQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page and the token of the next one; keyed by (orderDate, PO) so later orders never shift pages."""
        with self._lock:
            self._settle_locked()
            keys = self._keys
            if query.descending:
                end = bisect.bisect_left(keys, (query.created_before, ""))
                if query.cursor is not None:
                    end = min(end, bisect.bisect_left(keys, query.cursor))
                indices: range = range(end - 1, -1, -1)
            else:
                start = bisect.bisect_left(keys, (query.created_after, ""))
                if query.cursor is not None:
                    start = max(start, bisect.bisect_right(keys, query.cursor))
                indices = range(start, len(keys))
            picked: list[_Order] = []
            more = False
            for index in indices:
                moment, number = keys[index]
                if not query.created_after <= moment < query.created_before:
                    break
                order = self._orders[number]
                if query.status is not None and order.status != query.status:
                    continue
                if query.ship_from_party_id is not None and (
                    order.details["shipFromParty"]["partyId"] != query.ship_from_party_id
                ):
                    continue
                if len(picked) == query.limit:
                    more = True
                    break
                picked.append(order)
            page = [order.as_json(query.include_details, masked=self._masked(order)) for order in picked]
            token = encode_cursor(picked[-1].key) if more else None
            return page, token

    # ---- asynchronous writes ----------------------------------------------------------------------------------

    def submit_acknowledgements(self, items: Sequence[Mapping[str, Any]]) -> str:
        with self._lock:
            self._settle_locked()
            transaction = self._new_transaction(
                "acknowledgement", list(items), [i["purchaseOrderNumber"] for i in items]
            )
            for item in items:
                self._acks.setdefault(item["purchaseOrderNumber"], []).append(
                    {
                        "transactionId": transaction.transaction_id,
                        "receivedAt": transaction.received_at.isoformat(),
                        "vendorOrderNumber": item["vendorOrderNumber"],
                        "acknowledgementCode": item["acknowledgementStatus"].get("code"),
                        "items": [
                            {
                                "itemSequenceNumber": line["itemSequenceNumber"],
                                "amount": line["acknowledgedQuantity"].get("amount"),
                            }
                            for line in item["itemAcknowledgements"]
                        ],
                        "result": "Processing",
                        "errors": [],
                    }
                )
            return transaction.transaction_id

    def submit_confirmations(self, items: Sequence[Mapping[str, Any]]) -> str:
        with self._lock:
            self._settle_locked()
            transaction = self._new_transaction(
                "shipment_confirmation", list(items), [i["purchaseOrderNumber"] for i in items]
            )
            for item in items:
                containers = item.get("containers") or []
                self._confirmations.setdefault(item["purchaseOrderNumber"], []).append(
                    {
                        "transactionId": transaction.transaction_id,
                        "receivedAt": transaction.received_at.isoformat(),
                        "shipmentStatus": item["shipmentDetails"]["shipmentStatus"],
                        "shippedDate": item["shipmentDetails"]["shippedDate"],
                        "items": [
                            {
                                "itemSequenceNumber": line["itemSequenceNumber"],
                                "amount": line["shippedQuantity"]["amount"],
                            }
                            for line in item["items"]
                        ],
                        "containers": len(containers),
                        "trackingNumbers": [c["trackingNumber"] for c in containers if c.get("trackingNumber")],
                        "result": "Processing",
                        "errors": [],
                    }
                )
            return transaction.transaction_id

    def submit_inventory(self, warehouse_id: str, inventory: Mapping[str, Any]) -> str:
        with self._lock:
            self._settle_locked()
            return self._new_transaction("inventory_update", (warehouse_id, inventory), [warehouse_id]).transaction_id

    def transaction(self, transaction_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._settle_locked()
            transaction = self._transactions.get(transaction_id)
            return None if transaction is None else transaction.as_json()

    def _new_transaction(self, kind: str, payload: Any, subjects: Sequence[str]) -> _Transaction:
        received = self._now()
        transaction_id = f"{received:%Y%m%d%H%M%S}-{uuid.uuid4()}"
        transaction = _Transaction(
            transaction_id, kind, received, self._clock() + self.config.transaction_delay, payload, tuple(subjects)
        )
        self._transactions[transaction_id] = transaction
        self._sequence += 1
        heapq.heappush(self._due, (transaction.due, self._sequence, transaction_id))
        return transaction

    def settle(self) -> None:
        with self._lock:
            self._settle_locked()

    def _settle_locked(self) -> None:
        # Due transactions are judged in arrival order against the state at that moment, as Amazon would.
        now = self._clock()
        while self._due and self._due[0][0] <= now:
            _, _, transaction_id = heapq.heappop(self._due)
            transaction = self._transactions[transaction_id]
            if transaction.kind == "acknowledgement":
                errors = self._apply_acknowledgements(transaction)
            elif transaction.kind == "shipment_confirmation":
                errors = self._apply_confirmations(transaction)
            else:
                errors = self._apply_inventory(transaction)
            transaction.errors = errors
            transaction.status = "Failure" if errors else "Success"

    # ---- Amazon's business rules --------------------------------------------------------------------------------

    def _apply_acknowledgements(self, transaction: _Transaction) -> list[dict[str, str]]:
        errors: list[dict[str, str]] = []
        for item in transaction.payload:
            number = item["purchaseOrderNumber"]
            order = self._orders.get(number)
            details, status = (order.details, order.status) if order else (None, None)
            problems = rules.acknowledgement_problems(details, status, item)
            if not problems:
                code = item["acknowledgementStatus"].get("code")
                self._orders[number].status = "ACCEPTED" if code == "00" else "CANCELLED"
            self._record_result(self._acks, number, transaction.transaction_id, problems)
            errors.extend(problems)
        return errors

    def _apply_confirmations(self, transaction: _Transaction) -> list[dict[str, str]]:
        errors: list[dict[str, str]] = []
        for item in transaction.payload:
            number = item["purchaseOrderNumber"]
            order = self._orders.get(number)
            details, status = (order.details, order.status) if order else (None, None)
            label = self._labels.get(number)
            issued = label.tracking if label is not None else None
            problems = rules.confirmation_problems(details, status, item, transaction.received_at, issued)
            if not problems:
                shipped = item["shipmentDetails"]["shipmentStatus"] == "SHIPPED"
                self._orders[number].status = "SHIPPED" if shipped else "CANCELLED"
            self._record_result(self._confirmations, number, transaction.transaction_id, problems)
            errors.extend(problems)
        return errors

    def _record_result(
        self, records: dict[str, list[dict[str, Any]]], number: str, transaction_id: str, problems: list[dict[str, str]]
    ) -> None:
        for record in records.get(number, ()):
            if record["transactionId"] == transaction_id and record["result"] == "Processing":
                record["result"] = "Failure" if problems else "Success"
                record["errors"] = [p["code"] for p in problems]
                return

    def _apply_inventory(self, transaction: _Transaction) -> list[dict[str, str]]:
        warehouse_id, inventory = transaction.payload
        stock, problems = rules.apply_inventory(
            self._stock.get(warehouse_id), self.config.selling_party_id, warehouse_id, inventory
        )
        if stock is not None:
            self._stock[warehouse_id] = stock
            self._inventory_updates[warehouse_id] += 1
        return problems

    # ---- shipping labels and packing slips (synchronous, restricted) ----------------------------------------------

    def create_shipping_labels(self, number: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """createShippingLabels: one label per container (one for the whole order without containers).

        KeyError for an unknown order, Conflict when the order has labels already, InvalidInput when refused.
        """
        with self._lock:
            self._settle_locked()
            order = self._orders.get(number)
            if order is None:
                raise KeyError(number)
            if number in self._labels:
                self._label_conflicts[number] += 1
                raise Conflict(
                    f"Shipping labels already exist for purchase order {number}; read them with getShippingLabel."
                )
            problems = rules.label_request_problems(order.details, order.status, number, body)
            if problems:
                raise InvalidInput(" ".join(problems))
            details = order.details
            ship_method = details["shipmentDetails"]["shipMethod"]
            containers: list[Mapping[str, Any] | None] = list(body.get("containers") or []) or [None]
            label_data = []
            for index, container in enumerate(containers, start=1):
                package = f"{index:03d}"
                tracking = documents.tracking_number(ship_method, self._label_rng)
                if self._label_format == "ZPL":
                    content = documents.zpl_label(
                        purchase_order_number=number,
                        ship_from_party_id=details["shipFromParty"]["partyId"],
                        selling_party_id=details["sellingParty"]["partyId"],
                        ship_to=details["shipToParty"],  # Amazon prints the real address, masked or not
                        ship_method=ship_method,
                        tracking=tracking,
                        package=package,
                        packages=len(containers),
                        weight=container["weight"] if container else None,
                    )
                else:
                    content = documents.png_label(tracking)
                label_data.append(
                    {
                        "packageIdentifier": package,
                        "trackingNumber": tracking,
                        "shipMethod": ship_method,
                        "shipMethodName": documents.ship_method_name(ship_method),
                        "content": base64.b64encode(content).decode("ascii"),
                    }
                )
            label_body = {
                "purchaseOrderNumber": number,
                "sellingParty": {"partyId": details["sellingParty"]["partyId"]},
                "shipFromParty": {"partyId": details["shipFromParty"]["partyId"]},
                "labelFormat": self._label_format,
                "labelData": label_data,
            }
            created = self._now().astimezone(UTC)
            label = _Label((created, number), label_body, tuple(item["trackingNumber"] for item in label_data))
            self._labels[number] = label
            bisect.insort(self._label_keys, label.key)
            return copy_json(label_body)

    def shipping_label(self, number: str) -> dict[str, Any] | None:
        """getShippingLabel: the labels created for an order, or None."""
        with self._lock:
            self._settle_locked()
            label = self._labels.get(number)
            return None if label is None else copy_json(label.body)

    def shipping_labels_page(self, query: ListQuery) -> tuple[list[dict[str, Any]], str | None]:
        """getShippingLabels: labels created in the window, paged by (creation time, purchase order number)."""
        with self._lock:
            self._settle_locked()

            def pick(key: tuple[datetime, str]) -> dict[str, Any] | None:
                label = self._labels[key[1]]
                wanted = query.ship_from_party_id
                if wanted is not None and label.body["shipFromParty"]["partyId"] != wanted:
                    return None
                return copy_json(label.body)

            page, last = _page(self._label_keys, query, pick)
            return page, None if last is None else encode_cursor(last)

    def packing_slip(self, number: str) -> dict[str, Any]:
        """getPackingSlip: KeyError for an unknown order, NotAvailable when none is required or it is not ready."""
        with self._lock:
            self._settle_locked()
            order = self._orders.get(number)
            if order is None:
                raise KeyError(number)
            if not order.details["shipmentDetails"].get("isPslipRequired"):
                raise NotAvailable(f"Purchase order {number} does not require a packing slip.")
            if self._clock() < order.appeared + self._slip_delay:
                raise NotAvailable(f"The packing slip for purchase order {number} is not available yet.")
            return self._slip_json(order)

    def packing_slips_page(self, query: ListQuery) -> tuple[list[dict[str, Any]], str | None]:
        """getPackingSlips: slips that became available in the window (an order's time plus the slip delay)."""
        with self._lock:
            self._settle_locked()
            delay = timedelta(seconds=self._slip_delay)
            now = self._clock()
            shifted = replace(
                query,
                created_after=query.created_after - delay,
                created_before=query.created_before - delay,
                cursor=None if query.cursor is None else (query.cursor[0] - delay, query.cursor[1]),
            )

            def pick(key: tuple[datetime, str]) -> dict[str, Any] | None:
                order = self._orders[key[1]]
                shipment = order.details["shipmentDetails"]
                if not shipment.get("isPslipRequired") or now < order.appeared + self._slip_delay:
                    return None
                wanted = query.ship_from_party_id
                if wanted is not None and order.details["shipFromParty"]["partyId"] != wanted:
                    return None
                return self._slip_json(order)

            page, last = _page(self._keys, shifted, pick)
            return page, None if last is None else encode_cursor((last[0] + delay, last[1]))

    def _slip_json(self, order: _Order) -> dict[str, Any]:
        number = order.number
        if number not in self._slips:
            pdf = documents.packing_slip_pdf(order.body)
            self._slips[number] = base64.b64encode(pdf).decode("ascii")
        return {"purchaseOrderNumber": number, "content": self._slips[number], "contentType": "application/pdf"}

    # ---- settings ---------------------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {
                "label_only_parties": sorted(self._label_only),
                "label_format": self._label_format,
                "packing_slip_delay": self._slip_delay,
            }

    def update_settings(
        self,
        *,
        label_only_parties: Sequence[str] | None = None,
        label_format: str | None = None,
        packing_slip_delay: float | None = None,
    ) -> dict[str, Any]:
        """Change the label-only parties, the label format or the packing slip delay (admin API)."""
        if label_format is not None and label_format not in LABEL_FORMATS:
            raise ValueError(f"label_format must be one of {', '.join(LABEL_FORMATS)}")
        if packing_slip_delay is not None and packing_slip_delay < 0:
            raise ValueError("packing_slip_delay must not be negative")
        with self._lock:
            if label_only_parties is not None:
                self._label_only = {str(party) for party in label_only_parties}
            if label_format is not None:
                self._label_format = label_format
            if packing_slip_delay is not None:
                self._slip_delay = float(packing_slip_delay)
        return self.settings()

    # ---- inspection -----------------------------------------------------------------------------------------

    def labels(self) -> dict[str, dict[str, Any]]:
        """Every order with labels: when created, its tracking numbers and how many createShippingLabels hit 409."""
        with self._lock:
            return {
                number: {
                    "createdAt": label.key[0].isoformat(),
                    "trackingNumbers": list(label.tracking),
                    "labelFormat": label.body["labelFormat"],
                    "conflicts": self._label_conflicts[number],
                }
                for number, label in self._labels.items()
            }

    def acknowledgements(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            self._settle_locked()
            return {number: [dict(r) for r in records] for number, records in self._acks.items()}

    def confirmations(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            self._settle_locked()
            return {number: [dict(r) for r in records] for number, records in self._confirmations.items()}

    def inventory(self, warehouse_id: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            self._settle_locked()
            return {key: dict(value) for key, value in self._stock.get(warehouse_id, {}).items()}

    def summary(self) -> dict[str, Any]:
        with self._lock:
            self._settle_locked()
            by_status = Counter(order.status for order in self._orders.values())
            by_transaction = Counter(t.status for t in self._transactions.values())
            return {
                "orders": {"total": len(self._orders), "by_status": {s: by_status[s] for s in ORDER_STATUSES}},
                "acknowledgements": sum(len(records) for records in self._acks.values()),
                "confirmations": sum(len(records) for records in self._confirmations.values()),
                "inventory": {
                    warehouse: {
                        "skus": len(stock),
                        "available_skus": sum(1 for item in stock.values() if item["availableQuantity"] > 0),
                        "units": sum(item["availableQuantity"] for item in stock.values()),
                        "updates": self._inventory_updates[warehouse],
                    }
                    for warehouse, stock in self._stock.items()
                },
                "transactions": {
                    "total": len(self._transactions),
                    "by_status": {s: by_transaction[s] for s in TRANSACTION_STATUSES},
                },
                "labels": len(self._labels),
                "faults": self._faults.as_dict(),
                "requests": len(self._log),
            }

    # ---- request log and faults -------------------------------------------------------------------------------

    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    def requests(
        self, operation: str | None = None, method: str | None = None, status: int | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(entry)
                for entry in self._log
                if (operation is None or entry["operation"] == operation)
                and (method is None or entry["method"] == method)
                and (status is None or entry["status"] == status)
            ]

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    def plan_fault(self) -> FaultPlan:
        with self._lock:
            faults, rng = self._faults, self._fault_rng
            if faults.drop_rate and rng.random() < faults.drop_rate:
                return FaultPlan(drop=True)
            delay = faults.slow_seconds if faults.slow_rate and rng.random() < faults.slow_rate else 0.0
            if faults.error_rate and rng.random() < faults.error_rate:
                return FaultPlan(
                    status=rng.choice(faults.statuses), body=rng.choice(("json", "json", "empty", "html")), delay=delay
                )
            return FaultPlan(delay=delay)
