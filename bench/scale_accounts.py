"""Scale on the distributed engine: a Prefect server on PostgreSQL, process workers, a shared PostgreSQL ledger.

    .venv/bin/python bench/scale_accounts.py [--accounts 20] [--warehouses 2] [--orders 50] [--workers 2]

What it does, as an operator would with prefect.yaml: creates two databases on the local PostgreSQL (127.0.0.1:5432,
$VDF_BENCH_POSTGRES), starts `prefect server start` on one, one simulated Amazon per account (its own rate limits),
writes vdf.yaml (N accounts x M warehouses, local drops, the other database as the shared ledger), generates
prefect.yaml with `vdf deployments --write`, deploys it to a process work pool, starts the workers, then asks every
orders deployment for a run at once, and every transactions deployment after. It prints the runs completed and the
orders per minute, and checks that every order was acknowledged once (Amazon's view) and exported once (the order
files on the drops). Everything it started is stopped and the databases dropped at the end (--keep keeps them).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.deployments import plan_deployments, prefect_yaml  # noqa: E402
from flows.local_prefect import free_port, local_prefect_server, stop_process_group  # noqa: E402
from simulator import SimulatorConfig, start_simulator  # noqa: E402
from tasks.core.config import parse_config  # noqa: E402

ADMIN = os.environ.get("VDF_BENCH_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test")
POOL = "vdf-bench"
SECRETS = {"BENCH_LWA_ID": "amzn1.application-oa2-client.bench", "BENCH_LWA_SECRET": "s", "BENCH_REFRESH": "Atzr|b"}


def _database(name: str, *, drop: bool = False) -> str:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            conn.execute(f'CREATE DATABASE "{name}"')
        where = f"{conn.info.user}@{conn.info.host}:{conn.info.port}/{name}"
    return where


def _prefect(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "prefect", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def _wait_runs(client: Any, ids: list[Any], timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        states = Counter()
        for run_id in ids:
            run = client.read_flow_run(run_id)
            states[run.state.name if run.state else "?"] += 1
        final = sum(n for name, n in states.items() if name in ("Completed", "Failed", "Crashed", "Cancelled"))
        if final == len(ids) or time.monotonic() > deadline:
            return dict(states)
        time.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--warehouses", type=int, default=2)
    parser.add_argument("--orders", type=int, default=50, help="orders per warehouse")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=3, help="flow runs at once per worker")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help="keep the databases and the folder")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vdf-scale-"))
    tag = f"{os.getpid()}"
    simulators = []
    workers: list[subprocess.Popen[bytes]] = []
    try:
        prefect_db = _database(f"vdf_bench_prefect_{tag}")
        ledger_db = _database(f"vdf_bench_ledger_{tag}")
        accounts = []
        created: dict[str, list[str]] = {}
        for a in range(options.accounts):
            codes = [f"W{a:02d}{w}" for w in range(options.warehouses)]
            sim = start_simulator(
                SimulatorConfig(
                    port=0, selling_party_id=f"VENDOR{a:02d}", warehouses=tuple(codes), transaction_delay=1.0
                )
            )
            simulators.append(sim)
            name = f"acct{a:02d}"
            created[name] = []
            for code in codes:
                created[name] += sim.create_orders(
                    options.orders, ship_from_party_id=code, created_at=datetime.now(UTC) - timedelta(minutes=45)
                )
            warehouses = []
            for w, code in enumerate(codes):
                folder = work / "drops" / name / f"wh{w}"
                folder.mkdir(parents=True)
                warehouses.append(
                    {"name": f"wh{w}", "ship_from_party_id": code, "drop": {"kind": "local", "path": str(folder)}}
                )
            accounts.append(
                {
                    "name": name,
                    "selling_party_id": f"VENDOR{a:02d}",
                    "credentials": {
                        "client_id": "env:BENCH_LWA_ID",
                        "client_secret": "env:BENCH_LWA_SECRET",
                        "refresh_token": "env:BENCH_REFRESH",
                    },
                    "endpoint": sim.base_url,
                    "token_url": sim.token_url,
                    # far-off schedules: the benchmark asks for each run itself, at once
                    "orders": {"schedule": "0 0 1 1 *", "acknowledgement_settle_minutes": 0},
                    "warehouses": warehouses,
                }
            )
        data = {
            "ledger_url": f"postgresql+psycopg://{ledger_db}",
            "schedules": {"transactions": "0 0 1 1 *", "purge": "0 0 1 1 *"},
            "accounts": accounts,
        }
        config = work / "vdf.yaml"
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        settings = parse_config(data)
        specs = plan_deployments(settings, str(config))
        (work / "prefect.yaml").write_text(prefect_yaml(specs, home=str(ROOT), config=str(config), pool=POOL))
        total = sum(len(v) for v in created.values())
        print(
            f"{options.accounts} accounts x {options.warehouses} warehouses, {total} orders, {len(specs)} deployments"
        )

        server_env = {"PREFECT_SERVER_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://{prefect_db}"}
        started = time.monotonic()
        with local_prefect_server(work / "prefect-home", port=free_port(), extra_env=server_env) as server:
            print(f"Prefect server on PostgreSQL up in {time.monotonic() - started:.1f} s: {server.ui_url}")
            env = {**os.environ, **SECRETS, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(work / "client")}
            env["PREFECT_LOGGING_LEVEL"] = "WARNING"
            os.environ["PREFECT_API_URL"] = server.api_url
            _prefect(["work-pool", "create", POOL, "--type", "process"], env)
            begun = time.monotonic()
            _prefect(["--no-prompt", "deploy", "--all", "--prefect-file", str(work / "prefect.yaml")], env)
            print(f"prefect deploy --all: {len(specs)} deployments in {time.monotonic() - begun:.1f} s")
            for index in range(options.workers):
                log = (work / f"worker{index}.log").open("wb")
                workers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "prefect",
                            "worker",
                            "start",
                            "--pool",
                            POOL,
                            "--limit",
                            str(options.limit),
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            from prefect.client.orchestration import get_client
            from prefect.settings import PREFECT_API_URL, temporary_settings

            # prefect is already imported (its settings read): point this process at the server explicitly
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}), get_client(sync_client=True) as client:
                orders_runs = [
                    client.create_flow_run_from_deployment(client.read_deployment_by_name(s.full_name).id).id
                    for s in specs
                    if s.flow.kind == "orders"
                ]
                t0 = time.monotonic()
                states = _wait_runs(client, orders_runs, options.timeout)
                orders_seconds = time.monotonic() - t0
                print(f"orders runs: {states} in {orders_seconds:.1f} s")
                time.sleep(1.5)  # the simulators decide acknowledgements after 1 s
                txn_runs = [
                    client.create_flow_run_from_deployment(client.read_deployment_by_name(s.full_name).id).id
                    for s in specs
                    if s.flow.kind == "transactions"
                ]
                t1 = time.monotonic()
                txn_states = _wait_runs(client, txn_runs, options.timeout)
                print(f"transactions runs: {txn_states} in {time.monotonic() - t1:.1f} s")

        acknowledged = Counter()
        for sim in simulators:
            for po, acks in sim.acknowledgements().items():
                acknowledged[po] += len(acks)
        exported = Counter()
        for path in (work / "drops").rglob("*.csv"):
            numbers = {row["purchase_order_number"] for row in csv.DictReader(io.StringIO(path.read_text()))}
            exported.update(numbers)
        every = [po for pos in created.values() for po in pos]
        ack_once = sum(1 for po in every if acknowledged[po] == 1)
        export_once = sum(1 for po in every if exported[po] == 1)
        completed = states.get("Completed", 0) + txn_states.get("Completed", 0)
        print(f"runs completed: {completed} of {len(orders_runs) + len(txn_runs)}")
        print(f"orders per minute (orders runs, first request to last run finished): {total / orders_seconds * 60:.0f}")
        twice_acked = sum(1 for po in every if acknowledged[po] > 1)
        twice_exported = sum(1 for po in every if exported[po] > 1)
        print(f"acknowledged exactly once: {ack_once} of {total}; more than once: {twice_acked}")
        print(f"exported exactly once: {export_once} of {total}; more than once: {twice_exported}")
        ok = ack_once == total and export_once == total and completed == len(orders_runs) + len(txn_runs)
        print("scale OK" if ok else "scale FAILED (run again with --keep for the logs in the work folder)")
        return 0 if ok else 1
    finally:
        for worker in workers:
            stop_process_group(worker)
        for sim in simulators:
            sim.stop()
        if not options.keep:
            _database(f"vdf_bench_prefect_{tag}", drop=True)
            _database(f"vdf_bench_ledger_{tag}", drop=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
