"""Flow-run names from the time a run was scheduled for (not when a busy worker got to it), without PII."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect.runtime import flow_run


def scheduled_stamp() -> str:
    """The run's scheduled start (UTC, to the second); for a run started by hand, its creation time."""
    when = flow_run.scheduled_start_time
    stamp = when.astimezone(UTC) if isinstance(when, datetime) else datetime.now(UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%SZ}"


def run_name(kind: str, account: str | None = None, warehouse: str | None = None) -> str:
    """`<kind>-<account>[/<warehouse>]-<scheduled time>`: readable in the UI, the same shape for every flow."""
    scope = f"{account}/{warehouse}" if account and warehouse else (account or "all-accounts")
    return f"{kind}-{scope}-{scheduled_stamp()}"
