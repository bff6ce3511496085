"""`vdf check-config`: every problem in the configuration at once, and optionally each endpoint tried."""

from __future__ import annotations

from rich.console import Console

from flows.runtime import load_config, resolve_secret
from tasks.core.config import Account, SecretRef, Settings, SftpDrop
from tasks.core.errors import IntegrationError, NotFoundError, PermanentError


def check_configuration(path: str | None, *, connect: bool, console: Console) -> list[str]:
    """Print and return the problems found; an empty list means the configuration is usable."""
    try:
        settings = load_config(path)
    except IntegrationError as exc:
        console.print(f"[red]{exc}[/red]")
        return [str(exc)]
    problems = _static_problems(settings)
    if connect and not problems:
        problems += _connection_problems(settings, console)
    for problem in problems:
        console.print(f"[red]- {problem}[/red]")
    if not problems:
        accounts = ", ".join(f"{a.name} ({len(a.warehouses)} warehouse(s))" for a in settings.accounts)
        console.print(f"[green]configuration OK[/green]: {accounts}")
    return problems


def _secrets(account: Account) -> list[tuple[str, SecretRef]]:
    found = [
        (f"accounts.{account.name}.credentials.client_id", account.credentials.client_id),
        (f"accounts.{account.name}.credentials.client_secret", account.credentials.client_secret),
        (f"accounts.{account.name}.credentials.refresh_token", account.credentials.refresh_token),
    ]
    for warehouse in account.warehouses:
        drop = warehouse.drop
        if isinstance(drop, SftpDrop):
            for key in ("password", "private_key", "private_key_passphrase"):
                ref = getattr(drop, key)
                if ref is not None:
                    found.append((f"accounts.{account.name}.warehouses.{warehouse.name}.drop.{key}", ref))
    return found


def _static_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    for account in settings.accounts:
        for key, ref in _secrets(account):
            if ref.env is not None:
                try:
                    resolve_secret(ref)
                except IntegrationError:
                    problems.append(f"{key}: environment variable {ref.env} is not set")
        for warehouse in account.warehouses:
            drop = warehouse.drop
            where = f"accounts.{account.name}.warehouses.{warehouse.name}.drop"
            if isinstance(drop, SftpDrop):
                if drop.known_hosts is not None and not drop.known_hosts.is_file():
                    problems.append(f"{where}.known_hosts: file {drop.known_hosts} not found")
                if drop.private_key_path is not None and not drop.private_key_path.is_file():
                    problems.append(f"{where}.private_key_path: file {drop.private_key_path} not found")
            elif not drop.path.is_dir():
                problems.append(f"{where}.path: folder {drop.path} does not exist")
    return problems


def _connection_problems(settings: Settings, console: Console) -> list[str]:
    from flows.runtime import drop_for, vendor_api_for

    problems: list[str] = []
    for account in settings.accounts:
        try:
            # An unknown transaction id answers 404 once the token is accepted: proof of a working login.
            api = vendor_api_for(account)
            try:
                api.fetch_transaction_status("vdf-bridge-connectivity-check")
            finally:
                api.close()
            console.print(f"account {account.name}: Amazon reachable")
        except NotFoundError:
            console.print(f"account {account.name}: Amazon reachable, credentials accepted")
        except PermanentError as exc:
            problems.append(f"account {account.name}: Amazon refused: {exc}")
        except IntegrationError as exc:
            problems.append(f"account {account.name}: Amazon not reachable: {exc}")
        for warehouse in account.warehouses:
            try:
                drop = drop_for(warehouse.drop)
                try:
                    drop.list_new("shipments")
                finally:
                    drop.close()
                console.print(f"warehouse {account.name}/{warehouse.name}: drop reachable")
            except IntegrationError as exc:
                problems.append(f"warehouse {account.name}/{warehouse.name}: {exc}")
    return problems
