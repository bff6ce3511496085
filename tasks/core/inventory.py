"""Inventory feeds: the newest stock file wins, mapped to what Amazon knows, guarded, compared and cut into requests.

Columnar throughout (polars): a 200,000-SKU file is never walked row by row in Python, except to build the
request's items at the very end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from tasks.core.errors import ConfigError
from tasks.core.models import (
    EMPTY_FEED_ITEMS,
    FeedItems,
    FeedMode,
    InventoryFeed,
    InventoryItem,
    InventoryUpdate,
)
from tasks.core.ports import RemoteFile
from tasks.core.validation import ERROR_SCHEMA, ValidationResult

Identifier = Literal["vendor_sku", "asin"]

# One row per item at Amazon: `key` is the identifier Amazon knows it by (vendor SKU or ASIN, as configured).
ITEM_SCHEMA = {"key": pl.String, "vendor_sku": pl.String, "asin": pl.String, "quantity": pl.Int64}
FEED_SCHEMA = {**ITEM_SCHEMA, "chunk": pl.Int64}
UNMAPPED_SCHEMA = {"row": pl.Int64, "sku": pl.String, "reason": pl.String}
SHOWN_SKUS = 5


def checksum(data: bytes) -> str:
    """The file's identity beside its name: a file dropped again with the same content is the same file."""
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------- the newest file


@dataclass(frozen=True)
class FileChoice:
    newest: RemoteFile | None
    superseded: tuple[RemoteFile, ...]  # older complete files: archived unsent, the newest holds the later stock


def pick_newest(files: Sequence[RemoteFile]) -> FileChoice:
    """The newest complete stock file wins (latest modification time, then name); older ones are superseded.

    A stock file is a snapshot: sending an older one after a newer one would put stale quantities on Amazon.
    """
    ordered = sorted(files, key=lambda f: (f.mtime, f.name))
    if not ordered:
        return FileChoice(None, ())
    return FileChoice(ordered[-1], tuple(ordered[:-1]))


# ---------------------------------------------------------------------------------------------- file problems


def blocking_errors(result: ValidationResult) -> pl.DataFrame:
    """The problems that stop a stock file: any bad row, or a file that could not be read.

    A full feed zeroes what it leaves out, and a delta would zero what seems gone, so a file with a bad row
    is not sent in part: it is quarantined whole. Notes about the whole file (an unknown column) do not block.
    """
    if not result.readable:
        return result.errors
    return result.errors.filter(pl.col("row").is_not_null())


def file_notes(result: ValidationResult) -> list[str]:
    """Problems about the whole file that did not stop it (e.g. an unknown column that is ignored)."""
    if not result.readable:
        return []
    return [*result.notes, *result.errors.filter(pl.col("row").is_null())["reason"].to_list()]


# ---------------------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Mapped:
    """The stock file's rows as Amazon items, and what could not be mapped."""

    items: pl.DataFrame  # ITEM_SCHEMA, one row per Amazon item, sorted by key
    unmapped: pl.DataFrame  # UNMAPPED_SCHEMA: warehouse SKUs Amazon cannot be told about (left out)
    conflicts: pl.DataFrame  # ERROR_SCHEMA: lines that end as the same Amazon item as another line

    def unmapped_note(self) -> str | None:
        if self.unmapped.is_empty():
            return None
        skus = self.unmapped["sku"].head(SHOWN_SKUS).to_list()
        more = self.unmapped.height - len(skus)
        reasons = "; ".join(sorted(set(self.unmapped["reason"].to_list())))
        return (
            f"{self.unmapped.height} SKU(s) not sent, Amazon cannot be told which item they are ({reasons}): "
            + ", ".join(skus)
            + (f" and {more} more" if more else "")
        )


def to_sku_map(valid: pl.DataFrame) -> pl.DataFrame:
    """The validated SKU map file as warehouse_sku -> vendor_sku, asin."""
    return valid.select("warehouse_sku", "vendor_sku", "asin")


def sku_map_error(result: ValidationResult, path: str) -> ConfigError:
    """A SKU map with problems is a configuration problem: nothing is sent until it is fixed."""
    return ConfigError(f"inventory.sku_map {path}: {result.summary()} Fix the map file; the stock file was left as is.")


def map_items(stock: pl.DataFrame, *, identifier: Identifier, sku_map: pl.DataFrame | None = None) -> Mapped:
    """Give each valid stock row the identifiers Amazon knows: the vendor SKU and, when known, the ASIN.

    Without a map the file's SKU is the vendor SKU. With a map the file's SKU is the warehouse's own code and
    the map gives the vendor SKU and/or ASIN (the map's ASIN wins over the file's). The item's key at Amazon
    is the configured identifier; a row without it is unmapped and left out.
    """
    rows = stock.select(
        "row",
        pl.col("vendor_sku").alias("sku"),
        "vendor_sku",
        "asin",
        pl.col("available_quantity").cast(pl.Int64).alias("quantity"),
    )
    unmapped_parts = []
    if sku_map is not None:
        joined = rows.join(
            sku_map.select(
                pl.col("warehouse_sku").alias("sku"),
                pl.col("vendor_sku").alias("map_vendor_sku"),
                pl.col("asin").alias("map_asin"),
                pl.lit(True).alias("in_map"),
            ),
            on="sku",
            how="left",
        )
        unmapped_parts.append(
            joined.filter(pl.col("in_map").is_null()).select("row", "sku", pl.lit("not in the SKU map").alias("reason"))
        )
        rows = joined.filter(pl.col("in_map")).select(
            "row",
            "sku",
            pl.col("map_vendor_sku").alias("vendor_sku"),
            pl.coalesce("map_asin", "asin").alias("asin"),
            "quantity",
        )
    missing = "no ASIN known for it" if identifier == "asin" else "the SKU map gives no vendor SKU for it"
    rows = rows.with_columns(pl.col(identifier).alias("key"))
    unmapped_parts.append(rows.filter(pl.col("key").is_null()).select("row", "sku", pl.lit(missing).alias("reason")))
    rows = rows.filter(pl.col("key").is_not_null())

    twice = rows.filter(pl.col("key").is_duplicated()).with_columns(
        pl.col("row").min().over("key").alias("first")
    )
    conflicts = (
        twice.filter(pl.col("row") != pl.col("first"))
        .select(
            "row",
            pl.lit("vendor_sku").alias("column"),
            pl.col("sku").alias("value"),
            pl.format("is the same Amazon item {} as line {}; list each item once", "key", "first").alias("reason"),
        )
        .cast(ERROR_SCHEMA)  # type: ignore[arg-type]
    )
    items = rows.unique("key", keep="first", maintain_order=True).select(*ITEM_SCHEMA).sort("key")
    unmapped = pl.concat(unmapped_parts).cast(UNMAPPED_SCHEMA).sort("row")  # type: ignore[arg-type]
    return Mapped(items=items.cast(ITEM_SCHEMA), unmapped=unmapped, conflicts=conflicts)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- the guard


@dataclass(frozen=True)
class GuardVerdict:
    held: bool
    forced: bool
    text: str  # for the report and the run's message

    @property
    def label(self) -> str:
        return "held" if self.held else "forced" if self.forced else "passed"


def check_guard(
    *, items: int, total_quantity: int, last: InventoryFeed | None, share: float, force: bool = False
) -> GuardVerdict:
    """Hold a feed that looks truncated: no items at all, or a SKU count or total quantity that fell by more than
    `share` against the last accepted feed. A full feed zeroes everything it leaves out, so a cut-off file
    would empty the catalogue at Amazon; `force` sends it anyway after a person checked the file.
    """
    reasons = []
    if items == 0:
        reasons.append("the feed has no items (an empty file, or no SKU could be mapped)")
    elif last is not None:
        if last.items > 0 and (last.items - items) / last.items > share:
            reasons.append(f"its SKU count fell by {_fall(last.items, items)} ({last.items:,} → {items:,})")
        if last.total_quantity > 0 and (last.total_quantity - total_quantity) / last.total_quantity > share:
            reasons.append(
                f"its total quantity fell by {_fall(last.total_quantity, total_quantity)} "
                f"({last.total_quantity:,} → {total_quantity:,})"
            )
    against = (
        f"the last accepted feed ({last.file}: {last.items:,} SKUs, {last.total_quantity:,} units)"
        if last is not None
        else "no accepted feed yet"
    )
    if not reasons:
        return GuardVerdict(False, False, f"passed: {items:,} SKUs, {total_quantity:,} units against {against}")
    text = "; ".join(reasons)
    if items:
        text += f", more than the {share:.0%} allowed, against {against}"
    if force:
        return GuardVerdict(False, True, f"forced past the guard: {text}")
    return GuardVerdict(True, False, f"held: {text}")


def _fall(before: int, after: int) -> str:
    return f"{(before - after) / before:.0%}"


# ---------------------------------------------------------------------------------------------- changes and plans


@dataclass(frozen=True)
class Changes:
    """The feed against the last accepted one: what Amazon will show differently."""

    new: int = 0
    up: int = 0
    down: int = 0
    gone: int = 0  # had stock at Amazon, no longer in the file: becomes 0
    unchanged: int = 0


def compare(items: pl.DataFrame, last: pl.DataFrame) -> Changes:
    """Count new, up, down, gone and unchanged items of a feed against the last accepted feed's stock."""
    joined = items.select("key", "quantity").join(
        last.select("key", pl.col("quantity").alias("before")), on="key", how="full", coalesce=True
    )
    counts = joined.select(
        new=(pl.col("before").is_null()).sum(),
        up=(pl.col("quantity") > pl.col("before")).sum(),
        down=(pl.col("quantity") < pl.col("before")).sum(),
        gone=(pl.col("quantity").is_null() & (pl.col("before") > 0)).sum(),
        unchanged=(pl.col("quantity") == pl.col("before")).sum(),
    ).row(0, named=True)
    return Changes(**{name: int(value or 0) for name, value in counts.items()})


@dataclass(frozen=True)
class FeedBuild:
    """A feed ready to record: its stock with the request each sent item goes in, and its counts."""

    items: pl.DataFrame  # FEED_SCHEMA: the stock Amazon shows once it is accepted; chunk null = not sent
    changes: Changes
    sent_items: int
    zeros: int
    chunks: int


def plan_feed(
    mode: FeedMode,
    items: pl.DataFrame,
    *,
    last: pl.DataFrame,
    pending: pl.DataFrame,
    chunk_size: int,
) -> FeedBuild:
    """Decide what a feed sends.

    full: every item in one request (isFullUpdate=true); Amazon zeroes whatever is left out, so two full
    requests would zero each other's items. delta: only items whose quantity differs from the last accepted
    feed or from a newer feed Amazon has not settled yet, plus a zero for each item that had stock and is gone,
    in requests of `chunk_size` (partial updates: absolute quantities, so sending one again is harmless).
    """
    changes = compare(items, last)
    if mode is FeedMode.FULL:
        stock = items.with_columns(pl.lit(0, dtype=pl.Int64).alias("chunk"))
        zeros = int((items["quantity"] == 0).sum())
        return FeedBuild(stock.select(*FEED_SCHEMA), changes, items.height, zeros, 1)

    # Amazon surely shows an item's quantity only when the last accepted feed carried it and no newer feed
    # (possibly applied, possibly not) said otherwise; every other item is said again.
    accepted = last.select("key", pl.col("quantity").alias("accepted"))
    unsettled = pending.group_by("key").agg(
        pl.col("quantity").min().alias("low"), pl.col("quantity").max().alias("high")
    )
    quantity = pl.col("quantity")
    current = (
        items.join(accepted, on="key", how="left")
        .join(unsettled, on="key", how="left")
        .with_columns(
            changed=pl.col("accepted").is_null()
            | (pl.col("accepted") != quantity)
            | (pl.col("low").is_not_null() & ((pl.col("low") != quantity) | (pl.col("high") != quantity)))
        )
    )
    # Gone: no longer in the file, and Amazon may show stock for it (the accepted or a newer feed said > 0).
    known = pl.concat([last.select(*ITEM_SCHEMA), pending.select(*ITEM_SCHEMA)])
    gone = (
        known.group_by("key", maintain_order=True)
        .agg(pl.col("quantity").max().alias("high"), pl.col("vendor_sku").last(), pl.col("asin").last())
        .join(items.select("key"), on="key", how="anti")
        .filter(pl.col("high") > 0)
        .select("key", "vendor_sku", "asin", pl.lit(0, dtype=pl.Int64).alias("quantity"), pl.lit(True).alias("changed"))
    )
    stock = pl.concat([current.select(*ITEM_SCHEMA, "changed"), gone]).sort("key")
    order = pl.when(pl.col("changed")).then(pl.col("changed").cast(pl.Int64).cum_sum() - 1)
    stock = stock.with_columns((order // chunk_size).alias("chunk"))
    sent = stock.filter(pl.col("changed"))
    chunks = 0 if sent.is_empty() else int(sent["chunk"].max()) + 1  # type: ignore[arg-type]
    zeros = int((sent["quantity"] == 0).sum())
    return FeedBuild(stock.select(*FEED_SCHEMA), changes, sent.height, zeros, chunks)


# ---------------------------------------------------------------------------------------------- conversions


def to_feed_items(frame: pl.DataFrame) -> FeedItems:
    """A feed frame as the ledger stores it (columns as tuples)."""
    if frame.is_empty():
        return EMPTY_FEED_ITEMS
    chunks = frame["chunk"] if "chunk" in frame.columns else pl.Series([None] * frame.height, dtype=pl.Int64)
    return FeedItems(
        keys=tuple(frame["key"].to_list()),
        vendor_skus=tuple(frame["vendor_sku"].to_list()),
        asins=tuple(frame["asin"].to_list()),
        quantities=tuple(frame["quantity"].to_list()),
        chunks=tuple(chunks.to_list()),
    )


def from_feed_items(items: FeedItems) -> pl.DataFrame:
    """Feed items from the ledger as a frame (FEED_SCHEMA)."""
    return pl.DataFrame(
        {
            "key": items.keys,
            "vendor_sku": items.vendor_skus,
            "asin": items.asins,
            "quantity": items.quantities,
            "chunk": items.chunks,
        },
        schema=FEED_SCHEMA,
    )


def build_update(items: FeedItems, *, selling_party_id: str, warehouse_id: str, full: bool) -> InventoryUpdate:
    """One submitInventoryUpdate request: the items of one chunk, for the one Amazon warehouse."""
    return InventoryUpdate(
        selling_party_id=selling_party_id,
        warehouse_id=warehouse_id,
        items=tuple(
            InventoryItem(vendor, quantity, asin)
            for vendor, asin, quantity in zip(items.vendor_skus, items.asins, items.quantities, strict=True)
        ),
        is_full_update=full,
    )
