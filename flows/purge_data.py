"""Flow purge-data: delete the copies of warehouse files we keep (order files, archive, error folder) in time.

Ship-to names and addresses are in every order file we write; Amazon allows keeping such copies at most 30 days.
Only files the ledger says this integration placed are deleted (see tasks.core.retention); what was removed is
recorded by name in the ledger and in the run's artifact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from flows.runtime import Runtime, get_runtime
from tasks.core.config import Account, Warehouse
from tasks.core.errors import IntegrationError
from tasks.core.models import PlacedFile, PurgedFile
from tasks.core.ports import Folder, WarehouseDrop
from tasks.core.retention import PURGED_FOLDERS, cutoff, plan_purge
from tasks.ledger import load_placed_files, record_purged
from tasks.warehouse import delete_file, list_files

SHOWN_NAMES = 20


@dataclass
class FolderReport:
    """What one run did in one folder of one warehouse drop: names and counts, never content."""

    account: str
    warehouse: str
    folder: str
    deleted: list[str] = field(default_factory=list)
    kept: int = 0  # ours, still within the retention
    not_ours: int = 0  # files we did not place: never touched
    problems: list[str] = field(default_factory=list)


def _run_name() -> str:
    account = flow_run.parameters.get("account") or "all-accounts"
    return f"purge-{account}-{datetime.now(UTC):%Y-%m-%dT%H:%MZ}"


@flow(name="purge-data", flow_run_name=_run_name)
def purge_data(account: str | None = None, config: str | None = None) -> list[dict[str, object]]:
    """Delete the order files, archived files and error reports we placed on the drops once past the retention."""
    runtime = get_runtime(config)
    settings = runtime.settings
    now = runtime.clock()
    before = cutoff(now, settings.retention_days)
    accounts = [settings.account(account)] if account else list(settings.accounts)
    reports: list[FolderReport] = []
    for acct in accounts:
        try:
            placed = load_placed_files(runtime.ledger, acct.name)
        except IntegrationError as exc:  # one account's ledger trouble must not stop the others
            reports.append(FolderReport(acct.name, "*", "*", problems=[f"{type(exc).__name__}: {exc}"]))
            continue
        for warehouse in acct.warehouses:
            reports.extend(_purge_warehouse(runtime, acct, warehouse, placed, before=before, now=now))
    _publish(reports, settings.retention_days, before)
    failed = [r for r in reports if r.problems]
    if failed:
        details = "; ".join(f"{r.account}/{r.warehouse}/{r.folder}: {' / '.join(r.problems)}" for r in failed[:5])
        raise RuntimeError(f"purge-data could not remove everything it should: {details}")
    return [_as_row(r) for r in reports]


def _purge_warehouse(
    runtime: Runtime,
    account: Account,
    warehouse: Warehouse,
    placed: Sequence[PlacedFile],
    *,
    before: datetime,
    now: datetime,
) -> list[FolderReport]:
    ours = [
        p
        for p in placed
        if p.warehouse == warehouse.name
        or (p.warehouse is None and p.ship_from_party_id == warehouse.ship_from_party_id)
    ]
    reports = []
    try:
        with runtime.drop(warehouse) as drop:
            for folder in PURGED_FOLDERS:
                report = FolderReport(account.name, warehouse.name, folder)
                reports.append(report)
                _purge_folder(runtime, drop, folder, ours, report, before=before, now=now)
    except IntegrationError as exc:  # one warehouse's drop failing must not stop the others
        reports.append(FolderReport(account.name, warehouse.name, "-", problems=[f"{type(exc).__name__}: {exc}"]))
    return reports


def _purge_folder(
    runtime: Runtime,
    drop: WarehouseDrop,
    folder: Folder,
    placed: Sequence[PlacedFile],
    report: FolderReport,
    *,
    before: datetime,
    now: datetime,
) -> None:
    # gather, decide
    plan = plan_purge(folder, list_files(drop, folder), placed, before=before)
    report.kept, report.not_ours = plan.kept, plan.not_ours
    # apply: one file at a time, so one that cannot be deleted does not keep the others
    for entry in plan.delete:
        try:
            delete_file(drop, folder, entry.name)
        except IntegrationError as exc:
            report.problems.append(f"{entry.name}: {exc}")
            continue
        report.deleted.append(entry.name)
    record_purged(
        runtime.ledger, report.account, [PurgedFile(report.warehouse, folder, name, now) for name in report.deleted]
    )


def _as_row(report: FolderReport) -> dict[str, object]:
    shown = report.deleted[:SHOWN_NAMES]
    more = len(report.deleted) - len(shown)
    return {
        "account": report.account,
        "warehouse": report.warehouse,
        "folder": report.folder,
        "deleted": len(report.deleted),
        "kept": report.kept,
        "not_ours": report.not_ours,
        "files": ", ".join(shown) + (f" and {more} more (see the ledger)" if more else ""),
        "problems": " / ".join(report.problems),
    }


def _publish(reports: Sequence[FolderReport], retention_days: int, before: datetime) -> None:
    create_table_artifact(
        key="purge-data",
        table=[_as_row(r) for r in reports],
        description=(
            f"purge-data: files we placed on the warehouse drops before {before:%Y-%m-%d %H:%M} UTC "
            f"(retention {retention_days} days) deleted; files we did not place are never touched"
        ),
    )
    logger = get_run_logger()
    for report in reports:
        logger.info(
            "%s/%s %s: %d deleted, %d kept (within %d days), %d not ours",
            report.account, report.warehouse, report.folder, len(report.deleted), report.kept, retention_days,
            report.not_ours,
        )
