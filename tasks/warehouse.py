"""Prefect tasks that each make one warehouse-drop operation."""

from __future__ import annotations

from tasks.core.ports import Folder, WarehouseDrop
from tasks.prefect_support import side_effect_task


@side_effect_task(name="upload-file", task_run_name="upload-{folder}-{name}")
def upload_file(drop: WarehouseDrop, folder: Folder, name: str, data: bytes) -> None:
    """Upload one file atomically to the warehouse drop."""
    drop.upload(folder, name, data)
