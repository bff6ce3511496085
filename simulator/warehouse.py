"""A small 3PL warehouse for demos and tests: it picks up our order files and answers with shipment and stock files.

It works on the drop's folder on this machine (the embedded SFTP server's root, or a local drop): each order file
not seen before is read; most of its orders are shipped (carrier, ship method, SCAC, tracking number, weight, one
package per order), a few are left for later; then a stock file lists every SKU seen with an available quantity.
Files are written under a temporary name and renamed, as a careful warehouse would. It imports nothing from the
integration: it only knows the file formats the README documents.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

SHIPMENT_COLUMNS = (
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
)
STOCK_COLUMNS = ("vendor_sku", "available_quantity", "asin")
CARRIERS = (("UPS", "UPS_GROUND", "UPSN"), ("FedEx", "FEDEX_HOME", "FDEG"), ("USPS", "USPS_PRIORITY", "USPS"))


@dataclass
class WarehouseDay:
    """What one round of work did."""

    order_files: list[str] = field(default_factory=list)
    orders_seen: int = 0
    shipped: list[str] = field(default_factory=list)  # purchase order numbers
    left_for_later: list[str] = field(default_factory=list)
    shipment_file: str | None = None
    stock_file: str | None = None
    skus: int = 0


@dataclass
class WarehouseSimulator:
    """The warehouse behind one drop folder; `ship_share` of the orders go out in each round."""

    root: Path
    orders_folder: str = "outbound/orders"
    shipments_folder: str = "inbound/shipments"
    inventory_folder: str = "inbound/inventory"
    ship_share: float = 0.8
    seed: int | None = None
    _seen: set[str] = field(default_factory=set)
    _stock: dict[str, tuple[int, str]] = field(default_factory=dict)  # sku -> (available, asin)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def work(self, now: datetime | None = None) -> WarehouseDay:
        """Read new order files, ship most of their orders, and write the shipment and stock files."""
        now = now or datetime.now(UTC)
        day = WarehouseDay()
        lines: dict[str, list[dict[str, str]]] = {}
        for path in sorted((self.root / self.orders_folder).glob("*.csv")):
            if path.name in self._seen:
                continue
            self._seen.add(path.name)
            day.order_files.append(path.name)
            for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
                lines.setdefault(row["purchase_order_number"], []).append(row)
                sku = row.get("vendor_sku") or ""
                if sku and sku not in self._stock:
                    self._stock[sku] = (self._random.randint(0, 60), row.get("asin") or "")
        numbers = sorted(lines)
        day.orders_seen = len(numbers)
        keep = max(1, round(len(numbers) * (1 - self.ship_share))) if len(numbers) > 1 else 0
        later = set(self._random.sample(numbers, keep)) if keep else set()
        day.left_for_later = sorted(later)
        day.shipped = [po for po in numbers if po not in later]
        stamp = f"{now:%Y%m%dT%H%M%S}Z"
        if day.shipped:
            rows = []
            for index, po in enumerate(day.shipped):
                carrier, method, scac = CARRIERS[index % len(CARRIERS)]
                tracking = f"1Z{self._random.randrange(10**15):015d}"
                weight = f"{self._random.uniform(0.2, 9.5):.2f}"
                for line in lines[po]:
                    rows.append(
                        {
                            "purchase_order_number": po,
                            "item_sequence_number": line.get("item_sequence_number", ""),
                            "vendor_sku": line.get("vendor_sku", ""),
                            "quantity_shipped": line.get("quantity", "1"),
                            "carrier": carrier,
                            "ship_method": method,
                            "scac": scac,
                            "tracking_number": tracking,
                            "ship_date": f"{now:%Y-%m-%d}",
                            "package_weight": weight,
                            "weight_unit": "KG",
                            "package_id": f"BOX-{po}",
                        }
                    )
            day.shipment_file = self._write(self.shipments_folder, f"shipments_{stamp}.csv", SHIPMENT_COLUMNS, rows)
        if self._stock:
            stock = [
                {"vendor_sku": sku, "available_quantity": str(qty), "asin": asin}
                for sku, (qty, asin) in sorted(self._stock.items())
            ]
            day.stock_file = self._write(self.inventory_folder, f"stock_{stamp}.csv", STOCK_COLUMNS, stock)
            day.skus = len(stock)
        return day

    def _write(self, folder: str, name: str, columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
        target = self.root / folder
        target.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        temporary = target / f".{name}.tmp"
        temporary.write_text(buffer.getvalue(), encoding="utf-8")
        temporary.replace(target / name)
        return f"{folder}/{name}"
