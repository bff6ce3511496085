"""Flow poll-transactions: ask Amazon how every outstanding transaction ended, record it, and report what is stuck.

The run fails (naming the endpoint, the transactions and what to do) when Amazon could not be reached, refused us,
does not know a transaction (404), or reported a Failure. A transaction still Processing after
`transactions.stuck_minutes` (Amazon: normally within 30 minutes) is reported as stuck: a warning in the run, a row
in the artifact, and one alert the first time. Retry budget: each getTransactionStatus is tried by the adapter for
at most 60 s (6 attempts, 20 s timeout each) and is not retried again by the task; the first unreachable answer
ends the account's polling, so a run spends at most ~80 s per account on an outage, inside the 5-minute schedule.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from flows.alerts import announce
from flows.naming import run_name
from flows.runtime import Runtime, amazon_endpoint, get_runtime
from tasks.amazon import fetch_transaction_status
from tasks.core.config import Account
from tasks.core.errors import IntegrationError, NotFoundError, PermanentError, TransientError
from tasks.core.models import TransactionState
from tasks.core.transactions import age_text, failed_subjects, stuck_transactions
from tasks.ledger import load_pending_transactions, mark_transactions_stuck, record_transaction_status

# the next scheduled run is the retry: no task-level retries on top of the adapter's own
fetch_status_once = fetch_transaction_status.with_options(retries=0)


@dataclass
class AccountPoll:
    """What one run learnt about one account's transactions: identifiers and counts, never PII."""

    account: str
    endpoint: str
    outcomes: Counter[str] = field(default_factory=Counter)
    rows: list[dict[str, str]] = field(default_factory=list)  # failures, unknown and stuck transactions
    problems: list[str] = field(default_factory=list)  # each fails the run
    newly_stuck: list[str] = field(default_factory=list)


def _run_name() -> str:
    return run_name("transactions", flow_run.parameters.get("account"))


@flow(name="poll-transactions", flow_run_name=_run_name)
def poll_transactions(account: str | None = None, config: str | None = None) -> list[dict[str, object]]:
    """Record how every Amazon transaction still Processing ended; fail on Failure, unknown or unreachable."""
    runtime = get_runtime(config)
    accounts = [runtime.settings.account(account)] if account else list(runtime.settings.accounts)
    now = datetime.now(UTC)
    after = timedelta(minutes=runtime.settings.transactions.stuck_minutes)
    polls = [_poll_account(runtime, acct, now=now, stuck_after=after) for acct in accounts]

    logger = get_run_logger()
    summary: list[dict[str, object]] = []
    for poll in polls:
        summary.append({"account": poll.account, **{s: poll.outcomes.get(s, 0) for s in _OUTCOMES}})
        logger.info("account %s: %s", poll.account, ", ".join(f"{k} {v}" for k, v in sorted(poll.outcomes.items())))
        if poll.newly_stuck:
            announce(
                "transaction-stuck",
                account=poll.account,
                warehouse=None,
                reason=(
                    f"Processing for more than {runtime.settings.transactions.stuck_minutes:g} minutes at Amazon; "
                    "check Vendor Central, then `vdf run transactions --account "
                    f"{poll.account}` again or settle them with `vdf run transactions --settle ID --outcome ...`"
                ),
                subjects=poll.newly_stuck,
            )
    counts = [
        _row(p.account, "(all)", "", " · ".join(f"{k} {p.outcomes.get(k, 0)}" for k in _OUTCOMES), "") for p in polls
    ]
    create_table_artifact(
        key="poll-transactions",
        table=counts + [row for poll in polls for row in poll.rows],
        description=(
            "Amazon transactions polled in this run per account; the rows below name each Failure (and the orders "
            "Amazon's errors name), each transaction Amazon does not know, and each one stuck in Processing"
        ),
    )
    problems = [f"account {p.account}: {problem}" for p in polls for problem in p.problems]
    if problems:
        raise IntegrationError(f"poll-transactions found {len(problems)} problem(s): " + " | ".join(problems))
    return summary


_OUTCOMES = ("Success", "Failure", "Processing", "stuck", "unknown", "not polled")


def _poll_account(runtime: Runtime, account: Account, *, now: datetime, stuck_after: timedelta) -> AccountPoll:
    poll = AccountPoll(account.name, amazon_endpoint(account))
    logger = get_run_logger()
    # gather
    pending = load_pending_transactions(runtime.ledger, account.name)
    if not pending:
        return poll
    api = runtime.vendor_api(account)
    decided: set[str] = set()
    # apply: one status request per transaction; the first unreachable answer ends this account's polling
    for index, txn in enumerate(pending):
        try:
            status = fetch_status_once(api, txn.transaction_id)
        except NotFoundError as exc:
            poll.outcomes["unknown"] += 1
            poll.rows.append(_row(account.name, txn.kind, txn.transaction_id, "unknown to Amazon (404)", str(exc)))
            poll.problems.append(
                f"Amazon at {poll.endpoint} does not know transaction {txn.transaction_id} ({txn.kind} of "
                f"{len(txn.subjects)} order(s)): getTransactionStatus answered 404. Look the orders up in Vendor "
                f"Central, then settle it: vdf run transactions --settle {txn.transaction_id} --outcome failure|success"
            )
            continue
        except TransientError as exc:
            left = len(pending) - index
            poll.outcomes["not polled"] += left
            poll.problems.append(
                f"Amazon at {poll.endpoint} could not be reached for getTransactionStatus ({exc}); {left} "
                "transaction(s) stay Processing and are polled again next run. Check the network and the account's "
                "endpoint (vdf check-config --connect)"
            )
            break
        except PermanentError as exc:
            left = len(pending) - index
            poll.outcomes["not polled"] += left
            poll.problems.append(
                f"Amazon at {poll.endpoint} refused getTransactionStatus ({exc}); {left} transaction(s) not polled. "
                "Check the account's credentials (vdf check-config --connect)"
            )
            break
        record_transaction_status(runtime.ledger, status)
        poll.outcomes[str(status.status)] += 1
        if status.status is TransactionState.PROCESSING:
            continue
        decided.add(txn.transaction_id)
        if status.status is TransactionState.FAILURE:
            orders, named = failed_subjects(txn.subjects, status.errors)
            errors = "; ".join(f"{e.code}: {e.message}" for e in status.errors) or "no error given"
            scope = "" if named else f"all {len(orders)} of "
            poll.rows.append(
                _row(account.name, txn.kind, txn.transaction_id, "Failure", errors, ", ".join(orders[:50]))
            )
            poll.problems.append(
                f"transaction {txn.transaction_id} ({txn.kind}) ended in Failure for {scope}order(s) "
                f"{', '.join(orders[:10])}{' …' if len(orders) > 10 else ''}: {errors}"
            )
    # report: transactions Amazon has kept Processing too long
    stuck = stuck_transactions([t for t in pending if t.transaction_id not in decided], now=now, after=stuck_after)
    for txn in stuck:
        age = age_text(now - txn.submitted_at) if txn.submitted_at else "?"
        poll.rows.append(
            _row(
                account.name, txn.kind, txn.transaction_id, f"stuck in Processing for {age}", "", _orders(txn.subjects)
            )
        )
        logger.warning("transaction %s (%s) has been Processing for %s", txn.transaction_id, txn.kind, age)
    poll.outcomes["stuck"] = len(stuck)
    if stuck:
        poll.newly_stuck = mark_transactions_stuck(runtime.ledger, [t.transaction_id for t in stuck])
    return poll


def _orders(subjects: tuple[str, ...]) -> str:
    return ", ".join(subjects[:50]) + (" …" if len(subjects) > 50 else "")


def _row(account: str, kind: str, transaction: str, outcome: str, errors: str, orders: str = "") -> dict[str, str]:
    return {
        "account": account,
        "kind": str(kind),
        "transaction": transaction,
        "outcome": outcome,
        "errors": errors,
        "orders": orders,
    }
