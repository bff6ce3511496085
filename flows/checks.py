"""`vdf check-config`: every problem in the configuration at once, what would fail later included.

Checked without a network: the file's keys and values (schedules, time zones, secrets as references), each secret's
environment variable, each drop's settings and files, the deployments Prefect would build (its own cron and time
zone validation), the retry budget against each schedule's interval, and a prefect.yaml that drifted from vdf.yaml.
With --connect: an Amazon login, a Restricted Data Token (what fails when the app lacks the PII role), each drop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from flows.runtime import config_path, load_config, resolve_secret
from tasks.core.config import Account, LocalDrop, SecretRef, Settings, SftpDrop
from tasks.core.errors import IntegrationError, NotFoundError, PermanentError
from tasks.core.models import TimeWindow

# Worst time one Amazon call can spend retrying before a run gives up (adapters/amazon RetryPolicy: 60 s of
# backoff, plus the last request's 20 s timeout; tasks/prefect_support: 3 task retries 1+4+15 s, +50 % jitter),
# per flow: how many such calls can be in a row before the run fails. Written down in the README (Retry budgets).
AMAZON_CALL_BUDGET = timedelta(seconds=80)
TASK_RETRY_DELAYS = timedelta(seconds=(1 + 4 + 15) * 1.5)
RETRY_BUDGET = {
    "orders": 4 * AMAZON_CALL_BUDGET + TASK_RETRY_DELAYS,  # one page fetched with task retries
    "shipments": 4 * AMAZON_CALL_BUDGET + TASK_RETRY_DELAYS,
    "inventory": 4 * AMAZON_CALL_BUDGET + TASK_RETRY_DELAYS,
    "transactions": AMAZON_CALL_BUDGET,  # no task retries; the first unreachable answer ends the account
    "purge": timedelta(minutes=5),
}


def check_configuration(
    path: str | None, *, connect: bool, console: Console, prefect_yaml: Path | None = None
) -> list[str]:
    """Print and return the problems found; an empty list means the configuration is usable."""
    try:
        settings = load_config(path)
    except IntegrationError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        return [str(exc)]
    problems = _static_problems(settings)
    problems += _deployment_problems(settings, console)
    problems += _prefect_yaml_problems(settings, path, prefect_yaml)
    if connect and not problems:
        problems += _connection_problems(settings, console)
    for problem in problems:
        console.print(f"[red]- {escape(problem)}[/red]", highlight=False)
    if not problems:
        accounts = ", ".join(f"{a.name} ({len(a.warehouses)} warehouse(s))" for a in settings.accounts)
        console.print(f"[green]configuration OK[/green]: {accounts}", highlight=False)
    return problems


def _secrets(settings: Settings, account: Account) -> list[tuple[str, SecretRef]]:
    where = f"accounts[{account.name}]"
    found = [
        (f"{where}.credentials.client_id", account.credentials.client_id),
        (f"{where}.credentials.client_secret", account.credentials.client_secret),
        (f"{where}.credentials.refresh_token", account.credentials.refresh_token),
    ]
    for warehouse in account.warehouses:
        drop = warehouse.drop
        if isinstance(drop, SftpDrop):
            for key in ("password", "private_key", "private_key_passphrase"):
                ref = getattr(drop, key)
                if ref is not None:
                    found.append((f"{where}.warehouses[{warehouse.name}].drop.{key}", ref))
    return found


def _static_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    secrets = [s for account in settings.accounts for s in _secrets(settings, account)]
    if settings.notifications is not None and settings.notifications.webhook_url is not None:
        secrets.append(("notifications.webhook_url", settings.notifications.webhook_url))
    for key, ref in secrets:
        if ref.env is not None:
            try:
                resolve_secret(ref)
            except IntegrationError:
                problems.append(f"{key}: environment variable {ref.env} is not set")
    for account in settings.accounts:
        for warehouse in account.warehouses:
            drop = warehouse.drop
            where = f"accounts[{account.name}].warehouses[{warehouse.name}].drop"
            folders = drop.folders.model_dump()
            doubled = sorted({f for f in folders.values() if list(folders.values()).count(f) > 1})
            if doubled:
                problems.append(f"{where}.folders: {', '.join(doubled)} is used for more than one purpose")
            if isinstance(drop, SftpDrop):
                if not drop.host.strip():
                    problems.append(f"{where}.host: empty")
                if drop.known_hosts is not None and not drop.known_hosts.is_file():
                    problems.append(f"{where}.known_hosts: file {drop.known_hosts} not found")
                if drop.private_key_path is not None and not drop.private_key_path.is_file():
                    problems.append(f"{where}.private_key_path: file {drop.private_key_path} not found")
            elif isinstance(drop, LocalDrop) and not drop.path.is_dir():
                problems.append(f"{where}.path: folder {drop.path} does not exist")
    return problems


def _deployment_problems(settings: Settings, console: Console) -> list[str]:
    """Build every deployment as `vdf serve` would, with Prefect's own schedule validation; warn on retry budgets."""
    from flows.deployments import plan_deployments, prefect_schedule

    try:
        specs = plan_deployments(settings, str(config_path()))
    except IntegrationError as exc:
        return [str(exc)]
    problems = []
    for spec in specs:
        try:
            prefect_schedule(spec.schedule)
        except ValueError as exc:
            problems.append(f"deployment {spec.name}: Prefect refuses schedule {spec.schedule_text!r}: {exc}")
            continue
        budget = RETRY_BUDGET.get(spec.flow.kind)
        gap = spec.schedule.shortest_gap(datetime.now(UTC))
        if budget is not None and gap < budget:
            console.print(
                f"[yellow]note: {spec.name} runs every {gap} but a run may spend up to {budget} retrying Amazon "
                "during an outage; the next run then waits for it (concurrency limit 1)[/yellow]",
                highlight=False,
            )
    return problems


def _prefect_yaml_problems(settings: Settings, path: str | None, explicit: Path | None) -> list[str]:
    from flows.deployments import prefect_yaml_drift

    target = explicit or config_path(path).resolve().parent / "prefect.yaml"
    if not target.is_file():
        return [f"{target} not found"] if explicit else []
    try:
        drift = prefect_yaml_drift(target, settings)
    except IntegrationError as exc:
        return [str(exc)]
    if drift:
        drift.append(f"regenerate it: vdf deployments --write {target}")
    return drift


@contextmanager
def _quiet_adapters() -> Iterator[None]:
    """No retry or connection chatter during --connect, unless the user asked for logs with --log-level."""
    loggers = [logging.getLogger(name) for name in ("adapters", "sp_api", "paramiko")]
    if os.environ.get("VDF_LOG_LEVEL"):
        yield
        return
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _connection_problems(settings: Settings, console: Console) -> list[str]:
    from flows.runtime import amazon_endpoint, drop_for, probe_vendor_api

    problems: list[str] = []
    with _quiet_adapters():
        for account in settings.accounts:
            endpoint = amazon_endpoint(account)
            try:
                api = probe_vendor_api(account)
            except IntegrationError as exc:
                problems.append(f"account {account.name}: {exc}")
                continue
            try:
                try:
                    # An unknown transaction id answers 404 once the token is accepted: proof of a working login.
                    api.fetch_transaction_status("vdf-bridge-connectivity-check")
                except NotFoundError:
                    pass
                console.print(f"account {account.name}: Amazon at {endpoint} reachable, credentials accepted")
                # getOrders needs a Restricted Data Token: refused when the app lacks the Direct-to-Consumer
                # Shipping role, the one thing a plain login does not prove. A tiny past window, one order at most.
                end = datetime.now(UTC) - timedelta(minutes=5)
                api.fetch_orders_page(
                    TimeWindow(end - timedelta(minutes=1), end),
                    ship_from_party_id=account.warehouses[0].ship_from_party_id,
                    limit=1,
                )
                console.print(f"account {account.name}: Restricted Data Token granted (ship-to addresses readable)")
            except PermanentError as exc:
                problems.append(f"account {account.name}: Amazon at {endpoint} refused: {exc}")
            except IntegrationError as exc:
                problems.append(f"account {account.name}: Amazon at {endpoint} not reachable: {exc}")
            finally:
                api.close()
            for warehouse in account.warehouses:
                try:
                    drop = drop_for(warehouse.drop)
                    try:
                        drop.exists("orders", "vdf-bridge-connectivity-check")  # logs in and looks; writes nothing
                    finally:
                        drop.close()
                    console.print(f"warehouse {account.name}/{warehouse.name}: drop reachable")
                except IntegrationError as exc:
                    problems.append(f"warehouse {account.name}/{warehouse.name}: {exc}")
    return problems
