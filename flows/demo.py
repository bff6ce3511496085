"""`vdf demo`: the whole built cycle on embedded defaults — simulator, embedded SFTP, SQLite ledger, local Prefect."""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from rich.console import Console

from flows.runtime import Runtime, load_config, use_runtime

DEMO_ACCOUNT = "demo"
DEMO_SELLING_PARTY = "VENDOR1"
DEMO_WAREHOUSE_CODE = "WH01"


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
                        "name": "main",
                        "ship_from_party_id": DEMO_WAREHOUSE_CODE,
                        "drop": {
                            "kind": "sftp",
                            "host": "127.0.0.1",
                            "port": sftp_port,
                            "username": "warehouse",
                            "password": "env:VDF_DEMO_SFTP_PASSWORD",
                            "known_hosts": str((workdir / "known_hosts").resolve()),
                        },
                    }
                ],
            }
        ],
    }
    path = workdir / "vdf.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_demo(*, orders: int, workdir: Path, console: Console) -> int:
    """Run the cycle once (and again, to show a re-run changes nothing); returns a process exit code."""
    from flows.download_orders import download_orders
    from flows.poll_transactions import poll_transactions
    from simulator import SimulatorConfig, start_simulator
    from simulator.sftp_server import SftpServerConfig, start_sftp_server

    workdir.mkdir(parents=True, exist_ok=True)
    sftp_root = workdir / "sftp"
    sftp_root.mkdir(exist_ok=True)
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
            f"simulated Amazon at {sim.base_url}, embedded SFTP at 127.0.0.1:{sftp.port}, config {config_path}"
        )
        created = sim.create_orders(orders, created_at=datetime.now(UTC) - timedelta(minutes=45))
        console.print(f"Amazon has {len(created)} new purchase orders for {DEMO_WAREHOUSE_CODE}")

        runtime = Runtime(load_config(config_path))
        with use_runtime(runtime):
            first = download_orders(account=DEMO_ACCOUNT, return_state=True)
            if not first.is_completed():
                console.print(f"[red]download-orders failed:[/red] {first.message}")
                return 1
            _table(console, "download-orders, first run", first.result())
            second = download_orders(account=DEMO_ACCOUNT, return_state=True)
            _table(console, "download-orders again (nothing changes)", second.result() if second.is_completed() else [])
            time.sleep(sim_config.transaction_delay + 0.5)
            polled = poll_transactions(account=DEMO_ACCOUNT, return_state=True)
            counts = polled.result() if polled.is_completed() else {"Failure": 1}
            console.print(f"Amazon transactions: {counts if polled.is_completed() else polled.message}")
            ledger_counts = runtime.ledger.count_orders(DEMO_ACCOUNT)
        runtime.close()

        files = sorted(p for p in (sftp_root / "outbound" / "orders").glob("*.csv"))
        for path in files:
            rows = max(0, len(path.read_bytes().splitlines()) - 1)
            console.print(f"warehouse drop: outbound/orders/{path.name} ({rows} order lines)")
        console.print("ledger: " + ", ".join(f"{state}={count}" for state, count in sorted(ledger_counts.items())))
        summary = sim.state_summary()
        console.print(
            f"simulated Amazon: orders by status {summary['orders']['by_status']}, "
            f"acknowledgements received {summary['acknowledgements']}, "
            f"transactions {summary['transactions']['by_status']}"
        )
    exported = ledger_counts.get("exported", 0)  # type: ignore[call-overload]
    ok = exported == len(created) and counts.get("Failure", 0) == 0
    console.print("[green]demo OK[/green]" if ok else "[red]demo finished with problems[/red]")
    return 0 if ok else 1


def _table(console: Console, title: str, rows: list[dict[str, object]]) -> None:
    console.print(f"[bold]{title}[/bold]")
    for row in rows:
        console.print(
            f"  warehouse {row['warehouse']} ({row['ship_from']}), window {row['window']}: "
            f"{row['downloaded']} downloaded, {row['new']} new, {row['acknowledged']} acknowledged, "
            f"{row['exported']} exported, {row['cancelled']} cancelled, {row['held']} held"
        )
        if row.get("files"):
            console.print(f"  file: {row['files']}")
        if row.get("problems"):
            console.print(f"  [red]problems: {row['problems']}[/red]")
