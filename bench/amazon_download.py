"""Benchmark: download 5,000 orders of one window from the in-process simulator through SpApiVendorApi."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.amazon.api import AmazonAccess, SpApiVendorApi
from simulator import SimulatorConfig, start_simulator
from tasks.core.models import TimeWindow
from tasks.core.orders import follow_pages

FLOOR_ORDERS_PER_SECOND = 100 * 10  # 100 orders a page, getOrders limited to 10 requests/s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between runs, so Amazon's bucket refills")
    args = parser.parse_args()

    config = SimulatorConfig(
        port=0, selling_party_id="VENDOR1", warehouses=("WH01",), transaction_delay=0.2, rate_limits=True
    )
    with start_simulator(config) as sim:
        created_at = datetime.now(UTC) - timedelta(hours=1)
        created = sim.create_orders(args.orders, created_at=created_at)
        window = TimeWindow(created_at - timedelta(minutes=1), created_at + timedelta(minutes=1))
        access = AmazonAccess(
            "na",
            "VENDOR1",
            "bench-client",
            "bench-secret",
            "Atzr|bench",
            endpoint=sim.base_url,
            token_url=sim.token_url,
        )
        rates = []
        for run in range(1, args.repeats + 1):
            if run > 1:
                time.sleep(args.pause)
            throttled_before = len(sim.requests(status=429)) if callable(getattr(sim, "requests", None)) else 0
            started = time.perf_counter()
            with SpApiVendorApi(access) as api:  # a fresh adapter per run: LWA + RDT are part of the cost
                pages = follow_pages(lambda token: api.fetch_orders_page(window, next_token=token), what=window.label())
                numbers = [order.purchase_order_number for page in pages for order in page.orders]
            elapsed = time.perf_counter() - started
            throttled = len(sim.requests(status=429)) - throttled_before
            if len(numbers) != len(created) or set(numbers) != set(created):
                print(f"run {run}: downloaded {len(numbers)} orders, expected {len(created)}", file=sys.stderr)
                return 1
            rate = len(numbers) / elapsed
            rates.append(rate)
            print(f"run {run}: {len(numbers)} orders in {elapsed:.2f} s = {rate:,.0f} orders/s ({throttled} x 429)")
        median = statistics.median(rates)
        print(
            f"median {median:,.0f} orders/s over {len(rates)} runs = {median / FLOOR_ORDERS_PER_SECOND:.0%} "
            f"of the rate-limit floor ({FLOOR_ORDERS_PER_SECOND:,} orders/s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
