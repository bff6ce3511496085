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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.simulator.config import Faults, SimulatorConfig
from adapters.simulator.generator import LineSpec, OrderGenerator
from adapters.simulator.schema import parse_datetime

ORDER_STATUSES = ("NEW", "ACCEPTED", "SHIPPED", "CANCELLED")
TRANSACTION_STATUSES = ("Processing", "Success", "Failure")
# Amazon's two-digit acknowledgement codes (VDF use-case guide); 00 accepts, the others reject the order.
ACK_CODES = frozenset(
    {"00", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "20", "21", "22"}
    | {"50", "51", "53", "54", "55", "56", "71"}
)
SHIPPED_DATE_TOLERANCE = timedelta(seconds=5)
MAX_ORDERS_PER_CALL = 10_000


class InvalidInput(ValueError):
    """A request parameter Amazon would answer with 400 InvalidInput."""


@dataclass
class _Order:
    key: tuple[datetime, str]
    body: dict[str, Any]  # Order JSON without orderStatus; never mutated after creation
    status: str = "NEW"

    @property
    def number(self) -> str:
        return self.key[1]

    @property
    def details(self) -> dict[str, Any]:
        details: dict[str, Any] = self.body["orderDetails"]
        return details

    def as_json(self, include_details: bool = True) -> dict[str, Any]:
        if not include_details:
            return {"purchaseOrderNumber": self.number}
        return {"purchaseOrderNumber": self.number, "orderDetails": {**self.details, "orderStatus": self.status}}


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


def _error(code: str, message: str, details: str) -> dict[str, str]:
    return {"code": code, "message": message, "details": details}


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
                body = self._generator.order(number, moment, ship_from_party_id, lines)
                order = _Order((moment, number), body)
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
            return None if order is None else order.as_json()

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
            page = [order.as_json(query.include_details) for order in picked]
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
            problems = self._acknowledgement_problems(item)
            if not problems:
                code = item["acknowledgementStatus"].get("code")
                self._orders[number].status = "ACCEPTED" if code == "00" else "CANCELLED"
            self._record_result(self._acks, number, transaction.transaction_id, problems)
            errors.extend(problems)
        return errors

    def _acknowledgement_problems(self, item: Mapping[str, Any]) -> list[dict[str, str]]:
        number = item["purchaseOrderNumber"]
        order = self._orders.get(number)
        where = f"purchaseOrderNumber={number}"
        if order is None:
            return [_error("INVALID_ORDER_ID", "Invalid order ID.", where)]
        problems = self._party_problems(order, item, where)
        if order.status == "CANCELLED":
            problems.append(_error("ORDER_CANCELLED", f"Order {number} is cancelled.", where))
        elif order.status in ("ACCEPTED", "SHIPPED"):
            problems.append(_error("DUPLICATE_ACKNOWLEDGEMENT", f"Order {number} was already acknowledged.", where))
        code = item["acknowledgementStatus"].get("code")
        if code not in ACK_CODES:
            problems.append(
                _error("INVALID_ACKNOWLEDGEMENT_CODE", f"Acknowledgement code {code!r} is not valid.", where)
            )
        lines = [
            (line["itemSequenceNumber"], line, line["acknowledgedQuantity"].get("amount"))
            for line in item["itemAcknowledgements"]
        ]
        problems.extend(self._line_problems(order, lines, where, exact=True))
        return problems

    def _apply_confirmations(self, transaction: _Transaction) -> list[dict[str, str]]:
        errors: list[dict[str, str]] = []
        for item in transaction.payload:
            number = item["purchaseOrderNumber"]
            problems = self._confirmation_problems(item, transaction.received_at)
            if not problems:
                shipped = item["shipmentDetails"]["shipmentStatus"] == "SHIPPED"
                self._orders[number].status = "SHIPPED" if shipped else "CANCELLED"
            self._record_result(self._confirmations, number, transaction.transaction_id, problems)
            errors.extend(problems)
        return errors

    def _confirmation_problems(self, item: Mapping[str, Any], received_at: datetime) -> list[dict[str, str]]:
        number = item["purchaseOrderNumber"]
        order = self._orders.get(number)
        where = f"purchaseOrderNumber={number}"
        if order is None:
            return [_error("INVALID_ORDER_ID", "Invalid order ID.", where)]
        problems = self._party_problems(order, item, where)
        if order.status == "NEW":
            problems.append(_error("ORDER_NOT_ACKNOWLEDGED", f"Order {number} has not been acknowledged.", where))
        elif order.status == "CANCELLED":
            problems.append(_error("ORDER_CANCELLED", f"Order {number} is cancelled.", where))
        elif order.status == "SHIPPED":
            problems.append(_error("DUPLICATE_SHIPMENT_CONFIRMATION", f"Order {number} was already confirmed.", where))
        shipped_date = parse_datetime(item["shipmentDetails"]["shippedDate"])
        if shipped_date is not None and shipped_date > received_at + SHIPPED_DATE_TOLERANCE:
            problems.append(_error("INVALID_SHIPPED_DATE", "shippedDate cannot be in the future.", where))
        lines = [(str(line["itemSequenceNumber"]), line, line["shippedQuantity"]["amount"]) for line in item["items"]]
        problems.extend(self._line_problems(order, lines, where, exact=False))
        if item["shipmentDetails"]["shipmentStatus"] == "SHIPPED":
            problems.extend(self._container_problems(item, lines, where))
        return problems

    def _container_problems(
        self, item: Mapping[str, Any], lines: Sequence[tuple[str, Mapping[str, Any], Any]], where: str
    ) -> list[dict[str, str]]:
        number = item["purchaseOrderNumber"]
        containers = item.get("containers") or []
        packed: Counter[str] = Counter()
        for container in containers:
            for packed_item in container["packedItems"]:
                packed[str(packed_item["itemSequenceNumber"])] += packed_item["packedQuantity"]["amount"]
        if not containers or not sum(packed.values()):
            # Real transactions fail this way when containers are left out (selling-partner-api-models #178).
            return [
                _error(
                    "EMPTY_PACKAGES",
                    f"Request Rejected: Order ID {number} has empty packages.",
                    "Please add packages and try again.",
                )
            ]
        problems = []
        if any(not container.get("shipMethod") for container in containers):
            problems.append(_error("MISSING_SHIP_METHOD", "shipMethod is required on every container.", where))
        shipped = {sequence: amount for sequence, _, amount in lines}
        if dict(packed) != {k: v for k, v in shipped.items() if v}:
            problems.append(
                _error("PACKED_QUANTITY_MISMATCH", "Packed quantities do not match shipped quantities.", where)
            )
        return problems

    def _party_problems(self, order: _Order, item: Mapping[str, Any], where: str) -> list[dict[str, str]]:
        problems = []
        if item["sellingParty"]["partyId"] != order.details["sellingParty"]["partyId"]:
            problems.append(_error("INVALID_SELLING_PARTY", "sellingParty does not match the order.", where))
        if item["shipFromParty"]["partyId"] != order.details["shipFromParty"]["partyId"]:
            problems.append(_error("INVALID_SHIP_FROM_PARTY", "shipFromParty does not match the order.", where))
        return problems

    def _line_problems(
        self, order: _Order, lines: Sequence[tuple[str, Mapping[str, Any], Any]], where: str, *, exact: bool
    ) -> list[dict[str, str]]:
        """Every PO line once, product ids echoed, quantity equal (acknowledgement) or not above (shipment)."""
        ordered = {line["itemSequenceNumber"]: line for line in order.details["items"]}
        problems = []
        seen: set[str] = set()
        for sequence, line, amount in lines:
            at = f"{where}, itemSequenceNumber={sequence}"
            if sequence in seen:
                problems.append(_error("DUPLICATE_LINE_ITEM", "A line item appears twice.", at))
                continue
            seen.add(sequence)
            original = ordered.get(sequence)
            if original is None:
                problems.append(_error("INVALID_LINE_ITEM", "The line item is not on the order.", at))
                continue
            for key in ("buyerProductIdentifier", "vendorProductIdentifier"):
                if key in line and line[key] != original.get(key):
                    problems.append(_error("PRODUCT_ID_MISMATCH", f"{key} must be echoed as sent in the order.", at))
            if not exact and "buyerProductIdentifier" not in line and "vendorProductIdentifier" not in line:
                problems.append(_error("MISSING_PRODUCT_IDENTIFIER", "A product identifier is required.", at))
            wanted = original["orderedQuantity"]["amount"]
            if exact and amount != wanted:
                problems.append(
                    _error("QUANTITY_MISMATCH", f"Acknowledge the full ordered quantity {wanted} (fill or kill).", at)
                )
            elif not exact and isinstance(amount, int) and amount > wanted:
                problems.append(
                    _error("QUANTITY_EXCEEDS_ORDERED", f"Shipped quantity {amount} exceeds ordered {wanted}.", at)
                )
        for sequence in ordered.keys() - seen:
            problems.append(
                _error(
                    "MISSING_LINE_ITEM",
                    "Every line of the order must be included.",
                    f"{where}, itemSequenceNumber={sequence}",
                )
            )
        return problems

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
        where = f"warehouseId={warehouse_id}"
        if warehouse_id not in self._stock:
            return [_error("INVALID_WAREHOUSE_ID", f"Warehouse {warehouse_id} is not set up for this vendor.", where)]
        if inventory["sellingParty"]["partyId"] != self.config.selling_party_id:
            return [_error("INVALID_SELLING_PARTY", "sellingParty is not this vendor.", where)]
        updates: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(inventory["items"]):
            key = item.get("vendorProductIdentifier") or item.get("buyerProductIdentifier")
            amount = item["availableQuantity"].get("amount")
            if not key:
                return [
                    _error(
                        "MISSING_PRODUCT_IDENTIFIER", "A product identifier is required.", f"{where}, items[{index}]"
                    )
                ]
            if not isinstance(amount, int) or amount < 0:
                return [
                    _error(
                        "INVALID_QUANTITY", "availableQuantity.amount must be 0 or more.", f"{where}, items[{index}]"
                    )
                ]
            updates[key] = {
                "vendorProductIdentifier": item.get("vendorProductIdentifier"),
                "buyerProductIdentifier": item.get("buyerProductIdentifier"),
                "availableQuantity": amount,
                "isObsolete": bool(item.get("isObsolete", False)),
            }
        if inventory["isFullUpdate"]:
            self._stock[warehouse_id] = updates
        else:
            self._stock[warehouse_id].update(updates)
        self._inventory_updates[warehouse_id] += 1
        return []

    # ---- inspection -----------------------------------------------------------------------------------------

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
                        "units": sum(item["availableQuantity"] for item in stock.values()),
                        "updates": self._inventory_updates[warehouse],
                    }
                    for warehouse, stock in self._stock.items()
                },
                "transactions": {
                    "total": len(self._transactions),
                    "by_status": {s: by_transaction[s] for s in TRANSACTION_STATUSES},
                },
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
