"""The composition root: the one place where settings and secrets become adapters."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import yaml

from tasks.core.config import Account, LocalDrop, SecretRef, Settings, SftpDrop, Warehouse, parse_config
from tasks.core.errors import ConfigError
from tasks.core.ports import Ledger, VendorApi, WarehouseDrop
from tasks.core.redaction import RedactingFilter, redacting_factory, remember_secret

DEFAULT_CONFIG_PATH = "vdf.yaml"
CONFIG_ENV_VAR = "VDF_CONFIG"


# ------------------------------------------------------------------------------------------------ configuration


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The configuration path: explicit, else $VDF_CONFIG, else ./vdf.yaml."""
    return Path(explicit or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the YAML configuration file."""
    target = config_path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file {target} not found; create it or pass --config / set {CONFIG_ENV_VAR}"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{target}: not valid YAML: {exc}") from None
    return parse_config(data, str(target))


def resolve_secret(ref: SecretRef) -> str:
    """Read a secret now (never at import or load time): an environment variable or a Prefect Secret block.

    The value is remembered by the log redactor: should any library log it, the line shows [redacted].
    """
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise ConfigError(f"environment variable {ref.env} is not set (needed for a secret)")
        remember_secret(value)
        return value
    from prefect.blocks.system import Secret  # only when a block is really used

    block_name = str(ref.prefect_secret)
    try:
        block = cast(Secret[str], Secret.load(block_name))  # sync here: Prefect's dual sync/async API
        value = str(block.get())
    except Exception as exc:  # Prefect raises ValueError or an HTTP error; both mean "not usable"
        raise ConfigError(
            f"Prefect Secret block {ref.prefect_secret!r} could not be loaded: {type(exc).__name__}"
        ) from exc
    remember_secret(value)
    return value


def install_log_redaction() -> None:
    """Redact secrets and personal data from every log record this process makes (idempotent).

    As the record factory, so records are redacted as they are made, whatever handler (Prefect's API and
    console handlers, pytest's, a user's) is added later; and as a filter on the root's and Prefect's handlers
    for records made elsewhere (`logging.makeLogRecord`). A libpq password in the environment is a secret too.
    """
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "vdf_redacting", False):
        logging.setLogRecordFactory(redacting_factory(factory))
    remember_secret(os.environ.get("PGPASSWORD"))
    names = [name for name in list(logging.root.manager.loggerDict) if name.split(".")[0] == "prefect"]
    for logger in [logging.getLogger(), *(logging.getLogger(name) for name in names)]:
        for handler in logger.handlers:
            if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
                handler.addFilter(RedactingFilter())


# ------------------------------------------------------------------------------------------------ adapters


def vendor_api_for(account: Account, **options: Any) -> VendorApi:
    """The Amazon adapter for a configured account, its secrets resolved now."""
    from adapters.amazon import AmazonAccess, SpApiVendorApi

    credentials = account.credentials
    access = AmazonAccess(
        region=account.region,
        selling_party_id=account.selling_party_id,
        client_id=resolve_secret(credentials.client_id),
        client_secret=resolve_secret(credentials.client_secret),
        refresh_token=resolve_secret(credentials.refresh_token),
        endpoint=account.endpoint,
        token_url=account.token_url,
    )
    return SpApiVendorApi(access, **options)


def amazon_endpoint(account: Account) -> str:
    """The SP-API base URL an account's requests go to (for messages that name what could not be reached)."""
    return account.endpoint or f"https://sellingpartnerapi-{account.region}.amazon.com"


def probe_vendor_api(account: Account) -> VendorApi:
    """An Amazon client that tries each request once (no retries, no retry logs): for `check-config --connect`."""
    from adapters.amazon.pacing import RetryPolicy

    return vendor_api_for(account, retry=RetryPolicy(max_attempts=1))


def drop_for(config: LocalDrop | SftpDrop, *, settle_seconds: float | None = None) -> WarehouseDrop:
    """The drop a warehouse's configuration describes, its secrets resolved now.

    SFTP folders are relative to the login directory; write them as absolute paths when the server has no chroot.
    """
    from adapters.warehouse import LocalWarehouseDrop, SftpWarehouseDrop, load_private_key

    settle = config.settle_seconds if settle_seconds is None else settle_seconds
    if isinstance(config, LocalDrop):
        return LocalWarehouseDrop(config.path, config.folders, settle_seconds=settle)
    pkey = None
    if config.private_key is not None or config.private_key_path is not None:
        pkey = load_private_key(
            text=resolve_secret(config.private_key) if config.private_key is not None else None,
            path=config.private_key_path,
            passphrase=resolve_secret(config.private_key_passphrase) if config.private_key_passphrase else None,
        )
    return SftpWarehouseDrop(
        config.host,
        config.port,
        config.username,
        password=resolve_secret(config.password) if config.password is not None else None,
        pkey=pkey,
        known_hosts=config.known_hosts,
        host_key_fingerprint=config.host_key_fingerprint,
        timeout=config.timeout_seconds,
        folders=config.folders,
        base_path=config.base_path,
        settle_seconds=settle,
    )


def ledger_for(url: str, *, migrate: bool = True) -> Ledger:
    """The SQL ledger at a URL, its schema brought up to date first unless told otherwise."""
    from adapters.ledger import SqlLedger

    ledger = SqlLedger(url)
    if migrate:
        ledger.migrate()
    return ledger


def migrate_ledger(url: str) -> None:
    """Create or upgrade the ledger schema at a URL."""
    from adapters.ledger import migrate

    migrate(url)


def _default_vendor_api(account: Account) -> VendorApi:
    return vendor_api_for(account)


def _default_drop(warehouse: Warehouse) -> WarehouseDrop:
    return drop_for(warehouse.drop)


def _default_ledger(settings: Settings) -> Ledger:
    return ledger_for(settings.ledger_url)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------------------ runtime


@dataclass
class Runtime:
    """Settings plus the adapters built from them, created lazily and reused for one process.

    The factories are the seams: tests and the demo pass their own (fakes, embedded servers).
    """

    settings: Settings
    vendor_api_factory: Callable[[Account], VendorApi] = _default_vendor_api
    drop_factory: Callable[[Warehouse], WarehouseDrop] = _default_drop
    ledger_factory: Callable[[Settings], Ledger] = _default_ledger
    clock: Callable[[], datetime] = _utcnow  # what time flows that reason about ages (retention) take as now
    _ledger: Ledger | None = field(default=None, init=False, repr=False)
    _apis: dict[str, VendorApi] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        install_log_redaction()  # wherever flows run (CLI, worker, serve, tests), their logs are redacted

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
                api.close()
            self._apis.clear()
            if self._ledger is not None:
                self._ledger.close()
            self._ledger = None

    @contextmanager
    def drop(self, warehouse: Warehouse) -> Iterator[WarehouseDrop]:
        """A warehouse drop for the length of one step; its connection is closed afterwards."""
        drop = self.drop_factory(warehouse)
        try:
            yield drop
        finally:
            drop.close()


_override: Runtime | None = None
_cache: dict[Path, Runtime] = {}


def get_runtime(config: str | None = None) -> Runtime:
    """The runtime for this process: an installed override (tests, demo) or one built from the config file."""
    if _override is not None:
        return _override
    path = config_path(config).resolve()
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
