"""Benchmark: a 100,000-row shipment file covering 50,000 exported orders, (a) without and (b) with the network.

Usage: .venv/bin/python bench/shipments_flow.py [--orders 50000] [--batch 100] [--reps 3] [--part a|b]

(a) validate + reconcile + build, in memory, no network: validate_shipments, reconcile against the ledger's orders,
    the accepted lines, plan_shipments and build_confirmations (one confirmation per order); median of --reps.
(b) one real `confirm_shipments` flow run under a Prefect test API, against the in-process simulator with its rate
    limits on (10 requests/s, burst 10), an embedded SFTP server and a SQLite ledger, compared with the rate-limit
    floor: (submitShipmentConfirmations requests - burst) / 10 per second. The 50,000 orders are created, accepted
    at Amazon and recorded as exported before the clock starts.

Each part runs in its own subprocess, so its peak memory (VmHWM) is its own.
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
import json
import math
import resource
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import yaml

AMAZON_RATE = 10.0
AMAZON_BURST = 10
TARGET_RATIO = 1.3
TARGET_SECONDS = 3.0
ACCOUNT = "bench"
SHIP_FROM = "WH01"
SFTP_PASSWORD = "bench-password"  # a throwaway server on 127.0.0.1 that lives for one run


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def shipment_csv(orders: list[tuple[str, list[tuple[str, str, int]]]], shipped_at: datetime) -> bytes:
    """One row per order line (every unit shipped), one package per order, as a warehouse writes it."""
    numbers = [number for number, lines in orders for _ in lines]
    seqs = [seq for _, lines in orders for seq, _, _ in lines]
    skus = [sku for _, lines in orders for _, sku, _ in lines]
    quantities = [quantity for _, lines in orders for _, _, quantity in lines]
    frame = pl.DataFrame(
        {"purchase_order_number": numbers, "item_sequence_number": seqs, "vendor_sku": skus,
         "quantity_shipped": quantities}
    ).with_columns(
        carrier=pl.lit("UPS"),
        ship_method=pl.lit("UPS_GROUND"),
        scac=pl.lit("UPSN"),
        tracking_number="1Z" + pl.col("purchase_order_number"),
        ship_date=pl.lit(f"{shipped_at:%Y-%m-%dT%H:%M:%SZ}"),
        package_weight=pl.lit("1.5"),
        weight_unit=pl.lit("KG"),
        package_id=pl.lit(None, dtype=pl.String),
        length=pl.lit("30"),
        width=pl.lit("20"),
        height=pl.lit("10"),
        dimension_unit=pl.lit("CM"),
    )
    return frame.write_csv().encode()


# ---------------------------------------------------------------------------------------------- (a)


def part_a(orders_count: int, reps: int) -> dict[str, Any]:
    from tasks.core.config import FileOptions, ShipmentOptions
    from tasks.core.models import LedgerOrder, OrderLine, OrderState
    from tasks.core.shipments import plan_shipments, reconcile, to_shipment_lines
    from tasks.core.validation import validate_shipments

    now = datetime.now(UTC)
    ordered = now - timedelta(hours=2)
    orders = [
        LedgerOrder(
            account=ACCOUNT,
            purchase_order_number=f"PO{n:08d}",
            selling_party_id="VENDOR1",
            ship_from_party_id=SHIP_FROM,
            order_date=ordered,
            state=OrderState.EXPORTED,
            lines=(
                OrderLine("1", 1, f"B0{n:08d}", f"SKU-{n % 5000}"),
                OrderLine("2", 2, f"B1{n:08d}", f"SKU-{n % 7000}"),
            ),
            required_ship_date=now + timedelta(days=1),
        )
        for n in range(orders_count)
    ]
    data = shipment_csv(
        [(o.purchase_order_number, [(line.item_sequence_number, line.vendor_product_identifier or "",
                                     line.ordered_quantity) for line in o.lines]) for o in orders],
        now - timedelta(minutes=10),
    )
    options = ShipmentOptions()
    seconds: list[dict[str, float]] = []
    confirmations = 0
    rows = 0
    for _ in range(reps):
        cpu = time.process_time()
        started = time.perf_counter()
        result = validate_shipments(data, FileOptions(), file_name="bench.csv", now=now,
                                    not_shipped=options.could_not_ship)
        validated = time.perf_counter()
        rec = reconcile(result.valid, orders, [], file="bench.csv", checksum="c", ship_from_party_id=SHIP_FROM,
                        could_not_ship=options.could_not_ship)
        kept = to_shipment_lines(rec.accepted)  # what the flow hands the ledger
        reconciled = time.perf_counter()
        plan = plan_shipments(orders, rec.accepted, now=now, grace=timedelta(0))  # builds the confirmations
        finished = time.perf_counter()
        built = plan.confirmations
        if not result.ok or not rec.errors.is_empty() or len(plan.ready) != orders_count or len(kept) != result.rows:
            raise SystemExit(f"(a) expected a clean file: {result.summary()}, {rec.errors.height} reconcile errors")
        rows, confirmations = result.rows, len(built)
        seconds.append({"validate": validated - started, "reconcile": reconciled - validated,
                        "build": finished - reconciled, "total": finished - started,
                        "cpu": time.process_time() - cpu})
    return {"rows": rows, "confirmations": confirmations, "seconds": seconds, "peak_mb": _peak_mb(),
            "load": os.getloadavg()[0]}


# ---------------------------------------------------------------------------------------------- (b)


def _settings(sim: Any, sftp_port: int, known_hosts: Path, ledger_url: str, batch: int) -> Any:
    from tasks.core.config import parse_config

    return parse_config(
        {
            "ledger_url": ledger_url,
            "accounts": [
                {
                    "name": ACCOUNT,
                    "selling_party_id": "VENDOR1",
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
                                "port": sftp_port,
                                "username": "warehouse",
                                "password": "env:BENCH_SFTP_PASSWORD",
                                "known_hosts": str(known_hosts),
                                "timeout_seconds": 30,
                            },
                            "shipments": {"batch_size": batch},
                        }
                    ],
                }
            ],
        }
    )


def _accept_at_amazon(sim: Any, orders: list[Any]) -> None:
    """Acknowledge every order over HTTP in large requests (setup, not timed), then wait until Amazon applied them."""
    import httpx

    from adapters.amazon.json import to_acknowledgement_json
    from tasks.core.orders import build_acknowledgement

    token = sim.issue_access_token()
    now = datetime.now(UTC)
    with httpx.Client(base_url=sim.base_url, timeout=60) as http:
        for start in range(0, len(orders), 2000):
            body = [
                to_acknowledgement_json(build_acknowledgement(o, vendor_order_number=o.purchase_order_number, when=now))
                for o in orders[start : start + 2000]
            ]
            while True:
                answer = http.post("/vendor/directFulfillment/orders/2021-12-28/acknowledgements",
                                   json={"orderAcknowledgements": body}, headers={"x-amz-access-token": token})
                if answer.status_code != 429:
                    break
                time.sleep(0.2)
            answer.raise_for_status()
    deadline = time.monotonic() + 300
    while sim.state_summary()["transactions"]["by_status"]["Processing"]:
        if time.monotonic() > deadline:
            raise SystemExit("the simulator did not apply the acknowledgements in time")
        time.sleep(0.2)
    if sim.state_summary()["orders"]["by_status"]["ACCEPTED"] != len(orders):
        raise SystemExit("not every order is ACCEPTED at the simulator")


def _record_exported(ledger: Any, orders: list[Any]) -> None:
    for start in range(0, len(orders), 1000):
        chunk = orders[start : start + 1000]
        numbers = [o.purchase_order_number for o in chunk]
        ledger.record_downloaded(ACCOUNT, chunk)
        ledger.mark_acknowledging(ACCOUNT, numbers, "bench")
        ledger.mark_acknowledged(ACCOUNT, numbers, None)
        ledger.mark_exporting(ACCOUNT, numbers, f"orders-{start}.csv")
        ledger.mark_exported(ACCOUNT, f"orders-{start}.csv")


def part_b(orders_count: int, batch: int) -> dict[str, Any]:
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from adapters.amazon.json import parse_order
    from adapters.ledger import SqlLedger, migrate
    from simulator import SimulatorConfig, start_simulator
    from simulator.sftp_server import SftpServerConfig, start_sftp_server

    os.environ.update(BENCH_LWA_ID="amzn1.application-oa2-client.bench", BENCH_LWA_SECRET="bench-secret",
                      BENCH_REFRESH="Atzr|bench", BENCH_SFTP_PASSWORD=SFTP_PASSWORD)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="vdf-bench-") as folder:
        stack.enter_context(temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
        stack.enter_context(prefect_test_harness(server_startup_timeout=120))
        tmp = Path(folder)
        sim = stack.enter_context(start_simulator(SimulatorConfig(
            port=0, selling_party_id="VENDOR1", warehouses=(SHIP_FROM,), transaction_delay=0.05, rate_limits=True,
            seed=11)))
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

        set_up = time.perf_counter()
        created_at = datetime.now(UTC) - timedelta(hours=2)
        numbers = []
        for start in range(0, orders_count, 10_000):
            numbers += sim.create_orders(min(10_000, orders_count - start), ship_from_party_id=SHIP_FROM,
                                         created_at=created_at, lines=2)
        orders = [parse_order(sim.order(number)) for number in numbers]
        _accept_at_amazon(sim, orders)
        _record_exported(ledger, orders)
        data = shipment_csv(
            [(o.purchase_order_number, [(line.item_sequence_number, line.vendor_product_identifier or "",
                                         line.ordered_quantity) for line in o.lines]) for o in orders],
            datetime.now(UTC) - timedelta(minutes=10),
        )
        inbound = root / "inbound" / "shipments"
        inbound.mkdir(parents=True)
        (inbound / "shipments-bench.csv").write_bytes(data)
        rows = data.count(b"\n") - 1
        del orders, data
        set_up = time.perf_counter() - set_up

        ledger.close()
        config = tmp / "vdf.yaml"
        settings = _settings(sim, server.port, known_hosts, ledger_url, batch)
        config.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True)))
        # the flow runs as a worker would: its own process (`vdf run shipments`), so its peak memory is its own
        env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
        mine = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "flows.cli", "run", "shipments", "--config", str(config)],
            env=env, capture_output=True, text=True,
        )
        process_wall = time.perf_counter() - started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb = children.ru_maxrss / 1024
        worker_cpu = children.ru_utime + children.ru_stime  # the harness's server is not waited for yet
        after = resource.getrusage(resource.RUSAGE_SELF)
        servers_cpu = after.ru_utime + after.ru_stime - mine.ru_utime - mine.ru_stime
        if child.returncode != 0:
            raise SystemExit(f"(b) vdf run shipments failed: {child.stdout[-2000:]} {child.stderr[-2000:]}")
        flow_wall = _flow_run_seconds()
        confirmed = sim.confirmations()
        once = sum(1 for records in confirmed.values() if len(records) == 1)
        if once != orders_count or len(confirmed) != orders_count:
            raise SystemExit(f"(b) expected {orders_count} orders confirmed once, {once} were")
        requests = len(sim.requests(operation="submitShipmentConfirmations"))
        throttled = len(sim.requests(operation="submitShipmentConfirmations", status=429))
        return {"rows": rows, "orders": orders_count, "wall": flow_wall, "process_wall": process_wall,
                "set_up": set_up, "requests": requests, "throttled": throttled, "peak_mb": peak_mb,
                "worker_cpu": worker_cpu, "servers_cpu": servers_cpu, "load": os.getloadavg()[0]}


def _flow_run_seconds() -> float:
    """The confirm-shipments flow run's own duration, start to end, as the Prefect API recorded it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_="shipments-")))
    (run,) = runs
    if run.start_time is None or run.end_time is None:
        raise SystemExit("(b) the flow run has no start or end time")
    return (run.end_time - run.start_time).total_seconds()


# ---------------------------------------------------------------------------------------------- driver


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100, help="config shipments.batch_size")
    parser.add_argument("--reps", type=int, default=3, help="repeats of (a)")
    parser.add_argument("--part", choices=("a", "b"), help="run one part in this process (the driver's children)")
    args = parser.parse_args()
    if args.part:
        result = part_a(args.orders, args.reps) if args.part == "a" else part_b(args.orders, args.batch)
        print(json.dumps(result))
        return 0

    results = {}
    for part in ("a", "b"):
        out = subprocess.run(
            [sys.executable, __file__, "--part", part, "--orders", str(args.orders), "--batch", str(args.batch),
             "--reps", str(args.reps)],
            check=True, capture_output=True, text=True,
        )
        results[part] = json.loads(out.stdout.strip().splitlines()[-1])

    a = results["a"]
    median = {key: statistics.median(s[key] for s in a["seconds"]) for key in a["seconds"][0]}
    print(f"(a) validate + reconcile + build, no network: {a['rows']:,} rows, {a['confirmations']:,} confirmations")
    print(f"    median of {len(a['seconds'])}: {median['total']:.2f} s = {a['rows'] / median['total']:,.0f} rows/s "
          f"(validate {median['validate']:.2f} s, reconcile {median['reconcile']:.2f} s, "
          f"plan + build {median['build']:.2f} s); CPU {median['cpu']:.2f} s (all threads); "
          f"peak {a['peak_mb']:,.0f} MB; aim < {TARGET_SECONDS:.0f} s; load average {a['load']:.1f}")
    b = results["b"]
    needed = math.ceil(b["orders"] / args.batch)
    floor = max(0, needed - AMAZON_BURST) / AMAZON_RATE
    ratio = b["wall"] / floor if floor else float("inf")
    print(f"(b) one confirm-shipments run (vdf run shipments, its own process): {b['rows']:,} rows, "
          f"{b['orders']:,} orders, batch {args.batch}: {b['requests']} submitShipmentConfirmations requests "
          f"({needed} needed, {b['throttled']} answered 429)")
    print(f"    flow run {b['wall']:.1f} s against the rate-limit floor {floor:.1f} s "
          f"(({needed} - burst {AMAZON_BURST}) / {AMAZON_RATE:.0f} per s): {ratio:.2f}x (aim <= {TARGET_RATIO}x); "
          f"whole process {b['process_wall']:.1f} s with start-up; peak {b['peak_mb']:,.0f} MB (aim < 1,024 MB)")
    print(f"    CPU: the worker process {b['worker_cpu']:.1f} s, the simulator and SFTP server (this process) "
          f"{b['servers_cpu']:.1f} s; set-up {b['set_up']:.0f} s, not timed; 1-minute load average after the run "
          f"{b['load']:.1f} (2 cores: above 2, other work competed for the CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
