"""Prefect tasks that each make one warehouse-drop operation."""

from __future__ import annotations

from collections.abc import Sequence

from tasks.core.ports import Folder, RemoteFile, WarehouseDrop
from tasks.prefect_support import side_effect_task


@side_effect_task(name="upload-file", task_run_name="upload-{folder}-{name}")
def upload_file(drop: WarehouseDrop, folder: Folder, name: str, data: bytes) -> None:
    """Upload one file atomically to the warehouse drop."""
    drop.upload(folder, name, data)


@side_effect_task(name="list-files", task_run_name="list-{folder}")
def list_files(drop: WarehouseDrop, folder: Folder, patterns: Sequence[str]) -> list[RemoteFile]:
    """List the complete files waiting in an inbound folder, oldest first (files still being written are left)."""
    return drop.list_new(folder, patterns)


@side_effect_task(name="download-file", task_run_name="download-{folder}-{name}")
def download_file(drop: WarehouseDrop, folder: Folder, name: str) -> bytes:
    """Download one file from the warehouse drop."""
    return drop.download(folder, name)


@side_effect_task(name="archive-file", task_run_name="archive-{folder}-{name}")
def archive_file(drop: WarehouseDrop, folder: Folder, name: str) -> str:
    """Move a processed file to the archive folder; returns its new name."""
    return drop.archive(folder, name)


@side_effect_task(name="quarantine-file", task_run_name="quarantine-{folder}-{name}")
def quarantine_file(drop: WarehouseDrop, folder: Folder, name: str, report_name: str, report: bytes) -> str:
    """Move a file with problems to the error folder with its report beside it; returns its new name."""
    return drop.quarantine(folder, name, report_name, report)
