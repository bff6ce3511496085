"""Helpers for shipment tests: orders with known lines, and shipment files written the way a warehouse would."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from tasks.core.models import OrderLine, PurchaseOrder

HEADER = (
    "purchase_order_number",
    "item_sequence_number",
    "vendor_sku",
    "quantity_shipped",
    "carrier",
    "ship_method",
    "scac",
    "tracking_number",
    "ship_date",
    "package_weight",
    "weight_unit",
    "package_id",
    "length",
    "width",
    "height",
    "dimension_unit",
    "status",
)
ORDER_DATE = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def purchase_order(
    number: str,
    *lines: tuple[str, int],
    ship_from: str = "WH01",
    order_date: datetime = ORDER_DATE,
    required_ship_date: datetime | None = None,
) -> PurchaseOrder:
    """An order whose lines are (vendor SKU, quantity), numbered 00001, 00002, … as Amazon writes them."""
    return PurchaseOrder(
        purchase_order_number=number,
        customer_order_number=f"C-{number}",
        order_date=order_date,
        selling_party_id="VENDOR1",
        ship_from_party_id=ship_from,
        ship_method="UPS_GROUND",
        required_ship_date=required_ship_date or order_date + timedelta(days=1),
        lines=tuple(
            OrderLine(f"{index:05d}", quantity, f"B0ASIN{index:04d}", sku)
            for index, (sku, quantity) in enumerate(lines or (("SKU-1", 1),), start=1)
        ),
    )


def shipment_row(order: str, **values: object) -> dict[str, object]:
    """One file line: line 1 of the order, one unit, one UPS package per order, unless values say otherwise."""
    row: dict[str, object] = {
        "purchase_order_number": order,
        "item_sequence_number": "1",
        "vendor_sku": "",
        "quantity_shipped": 1,
        "carrier": "UPS",
        "ship_method": "UPS_GROUND",
        "scac": "UPSN",
        "tracking_number": f"1Z{order}",
        "ship_date": "2026-03-04",
        "package_weight": "1.5",
        "weight_unit": "KG",
        "package_id": "",
        "length": "",
        "width": "",
        "height": "",
        "dimension_unit": "",
        "status": "",
    }
    row.update(values)
    return row


def shipment_file(rows: Iterable[Mapping[str, object]], header: Sequence[str] = HEADER) -> bytes:
    """A CSV shipment file (CRLF, no quoting needed for these values)."""
    lines = [",".join(header)]
    lines.extend(",".join("" if row.get(name) is None else str(row.get(name, "")) for name in header) for row in rows)
    return ("\r\n".join(lines) + "\r\n").encode()
