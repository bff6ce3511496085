"""The `vdf` command line: run flows now, start the simulator, validate files, check configuration, show status."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from tasks.core.errors import IntegrationError

app = typer.Typer(
    help="vdf-bridge: Amazon Vendor Direct Fulfillment <-> 3PL warehouse over SFTP.", no_args_is_help=True
)
run_app = typer.Typer(
    help="Run one flow now (a Prefect flow run; Prefect's ephemeral API unless PREFECT_API_URL is set)."
)
app.add_typer(run_app, name="run")
console = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Configuration file (default $VDF_CONFIG, else ./vdf.yaml).")
]

# Prefect settings for running offline and quietly; a user's own values win.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


@app.callback()
def _main() -> None:
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _fail(exc: BaseException) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(2)


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 time (e.g. 2026-11-27T10:00:00Z)", param_hint=name
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("check-config")
def check_config(
    config: ConfigOption = None,
    connect: Annotated[bool, typer.Option(help="Also try each Amazon endpoint and warehouse drop.")] = False,
) -> None:
    """Load the configuration and report every problem at once."""
    from flows.checks import check_configuration

    problems = check_configuration(str(config) if config else None, connect=connect, console=console)
    if problems:
        raise typer.Exit(1)


@run_app.command("orders")
def run_orders(
    config: ConfigOption = None,
    account: Annotated[str | None, typer.Option(help="Only this account (default: every account).")] = None,
    warehouse: Annotated[str | None, typer.Option(help="Only this warehouse of the account.")] = None,
    since: Annotated[str | None, typer.Option(help="Re-scan from this creation time (ISO-8601, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Re-scan up to this creation time (ISO-8601, UTC).")] = None,
) -> None:
    """Download, acknowledge and export orders now."""
    from flows.runtime import load_config

    try:
        settings = load_config(config)
    except IntegrationError as exc:
        raise _fail(exc) from None
    names = [account] if account else [a.name for a in settings.accounts]
    window = {"since": _parse_time(since, "--since"), "until": _parse_time(until, "--until")}
    from flows.download_orders import download_orders
    from flows.runtime import close_runtimes

    failed = False
    try:
        for name in names:
            state = download_orders(
                account=name,
                warehouse=warehouse,
                config=str(config) if config else None,
                return_state=True,
                **window,
            )
            if state.is_completed():
                _print_rows(f"account {name}", state.result())
            else:
                failed = True
                err.print(f"[red]account {name}: {state.name}[/red] {state.message or ''}")
    finally:
        close_runtimes()
    if failed:
        raise typer.Exit(1)


@run_app.command("shipments")
def run_shipments(
    config: ConfigOption = None,
    account: Annotated[str | None, typer.Option(help="Only this account (default: every account).")] = None,
    warehouse: Annotated[str | None, typer.Option(help="Only this warehouse of the account.")] = None,
) -> None:
    """Confirm to Amazon the orders in the warehouses' shipment files now."""
    from flows.runtime import load_config

    try:
        settings = load_config(config)
    except IntegrationError as exc:
        raise _fail(exc) from None
    names = [account] if account else [a.name for a in settings.accounts]
    from flows.confirm_shipments import confirm_shipments
    from flows.runtime import close_runtimes

    failed = False
    try:
        for name in names:
            state = confirm_shipments(
                account=name, warehouse=warehouse, config=str(config) if config else None, return_state=True
            )
            if state.is_completed():
                _print_rows(f"account {name}", state.result())
            else:
                failed = True
                err.print(f"[red]account {name}: {state.name}[/red] {state.message or ''}")
    finally:
        close_runtimes()
    if failed:
        raise typer.Exit(1)


def _print_rows(title: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        console.print(f"{title}: nothing to do")
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@app.command()
def simulator(
    port: Annotated[int, typer.Option(help="Port to listen on (0 = a free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    selling_party: Annotated[str, typer.Option("--selling-party", help="Vendor selling party id.")] = "VENDOR1",
    warehouse: Annotated[list[str] | None, typer.Option("--warehouse", help="Ship-from party id (repeatable).")] = None,
    transaction_delay: Annotated[float, typer.Option(help="Seconds a transaction stays Processing.")] = 3.0,
    order_rate: Annotated[float, typer.Option(help="Orders generated per minute in the background.")] = 0.0,
    no_rate_limits: Annotated[bool, typer.Option("--no-rate-limits", help="Turn the 429 token buckets off.")] = False,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 500/503.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Share of connections dropped without an answer.")] = 0.0,
    slow_rate: Annotated[float, typer.Option(help="Share of answers delayed by --slow-seconds.")] = 0.0,
    slow_seconds: Annotated[float, typer.Option(help="Delay of slow answers.")] = 2.0,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible orders.")] = None,
) -> None:
    """Serve the Amazon VDF simulator (LWA, Tokens, Orders, Shipping, Inventory, Transactions) until Ctrl-C."""
    from simulator import SimulatorConfig, serve_forever

    serve_forever(
        SimulatorConfig(
            host=host,
            port=port,
            selling_party_id=selling_party,
            warehouses=tuple(warehouse or ["WH01"]),
            transaction_delay=transaction_delay,
            rate_limits=not no_rate_limits,
            order_rate_per_minute=order_rate,
            error_rate=error_rate,
            drop_rate=drop_rate,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            seed=seed,
        )
    )


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="The warehouse file to check.", exists=True, dir_okay=False)],
    kind: Annotated[str, typer.Option(help="shipments or stock.")] = "shipments",
    warehouse: Annotated[str | None, typer.Option(help="Use this warehouse's file options (needs a config).")] = None,
    config: ConfigOption = None,
    report: Annotated[Path | None, typer.Option(help="Also write the error report CSV here.")] = None,
) -> None:
    """Validate a shipment or stock file offline and print its error report."""
    from flows.render import render_report, validate_file
    from flows.runtime import load_config
    from tasks.core.config import FileOptions

    if kind not in ("shipments", "stock"):
        raise typer.BadParameter("choose shipments or stock", param_hint="--kind")
    options = FileOptions()
    if warehouse:
        try:
            settings = load_config(config)
        except IntegrationError as exc:
            raise _fail(exc) from None
        matches = [w for a in settings.accounts for w in a.warehouses if w.name == warehouse]
        if not matches:
            raise _fail(IntegrationError(f"no warehouse {warehouse!r} in the configuration"))
        options = matches[0].files
    result = validate_file(file, kind, options)  # type: ignore[arg-type]
    console.print(render_report(result))
    if report is not None:
        report.write_bytes(result.report_csv())
        console.print(f"report written to {report}")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def status(config: ConfigOption = None) -> None:
    """Show the ledger: orders per state, pending Amazon transactions, recent inbound files."""
    from flows.runtime import ledger_for, load_config

    try:
        settings = load_config(config)
        ledger = ledger_for(settings.ledger_url)
        table = Table(title="orders by state")
        table.add_column("account")
        table.add_column("state")
        table.add_column("orders", justify="right")
        for acct in settings.accounts:
            for state, count in sorted(ledger.count_orders(acct.name).items()):
                table.add_row(acct.name, str(state), str(count))
        console.print(table)
        pending = ledger.load_transactions(pending_only=True)
        console.print(f"Amazon transactions still Processing: {len(pending)}")
        failed = [t for t in ledger.load_transactions() if t.status == "Failure"]
        for txn in failed[:20]:
            codes = ", ".join(e.code for e in txn.errors) or "no code"
            console.print(
                f"[red]Failure[/red] {txn.kind} {txn.transaction_id} ({codes}) for {', '.join(txn.subjects[:5])}"
            )
    except IntegrationError as exc:
        raise _fail(exc) from None


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Create or upgrade the ledger database to the latest schema."""
    from flows.runtime import load_config, migrate_ledger

    try:
        migrate_ledger(load_config(config).ledger_url)
    except IntegrationError as exc:
        raise _fail(exc) from None
    console.print("ledger is up to date")


@app.command()
def demo(
    orders: Annotated[int, typer.Option(help="How many orders the simulated Amazon creates.")] = 25,
    workdir: Annotated[Path, typer.Option(help="Where the demo keeps its ledger, config and SFTP folder.")] = Path(
        "demo"
    ),
) -> None:
    """Run the whole cycle on embedded defaults: simulator, embedded SFTP, SQLite ledger, local Prefect."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the demo prints its own summary
    from flows.demo import run_demo

    sys.exit(run_demo(orders=orders, workdir=workdir, console=console))


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Serve every account's schedules from this machine (needs a Prefect server: set PREFECT_API_URL)."""
    from prefect import serve as prefect_serve
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Cron

    from flows.download_orders import download_orders
    from flows.poll_transactions import poll_transactions
    from flows.runtime import config_path, load_config

    if not os.environ.get("PREFECT_API_URL"):
        raise _fail(
            IntegrationError(
                "vdf serve needs a Prefect server (the ephemeral one never schedules): "
                "start `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
            )
        )
    path = str(config_path(config).resolve())
    try:
        settings = load_config(path)
    except IntegrationError as exc:
        raise _fail(exc) from None
    deployments = [
        download_orders.to_deployment(
            name=f"orders-{acct.name}",
            schedules=[Cron(acct.orders.schedule, timezone="UTC")],
            parameters={"account": acct.name, "config": path},
            concurrency_limit=1,
        )
        for acct in settings.accounts
    ]
    deployments.append(
        poll_transactions.to_deployment(
            name="transactions", schedules=[Cron("*/5 * * * *", timezone="UTC")], parameters={"config": path}
        )
    )
    prefect_serve(*cast(list[RunnerDeployment], deployments))


if __name__ == "__main__":
    app()
