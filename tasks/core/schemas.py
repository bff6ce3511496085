"""Pandera models (polars backend) and column specifications for the files the warehouse sends us."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import pandera.polars as pa
import polars as pl

InboundKind = Literal["shipments", "stock", "sku_map", "packages", "package_profile"]
ValueKind = Literal["text", "integer", "decimal", "datetime", "unit"]


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an inbound file: how to read it and what to say when a value breaks its rule."""

    name: str
    kind: ValueKind
    required: bool
    rule: str  # plain language, said when a value cannot be read or breaks the column's range
    max_length: int | None = None
    identifier: bool = False  # a code copied as is (order, SKU, tracking number): a spreadsheet must not reformat it


SHIPMENT_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("purchase_order_number", "text", True, "purchase order number must be letters and digits", 64, True),
    ColumnSpec("item_sequence_number", "text", False, "item sequence number must be digits", 10, True),
    ColumnSpec("vendor_sku", "text", False, "vendor SKU must not be empty", 64, True),
    ColumnSpec("quantity_shipped", "integer", True, "quantity shipped must be a whole number >= 1"),
    ColumnSpec("carrier", "text", True, "carrier must not be empty", 64),
    ColumnSpec("ship_method", "text", True, "ship method must not be empty", 64),
    ColumnSpec("scac", "text", False, "SCAC must be 2 to 4 letters", 4),
    ColumnSpec("tracking_number", "text", True, "tracking number must not be empty", 100, True),
    ColumnSpec("ship_date", "datetime", True, "ship date must be a date"),
    ColumnSpec("package_weight", "decimal", True, "package weight must be a number > 0 and < 100000"),
    ColumnSpec("weight_unit", "unit", True, "weight unit must be KG or LB"),
    ColumnSpec("package_id", "text", False, "package id must not be empty", 64, True),
    ColumnSpec("length", "decimal", False, "length must be a number > 0 and < 100000"),
    ColumnSpec("width", "decimal", False, "width must be a number > 0 and < 100000"),
    ColumnSpec("height", "decimal", False, "height must be a number > 0 and < 100000"),
    ColumnSpec("dimension_unit", "unit", False, "dimension unit must be IN or CM"),
    # empty or SHIPPED: shipped; a could-not-ship marker (warehouse shipments.could_not_ship): FLOOR_DENIAL
    ColumnSpec("status", "text", False, "status must not be empty", 32),
)
# What a line the warehouse could not ship may leave out: it has no package.
NOT_SHIPPED_OPTIONAL = (
    "quantity_shipped", "carrier", "ship_method", "scac", "tracking_number", "package_weight", "weight_unit",
    "package_id", "length", "width", "height", "dimension_unit",
)

STOCK_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("vendor_sku", "text", True, "vendor SKU must not be empty", 64, True),
    ColumnSpec("available_quantity", "integer", True, "available quantity must be a whole number >= 0"),
    ColumnSpec("asin", "text", False, "ASIN must be 10 capital letters or digits", 10, True),
)

# The optional per-warehouse SKU map (inventory.sku_map): the 3PL's item code -> what Amazon knows the item by.
SKU_MAP_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("warehouse_sku", "text", True, "warehouse SKU must not be empty", 64),
    ColumnSpec("vendor_sku", "text", False, "vendor SKU must not be empty", 64),
    ColumnSpec("asin", "text", False, "ASIN must be 10 capital letters or digits", 10),
)

# The warehouse's weighed packages, for Amazon labels (one row per package, or per item in a package).
PACKAGE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("purchase_order_number", "text", True, "purchase order number must be letters and digits", 64),
    ColumnSpec("package_id", "text", True, "package id must not be empty", 64),
    ColumnSpec("weight", "decimal", True, "weight must be a number > 0 and < 100000"),
    ColumnSpec("weight_unit", "unit", True, "weight unit must be KG or LB"),
    ColumnSpec("length", "decimal", False, "length must be a number > 0 and < 100000"),
    ColumnSpec("width", "decimal", False, "width must be a number > 0 and < 100000"),
    ColumnSpec("height", "decimal", False, "height must be a number > 0 and < 100000"),
    ColumnSpec("dimension_unit", "unit", False, "dimension unit must be IN or CM"),
    ColumnSpec("item_sequence_number", "text", False, "item sequence number must be digits", 10),
    ColumnSpec("vendor_sku", "text", False, "vendor SKU must not be empty", 64),
    ColumnSpec("quantity", "integer", False, "quantity must be a whole number >= 1"),
)

# The vendor's per-SKU package profile: how one unit of each SKU ships.
PROFILE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("vendor_sku", "text", True, "vendor SKU must not be empty", 64),
    ColumnSpec("weight", "decimal", True, "weight must be a number > 0 and < 100000"),
    ColumnSpec("weight_unit", "unit", True, "weight unit must be KG or LB"),
    ColumnSpec("length", "decimal", False, "length must be a number > 0 and < 100000"),
    ColumnSpec("width", "decimal", False, "width must be a number > 0 and < 100000"),
    ColumnSpec("height", "decimal", False, "height must be a number > 0 and < 100000"),
    ColumnSpec("dimension_unit", "unit", False, "dimension unit must be IN or CM"),
    ColumnSpec("units_per_package", "integer", False, "units per package must be a whole number >= 1"),
)

COLUMNS: dict[InboundKind, tuple[ColumnSpec, ...]] = {
    "shipments": SHIPMENT_COLUMNS,
    "stock": STOCK_COLUMNS,
    "sku_map": SKU_MAP_COLUMNS,
    "packages": PACKAGE_COLUMNS,
    "package_profile": PROFILE_COLUMNS,
}

_MAX = 100_000.0  # no parcel weighs or measures this much; catches "inf" and misplaced decimal points
_UTC_DATETIME = Annotated[pl.Datetime, "us", "UTC"]

# Dataframe-level checks report against the whole row; these say which column a person should look at.
NEED_ITEM_ID = "give an item sequence number or a vendor SKU"
QUANTITY_NEEDS_ITEM = "a quantity needs an item sequence number or a vendor SKU"
DIMENSIONS_TOGETHER = "length, width, height and dimension unit must be given together"
NEED_AMAZON_ID = "give a vendor SKU or an ASIN for the warehouse SKU"
CHECK_COLUMNS = {
    NEED_ITEM_ID: "item_sequence_number",
    DIMENSIONS_TOGETHER: "dimension_unit",
    NEED_AMAZON_ID: "vendor_sku",
    QUANTITY_NEEDS_ITEM: "quantity",
}


def _max_length(columns: tuple[ColumnSpec, ...], name: str) -> int:
    for spec in columns:
        if spec.name == name and spec.max_length is not None:
            return spec.max_length
    raise KeyError(name)


def _ship_len(name: str) -> dict[str, int]:
    return {"min_value": 1, "max_value": _max_length(SHIPMENT_COLUMNS, name)}


class ShipmentRow(pa.DataFrameModel):
    """One shipped line in one package, as typed by our reader (row = line number in the file)."""

    row: int = pa.Field(ge=2)
    purchase_order_number: str = pa.Field(str_length=_ship_len("purchase_order_number"), str_matches=r"^[A-Za-z0-9]+$")
    item_sequence_number: str = pa.Field(nullable=True, str_length=_ship_len("item_sequence_number"),
                                         str_matches=r"^[0-9]+$")
    vendor_sku: str = pa.Field(nullable=True, str_length=_ship_len("vendor_sku"))
    quantity_shipped: int = pa.Field(ge=1)
    carrier: str = pa.Field(str_length=_ship_len("carrier"))
    ship_method: str = pa.Field(str_length=_ship_len("ship_method"))
    scac: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2,4}$")
    tracking_number: str = pa.Field(str_length=_ship_len("tracking_number"))
    ship_date: _UTC_DATETIME
    package_weight: float = pa.Field(gt=0, lt=_MAX)
    weight_unit: str = pa.Field(isin=["KG", "LB"])
    package_id: str = pa.Field(nullable=True, str_length=_ship_len("package_id"))
    length: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    width: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    height: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    dimension_unit: str = pa.Field(nullable=True, isin=["IN", "CM"])
    status: str = pa.Field(nullable=True, str_length=_ship_len("status"))

    class Config:
        strict = True

    @pa.dataframe_check(error=NEED_ITEM_ID)
    @classmethod
    def _item_identified(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("item_sequence_number").is_not_null() | pl.col("vendor_sku").is_not_null())

    @pa.dataframe_check(error=DIMENSIONS_TOGETHER)
    @classmethod
    def _dimensions_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        given = pl.sum_horizontal(
            pl.col(name).is_not_null().cast(pl.Int8) for name in ("length", "width", "height", "dimension_unit")
        )
        return data.lazyframe.select((given == 0) | (given == 4))


class StockRow(pa.DataFrameModel):
    """Available quantity of one SKU at the warehouse (row = line number in the file)."""

    row: int = pa.Field(ge=2)
    vendor_sku: str = pa.Field(str_length={"min_value": 1, "max_value": _max_length(STOCK_COLUMNS, "vendor_sku")})
    available_quantity: int = pa.Field(ge=0)
    asin: str = pa.Field(nullable=True, str_matches=r"^[A-Z0-9]{10}$")

    class Config:
        strict = True


def _map_len(name: str) -> dict[str, int]:
    return {"min_value": 1, "max_value": _max_length(SKU_MAP_COLUMNS, name)}


class SkuMapRow(pa.DataFrameModel):
    """One warehouse item code and the vendor SKU and/or ASIN Amazon knows it by (row = line number in the file)."""

    row: int = pa.Field(ge=2)
    warehouse_sku: str = pa.Field(str_length=_map_len("warehouse_sku"))
    vendor_sku: str = pa.Field(nullable=True, str_length=_map_len("vendor_sku"))
    asin: str = pa.Field(nullable=True, str_matches=r"^[A-Z0-9]{10}$")

    class Config:
        strict = True

    @pa.dataframe_check(error=NEED_AMAZON_ID)
    @classmethod
    def _amazon_identified(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("vendor_sku").is_not_null() | pl.col("asin").is_not_null())


def _dimensions_given(data: pa.PolarsData) -> pl.LazyFrame:
    given = pl.sum_horizontal(
        pl.col(name).is_not_null().cast(pl.Int8) for name in ("length", "width", "height", "dimension_unit")
    )
    return data.lazyframe.select((given == 0) | (given == 4))


def _pkg_len(name: str) -> dict[str, int]:
    return {"min_value": 1, "max_value": _max_length(PACKAGE_COLUMNS, name)}


class PackageRow(pa.DataFrameModel):
    """One weighed package (or one item in it) the warehouse sends so Amazon can label it."""

    row: int = pa.Field(ge=2)
    purchase_order_number: str = pa.Field(str_length=_pkg_len("purchase_order_number"), str_matches=r"^[A-Za-z0-9]+$")
    package_id: str = pa.Field(str_length=_pkg_len("package_id"))
    weight: float = pa.Field(gt=0, lt=_MAX)
    weight_unit: str = pa.Field(isin=["KG", "LB"])
    length: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    width: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    height: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    dimension_unit: str = pa.Field(nullable=True, isin=["IN", "CM"])
    item_sequence_number: str = pa.Field(nullable=True, str_length=_pkg_len("item_sequence_number"),
                                         str_matches=r"^[0-9]+$")
    vendor_sku: str = pa.Field(nullable=True, str_length=_pkg_len("vendor_sku"))
    quantity: int = pa.Field(nullable=True, ge=1)

    class Config:
        strict = True

    @pa.dataframe_check(error=DIMENSIONS_TOGETHER)
    @classmethod
    def _dimensions_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _dimensions_given(data)

    @pa.dataframe_check(error=QUANTITY_NEEDS_ITEM)
    @classmethod
    def _quantity_of_an_item(cls, data: pa.PolarsData) -> pl.LazyFrame:
        item = pl.col("item_sequence_number").is_not_null() | pl.col("vendor_sku").is_not_null()
        return data.lazyframe.select(pl.col("quantity").is_null() | item)


class PackageProfileRow(pa.DataFrameModel):
    """How one unit of a SKU ships: its packed weight, the carton's size, and how many units share a carton."""

    row: int = pa.Field(ge=2)
    vendor_sku: str = pa.Field(str_length={"min_value": 1, "max_value": _max_length(PROFILE_COLUMNS, "vendor_sku")})
    weight: float = pa.Field(gt=0, lt=_MAX)
    weight_unit: str = pa.Field(isin=["KG", "LB"])
    length: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    width: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    height: float = pa.Field(nullable=True, gt=0, lt=_MAX)
    dimension_unit: str = pa.Field(nullable=True, isin=["IN", "CM"])
    units_per_package: int = pa.Field(nullable=True, ge=1, le=10_000)

    class Config:
        strict = True

    @pa.dataframe_check(error=DIMENSIONS_TOGETHER)
    @classmethod
    def _dimensions_complete(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _dimensions_given(data)


MODELS: dict[InboundKind, type[pa.DataFrameModel]] = {
    "shipments": ShipmentRow,
    "stock": StockRow,
    "sku_map": SkuMapRow,
    "packages": PackageRow,
    "package_profile": PackageProfileRow,
}
