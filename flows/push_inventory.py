"""Flow push-inventory: each warehouse's newest stock file → Amazon's inventory for its one Amazon warehouse."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl
from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from flows.alerts import announce
from flows.runtime import Runtime, get_runtime
from tasks.amazon import submit_inventory_update
from tasks.core.config import Account, Warehouse
from tasks.core.errors import ConfigError, IntegrationError, OutcomeUnknownError, RequestRefusedError
from tasks.core.inventory import (
    blocking_errors,
    build_update,
    check_guard,
    checksum,
    file_notes,
    from_feed_items,
    map_items,
    pick_newest,
    plan_feed,
    sku_map_error,
    to_feed_items,
    to_sku_map,
)
from tasks.core.models import EMPTY_FEED_ITEMS, ChunkState, FeedMode, FeedPlan, FeedState, FileOutcome, InventoryFeed
from tasks.core.ports import Ledger, RemoteFile, VendorApi, WarehouseDrop
from tasks.core.validation import validate_sku_map, validate_stock
from tasks.ledger import (
    claim_inventory_chunk,
    load_inventory_baseline,
    load_inventory_chunk,
    load_inventory_feed,
    load_unfinished_inventory_feeds,
    mark_file,
    mark_inventory_chunk,
    record_file_received,
    record_inventory_feed,
    supersede_inventory_feed,
)
from tasks.local_files import read_local_file
from tasks.warehouse import archive_file, download_file, list_new_files, quarantine_file

FOLDER = "inventory"
_PLAIN = (str, int, float, bool, type(None), enum.Enum)

TaskCall = Callable[..., Any]


def as_task(task: Any, *args: Any) -> Any:
    """Run a side effect as a Prefect task run; large arguments are quoted so Prefect does not walk them."""
    return task(*(arg if isinstance(arg, _PLAIN) else quote(arg) for arg in args))


def as_function(task: Any, *args: Any) -> Any:
    """Run a side effect as its plain function: the unit tests drive the flow's decisions through fakes this way."""
    return task.fn(*args)


@dataclass
class InventoryReport:
    """What one run did for one warehouse: SKUs, counts and identifiers, never PII."""

    warehouse: str
    amazon_warehouse: str
    mode: str
    file: str = ""
    rows: int = 0  # data rows in the stock file
    skus: int = 0  # items in the feed's stock
    sent: int = 0  # items in the requests
    zeros: int = 0  # items sent with quantity 0
    new: int = 0
    up: int = 0
    down: int = 0
    gone: int = 0
    unchanged: int = 0
    unmapped: int = 0
    guard: str = ""
    feed: str = ""
    transactions: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each fails the run: a person should look
    notes: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, object]:
        return {
            "warehouse": self.warehouse,
            "amazon_warehouse": self.amazon_warehouse,
            "mode": self.mode,
            "file": self.file,
            "rows": self.rows,
            "skus": self.skus,
            "sent": self.sent,
            "zeros": self.zeros,
            "new": self.new,
            "up": self.up,
            "down": self.down,
            "gone": self.gone,
            "unchanged": self.unchanged,
            "unmapped": self.unmapped,
            "guard": self.guard,
            "feed": self.feed,
            "transactions": ", ".join(self.transactions),
            "superseded": ", ".join(self.superseded),
            "problems": " / ".join(self.problems),
            "notes": " / ".join(self.notes),
        }


@dataclass
class InventoryRun:
    """One warehouse's run: the ports, its configuration, the report being filled, and how side effects run."""

    api: VendorApi
    ledger: Ledger
    drop: WarehouseDrop
    account: Account
    warehouse: Warehouse
    force: bool
    report: InventoryReport
    task: TaskCall = as_task

    def ledger_task(self, task: Any, *args: Any) -> Any:
        """A ledger task about this account and warehouse."""
        return self.task(task, self.ledger, self.account.name, self.warehouse.name, *args)


def _run_name() -> str:
    params = flow_run.parameters
    scope = params.get("warehouse") or "all"
    forced = "-force" if params.get("force") else ""
    return f"inventory-{params.get('account', '?')}/{scope}-{datetime.now(UTC):%Y-%m-%dT%H:%MZ}{forced}"


@flow(name="push-inventory", flow_run_name=_run_name)
def push_inventory(
    account: str, warehouse: str | None = None, force: bool = False, config: str | None = None
) -> list[dict[str, object]]:
    """Send each warehouse's newest stock file to Amazon as its inventory; hold a feed that looks truncated."""
    runtime = get_runtime(config)
    reports = push_account(runtime, account, warehouse, force=force)
    rows = [report.as_row() for report in reports]
    _publish_report(account, rows)
    for report in reports:  # one alert per held feed (flows/alerts.py): a full feed that looks truncated waits
        if report.guard.startswith("held"):
            announce(
                "feed-held",
                account=account,
                warehouse=report.warehouse,
                reason=f"{report.guard}; check the file, then `vdf run inventory --account {account} "
                f"--warehouse {report.warehouse} --force`",
            )
    message = failure_message(account, reports)
    if message:
        raise IntegrationError(message)
    return rows


def push_account(
    runtime: Runtime, account: str, warehouse: str | None = None, *, force: bool = False, task: TaskCall = as_task
) -> list[InventoryReport]:
    """Push the inventory of one warehouse of an account, or of each; a failing warehouse does not stop the others."""
    acct = runtime.settings.account(account)
    targets = [acct.warehouse(warehouse)] if warehouse else list(acct.warehouses)
    if force and len(targets) > 1:
        raise ConfigError(
            f"force sends a held feed after a person checked its file: name the warehouse too (account {acct.name} "
            f"has {', '.join(w.name for w in targets)})"
        )
    api = runtime.vendor_api(acct)
    reports: list[InventoryReport] = []
    # One inventory run per account at a time, across workers; a lock of its own, so order runs go on meanwhile.
    with runtime.ledger.account_lock(f"{acct.name}/inventory"):
        for target in targets:
            report = InventoryReport(target.name, target.ship_from_party_id, target.inventory.mode)
            reports.append(report)
            try:
                with runtime.drop(target) as drop:
                    push_warehouse(InventoryRun(api, runtime.ledger, drop, acct, target, force, report, task))
            except IntegrationError as exc:  # one warehouse failing must not stop the others
                report.problems.append(f"{type(exc).__name__}: {exc}")
    return reports


def failure_message(account: str, reports: Sequence[InventoryReport]) -> str | None:
    """The run's failure, naming every problem, or None when no person needs to look."""
    failed = [r for r in reports if r.problems]
    if not failed:
        return None
    details = "; ".join(f"{r.warehouse}: {' / '.join(r.problems)}" for r in failed)
    return f"push-inventory for account {account} had problems: {details}"


# ---------------------------------------------------------------------------------------------- one warehouse


def push_warehouse(run: InventoryRun) -> None:
    """gather → validate → map → guard and plan → record → send → archive, for one warehouse."""
    gathered = _gather(run)
    if gathered is None:
        return
    file, data, digest = gathered
    feed = run.ledger_task(load_inventory_feed, file.name, digest)
    if feed is not None and feed.state not in (FeedState.HELD, FeedState.SENDING):
        # The same file again (or a run that died after sending it): never a second feed.
        _describe(run.report, feed)
        run.report.notes.append(f"{file.name} was already sent as feed {feed.feed_id} ({feed.state}); not sent again")
        _archive(run, file, digest, f"already sent as inventory feed {feed.feed_id} ({feed.state})")
        return
    if feed is None or feed.state is FeedState.HELD:
        # force overrides the guard only for the file a person checked: the one it held before
        forced = run.force and feed is not None
        if run.force and not forced:
            run.report.notes.append(f"--force applies to a held feed only; {file.name} was not held, so it was guarded")
        feed = _decide(run, file, data, digest, force=forced)
        if feed is None:
            return
    else:
        run.report.notes.append(f"resumed feed {feed.feed_id}, left half sent by an interrupted run")
    feed = _send(run, feed)
    _describe(run.report, feed)
    if feed.state is not FeedState.SENDING:
        _archive(run, file, digest, f"inventory feed {feed.feed_id}: {feed.state}")


def _gather(run: InventoryRun) -> tuple[RemoteFile, bytes, str] | None:
    """The newest complete stock file (recorded in the ledger); older ones archived as superseded."""
    report = run.report
    files = run.task(list_new_files, run.drop, FOLDER, run.warehouse.files.stock_patterns)
    choice = pick_newest(files)
    unfinished = run.ledger_task(load_unfinished_inventory_feeds)
    if choice.newest is None:
        report.notes.append(f"no stock file in the {FOLDER} folder; Amazon keeps the quantities of the last feed")
        report.notes.extend(
            f"feed {f.feed_id} of {f.file} is half sent and its file is gone from the folder; it is not resumed"
            for f in unfinished
        )
        return None
    newest = choice.newest
    data = run.task(download_file, run.drop, FOLDER, newest.name)
    digest = checksum(data)
    report.file = newest.name
    for feed in unfinished:
        if (feed.file, feed.checksum) != (newest.name, digest):
            stopped = run.task(supersede_inventory_feed, run.ledger, feed.feed_id)
            report.notes.append(
                f"feed {stopped.feed_id} of {stopped.file} was left half sent; stopped for the newer {newest.name}"
            )
    for old in choice.superseded:
        old_digest = checksum(run.task(download_file, run.drop, FOLDER, old.name))
        run.ledger_task(record_file_received, "stock", old.name, old_digest)
        detail = f"superseded by {newest.name}"
        old_feed = run.ledger_task(load_inventory_feed, old.name, old_digest)
        if old_feed is not None and old_feed.state is FeedState.HELD:
            run.task(supersede_inventory_feed, run.ledger, old_feed.feed_id)
        elif old_feed is not None and old_feed.state is not FeedState.SENDING:
            detail = f"already sent as inventory feed {old_feed.feed_id} ({old_feed.state}); {detail}"
        _archive(run, old, old_digest, detail)
        report.superseded.append(old.name)
    if choice.superseded:
        report.notes.append(f"{len(choice.superseded)} older stock file(s) archived unsent: {newest.name} is newer")
    run.ledger_task(record_file_received, "stock", newest.name, digest)
    return newest, data, digest


def _decide(run: InventoryRun, file: RemoteFile, data: bytes, digest: str, *, force: bool) -> InventoryFeed | None:
    """Validate, map, guard and plan the feed, and record it; None when nothing is to be sent (quarantined, held)."""
    report, options = run.report, run.warehouse.inventory
    result = validate_stock(data, run.warehouse.files, file_name=file.name)
    report.rows = result.rows
    sku_map = _sku_map(run)
    mapped = map_items(result.valid, identifier=options.identifier, sku_map=sku_map)
    if not blocking_errors(result).is_empty() or not mapped.conflicts.is_empty():
        errors = pl.concat([result.errors, mapped.conflicts]).sort("row", nulls_last=False, maintain_order=True)
        bad = replace(result, errors=errors)
        _quarantine(run, file, digest, bad.report_csv())
        report.problems.append(f"stock file quarantined with its error report, nothing sent: {bad.summary()}")
        return None
    report.notes.extend(file_notes(result))
    report.unmapped = mapped.unmapped.height
    unmapped = mapped.unmapped_note()
    if unmapped:
        report.notes.append(unmapped)

    baseline = run.ledger_task(load_inventory_baseline)
    items = mapped.items
    total = int(items["quantity"].sum())
    verdict = check_guard(
        items=items.height, total_quantity=total, last=baseline.accepted, share=options.guard_share, force=force
    )
    report.guard = verdict.text
    mode = FeedMode(options.mode)
    build = plan_feed(
        mode,
        items,
        last=from_feed_items(baseline.levels),
        pending=from_feed_items(baseline.pending),
        chunk_size=options.delta_chunk_size,
    )
    changes = build.changes
    report.new, report.up, report.down = changes.new, changes.up, changes.down
    report.gone, report.unchanged = changes.gone, changes.unchanged
    plan = FeedPlan(
        mode=mode,
        warehouse_id=run.warehouse.ship_from_party_id,
        held=verdict.held,
        forced=verdict.forced,
        items=items.height,
        total_quantity=total,
        sent_items=build.sent_items,
        zeros=build.zeros,
        chunks=build.chunks,
        detail=verdict.text,
    )
    stock = EMPTY_FEED_ITEMS if verdict.held else to_feed_items(build.items)
    feed: InventoryFeed = run.ledger_task(record_inventory_feed, file.name, digest, plan, stock)
    if feed.state is FeedState.HELD:
        _describe(report, feed)
        report.problems.append(
            f"feed {verdict.text}. Nothing was sent and {file.name} stays in the {FOLDER} folder. Check the file; "
            f"to send it anyway run: vdf run inventory --account {run.account.name} "
            f"--warehouse {run.warehouse.name} --force"
        )
        return None
    if build.chunks == 0:
        report.notes.append("nothing changed since the last feed: nothing to send")
    return feed


def _sku_map(run: InventoryRun) -> pl.DataFrame | None:
    path = run.warehouse.inventory.sku_map
    if path is None:
        return None
    key = f"warehouse {run.warehouse.name} inventory.sku_map"
    result = validate_sku_map(run.task(read_local_file, path, key), run.warehouse.files, file_name=path.name)
    if not blocking_errors(result).is_empty():
        raise sku_map_error(result, str(path))
    return to_sku_map(result.valid)


def _send(run: InventoryRun, feed: InventoryFeed) -> InventoryFeed:
    """Send each pending request once: claimed in the ledger first, its transaction id recorded after."""
    report = run.report
    count = len(feed.chunk_states)
    for chunk, state in enumerate(feed.chunk_states):
        where = f"feed {feed.feed_id} request {chunk + 1} of {count}"
        if state is ChunkState.SENDING:
            # Claimed by a run that died before recording Amazon's answer: it may have been applied.
            feed = run.task(
                mark_inventory_chunk, run.ledger, feed.feed_id, chunk, ChunkState.UNKNOWN, None,
                "its run stopped before Amazon's answer was recorded",
            )
            report.problems.append(
                f"{where} may or may not have reached Amazon (its run stopped while it was in flight); it is not sent "
                "again. The next stock file brings Amazon up to date"
            )
            continue
        if state is not ChunkState.PENDING or not run.task(claim_inventory_chunk, run.ledger, feed.feed_id, chunk):
            continue
        items = run.task(load_inventory_chunk, run.ledger, feed.feed_id, chunk)
        update = build_update(
            items,
            selling_party_id=run.account.selling_party_id,
            warehouse_id=feed.warehouse_id,
            full=feed.mode is FeedMode.FULL,
        )
        try:
            transaction_id = run.task(submit_inventory_update, run.api, update)
        except OutcomeUnknownError as exc:
            feed = run.task(mark_inventory_chunk, run.ledger, feed.feed_id, chunk, ChunkState.UNKNOWN, None, str(exc))
            report.problems.append(f"{where} has an unknown outcome, so it is not sent again: {exc}")
            continue
        except RequestRefusedError as exc:
            feed = run.task(mark_inventory_chunk, run.ledger, feed.feed_id, chunk, ChunkState.REFUSED, None, str(exc))
            hint = ""
            if exc.status == 413:
                hint = (
                    " The request is larger than Amazon accepts: set inventory.mode: delta for this warehouse"
                    if feed.mode is FeedMode.FULL
                    else " Lower inventory.delta_chunk_size for this warehouse"
                )
            report.problems.append(f"Amazon refused {where} ({len(items):,} items; nothing applied): {exc}.{hint}")
            continue
        except IntegrationError:
            # Amazon provably did not apply it (throttled, 5xx, refused credentials): the next run sends it.
            run.task(mark_inventory_chunk, run.ledger, feed.feed_id, chunk, ChunkState.PENDING)
            raise
        feed = run.task(mark_inventory_chunk, run.ledger, feed.feed_id, chunk, ChunkState.SENT, transaction_id)
    return feed


def _describe(report: InventoryReport, feed: InventoryFeed) -> None:
    report.feed = f"{feed.feed_id} {feed.state}" + (" (forced)" if feed.forced else "")
    report.skus, report.sent, report.zeros = feed.items, feed.sent_items, feed.zeros
    report.transactions = list(feed.transaction_ids)
    if not report.guard and feed.detail:
        report.guard = feed.detail


# The ledger is told where a file goes before it is moved: a run that dies in between finds the file still in
# the folder and moves it again, while a move first would leave the ledger saying `received` for good.


def _archive(run: InventoryRun, file: RemoteFile, digest: str, detail: str) -> None:
    run.ledger_task(mark_file, file.name, digest, FileOutcome.ARCHIVED, detail)
    run.task(archive_file, run.drop, FOLDER, file.name)


def _quarantine(run: InventoryRun, file: RemoteFile, digest: str, report_csv: bytes) -> None:
    report_name = f"{file.name}.errors.csv"
    run.ledger_task(mark_file, file.name, digest, FileOutcome.QUARANTINED, report_name)
    run.task(quarantine_file, run.drop, FOLDER, file.name, report_name, report_csv)


# ---------------------------------------------------------------------------------------------- report


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "account"


def _publish_report(account: str, rows: list[dict[str, object]]) -> None:
    create_table_artifact(
        key=f"push-inventory-{_slug(account)}",
        table=rows,
        description=(
            f"push-inventory for account {account}: per warehouse the stock file, SKUs sent, zeros, changes against "
            "the last accepted feed (new, up, down, gone), the guard's verdict, the feed and its Amazon transactions"
        ),
    )
    logger = get_run_logger()
    for row in rows:
        logger.info(
            "warehouse %s (%s, %s): file %s, %s SKUs, %s sent, %s zeros, new %s up %s down %s gone %s; "
            "guard %s; feed %s",
            row["warehouse"],
            row["amazon_warehouse"],
            row["mode"],
            row["file"] or "-",
            row["skus"],
            row["sent"],
            row["zeros"],
            row["new"],
            row["up"],
            row["down"],
            row["gone"],
            row["guard"] or "-",
            row["feed"] or "-",
        )
