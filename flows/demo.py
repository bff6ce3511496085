"""`vdf demo`: the full cycle on embedded defaults — simulated Amazon, embedded SFTP, a simulated warehouse, SQLite.

Steps: orders (download, acknowledge, export), the same again (nothing changes), the warehouse (ships most orders,
leaves a few, writes a stock file), shipments, inventory, transactions. Every step checks its outcome in Amazon's
view, on the drop and in the ledger; the demo exits 1 when one did not do what it should. A flow that is not in this
checkout yet is skipped and said so. Each demo starts from a fresh state in its folder.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from flows.runtime import Runtime, load_config, use_runtime

DEMO_ACCOUNT = "demo"
DEMO_SELLING_PARTY = "VENDOR1"
DEMO_WAREHOUSE = "main"
DEMO_WAREHOUSE_CODE = "WH01"
DEMO_FILES = ("vdf.yaml", "ledger.db", "ledger.db-journal", "ledger.db.lock", "known_hosts", "sftp")


def _write_config(workdir: Path, sim_url: str, sftp_port: int) -> Path:
    config = {
        "ledger_url": f"sqlite:///{(workdir / 'ledger.db').resolve()}",
        "accounts": [
            {
                "name": DEMO_ACCOUNT,
                "region": "na",
                "selling_party_id": DEMO_SELLING_PARTY,
                "credentials": {
                    "client_id": "env:VDF_DEMO_LWA_CLIENT_ID",
                    "client_secret": "env:VDF_DEMO_LWA_CLIENT_SECRET",
                    "refresh_token": "env:VDF_DEMO_LWA_REFRESH_TOKEN",
                },
                "endpoint": sim_url,
                "token_url": f"{sim_url}/auth/o2/token",
                "orders": {"lag_minutes": 30, "interval_minutes": 30, "overlap_minutes": 5},
                "warehouses": [
                    {
                        "name": DEMO_WAREHOUSE,
                        "ship_from_party_id": DEMO_WAREHOUSE_CODE,
                        "drop": {
                            "kind": "sftp",
                            "host": "127.0.0.1",
                            "port": sftp_port,
                            "username": "warehouse",
                            "password": "env:VDF_DEMO_SFTP_PASSWORD",
                            "known_hosts": str((workdir / "known_hosts").resolve()),
                            "settle_seconds": 0,
                        },
                    }
                ],
            }
        ],
    }
    path = workdir / "vdf.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def fresh_workdir(workdir: Path) -> list[str]:
    """Remove what an earlier demo left in the folder (only the demo's own files); returns what was removed."""
    removed = []
    for name in DEMO_FILES:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(name + "/")
        elif path.exists():
            path.unlink()
            removed.append(name)
    return removed


def optional_flow(module: str, name: str) -> Any | None:
    """A flow of this checkout, or None when it has not landed yet."""
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


@dataclass
class Demo:
    """The running parts and what each step found; `checks` failing make the demo exit 1."""

    console: Console
    sim: Any
    sftp_root: Path
    runtime: Runtime
    warehouse: Any
    created: list[str]
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (step, passed, detail)
    summary: dict[str, Any] = field(default_factory=dict)

    def check(self, step: str, passed: bool, detail: str) -> None:
        self.checks.append((step, passed, detail))
        mark = "[green]ok[/green]" if passed else "[red]FAILED[/red]"
        self.console.print(f"  {mark} {escape(detail)}", highlight=False)

    def run(self, flow: Any, **parameters: Any) -> Any:
        state = flow(account=DEMO_ACCOUNT, return_state=True, **parameters)
        if not state.is_completed():
            self.check(flow.name, False, f"{flow.name} ended {state.name}: {state.message}")
            return None
        return state.result()

    def settle_amazon(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.sim.state_summary()["transactions"]["by_status"].get("Processing") and time.monotonic() < deadline:
            time.sleep(0.2)


def step_orders(demo: Demo) -> None:
    from flows.download_orders import download_orders

    rows = demo.run(download_orders) or []
    total = {k: sum(int(r.get(k, 0) or 0) for r in rows) for k in ("downloaded", "new", "acknowledged", "exported")}
    demo.summary.update(total)
    n = len(demo.created)
    demo.check("orders", total["downloaded"] == n, f"{total['downloaded']} of {n} orders downloaded")
    demo.check("orders", total["acknowledged"] == n, f"{total['acknowledged']} acknowledged to Amazon")
    demo.check("orders", total["exported"] == n, f"{total['exported']} exported to the warehouse")
    acks = demo.sim.acknowledgements()
    demo.check(
        "orders", all(len(acks.get(po, [])) == 1 for po in demo.created), "Amazon received one acknowledgement each"
    )
    files = sorted((demo.sftp_root / "outbound" / "orders").glob("*.csv"))
    demo.summary["order_files"] = [f"outbound/orders/{f.name}" for f in files]
    demo.check("orders", len(files) == 1, f"order file on the drop: {', '.join(demo.summary['order_files'])}")


def step_orders_again(demo: Demo) -> None:
    from flows.download_orders import download_orders

    rows = demo.run(download_orders) or []
    again = {k: sum(int(r.get(k, 0) or 0) for r in rows) for k in ("new", "acknowledged", "exported")}
    demo.check("orders again", not any(again.values()), f"a second run changes nothing: {again}")


def step_warehouse(demo: Demo) -> None:
    day = demo.warehouse.work()
    demo.summary["warehouse"] = day
    demo.check("warehouse", day.orders_seen == len(demo.created), f"the warehouse read {day.orders_seen} orders")
    demo.check(
        "warehouse",
        bool(day.shipment_file) and bool(day.left_for_later),
        f"it shipped {len(day.shipped)} ({day.shipment_file}), left {len(day.left_for_later)} for later, "
        f"and wrote {day.stock_file} ({day.skus} SKUs)",
    )


def step_shipments(demo: Demo) -> None:
    flow = optional_flow("flows.confirm_shipments", "confirm_shipments")
    if flow is None:
        demo.console.print("  skipped: confirm-shipments is not in this checkout yet (the shipment file waits)")
        demo.summary["confirmed"] = "not in this checkout"
        return
    demo.run(flow, warehouse=DEMO_WAREHOUSE)
    shipped = demo.summary["warehouse"].shipped
    sent = demo.sim.confirmations()
    confirmed = [po for po in shipped if len(sent.get(po, [])) == 1]
    demo.summary["confirmed"] = len(confirmed)
    demo.check("shipments", len(confirmed) == len(shipped), f"{len(confirmed)} of {len(shipped)} shipments confirmed")
    later = demo.summary["warehouse"].left_for_later
    demo.check(
        "shipments", not any(po in sent for po in later), f"the {len(later)} orders not shipped were not confirmed"
    )


def step_inventory(demo: Demo) -> None:
    flow = optional_flow("flows.push_inventory", "push_inventory")
    if flow is None:
        demo.console.print("  skipped: push-inventory is not in this checkout yet (the stock file waits)")
        demo.summary["feed"] = "not in this checkout"
        return
    demo.run(flow, warehouse=DEMO_WAREHOUSE)
    demo.settle_amazon()
    stock = demo.sim.inventory(DEMO_WAREHOUSE_CODE)
    skus = demo.summary["warehouse"].skus
    demo.summary["feed"] = f"{len(stock)} SKUs at Amazon for {DEMO_WAREHOUSE_CODE}"
    demo.check("inventory", len(stock) == skus, f"Amazon holds stock for {len(stock)} of {skus} SKUs")


def step_transactions(demo: Demo) -> None:
    from flows.poll_transactions import poll_transactions

    demo.settle_amazon()
    rows = demo.run(poll_transactions) or []
    counts = {k: sum(int(r.get(k, 0) or 0) for r in rows) for k in ("Success", "Failure", "Processing", "stuck")}
    demo.summary["transactions"] = counts
    ledger = demo.runtime.ledger.load_transactions(DEMO_ACCOUNT)
    by_kind: dict[str, dict[str, int]] = {}
    for txn in ledger:
        by_kind.setdefault(str(txn.kind), {}).setdefault(str(txn.status), 0)
        by_kind[str(txn.kind)][str(txn.status)] += 1
    demo.summary["transactions_by_kind"] = by_kind
    outcome = "; ".join(f"{kind}: {states}" for kind, states in by_kind.items()) or "none"
    demo.check(
        "transactions",
        bool(ledger) and all(t.status == "Success" for t in ledger),
        f"{len(ledger)} Amazon transaction(s), every one Success ({outcome})",
    )


STEPS: list[tuple[str, Callable[[Demo], None]]] = [
    ("1. orders: download, acknowledge, export", step_orders),
    ("2. orders again: a re-run changes nothing", step_orders_again),
    ("3. the warehouse ships most orders and counts its stock", step_warehouse),
    ("4. shipments: confirm to Amazon", step_shipments),
    ("5. inventory: send the stock feed", step_inventory),
    ("6. transactions: how Amazon decided each write", step_transactions),
]


def run_demo(*, orders: int, workdir: Path, console: Console) -> int:
    """Run every step once from a fresh state; returns a process exit code (1 when a step did not do its job)."""
    from simulator import SimulatorConfig, start_simulator
    from simulator.sftp_server import SftpServerConfig, start_sftp_server
    from simulator.warehouse import WarehouseSimulator

    started = time.monotonic()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    removed = fresh_workdir(workdir)
    console.print(
        f"fresh state in {workdir}" + (f" (removed the previous demo's {', '.join(removed)})" if removed else ""),
        highlight=False,
    )
    sftp_root = workdir / "sftp"
    sftp_root.mkdir()
    password = secrets.token_urlsafe(16)
    os.environ.update(
        {
            "VDF_DEMO_LWA_CLIENT_ID": "amzn1.application-oa2-client.demo",
            "VDF_DEMO_LWA_CLIENT_SECRET": secrets.token_urlsafe(16),
            "VDF_DEMO_LWA_REFRESH_TOKEN": "Atzr|demo-" + secrets.token_urlsafe(16),
            "VDF_DEMO_SFTP_PASSWORD": password,
        }
    )
    sim_config = SimulatorConfig(
        port=0, selling_party_id=DEMO_SELLING_PARTY, warehouses=(DEMO_WAREHOUSE_CODE,), transaction_delay=1.0
    )
    sftp_config = SftpServerConfig(root=sftp_root, port=0, username="warehouse", password=password)
    with start_simulator(sim_config) as sim, start_sftp_server(sftp_config) as sftp:
        (workdir / "known_hosts").write_text(sftp.known_hosts_line() + "\n", encoding="utf-8")
        config_path = _write_config(workdir, sim.base_url, sftp.port)
        console.print(
            f"simulated Amazon at {sim.base_url}, embedded SFTP at 127.0.0.1:{sftp.port}, config {config_path}",
            highlight=False,
        )
        created = sim.create_orders(orders, created_at=datetime.now(UTC) - timedelta(minutes=45))
        console.print(f"Amazon has {len(created)} new purchase orders for warehouse {DEMO_WAREHOUSE_CODE}")
        runtime = Runtime(load_config(config_path))
        warehouse = WarehouseSimulator(sftp_root, seed=7)
        demo = Demo(console, sim, sftp_root, runtime, warehouse, list(created))
        with use_runtime(runtime):
            for title, step in STEPS:
                console.print(f"[bold]{title}[/bold]")
                step(demo)
            ledger_counts = runtime.ledger.count_orders(DEMO_ACCOUNT)
        runtime.close()
    _summary(demo, workdir, ledger_counts, time.monotonic() - started)
    failed = [detail for _, passed, detail in demo.checks if not passed]
    if failed:
        console.print(f"[red]demo finished with {len(failed)} problem(s)[/red]: " + escape("; ".join(failed)))
        return 1
    console.print("[green]demo OK[/green]")
    return 0


def _summary(demo: Demo, workdir: Path, ledger_counts: dict[Any, int], seconds: float) -> None:
    console, s = demo.console, demo.summary
    day = s.get("warehouse")
    states = ", ".join(f"{state} {n}" for state, n in sorted(ledger_counts.items()) if n)
    lines = [
        f"orders: {s.get('downloaded', 0)} downloaded, {s.get('acknowledged', 0)} acknowledged, "
        f"{s.get('exported', 0)} exported, confirmed: {s.get('confirmed', '-')}",
        f"warehouse: shipped {len(day.shipped) if day else 0}, left for later {len(day.left_for_later) if day else 0}",
        f"inventory feed: {s.get('feed', '-')}",
        f"Amazon transactions: {s.get('transactions_by_kind', {})}",
        f"ledger: {workdir / 'ledger.db'} ({states}); `vdf status --config {workdir / 'vdf.yaml'}`",
        f"warehouse drop: {demo.sftp_root} (outbound/orders, inbound/shipments, inbound/inventory, archive, error)",
        _prefect_ui_hint(),
        f"took {seconds:.0f} s",
    ]
    console.print("[bold]summary[/bold]")
    for line in lines:
        console.print(f"  {escape(line)}", highlight=False)


def _prefect_ui_hint() -> str:
    api = os.environ.get("PREFECT_API_URL")
    if api:
        return f"Prefect UI on these runs: {api.removesuffix('/api')}/runs"
    home = os.environ.get("PREFECT_HOME") or str(Path.home() / ".prefect")
    prefect = Path(sys.executable).parent / "prefect"
    return (
        f"Prefect UI on these runs: PREFECT_HOME={home} {prefect} server start, "
        "then open http://127.0.0.1:4200/runs (the runs are in that folder's database)"
    )
