"""Retention: which files on a warehouse drop the purge removes: ours, and older than the retention, nothing else.

"Ours" is decided by the ledger, not by a name pattern a warehouse could also write: an order file we exported,
an inbound file we archived or quarantined (under its name, or the timestamped name a move gives it when the name
is taken), its error report, and the files the drops renamed because their own names were unsafe. A file is old
enough when both the ledger's time and the file's own modification time are older than the cutoff.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tasks.core.models import PlacedFile
from tasks.core.names import REPORT_SUFFIX, is_placed_as
from tasks.core.ports import Folder, RemoteFile

PURGED_FOLDERS: tuple[Folder, ...] = ("orders", "archive", "error")
_STAMPED = re.compile(r"^(?P<stem>.+)-\d{8}T\d{6}Z(?:-\d+)?(?P<ext>\.[^.]*)?$")
_RENAMED = re.compile(r"^renamed-[0-9a-f]{12}-[A-Za-z0-9._-]+$")  # tasks.core.names.safe_name_for


@dataclass(frozen=True)
class PurgePlan:
    """What the purge does in one folder of one drop."""

    folder: str
    delete: tuple[RemoteFile, ...]  # ours and old enough
    kept: int  # ours, still within the retention
    not_ours: int  # never placed by us: never touched


def cutoff(now: datetime, retention_days: int) -> datetime:
    """Files placed before this moment are past the retention."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now - timedelta(days=retention_days)


def plan_purge(
    folder: str, listing: Sequence[RemoteFile], placed: Sequence[PlacedFile], *, before: datetime
) -> PurgePlan:
    """Decide which listed files to delete: those we placed in this folder, placed and modified before `before`."""
    ours = {p.name: p for p in placed if p.folder == folder}
    modified = {f.name: datetime.fromtimestamp(f.mtime, UTC) for f in listing}
    delete: list[RemoteFile] = []
    kept = not_ours = 0
    for entry in listing:
        placed_at = _placed_at(entry.name, folder, ours, modified)
        if placed_at is None:
            not_ours += 1
        elif max(placed_at, modified[entry.name]) < before:
            delete.append(entry)
        else:
            kept += 1
    return PurgePlan(folder, tuple(delete), kept, not_ours)


def _placed_at(
    name: str, folder: str, ours: dict[str, PlacedFile], modified: dict[str, datetime]
) -> datetime | None:
    """When we placed the file of this name, or None when the ledger does not say we did."""
    if folder == "orders":
        found = ours.get(name)
        return found.placed_at if found is not None else None
    base = _unstamped(name)
    if folder == "error" and base.endswith(REPORT_SUFFIX):
        base = _unstamped(base.removesuffix(REPORT_SUFFIX))
        if _RENAMED.match(base):  # the report of a file a drop renamed: the two go together
            return max(modified.get(base, datetime.min.replace(tzinfo=UTC)), modified[name])
    for candidate in dict.fromkeys((name, base)):
        found = ours.get(candidate)
        if found is not None and (is_placed_as(name, found.name) or folder == "error"):
            return found.placed_at
    if folder == "error" and _RENAMED.match(base):
        report = f"{base}{REPORT_SUFFIX}"
        return max(modified[name], modified.get(report, modified[name]))
    return None


def _unstamped(name: str) -> str:
    """The name a move under a taken name started from (`x-20260301T100000Z-2.csv` -> `x.csv`)."""
    match = _STAMPED.match(name)
    return f"{match['stem']}{match['ext'] or ''}" if match else name
