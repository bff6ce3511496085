"""Prefect tasks that each make one warehouse-drop operation."""

from __future__ import annotations

from tasks.core.ports import Folder, RemoteFile, WarehouseDrop
from tasks.prefect_support import side_effect_task


@side_effect_task(name="upload-file", task_run_name="upload-{folder}-{name}")
def upload_file(drop: WarehouseDrop, folder: Folder, name: str, data: bytes) -> None:
    """Upload one file atomically to the warehouse drop."""
    drop.upload(folder, name, data)


@side_effect_task(name="list-files", task_run_name="list-{folder}")
def list_files(drop: WarehouseDrop, folder: Folder) -> list[RemoteFile]:
    """List every file in one folder of the warehouse drop, with its age."""
    return drop.list_files(folder)


@side_effect_task(name="delete-file", task_run_name="delete-{folder}-{name}")
def delete_file(drop: WarehouseDrop, folder: Folder, name: str) -> None:
    """Delete one file from the warehouse drop (already gone, as after a retried delete, is done too)."""
    drop.delete(folder, name)
