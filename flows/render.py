"""What the CLI shows a person: rich renderings of results from the core (the core itself never renders)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

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
