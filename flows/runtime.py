"""The composition root: the one place where settings become adapters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from adapters.amazon import VendorApi
from adapters.ledger import Ledger
from adapters.warehouse import WarehouseDrop
from tasks.config import Account, Settings, Warehouse, load_config


def _default_vendor_api(account: Account) -> VendorApi:
    from adapters.amazon import vendor_api_for

    return vendor_api_for(account)


def _default_drop(account: Account, warehouse: Warehouse) -> WarehouseDrop:
    from adapters.warehouse import drop_for

    return drop_for(warehouse.drop)


def _default_ledger(settings: Settings) -> Ledger:
    from adapters.ledger import SqlLedger

    ledger = SqlLedger(settings.ledger_url)
    ledger.migrate()
    return ledger


@dataclass
class Runtime:
    """Settings plus the adapters built from them, created lazily and reused for one process."""

    settings: Settings
    vendor_api_factory: Callable[[Account], VendorApi] = _default_vendor_api
    drop_factory: Callable[[Account, Warehouse], WarehouseDrop] = _default_drop
    ledger_factory: Callable[[Settings], Ledger] = _default_ledger
    _ledger: Ledger | None = None
    _apis: dict[str, VendorApi] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = self.ledger_factory(self.settings)
            return self._ledger

    def vendor_api(self, account: Account) -> VendorApi:
        with self._lock:
            if account.name not in self._apis:
                self._apis[account.name] = self.vendor_api_factory(account)
            return self._apis[account.name]

    def close(self) -> None:
        """Close every client this runtime opened."""
        with self._lock:
            for api in self._apis.values():
                closer = getattr(api, "close", None)
                if closer is not None:
                    closer()
            self._apis.clear()
            closer = getattr(self._ledger, "close", None)
            if closer is not None:
                closer()
            self._ledger = None

    @contextmanager
    def drop(self, account: Account, warehouse: Warehouse) -> Iterator[WarehouseDrop]:
        """A warehouse drop for the length of one step; its connection is closed afterwards."""
        drop = self.drop_factory(account, warehouse)
        try:
            yield drop
        finally:
            drop.close()


_override: Runtime | None = None
_cache: dict[Path, Runtime] = {}


def get_runtime(config_path: str | None = None) -> Runtime:
    """The runtime for this process: an installed override (tests, demo) or one built from the config file."""
    if _override is not None:
        return _override
    from tasks.config import config_path as resolve_path

    path = resolve_path(config_path).resolve()
    if path not in _cache:
        _cache[path] = Runtime(load_config(path))
    return _cache[path]


def close_runtimes() -> None:
    """Close every runtime built from a configuration file in this process (end of a CLI command)."""
    while _cache:
        _, runtime = _cache.popitem()
        runtime.close()


@contextmanager
def use_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Make flows in this process use the given runtime (fakes in tests, the demo's embedded servers)."""
    global _override
    previous, _override = _override, runtime
    try:
        yield runtime
    finally:
        _override = previous
