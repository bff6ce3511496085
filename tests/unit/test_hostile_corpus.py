"""A corpus of broken warehouse files, from what real 3PL exports get wrong, each with the problem it must report.

Every case starts from a clean shipment or stock file and applies one damage seen in the field: spreadsheet
reformatting, wrong encodings and byte order marks, truncation, hand edits, Excel dates and formulas, thousands
separators, mixed delimiters, control characters, other file types saved under a .csv name. Each asserts the
exact (line, column) of every problem and what its reason says; the invariants at the end hold for all of them:
nothing raw or live reaches the report or the console, and no damaged line proceeds.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from rich.console import Console

from flows.render import render_report
from tasks.core.config import FileOptions
from tasks.core.text import is_suspect
from tasks.core.validation import ValidationResult, validate_data

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
SHIP_HEADER = (
    "purchase_order_number,item_sequence_number,vendor_sku,quantity_shipped,carrier,ship_method,"
    "tracking_number,ship_date,package_weight,weight_unit"
)
SHIP_LINES = (
    "PO1,00001,SKU-1,1,UPS,UPS_GROUND,1Z001,2026-03-02,1.5,KG",
    "PO2,00001,SKU-2,2,UPS,UPS_GROUND,1Z002,2026-03-02,2.5,KG",
    "PO3,00001,SKU-3,1,FedEx,FEDEX_HOME,7946980001,2026-03-03,0.8,LB",
)
STOCK_HEADER = "vendor_sku,available_quantity,asin"
STOCK_LINES = ("SKU-1,12,B000000001", "SKU-2,0,B000000002", "SKU-3,7,B000000003")
SHIP_COLUMNS = SHIP_HEADER.split(",")


@dataclass(frozen=True)
class Case:
    """One broken file: its bytes, and the problems it must report as (line, column, words in the reason)."""

    name: str
    kind: str
    data: bytes
    expected: tuple[tuple[int | None, str | None, str], ...]
    options: FileOptions = field(default_factory=FileOptions)


def shipments(*lines: str, header: str = SHIP_HEADER, end: str = "\r\n", tail: bool = True) -> bytes:
    return (end.join([header, *lines]) + (end if tail else "")).encode("utf-8")


def stock(*lines: str, header: str = STOCK_HEADER, end: str = "\n") -> bytes:
    return (end.join([header, *lines]) + end).encode("utf-8")


def ship_cell(line: int, column: str, value: str) -> str:
    """SHIP_LINES[line] with one cell replaced (value written as is: quote it yourself if it needs quotes)."""
    cells = SHIP_LINES[line].split(",")
    cells[SHIP_COLUMNS.index(column)] = value
    return ",".join(cells)


def stock_cell(line: int, column: int, value: str) -> str:
    cells = STOCK_LINES[line].split(",")
    cells[column] = value
    return ",".join(cells)


S0, S1, S2 = SHIP_LINES
K0, K1, K2 = STOCK_LINES

CASES = [
    # ---- spreadsheet damage ---------------------------------------------------------------------------------
    Case("tracking number turned into scientific notation", "shipments",
         shipments(S0, ship_cell(1, "tracking_number", "7.94698E+11"), S2),
         ((3, "tracking_number", "7.94698E+11 is in scientific notation"),)),
    Case("purchase order number in scientific notation", "shipments",
         shipments(S0, S1, ship_cell(2, "purchase_order_number", "1.23457E+11")),
         ((4, "purchase_order_number", "scientific notation"),)),
    Case("EAN used as SKU in scientific notation", "stock",
         stock(K0, stock_cell(1, 0, "4.00638E+12"), K2),
         ((3, "vendor_sku", "4.00638E+12 is in scientific notation"),)),
    Case("lower-case scientific notation in a package id", "shipments",
         shipments(S0 + ",BOX1", S1 + ",1.2e+05", S2 + ",BOX3", header=SHIP_HEADER + ",package_id"),
         ((3, "package_id", "1.2e+05 is in scientific notation"),)),
    Case("spreadsheet error value in the carrier", "shipments",
         shipments(ship_cell(0, "carrier", "#VALUE!"), S1, S2),
         ((2, "carrier", "#VALUE! is what a spreadsheet shows for an error"),)),
    Case("too-narrow date column saved as hashes", "shipments",
         shipments(S0, ship_cell(1, "ship_date", "########"), S2),
         ((3, "ship_date", "what a spreadsheet shows for an error or a too-narrow column"),)),
    Case("#N/A in the available quantity", "stock",
         stock(K0, K1, stock_cell(2, 1, "#N/A")),
         ((4, "available_quantity", "what a spreadsheet shows"),)),
    Case("Excel date serial number as ship date", "shipments",
         shipments(ship_cell(0, "ship_date", "46083"), S1, S2),
         ((2, "ship_date", "date serial number"),)),
    Case("spreadsheet empty date 1899-12-30", "shipments",
         shipments(S0, ship_cell(1, "ship_date", "1899-12-30"), S2),
         ((3, "ship_date", "1899-12-30 is before 2025-12-05"),)),
    Case("Unix epoch as ship date", "shipments",
         shipments(S0, S1, ship_cell(2, "ship_date", "1970-01-01")),
         ((4, "ship_date", "not a plausible date"),)),
    Case("two-digit year read as year 26", "shipments",
         shipments(ship_cell(0, "ship_date", "26-03-02"), S1, S2),
         ((2, "ship_date", "26-03-02 is before"),)),
    Case("US date order", "shipments",
         shipments(S0, ship_cell(1, "ship_date", "03/02/2026"), S2),
         ((3, "ship_date", "03/02/2026 is not a date in format"),)),
    Case("date with a space and no seconds", "shipments",
         shipments(S0, S1, ship_cell(2, "ship_date", "2026-03-03 14:05")),
         ((4, "ship_date", "is not a date in format"),)),
    Case("ship date in the future (clock or typo)", "shipments",
         shipments(S0, ship_cell(1, "ship_date", "2027-03-02"), S2),
         ((3, "ship_date", "ship date is in the future"),)),
    Case("Excel keep-leading-zeros formula =\"00123\"", "shipments",
         shipments(S0, ship_cell(1, "tracking_number", '="0012345"'), S2),
         ((3, "tracking_number", "starts like a spreadsheet formula"),)),
    Case("formula injection in a quoted tracking number", "shipments",
         shipments(ship_cell(0, "tracking_number", '"=HYPERLINK(""http://x.example/"",""track"")"'), S1, S2),
         ((2, "tracking_number", "starts like a spreadsheet formula"),)),
    Case("DDE payload in the carrier", "shipments",
         shipments(S0, S1, ship_cell(2, "carrier", "+cmd|' /C calc'!A0")),
         ((4, "carrier", "starts like a spreadsheet formula"),)),
    Case("@SUM in the ship method", "shipments",
         shipments(S0, ship_cell(1, "ship_method", "@SUM(1+1)"), S2),
         ((3, "ship_method", "starts like a spreadsheet formula"),)),
    Case("thousands separator in a quoted quantity", "stock",
         stock(K0, stock_cell(1, 1, '"1,234"'), K2),
         ((3, "available_quantity", "without a thousands separator"),)),
    Case("European thousands separator 1.234", "stock",
         stock(stock_cell(0, 1, "1.234"), K1, K2),
         ((2, "available_quantity", "without a thousands separator"),)),
    Case("decimal comma in a weight", "shipments",
         shipments(S0, ship_cell(1, "package_weight", '"1,5"'), S2),
         ((3, "package_weight", "decimal separator as '.'"),)),
    Case("unit typed into the weight cell", "shipments",
         shipments(S0, S1, ship_cell(2, "package_weight", "0.8 lb")),
         ((4, "package_weight", "package weight must be a number"),)),
    Case("quantity exported as a float", "stock",
         stock(K0, stock_cell(1, 1, "12.0"), K2),
         ((3, "available_quantity", "whole number >= 0"),)),
    Case("negative stock", "stock",
         stock(K0, K1, stock_cell(2, 1, "-3")),
         ((4, "available_quantity", "whole number >= 0"),)),
    Case("ASIN lower-cased by a hand edit", "stock",
         stock(stock_cell(0, 2, "b000000001"), K1, K2),
         ((2, "asin", "ASIN must be 10 capital letters"),)),
    Case("placeholder N/A as tracking number", "shipments",
         shipments(ship_cell(0, "tracking_number", "N/A"), S1, S2),
         ((2, "tracking_number", "N/A stands for a missing value"),)),
    Case("placeholder [n/a] as SKU", "stock",
         stock(K0, stock_cell(1, 0, "[n/a]"), K2),
         ((3, "vendor_sku", "[n/a] stands for a missing value"),)),
    Case("dash as carrier", "shipments",
         shipments(S0, ship_cell(1, "carrier", "-"), S2),
         ((3, "carrier", "stands for a missing value"),)),
    Case("units in brackets in the quantity", "stock",
         stock(K0, K1, stock_cell(2, 1, "2 [pcs]")),
         ((4, "available_quantity", "whole number >= 0"),)),
    Case("weight unit spelled out", "shipments",
         shipments(S0, ship_cell(1, "weight_unit", "kgs"), S2),
         ((3, "weight_unit", "weight unit must be KG or LB"),)),
    Case("hand-typed quantity in words", "shipments",
         shipments(ship_cell(0, "quantity_shipped", "two"), S1, S2),
         ((2, "quantity_shipped", "whole number >= 1"),)),
    # ---- encodings and byte order marks ---------------------------------------------------------------------
    Case("UTF-16 with byte order mark (Excel Unicode Text)", "shipments",
         "\r\n".join([SHIP_HEADER, *SHIP_LINES]).encode("utf-16"),
         ((None, None, "UTF-16 text"),)),
    Case("UTF-16 without byte order mark", "stock",
         "\n".join([STOCK_HEADER, *STOCK_LINES]).encode("utf-16-le"),
         ((None, None, "a NUL in every other byte"),)),
    Case("Latin-1 accent in a UTF-8 warehouse", "stock",
         stock(K0, K1).replace(b"SKU-2", b"CAF\xc9-2"),
         ((None, None, "not valid utf-8: byte 0xc9 at byte offset 58 (line 3)"),)),
    Case("Windows-1252 curly quote", "shipments",
         shipments(S0, S1).replace(b"UPS_GROUND,1Z002", b"UPS \x93GROUND\x94,1Z002"),
         ((None, None, "not valid utf-8: byte 0x93"),)),
    Case("UTF-8 byte order mark in a Latin-1 warehouse", "stock",
         b"\xef\xbb\xbf" + stock(K0, K1, K2), ((None, None, "starts with a UTF-8 byte order mark"),),
         FileOptions(encoding="latin-1")),
    Case("byte order mark inside the file (two files joined)", "stock",
         stock(K0, "\ufeffSKU-9,4,B000000009", K2),
         ((3, "vendor_sku", "U+FEFF"),)),
    Case("replacement character from an earlier bad conversion", "stock",
         stock(K0, K1, stock_cell(2, 0, "CAF\ufffd-3")),
         ((4, "vendor_sku", "U+FFFD (REPLACEMENT CHARACTER)"),)),
    Case("C1 control NEL inside the carrier", "shipments",
         shipments(S0, ship_cell(1, "carrier", "UP\u0085S"), S2),
         ((3, "carrier", "U+0085"),)),
    Case("zero-width space inside a tracking number", "shipments",
         shipments(S0, S1, ship_cell(2, "tracking_number", "79469\u200b80001")),
         ((4, "tracking_number", "U+200B (ZERO WIDTH SPACE)"),)),
    Case("right-to-left override in a SKU", "stock",
         stock(stock_cell(0, 0, "SKU\u202e-1"), K1, K2),
         ((2, "vendor_sku", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),)),
    # ---- control characters ---------------------------------------------------------------------------------
    Case("NUL padding after a tracking number (fixed-width export)", "shipments",
         shipments(ship_cell(0, "tracking_number", "1Z001\x00\x00\x00\x00"), S1, S2),
         ((2, "tracking_number", "U+0000 (NUL) at position 6"),)),
    Case("NUL inside a SKU", "stock",
         stock(K0, stock_cell(1, 0, "SK\x00U-2"), K2),
         ((3, "vendor_sku", "U+0000 (NUL) at position 3"),)),
    Case("terminal colour codes in the carrier", "shipments",
         shipments(S0, ship_cell(1, "carrier", "\x1b[31mUPS\x1b[0m"), S2),
         ((3, "carrier", "U+001B (ESCAPE) at position 1"),)),
    Case("tab inside a value of a comma file", "shipments",
         shipments(S0, S1, ship_cell(2, "ship_method", "FEDEX\tHOME")),
         ((4, "ship_method", "U+0009 (TAB)"),)),
    Case("bare carriage return inside a value", "shipments",
         shipments(ship_cell(0, "tracking_number", "1Z\r001"), S1, S2),
         ((2, "tracking_number", "U+000D (CARRIAGE RETURN)"),)),
    Case("DEL in a purchase order number", "shipments",
         shipments(S0, ship_cell(1, "purchase_order_number", "PO\x7f2"), S2),
         ((3, "purchase_order_number", "U+007F (DELETE)"),)),
    Case("vertical tab inside a SKU", "stock",
         stock(K0, K1, stock_cell(2, 0, "SKU\x0b3")),
         ((4, "vendor_sku", "U+000B"),)),
    Case("NUL-padded tail (file preallocated and not cut)", "stock",
         stock(K0, K1, K2) + b"\x00" * 40 + b"\n",
         ((5, None, "line has 1 fields but the header has 3"), (5, "vendor_sku", "U+0000"))),
    # ---- structure, truncation and hand edits ---------------------------------------------------------------
    Case("extra value after an empty field (…,,x)", "shipments",
         shipments(S0, S1 + ",,x", S2),
         ((3, None, "line has 12 fields but the header has 10"),)),
    Case("one extra field at the end", "shipments",
         shipments(S0 + ",x", S1, S2),
         ((2, None, "line has 11 fields but the header has 10: a value holds an unquoted comma"),)),
    Case("unquoted comma inside a carrier name", "shipments",
         shipments(S0, S1, ship_cell(2, "carrier", "FedEx, Inc.")),
         ((4, None, "line has 11 fields"),)),
    Case("last field missing", "shipments",
         shipments(S0, S1.rsplit(",", 1)[0], S2),
         ((3, None, "line has 9 fields but the header has 10: a value is missing"),)),
    Case("a middle field deleted by hand", "stock",
         stock(K0, "SKU-2,B000000002", K2),
         ((3, None, "line has 2 fields but the header has 3"),)),
    Case("file cut short in the last line", "shipments",
         shipments(S0, S1, "PO3,00001,SKU-3,1,Fed", tail=False),
         ((4, None, "the file may have been cut short"),)),
    Case("file cut short inside a quoted value", "shipments",
         shipments(S0, S1, 'PO3,00001,SKU-3,1,FedEx,"FEDEX_HO', tail=False),
         ((4, "ship_method", "line 4, column ship_method: a quoted value starts here and is never closed"),)),
    Case("quote opened mid-file and never closed", "stock",
         stock(K0, '"SKU-2,0,B000000002', K2),
         ((3, "vendor_sku", "line 3, column vendor_sku: a quoted value starts here and is never closed"),)),
    Case("inch mark in an unquoted value", "shipments",
         shipments(S0, ship_cell(1, "ship_method", 'BOX 12" FLAT'), S2),
         ((3, "ship_method", "a quote inside an unquoted value"),)),
    Case("space before an opening quote", "stock",
         stock(K0, ' "SKU-2",0,B000000002', K2),
         ((3, "vendor_sku", '"SKU-2" holds a quote character'),)),
    Case("text after a closing quote", "stock",
         stock(K0, K1, '"SKU-3"X,7,B000000003'),
         ((4, "vendor_sku", "text follows the closing quote"),)),
    Case("quoted value swallowing the next line", "shipments",
         shipments(S0, ship_cell(1, "ship_method", '"UPS_GROUND'), ship_cell(2, "ship_method", 'FEDEX"')),
         ((3, "ship_method", "a quoted value starts on line 3 and runs to line 4"),)),
    Case("semicolon file sent to a comma warehouse", "shipments",
         shipments(*(line.replace(",", ";") for line in SHIP_LINES), header=SHIP_HEADER.replace(",", ";")),
         ((None, None, "the file seems to use the delimiter ';'"),)),
    Case("tab-separated export to a comma warehouse", "stock",
         stock(*(line.replace(",", "\t") for line in STOCK_LINES), header=STOCK_HEADER.replace(",", "\t")),
         ((None, None, "the file seems to use the delimiter '\\t'"),)),
    Case("one line with semicolons among commas", "shipments",
         shipments(S0, S1.replace(",", ";"), S2),
         ((3, None, "line has 1 fields but the header has 10"),)),
    Case("comma file sent to a semicolon warehouse, one line right", "stock",
         stock(K0.replace(",", ";"), K1, K2, header=STOCK_HEADER.replace(",", ";")),
         ((3, None, "line has 1 fields but the header has 3"), (4, None, "line has 1 fields")),
         FileOptions(delimiter=";")),
    Case("header row missing", "stock",
         stock(K1, K2, header=K0),
         ((None, None, "the first line is not a header row"),)),
    Case("required column renamed by hand", "shipments",
         shipments(S0, S1, header=SHIP_HEADER.replace("tracking_number", "waybill")),
         ((None, "tracking_number", "required column tracking_number is missing"),)),
    Case("the same column twice", "stock",
         stock("SKU-1,12,12,B000000001", header="vendor_sku,available_quantity,Available Quantity,asin"),
         ((None, "Available Quantity", "both give available_quantity"),)),
    Case("header repeated inside the file (two exports joined)", "shipments",
         shipments(S0, SHIP_HEADER, S1),
         ((3, None, "line repeats the header row"),)),
    Case("totals row at the end", "stock",
         stock(K0, K1, K2, "TOTAL,19,"),
         ((5, "vendor_sku", "TOTAL is a report's totals row"),)),
    Case("report footer line", "shipments",
         shipments(S0, S1, S2, "End of report"),
         ((5, None, "line has 1 fields but the header has 10"),)),
    Case("the same line twice (export ran twice into one file)", "shipments",
         shipments(S0, S1, S0),
         ((2, "purchase_order_number", "order held back because its line 4"), (4, None, "line repeats line 2"))),
    Case("a SKU listed twice", "stock",
         stock(K0, K1, K0),
         ((2, "vendor_sku", "listed 2 times"), (4, "vendor_sku", "listed 2 times"))),
    # ---- empty, truncated to nothing, or not CSV at all -----------------------------------------------------
    Case("stock file with a header and no rows", "stock",
         stock(), ((None, None, "has a header and no rows"),)),
    Case("stock file with a header and blank lines", "stock",
         stock("", " ", ",,"), ((None, None, "has a header and no rows"),)),
    Case("zero-byte file", "stock", b"", ((None, None, "the file is empty"),)),
    Case("only blank lines", "shipments", b"\r\n\r\n  \r\n", ((None, None, "the file is empty"),)),
    Case("classic Mac line endings (bare CR)", "shipments",
         shipments(*SHIP_LINES, end="\r"), ((None, None, "bare carriage return"),)),
    Case("Excel workbook saved with a .csv name", "shipments",
         b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, ((None, None, "an Excel workbook (.xlsx)"),)),
    Case("old Excel workbook", "stock",
         b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, ((None, None, "an old Excel workbook (.xls)"),)),
    Case("gzip archive", "stock", gzip.compress(stock(K0)), ((None, None, "a gzip archive"),)),
    Case("HTML error page saved as the export", "shipments",
         b"<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>\n",
         ((None, None, "an HTML or XML page"),)),
]


def _problems(result: ValidationResult) -> list[tuple[int | None, str | None, str]]:
    return [(row, column, reason) for row, column, _, reason in result.errors.iter_rows()]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_broken_file_reports_its_problem_where_it_is(case: Case) -> None:
    result = validate_data(case.data, case.kind, case.options, file_name="damaged.csv", now=NOW)  # type: ignore[arg-type]

    found = _problems(result)
    assert [(row, column) for row, column, _ in found] == [(row, column) for row, column, _ in case.expected], found
    for (_, _, reason), (_, _, words) in zip(found, case.expected, strict=True):
        assert words in reason
    assert not result.ok


def test_the_corpus_is_large_and_covers_both_kinds() -> None:
    assert len(CASES) >= 60
    assert {case.kind for case in CASES} == {"shipments", "stock"}
    assert len({case.name for case in CASES}) == len(CASES)


_LIVE_CELL = re.compile(r'(^|,)"?[=+\-@\t\r]')


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_nothing_raw_or_live_reaches_the_report_or_the_console(case: Case) -> None:
    result = validate_data(case.data, case.kind, case.options, file_name="=damaged.csv", now=NOW)  # type: ignore[arg-type]

    report = result.report_csv().decode("utf-8")
    assert not any(is_suspect(char) for char in report.replace("\r\n", ""))
    for line in report.split("\r\n")[1:]:
        assert not _LIVE_CELL.search(line), line  # every cell a spreadsheet would run starts with a '
    summary = result.summary()
    assert not any(is_suspect(char) for char in summary)
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(render_report(result))  # file text is never console markup: no MarkupError
    assert not any(is_suspect(char) for char in console.file.getvalue().replace("\n", ""))  # type: ignore[attr-defined]
    bad_rows = set(result.errors["row"].drop_nulls().to_list())
    assert not bad_rows & set(result.valid["row"].to_list())


TOLERATED = {
    "byte order mark": b"\xef\xbb\xbf" + stock(K0, K1, K2),
    "byte order mark twice (saved twice)": b"\xef\xbb\xbf\xef\xbb\xbf" + stock(K0, K1, K2),
    "mixed CRLF and LF line ends": stock(K0, K1, K2).replace(b"\n", b"\r\n", 2),
    "every value quoted": stock(*(",".join(f'"{v}"' for v in line.split(",")) for line in STOCK_LINES)),
    "trailing delimiter on every line": stock(K0 + ",", K1 + ",", K2 + ",", header=STOCK_HEADER + ","),
    "spaces and no-break spaces around values": stock(" SKU-1 ,\u00a012\u00a0, B000000001", K1, K2),
    "header in other case and spacing": stock(K0, K1, K2, header="Vendor SKU , AVAILABLE-QUANTITY,Asin"),
    "blank lines between and after": stock(K0, "", K1, ",,", K2, "", ""),
    "last line without a line end": stock(K0, K1, K2)[:-1],
    "quoted comma inside a value": stock('"SKU-1, red",12,B000000001', K1, K2),
}


@pytest.mark.parametrize("data", TOLERATED.values(), ids=list(TOLERATED))
def test_harmless_damage_is_tolerated(data: bytes) -> None:
    result = validate_data(data, "stock", FileOptions(), file_name="stock.csv", now=NOW)

    assert result.ok, result.summary()
    assert result.valid.height == 3
    assert result.valid["available_quantity"].to_list() == [12, 0, 7]
