"""Shipment confirmations: shipment-file rows reconciled with the ledger's orders, then one confirmation per order."""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import polars as pl

from tasks.core.models import (
    AmazonOrderStatus,
    LedgerOrder,
    OrderState,
    Package,
    ShipmentConfirmation,
    ShipmentLine,
    ShippedItem,
)
from tasks.core.validation import ERROR_SCHEMA, ValidationResult


def new_batch_id(now: datetime, run_tag: str) -> str:
    """A confirmation batch id that carries its claim time (recovery reads it back)."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}Z-{run_tag}"


def batch_time(batch: str | None, *, default: datetime) -> datetime:
    """The claim time written into a batch id by new_batch_id; default when there is none."""
    if not batch:
        return default
    try:
        return datetime.strptime(batch[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return default


# Orders a shipment file may confirm: exported to the warehouse, or confirmed before and failed at Amazon.
CONFIRMABLE = (OrderState.EXPORTED, OrderState.CONFIRM_FAILED)
SHIPPED_STATUS = "shipped"  # an empty status means shipped too
# Without a required ship date in the ledger (orders recorded before it was kept), the deadline of a partly
# shipped order is this long after its order date: Amazon's required ship dates are 1-2 days out.
DEFAULT_SHIP_WINDOW = timedelta(days=3)
# A date-only ship date is the warehouse's local day: a day of slack before the order date's UTC day.
SHIP_DATE_SLACK = timedelta(days=1)
SHOWN_PER_ORDER = 3

_DAY = "1d"
_PACKAGE_ATTRIBUTES = (
    "tracking_number", "carrier", "ship_method", "scac", "weight", "weight_unit",
    "length", "width", "height", "dimension_unit",
)
_LINE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "purchase_order_number": pl.String,
    "item_sequence_number": pl.String,
    "quantity": pl.Int64,
    "file": pl.String,
    "checksum": pl.String,
    "row": pl.Int64,
    "ship_date": pl.Datetime("us", "UTC"),
    "shipped": pl.Boolean,
    "tracking_number": pl.String,
    "package_id": pl.String,
    "carrier": pl.String,
    "ship_method": pl.String,
    "scac": pl.String,
    "weight": pl.Float64,
    "weight_unit": pl.String,
    "length": pl.Float64,
    "width": pl.Float64,
    "height": pl.Float64,
    "dimension_unit": pl.String,
}


# ---------------------------------------------------------------------------------------------- frames


def lines_frame(lines: Iterable[ShipmentLine] | pl.DataFrame) -> pl.DataFrame:
    """Kept shipment lines as a frame, one column per field (a frame is returned as it is)."""
    if isinstance(lines, pl.DataFrame):
        return lines
    with _no_gc():
        columns = list(zip(*map(attrgetter(*_LINE_SCHEMA), lines), strict=True)) or [() for _ in _LINE_SCHEMA]
    return pl.DataFrame(dict(zip(_LINE_SCHEMA, map(list, columns), strict=True)), schema=_LINE_SCHEMA)


def to_shipment_lines(frame: pl.DataFrame) -> list[ShipmentLine]:
    """Accepted rows (as `Reconciliation.accepted`) as ledger lines."""
    columns = [
        _datetimes(frame[name]) if name == "ship_date" else frame[name].to_list() for name in _LINE_SCHEMA
    ]
    with _no_gc():
        return [ShipmentLine(*values) for values in zip(*columns, strict=True)]


def _datetimes(series: pl.Series) -> list[datetime | None]:
    """UTC datetimes of a column: made once per distinct value (a file has few ship dates), not once per row."""
    micros = series.dt.epoch("us")
    made = {
        value: None if value is None else _EPOCH + timedelta(microseconds=value)
        for value in micros.unique().to_list()
    }
    return [made[value] for value in micros.to_list()]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _orders_frame(orders: Sequence[LedgerOrder]) -> pl.DataFrame:
    return pl.DataFrame(
        [(o.purchase_order_number, o.state.value, o.ship_from_party_id, o.order_date, o.held_reason) for o in orders],
        schema={
            "purchase_order_number": pl.String,
            "state": pl.String,
            "ship_from_party_id": pl.String,
            "order_date": pl.Datetime("us", "UTC"),
            "held_reason": pl.String,
        },
        orient="row",
    )


def _order_lines_frame(orders: Sequence[LedgerOrder]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [
            (o.purchase_order_number, position, line.item_sequence_number, line.ordered_quantity,
             line.vendor_product_identifier, line.buyer_product_identifier)
            for o in orders
            for position, line in enumerate(o.lines)
        ],
        schema={
            "purchase_order_number": pl.String, "position": pl.Int64, "line_seq": pl.String, "ordered": pl.Int64,
            "line_sku": pl.String, "line_asin": pl.String,
        },
        orient="row",
    )
    # "00001" in the order and "1" in the file are the same line: compare them as numbers.
    return frame.with_columns(seq_key=pl.col("line_seq").cast(pl.Int64, strict=False))


# ---------------------------------------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class Reconciliation:
    """What one shipment file may add to the ledger, and why the rest may not."""

    accepted: pl.DataFrame  # rows of orders that passed every rule, as ledger lines (lines_frame's columns)
    errors: pl.DataFrame  # ERROR_SCHEMA: one reason per rejected row
    rejected: dict[str, str] = field(default_factory=dict)  # order -> its first reason (held back from this file)
    already: tuple[str, ...] = ()  # orders whose lines from this very file the ledger already keeps


def reconcile(
    rows: pl.DataFrame,
    orders: Sequence[LedgerOrder],
    earlier: Sequence[ShipmentLine],
    *,
    file: str,
    checksum: str,
    ship_from_party_id: str,
    could_not_ship: Collection[str],
) -> Reconciliation:
    """Check validated shipment rows against the ledger's orders and the lines earlier files brought.

    The order must be known, this warehouse's, exported and not yet confirmed; each line (by item sequence number
    or vendor SKU) must be one of its lines; the units shipped of a line, over this file and earlier ones, must not
    exceed what was ordered; the ship date must not be before the order date; one package must be described
    alike on every line. A row breaking a rule holds its whole order back; the other orders go through.
    Rows of orders whose lines from this same file (name and checksum) the ledger already keeps are skipped:
    a re-run after a crash, or the same file dropped again, adds nothing.
    """
    markers = [marker.casefold() for marker in could_not_ship]
    kept = lines_frame(earlier)
    mine = (pl.col("file") == file) & (pl.col("checksum") == checksum)
    already = kept.filter(mine)["purchase_order_number"].unique().sort()
    kept = kept.filter(~mine)
    rows = rows.filter(~pl.col("purchase_order_number").is_in(already.implode()))

    status = pl.col("status").str.strip_chars().str.to_lowercase()
    frame = (
        rows.with_columns(
            denied=status.is_in(markers).fill_null(False),
            status_known=status.is_null() | (status == SHIPPED_STATUS) | status.is_in(markers),
            seq_key=pl.col("item_sequence_number").cast(pl.Int64, strict=False),
        )
        .join(_orders_frame(orders), on="purchase_order_number", how="left")
    )
    lines = _order_lines_frame(orders)
    by_number = lines.select("purchase_order_number", "seq_key", "line_seq", pl.col("line_sku").alias("sku_of_line"))
    by_sku = (
        lines.filter(pl.col("line_sku").is_not_null())
        .group_by("purchase_order_number", "line_sku")
        .agg(pl.col("line_seq").first().alias("seq_by_sku"), pl.len().alias("sku_lines"))
        .rename({"line_sku": "vendor_sku"})
    )
    frame = (
        frame.join(by_number, on=["purchase_order_number", "seq_key"], how="left")
        .join(by_sku, on=["purchase_order_number", "vendor_sku"], how="left")
        .with_columns(seq=pl.coalesce("line_seq", pl.when(pl.col("sku_lines") == 1).then("seq_by_sku")))
    )
    frame = _add_quantities(frame, lines, kept)
    frame = _add_package_conflicts(frame, kept)
    frame = _add_mixed_orders(frame, kept)

    broken, reason, column = _first_reason(ship_from_party_id, could_not_ship)
    problems = (
        frame.with_columns(broken.alias("broken"))
        .filter(pl.col("broken").is_not_null())
        .select("row", "purchase_order_number", column.alias("column"), reason.alias("reason"))
    )
    values = rows.join(problems.select("row").unique(), on="row", how="semi").select(
        "row",
        *_TEXT_COLUMNS,
        pl.coalesce("package_id", "tracking_number").alias("package_id"),
        pl.col("quantity_shipped").cast(pl.String),
        pl.col("ship_date").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ).unpivot(index="row", variable_name="column", value_name="value")
    row_errors = problems.join(values, on=["row", "column"], how="left")
    bad_orders = row_errors.group_by("purchase_order_number").agg(
        pl.col("row").min().alias("first_bad"), pl.col("reason").sort_by("row").first().alias("first_reason")
    )
    held_back = (
        frame.select("row", "purchase_order_number")
        .join(bad_orders, on="purchase_order_number", how="inner")
        .join(row_errors.select("row"), on="row", how="anti")
        .select(
            "row",
            pl.lit("purchase_order_number").alias("column"),
            pl.col("purchase_order_number").alias("value"),
            pl.format(
                "order held back because its line {} has a problem; an order is confirmed whole or not at all",
                "first_bad",
            ).alias("reason"),
        )
    )
    errors = pl.concat(
        [row_errors.select(*ERROR_SCHEMA).cast(ERROR_SCHEMA), held_back.cast(ERROR_SCHEMA)],  # type: ignore[arg-type]
        how="vertical",
    ).sort("row")
    accepted = (
        frame.join(bad_orders.select("purchase_order_number"), on="purchase_order_number", how="anti")
        .select(
            "purchase_order_number",
            pl.col("seq").alias("item_sequence_number"),
            pl.when(pl.col("denied")).then(0).otherwise(pl.col("quantity_shipped")).alias("quantity"),
            pl.lit(file).alias("file"),
            pl.lit(checksum).alias("checksum"),
            "row",
            "ship_date",
            (~pl.col("denied")).alias("shipped"),
            *(
                pl.when(pl.col("denied")).then(None).otherwise(pl.col(source)).alias(target)
                for source, target in _PACKAGE_SOURCES.items()
            ),
        )
        .cast(_LINE_SCHEMA)  # type: ignore[arg-type]
        .sort("row")
    )
    rejected = dict(bad_orders.sort("first_bad").select("purchase_order_number", "first_reason").iter_rows())
    return Reconciliation(accepted, errors, rejected, tuple(already.to_list()))


# our ledger line's package fields <- the validated file's columns
_PACKAGE_SOURCES = {
    "tracking_number": "tracking_number",
    "package_id": "package_id",
    "carrier": "carrier",
    "ship_method": "ship_method",
    "scac": "scac",
    "package_weight": "weight",
    "weight_unit": "weight_unit",
    "length": "length",
    "width": "width",
    "height": "height",
    "dimension_unit": "dimension_unit",
}
_TEXT_COLUMNS = ("purchase_order_number", "item_sequence_number", "vendor_sku", "status")


def _add_quantities(frame: pl.DataFrame, lines: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    """Units of each line shipped in this file and in earlier files, against what was ordered."""
    earlier = (
        kept.filter(pl.col("shipped"))
        .group_by("purchase_order_number", "item_sequence_number")
        .agg(pl.col("quantity").sum().alias("earlier_units"))
        .rename({"item_sequence_number": "seq"})
    )
    ordered = lines.select("purchase_order_number", pl.col("line_seq").alias("seq"), "ordered")
    shipped = pl.when(~pl.col("denied")).then(pl.col("quantity_shipped")).otherwise(0)
    return (
        frame.with_columns(file_units=shipped.sum().over("purchase_order_number", "seq"))
        .join(earlier, on=["purchase_order_number", "seq"], how="left")
        .join(ordered, on=["purchase_order_number", "seq"], how="left")
        .with_columns(pl.col("earlier_units").fill_null(0))
    )


def _add_package_conflicts(frame: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    """A package (package id, else tracking number) of one order must be described alike on every line."""
    attributes = [pl.col(name) for name in _PACKAGE_ATTRIBUTES]
    package = pl.coalesce("package_id", "tracking_number").alias("package")
    here = frame.filter(~pl.col("denied")).select(
        "purchase_order_number",
        package,
        *(pl.col("package_weight" if name == "weight" else name).alias(name) for name in _PACKAGE_ATTRIBUTES),
    )
    before = kept.filter(pl.col("shipped")).select("purchase_order_number", package, *_PACKAGE_ATTRIBUTES)
    conflicts = (
        pl.concat([here, before.cast(here.schema)], how="vertical")
        .group_by("purchase_order_number", "package")
        .agg(pl.struct(attributes).n_unique().alias("descriptions"))
        .filter(pl.col("descriptions") > 1)
        .select("purchase_order_number", "package", pl.lit(True).alias("package_conflict"))
    )
    return frame.with_columns(package=pl.coalesce("package_id", "tracking_number")).join(
        conflicts, on=["purchase_order_number", "package"], how="left"
    ).with_columns(pl.col("package_conflict").fill_null(False) & ~pl.col("denied"))


def _add_mixed_orders(frame: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    """Orders with lines shipped and lines that could not ship, in this file or earlier ones."""
    before = kept.group_by("purchase_order_number").agg(
        pl.col("shipped").any().alias("shipped_before"), (~pl.col("shipped")).any().alias("denied_before")
    )
    return (
        frame.join(before, on="purchase_order_number", how="left")
        .with_columns(
            mixed=(
                (pl.col("denied").any().over("purchase_order_number") | pl.col("denied_before").fill_null(False))
                & ((~pl.col("denied")).any().over("purchase_order_number") | pl.col("shipped_before").fill_null(False))
            )
        )
    )


def _first_reason(
    ship_from_party_id: str, could_not_ship: Collection[str]
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """The first rule a row breaks (its index), then its reason and the column to look at (over column `broken`)."""
    state = pl.col("state")
    po_text = pl.col("purchase_order_number")
    seq_text = pl.col("item_sequence_number")
    sku_text = pl.col("vendor_sku")
    shown_markers = ", ".join(could_not_ship) or "(none configured)"
    rules: list[tuple[pl.Expr, pl.Expr, str]] = [
        (state.is_null(), pl.format("order {} is not in the ledger: it was never downloaded for this account",
                                    po_text), "purchase_order_number"),
        (pl.col("ship_from_party_id") != ship_from_party_id,
         pl.format("order belongs to warehouse {}, not to this one ({})", "ship_from_party_id",
                   pl.lit(ship_from_party_id)), "purchase_order_number"),
        (state == str(OrderState.CANCELLED),
         pl.lit("order was cancelled by Amazon before it was exported; it must not ship"), "purchase_order_number"),
        (state.is_in([str(OrderState.CONFIRMING), str(OrderState.CONFIRMED)]),
         pl.format("order is already {} to Amazon; it is never confirmed twice", state), "purchase_order_number"),
        (state == str(OrderState.HELD),
         pl.format("order is held for a person: {}", pl.col("held_reason").fill_null("no reason recorded")),
         "purchase_order_number"),
        (~state.is_in([str(s) for s in CONFIRMABLE]),
         pl.format("order has not been exported to the warehouse yet (it is {})", state), "purchase_order_number"),
        (~pl.col("status_known"),
         pl.format("status {} is not known: leave it empty or write SHIPPED for a shipped line, or one of "
                   f"{shown_markers} for a line that could not ship", pl.col("status")), "status"),
        (seq_text.is_not_null() & pl.col("line_seq").is_null(),
         pl.format("order {} has no line with item sequence number {}", po_text, seq_text), "item_sequence_number"),
        (seq_text.is_not_null() & sku_text.is_not_null() & pl.col("sku_of_line").is_not_null()
         & (pl.col("sku_of_line") != sku_text),
         pl.format("line {} of order {} is SKU {}, not {}", "line_seq", po_text, "sku_of_line", sku_text),
         "vendor_sku"),
        (seq_text.is_null() & (pl.col("sku_lines") > 1),
         pl.format("SKU {} is on {} lines of order {}: give the item sequence number", sku_text, "sku_lines",
                   po_text), "item_sequence_number"),
        (pl.col("seq").is_null(), pl.format("order {} has no line with SKU {}", po_text, sku_text), "vendor_sku"),
        (pl.col("mixed"),
         pl.lit("the order has lines shipped and lines that could not ship; Amazon takes could-not-ship "
                "(FLOOR_DENIAL) for a whole order only, so a person must decide"), "status"),
        (~pl.col("denied") & (pl.col("file_units") + pl.col("earlier_units") > pl.col("ordered")),
         pl.format("{} unit(s) of line {} shipped ({} in this file, {} in earlier files) but the order has {}",
                   pl.col("file_units") + pl.col("earlier_units"), "seq", "file_units", "earlier_units", "ordered"),
         "quantity_shipped"),
        (pl.col("ship_date") < pl.col("order_date").dt.truncate(_DAY) - SHIP_DATE_SLACK,
         pl.format("ship date {} is before the order date {}", pl.col("ship_date").dt.strftime("%Y-%m-%d"),
                   pl.col("order_date").dt.strftime("%Y-%m-%d")), "ship_date"),
        (pl.col("package_conflict"),
         pl.format("package {} is described differently on other lines of this order: its tracking number, "
                   "carrier, ship method, SCAC, weight and dimensions must be the same on every line", "package"),
         "package_id"),
    ]
    # Which rule a row breaks first is cheap to find for every row; its message is written for those rows only.
    broken: pl.Expr = pl.lit(None, dtype=pl.Int32)
    for index in reversed(range(len(rules))):  # built inside out: the first rule that holds wins
        broken = pl.when(rules[index][0].fill_null(False)).then(pl.lit(index, dtype=pl.Int32)).otherwise(broken)
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    column: pl.Expr = pl.lit(None, dtype=pl.String)
    for index, (_condition, text, name) in enumerate(rules):
        reason = pl.when(pl.col("broken") == index).then(text).otherwise(reason)
        column = pl.when(pl.col("broken") == index).then(pl.lit(name)).otherwise(column)
    return broken, reason, column


# ---------------------------------------------------------------------------------------------- plan and build


@dataclass(frozen=True)
class PendingOrder:
    """An order only partly in the shipment files so far."""

    purchase_order_number: str
    shipped_units: int
    ordered_units: int
    deadline: datetime
    files: tuple[str, ...]

    def progress(self) -> str:
        return f"{self.shipped_units} of {self.ordered_units} unit(s) in {', '.join(self.files)}"


@dataclass(frozen=True)
class ShipmentPlan:
    """What the ledger's kept lines allow: orders ready to confirm, orders still partial, orders past deadline."""

    ready: tuple[str, ...] = ()  # every line complete, or marked could-not-ship: confirm now
    pending: tuple[PendingOrder, ...] = ()  # waiting for a later file
    overdue: dict[str, str] = field(default_factory=dict)  # order -> why it is held for a person
    confirmations: dict[str, ShipmentConfirmation] = field(default_factory=dict)  # of the ready orders


def plan_shipments(
    orders: Sequence[LedgerOrder], lines: Sequence[ShipmentLine] | pl.DataFrame, *, now: datetime, grace: timedelta
) -> ShipmentPlan:
    """Sort orders with kept lines into ready, pending and overdue (partial past their deadline)."""
    kept = lines_frame(lines)
    if kept.is_empty():
        return ShipmentPlan()
    order_lines = _order_lines_frame(orders)
    progress = _progress(order_lines, kept)
    ready = progress.filter(pl.col("denied") | (pl.col("complete_lines") == pl.col("order_lines")))
    over = progress.filter(~pl.col("denied") & (pl.col("over_lines") > 0))
    partial = progress.join(ready, on="purchase_order_number", how="anti").join(
        over, on="purchase_order_number", how="anti"
    )
    by_number = {o.purchase_order_number: o for o in orders}
    pending: list[PendingOrder] = []
    overdue: dict[str, str] = {}
    for number, shipped_units, ordered_units, files in partial.select(
        "purchase_order_number", "shipped_units", "ordered_units", "files"
    ).iter_rows():
        order = by_number[number]
        waiting = PendingOrder(number, shipped_units, ordered_units, deadline(order, grace), tuple(files))
        if now > waiting.deadline:
            overdue[number] = (
                f"only {waiting.progress()} by its deadline {waiting.deadline:%Y-%m-%d %H:%M} UTC: "
                "ship and confirm the rest by hand, or ask the warehouse for the missing lines"
            )
        else:
            pending.append(waiting)
    for number in over["purchase_order_number"].to_list():
        overdue[number] = "the shipment files hold more units than ordered for one of its lines"
    ready_numbers = tuple(ready["purchase_order_number"].to_list())
    chosen = set(ready_numbers)
    confirmations = _build([o for o in orders if o.purchase_order_number in chosen], order_lines, kept)
    return ShipmentPlan(ready_numbers, tuple(pending), overdue, confirmations)


def deadline(order: LedgerOrder, grace: timedelta) -> datetime:
    """When a partly shipped order is held for a person: its required ship date (else order date + 3 days)."""
    base = order.required_ship_date or order.order_date + DEFAULT_SHIP_WINDOW
    return base.astimezone(UTC) + grace


def _progress(order_lines: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    per_line = (
        order_lines
        .join(
            kept.filter(pl.col("shipped"))
            .group_by("purchase_order_number", "item_sequence_number")
            .agg(pl.col("quantity").sum().alias("shipped")),
            left_on=["purchase_order_number", "line_seq"],
            right_on=["purchase_order_number", "item_sequence_number"],
            how="left",
        )
        .with_columns(pl.col("shipped").fill_null(0))
    )
    per_order = per_line.group_by("purchase_order_number").agg(
        pl.len().alias("order_lines"),
        (pl.col("shipped") == pl.col("ordered")).sum().alias("complete_lines"),
        (pl.col("shipped") > pl.col("ordered")).sum().alias("over_lines"),
        pl.col("shipped").sum().alias("shipped_units"),
        pl.col("ordered").sum().alias("ordered_units"),
    )
    files = kept.group_by("purchase_order_number").agg(
        (~pl.col("shipped")).any().alias("denied"), pl.col("file").unique(maintain_order=True).alias("files")
    )
    return per_order.join(files, on="purchase_order_number", how="inner").sort("purchase_order_number")


def build_confirmations(
    orders: Sequence[LedgerOrder], lines: Sequence[ShipmentLine] | pl.DataFrame
) -> dict[str, ShipmentConfirmation]:
    """One confirmation per order from its kept lines: every order line with the units shipped, one carton per
    package (package id, else tracking number) with its ship method, carrier, SCAC, weight, dimensions and packed
    items, shipped on the latest ship date (never before the order date). An order with a line that could not
    ship is confirmed FLOOR_DENIAL: every line with 0 units, no package.

    Columnar: polars groups the lines; Python only assembles the objects, one pass over each grouped column.
    """
    if not orders:
        return {}
    return _build(orders, _order_lines_frame(orders), lines_frame(lines))


def _build(
    orders: Sequence[LedgerOrder], order_lines: pl.DataFrame, kept: pl.DataFrame
) -> dict[str, ShipmentConfirmation]:
    if not orders:
        return {}
    numbers = pl.Series([o.purchase_order_number for o in orders], dtype=pl.String)
    kept = kept.filter(pl.col("purchase_order_number").is_in(numbers.implode()))
    order_lines = order_lines.filter(pl.col("purchase_order_number").is_in(numbers.implode()))
    shipped = kept.filter(pl.col("shipped"))
    per_order = kept.group_by("purchase_order_number").agg(
        pl.col("ship_date").max(), (~pl.col("shipped")).any().alias("denied")
    )
    items = (
        order_lines.join(
            shipped.group_by("purchase_order_number", "item_sequence_number").agg(pl.col("quantity").sum()),
            left_on=["purchase_order_number", "line_seq"],
            right_on=["purchase_order_number", "item_sequence_number"],
            how="left",
        )
        .join(per_order, on="purchase_order_number", how="inner")
        .sort("purchase_order_number", "position")
        .group_by("purchase_order_number", maintain_order=True)
        .agg(
            "line_seq",
            pl.when(pl.col("denied")).then(0).otherwise(pl.col("quantity").fill_null(0)).alias("units"),
            "line_asin",
            "line_sku",
            pl.col("ship_date").first(),
            pl.col("denied").first(),
        )
    )
    cartons = (
        shipped.with_columns(package=pl.coalesce("package_id", "tracking_number"))
        .group_by("purchase_order_number", "package", "item_sequence_number", maintain_order=True)
        .agg(pl.col("quantity").sum(), *(pl.col(name).first() for name in _PACKAGE_ATTRIBUTES))
        .join(
            order_lines.select("purchase_order_number", "line_seq", "line_asin", "line_sku", "position"),
            left_on=["purchase_order_number", "item_sequence_number"],
            right_on=["purchase_order_number", "line_seq"],
            how="left",
        )
        .sort("purchase_order_number", "package", "position")
        .group_by("purchase_order_number", "package", maintain_order=True)
        .agg(
            "item_sequence_number", "quantity", "line_asin", "line_sku",
            *(pl.col(name).first() for name in _PACKAGE_ATTRIBUTES),
        )
    )
    by_number = {o.purchase_order_number: o for o in orders}
    dates = _datetimes(items["ship_date"])
    with _no_gc():
        packages: dict[str, list[tuple[Any, ...]]] = {}
        for row in zip(*(cartons[c].to_list() for c in cartons.columns), strict=True):
            packages.setdefault(row[0], []).append(row[1:])
        confirmations: dict[str, ShipmentConfirmation] = {}
        columns = (items[c].to_list() for c in ("purchase_order_number", "line_seq", "units", "line_asin",
                                                  "line_sku", "denied"))
        for (number, seqs, units, asins, skus, denied), shipped_on in zip(zip(*columns, strict=True), dates,
                                                                          strict=True):
            order = by_number[number]
            lines_shipped = tuple(map(ShippedItem, seqs, units, asins, skus))
            boxes = () if denied else _packages(packages.get(number, ()), seqs, units, lines_shipped)
            confirmations[number] = ShipmentConfirmation(
                purchase_order_number=number,
                shipped_date=max(shipped_on or order.order_date, order.order_date),
                selling_party_id=order.selling_party_id,
                ship_from_party_id=order.ship_from_party_id,
                items=lines_shipped,
                packages=boxes,
                confirmation_type="FloorDenial" if denied else "Shipped",
            )
    return confirmations


def _packages(
    rows: Sequence[tuple[Any, ...]], seqs: list[str], units: list[int], lines_shipped: tuple[ShippedItem, ...]
) -> tuple[Package, ...]:
    """The cartons of one order; a single carton holding every unit shares the order's items (the usual case)."""
    made = []
    for identifier, packed_seqs, quantities, asins, skus, *described in rows:
        if len(rows) == 1 and packed_seqs == seqs and quantities == units:
            packed = lines_shipped
        else:
            packed = tuple(map(ShippedItem, packed_seqs, quantities, asins, skus))
        made.append(_package(identifier, packed, described))
    return tuple(made)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Collect no garbage while building many objects that all stay alive: each collection pass would walk the
    whole growing heap for nothing (about a third of the build time for 50,000 orders)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _package(identifier: str, packed: tuple[ShippedItem, ...], described: list[Any]) -> Package:
    tracking, carrier, ship_method, scac, weight, weight_unit, length, width, height, dimension_unit = described
    return Package(
        identifier, tracking, weight, weight_unit, packed, carrier, ship_method, scac, length, width, height,
        dimension_unit,
    )


# ---------------------------------------------------------------------------------------------- recovery


@dataclass(frozen=True)
class RecoveryPlan:
    """What to do with orders a crash (or an unknown outcome) left confirming without a transaction id."""

    confirmed: tuple[str, ...] = ()  # Amazon shows the confirmation applied
    resend: tuple[str, ...] = ()  # Amazon still shows them unshipped after the settle time
    held: dict[str, str] = field(default_factory=dict)  # order -> why a person must look
    waiting: tuple[str, ...] = ()  # too early to tell: a later run decides


def plan_confirmation_recovery(
    stuck: Iterable[LedgerOrder],
    amazon_status: Mapping[str, AmazonOrderStatus | None],
    floor_denials: Collection[str],
    *,
    now: datetime,
    settle: timedelta,
) -> RecoveryPlan:
    """Settle confirmations that may or may not have reached Amazon, from the order's status at Amazon.

    Amazon has no idempotency key: an order is sent again only when Amazon still shows it ACCEPTED after `settle`
    (its transaction would have been processed by then).
    """
    confirmed: list[str] = []
    resend: list[str] = []
    waiting: list[str] = []
    held: dict[str, str] = {}
    for order in stuck:
        number = order.purchase_order_number
        status = amazon_status.get(number)
        denial = number in floor_denials
        if status is AmazonOrderStatus.SHIPPED or (denial and status is AmazonOrderStatus.CANCELLED):
            confirmed.append(number)
        elif status is AmazonOrderStatus.ACCEPTED:
            if now - batch_time(order.ship_batch, default=now) >= settle:
                resend.append(number)
            else:
                waiting.append(number)
        elif status is None:
            held[number] = "Amazon no longer returns this order while its shipment confirmation was in flight"
        else:
            held[number] = f"Amazon shows the order {status} while its shipment confirmation was in flight"
    return RecoveryPlan(tuple(confirmed), tuple(resend), held, tuple(waiting))


# ---------------------------------------------------------------------------------------------- report


def error_report(validation: ValidationResult, reconciliation: Reconciliation | None) -> pl.DataFrame:
    """Every problem of one shipment file, by line: the validation's and the reconciliation's."""
    parts = [validation.errors.cast(ERROR_SCHEMA)]  # type: ignore[arg-type]
    if reconciliation is not None:
        parts.append(reconciliation.errors)
    return pl.concat(parts, how="vertical").sort("row", nulls_last=False, maintain_order=True)


def error_report_csv(file_name: str, errors: pl.DataFrame) -> bytes:
    """The `<name>.errors.csv` beside a quarantined shipment file: file, row, column, value, reason."""
    report = errors.select(pl.lit(file_name).alias("file"), *ERROR_SCHEMA)
    return report.write_csv(quote_style="necessary", line_terminator="\r\n").encode("utf-8")


def rejected_orders(validation: ValidationResult, reconciliation: Reconciliation | None) -> dict[str, str]:
    """Orders of one file held back, each with its first reason (validation problems first)."""
    found = dict.fromkeys(validation.held_orders, "a line of this order has a problem in the file")
    if reconciliation is not None:
        for number, reason in reconciliation.rejected.items():
            found.setdefault(number, reason)
    return found
