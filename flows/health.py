"""`vdf status`: per account and warehouse, what ran, what is behind, and what needs a person (a health check)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.deployments import kinds
from tasks.core.config import Account, Settings
from tasks.core.health import ATTENTION_DAYS, download_overdue, late_shipment_risk
from tasks.core.models import FeedState, FileOutcome, OrderState, TransactionState
from tasks.core.ports import Ledger
from tasks.core.transactions import age_text, failed_subjects, stuck_transactions

HeldFeeds = Callable[[Ledger, str, str], Iterable[str]]


def _held_feeds(ledger: Ledger, account: str, warehouse: str) -> list[str]:
    """Inventory feeds the guard held, each as `file: why`, newest first."""
    held = ledger.load_inventory_feeds(account, warehouse, states=[FeedState.HELD])
    return [f"{feed.file}: {feed.detail or 'held'}" for feed in held]


held_feeds_source: HeldFeeds | None = _held_feeds


@dataclass
class FlowHealth:
    kind: str
    last_run: str = ""  # "name: State at time"
    last_state: str = ""
    last_success: str = ""
    source: str = "prefect"


@dataclass
class WarehouseHealth:
    account: str
    warehouse: str
    ship_from: str
    watermark: str = "never run"
    watermark_age: str = ""
    orders: dict[str, int] = field(default_factory=dict)
    held_orders: list[str] = field(default_factory=list)  # "PO: reason"
    held_feeds: list[str] = field(default_factory=list)
    late_shipment_risk: list[str] | None = None  # None: the ledger has no required ship dates yet
    quarantined_files: list[str] = field(default_factory=list)
    flows: list[FlowHealth] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)


@dataclass
class AccountHealth:
    account: str
    warehouses: list[WarehouseHealth] = field(default_factory=list)
    stuck_transactions: list[str] = field(default_factory=list)
    failed_transactions: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)

    def needs_a_person(self) -> bool:
        return bool(self.attention or any(w.attention for w in self.warehouses))


@dataclass
class Health:
    checked_at: str
    prefect: str  # where run history came from
    accounts: list[AccountHealth]

    def needs_a_person(self) -> bool:
        return any(a.needs_a_person() for a in self.accounts)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": not self.needs_a_person()}


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}" if value else ""


class _RunHistory:
    """Last run and last success per (account, warehouse, kind), read from the Prefect API when it is reachable."""

    def __init__(self) -> None:
        self.client: Any = None
        self.source = "none: PREFECT_API_URL is not set (run history comes from a Prefect server)"
        if not os.environ.get("PREFECT_API_URL"):
            return
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        url = os.environ["PREFECT_API_URL"]
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}):  # Prefect may have read its settings before
                client = get_client(sync_client=True)
            client.__enter__()
            problem = client.api_healthcheck()  # returns the exception rather than raising it
            if problem is not None:
                client.__exit__(None, None, None)
                raise problem
            self.client = client
            self.source = f"prefect at {url}"
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable": fall back to the ledger
            self.source = f"ledger only: the Prefect API at {url} is not reachable ({type(exc).__name__})"

    def close(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)

    def flow(self, kind: str, account: str, warehouse: str) -> FlowHealth:
        if self.client is None:
            return FlowHealth(kind, source="ledger")
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
            FlowRunFilterTags,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        tags = FlowRunFilterTags(all_=[f"flow:{kind}", f"account:{account}", f"warehouse:{warehouse}"])
        finished = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED, StateType.RUNNING]

        def last(types: list[StateType]) -> Any:
            runs = self.client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=tags, state=FlowRunFilterState(type=FlowRunFilterStateType(any_=types))
                ),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            return runs[0] if runs else None

        health = FlowHealth(kind)
        run = last(finished)
        if run is not None:
            state = run.state.name if run.state else "?"
            health.last_state = state
            health.last_run = f"{run.name}: {state} at {_when(run.end_time or run.start_time)}"
            if run.state and run.state.type in (StateType.FAILED, StateType.CRASHED):
                health.last_run += f" ({(run.state.message or '')[:300]})"
        ok = last([StateType.COMPLETED])
        if ok is not None:
            health.last_success = f"{ok.name} at {_when(ok.end_time)}"
        return health


def gather_health(
    settings: Settings, ledger: Ledger, *, account: str | None = None, now: datetime | None = None
) -> Health:
    """Read the ledger (and Prefect's run history when reachable) into a health report."""
    now = now or datetime.now(UTC)
    history = _RunHistory()
    try:
        accounts = [settings.account(account)] if account else list(settings.accounts)
        report = [_account_health(settings, ledger, history, acct, now) for acct in accounts]
    finally:
        history.close()
    return Health(checked_at=_when(now), prefect=history.source, accounts=report)


def _account_health(
    settings: Settings, ledger: Ledger, history: _RunHistory, account: Account, now: datetime
) -> AccountHealth:
    result = AccountHealth(account.name)
    by_warehouse = ledger.count_orders_by_warehouse(account.name)
    recent = now - timedelta(days=ATTENTION_DAYS)
    files = ledger.load_files(account.name)
    for warehouse in account.warehouses:
        wh = WarehouseHealth(account.name, warehouse.name, warehouse.ship_from_party_id)
        counts = by_warehouse.get(warehouse.ship_from_party_id, {})
        wh.orders = {str(state): n for state, n in counts.items() if n}
        watermark = ledger.load_watermark(account.name, warehouse.ship_from_party_id)
        if watermark is not None:
            wh.watermark = _when(watermark)
            wh.watermark_age = age_text(now - watermark)
            overdue = download_overdue(watermark, account.orders, now=now)
            if overdue is not None:
                wh.attention.append(
                    f"orders are downloaded only up to {age_text(overdue)} ago: download-orders is not keeping up"
                )
        held = ledger.load_orders(account.name, [OrderState.HELD], ship_from_party_id=warehouse.ship_from_party_id)
        wh.held_orders = [f"{o.purchase_order_number}: {o.held_reason or 'no reason recorded'}" for o in held]
        if held:
            wh.attention.append(f"{len(held)} order(s) held for a person")
        if held_feeds_source is not None:
            wh.held_feeds = list(held_feeds_source(ledger, account.name, warehouse.name))
            if wh.held_feeds:
                wh.attention.append(f"{len(wh.held_feeds)} inventory feed(s) held")
        exported = ledger.load_orders(
            account.name, [OrderState.EXPORTED], ship_from_party_id=warehouse.ship_from_party_id
        )
        risk = late_shipment_risk(exported, now=now)
        if risk is not None:
            wh.late_shipment_risk = [f"{po}: ship by {_when(date)}" for po, date in risk]
            if risk:
                wh.attention.append(
                    f"{len(risk)} exported order(s) not confirmed within a day of their required ship date"
                )
        quarantined = [f for f in files if f.warehouse == warehouse.name and f.outcome is FileOutcome.QUARANTINED]
        wh.quarantined_files = [f"{f.kind}/{f.name}" + (f" ({f.detail})" if f.detail else "") for f in quarantined]
        if quarantined:
            wh.attention.append(f"{len(quarantined)} inbound file(s) quarantined: fix and drop them again")
        for kind in kinds():
            if kind.scope == "installation":
                continue
            flow = history.flow(kind.kind, account.name, warehouse.name)
            wh.flows.append(flow)
            if flow.last_state in ("Failed", "Crashed"):
                wh.attention.append(f"the last {kind.kind} run ended {flow.last_state}")
        result.warehouses.append(wh)
    transactions = ledger.load_transactions(account.name)
    stuck = stuck_transactions(transactions, now=now, after=timedelta(minutes=settings.transactions.stuck_minutes))
    result.stuck_transactions = [
        f"{t.transaction_id} ({t.kind}, {len(t.subjects)} subject(s)) Processing for {age_text(now - t.submitted_at)}"
        for t in stuck
        if t.submitted_at
    ]
    if stuck:
        result.attention.append(f"{len(stuck)} Amazon transaction(s) stuck in Processing")
    for txn in transactions:
        if txn.status is not TransactionState.FAILURE or (txn.updated_at and txn.updated_at < recent):
            continue
        orders, named = failed_subjects(txn.subjects, txn.errors)
        codes = "; ".join(f"{e.code}: {e.message}" for e in txn.errors) or "no error given"
        scope = "" if named else "all of "
        result.failed_transactions.append(
            f"{txn.transaction_id} ({txn.kind}) failed for {scope}{', '.join(orders[:20])}: {codes}"
        )
    if result.failed_transactions:
        result.attention.append(f"{len(result.failed_transactions)} Amazon transaction(s) ended in Failure recently")
    return result
