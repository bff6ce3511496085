"""Benchmark: a 200,000-SKU stock file through push-inventory's decisions, in full and in delta mode.

Usage: .venv/bin/python bench/inventory_flow.py [--skus 200000] [--changes 0.05] [--reps 5] [--chunk 5000]

For each mode, in its own subprocess (so its peak memory, VmHWM, is its own): validate the file (pandera),
map it to Amazon items, compare it with the last accepted feed (which differs from it in `--changes` of the
SKUs) and plan the feed, turn it into the ledger's columns and into the request objects. Printed: the median
time of each step over `--reps` runs, the requests' size as JSON (bytes and items, as the adapter sends them)
and the peak memory. Aims: validate + map + build under 2 s for either mode, peak under 500 MB.
The ledger's own time (SQLite/PostgreSQL) is measured by tests/integration/test_ledger_inventory.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def generate(skus: int, changes: float) -> tuple[bytes, object]:
    """The stock file (CSV bytes) and the last accepted feed's stock, which differs in `changes` of the SKUs."""
    import polars as pl

    from tasks.core.inventory import ITEM_SCHEMA, to_feed_items

    index = pl.int_range(skus, eager=True, dtype=pl.Int64)
    current = pl.DataFrame({"i": index}).select(
        vendor_sku="SKU-" + pl.col("i").cast(pl.String).str.zfill(7),
        available_quantity=(pl.col("i").hash(seed=1) % 250).cast(pl.Int64),
        asin=pl.when(pl.col("i") % 3 == 0).then("B" + pl.col("i").cast(pl.String).str.zfill(9)),
    )
    data = current.write_csv().encode()
    # The last feed: `changes` of the SKUs differ: most changed their quantity, a few are new today, a few gone.
    bucket = pl.col("i").hash(seed=2) % 10_000
    cut = int(changes * 10_000)
    last = (
        pl.DataFrame({"i": index})
        .with_columns(current)
        .filter(~(bucket < cut // 10))  # new today: not in the last feed
        .with_columns(
            available_quantity=pl.when(bucket < cut // 2).then(pl.col("available_quantity") + 7)  # down today
            .when(bucket < cut).then(pl.col("available_quantity") // 2 - 1)  # up today
            .otherwise(pl.col("available_quantity"))
        )
    )
    gone = pl.DataFrame({"vendor_sku": [f"GONE-{i:06d}" for i in range(int(skus * changes / 10))]}).with_columns(
        available_quantity=pl.lit(3, dtype=pl.Int64), asin=pl.lit(None, dtype=pl.String)
    )
    levels = pl.concat([last.select("vendor_sku", "available_quantity", "asin"), gone]).select(
        key=pl.col("vendor_sku"), vendor_sku="vendor_sku", asin="asin", quantity="available_quantity"
    )
    return data, to_feed_items(levels.cast(ITEM_SCHEMA).sort("key"))  # type: ignore[arg-type]


def one_mode(mode: str, skus: int, changes: float, reps: int, chunk: int) -> dict[str, object]:
    """Run inside the child process: time each step, size the requests."""
    from adapters.amazon.json import to_inventory_json
    from tasks.core.config import FileOptions
    from tasks.core.inventory import (
        blocking_errors,
        build_update,
        check_guard,
        from_feed_items,
        map_items,
        plan_feed,
        to_feed_items,
    )
    from tasks.core.models import EMPTY_FEED_ITEMS, FeedItems, FeedMode
    from tasks.core.validation import validate_stock

    data, levels = generate(skus, changes)
    assert isinstance(levels, FeedItems)
    options = FileOptions()
    timings: dict[str, list[float]] = {}
    cpu: list[float] = []
    sizes: list[int] = []
    items_sent = 0
    for rep in range(reps):
        started_cpu = time.process_time()
        marks = [time.perf_counter()]
        result = validate_stock(data, options, file_name="stock.csv")
        assert blocking_errors(result).is_empty()
        marks.append(time.perf_counter())
        mapped = map_items(result.valid, identifier="vendor_sku")
        marks.append(time.perf_counter())
        items = mapped.items
        check_guard(items=items.height, total_quantity=int(items["quantity"].sum()), last=None, share=0.5)
        build = plan_feed(
            FeedMode(mode), items, last=from_feed_items(levels), pending=from_feed_items(EMPTY_FEED_ITEMS),
            chunk_size=chunk,
        )
        marks.append(time.perf_counter())
        stored = to_feed_items(build.items)
        marks.append(time.perf_counter())
        frame = build.items.filter(build.items["chunk"].is_not_null())
        updates = [
            build_update(
                to_feed_items(frame.filter(frame["chunk"] == n)),
                selling_party_id="VENDOR1",
                warehouse_id="WH01",
                full=mode == "full",
            )
            for n in range(build.chunks)
        ]
        marks.append(time.perf_counter())
        cpu.append(time.process_time() - started_cpu)
        bodies = [json.dumps({"inventory": to_inventory_json(u)}, separators=(",", ":")).encode() for u in updates]
        marks.append(time.perf_counter())
        for name, start, end in zip(
            ("validate", "map", "plan", "ledger columns", "requests", "json"), marks, marks[1:], strict=False
        ):
            timings.setdefault(name, []).append(end - start)
        if rep == 0:
            sizes = [len(body) for body in bodies]
            items_sent = sum(len(u.items) for u in updates)
            assert len(stored) >= items.height
            changes = build.changes
        # one run's objects go before the next run makes its own: the peak is one run's
        del result, mapped, items, build, stored, frame, updates, bodies
    with open("/proc/self/status", encoding="ascii") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {
        "mode": mode,
        "medians": medians,
        "cpu": statistics.median(cpu),
        "decide": medians["validate"] + medians["map"] + medians["plan"] + medians["ledger columns"]
        + medians["requests"],
        "requests": len(sizes),
        "items": items_sent,
        "bytes": sum(sizes),
        "largest": max(sizes, default=0),
        "peak_mb": peak_kb / 1024,
        "changes": {"new": changes.new, "up": changes.up, "down": changes.down,
                    "gone": changes.gone, "unchanged": changes.unchanged},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=200_000)
    parser.add_argument("--changes", type=float, default=0.05)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--child", choices=["full", "delta"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_mode(args.child, args.skus, args.changes, args.reps, args.chunk)))
        return

    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"{args.skus:,} SKUs, last accepted feed differing in {args.changes:.0%}; medians of {args.reps} runs;"
          f" load average {load} on {len(__import__('os').sched_getaffinity(0))} cores (wall time suffers from it)\n")
    for mode in ("full", "delta"):
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--skus", str(args.skus), "--changes", str(args.changes),
             "--reps", str(args.reps), "--chunk", str(args.chunk)],
            capture_output=True, text=True, check=True,
        )
        r = json.loads(done.stdout.strip().splitlines()[-1])
        m = r["medians"]
        print(f"{mode:5}  validate {m['validate']:.2f} s + map {m['map']:.2f} s + plan {m['plan']:.2f} s"
              f" + ledger columns {m['ledger columns']:.2f} s + request objects {m['requests']:.2f} s"
              f" = {r['decide']:.2f} s wall, {r['cpu']:.2f} s CPU   (JSON encoding in the adapter: {m['json']:.2f} s)")
        print(f"       {r['requests']} request(s), {r['items']:,} items, {r['bytes'] / 1e6:.1f} MB of JSON"
              f" (largest {r['largest'] / 1e6:.2f} MB, {r['bytes'] / max(r['items'], 1):.0f} bytes/item);"
              f" changes {r['changes']}; peak memory {r['peak_mb']:.0f} MB")
        aims = []
        if r["decide"] >= 2:
            aims.append("above the 2 s aim")
        if r["peak_mb"] >= 500:
            aims.append("above the 500 MB aim")
        print(f"       {'; '.join(aims) or 'within the aims (2 s, 500 MB)'}\n")


if __name__ == "__main__":
    main()
