"""The warehouse drop: where order files go and shipment / stock files come from (SFTP or a local folder)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Folder = Literal["orders", "shipments", "inventory", "archive", "error"]


@dataclass(frozen=True)
class RemoteFile:
    """A complete file waiting in an inbound folder."""

    folder: Folder
    name: str
    size: int
    mtime: float


class WarehouseDrop(Protocol):
    """File operations on one warehouse's drop; folders come from the configuration."""

    def upload(self, folder: Folder, name: str, data: bytes) -> None:
        """Write data under name atomically (temporary name, then rename); a retry replaces, never duplicates."""
        ...

    def list_new(self, folder: Folder, patterns: Sequence[str] = ("*",)) -> list[RemoteFile]:
        """Complete files in an inbound folder matching the patterns, oldest first (partial ones are left)."""
        ...

    def download(self, folder: Folder, name: str) -> bytes:
        """Read one file."""
        ...

    def archive(self, folder: Folder, name: str) -> str:
        """Move a processed file to the archive folder; returns its new name."""
        ...

    def quarantine(self, folder: Folder, name: str, report_name: str, report: bytes) -> str:
        """Move a bad file to the error folder with its report beside it; returns its new name."""
        ...

    def close(self) -> None:
        """Release the connection, if any."""
        ...
