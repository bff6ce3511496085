"""The simulated warehouse: reads our order files once, ships most orders, leaves some, writes stock."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from simulator.warehouse import SHIPMENT_COLUMNS, WarehouseSimulator

ORDERS = "purchase_order_number,item_sequence_number,vendor_sku,asin,quantity\r\n" + "".join(
    f"PO{n},1,SKU-{n % 3},B0{n % 3},2\r\nPO{n},2,SKU-X,,1\r\n" for n in range(10)
)


def test_ships_most_orders_and_counts_stock(tmp_path: Path):
    folder = tmp_path / "outbound" / "orders"
    folder.mkdir(parents=True)
    (folder / "orders_a.csv").write_text(ORDERS)
    warehouse = WarehouseSimulator(tmp_path, seed=1)
    day = warehouse.work()
    assert day.orders_seen == 10 and len(day.shipped) == 8 and len(day.left_for_later) == 2
    rows = list(csv.DictReader(io.StringIO((tmp_path / day.shipment_file).read_text())))
    assert tuple(rows[0]) == SHIPMENT_COLUMNS
    assert {r["purchase_order_number"] for r in rows} == set(day.shipped)
    assert all(r["tracking_number"] and r["carrier"] and float(r["package_weight"]) > 0 for r in rows)
    stock = list(csv.DictReader(io.StringIO((tmp_path / day.stock_file).read_text())))
    assert {r["vendor_sku"] for r in stock} == {"SKU-0", "SKU-1", "SKU-2", "SKU-X"}
    assert not list((tmp_path / "inbound" / "shipments").glob(".*"))  # no temporary file left

    again = warehouse.work()
    assert again.orders_seen == 0 and again.shipment_file is None  # a file is read once
