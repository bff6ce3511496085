"""Amazon's business rules as the simulator applies them: pure functions from an order and a request to problems.

Each function judges one item of an asynchronous write against the order as it stands when the transaction is
processed, and returns Amazon-style errors (code, message, details); an empty list means the item is applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from simulator.schema import parse_datetime

# Amazon's two-digit acknowledgement codes (VDF use-case guide); 00 accepts, the others reject the order.
ACK_CODES = frozenset(
    {"00", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "20", "21", "22"}
    | {"50", "51", "53", "54", "55", "56", "71"}
)
SHIPPED_DATE_TOLERANCE = timedelta(seconds=5)

Problem = dict[str, str]
Line = tuple[str, Mapping[str, Any], Any]


def error(code: str, message: str, details: str) -> Problem:
    return {"code": code, "message": message, "details": details}


def acknowledgement_problems(
    details: Mapping[str, Any] | None, status: str | None, item: Mapping[str, Any]
) -> list[Problem]:
    """Problems with one acknowledgement: unknown, cancelled or already acknowledged order, wrong parties or lines."""
    number = item["purchaseOrderNumber"]
    where = f"purchaseOrderNumber={number}"
    if details is None:
        return [error("INVALID_ORDER_ID", "Invalid order ID.", where)]
    problems = party_problems(details, item, where)
    if status == "CANCELLED":
        problems.append(error("ORDER_CANCELLED", f"Order {number} is cancelled.", where))
    elif status in ("ACCEPTED", "SHIPPED"):
        problems.append(error("DUPLICATE_ACKNOWLEDGEMENT", f"Order {number} was already acknowledged.", where))
    code = item["acknowledgementStatus"].get("code")
    if code not in ACK_CODES:
        problems.append(error("INVALID_ACKNOWLEDGEMENT_CODE", f"Acknowledgement code {code!r} is not valid.", where))
    lines = [
        (line["itemSequenceNumber"], line, line["acknowledgedQuantity"].get("amount"))
        for line in item["itemAcknowledgements"]
    ]
    problems.extend(line_problems(details, lines, where, exact=True))
    return problems


def confirmation_problems(
    details: Mapping[str, Any] | None,
    status: str | None,
    item: Mapping[str, Any],
    received_at: datetime,
    issued_tracking: Collection[str] | None = None,
) -> list[Problem]:
    """Problems with one shipment confirmation, judged as Amazon does when the transaction is processed.

    issued_tracking holds the tracking numbers of the labels Amazon issued for the order (None: no label).
    """
    number = item["purchaseOrderNumber"]
    where = f"purchaseOrderNumber={number}"
    if details is None:
        return [error("INVALID_ORDER_ID", "Invalid order ID.", where)]
    problems = party_problems(details, item, where)
    if status == "NEW":
        problems.append(error("ORDER_NOT_ACKNOWLEDGED", f"Order {number} has not been acknowledged.", where))
    elif status == "CANCELLED":
        problems.append(error("ORDER_CANCELLED", f"Order {number} is cancelled.", where))
    elif status == "SHIPPED":
        problems.append(error("DUPLICATE_SHIPMENT_CONFIRMATION", f"Order {number} was already confirmed.", where))
    shipped_date = parse_datetime(item["shipmentDetails"]["shippedDate"])
    ordered_at = parse_datetime(details.get("orderDate", ""))
    if shipped_date is not None and shipped_date > received_at + SHIPPED_DATE_TOLERANCE:
        problems.append(error("INVALID_SHIPPED_DATE", "shippedDate cannot be in the future.", where))
    elif shipped_date is not None and ordered_at is not None and shipped_date < ordered_at:
        problems.append(
            error("INVALID_SHIPPED_DATE", f"Order ID {number}: shippedDate cannot be before the order date.", where)
        )
    lines = [(str(line["itemSequenceNumber"]), line, line["shippedQuantity"]["amount"]) for line in item["items"]]
    problems.extend(line_problems(details, lines, where, exact=False))
    if item["shipmentDetails"]["shipmentStatus"] == "SHIPPED":
        problems.extend(container_problems(item, lines, where))
        if issued_tracking is not None:
            problems.extend(tracking_problems(item, issued_tracking, where))
    return problems


def tracking_problems(item: Mapping[str, Any], issued: Collection[str], where: str) -> list[Problem]:
    """Once Amazon issued labels for an order, every container must carry one of their tracking numbers."""
    unknown = sorted(
        {str(container.get("trackingNumber") or "") for container in item.get("containers") or []} - set(issued)
    )
    if not unknown:
        return []
    shown = ", ".join(number or "(none)" for number in unknown)
    return [
        error(
            "INVALID_TRACKING_NUMBER",
            "The tracking number was not issued on a shipping label for this order.",
            f"{where}, trackingNumber={shown}",
        )
    ]


def label_request_problems(
    details: Mapping[str, Any], status: str, number: str, body: Mapping[str, Any]
) -> list[str]:
    """Why createShippingLabels refuses a request (answered 400 at once: the operation is synchronous)."""
    problems = []
    if status in ("CANCELLED", "SHIPPED"):
        problems.append(f"Order {number} is {status.lower()}; no shipping label can be created.")
    if body["sellingParty"]["partyId"] != details["sellingParty"]["partyId"]:
        problems.append("sellingParty does not match the order.")
    if body["shipFromParty"]["partyId"] != details["shipFromParty"]["partyId"]:
        problems.append("shipFromParty does not match the order.")
    ordered = {str(line["itemSequenceNumber"]).lstrip("0"): line for line in details["items"]}
    packed: Counter[str] = Counter()
    for index, container in enumerate(body.get("containers") or []):
        for packed_item in container["packedItems"]:
            sequence = str(packed_item["itemSequenceNumber"]).lstrip("0")
            if sequence not in ordered:
                problems.append(f"containers[{index}] packs item {sequence}, which is not on the order.")
            packed[sequence] += packed_item["packedQuantity"]["amount"]
    for sequence, amount in sorted(packed.items()):
        wanted = ordered[sequence]["orderedQuantity"]["amount"] if sequence in ordered else 0
        if sequence in ordered and amount > wanted:
            problems.append(f"Item {sequence} is packed {amount} times but ordered {wanted} times.")
    return problems


def container_problems(item: Mapping[str, Any], lines: Sequence[Line], where: str) -> list[Problem]:
    """Every shipped unit packed in a container that says how it ships."""
    number = item["purchaseOrderNumber"]
    containers = item.get("containers") or []
    packed: Counter[str] = Counter()
    for container in containers:
        for packed_item in container["packedItems"]:
            packed[str(packed_item["itemSequenceNumber"])] += packed_item["packedQuantity"]["amount"]
    if not containers or not sum(packed.values()):
        # Real transactions fail this way when containers are left out (selling-partner-api-models #178).
        return [
            error(
                "EMPTY_PACKAGES",
                f"Request Rejected: Order ID {number} has empty packages.",
                "Please add packages and try again.",
            )
        ]
    problems = []
    if any(not container.get("shipMethod") for container in containers):
        problems.append(error("MISSING_SHIP_METHOD", "shipMethod is required on every container.", where))
    for container in containers:
        # the model requires a weight (since November 2023); a zero weight passes the schema, not Amazon
        if not _positive(container["weight"]["value"]):
            problems.append(
                error(
                    "INVALID_PACKAGE_WEIGHT",
                    f"Order ID {number}: container {container['containerIdentifier']} has no weight.",
                    f"{where}, containerIdentifier={container['containerIdentifier']}",
                )
            )
    shipped = {sequence: amount for sequence, _, amount in lines}
    if dict(packed) != {k: v for k, v in shipped.items() if v}:
        problems.append(error("PACKED_QUANTITY_MISMATCH", "Packed quantities do not match shipped quantities.", where))
    return problems


def _positive(value: Any) -> bool:
    try:
        return Decimal(str(value)) > 0
    except InvalidOperation:
        return False


def _line_key(sequence: Any) -> str:
    """Orders write "00001" where shipments send the integer 1: the same line."""
    text = str(sequence)
    return str(int(text)) if text.isdigit() else text


def party_problems(details: Mapping[str, Any], item: Mapping[str, Any], where: str) -> list[Problem]:
    """The selling and ship-from parties must be the order's."""
    problems = []
    if item["sellingParty"]["partyId"] != details["sellingParty"]["partyId"]:
        problems.append(error("INVALID_SELLING_PARTY", "sellingParty does not match the order.", where))
    if item["shipFromParty"]["partyId"] != details["shipFromParty"]["partyId"]:
        problems.append(error("INVALID_SHIP_FROM_PARTY", "shipFromParty does not match the order.", where))
    return problems


def line_problems(details: Mapping[str, Any], lines: Sequence[Line], where: str, *, exact: bool) -> list[Problem]:
    """Every PO line once, product ids echoed, quantity equal (acknowledgement) or not above (shipment)."""
    same_line = str if exact else _line_key  # acknowledgements echo the string exactly
    ordered = {same_line(line["itemSequenceNumber"]): line for line in details["items"]}
    problems = []
    seen: set[str] = set()
    for raw, line, amount in lines:
        sequence = same_line(raw)
        at = f"{where}, itemSequenceNumber={sequence}"
        if sequence in seen:
            problems.append(error("DUPLICATE_LINE_ITEM", "A line item appears twice.", at))
            continue
        seen.add(sequence)
        original = ordered.get(sequence)
        if original is None:
            problems.append(error("INVALID_LINE_ITEM", "The line item is not on the order.", at))
            continue
        for key in ("buyerProductIdentifier", "vendorProductIdentifier"):
            if key in line and line[key] != original.get(key):
                problems.append(error("PRODUCT_ID_MISMATCH", f"{key} must be echoed as sent in the order.", at))
        if not exact and "buyerProductIdentifier" not in line and "vendorProductIdentifier" not in line:
            problems.append(error("MISSING_PRODUCT_IDENTIFIER", "A product identifier is required.", at))
        wanted = original["orderedQuantity"]["amount"]
        if exact and amount != wanted:
            problems.append(
                error("QUANTITY_MISMATCH", f"Acknowledge the full ordered quantity {wanted} (fill or kill).", at)
            )
        elif not exact and isinstance(amount, int) and amount > wanted:
            problems.append(
                error("QUANTITY_EXCEEDS_ORDERED", f"Shipped quantity {amount} exceeds ordered {wanted}.", at)
            )
    for sequence in ordered.keys() - seen:
        at = f"{where}, itemSequenceNumber={sequence}"
        problems.append(error("MISSING_LINE_ITEM", "Every line of the order must be included.", at))
    return problems


def apply_inventory(
    stock: Mapping[str, Mapping[str, Any]] | None,
    selling_party_id: str,
    warehouse_id: str,
    inventory: Mapping[str, Any],
) -> tuple[dict[str, dict[str, Any]] | None, list[Problem]]:
    """The warehouse's stock after an inventory update, or problems.

    A partial feed changes only the items it lists. A full feed lists every item: the ones it leaves out are
    "updated as not available" (the model's isFullUpdate), so they stay known at quantity 0.
    """
    where = f"warehouseId={warehouse_id}"
    if stock is None:
        return None, [error("INVALID_WAREHOUSE_ID", f"Warehouse {warehouse_id} is not set up for this vendor.", where)]
    if inventory["sellingParty"]["partyId"] != selling_party_id:
        return None, [error("INVALID_SELLING_PARTY", "sellingParty is not this vendor.", where)]
    updates: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(inventory["items"]):
        key = item.get("vendorProductIdentifier") or item.get("buyerProductIdentifier")
        amount = item["availableQuantity"].get("amount")
        if not key:
            return None, [
                error("MISSING_PRODUCT_IDENTIFIER", "A product identifier is required.", f"{where}, items[{index}]")
            ]
        if not isinstance(amount, int) or amount < 0:
            return None, [
                error("INVALID_QUANTITY", "availableQuantity.amount must be 0 or more.", f"{where}, items[{index}]")
            ]
        updates[key] = {
            "vendorProductIdentifier": item.get("vendorProductIdentifier"),
            "buyerProductIdentifier": item.get("buyerProductIdentifier"),
            "availableQuantity": amount,
            "isObsolete": bool(item.get("isObsolete", False)),
        }
    before = {key: dict(value) for key, value in stock.items()}
    if inventory["isFullUpdate"]:
        for key in before.keys() - updates.keys():
            before[key]["availableQuantity"] = 0
    return {**before, **updates}, []
