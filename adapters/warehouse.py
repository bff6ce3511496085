"""The warehouse drop: where order files go and shipment / stock files come from (SFTP or a local folder)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from tasks.config import LocalDrop, SftpDrop
from tasks.errors import ConfigError

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
        """Write data under name atomically (temporary name, then rename); a retry replaces, never duplicates.

        Temporary files an earlier, killed upload of the same name left in the folder are removed first.
        """
        ...

    def list_new(self, folder: Folder, patterns: Sequence[str] = ("*",)) -> list[RemoteFile]:
        """Complete files in an inbound folder matching the patterns, oldest first (partial ones are left)."""
        ...

    def exists(self, folder: Folder, name: str) -> bool:
        """Tell whether a complete file of that name is in the folder."""
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

    def remove_stale_parts(self, folder: Folder, older_than_seconds: float = 3600) -> list[str]:
        """Delete temporary `*.part-*` files older than the given age from the folder; returns their names."""
        ...

    def close(self) -> None:
        """Release the connection, if any."""
        ...


def drop_for(config: LocalDrop | SftpDrop, *, settle_seconds: float | None = None) -> WarehouseDrop:
    """Build the drop a warehouse's configuration describes, reading its secrets now.

    SFTP folders are relative to the login directory; write them as absolute paths when the server has no chroot.
    """
    # Imported here: the implementations import this module's types.
    from adapters.warehouse_local import LocalWarehouseDrop
    from adapters.warehouse_sftp import SftpWarehouseDrop, load_private_key

    settle = config.settle_seconds if settle_seconds is None else settle_seconds
    if isinstance(config, LocalDrop):
        return LocalWarehouseDrop(config.path, config.folders, settle_seconds=settle)
    if config.private_key is not None and config.private_key_path is not None:
        raise ConfigError("drop: give private_key or private_key_path, not both")
    pkey = None
    if config.private_key is not None or config.private_key_path is not None:
        pkey = load_private_key(
            text=config.private_key.resolve() if config.private_key is not None else None,
            path=config.private_key_path,
            passphrase=config.private_key_passphrase.resolve() if config.private_key_passphrase else None,
        )
    return SftpWarehouseDrop(
        config.host,
        config.port,
        config.username,
        password=config.password.resolve() if config.password is not None else None,
        pkey=pkey,
        known_hosts=config.known_hosts,
        host_key_fingerprint=config.host_key_fingerprint,
        timeout=config.timeout_seconds,
        folders=config.folders,
        base_path=config.base_path,
        settle_seconds=settle,
    )
