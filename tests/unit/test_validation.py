"""Shipment and stock validation: every problem becomes a report row with its line, column and a plain reason."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from flows.render import render_report, validate_file
from tasks.core.config import FileOptions
from tasks.core.errors import DataError
from tasks.core.models import InventoryItem
from tasks.core.validation import (
    ValidationResult,
    to_inventory_items,
    validate_shipments,
    validate_stock,
)

DATA = Path(__file__).parent.parent / "data"
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
HEADER = (
    "purchase_order_number,item_sequence_number,vendor_sku,quantity_shipped,carrier,ship_method,"
    "tracking_number,ship_date,package_weight,weight_unit"
)
GOOD = "PO1,00001,SKU-1,1,UPS,UPS_GROUND,1Z001,2026-03-02,1.5,KG"


def _shipments(*lines: str, header: str = HEADER, options: FileOptions | None = None) -> ValidationResult:
    data = "\r\n".join([header, *lines]).encode() + b"\r\n"
    return validate_shipments(data, options or FileOptions(), file_name="ship.csv", now=NOW)


def _stock(*lines: str, header: str = "vendor_sku,available_quantity,asin") -> ValidationResult:
    data = "\n".join([header, *lines]).encode() + b"\n"
    return validate_stock(data, FileOptions(), file_name="stock.csv")


def _problems(result: ValidationResult) -> list[tuple[int | None, str | None, str | None, str]]:
    return list(result.errors.iter_rows())


def test_clean_shipment_file_passes_typed() -> None:
    result = validate_file(DATA / "shipments_clean.csv", "shipments", FileOptions(), now=NOW)

    assert result.ok and result.readable, result.summary()
    assert result.rows == result.valid.height == 3
    assert result.valid["row"].to_list() == [2, 3, 4]
    assert result.valid.schema["quantity_shipped"] == pl.Int64
    assert result.valid.schema["ship_date"] == pl.Datetime("us", "UTC")
    assert result.valid["ship_date"].to_list()[1:] == [
        datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 2, 16, 45, tzinfo=UTC)
    ]
    assert result.valid["length"].to_list() == [30.0, 30.0, None]
    assert result.summary() == "shipments file shipments_clean.csv: 3 rows, 3 valid, 0 rejected; no problems."


@pytest.mark.parametrize(
    ("replace", "value", "column", "value_shown", "reason"),
    [
        ("quantity_shipped", "two", "quantity_shipped", "two", "quantity shipped must be a whole number >= 1"),
        ("quantity_shipped", "0", "quantity_shipped", "0", "quantity shipped must be a whole number >= 1"),
        ("quantity_shipped", "1.5", "quantity_shipped", "1.5", "quantity shipped must be a whole number >= 1"),
        ("ship_date", "2026-13-40", "ship_date", "2026-13-40",
         "ship date 2026-13-40 is not a date in format %Y-%m-%d or %Y-%m-%dT%H:%M:%SZ"),
        ("ship_date", "2026-03-06", "ship_date", "2026-03-06",
         "ship date is in the future (now is 2026-03-05 12:00 UTC)"),
        ("package_weight", "-1", "package_weight", "-1", "package weight must be a number > 0 and < 100000"),
        ("package_weight", "heavy", "package_weight", "heavy", "package weight must be a number > 0 and < 100000"),
        ("weight_unit", "stone", "weight_unit", "stone", "weight unit must be KG or LB"),
        ("tracking_number", "T" * 101, "tracking_number", "T" * 101,
         "tracking number is empty or longer than 100 characters"),
        ("carrier", "", "carrier", None, "carrier is required"),
        ("purchase_order_number", "PO-1", "purchase_order_number", "PO-1",
         "purchase order number must be letters and digits"),
        ("item_sequence_number", "first", "item_sequence_number", "first", "item sequence number must be digits"),
    ],
)
def test_each_bad_value_is_reported_on_its_line_and_column(
    replace: str, value: str, column: str, value_shown: str | None, reason: str
) -> None:
    names = HEADER.split(",")
    cells = GOOD.split(",")
    cells[names.index(replace)] = value

    result = _shipments(GOOD.replace("PO1", "PO0"), ",".join(cells))

    assert _problems(result) == [(3, column, value_shown, reason)]
    assert result.valid["row"].to_list() == [2]
    assert result.held_orders == (value if replace == "purchase_order_number" else "PO1",)


def test_cross_column_rules() -> None:
    header = HEADER + ",length,width,height,dimension_unit"
    result = _shipments(
        "PO1,,,1,UPS,UPS_GROUND,1Z001,2026-03-02,1.5,KG,,,,",
        "PO2,00001,SKU-1,1,UPS,UPS_GROUND,1Z002,2026-03-02,1.5,KG,10,10,,IN",
        "PO3,,SKU-3,1,UPS,UPS_GROUND,1Z003,2026-03-02,1.5,lb,10,10,5,cm",
        header=header,
    )

    assert _problems(result) == [
        (2, "item_sequence_number", None, "give an item sequence number or a vendor SKU"),
        (3, "dimension_unit", "IN", "length, width, height and dimension unit must be given together"),
    ]
    assert result.valid.select("weight_unit", "dimension_unit").row(0) == ("LB", "CM")  # units are upper-cased


def test_one_bad_line_holds_back_its_whole_order_and_other_orders_proceed() -> None:
    result = validate_file(DATA / "shipments_mixed.csv", "shipments", FileOptions(), now=NOW)

    assert _problems(result) == [
        (2, "purchase_order_number", "2JK3S9VC",
         "order held back because its line 3 has a problem; an order is confirmed whole or not at all"),
        (3, "quantity_shipped", "two", "quantity shipped must be a whole number >= 1"),
        (4, "ship_date", "2026-13-40", "ship date 2026-13-40 is not a date in format %Y-%m-%d or %Y-%m-%dT%H:%M:%SZ"),
    ]
    assert result.held_orders == ("2JK3S9VC", "7RT4P2XQ")
    assert result.valid["purchase_order_number"].to_list() == ["9QW8E7RT"]
    assert result.rejected_rows == 3


def test_duplicate_rows_are_reported_against_the_first() -> None:
    result = _shipments(GOOD, "", GOOD)

    assert _problems(result)[-1] == (4, None, None, "line repeats line 2 exactly")
    assert result.valid.is_empty()


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    result = _shipments(
        "PO1,00001,SKU-1,x,UPS,UPS_GROUND,1Z001,2026-03-02,1.5,KG",
        "PO2,00001,SKU-1,1,,UPS_GROUND,1Z002,yesterday,0,G",
        "PO3,00001,SKU-1,1,UPS,UPS_GROUND,1Z003,2026-03-02,1.5,KG",
    )

    assert [(row, column) for row, column, _, _ in _problems(result)] == [
        (2, "quantity_shipped"), (3, "ship_date"), (3, "carrier"), (3, "package_weight"), (3, "weight_unit"),
    ]
    assert result.valid["purchase_order_number"].to_list() == ["PO3"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"\r\n \r\n", "the file is empty"),
        (b"vendor_sku,available_quantity\nCAF\xc9,1\n",
         "the file is not valid utf-8: byte 0xc9 at byte offset 33 (line 2) cannot be decoded; "
         "ask the warehouse to send utf-8 or change files.encoding"),
        (b"A-1,5\nA-2,6\n", "the first line is not a header row: expected column names such as vendor_sku, "
                            "available_quantity"),
        (b"vendor_sku|available_quantity\nA|1\n", "the first line is not a header row: expected column names "
         "such as vendor_sku, available_quantity (the file seems to use the delimiter '|'; this warehouse uses ',')"),
    ],
)
def test_unreadable_files_are_one_file_level_problem(data: bytes, reason: str) -> None:
    result = validate_stock(data, FileOptions(), file_name="stock.csv")

    assert not result.readable and result.valid.is_empty() and result.rows == 0
    assert result.errors.height == 1
    row, column, value, said = result.errors.row(0)
    assert row is None and column is None and value is None
    assert said.startswith(reason)
    assert result.summary().startswith("stock file stock.csv could not be read: " + reason)


def test_missing_required_columns_name_the_headers_expected() -> None:
    options = FileOptions(
        columns={"shipments": {"tracking_number": "Tracking #"}},
        header_aliases={"tracking_number": ["AWB"]},
    )
    result = _shipments(GOOD, header=HEADER.replace("tracking_number", "waybill"), options=options)

    assert not result.readable
    assert _problems(result) == [
        (None, "tracking_number", None,
         "required column tracking_number is missing; its header may be 'Tracking #' or 'tracking_number' or 'AWB'"),
    ]
    assert result.notes == ("column 'waybill' is not one of this warehouse's shipments columns and is ignored",)


def test_two_headers_for_one_column_make_the_file_unreadable() -> None:
    result = _stock("A,1,2", header="vendor_sku,available_quantity,Available Quantity")

    assert not result.readable
    assert _problems(result) == [
        (None, "Available Quantity", None,
         "columns 'available_quantity' and 'Available Quantity' both give available_quantity; keep only one"),
    ]


def test_unknown_columns_are_a_note_and_long_lines_a_problem_and_the_rest_proceeds() -> None:
    result = _stock("A,1,B000000001,x", "B,2,,", "C,3,,,extra", header="vendor_sku,available_quantity,asin,notes")

    assert _problems(result) == [
        (4, None, None,
         "line has 5 fields but the header has 4: a value holds an unquoted comma, or the delimiter is not comma"),
    ]
    assert result.notes == ("column 'notes' is not one of this warehouse's stock columns and is ignored",)
    assert result.valid["vendor_sku"].to_list() == ["A", "B"]


def test_an_ignored_column_alone_passes_and_says_so() -> None:
    result = _stock("A,1,B000000001,x", header="vendor_sku,available_quantity,asin,notes")

    assert result.ok  # the words say "ignored", so the outcome is a pass: `vdf validate` exits 0
    assert result.summary() == (
        "stock file stock.csv: 1 rows, 1 valid, 0 rejected; no problems. "
        "Note: column 'notes' is not one of this warehouse's stock columns and is ignored."
    )


def test_custom_names_aliases_delimiter_and_date_format() -> None:
    options = FileOptions(
        delimiter=";",
        date_format="%d/%m/%Y",
        datetime_format="%d/%m/%Y %H:%M",
        columns={"shipments": {"purchase_order_number": "Order", "tracking_number": "AWB"}},
        header_aliases={"quantity_shipped": ["Qty"], "package_weight": ["Weight"]},
    )
    header = "ORDER;Item Sequence Number;Vendor SKU;qty;Carrier;Ship Method;awb;Ship Date;weight;Weight Unit"
    result = _shipments(
        "PO1;00001;SKU-1;2;DHL;DHL_EXPRESS;JD0001;31/12/2025;2.5;KG",
        "PO2;00001;SKU-1;2;DHL;DHL_EXPRESS;JD0002;01/03/2026 14:05;2.5;KG",
        "PO3;00001;SKU-1;2;DHL;DHL_EXPRESS;JD0003;2026-03-01;2.5;KG",
        header=header,
        options=options,
    )

    assert result.valid["ship_date"].to_list() == [
        datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 3, 1, 14, 5, tzinfo=UTC)
    ]
    assert result.valid["tracking_number"].to_list() == ["JD0001", "JD0002"]
    assert _problems(result) == [
        (4, "ship_date", "2026-03-01", "ship date 2026-03-01 is not a date in format %d/%m/%Y or %d/%m/%Y %H:%M"),
    ]


def test_stock_rules_and_inventory_items() -> None:
    result = validate_file(DATA / "stock_semicolon.csv", "stock", FileOptions(
        delimiter=";", header_aliases={"available_quantity": ["Qty Available"]}
    ))

    assert result.ok, result.summary()
    assert to_inventory_items(result.valid) == [
        InventoryItem("SKU-RED-1", 12, "B000000001"),
        InventoryItem("SKU-BLU-2", 0, None),
        InventoryItem("SKU-GRN-3", 7, "B000000003"),
    ]


def test_stock_problems_and_sku_listed_twice() -> None:
    result = _stock("A,1,B000000001", "B,-1,", "A,3,", "C,2,b00", ",4,", "D,many,")

    assert _problems(result) == [
        (2, "vendor_sku", "A", "SKU is listed 2 times (first on line 2); list each SKU once"),
        (3, "available_quantity", "-1", "available quantity must be a whole number >= 0"),
        (4, "vendor_sku", "A", "SKU is listed 2 times (first on line 2); list each SKU once"),
        (5, "asin", "b00", "ASIN must be 10 capital letters or digits"),
        (6, "vendor_sku", None, "vendor sku is required"),
        (7, "available_quantity", "many", "available quantity must be a whole number >= 0"),
    ]
    assert result.valid.is_empty()


def test_inventory_items_refuse_a_sku_listed_twice() -> None:
    valid = pl.DataFrame({"row": [2, 3], "vendor_sku": ["A", "A"], "available_quantity": [1, 2], "asin": [None, None]})

    with pytest.raises(DataError, match="1 SKU\\(s\\) listed more than once: A"):
        to_inventory_items(valid)


def test_error_report_csv_and_summary() -> None:
    result = _shipments(
        "PO1,00001,SKU-1,x,UPS,UPS_GROUND,1Z001,2026-03-02,1.5,KG",
        "PO2,00001,SKU-1,1,UPS,UPS_GROUND,\"1Z,002\",2026-03-02,1.5,KG",
        "PO3,00001,SKU-1,0,UPS,UPS_GROUND,1Z003,2026-03-02,0,KG",
        "PO4,00001,SKU-1,0,UPS,UPS_GROUND,1Z004,2026-03-02,1,KG",
    )

    rows = list(csv.DictReader(io.StringIO(result.report_csv().decode(), newline="")))
    assert list(rows[0]) == ["file", "row", "column", "value", "reason"]
    assert [(row["file"], row["row"], row["column"], row["value"]) for row in rows] == [
        ("ship.csv", "2", "quantity_shipped", "x"),
        ("ship.csv", "4", "quantity_shipped", "0"),
        ("ship.csv", "4", "package_weight", "0"),
        ("ship.csv", "5", "quantity_shipped", "0"),
    ]
    assert result.summary() == (
        "shipments file ship.csv: 4 rows, 1 valid, 3 rejected, 3 order(s) left out whole; 4 problem(s): "
        "line 2, quantity_shipped 'x': quantity shipped must be a whole number >= 1; "
        "line 4, quantity_shipped '0': quantity shipped must be a whole number >= 1; "
        "line 4, package_weight '0': package weight must be a number > 0 and < 100000; "
        "and 1 more in the error report."
    )


def test_render_report_prints_summary_and_table() -> None:
    console = Console(file=io.StringIO(), width=200, color_system=None)

    console.print(render_report(validate_file(DATA / "shipments_mixed.csv", "shipments", FileOptions(), now=NOW)))
    console.print(render_report(validate_file(DATA / "shipments_clean.csv", "shipments", FileOptions(), now=NOW)))

    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "problems in shipments_mixed.csv" in out and "2026-13-40" in out and "held back" in out
    assert "shipments file shipments_clean.csv: 3 rows, 3 valid, 0 rejected; no problems." in out


def test_validate_file_names_a_missing_file() -> None:
    with pytest.raises(DataError, match=r"cannot read .*nope\.csv"):
        validate_file(DATA / "nope.csv", "stock", FileOptions())


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_shipments(b"", FileOptions(), file_name="x.csv", now=datetime(2026, 3, 5))
