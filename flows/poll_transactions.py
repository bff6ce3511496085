"""Flow poll-transactions: ask Amazon how every outstanding transaction ended and record it."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows.runtime import get_runtime
from tasks.amazon import fetch_transaction_status
from tasks.core.errors import IntegrationError
from tasks.core.models import TransactionState
from tasks.ledger import load_pending_transactions, record_transaction_status


def _run_name() -> str:
    return f"transactions-{datetime.now(UTC):%Y-%m-%dT%H:%MZ}"


@flow(name="poll-transactions", flow_run_name=_run_name)
def poll_transactions(account: str | None = None, config: str | None = None) -> dict[str, int]:
    """Record the outcome of every Amazon transaction still Processing; fail the run if any ended in Failure."""
    runtime = get_runtime(config)
    ledger = runtime.ledger
    accounts = [runtime.settings.account(account)] if account else list(runtime.settings.accounts)
    counts = {"Processing": 0, "Success": 0, "Failure": 0, "unreachable": 0}
    failures: list[dict[str, str]] = []
    for acct in accounts:
        api = runtime.vendor_api(acct)
        for txn in load_pending_transactions(ledger, acct.name):
            try:
                status = fetch_transaction_status(api, txn.transaction_id)
            except IntegrationError as exc:  # one unreadable transaction must not hide the others
                counts["unreachable"] += 1
                get_run_logger().warning("transaction %s: %s", txn.transaction_id, exc)
                continue
            record_transaction_status(ledger, status)
            counts[str(status.status)] += 1
            if status.status is TransactionState.FAILURE:
                failures.append(
                    {
                        "account": acct.name,
                        "kind": str(txn.kind),
                        "transaction": txn.transaction_id,
                        "subjects": ", ".join(txn.subjects[:10]),
                        "errors": "; ".join(f"{e.code}: {e.message}" for e in status.errors),
                    }
                )
    create_table_artifact(
        key="poll-transactions",
        table=[{"outcome": k, "transactions": v} for k, v in counts.items()] + failures,
        description="Amazon transactions polled in this run; Failure rows name the orders concerned",
    )
    if failures:
        raise RuntimeError(
            f"{len(failures)} Amazon transaction(s) ended in Failure: "
            + "; ".join(f"{f['transaction']} ({f['errors']})" for f in failures[:5])
        )
    return counts
