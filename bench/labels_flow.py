"""Benchmark: one download-orders run over 1,000 orders with Amazon labels on, against its rate-limit floor.

Usage: .venv/bin/python bench/labels_flow.py [--orders 1000] [--repeats 3] [--latency 0.0] [--packing-slips]
       [--workers 4]

Each repeat starts a fresh in-process simulator (rate limits on, label-only vendor), a fresh embedded SFTP server
and a fresh SQLite ledger, creates the orders 45 minutes ago, and times one real `download_orders` run (labels from
a default package; with --packing-slips, Amazon's packing slips too) under a Prefect test API started and warmed up
before the clock starts. createShippingLabels takes one order per request at 10 requests/s (burst 10), so it
sets the floor: (labels - 10) / 10 seconds; the other operations' buckets drain side by side.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, task
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness

import tasks.documents as document_tasks
from adapters.ledger import SqlLedger, migrate
from flows.download_orders import download_orders
from flows.runtime import Runtime, drop_for, use_runtime, vendor_api_for
from simulator import SimulatorConfig, start_simulator
from simulator.sftp_server import SftpServerConfig, start_sftp_server
from tasks.core.config import Account, Settings, Warehouse, parse_config

ACCOUNT = "bench"
SELLING_PARTY = "VENDOR1"
SHIP_FROM = "WH01"
SFTP_PASSWORD = "bench-password"  # a throwaway server on 127.0.0.1 that lives for one repeat
AMAZON_RATE = 10.0  # every Direct Fulfillment operation: 10 requests/s, burst 10 (Shipping 2021-12-28 model)
AMAZON_BURST = 10
TARGET_RATIO = 1.5


@dataclass
class Watch:
    """Seconds and calls per adapter method, from every thread."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, seconds: float) -> None:
        with self.lock:
            self.seconds[key] += seconds
            self.calls[key] += 1


class Timed:
    """A transparent proxy timing every public method of the adapter it wraps as `group.method`."""

    def __init__(self, target: Any, watch: Watch, group: str) -> None:
        self._target, self._watch, self._group = target, watch, group

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._watch.add(f"{self._group}.{name}", time.perf_counter() - started)

        return timed


def _settings(sim: Any, port: int, known_hosts: Path, ledger_url: str, slips: bool) -> Settings:
    labels: dict[str, Any] = {"labels": "amazon", "default_package": {"weight": 2.5, "weight_unit": "LB"}}
    if slips:
        labels["packing_slips"] = "amazon"
    return parse_config(
        {
            "ledger_url": ledger_url,
            "accounts": [
                {
                    "name": ACCOUNT,
                    "selling_party_id": SELLING_PARTY,
                    "credentials": {
                        "client_id": "env:BENCH_LWA_ID",
                        "client_secret": "env:BENCH_LWA_SECRET",
                        "refresh_token": "env:BENCH_REFRESH",
                    },
                    "endpoint": sim.base_url,
                    "token_url": sim.token_url,
                    "warehouses": [
                        {
                            "name": "main",
                            "ship_from_party_id": SHIP_FROM,
                            "drop": {
                                "kind": "sftp",
                                "host": "127.0.0.1",
                                "port": port,
                                "username": "warehouse",
                                "password": "env:BENCH_SFTP_PASSWORD",
                                "known_hosts": str(known_hosts),
                                "timeout_seconds": 30,
                            },
                            "labels": labels,
                        }
                    ],
                }
            ],
        }
    )


@dataclass
class Result:
    wall: float
    requests: dict[str, int]
    throttled: int
    floor: float
    watch: Watch
    before_labels: float  # flow start to the first createShippingLabels the simulator received
    label_span: float  # first to last createShippingLabels received

    @property
    def ratio(self) -> float:
        return self.wall / self.floor


def rate_limit_floor(requests: dict[str, int]) -> float:
    """Least seconds Amazon's buckets allow: one bucket per operation, draining side by side."""
    return max((max(0, n - AMAZON_BURST) / AMAZON_RATE for n in requests.values()), default=0.0)


def run_once(orders: int, latency: float, slips: bool) -> Result:
    watch = Watch()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="vdf-bench-labels-") as folder:
        tmp = Path(folder)
        sim = stack.enter_context(
            start_simulator(
                SimulatorConfig(
                    port=0,
                    selling_party_id=SELLING_PARTY,
                    warehouses=(SHIP_FROM,),
                    transaction_delay=0.05,
                    seed=7,
                    label_only_parties=(SELLING_PARTY,),
                    slow_rate=1.0 if latency else 0.0,
                    slow_seconds=latency,
                )
            )
        )
        root = tmp / "sftp"
        root.mkdir()
        server = start_sftp_server(SftpServerConfig(root=root, port=0, username="warehouse", password=SFTP_PASSWORD))
        stack.callback(server.stop)
        known_hosts = tmp / "known_hosts"
        known_hosts.write_text(server.known_hosts_line() + "\n")
        ledger_url = f"sqlite:///{tmp / 'ledger.db'}"
        migrate(ledger_url)
        ledger = SqlLedger(ledger_url)
        stack.callback(ledger.close)

        def vendor_api(account: Account) -> Any:
            return Timed(vendor_api_for(account), watch, "amazon")

        def drop(warehouse: Warehouse) -> Any:
            return Timed(drop_for(warehouse.drop), watch, "drop")

        settings = _settings(sim, server.port, known_hosts, ledger_url, slips)
        runtime = Runtime(settings, vendor_api_factory=vendor_api, drop_factory=drop,
                          ledger_factory=lambda _s: Timed(ledger, watch, "ledger"))
        stack.callback(runtime.close)
        stack.enter_context(use_runtime(runtime))
        created = sim.create_orders(orders, ship_from_party_id=SHIP_FROM,
                                    created_at=datetime.now(UTC) - timedelta(minutes=45))
        started_at = time.time()
        started = time.perf_counter()
        rows = download_orders(account=ACCOUNT)
        wall = time.perf_counter() - started
        if rows[0]["exported"] != orders or rows[0]["labels"] != orders:
            raise SystemExit(f"the flow reported {rows[0]}")
        issued = sim.labels()
        if set(issued) != set(created) or any(v["conflicts"] for v in issued.values()):
            raise SystemExit("every order must get exactly one label")
        labels = sorted((root / "outbound" / "labels").glob("*.zpl"))
        if len(labels) != orders:
            raise SystemExit(f"{len(labels)} label files on the drop, expected {orders}")
        log = sim.requests()
        requests = Counter(entry["operation"] for entry in log if entry["operation"] != "getAccessToken")
        del requests["createRestrictedDataToken"]  # 1/s, burst 10: one or two per run, never the floor
        throttled = sum(1 for entry in log if entry["status"] == 429)
        creates = [entry["time"] for entry in log if entry["operation"] == "createShippingLabels"]
        before, span = min(creates) - started_at, max(creates) - min(creates)
        return Result(wall, dict(requests), throttled, rate_limit_floor(dict(requests)), watch, before, span)


@task
def _warm_up_task() -> int:
    return 1


@flow
def _warm_up_flow() -> int:
    return int(_warm_up_task())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the simulator delays every answer")
    parser.add_argument("--packing-slips", action="store_true", help="packing slips on as well")
    parser.add_argument("--workers", type=int, default=document_tasks.LABEL_WORKERS,
                        help="createShippingLabels requests in flight at once")
    args = parser.parse_args()
    document_tasks.LABEL_WORKERS = args.workers
    os.environ.update(BENCH_LWA_ID="amzn1.application-oa2-client.bench", BENCH_LWA_SECRET="bench-secret",
                      BENCH_REFRESH="Atzr|bench", BENCH_SFTP_PASSWORD=SFTP_PASSWORD)
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with prefect_test_harness(server_startup_timeout=120):
            _warm_up_flow()
            results = []
            for number in range(1, args.repeats + 1):
                result = run_once(args.orders, args.latency, args.packing_slips)
                results.append(result)
                busiest = max(result.requests, key=lambda op: result.requests[op])
                print(f"run {number}: wall {result.wall:.1f} s, floor {result.floor:.1f} s ({busiest} "
                      f"{result.requests[busiest]}), wall/floor {result.ratio:.2f}, 429s {result.throttled}, "
                      f"first label request after {result.before_labels:.1f} s, label requests over "
                      f"{result.label_span:.1f} s, requests {dict(sorted(result.requests.items()))}", flush=True)
    med = statistics.median
    ratio = med(r.ratio for r in results)
    print()
    print(f"medians over {len(results)} runs ({args.orders} orders, latency {args.latency} s, "
          f"{args.workers} label requests in flight, packing slips {'on' if args.packing_slips else 'off'}):")
    print(f"  wall time of the flow run   {med(r.wall for r in results):8.1f} s")
    print(f"  rate-limit floor            {med(r.floor for r in results):8.1f} s")
    print(f"  wall / floor                {ratio:8.2f}  (target <= {TARGET_RATIO})")
    print(f"  before the first label      {med(r.before_labels for r in results):8.1f} s")
    print(f"  label requests span         {med(r.label_span for r in results):8.1f} s")
    print("time inside adapters (medians, seconds summed over threads; calls):")
    keys = sorted({k for r in results for k in r.watch.calls})
    for key in keys:
        seconds = med(r.watch.seconds[key] for r in results)
        calls = med(r.watch.calls[key] for r in results)
        print(f"  {key:42s} {seconds:8.2f} s {calls:7.0f} calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
