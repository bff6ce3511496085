"""Benchmark: one download-orders flow run over 10,000 orders, against Amazon's rate-limit floor, with a time breakdown.

Usage: .venv/bin/python bench/orders_flow.py [--orders 10000] [--repeats 3] [--ack-batch 100] [--profile 25]
       [--latency 0.1]

Each repeat starts a fresh in-process simulator (rate limits on), a fresh embedded SFTP server and a fresh SQLite
ledger, creates the orders 45 minutes ago for WH01 (inside the first run's default window, 60..30 minutes ago),
and times one real `download_orders` run under a Prefect test API that was started, and warmed up with a tiny flow,
before the clock starts. Thin timing wrappers on the Runtime's adapters, on the flow module's tasks and on the file
builder split the wall time into Amazon calls (and the pacing waits inside them), ledger, file build, upload,
Prefect task overhead and flow start/finish.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Prefect reads these when it is imported: no telemetry, quiet logs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import cProfile
import csv
import io
import pstats
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prefect import Task, flow, task
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness

import flows.download_orders as flow_module
from adapters.ledger import SqlLedger, migrate
from flows.runtime import Runtime, drop_for, use_runtime, vendor_api_for
from simulator import SimulatorConfig, start_simulator
from simulator.sftp_server import SftpServerConfig, start_sftp_server
from tasks.core.config import Account, Settings, Warehouse, parse_config

ACCOUNT = "bench"
SELLING_PARTY = "VENDOR1"
SHIP_FROM = "WH01"
SFTP_PASSWORD = "bench-password"  # a throwaway server on 127.0.0.1 that lives for one repeat
# Amazon's usage plan for every Direct Fulfillment operation (vendorDirectFulfillmentOrders_2021-12-28.json).
AMAZON_RATE = 10.0
AMAZON_BURST = 10
TARGET_RATIO = 1.5


# ---------------------------------------------------------------------------------------------- timing


@dataclass
class Stopwatch:
    """Seconds and calls per key, plus the first start and last end of the tasks (flow start-up and finish)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)
    flow_started: float = 0.0
    flow_ended: float = 0.0
    first_task_start: float | None = None
    last_task_end: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, seconds: float) -> None:
        with self._lock:
            self.seconds[key] += seconds
            self.calls[key] += 1

    @contextmanager
    def measure(self, key: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(key, time.perf_counter() - started)

    def copy(self) -> Stopwatch:
        with self._lock:
            return replace(self, seconds=defaultdict(float, self.seconds), calls=Counter(self.calls))

    def total(self, prefix: str) -> float:
        return sum(v for k, v in self.seconds.items() if k.startswith(prefix))

    def count(self, prefix: str) -> int:
        return sum(v for k, v in self.calls.items() if k.startswith(prefix))


class Timed:
    """A transparent proxy that times every public method of the adapter it wraps under `group.method`."""

    def __init__(self, target: Any, watch: Stopwatch, group: str) -> None:
        self._target = target
        self._watch = watch
        self._group = group

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self._watch.measure(f"{self._group}.{name}"):
                return value(*args, **kwargs)

        return timed

    def __repr__(self) -> str:
        return f"Timed({self._target!r})"


def _timed_task(original: Task[Any, Any], watch: Stopwatch) -> Callable[..., Any]:
    """Call the real Prefect task, timing the whole call (engine + body) under `task.<name>`."""

    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        if watch.first_task_start is None:
            watch.first_task_start = started
        try:
            return original(*args, **kwargs)
        finally:
            ended = time.perf_counter()
            watch.add(f"task.{original.name}", ended - started)
            watch.last_task_end = ended

    return call


def _side_effect(value: object) -> bool:
    """One of the tasks/*.py side-effect tasks the flow calls (not the flow's own background task)."""
    return isinstance(value, Task) and value.fn.__module__.startswith("tasks.")


@contextmanager
def instrument_flow_module(watch: Stopwatch) -> Iterator[None]:
    """Swap the flow module's side-effect tasks and file builder for timed callers for the length of one run."""
    saved = dict(vars(flow_module))
    try:
        for name, value in saved.items():
            if _side_effect(value):
                setattr(flow_module, name, _timed_task(value, watch))
        builder = saved["build_orders_file"]

        def build(*args: Any, **kwargs: Any) -> bytes:
            with watch.measure("build.orders_file"):
                result: bytes = builder(*args, **kwargs)
                return result

        flow_module.build_orders_file = build
        yield
    finally:
        for name, value in saved.items():
            if _side_effect(value) or name == "build_orders_file":
                setattr(flow_module, name, value)


# ---------------------------------------------------------------------------------------------- one repeat


@dataclass
class Result:
    """The figures of one repeat."""

    wall: float
    orders: int
    pages: int
    page_requests: int
    ack_requests: int
    throttled: int
    floor: float
    breakdown: dict[str, float]
    watch: Stopwatch
    cpu: float  # this process's CPU seconds during the run (all its threads: flow, simulator, SFTP server)
    flow_cpu: float  # CPU seconds of the thread that ran the flow and its tasks
    load: float  # the machine's 1-minute load average right after the run (2 cores: above 2 means contention)
    sweep_requests: int = 0  # getOrders with status=NEW in a second run, once Amazon shows none of the orders NEW
    server_cpu: float = 0.0  # CPU seconds of the Prefect test API server (a child process) during the run

    @property
    def ratio(self) -> float:
        return self.wall / self.floor if self.floor > 0 else float("inf")


def rate_limit_floor(requests_per_operation: dict[str, int]) -> float:
    """Least seconds Amazon's buckets allow, one bucket per operation, calls interleaved in one thread.

    Each operation has its own bucket (10/s, burst 10), and a bucket refills while the thread spends the other
    operation's tokens, so the buckets drain side by side: n requests of one operation need (n - burst) / rate
    seconds after the first, and the busier operation sets the floor.
    """
    return max((max(0, n - AMAZON_BURST) / AMAZON_RATE for n in requests_per_operation.values()), default=0.0)


def _settings(sim: Any, sftp_port: int, known_hosts: Path, ledger_url: str, ack_batch: int) -> Settings:
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
                    # the second, untimed run of each repeat sweeps (the first is a go-live run: it backfills)
                    "orders": {"acknowledgement_batch": ack_batch, "sweep_interval_minutes": 0},
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
                        }
                    ],
                }
            ],
        }
    )


def _runtime(settings: Settings, ledger: SqlLedger, watch: Stopwatch) -> Runtime:
    def vendor_api(account: Account) -> Any:
        def paced_sleep(seconds: float) -> None:
            # the adapter sleeps only to pace (token buckets) or to back off after a retryable error
            with watch.measure("wait.pacing_or_backoff"):
                time.sleep(seconds)

        return Timed(vendor_api_for(account, sleep=paced_sleep), watch, "amazon")

    def drop(warehouse: Warehouse) -> Any:
        with watch.measure("drop.connect"):
            return Timed(drop_for(warehouse.drop), watch, "drop")

    return Runtime(
        settings,
        vendor_api_factory=vendor_api,
        drop_factory=drop,
        ledger_factory=lambda _settings: Timed(ledger, watch, "ledger"),
    )


def _check(sim: Any, created: list[str], sftp_root: Path) -> int:
    """All orders acknowledged exactly once and exported in one file; returns the number of pages served."""
    acks = sim.acknowledgements()
    if set(acks) != set(created):
        raise SystemExit(f"acknowledged {len(acks)} orders, expected exactly the {len(created)} created")
    repeated = [po for po, entries in acks.items() if len(entries) != 1]
    if repeated:
        raise SystemExit(f"{len(repeated)} orders were acknowledged more than once, e.g. {repeated[0]}")
    files = sorted((sftp_root / "outbound" / "orders").glob("*.csv"))
    if len(files) != 1:
        raise SystemExit(f"expected one order file, found {len(files)}: {[f.name for f in files]}")
    rows = list(csv.DictReader(io.StringIO(files[0].read_text(encoding="utf-8"))))
    numbers = {row["purchase_order_number"] for row in rows}
    if numbers != set(created):
        raise SystemExit(f"the file holds {len(numbers)} distinct purchase orders, expected the {len(created)} created")
    return len(sim.requests(operation="getOrders", status=200))


@dataclass(frozen=True)
class Options:
    """What one benchmark invocation runs."""

    orders: int
    ack_batch: int
    transaction_delay: float
    latency: float = 0.0


def run_once(options: Options, profile: cProfile.Profile | None = None) -> Result:
    """Fresh servers and ledger, one timed flow run, checked; the servers are stopped before returning."""
    watch = Stopwatch()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="vdf-bench-") as folder:
        tmp = Path(folder)
        sim = stack.enter_context(
            start_simulator(
                SimulatorConfig(
                    port=0,
                    selling_party_id=SELLING_PARTY,
                    warehouses=(SHIP_FROM,),
                    transaction_delay=options.transaction_delay,
                    rate_limits=True,
                    seed=7,
                    slow_rate=1.0 if options.latency else 0.0,
                    slow_seconds=options.latency,
                )
            )
        )
        sftp_root = tmp / "sftp"
        sftp_root.mkdir()
        server = start_sftp_server(
            SftpServerConfig(root=sftp_root, port=0, username="warehouse", password=SFTP_PASSWORD)
        )
        stack.callback(server.stop)
        known_hosts = tmp / "known_hosts"
        known_hosts.write_text(server.known_hosts_line() + "\n")
        ledger_url = f"sqlite:///{tmp / 'ledger.db'}"
        migrate(ledger_url)
        ledger = SqlLedger(ledger_url)
        stack.callback(ledger.close)
        runtime = _runtime(_settings(sim, server.port, known_hosts, ledger_url, options.ack_batch), ledger, watch)
        stack.callback(runtime.close)
        stack.enter_context(use_runtime(runtime))

        orders = options.orders
        created = sim.create_orders(
            orders, ship_from_party_id=SHIP_FROM, created_at=datetime.now(UTC) - timedelta(minutes=45)
        )
        with instrument_flow_module(watch):
            if profile is not None:
                profile.enable()
            cpu_started, thread_started = time.process_time(), time.thread_time()
            server_started = _children_cpu()
            watch.flow_started = time.perf_counter()
            state = flow_module.download_orders(account=ACCOUNT, return_state=True)
            watch.flow_ended = time.perf_counter()
            cpu = time.process_time() - cpu_started
            flow_cpu = time.thread_time() - thread_started
            if profile is not None:
                profile.disable()
        rows = state.result()
        if rows[0]["acknowledged"] != orders or rows[0]["exported"] != orders:
            raise SystemExit(f"the flow reported {rows[0]}")
        pages = _check(sim, created, sftp_root)
        page_requests = len(sim.requests(operation="getOrders"))
        ack_requests = len(sim.requests(operation="submitAcknowledgement"))
        throttled = len(sim.requests(status=429))
        floor = rate_limit_floor({"getOrders": page_requests, "submitAcknowledgement": ack_requests})
        wall = watch.flow_ended - watch.flow_started
        # the API records task runs from events after the flow returns; the next repeat must not compete with that
        _wait_until_recorded(state.state_details.flow_run_id, watch.count("task."))
        load = os.getloadavg()[0]
        counts = (orders, pages, page_requests, ack_requests, throttled)
        # the API records task runs from events after the flow returns: its CPU for this run ends there
        server_cpu = _children_cpu() - server_started
        parts, timed = breakdown(watch), watch.copy()  # before the untimed sweeping run adds to the adapters' timings
        sweep = _sweep_requests(sim)
        return Result(wall, *counts, floor, parts, timed, cpu, flow_cpu, load, sweep, server_cpu)


def _children_cpu() -> float:
    """CPU seconds used so far by this process's running children (the Prefect test API server); Linux /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid():  # fields after the name: state, ppid, ..., utime (12), stime (13)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _sweep_requests(sim: Any, timeout: float = 120.0) -> int:
    """Run the flow again once Amazon shows every order accepted; count the sweep's getOrders requests."""
    deadline = time.monotonic() + timeout
    while sim.state_summary()["transactions"]["by_status"]["Processing"]:
        if time.monotonic() > deadline:
            raise SystemExit("the simulator still has acknowledgements Processing")
        time.sleep(0.1)
    if sim.state_summary()["orders"]["by_status"]["NEW"]:
        raise SystemExit("orders are still NEW after every acknowledgement was processed")
    before = len(sim.requests(operation="getOrders"))
    state = flow_module.download_orders(account=ACCOUNT, return_state=True)
    if not state.is_completed():
        raise SystemExit(f"the sweeping run failed: {state.message}")
    return sum(1 for r in sim.requests(operation="getOrders")[before:] if r["query"].get("status") == "NEW")


def _wait_until_recorded(flow_run_id: Any, task_runs: int, timeout: float = 120.0) -> None:
    query = {
        "flow_runs": {"id": {"any_": [str(flow_run_id)]}},
        "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
    }
    deadline = time.monotonic() + timeout
    url = f"{PREFECT_API_URL.value()}/task_runs/count"
    while time.monotonic() < deadline:
        if httpx.post(url, json=query, timeout=30).raise_for_status().json() >= task_runs:
            return
        time.sleep(0.5)
    raise SystemExit(f"the Prefect API had not recorded {task_runs} completed task runs after {timeout:.0f} s")


def breakdown(watch: Stopwatch) -> dict[str, float]:
    """Where the wall time went; the parts add up to the wall time."""
    wall = watch.flow_ended - watch.flow_started
    amazon = watch.total("amazon.")
    waits = watch.total("wait.")
    ledger = watch.total("ledger.")
    upload = watch.total("drop.")
    build = watch.total("build.")
    task_calls = watch.total("task.")
    # what the task bodies spent in adapters; the rest of a task call is Prefect's engine
    inside_tasks = amazon + ledger + watch.seconds.get("drop.upload", 0.0)
    first = watch.first_task_start if watch.first_task_start is not None else watch.flow_ended
    last = watch.last_task_end if watch.last_task_end is not None else watch.flow_ended
    flow_start = first - watch.flow_started
    flow_finish = watch.flow_ended - last
    prefect_tasks = task_calls - inside_tasks
    # between the first and the last task: the flow's own Python (planning, building acknowledgements, sets)
    flow_code = wall - flow_start - flow_finish - amazon - ledger - upload - build - prefect_tasks
    # drop.connect/close happen between tasks (flow body), so they are already out of flow_code via `upload`
    return {
        "wall": wall,
        "amazon": amazon,
        "amazon.pacing_wait": waits,
        "amazon.http_and_parse": amazon - waits,
        "amazon.getOrders": watch.seconds.get("amazon.fetch_orders_page", 0.0),
        "amazon.submitAcknowledgement": watch.seconds.get("amazon.submit_acknowledgements", 0.0),
        "ledger": ledger,
        "build": build,
        "upload": upload,
        "prefect_tasks": prefect_tasks,
        "flow_start": flow_start,
        "flow_finish": flow_finish,
        "flow_code": flow_code,
    }


# ---------------------------------------------------------------------------------------------- main


@task
def _warm_up_task() -> int:
    return 1


@flow
def _warm_up_flow() -> int:
    return int(_warm_up_task())


LABELS = {
    "amazon": "Amazon calls (SP-API adapter)",
    "amazon.pacing_wait": "  of which client pacing/backoff sleep",
    "amazon.http_and_parse": "  of which HTTP round trip + JSON + parse",
    "amazon.getOrders": "  getOrders total",
    "amazon.submitAcknowledgement": "  submitAcknowledgement total",
    "ledger": "ledger (SQLite)",
    "build": "order file build (polars)",
    "upload": "SFTP connect + upload + close",
    "prefect_tasks": "Prefect task engine overhead",
    "flow_start": "flow start-up (run, lock) to first task",
    "flow_finish": "last task to flow return (artifact, end)",
    "flow_code": "flow's own code between tasks",
}


def report(results: list[Result], options: Options) -> float:
    """Print each repeat and the medians; return the median ratio wall/floor."""
    med = statistics.median
    for number, r in enumerate(results, 1):
        print(
            f"run {number}: wall {r.wall:.2f} s, {r.orders / r.wall:,.0f} orders/s, getOrders {r.page_requests} "
            f"({r.pages} pages), submitAcknowledgement {r.ack_requests}, 429s {r.throttled}, "
            f"floor {r.floor:.2f} s, wall/floor {r.ratio:.2f}, CPU {r.cpu:.1f} s + API server {r.server_cpu:.1f} s "
            f"(flow thread {r.flow_cpu:.1f} s), load {r.load:.1f}"
        )
    wall = med(r.wall for r in results)
    floor = med(r.floor for r in results)
    ratio = med(r.ratio for r in results)
    print()
    print(
        f"medians over {len(results)} runs (acknowledgement_batch={options.ack_batch}, latency={options.latency} s):"
    )
    print(f"  wall time of the flow run       {wall:8.2f} s")
    print(f"  orders/second                   {med(r.orders / r.wall for r in results):8,.0f}")
    print(f"  getOrders requests (pages)      {med(r.page_requests for r in results):8.0f}")
    print(f"  submitAcknowledgement requests  {med(r.ack_requests for r in results):8.0f}")
    print(f"  process CPU (all threads)       {med(r.cpu for r in results):8.2f} s")
    print(f"  Prefect API server CPU          {med(r.server_cpu for r in results):8.2f} s")
    print(f"  flow thread CPU                 {med(r.flow_cpu for r in results):8.2f} s")
    print(f"  1-minute load average (2 cores) {med(r.load for r in results):8.1f}")
    print(f"  429 answers                     {med(r.throttled for r in results):8.0f}")
    print(
        f"  sweep: getOrders status=NEW     {med(r.sweep_requests for r in results):8.0f}  "
        f"(a second run over the {results[0].orders:,} orders, none of them NEW any more)"
    )
    print(f"  rate-limit floor                {floor:8.2f} s")
    print(f"  wall / floor                    {ratio:8.2f}  (target <= {TARGET_RATIO})")
    print(
        "  floor model: one bucket per operation at "
        f"{AMAZON_RATE:.0f} requests/s, burst {AMAZON_BURST}; the flow interleaves getOrders and "
        "submitAcknowledgement (acknowledgements on a second thread), both buckets refill side by side, so "
        "floor = max over operations of (requests - burst) / rate"
    )
    print()
    print("breakdown (medians, seconds and share of wall; acknowledgements overlap the page downloads on a second")
    print("thread, so the parts add up to more than the wall time and the flow's own code is not separable):")
    for key, label in LABELS.items():
        value = med(r.breakdown[key] for r in results)
        if key == "flow_code" and value < 0:
            continue
        print(f"  {label:44s} {value:8.2f} s {value / wall:6.1%}")
    print()
    print("per call (medians): calls, mean ms")
    keys = sorted({k for r in results for k in r.watch.calls})
    for key in keys:
        calls = med(r.watch.calls[key] for r in results)
        mean = med(r.watch.seconds[key] / r.watch.calls[key] for r in results if r.watch.calls[key])
        print(f"  {key:44s} {calls:6.0f} x {mean * 1000:8.2f} ms")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ack-batch", type=int, default=100, help="config orders.acknowledgement_batch")
    parser.add_argument("--transaction-delay", type=float, default=0.05, help="simulator seconds in Processing")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the simulator delays every answer (Amazon is not local)"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="after the timed runs, profile one more and print N rows"
    )
    args = parser.parse_args()
    options = Options(args.orders, args.ack_batch, args.transaction_delay, args.latency)
    os.environ.update(
        BENCH_LWA_ID="amzn1.application-oa2-client.bench",
        BENCH_LWA_SECRET="bench-secret",
        BENCH_REFRESH="Atzr|bench",
        BENCH_SFTP_PASSWORD=SFTP_PASSWORD,
    )
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with prefect_test_harness(server_startup_timeout=120):
            started = time.perf_counter()
            _warm_up_flow()
            print(f"Prefect test API up; warm-up flow took {time.perf_counter() - started:.2f} s (not timed)")
            results = [run_once(options) for _ in range(args.repeats)]
            ratio = report(results, options)
            if args.profile:
                profile = cProfile.Profile()
                run_once(options, profile)
                print(f"\ncProfile of one more run (main thread), top {args.profile} by own time:")
                pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(args.profile)
                print(f"top {args.profile} by cumulative time:")
                pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(args.profile)
    verdict = "within" if ratio <= TARGET_RATIO else "NOT within"
    print(f"\n{verdict} {TARGET_RATIO}x of the rate-limit floor (median wall/floor {ratio:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
