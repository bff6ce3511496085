"""What the CLI shows a person: rich renderings of results from the core (the core itself never renders)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tasks.core.config import FileOptions
from tasks.core.errors import DataError
from tasks.core.text import visible
from tasks.core.validation import ValidationResult, validate_data


def validate_file(
    path: Path, kind: Literal["shipments", "stock"], options: FileOptions, *, now: datetime | None = None
) -> ValidationResult:
    """Validate a file on this machine, as `vdf validate` does."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or type(exc).__name__}", subject=str(path)) from exc
    return validate_data(data, kind, options, file_name=path.name, now=now)


def plain(value: object, style: str = "") -> Text:
    """Text shown exactly as it is: never read as console markup (`[n/a]`, `[/x]`) nor emoji codes (`:x:`)."""
    return Text(str(value), style=style)


def render_report(result: ValidationResult, *, limit: int = 50) -> RenderableType:
    """A terminal view: the summary, then a table of the first problems.

    Everything shown comes from the file (values, headers, its name) and goes through `plain`: file content is
    never console markup.
    """
    style = "green" if result.ok else "red"
    summary = plain(result.summary(), style)
    if result.ok:
        return summary
    table = Table("line", "column", "value", "reason", title=plain(f"problems in {visible(result.file_name)}"))
    for row, column, value, reason in result.errors.head(limit).iter_rows():
        table.add_row(plain("" if row is None else row), plain(column or ""), plain(value or ""), plain(reason))
    parts: list[RenderableType] = [summary, table]
    if result.errors.height > limit:
        parts.append(plain(f"… {result.errors.height - limit} more; see the full report with --report", "dim"))
    return Group(*parts)


def render_health(health: Any) -> RenderableType:
    """`vdf status`: one table per account (a row per warehouse and flow), then what needs a person."""
    parts: list[RenderableType] = [Text(f"checked {health.checked_at}; run history: {health.prefect}", style="dim")]
    for account in health.accounts:
        table = Table(title=f"account {account.account}", title_justify="left")
        for column in ("warehouse", "watermark (age)", "orders by state", "flow", "last run", "last success"):
            table.add_column(column)
        for wh in account.warehouses:
            orders = ", ".join(f"{state} {n}" for state, n in wh.orders.items()) or "none"
            mark = f"{wh.watermark} ({wh.watermark_age})" if wh.watermark_age else wh.watermark
            flows = wh.flows or []
            for index, flow in enumerate(flows or [None]):
                first = index == 0
                table.add_row(
                    f"{wh.warehouse} ({wh.ship_from})" if first else "",
                    mark if first else "",
                    orders if first else "",
                    flow.kind if flow else "",
                    (flow.last_run or ("(ledger only)" if flow.source == "ledger" else "never")) if flow else "",
                    flow.last_success if flow else "",
                )
        parts.append(table)
        details: list[str] = []
        for wh in account.warehouses:
            risk = (
                "unknown (the ledger keeps no required ship date yet)"
                if wh.late_shipment_risk is None
                else (", ".join(wh.late_shipment_risk[:10]) or "none")
            )
            details.append(f"{wh.warehouse}: late-shipment risk: {risk}")
            details += [f"{wh.warehouse}: held order {line}" for line in wh.held_orders[:20]]
            details += [f"{wh.warehouse}: held feed {line}" for line in wh.held_feeds[:20]]
            details += [f"{wh.warehouse}: quarantined {line}" for line in wh.quarantined_files[:20]]
        details += [f"stuck transaction {line}" for line in account.stuck_transactions[:20]]
        details += [f"failed transaction {line}" for line in account.failed_transactions[:20]]
        parts.extend(Text(line) for line in details)
        attention = account.attention + [f"{w.warehouse}: {a}" for w in account.warehouses for a in w.attention]
        if attention:
            parts.append(Text(f"account {account.account} needs a person:", style="bold red"))
            parts.extend(Text(f"  - {line}", style="red") for line in attention)
        else:
            parts.append(Text(f"account {account.account}: nothing needs a person", style="green"))
    return Group(*parts)
