"""Files around Amazon labels: the cancellations file and labels manifest we write, the packages and profile we read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC

import polars as pl

from tasks.core.config import FileOptions
from tasks.core.errors import ConfigError
from tasks.core.files import LINE_TERMINATOR
from tasks.core.labels import ProfileEntry, WarehousePackage
from tasks.core.models import CancellationNotice
from tasks.core.validation import ValidationResult

CANCELLATION_COLUMNS = ("purchase_order_number", "ship_from_party_id", "order_date", "exported_in_file", "detected_at")
MANIFEST_COLUMNS = (
    "purchase_order_number",
    "package_id",
    "amazon_package_id",
    "tracking_number",
    "ship_method",
    "ship_method_name",
    "label_file",
)


def _csv(frame: pl.DataFrame, options: FileOptions) -> bytes:
    text = frame.write_csv(separator=options.delimiter, quote_style="necessary", line_terminator=LINE_TERMINATOR)
    try:
        return text.encode(options.encoding)
    except LookupError:
        raise ConfigError(f"file encoding {options.encoding!r} is not known to Python") from None


def build_cancellations_file(notices: Sequence[CancellationNotice], options: FileOptions) -> bytes:
    """One row per order Amazon cancelled after export: the warehouse must not ship it (no PII in it)."""
    when = pl.Datetime("us", "UTC")
    frame = pl.DataFrame(
        {
            "purchase_order_number": [n.purchase_order_number for n in notices],
            "ship_from_party_id": [n.ship_from_party_id for n in notices],
            "order_date": pl.Series([n.order_date.astimezone(UTC) for n in notices], dtype=when),
            "exported_in_file": [n.export_file for n in notices],
            "detected_at": pl.Series([n.detected_at.astimezone(UTC) for n in notices], dtype=when),
        },
        schema_overrides={"purchase_order_number": pl.String, "ship_from_party_id": pl.String,
                          "exported_in_file": pl.String},
    ).with_columns(pl.col("order_date", "detected_at").dt.strftime(options.datetime_format))
    return _csv(frame.select(CANCELLATION_COLUMNS), options)


@dataclass(frozen=True)
class ManifestRow:
    purchase_order_number: str
    package_id: str  # the warehouse's, from its packages file
    amazon_package_id: str
    tracking_number: str
    ship_method: str | None
    ship_method_name: str | None
    label_file: str


def build_labels_manifest(rows: Sequence[ManifestRow], options: FileOptions) -> bytes:
    """One row per labelled package: which label file goes on which of the warehouse's packages."""
    frame = pl.DataFrame(
        {name: [getattr(row, name) for row in rows] for name in MANIFEST_COLUMNS},
        schema=dict.fromkeys(MANIFEST_COLUMNS, pl.String),
    )
    return _csv(frame, options)


def to_profile(result: ValidationResult) -> dict[str, ProfileEntry]:
    """Validated package profile rows, by vendor SKU (a repeated SKU was already reported and left out)."""
    valid = result.valid.filter(~pl.col("vendor_sku").is_duplicated())
    return {
        row["vendor_sku"]: ProfileEntry(
            vendor_sku=row["vendor_sku"],
            weight=row["weight"],
            weight_unit=row["weight_unit"],
            length=row["length"],
            width=row["width"],
            height=row["height"],
            dimension_unit=row["dimension_unit"],
            units_per_package=row["units_per_package"] or 1,
        )
        for row in valid.iter_rows(named=True)
    }


def to_packages(result: ValidationResult) -> tuple[dict[str, list[WarehousePackage]], dict[str, str]]:
    """Validated packages rows grouped by order and package, in file order; and orders whose rows disagree.

    A package listed on several rows (one per item) must give the same weight and size on each.
    """
    valid = result.valid
    measures = ("weight", "weight_unit", "length", "width", "height", "dimension_unit")
    conflicting = (
        valid.group_by("purchase_order_number", "package_id")
        .agg(pl.struct(measures).n_unique().alias("variants"))
        .filter(pl.col("variants") > 1)
    )
    problems = {
        order: f"package {package} is given different weights or sizes on different rows"
        for order, package in conflicting.select("purchase_order_number", "package_id").iter_rows()
    }
    packages: dict[str, dict[str, WarehousePackage]] = {}
    for row in valid.iter_rows(named=True):
        order = row["purchase_order_number"]
        if order in problems:
            continue
        item = (
            ((row["item_sequence_number"], row["vendor_sku"], row["quantity"] or 1),)
            if row["item_sequence_number"] or row["vendor_sku"]
            else ()
        )
        known = packages.setdefault(order, {}).get(row["package_id"])
        if known is None:
            packages[order][row["package_id"]] = WarehousePackage(
                purchase_order_number=order,
                package_id=row["package_id"],
                weight=row["weight"],
                weight_unit=row["weight_unit"],
                length=row["length"],
                width=row["width"],
                height=row["height"],
                dimension_unit=row["dimension_unit"],
                items=item,
            )
        else:
            packages[order][row["package_id"]] = replace(known, items=known.items + item)
    return {order: list(by_id.values()) for order, by_id in packages.items()}, problems
