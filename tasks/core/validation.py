"""Validate shipment and stock files: every problem of a file at once, as rows a person can act on."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import polars as pl
from pandera.errors import SchemaErrors

from tasks.core.config import FileOptions
from tasks.core.errors import DataError
from tasks.core.files import InboundTable, Problem, read_inbound
from tasks.core.inbound_checks import visible_expr
from tasks.core.models import InventoryItem
from tasks.core.schemas import CHECK_COLUMNS, COLUMNS, MODELS, NOT_SHIPPED_OPTIONAL, ColumnSpec, InboundKind
from tasks.core.text import visible

ERROR_SCHEMA = {"row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String}
REPORT_COLUMNS = ("file", "row", "column", "value", "reason")
SUMMARY_PROBLEMS = 3
PANDERA_SLICE = 250_000  # rows pandera checks at once
_SHOWN_VALUE = 40
# OWASP, CSV injection: a cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...), +cmd|...)
_FORMULA_START = r"^[=+\-@\t\r]"


@dataclass(frozen=True)
class ValidationResult:
    """What a file holds: typed rows that may proceed, and every problem found, each with its line number."""

    file_name: str
    kind: InboundKind
    rows: int  # data rows in the file, blank lines not counted
    valid: pl.DataFrame  # typed rows that passed, with their line numbers in column `row`
    errors: pl.DataFrame  # row (None for the whole file), column, value, reason
    readable: bool = True  # False: the file as a whole could not be read, nothing in it proceeds
    held_orders: tuple[str, ...] = ()  # shipments: orders left out whole because one of their lines is bad
    notes: tuple[str, ...] = ()  # said but not wrong (a column that is ignored): they do not fail the file

    @property
    def ok(self) -> bool:
        return self.errors.is_empty()

    @property
    def rejected_rows(self) -> int:
        return self.rows - self.valid.height

    def report_csv(self) -> bytes:
        """The `<name>.errors.csv` next to a quarantined file: file, row, column, value, reason.

        The warehouse opens it in a spreadsheet, and its values come from the file it sent (anyone's text): every
        cell that a spreadsheet would run as a formula is neutralised as OWASP's CSV-injection guidance says, by a
        leading single quote, and every text cell is quoted.
        """
        report = self.errors.select(pl.lit(visible(self.file_name)).alias("file"), *ERROR_SCHEMA).with_columns(
            _defused(pl.col(name)).alias(name) for name in ("file", "column", "value", "reason")
        )
        return report.write_csv(quote_style="non_numeric", line_terminator="\r\n").encode("utf-8")

    def summary(self) -> str:
        """One paragraph: the file, the counts and the first few problems (inbound files hold no PII)."""
        head = f"{self.kind} file {visible(self.file_name)}"
        notes = "".join(f" Note: {note}." for note in self.notes)
        if not self.readable:
            reasons = "; ".join(self.errors["reason"].to_list()[:SUMMARY_PROBLEMS])
            return f"{head} could not be read: {reasons}.{notes}"
        text = f"{head}: {self.rows} rows, {self.valid.height} valid, {self.rejected_rows} rejected"
        if self.held_orders:
            text += f", {len(self.held_orders)} order(s) left out whole"
        if self.ok:
            return text + "; no problems." + notes
        shown = [_describe(*problem) for problem in self.errors.head(SUMMARY_PROBLEMS).iter_rows()]
        more = self.errors.height - len(shown)
        text += f"; {self.errors.height} problem(s): " + "; ".join(shown)
        return text + (f"; and {more} more in the error report." if more else ".") + notes


def _defused(cell: pl.Expr) -> pl.Expr:
    return pl.when(cell.str.contains(_FORMULA_START)).then(pl.lit("'") + cell).otherwise(cell)


def _describe(row: int | None, column: str | None, value: str | None, reason: str) -> str:
    where = f"line {row}" if row is not None else "file"
    if column:
        where += f", {column}"
    if value is not None:
        shown = value if len(value) <= _SHOWN_VALUE else value[: _SHOWN_VALUE - 1] + "…"
        where += f" {shown!r}"
    return f"{where}: {reason}"


def validate_shipments(
    data: bytes, options: FileOptions, *, file_name: str, now: datetime, not_shipped: Collection[str] = ()
) -> ValidationResult:
    """Validate a shipment file; an order with any bad line is held back whole, the other orders proceed.

    A line whose status is one of the `not_shipped` markers may leave its package columns empty.
    """
    return _validate(data, "shipments", options, file_name=file_name, now=now, not_shipped=not_shipped)


def validate_stock(
    data: bytes, options: FileOptions, *, file_name: str, now: datetime | None = None
) -> ValidationResult:
    """Validate a stock file; every SKU must appear once, rows with problems are left out."""
    return _validate(data, "stock", options, file_name=file_name, now=now or datetime.now(UTC))


def validate_sku_map(data: bytes, options: FileOptions, *, file_name: str) -> ValidationResult:
    """Validate a SKU map file: each warehouse SKU, vendor SKU and ASIN at most once, each row naming an Amazon id."""
    return _validate(data, "sku_map", options, file_name=file_name, now=datetime.now(UTC))
def validate_packages(data: bytes, options: FileOptions, *, file_name: str) -> ValidationResult:
    """Validate a warehouse packages file; an order with any bad row is held back whole, the others proceed."""
    return _validate(data, "packages", options, file_name=file_name, now=datetime.now(UTC))


def validate_package_profile(data: bytes, options: FileOptions, *, file_name: str) -> ValidationResult:
    """Validate a per-SKU package profile; every SKU must appear once, rows with problems are left out."""
    return _validate(data, "package_profile", options, file_name=file_name, now=datetime.now(UTC))


def validate_data(
    data: bytes,
    kind: Literal["shipments", "stock"],
    options: FileOptions,
    *,
    file_name: str,
    now: datetime | None = None,
) -> ValidationResult:
    """Validate the bytes of a warehouse file of either kind."""
    return _validate(data, kind, options, file_name=file_name, now=now or datetime.now(UTC))


def to_inventory_items(valid: pl.DataFrame) -> list[InventoryItem]:
    """Turn validated stock rows into inventory items, one per SKU."""
    repeated = valid.filter(pl.col("vendor_sku").is_duplicated())["vendor_sku"].unique().sort().to_list()
    if repeated:
        shown = ", ".join(repeated[:5]) + (" …" if len(repeated) > 5 else "")
        raise DataError(f"{len(repeated)} SKU(s) listed more than once: {shown}", subject="stock")
    columns = valid.select("vendor_sku", "available_quantity", "asin")
    return [
        InventoryItem(vendor_product_identifier=sku, available_quantity=quantity, buyer_product_identifier=asin)
        for sku, quantity, asin in columns.iter_rows()
    ]


# ---------------------------------------------------------------------------------------------- the pipeline


def _validate(
    data: bytes,
    kind: InboundKind,
    options: FileOptions,
    *,
    file_name: str,
    now: datetime,
    not_shipped: Collection[str] = (),
) -> ValidationResult:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    table = read_inbound(data, kind, options)
    specs = COLUMNS[kind]
    typed, cast_errors = _cast(table.frame, specs, options)
    file_errors = _problems_frame(table)
    if not table.readable:
        errors = _visible(file_errors)
        return ValidationResult(file_name, kind, 0, typed.clear(), errors, readable=False, notes=table.notes)

    if kind == "stock" and table.frame.is_empty():
        empty = InboundTable(table.frame, (Problem(EMPTY_STOCK),), readable=True)
        file_errors = pl.concat([file_errors, _problems_frame(empty)])
    damage = _damage_checks(table.frame, typed, specs, options, now)
    cast_errors = _with_hints(cast_errors, specs)
    row_errors = _drop_cast_nulls(_pandera_errors_in_slices(table.frame, typed, kind), cast_errors)
    if kind == "shipments":
        extra = _shipment_checks(table.frame, typed, now)
    elif kind in ("stock", "package_profile"):  # each SKU once
        extra = _stock_checks(table.frame)
    elif kind == "sku_map":
        extra = [_repeated(table.frame, name, label) for name, label in _SKU_MAP_KEYS]
    else:
        extra = []
    # A line wrong as a whole (the wrong number of fields: values in the wrong columns; a repeated header) has
    # only that said of it. Of the problems named for one cell, the first is the most specific (a NUL, 7.9E+11).
    whole_lines = file_errors.filter(pl.col("row").is_not_null() & pl.col("column").is_null())["row"].implode()
    cell_errors = pl.concat([*damage, cast_errors, row_errors, *extra], how="vertical")
    errors = pl.concat([file_errors, cell_errors.filter(~pl.col("row").is_in(whole_lines))], how="vertical").filter(
        pl.struct("row", "column").is_first_distinct() | pl.col("row").is_null() | pl.col("column").is_null()
    )
    if kind == "shipments" and not_shipped:
        errors = _excuse_not_shipped(errors, table.frame, not_shipped)

    bad_rows = errors.filter(pl.col("row").is_not_null())["row"].unique()
    held: tuple[str, ...] = ()
    keep = ~pl.col("row").is_in(bad_rows.implode())
    if kind in ("shipments", "packages"):  # an order's rows go through whole or not at all
        held_errors, held = _hold_orders(table.frame, bad_rows, "confirmed" if kind == "shipments" else "labelled")
        errors = pl.concat([errors, held_errors], how="vertical")
        keep = keep & ~pl.col("purchase_order_number").is_in(pl.Series(held, dtype=pl.String).implode())
    valid = typed.filter(keep)
    errors = _visible(errors.sort("row", nulls_last=False, maintain_order=True))
    return ValidationResult(
        file_name, kind, table.frame.height, valid, errors, readable=True, held_orders=held, notes=table.notes
    )


def _problems_frame(table: InboundTable) -> pl.DataFrame:
    problems: list[Problem] = list(table.problems)
    return pl.DataFrame(
        {
            "row": [problem.row for problem in problems],
            "column": [problem.column for problem in problems],
            "value": [problem.value for problem in problems],
            "reason": [problem.reason for problem in problems],
        },
        schema=ERROR_SCHEMA,
    )


def _typed(spec: ColumnSpec, options: FileOptions) -> pl.Expr:
    column = pl.col(spec.name)
    if spec.kind == "integer":
        return column.cast(pl.Int64, strict=False)
    if spec.kind == "decimal":
        return column.cast(pl.Float64, strict=False)
    if spec.kind == "unit":
        return column.str.to_uppercase()
    if spec.kind == "datetime":
        # polars 2 cannot cast text to dates, so parse: a plain date (midnight UTC) or a full timestamp.
        when = pl.Datetime("us", "UTC")
        return pl.coalesce(
            column.str.strptime(when, options.date_format, strict=False),
            column.str.strptime(when, options.datetime_format, strict=False),
        )
    return column


def _cast(text: pl.DataFrame, specs: tuple[ColumnSpec, ...], options: FileOptions) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type every column; a value that is present but cannot be typed becomes an error row instead of a null."""
    typed = text.select("row", *(_typed(spec, options).alias(spec.name) for spec in specs))
    failures = []
    for spec in specs:
        if spec.kind not in ("integer", "decimal", "datetime"):
            continue
        if spec.kind == "datetime":
            label = spec.name.replace("_", " ")
            formats = f"{options.date_format} or {options.datetime_format}"
            reason = pl.concat_str(pl.lit(f"{label} "), pl.col("value"), pl.lit(f" is not a date in format {formats}"))
        else:
            reason = pl.lit(spec.rule)
        failures.append(
            text.select("row", pl.col(spec.name).alias("value"))
            .filter(pl.col("value").is_not_null() & typed[spec.name].is_null())
            .select("row", pl.lit(spec.name).alias("column"), "value", reason.alias("reason"))
        )
    return typed, pl.concat([pl.DataFrame(schema=ERROR_SCHEMA), *failures], how="vertical")


def _pandera_errors_in_slices(text: pl.DataFrame, typed: pl.DataFrame, kind: InboundKind) -> pl.DataFrame:
    """Pandera's errors, a slice of rows at a time: its checks are row by row, and its scratch memory grows with
    the rows it is given (a million-row file stays under 1 GB this way)."""
    return pl.concat(
        [
            _pandera_errors(text.slice(start, PANDERA_SLICE), typed.slice(start, PANDERA_SLICE), kind)
            for start in range(0, max(typed.height, 1), PANDERA_SLICE)
        ],
        how="vertical",
    )


def _pandera_errors(text: pl.DataFrame, typed: pl.DataFrame, kind: InboundKind) -> pl.DataFrame:
    try:
        MODELS[kind].validate(typed, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return pl.DataFrame(schema=ERROR_SCHEMA)
    specs = {spec.name: spec for spec in COLUMNS[kind]}
    pairs = cases.select("schema_context", "column", "check").unique(maintain_order=True)
    # A handful of distinct (column, check) pairs per file: name each once, then join the reasons onto the rows.
    reasons = pl.DataFrame(
        [
            (context, column, check, _reason(specs, context, column, check))
            for context, column, check in pairs.iter_rows()
        ],
        schema={"schema_context": pl.String, "column": pl.String, "check": pl.String, "reason": pl.String},
        orient="row",
    )
    lines = typed.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("index"), "row")
    whole_row = pl.col("schema_context") == "DataFrameSchema"
    located = (
        cases.join(reasons, on=["schema_context", "column", "check"], how="left")
        .with_columns(pl.col("index").cast(pl.Int64))
        .join(lines, on="index", how="left")
        .select(
            "row",
            pl.when(whole_row).then(pl.col("check").replace_strict(CHECK_COLUMNS, default=None))
            .otherwise(pl.col("column")).alias("column"),
            "reason",
        )
    )
    # Show the value as the file wrote it ("0,0" or "0.00"), not as pandera prints the typed value.
    written = (
        text.join(located.select("row").unique(), on="row", how="semi")
        .unpivot(index="row", variable_name="column", value_name="value")
    )
    return located.join(written, on=["row", "column"], how="left").select(*ERROR_SCHEMA).cast(ERROR_SCHEMA)


def _reason(specs: dict[str, ColumnSpec], context: str, column: str, check: str) -> str:
    if context == "DataFrameSchema" or column not in specs:
        return check  # our own dataframe checks carry a plain-language error; anything else is shown as is
    spec = specs[column]
    label = column.replace("_", " ")
    if check == "not_nullable":
        return f"{label} is required"
    if check.startswith("str_length") and spec.max_length is not None:
        return f"{label} is empty or longer than {spec.max_length} characters"
    return spec.rule


def _drop_cast_nulls(errors: pl.DataFrame, cast_errors: pl.DataFrame) -> pl.DataFrame:
    """A value that could not be typed is already reported; its null must not be reported again as missing."""
    return errors.join(cast_errors.select("row", "column"), on=["row", "column"], how="anti", nulls_equal=False)


def _shipment_checks(text: pl.DataFrame, typed: pl.DataFrame, now: datetime) -> list[pl.DataFrame]:
    future_rows = typed.filter(pl.col("ship_date") > now)["row"]
    future = (
        text.filter(pl.col("row").is_in(future_rows.implode()))
        .select("row", pl.lit("ship_date").alias("column"), pl.col("ship_date").alias("value"),
                pl.lit(f"ship date is in the future (now is {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC)").alias("reason"))
    )
    columns = [name for name in text.columns if name != "row"]
    # Row hashes find the few candidate rows cheaply (a struct grouping of the whole file costs ~250 MB per
    # million rows); the exact grouping then runs on the candidates alone.
    candidates = _repeated_values(text.select(pl.struct(columns).hash())[:, 0])
    repeats = (
        text.filter(candidates)
        .with_columns(pl.col("row").min().over(columns).alias("first"))
        .filter(pl.col("row") != pl.col("first"))
        .select("row", pl.lit(None, dtype=pl.String).alias("column"), pl.lit(None, dtype=pl.String).alias("value"),
                pl.format("line repeats line {} exactly", pl.col("first")).alias("reason"))
    )
    return [future.cast(ERROR_SCHEMA), repeats.cast(ERROR_SCHEMA)]  # type: ignore[arg-type]


def _repeated_values(values: pl.Series) -> pl.Series:
    """Which values occur more than once; sorting costs a few MB per million rows where is_duplicated's hash
    groups cost about 100 MB."""
    ordered = values.sort()
    twice = ordered.filter(ordered == ordered.shift(1))
    return values.is_in(twice.unique().implode())


def _excuse_not_shipped(errors: pl.DataFrame, text: pl.DataFrame, markers: Collection[str]) -> pl.DataFrame:
    """A line marked "could not ship" has no package: its package columns may be empty, its quantity 0."""
    denied = text.filter(pl.col("status").str.to_lowercase().is_in([m.casefold() for m in markers]))["row"]
    excused = (
        pl.col("row").is_in(denied.implode())
        & pl.col("column").is_in(NOT_SHIPPED_OPTIONAL)
        & (pl.col("value").is_null() | ((pl.col("column") == "quantity_shipped") & (pl.col("value") == "0")))
    )
    return errors.filter(~excused)


def _stock_checks(text: pl.DataFrame) -> list[pl.DataFrame]:
    return [_repeated(text, "vendor_sku", "SKU")]


# A map is a function: one line per warehouse SKU, and no two warehouse SKUs for one Amazon item.
_SKU_MAP_KEYS = (("warehouse_sku", "warehouse SKU"), ("vendor_sku", "vendor SKU"), ("asin", "ASIN"))


def _repeated(text: pl.DataFrame, column: str, label: str) -> pl.DataFrame:
    reason = f"{label} is listed {{}} times (first on line {{}}); list each {label} once"
    repeated = (
        text.filter(pl.col(column).is_not_null())
        .with_columns(
            pl.len().over(column).alias("times"),
            pl.col("row").min().over(column).alias("first"),
        )
        .filter(pl.col("times") > 1)
        .select("row", pl.lit(column).alias("column"), pl.col(column).alias("value"),
                pl.format(reason, "times", "first").alias("reason"))
    )
    return repeated.cast(ERROR_SCHEMA)  # type: ignore[arg-type]


def _hold_orders(
    text: pl.DataFrame, bad_rows: pl.Series, done: str = "confirmed"
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """An order is confirmed (or labelled) whole or not at all: one bad line holds back every line of its order."""
    order = "purchase_order_number"
    orders = text.select("row", order)  # two columns, not the whole file, go through the joins
    bad_orders = (
        orders.filter(pl.col("row").is_in(bad_rows.implode()) & pl.col(order).is_not_null())
        .group_by(order, maintain_order=True)
        .agg(pl.col("row").min().alias("first_bad"))
    )
    held_lines = (
        orders.join(bad_orders, on=order, how="inner")
        .filter(~pl.col("row").is_in(bad_rows.implode()))
        .select("row", pl.lit(order).alias("column"), pl.col(order).alias("value"),
                pl.format("order held back because its line {} has a problem; "
                          f"an order is {done} whole or not at all", "first_bad").alias("reason"))
        .cast(ERROR_SCHEMA)  # type: ignore[arg-type]
    )
    return held_lines, tuple(bad_orders[order].to_list())


# ---------------------------------------------------------------------------------------------- damage and plausibility

EMPTY_STOCK = (
    "the stock file has a header and no rows: a full inventory update from it would set every SKU to zero "
    "(a failed export at the warehouse?); nothing is sent"
)
# 7.94698E+11: a spreadsheet read a long number, showed it in scientific notation and saved it so; digits are lost
_SCIENTIFIC = r"^[+-]?[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+$"
_SPREADSHEET_ERROR = (
    r"(?i)^#(?:N/A|VALUE!|REF!|NAME\?|DIV/0!|NULL!|NUM!|SPILL!|CALC!|FIELD!|BLOCKED!|CONNECT!|BUSY!|UNKNOWN!"
    r"|GETTING_DATA)$|^#+$"
)
# a stand-in a person or a system wrote where the value was missing: never a carrier, SKU or tracking number
_MISSING = r"[\[(<]?(?:n/?a|null|none|nil|undefined|unknown|tbd|tba|missing|-+|\?+)[\])>]?$"
_PLACEHOLDER = "(?i)^" + _MISSING
_TOTALS = r"(?i)^(?:grand |sub)?(?:totals?|sum):?$"  # a report's totals row exported with the data
# one anchored look per column finds the candidates for the checks below
_DAMAGE_TEXT = "(?i)^(?:[#=+@]|" + _MISSING + ")"
_DAMAGE_IDENTIFIER = "(?i)^(?:[#=+@]|(?:grand |sub)?(?:totals?|sum):?$|" + _MISSING + "|" + _SCIENTIFIC[1:] + ")"
_THOUSANDS = r"^[+-]?[0-9]{1,3}(?:[,.' \x{00A0}][0-9]{3})+$"
_DECIMAL_COMMA = r"^[+-]?[0-9]*,[0-9]+$"
_DATE_SERIAL = r"^[0-9]{5}(?:\.[0-9]+)?$"  # days since 1899-12-30: 45717 is 2025-03-02


def _damage_checks(
    text: pl.DataFrame, typed: pl.DataFrame, specs: tuple[ColumnSpec, ...], options: FileOptions, now: datetime
) -> list[pl.DataFrame]:
    """Values a spreadsheet or a hand edit damaged, and dates no shipment can have, each by line and column.

    One anchored look per text column finds the few candidate values; only those are explained.
    """
    floor = now - timedelta(days=options.oldest_date_days)
    texts = [spec for spec in specs if spec.kind == "text"]
    flags = text.select(
        (
            pl.col(spec.name).str.contains(_DAMAGE_IDENTIFIER + '|"')  # a quote anywhere in an identifier
            if spec.identifier
            else pl.col(spec.name).str.contains(_DAMAGE_TEXT)
        ).fill_null(False)
        for spec in texts
    )
    found = []
    for spec in texts:
        candidates = text.filter(flags[spec.name])
        if candidates.is_empty():
            continue
        label = spec.name.replace("_", " ")
        value = pl.col(spec.name)
        reason = (
            pl.when(value.str.contains(_SPREADSHEET_ERROR))
            .then(pl.concat_str(pl.lit(f"{label} "), value, pl.lit(
                " is what a spreadsheet shows for an error or a too-narrow column, not a value")))
            .when(value.str.contains(r"^[=+@]"))
            .then(pl.lit(f"{label} starts like a spreadsheet formula (=, + or @): it is not a value"))
            .when(value.str.contains(_PLACEHOLDER))
            .then(pl.concat_str(pl.lit(f"{label} "), value, pl.lit(
                " stands for a missing value; leave the cell empty or give the real one")))
            .when(value.str.contains(_TOTALS) & pl.lit(spec.identifier))
            .then(pl.concat_str(pl.lit(f"{label} "), value, pl.lit(" is a report's totals row, not an item")))
            .when(value.str.contains('"', literal=True) & pl.lit(spec.identifier))
            .then(pl.concat_str(pl.lit(f"{label} "), value, pl.lit(
                " holds a quote character: a space before an opening quote, or a quote inside a quoted value "
                "that is not doubled, left it in the value")))
            .when(value.str.contains(_SCIENTIFIC))
            .then(pl.concat_str(pl.lit(f"{label} "), value, pl.lit(
                " is in scientific notation: a spreadsheet turned the identifier into a number and lost its "
                "digits; format the column as text before exporting")))
        )
        found.append(_located(candidates.filter(reason.is_not_null()), spec.name, reason))
    for spec in specs:
        if spec.kind == "datetime":
            label = spec.name.replace("_", " ")
            too_old = pl.concat_str(
                pl.lit(f"{label} "), pl.col(spec.name),
                pl.lit(f" is before {floor:%Y-%m-%d} (files.oldest_date_days: {options.oldest_date_days}): not a "
                       "plausible date; a spreadsheet's empty date (1899-12-30), the Unix epoch (1970-01-01) or a "
                       "two-digit year?"),
            )
            found.append(_located(text.filter((typed[spec.name] < floor).fill_null(False)), spec.name, too_old))
    return found


def _located(rows: pl.DataFrame, column: str, reason: pl.Expr) -> pl.DataFrame:
    return rows.select(
        "row", pl.lit(column).alias("column"), pl.col(column).alias("value"), reason.alias("reason")
    ).cast(ERROR_SCHEMA)  # type: ignore[arg-type]


def _with_hints(errors: pl.DataFrame, specs: tuple[ColumnSpec, ...]) -> pl.DataFrame:
    """Say why a number or date could not be read when the value shows it: a separator, a serial number."""
    kind = pl.col("column").replace_strict({spec.name: spec.kind for spec in specs}, default=None)
    value = pl.col("value")
    hint = (
        pl.when(value.str.contains(_SPREADSHEET_ERROR))
        .then(pl.lit(" (it is what a spreadsheet shows for an error or a too-narrow column)"))
        .when(value.str.contains(_SCIENTIFIC) & (kind == "integer"))
        .then(pl.lit(" (it is in scientific notation: write the plain number)"))
        .when(value.str.contains(_THOUSANDS) & kind.is_in(["integer", "decimal"]))
        .then(pl.lit(" (write it without a thousands separator)"))
        .when(value.str.contains(_DECIMAL_COMMA) & (kind == "decimal"))
        .then(pl.lit(" (write the decimal separator as '.', not ',')"))
        .when(value.str.contains(_DATE_SERIAL) & (kind == "datetime"))
        .then(pl.lit(" (a spreadsheet's date serial number? format the column as a date before exporting)"))
        .otherwise(pl.lit(""))
    )
    return errors.with_columns(reason=pl.col("reason") + hint)


def _visible(errors: pl.DataFrame) -> pl.DataFrame:
    """No control or invisible character of a file reaches a report or a console raw: each is shown escaped."""
    return errors.with_columns(
        visible_expr(pl.col("column")).alias("column"),
        visible_expr(pl.col("value")).alias("value"),
        visible_expr(pl.col("reason"), limit=2000).alias("reason"),
    )
