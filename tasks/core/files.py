"""Warehouse file formats: the orders file we write, and the shipment and stock files we read, as polars frames."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from tasks.core.config import FileOptions
from tasks.core.errors import ConfigError, DataError
from tasks.core.inbound_checks import (
    LineScan,
    Problem,
    character_problems,
    field_count_problems,
    locate_quote_problem,
    scan_lines,
    sniff,
    sniff_text,
)
from tasks.core.labels import OrderDocuments
from tasks.core.models import PurchaseOrder
from tasks.core.names import slug
from tasks.core.schemas import COLUMNS, InboundKind

ORDER_COLUMNS: tuple[str, ...] = (
    "purchase_order_number",
    "customer_order_number",
    "order_date",
    "required_ship_date",
    "ship_method",
    "is_priority",
    "item_sequence_number",
    "vendor_sku",
    "asin",
    "quantity",
    "ship_to_name",
    "ship_to_address_line1",
    "ship_to_address_line2",
    "ship_to_address_line3",
    "ship_to_city",
    "ship_to_state",
    "ship_to_postal_code",
    "ship_to_country",
    "ship_to_phone",
    "is_gift",
    "gift_message",
    "ship_from_party_id",
)

# Appended when the warehouse gets Amazon labels or packing slips (several values are separated by spaces).
ORDER_DOCUMENT_COLUMNS: tuple[str, ...] = (
    "label_ship_method",
    "label_tracking_numbers",
    "label_files",
    "packing_slip_required",
    "packing_slip_file",
    "packing_slip_missing",
)

# RFC 4180 ends records with CRLF; quoted fields keep their own line breaks untouched.
LINE_TERMINATOR = "\r\n"
# Byte order marks and zero-width characters in a header (a file concatenated or saved twice) do not matter either.
_HEADER_NOISE = re.compile(r"[\s_\-.\ufeff\u200b-\u200f\u2060]+")
_OTHER_DELIMITERS = (",", ";", "\t", "|")


def orders_file_name(account: str, warehouse: str, batch_time: datetime, batch: str | None = None) -> str:
    """Name the orders file of one batch; the same batch always gets the same name, so a retried upload replaces it.

    `batch` tells apart two runs that start in the same second (two workers): they must never share a name,
    or one run's upload would replace the other's file.
    """
    if batch_time.tzinfo is None:
        raise ValueError("batch_time must be timezone-aware")
    stamp = batch_time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{slug(batch)}" if batch else ""
    return f"orders_{slug(account)}_{slug(warehouse)}_{stamp}{suffix}.csv"


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("order dates must be timezone-aware")
    return value.astimezone(UTC)


def _bool_text(values: list[bool]) -> pl.Series:
    return pl.Series(values, dtype=pl.Boolean).replace_strict({True: "true", False: "false"}, return_dtype=pl.String)


def build_orders_file(
    orders: Sequence[PurchaseOrder], options: FileOptions, documents: Mapping[str, OrderDocuments] | None = None
) -> bytes:
    """Write one row per order line, with a header row, RFC 4180 quoting and the warehouse's names and formats.

    With `documents` (labels or packing slips on), each row also says where the order's label files and
    packing slip are, its label tracking numbers and ship method.
    """
    data: dict[str, list[object]] = {name: [] for name in ORDER_COLUMNS}
    for order in orders:
        address = order.ship_to
        for line in order.lines:
            data["purchase_order_number"].append(order.purchase_order_number)
            data["customer_order_number"].append(order.customer_order_number)
            data["order_date"].append(_utc(order.order_date))
            data["required_ship_date"].append(_utc(order.required_ship_date))
            data["ship_method"].append(order.ship_method)
            data["is_priority"].append(order.is_priority)
            data["item_sequence_number"].append(line.item_sequence_number)
            data["vendor_sku"].append(line.vendor_product_identifier)
            data["asin"].append(line.buyer_product_identifier)
            data["quantity"].append(line.ordered_quantity)
            data["ship_to_name"].append(address.name if address else None)
            data["ship_to_address_line1"].append(address.address_line1 if address else None)
            data["ship_to_address_line2"].append(address.address_line2 if address else None)
            data["ship_to_address_line3"].append(address.address_line3 if address else None)
            data["ship_to_city"].append(address.city if address else None)
            data["ship_to_state"].append(address.state_or_region if address else None)
            data["ship_to_postal_code"].append(address.postal_code if address else None)
            data["ship_to_country"].append(address.country_code if address else None)
            data["ship_to_phone"].append(address.phone if address else None)
            data["is_gift"].append(order.is_gift)
            data["gift_message"].append(line.gift_message)
            data["ship_from_party_id"].append(order.ship_from_party_id)

    when = pl.Datetime("us", "UTC")
    frame = pl.DataFrame(
        {
            name: (
                pl.Series(name, values, dtype=when).dt.strftime(options.datetime_format)
                if name in ("order_date", "required_ship_date")
                else _bool_text(values).alias(name)  # type: ignore[arg-type]
                if name in ("is_priority", "is_gift")
                else pl.Series(name, values, dtype=pl.Int64).cast(pl.String)
                if name == "quantity"
                else pl.Series(name, values, dtype=pl.String)
            )
            for name, values in data.items()
        }
    )
    names = ORDER_COLUMNS
    if documents is not None:
        frame = frame.join(_documents_frame(documents), on="purchase_order_number", how="left", maintain_order="left")
        names = ORDER_COLUMNS + ORDER_DOCUMENT_COLUMNS
    headers = order_headers(options, documents=documents is not None)
    frame = frame.rename(dict(zip(names, headers, strict=True)))
    text = frame.write_csv(separator=options.delimiter, quote_style="necessary", line_terminator=LINE_TERMINATOR)
    try:
        return text.encode(options.encoding)
    except LookupError:
        raise ConfigError(f"file encoding {options.encoding!r} is not known to Python") from None
    except UnicodeEncodeError:
        raise _unencodable(frame, headers, options.encoding) from None


def _documents_frame(documents: Mapping[str, OrderDocuments]) -> pl.DataFrame:
    def flag(value: bool) -> str:
        return "true" if value else "false"

    numbers = list(documents)
    values = [documents[number] for number in numbers]
    return pl.DataFrame(
        {
            "purchase_order_number": numbers,
            "label_ship_method": [d.label_ship_method for d in values],
            "label_tracking_numbers": [" ".join(d.tracking_numbers) or None for d in values],
            "label_files": [" ".join(d.label_files) or None for d in values],
            "packing_slip_required": [flag(d.packing_slip_required) for d in values],
            "packing_slip_file": [d.packing_slip_file for d in values],
            "packing_slip_missing": [flag(d.packing_slip_missing) for d in values],
        },
        schema=dict.fromkeys(("purchase_order_number", *ORDER_DOCUMENT_COLUMNS), pl.String),
    )


def order_headers(options: FileOptions, *, documents: bool = False) -> list[str]:
    """The orders file's header row: our column names, renamed where the warehouse asks for its own."""
    renames = options.columns.get("orders", {})
    known = ORDER_COLUMNS + ORDER_DOCUMENT_COLUMNS
    unknown = sorted(set(renames) - set(known))
    if unknown:
        raise ConfigError(f"files.columns.orders names unknown columns {unknown}; known: {list(known)}")
    headers = [renames.get(name, name) for name in (known if documents else ORDER_COLUMNS)]
    if len(set(headers)) != len(headers):
        raise ConfigError(f"files.columns.orders gives two columns the same header: {headers}")
    return headers


def _unencodable(frame: pl.DataFrame, headers: list[str], encoding: str) -> DataError:
    # Only on this failure path do we look value by value, to name the order and column without the value (PII).
    for header in headers:
        for index, value in enumerate(frame[header].to_list()):
            if value is None:
                continue
            try:
                value.encode(encoding)
            except UnicodeEncodeError:
                order = frame[headers[0]][index]
                return DataError(
                    f"order {order}: column {header} has a character that {encoding} cannot represent; "
                    "switch the warehouse's files.encoding to utf-8",
                    subject=str(order),
                )
    return DataError(f"the orders file cannot be encoded as {encoding}")


# ---------------------------------------------------------------------------------------------- inbound files


@dataclass(frozen=True)
class InboundTable:
    """An inbound file read as text: a `row` column (line number) and one String column per column of its kind."""

    frame: pl.DataFrame
    problems: tuple[Problem, ...]
    readable: bool  # False when the file could not be read at all: nothing in it may proceed
    notes: tuple[str, ...] = ()  # worth saying, not wrong: e.g. a column that is not ours and is ignored


def header_key(header: str) -> str:
    """Fold a header so that case, spaces, underscores, dashes and dots do not matter."""
    return _HEADER_NOISE.sub("", header.casefold())


def accepted_headers(kind: InboundKind, options: FileOptions) -> dict[str, list[str]]:
    """For each of our column names, the headers accepted for it, the warehouse's own name first."""
    renames = options.columns.get(kind, {})
    accepted: dict[str, list[str]] = {}
    for spec in COLUMNS[kind]:
        names = [renames.get(spec.name, spec.name), spec.name, *options.header_aliases.get(spec.name, [])]
        accepted[spec.name] = list(dict.fromkeys(names))
    return accepted


def _empty_table(kind: InboundKind, problem: Problem) -> InboundTable:
    schema = {"row": pl.Int64, **{spec.name: pl.String for spec in COLUMNS[kind]}}
    return InboundTable(pl.DataFrame(schema=schema), (problem,), readable=False)


def _to_utf8(data: bytes, encoding: str) -> tuple[bytes, Problem | None]:
    """Hand polars UTF-8; UTF-8 input goes as is, since polars checks it and drops a byte order mark itself."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"file encoding {encoding!r} is not known to Python") from None
    if codec == "utf-8":
        return data, None
    try:
        return data.decode(encoding).encode("utf-8"), None
    except UnicodeDecodeError as exc:
        return b"", _undecodable(data, encoding, exc)


def _undecodable(data: bytes, encoding: str, exc: UnicodeDecodeError) -> Problem:
    line = data.count(b"\n", 0, exc.start) + 1
    return Problem(
        f"the file is not valid {encoding}: byte 0x{data[exc.start]:02x} at byte offset {exc.start} "
        f"(line {line}) cannot be decoded; ask the warehouse to send {encoding} or change files.encoding"
    )


def _read_csv(utf8: bytes, delimiter: str) -> tuple[pl.DataFrame, Problem | None]:
    """Read every field as trimmed text with its line number, the header as row 0.

    Lines longer than the header are cut to its width; scan_lines reports them (and short ones) by line.
    """
    try:
        lazy = pl.scan_csv(io.BytesIO(utf8), has_header=False, infer_schema=False, separator=delimiter)
        # Trimming inside the scan keeps one copy of the file's text in memory, not two.
        names = lazy.collect_schema().names()
        return lazy.with_row_index("line", offset=1).select(*_lines_and_cells(utf8, names)).collect(), None
    except pl.exceptions.NoDataError:
        return pl.DataFrame(), Problem("the file is empty")
    except pl.exceptions.PolarsError as exc:
        if "utf-8" in str(exc):
            try:  # only now pay for a Python decode, to say where the bad byte is
                utf8.decode("utf-8")
            except UnicodeDecodeError as decode_error:
                return pl.DataFrame(), _undecodable(utf8, "utf-8", decode_error)
        if "more fields" not in str(exc):
            return pl.DataFrame(), Problem(
                f"the file is not valid CSV with delimiter {delimiter!r} (for example a quoted field that is "
                "never closed); the reader said: " + str(exc).splitlines()[0][:120]
            )
    header = pl.read_csv(
        utf8, has_header=False, infer_schema=False, separator=delimiter, n_rows=1, truncate_ragged_lines=True
    )
    names = [f"field_{index}" for index in range(header.width)]
    frame = pl.read_csv(
        utf8,
        has_header=False,
        separator=delimiter,
        schema=dict.fromkeys(names, pl.String),
        truncate_ragged_lines=True,
        missing_columns="insert",
    )
    return frame.with_row_index("line", offset=1).select(*_lines_and_cells(utf8, names)), None


def _lines_and_cells(utf8: bytes, names: list[str]) -> list[pl.Expr]:
    """The line each row starts on (header = 1), then every cell trimmed, empty cells as null.

    Needs the row index as column `line`: a row index streams with the scan, where `int_range(len())` would make
    polars hold the whole parsed file a second time (about 150 MB more per million rows).
    """
    line = pl.col("line").cast(pl.Int64)
    if b'"' in utf8:  # only a quoted field can span lines: count the line breaks inside earlier rows
        breaks = pl.sum_horizontal(pl.col(name).str.count_matches("\n", literal=True).fill_null(0) for name in names)
        line = line + breaks.cum_sum().shift(1, fill_value=0).cast(pl.Int64)
    return [line.alias("line"), *(_clean(pl.col(name)) for name in names)]


def read_inbound(data: bytes, kind: InboundKind, options: FileOptions) -> InboundTable:
    """Read a shipment or stock file into text columns with our names, and list what is wrong with its layout."""
    problem = sniff(data, options.encoding)
    if problem is not None:
        return _empty_table(kind, problem)
    utf8, problem = _to_utf8(data, options.encoding)
    if problem is None:
        problem = sniff_text(utf8)
    if problem is not None:
        return _empty_table(kind, problem)
    try:
        lines: LineScan | None = scan_lines(utf8, options.delimiter)  # before the parse: never the text twice
    except ValueError:
        return _empty_table(kind, Problem("the file holds every possible byte value: it is binary data, not CSV"))
    except pl.exceptions.PolarsError:
        lines = None  # empty or not UTF-8: the parse below says which
    raw, problem = _read_csv(utf8, options.delimiter)
    if problem is not None:
        return _empty_table(kind, _located(utf8, options.delimiter, problem))
    if lines is None:
        return _empty_table(kind, Problem("the file cannot be read as lines of text"))
    fields = raw.columns[1:]
    raw = raw.with_columns(blank=pl.all_horizontal(pl.col(name).is_null() for name in fields))
    if raw["blank"].all():
        return _empty_table(kind, Problem("the file is empty"))
    headers = [value or "" for value in raw.select(fields).row(0)]

    accepted = accepted_headers(kind, options)
    by_key = {header_key(name): ours for ours, names in accepted.items() for name in reversed(names)}
    found: dict[str, int] = {}
    problems: list[Problem] = []
    unknown: list[str] = []
    for position, header in enumerate(headers):
        ours = by_key.get(header_key(header))
        if ours is None:
            # A trailing delimiter on every line makes a nameless, empty column: harmless.
            if header or raw.slice(1)[fields[position]].null_count() < raw.height - 1:
                unknown.append(header)
        elif ours in found:
            problems.append(Problem(
                f"columns {headers[found[ours]]!r} and {header!r} both give {ours}; keep only one",
                column=header,
            ))
        else:
            found[ours] = position

    specs = COLUMNS[kind]
    if not found:
        hint = ""
        for other in _OTHER_DELIMITERS:
            if other != options.delimiter and any(other in header for header in headers):
                hint = f" (the file seems to use the delimiter {other!r}; this warehouse uses {options.delimiter!r})"
                break
        return _empty_table(kind, Problem(
            "the first line is not a header row: expected column names such as "
            + ", ".join(accepted[spec.name][0] for spec in specs if spec.required)
            + hint
        ))
    for spec in specs:
        if spec.required and spec.name not in found:
            problems.append(Problem(
                f"required column {spec.name} is missing; its header may be "
                + " or ".join(repr(name) for name in accepted[spec.name]),
                column=spec.name,
            ))
    # An unknown column is said, not refused: the words ("ignored") and the outcome (the file proceeds) agree.
    notes = tuple(
        f"column {header!r} is not one of this warehouse's {kind} columns and is ignored" for header in unknown
    )
    if problems:
        return InboundTable(_empty_table(kind, problems[0]).frame, tuple(problems), readable=False, notes=notes)

    body = raw.slice(1).filter(~pl.col("blank"))
    text_columns = [
        pl.col(fields[found[spec.name]]).alias(spec.name)
        if spec.name in found
        else pl.lit(None, dtype=pl.String).alias(spec.name)
        for spec in specs
    ]
    frame = body.select(pl.col("line").alias("row"), *text_columns)
    problems.extend(field_count_problems(raw, fields, lines, options.delimiter, utf8))
    problems.extend(_repeated_headers(body, fields, headers))
    read = {fields[position]: ours for ours, position in found.items()}
    problems.extend(character_problems(raw, fields, read, lines.suspect_lines, quoted=b'"' in utf8))
    return InboundTable(frame, tuple(problems), readable=True, notes=notes)


def _repeated_headers(body: pl.DataFrame, fields: list[str], headers: list[str]) -> list[Problem]:
    """A header row again inside the file: two exports joined into one (its 'values' are column names)."""
    first = next((position for position, header in enumerate(headers) if header_key(header)), None)
    if first is None:
        return []
    candidates = body.filter(pl.col(fields[first]).str.ends_with(headers[first].lstrip("\ufeff")))
    return [
        Problem("line repeats the header row: two exports joined into one file?", row=line)
        for line, *values in candidates.select("line", *fields).iter_rows()
        if [header_key(value or "") for value in values] == [header_key(header) for header in headers]
    ]


def _located(utf8: bytes, delimiter: str, problem: Problem) -> Problem:
    """The reader's verdict on a broken file, replaced by the line and column of the broken quote when one is."""
    first = utf8.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    headers = next(csv.reader([first], delimiter=delimiter), [])
    return locate_quote_problem(utf8, delimiter, headers) or problem


def _clean(value: pl.Expr) -> pl.Expr:
    trimmed = value.str.strip_chars()
    return pl.when(trimmed.str.len_bytes() > 0).then(trimmed)
