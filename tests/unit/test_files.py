"""The orders file we write for the warehouse, and the layout side of reading its files."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import polars as pl
import pytest

from tasks.core.config import FileOptions
from tasks.core.errors import ConfigError, DataError
from tasks.core.files import ORDER_COLUMNS, build_orders_file, header_key, orders_file_name, read_inbound
from tasks.core.models import Address, OrderLine, PurchaseOrder

TRICKY = Address(
    name='Zoë "Zed" O\'Brien, Jr.',
    address_line1="12, Rue de l'Église",
    address_line2="Apt 3\nBuilding B",
    address_line3=" leading and trailing spaces ",
    city="Saint-Étienne",
    state_or_region="ARA",
    postal_code="42000",
    country_code="FR",
    phone="+33 4 77 00 00 00",
)


def _order(number: str = "2JK3S9VC", address: Address | None = TRICKY, lines: int = 2) -> PurchaseOrder:
    return PurchaseOrder(
        purchase_order_number=number,
        customer_order_number="111-2222222-3333333",
        order_date=datetime(2026, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=-5))),
        selling_party_id="VENDOR1",
        ship_from_party_id="WH01",
        ship_method="UPS_GROUND",
        required_ship_date=datetime(2026, 3, 3, 23, 0, tzinfo=UTC),
        lines=tuple(
            OrderLine(
                item_sequence_number=f"0000{index}",
                ordered_quantity=index,
                buyer_product_identifier=f"B00000000{index}",
                vendor_product_identifier=f"SKU-{index}",
                gift_message="Happy birthday,\n\"love\" — Ana" if index == 1 else None,
            )
            for index in range(1, lines + 1)
        ),
        is_gift=True,
        ship_to=address,
    )


def test_orders_file_round_trips_through_polars_with_tricky_addresses() -> None:
    data = build_orders_file([_order(), _order("7RT4P2XQ", lines=1)], FileOptions())

    frame = pl.read_csv(data, infer_schema=False)

    assert frame.columns == list(ORDER_COLUMNS)
    assert frame.height == 3
    first = frame.row(0, named=True)
    assert first["ship_to_name"] == TRICKY.name
    assert first["ship_to_address_line1"] == TRICKY.address_line1
    assert first["ship_to_address_line2"] == "Apt 3\nBuilding B"
    assert first["ship_to_address_line3"] == " leading and trailing spaces "
    assert first["ship_to_city"] == "Saint-Étienne"
    assert first["gift_message"] == "Happy birthday,\n\"love\" — Ana"
    assert first["order_date"] == "2026-03-01T15:30:00Z"  # converted to UTC
    assert first["required_ship_date"] == "2026-03-03T23:00:00Z"
    assert first["is_gift"] == "true" and first["is_priority"] == "false"
    assert frame["quantity"].to_list() == ["1", "2", "1"]
    assert frame["purchase_order_number"].to_list() == ["2JK3S9VC", "2JK3S9VC", "7RT4P2XQ"]


def test_orders_file_round_trips_through_the_stdlib_csv_module() -> None:
    data = build_orders_file([_order()], FileOptions())

    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))

    assert [row["item_sequence_number"] for row in rows] == ["00001", "00002"]
    assert rows[0]["ship_to_name"] == TRICKY.name
    assert rows[0]["ship_to_address_line2"] == "Apt 3\nBuilding B"
    assert rows[1]["gift_message"] == ""
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 3  # RFC 4180 records: header + 2 lines


def test_orders_file_uses_the_warehouse_delimiter_names_formats_and_encoding() -> None:
    options = FileOptions(
        delimiter=";",
        encoding="cp1252",
        datetime_format="%d.%m.%Y %H:%M",
        columns={"orders": {"purchase_order_number": "PO", "ship_to_name": "Recipient"}},
    )

    data = build_orders_file([_order()], options)

    rows = list(csv.reader(io.StringIO(data.decode("cp1252"), newline=""), delimiter=";"))
    header = rows[0]
    assert header[0] == "PO" and "Recipient" in header and "ship_to_name" not in header
    assert rows[1][header.index("order_date")] == "01.03.2026 15:30"
    assert rows[1][header.index("Recipient")] == TRICKY.name
    assert rows[1][header.index("ship_to_address_line1")] == "12, Rue de l'Église"  # comma needs no quotes with ';'


def test_orders_file_without_address_and_without_orders() -> None:
    assert pl.read_csv(build_orders_file([_order(address=None)], FileOptions()))["ship_to_name"].null_count() == 2
    assert build_orders_file([], FileOptions()).decode().strip() == ",".join(ORDER_COLUMNS)


def test_unencodable_character_names_the_order_and_column_but_not_the_value() -> None:
    with pytest.raises(DataError) as caught:
        build_orders_file([_order()], FileOptions(encoding="ascii"))

    message = str(caught.value)
    assert "2JK3S9VC" in message and "ship_to_name" in message
    assert "Zoë" not in message and "O'Brien" not in message


def test_bad_order_column_configuration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown columns"):
        build_orders_file([_order()], FileOptions(columns={"orders": {"colour": "Colour"}}))
    with pytest.raises(ConfigError, match="same header"):
        build_orders_file([_order()], FileOptions(columns={"orders": {"asin": "vendor_sku"}}))


def test_orders_file_name_is_deterministic_and_safe() -> None:
    batch = datetime(2026, 3, 1, 10, 30, 5, tzinfo=timezone(timedelta(hours=2)))

    assert orders_file_name("acme", "wh-1", batch) == "orders_acme_wh-1_20260301T083005Z.csv"
    assert orders_file_name("acme", "wh-1", batch) == orders_file_name("acme", "wh-1", batch.astimezone(UTC))
    assert orders_file_name("a/../b c", "WH 1", batch) == "orders_a-b-c_wh-1_20260301T083005Z.csv"
    assert orders_file_name("acme", "wh-1", batch, "3f2a1c") == "orders_acme_wh-1_20260301T083005Z-3f2a1c.csv"
    with pytest.raises(ValueError, match="timezone-aware"):
        orders_file_name("acme", "wh-1", datetime(2026, 3, 1))


def test_header_matching_ignores_case_spaces_and_separators() -> None:
    assert header_key(" Quantity Shipped ") == header_key("quantity_shipped") == header_key("QUANTITY-SHIPPED")


def test_reader_maps_aliases_and_custom_names_and_fills_absent_optional_columns() -> None:
    options = FileOptions(
        delimiter="\t",
        columns={"stock": {"available_quantity": "On Hand"}},
        header_aliases={"vendor_sku": ["Item Code"]},
    )
    data = b"item code\ton hand\r\nA-1\t5\r\n"

    table = read_inbound(data, "stock", options)

    assert table.readable and table.problems == ()
    assert table.frame.to_dicts() == [{"row": 2, "vendor_sku": "A-1", "available_quantity": "5", "asin": None}]


def test_reader_counts_lines_as_a_person_sees_them() -> None:
    data = b'vendor_sku,available_quantity,asin\n\nA,1,\n"B\nsecond line",2,\n\nC , 3 ,\n'

    table = read_inbound(data, "stock", FileOptions())

    assert table.frame["row"].to_list() == [3, 4, 7]
    assert table.frame["vendor_sku"].to_list() == ["A", "B\nsecond line", "C"]  # cells are trimmed
    assert table.frame["available_quantity"].to_list() == ["1", "2", "3"]


def test_reader_decodes_the_configured_encoding_and_a_utf8_byte_order_mark() -> None:
    latin = "vendor_sku,available_quantity\nCAFÉ-1,4\n".encode("latin-1")
    bom = b"\xef\xbb\xbfvendor_sku,available_quantity\nA,4\n"

    assert read_inbound(latin, "stock", FileOptions(encoding="latin-1")).frame["vendor_sku"].to_list() == ["CAFÉ-1"]
    assert read_inbound(bom, "stock", FileOptions()).frame["vendor_sku"].to_list() == ["A"]


def test_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not known"):
        read_inbound(b"vendor_sku\n", "stock", FileOptions(encoding="klingon"))


def test_trailing_delimiter_makes_no_unknown_column() -> None:
    table = read_inbound(b"vendor_sku,available_quantity,\nA,1,\n", "stock", FileOptions())

    assert table.readable and table.problems == ()
