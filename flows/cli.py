"""The `vdf` command line: run flows now, serve schedules, deploy, alert, check configuration, show health."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tasks.core.errors import IntegrationError

app = typer.Typer(
    help="vdf-bridge: Amazon Vendor Direct Fulfillment <-> 3PL warehouse over SFTP.", no_args_is_help=True
)
run_app = typer.Typer(
    help="Run one flow now (a Prefect flow run; Prefect's ephemeral API unless PREFECT_API_URL is set)."
)
app.add_typer(run_app, name="run")


def _console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal; for a file or a pipe ($COLUMNS, else) wide enough that nothing is cut."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=int(os.environ.get("COLUMNS") or 1000), soft_wrap=False)


console = _console()
err = _console(stderr=True)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

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
def _main(
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            envvar="VDF_LOG_LEVEL",
            help="DEBUG, INFO, WARNING (default) or ERROR, for vdf's own logs and Prefect's ($VDF_LOG_LEVEL).",
        ),
    ] = None,
) -> None:
    global console, err
    console, err = _console(), _console(stderr=True)  # the streams may have changed since import (tests, pipes)
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if log_level is not None:
        level = log_level.upper()
        if level not in LOG_LEVELS:
            raise typer.BadParameter(f"choose one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
        os.environ["PREFECT_LOGGING_LEVEL"] = level  # read when Prefect is imported (later, by the command)
        os.environ["VDF_LOG_LEVEL"] = level
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for name in ("adapters", "tasks", "flows", "simulator"):
            logging.getLogger(name).setLevel(level)
    from flows.runtime import install_log_redaction

    install_log_redaction()  # before any command logs: secrets and ship-to values never reach a log line


def _fail(exc: BaseException) -> typer.Exit:
    err.print(Text.assemble(("error:", "red"), " ", str(exc)))  # a message may quote a file's text: no markup
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
    connect: Annotated[
        bool, typer.Option(help="Also log in to Amazon (token and Restricted Data Token) and open each drop.")
    ] = False,
    prefect_yaml: Annotated[
        Path | None, typer.Option(help="Compare this prefect.yaml with the configuration (default ./prefect.yaml).")
    ] = None,
) -> None:
    """Load the configuration and report every problem at once (schedules, drops, secrets, prefect.yaml drift)."""
    from flows.checks import check_configuration

    problems = check_configuration(
        str(config) if config else None, connect=connect, console=console, prefect_yaml=prefect_yaml
    )
    if problems:
        raise typer.Exit(1)


@run_app.command("orders")
def run_orders(
    config: ConfigOption = None,
    account: Annotated[str | None, typer.Option(help="Only this account (default: every account).")] = None,
    warehouse: Annotated[str | None, typer.Option(help="Only this warehouse of the account.")] = None,
    since: Annotated[str | None, typer.Option(help="Re-scan from this creation time (ISO-8601, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Re-scan up to this creation time (ISO-8601, UTC).")] = None,
    backfill: Annotated[
        float | None,
        typer.Option(help="Also take every order Amazon still shows NEW over the last DAYS days.", min=0.01, max=180),
    ] = None,
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
                backfill_days=backfill,
                **window,
            )
            if state.is_completed():
                _print_rows(f"account {name}", state.result())
            else:
                failed = True
                err.print(Text.assemble((f"account {name}: {state.name}", "red"), " ", state.message or ""))
    finally:
        close_runtimes()
    if failed:
        raise typer.Exit(1)


@run_app.command("purge")
def run_purge(
    config: ConfigOption = None,
    account: Annotated[str | None, typer.Option(help="Only this account (default: every account).")] = None,
) -> None:
    """Delete the order files, archived files and error reports we placed on the drops, once past retention_days."""
    from flows.purge_data import purge_data
    from flows.runtime import close_runtimes, load_config

    try:
        settings = load_config(config)
        if account:
            settings.account(account)
    except IntegrationError as exc:
        raise _fail(exc) from None
    try:
        state = purge_data(account=account, config=str(config) if config else None, return_state=True)
        if state.is_completed():
            _print_rows(f"purge (retention {settings.retention_days} days)", state.result())
        else:
            err.print(Text.assemble((f"purge: {state.name}", "red"), " ", state.message or ""))
            raise typer.Exit(1)
    finally:
        close_runtimes()

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
                err.print(Text.assemble((f"account {name}: {state.name}", "red"), " ", state.message or ""))
    finally:
        close_runtimes()
    if failed:
        raise typer.Exit(1)


@run_app.command("inventory")
def run_inventory(
    config: ConfigOption = None,
    account: Annotated[str | None, typer.Option(help="Only this account (default: every account).")] = None,
    warehouse: Annotated[str | None, typer.Option(help="Only this warehouse of the account.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Send a feed the guard held, after checking its file (needs --warehouse).")
    ] = False,
) -> None:
    """Push each warehouse's newest stock file to Amazon as its inventory now."""
    from flows.runtime import load_config

    try:
        settings = load_config(config)
    except IntegrationError as exc:
        raise _fail(exc) from None
    if force and not (account and warehouse):
        raise typer.BadParameter("--force sends one checked file: give --account and --warehouse", param_hint="--force")
    names = [account] if account else [a.name for a in settings.accounts]
    from flows.push_inventory import push_inventory
    from flows.runtime import close_runtimes

    failed = False
    try:
        for name in names:
            state = push_inventory(
                account=name,
                warehouse=warehouse,
                force=force,
                config=str(config) if config else None,
                return_state=True,
            )
            if state.is_completed():
                for row in state.result():
                    _print_fields(f"account {name}, warehouse {row['warehouse']}", row)
            else:
                failed = True
                err.print(Text.assemble((f"account {name}: {state.name}", "red"), " ", state.message or ""))
    finally:
        close_runtimes()
    if failed:
        raise typer.Exit(1)


def _print_fields(title: str, row: dict[str, object]) -> None:
    """One record as a two-column table: the inventory report has too many columns for a terminal's width."""
    table = Table("field", "value", title=title)
    for key, value in row.items():
        if value not in ("", None):
            table.add_row(key, str(value))
    console.print(table)


@run_app.command("transactions")
def run_transactions(
    config: ConfigOption = None,
    account: Annotated[str | None, typer.Option(help="Only this account (default: every account).")] = None,
    settle: Annotated[
        str | None, typer.Option(help="Settle this transaction by hand instead (one Amazon does not know, or stuck).")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(help="With --settle: success or failure, as Vendor Central shows it.")
    ] = None,
    reason: Annotated[str, typer.Option(help="With --settle: why (kept in the ledger; no personal data).")] = "",
) -> None:
    """Re-check every transaction still Processing with Amazon now, or settle one by hand with --settle."""
    from flows.runtime import close_runtimes, ledger_for, load_config

    try:
        settings = load_config(config)
    except IntegrationError as exc:
        raise _fail(exc) from None
    if settle is not None:
        if outcome not in ("success", "failure"):
            raise typer.BadParameter("give --outcome success or --outcome failure", param_hint="--outcome")
        ledger = ledger_for(settings.ledger_url)
        try:
            _settle(ledger, settle, outcome, reason)  # type: ignore[arg-type]
        except IntegrationError as exc:
            raise _fail(exc) from None
        finally:
            ledger.close()
        return
    if outcome is not None:
        raise typer.BadParameter("--outcome goes with --settle", param_hint="--outcome")
    from flows.poll_transactions import poll_transactions

    try:
        state = poll_transactions(account=account, config=str(config) if config else None, return_state=True)
    finally:
        close_runtimes()
    if state.is_completed():
        _print_rows("Amazon transactions", state.result())
        return
    err.print(f"[red]poll-transactions: {state.name}[/red] {escape(state.message or '')}", highlight=False)
    raise typer.Exit(1)


def _settle(ledger: Any, transaction_id: str, outcome: Literal["success", "failure"], reason: str) -> None:
    from tasks.core.models import AmazonErrorDetail, TransactionState, TransactionStatus

    known = {t.transaction_id: t for t in ledger.load_transactions()}
    txn = known.get(transaction_id)
    if txn is None:
        raise IntegrationError(f"the ledger has no transaction {transaction_id}")
    if txn.status is not TransactionState.PROCESSING:
        raise IntegrationError(f"transaction {transaction_id} is already settled: {txn.status}")
    state = TransactionState.SUCCESS if outcome == "success" else TransactionState.FAILURE
    errors = (
        ()
        if state is TransactionState.SUCCESS
        else (AmazonErrorDetail("SettledByPerson", reason or "settled by hand"),)
    )
    ledger.record_transaction_status(TransactionStatus(transaction_id, state, errors))
    console.print(
        f"transaction {transaction_id} ({txn.kind} of {len(txn.subjects)} subject(s), account {txn.account}) "
        f"recorded as {state}" + (f": {reason}" if reason else "")
    )


def _print_rows(title: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        console.print(f"{title}: nothing to do")
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row.values()))  # flow results may quote Amazon's or a file's text
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
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Check dates as if it were this time (ISO-8601; default now).")
    ] = None,
) -> None:
    """Validate a shipment or stock file offline and print its error report."""
    from flows.render import plain, render_report, validate_file
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
    try:
        result = validate_file(file, kind, options, now=_parse_time(as_of, "--as-of"))  # type: ignore[arg-type]
    except IntegrationError as exc:
        raise _fail(exc) from None
    console.print(render_report(result))
    if report is not None:
        report.write_bytes(result.report_csv())
        console.print(plain(f"report written to {report}"))
    # exit 1 exactly when the file has problems; notes (an ignored column) are said and do not fail it
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def status(
    config: ConfigOption = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Health per account and warehouse; exits 1 when something needs a person (usable as a health check)."""
    from flows.health import gather_health
    from flows.runtime import ledger_for, load_config

    try:
        settings = load_config(config)
        ledger = ledger_for(settings.ledger_url)
        try:
            health = gather_health(settings, ledger, account=account)
        finally:
            ledger.close()
    except IntegrationError as exc:
        raise _fail(exc) from None
    if as_json:
        print(json.dumps(health.as_json(), indent=2))
    else:
        from flows.render import render_health

        console.print(render_health(health))
    if health.needs_a_person():
        raise typer.Exit(1)


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
def serve(
    config: ConfigOption = None,
    port: Annotated[
        int, typer.Option(help="Port of the local Prefect server started when PREFECT_API_URL is unset.")
    ] = 4200,
    prefect_home: Annotated[
        Path, typer.Option(help="Where that local server keeps its SQLite database and log.")
    ] = Path(".prefect"),
) -> None:
    """Serve every flow's schedules from this machine; starts a local Prefect server unless PREFECT_API_URL is set."""
    from flows.deployments import plan_deployments
    from flows.local_prefect import local_prefect_server
    from flows.runtime import config_path, load_config

    path = str(config_path(config).resolve())
    try:
        settings = load_config(path)
        specs = plan_deployments(settings, path)
    except IntegrationError as exc:
        raise _fail(exc) from None
    if os.environ.get("PREFECT_API_URL"):
        _serve(settings, specs, ui=os.environ["PREFECT_API_URL"].removesuffix("/api"))
        return
    try:
        with local_prefect_server(prefect_home.resolve(), port=port) as server:
            os.environ["PREFECT_API_URL"] = server.api_url
            console.print(
                f"started a local Prefect server (SQLite under {server.home}, log {server.log}); "
                f"it stops when vdf serve does"
            )
            from prefect.settings import PREFECT_API_URL, temporary_settings

            try:
                # the environment is for the runs' processes; this process may have read Prefect's settings already
                with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                    _serve(settings, specs, ui=server.ui_url)
            finally:
                _drain_prefect_clients()
                console.print("stopping the local Prefect server")
    except IntegrationError as exc:
        raise _fail(exc) from None


def _drain_prefect_clients(timeout: float = 10.0) -> None:
    """Send the events and logs Prefect still holds while the server is up; at exit they would wait for it forever."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (EventsWorker, APILogWorker):
        try:
            service.drain_all(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - best effort on the way out
            err.print(f"could not flush Prefect's {service.__name__}: {type(exc).__name__}")


def _serve(settings: Any, specs: list[Any], *, ui: str) -> None:
    from prefect import serve as prefect_serve

    from flows.alerts import apply_alerts
    from flows.deployments import runner_deployments
    from flows.runtime import resolve_secret

    try:
        _refuse_worker_deployments(specs)
        for line in apply_alerts(settings.notifications, resolve_secret):
            console.print(f"alerts: {line}")
    except IntegrationError as exc:
        raise _fail(exc) from None
    _print_deployments(specs)
    console.print(f"Prefect UI: {ui}  (runs: {ui}/runs, deployments: {ui}/deployments); Ctrl-C stops serving")
    prefect_serve(*runner_deployments(specs), print_starting_message=False)


def _refuse_worker_deployments(specs: list[Any]) -> None:
    """Serve and a work pool must not own the same deployment: whoever registers last silently takes it over."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    taken = []
    with get_client(sync_client=True) as client:
        for spec in specs:
            try:
                existing = client.read_deployment_by_name(spec.full_name)
            except ObjectNotFound:
                continue
            if existing.work_pool_name:
                taken.append(f"{spec.full_name} (work pool {existing.work_pool_name})")
    if taken:
        raise IntegrationError(
            "these deployments already run on a work pool (deployed from prefect.yaml): "
            + ", ".join(taken)
            + ". Serve and workers must not share a deployment: delete them "
            "(prefect deployment delete NAME) or serve against another Prefect server"
        )


def _print_deployments(specs: list[Any]) -> None:
    table = Table(title="deployments")
    for column in ("deployment", "schedule", "parameters", "tags"):
        table.add_column(column)
    for spec in specs:
        params = ", ".join(f"{k}={v}" for k, v in spec.parameters.items() if k != "config")
        table.add_row(spec.full_name, spec.schedule.describe(), params, " ".join(spec.tags[1:]))
    console.print(table)


@app.command()
def deployments(
    config: ConfigOption = None,
    write: Annotated[Path | None, typer.Option(help="Write prefect.yaml for these deployments to this path.")] = None,
    home: Annotated[
        Path | None, typer.Option(help="The checkout's path on the workers (default: this checkout).")
    ] = None,
    worker_config: Annotated[
        Path | None, typer.Option(help="vdf.yaml's path on the workers (default: this configuration's path).")
    ] = None,
    pool: Annotated[str, typer.Option(help="The process work pool the workers serve.")] = "vdf",
) -> None:
    """List the deployments vdf.yaml asks for; --write generates prefect.yaml from them (regenerate after edits)."""
    from flows.deployments import REPOSITORY, kinds, plan_deployments, prefect_yaml
    from flows.runtime import config_path, load_config

    path = config_path(config).resolve()
    target_config = str(worker_config or path)
    try:
        settings = load_config(path)
        specs = plan_deployments(settings, target_config)
    except IntegrationError as exc:
        raise _fail(exc) from None
    _print_deployments(specs)
    missing = [k.flow_name for k in kinds(installed_only=False) if not k.installed()]
    if missing:
        console.print(f"not in this checkout yet (no deployment): {', '.join(missing)}")
    if write is not None:
        text = prefect_yaml(
            specs, home=str(home or REPOSITORY), config=target_config, pool=pool, source=str(config or path)
        )
        write.write_text(text, encoding="utf-8")
        console.print(f"wrote {write} ({len(specs)} deployment(s), work pool {pool!r})")


@app.command()
def alerts(
    config: ConfigOption = None,
    apply: Annotated[bool, typer.Option(help="Create or replace the alert automations on the Prefect server.")] = False,
    test: Annotated[bool, typer.Option(help="Send one test notification to every destination now.")] = False,
) -> None:
    """Show, apply (--apply) or test (--test) the alerts from vdf.yaml's notifications section."""
    from flows.alerts import ATTENTION_AUTOMATION, EVENTS, FAILED_AUTOMATION, apply_alerts, send_test
    from flows.runtime import load_config, resolve_secret

    try:
        settings = load_config(config)
    except IntegrationError as exc:
        raise _fail(exc) from None
    notes = settings.notifications
    if notes is None:
        console.print("no notifications section in the configuration: no alerts are sent")
    else:
        where = [f"webhook {notes.webhook_url.describe()}"] if notes.webhook_url else []
        where += [f"Prefect block {notes.prefect_block}"] if notes.prefect_block else []
        console.print(f"alerts go to: {', '.join(where)}")
        console.print(f"  {FAILED_AUTOMATION!r}: a vdf-bridge flow run ends Failed or Crashed")
        console.print(f"  {ATTENTION_AUTOMATION!r}: events {', '.join(EVENTS.values())}")
    if (apply or test) and not os.environ.get("PREFECT_API_URL"):
        raise _fail(IntegrationError("set PREFECT_API_URL to the Prefect server (automations live there)"))
    try:
        if apply:
            for line in apply_alerts(notes, resolve_secret):
                console.print(f"applied: {line}")
        if test and notes is not None:
            console.print(f"sent {send_test(notes, resolve_secret)} test notification(s)")
    except IntegrationError as exc:
        raise _fail(exc) from None


if __name__ == "__main__":
    app()
