"""The warehouse drop: a local folder or an SFTP server (paramiko), both implementing the WarehouseDrop port."""

from adapters.warehouse.local import LocalWarehouseDrop
from adapters.warehouse.sftp import SftpWarehouseDrop, load_private_key

__all__ = ["LocalWarehouseDrop", "SftpWarehouseDrop", "load_private_key"]
