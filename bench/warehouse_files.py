"""Benchmark: validate 1,000,000-row shipment and stock files with our polars/pandera pipeline and a stdlib baseline.

Usage: .venv/bin/python bench/warehouse_files.py [--rows 1000000] [--reps 3] [--bad 0.01]

Each (pipeline, kind) runs in its own subprocess, so its peak memory (VmHWM) is its own. The baseline applies the
same rules with the stdlib `csv` module and one pydantic model per row.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- data


def generate(folder: Path, rows: int, bad: float) -> tuple[Path, Path]:
    """Write the two files with polars; a fraction `bad` of rows carries one of several problems."""
    import polars as pl

    base = pl.DataFrame({"i": pl.int_range(rows, eager=True, dtype=pl.Int64)}).with_columns(
        broken=(pl.col("i").hash(seed=7) % 10_000) < int(bad * 10_000),
        kind=pl.col("i") % 5,
        order=pl.col("i") // 3,  # three lines per order
    )
    index, order, kind = pl.col("i"), pl.col("order"), pl.col("kind")
    broken = pl.col("broken")

    def pick(*choices: str) -> pl.Expr:
        return pl.lit(pl.Series(choices)).gather(index % len(choices))

    shipments = base.select(
        purchase_order_number="PO" + order.cast(pl.String).str.zfill(8),
        item_sequence_number=((index % 3) + 1).cast(pl.String).str.zfill(5),
        vendor_sku="SKU-" + (index % 50_000).cast(pl.String),
        quantity_shipped=pl.when(broken & (kind == 0)).then(pl.lit("two"))
        .otherwise(((index % 4) + 1).cast(pl.String)),
        carrier=pick("UPS", "FedEx", "USPS"),
        ship_method=pick("UPS_GROUND", "FEDEX_HOME", "USPS_PRIORITY"),
        scac=pick("UPSN", "FDEG", "USPS"),
        tracking_number="1Z" + order.cast(pl.String).str.zfill(16),
        ship_date=pl.when(broken & (kind == 1)).then(pl.lit("2026-13-40"))
        .when(broken & (kind == 2)).then(pl.lit("2027-01-01")).otherwise(pl.lit("2026-03-02")),
        package_weight=pl.when(broken & (kind == 3)).then(pl.lit("0"))
        .otherwise(((index % 90) / 10 + 0.1).round(1).cast(pl.String)),
        weight_unit=pl.when(broken & (kind == 4)).then(pl.lit("stone")).otherwise(pl.lit("KG")),
        package_id="BOX" + order.cast(pl.String),
        length=pl.lit("30"),
        width=pl.lit("20"),
        height=pl.lit("10"),
        dimension_unit=pl.lit("CM"),
    )
    stock = base.select(
        vendor_sku="SKU-" + index.cast(pl.String),
        available_quantity=pl.when(broken & (kind < 3)).then(pl.lit("-1")).otherwise((index % 500).cast(pl.String)),
        asin=pl.when(broken & (kind >= 3)).then(pl.lit("b0")).otherwise("B" + index.cast(pl.String).str.zfill(9)),
    )
    ship_path, stock_path = folder / "shipments.csv", folder / "stock.csv"
    shipments.write_csv(ship_path)
    stock.write_csv(stock_path)
    return ship_path, stock_path


# ---------------------------------------------------------------------------------------------- baseline


def _baseline_models() -> tuple[Any, Any]:
    from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

    class Shipment(BaseModel):
        model_config = ConfigDict(str_strip_whitespace=True)

        purchase_order_number: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")
        item_sequence_number: str | None = Field(None, max_length=10, pattern=r"^[0-9]+$")
        vendor_sku: str | None = Field(None, max_length=64)
        quantity_shipped: int = Field(ge=1, strict=False)
        carrier: str = Field(min_length=1, max_length=64)
        ship_method: str = Field(min_length=1, max_length=64)
        scac: str | None = Field(None, pattern=r"^[A-Z]{2,4}$")
        tracking_number: str = Field(min_length=1, max_length=100)
        ship_date: datetime
        package_weight: float = Field(gt=0, lt=100_000)
        weight_unit: str
        package_id: str | None = Field(None, max_length=64)
        length: float | None = Field(None, gt=0, lt=100_000)
        width: float | None = Field(None, gt=0, lt=100_000)
        height: float | None = Field(None, gt=0, lt=100_000)
        dimension_unit: str | None = None

        @field_validator("ship_date", mode="before")
        @classmethod
        def _date(cls, value: str) -> datetime:
            for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ"):
                try:
                    return datetime.strptime(value, fmt).replace(tzinfo=UTC)
                except ValueError:
                    continue
            raise ValueError(f"ship date {value} is not a date")

        @field_validator("ship_date")
        @classmethod
        def _past(cls, value: datetime) -> datetime:
            if value > NOW:
                raise ValueError("ship date is in the future")
            return value

        @field_validator("weight_unit", "dimension_unit")
        @classmethod
        def _unit(cls, value: str | None, info: Any) -> str | None:
            allowed = ("KG", "LB") if info.field_name == "weight_unit" else ("IN", "CM")
            if value is not None and value.upper() not in allowed:
                raise ValueError(f"must be one of {allowed}")
            return value.upper() if value else value

        @model_validator(mode="after")
        def _cross(self) -> Shipment:
            if self.item_sequence_number is None and self.vendor_sku is None:
                raise ValueError("give an item sequence number or a vendor SKU")
            given = sum(v is not None for v in (self.length, self.width, self.height, self.dimension_unit))
            if given not in (0, 4):
                raise ValueError("dimensions must be given together")
            return self

    class Stock(BaseModel):
        model_config = ConfigDict(str_strip_whitespace=True)

        vendor_sku: str = Field(min_length=1, max_length=64)
        available_quantity: int = Field(ge=0)
        asin: str | None = Field(None, pattern=r"^[A-Z0-9]{10}$")

    return Shipment, Stock


def baseline(path: Path, kind: str) -> tuple[int, int, int]:
    """Parse and validate row by row: (rows, valid rows, problems)."""
    from pydantic import ValidationError

    shipment_model, stock_model = _baseline_models()
    model = shipment_model if kind == "shipments" else stock_model
    fold = re.compile(r"[\s_\-.]+")
    errors: list[tuple[int, str | None, str]] = []
    valid: list[tuple[int, Any]] = []
    seen: dict[tuple[str, ...], int] = {}
    bad_rows: set[int] = set()
    order_of: dict[int, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [fold.sub("", name.casefold()) for name in next(reader)]
        names = {fold.sub("", name): name for name in model.model_fields}
        fields = [names.get(name) for name in header]
        for line, record in enumerate(reader, start=2):
            if not any(record):
                continue
            values = {name: (cell.strip() or None) for name, cell in zip(fields, record, strict=False) if name}
            key = tuple(record)
            if kind == "shipments":
                order_of[line] = values.get("purchase_order_number") or ""
                if key in seen:
                    errors.append((line, None, f"line repeats line {seen[key]} exactly"))
                    bad_rows.add(line)
                else:
                    seen[key] = line
            try:
                valid.append((line, model.model_validate(values)))
            except ValidationError as exc:
                bad_rows.add(line)
                for error in exc.errors():
                    errors.append((line, str(error["loc"][0]) if error["loc"] else None, error["msg"]))
    if kind == "shipments":
        bad_orders = {order_of[line] for line in bad_rows}
        kept = [(line, row) for line, row in valid if line not in bad_rows and order_of[line] not in bad_orders]
        errors.extend(
            (line, "purchase_order_number", "order held back")
            for line, _ in valid if line not in bad_rows and order_of[line] in bad_orders
        )
    else:
        counts: dict[str, list[int]] = defaultdict(list)
        for line, row in valid:
            counts[row.vendor_sku].append(line)
        repeated = {sku for sku, lines in counts.items() if len(lines) > 1}
        kept = [(line, row) for line, row in valid if row.vendor_sku not in repeated]
    return len(order_of) if kind == "shipments" else len(valid) + len(bad_rows), len(kept), len(errors)


# ---------------------------------------------------------------------------------------------- ours


def ours(path: Path, kind: str) -> tuple[int, int, int]:
    from flows.render import validate_file
    from tasks.core.config import FileOptions

    result = validate_file(path, kind, FileOptions(), now=NOW)  # type: ignore[arg-type]
    return result.rows, result.valid.height, result.errors.height


# ---------------------------------------------------------------------------------------------- driver


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(pipeline: str, kind: str, path: Path, reps: int) -> None:
    run = ours if pipeline == "polars" else baseline
    if pipeline == "polars":
        import pandera.polars  # noqa: F401  # import cost is paid once per process, not per file

    seconds = []
    counts: tuple[int, int, int] = (0, 0, 0)
    for _ in range(reps):
        start = time.perf_counter()
        counts = run(path, kind)
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds, "rows": counts[0], "valid": counts[1], "problems": counts[2],
                      "peak_mb": _peak_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--bad", type=float, default=0.01, help="fraction of rows with a problem")
    parser.add_argument("--child", nargs=3, metavar=("PIPELINE", "KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]), args.reps)
        return

    with tempfile.TemporaryDirectory(prefix="vdf-bench-") as folder:
        start = time.perf_counter()
        paths = dict(zip(("shipments", "stock"), generate(Path(folder), args.rows, args.bad), strict=True))
        print(f"generated {args.rows:,} rows per file in {time.perf_counter() - start:.1f} s "
              f"(shipments {paths['shipments'].stat().st_size / 1e6:.0f} MB, "
              f"stock {paths['stock'].stat().st_size / 1e6:.0f} MB), {args.bad:.1%} bad rows, {args.reps} reps")
        for kind, path in paths.items():
            measured = {}
            for pipeline in ("polars", "baseline"):
                out = subprocess.run(
                    [sys.executable, __file__, "--reps", str(args.reps), "--child", pipeline, kind, str(path)],
                    check=True, capture_output=True, text=True,
                )
                measured[pipeline] = json.loads(out.stdout.strip().splitlines()[-1])
            for pipeline, result in measured.items():
                median = statistics.median(result["seconds"])
                print(f"{kind:9} {pipeline:8}: median {median:6.2f} s = {result['rows'] / median:12,.0f} rows/s; "
                      f"valid {result['valid']:,}, problems {result['problems']:,}; peak {result['peak_mb']:,.0f} MB")
            medians = {pipeline: statistics.median(result["seconds"]) for pipeline, result in measured.items()}
            ratio = medians["baseline"] / medians["polars"]
            print(f"{kind:9} speed-up: {ratio:.1f}x")


if __name__ == "__main__":
    main()
