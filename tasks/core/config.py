"""The configuration file (`vdf.yaml`): accounts, warehouses, drops, file options and schedules, validated."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.core.errors import ConfigError
from tasks.core.models import Region
from tasks.core.schedules import check_timezone, parse_schedule

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_RETENTION_DAYS = 30  # Amazon Data Protection Policy: PII kept at most 30 days after delivery
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*:[^/?#@]*@")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a Prefect Secret block, never the file itself.

    Written in YAML as `{env: NAME}`, `{prefect_secret: BLOCK}`, or the short forms `env:NAME` and
    `prefect-secret:BLOCK`.
    """

    env: str | None = None
    prefect_secret: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.startswith("env:"):
                return {"env": value[4:]}
            if value.startswith("prefect-secret:"):
                return {"prefect_secret": value[len("prefect-secret:") :]}
            raise ValueError(
                "literal secrets are not allowed in the configuration file; "
                "write env:VARIABLE_NAME or prefect-secret:BLOCK_NAME"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.prefect_secret is None):
            raise ValueError("give exactly one of env or prefect_secret")
        if self.env is not None and not _ENV_NAME.match(self.env):
            raise ValueError(f"{self.env!r} is not a valid environment variable name")
        return self

    def describe(self) -> str:
        return f"env:{self.env}" if self.env else f"prefect-secret:{self.prefect_secret}"


class AmazonCredentials(_Strict):
    client_id: SecretRef
    client_secret: SecretRef
    refresh_token: SecretRef


class Folders(_Strict):
    orders: str = "outbound/orders"
    shipments: str = "inbound/shipments"
    inventory: str = "inbound/inventory"
    archive: str = "archive"
    error: str = "error"
    labels: str = "outbound/labels"  # Amazon shipping labels, one file per package, and label manifests
    packing_slips: str = "outbound/packing-slips"  # Amazon packing slip PDFs, one per order
    cancellations: str = "outbound/cancellations"  # orders Amazon cancelled after they were exported
    packages: str = "inbound/packages"  # weighed packages the warehouse sends when labels wait for them


class LocalDrop(_Strict):
    kind: Literal["local"]
    path: Path
    settle_seconds: float = Field(2.0, ge=0)
    folders: Folders = Folders()


class SftpDrop(_Strict):
    kind: Literal["sftp"]
    host: str
    port: int = Field(22, ge=1, le=65535)
    username: str
    password: SecretRef | None = None
    private_key: SecretRef | None = None  # the key's text, from env or a Prefect Secret block
    private_key_path: Path | None = None
    private_key_passphrase: SecretRef | None = None
    known_hosts: Path | None = None  # an OpenSSH known_hosts file with the server's entry
    host_key_fingerprint: str | None = None  # "SHA256:..." as printed by ssh-keygen -lf
    timeout_seconds: float = Field(30.0, gt=0)
    base_path: str = ""  # folders are relative to this (default: the login directory or chroot)
    settle_seconds: float = Field(2.0, ge=0)  # a file whose size changes within this is still being written
    folders: Folders = Folders()

    @model_validator(mode="after")
    def _auth_and_host_key(self) -> SftpDrop:
        if not (self.password or self.private_key or self.private_key_path):
            raise ValueError("give password, private_key or private_key_path")
        if self.private_key is not None and self.private_key_path is not None:
            raise ValueError("give private_key or private_key_path, not both")
        if self.private_key_passphrase is not None and not (self.private_key or self.private_key_path):
            raise ValueError("private_key_passphrase needs private_key or private_key_path")
        if not (self.known_hosts or self.host_key_fingerprint):
            raise ValueError("give known_hosts or host_key_fingerprint: the server's host key is always verified")
        if self.known_hosts and self.host_key_fingerprint:
            raise ValueError("give known_hosts or host_key_fingerprint, not both")
        if self.host_key_fingerprint and not self.host_key_fingerprint.startswith("SHA256:"):
            raise ValueError("host_key_fingerprint must look like SHA256:... (ssh-keygen -lf)")
        return self


Drop = Annotated[LocalDrop | SftpDrop, Field(discriminator="kind")]


class FileOptions(_Strict):
    """Per-warehouse file layout: every 3PL has its own."""

    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    date_format: str = "%Y-%m-%d"
    datetime_format: str = "%Y-%m-%dT%H:%M:%SZ"
    # our column name -> the warehouse's header, per file kind
    columns: dict[
        Literal["orders", "shipments", "stock", "sku_map", "packages", "package_profile"], dict[str, str]
    ] = Field(default_factory=dict)
    # our column name -> other headers accepted for it on inbound files
    header_aliases: dict[str, list[str]] = Field(default_factory=dict)
    # dates further back than this are refused as implausible: a spreadsheet's empty date (1899-12-30), the Unix
    # epoch (1970-01-01) or a two-digit year read as year 26 are damage, not real ship dates
    oldest_date_days: int = Field(90, ge=1, le=3660)
    shipment_patterns: list[str] = Field(default_factory=lambda: ["*.csv"])
    stock_patterns: list[str] = Field(default_factory=lambda: ["*.csv"])
    package_patterns: list[str] = Field(default_factory=lambda: ["*.csv"])


class WarehouseSchedules(_Strict):
    shipments: str = "*/15 * * * *"
    inventory: str = "0 22 * * *"
    timezone: str = "UTC"


class InventoryOptions(_Strict):
    """How the warehouse's stock file becomes Amazon's inventory for its one Amazon warehouse (push-inventory)."""

    # full: one request with isFullUpdate=true, Amazon zeroes every item left out (catalogues up to ~30,000 SKUs);
    # delta: only what changed since the last accepted feed, as partial updates in chunks
    mode: Literal["full", "delta"] = "full"
    # hold the feed when its SKU count or total quantity fell by more than this share against the last accepted one
    guard_share: float = Field(0.5, gt=0, le=1)
    # the item's identity at Amazon: vendor_sku (vendorProductIdentifier) or asin (buyerProductIdentifier);
    # the other one is sent too whenever it is known
    identifier: Literal["vendor_sku", "asin"] = "vendor_sku"
    # a CSV mapping the warehouse's item codes to vendor SKUs and/or ASINs, for 3PLs with their own codes
    sku_map: Path | None = None
    delta_chunk_size: int = Field(5000, ge=1, le=50_000)  # items per partial update in delta mode


class PackageSize(_Strict):
    """A carton's weight and, optionally, its dimensions (all three with their unit, or none)."""

    weight: float = Field(gt=0, lt=100_000)
    weight_unit: Literal["KG", "LB"] = "LB"
    length: float | None = Field(None, gt=0, lt=100_000)
    width: float | None = Field(None, gt=0, lt=100_000)
    height: float | None = Field(None, gt=0, lt=100_000)
    dimension_unit: Literal["IN", "CM"] | None = None

    @model_validator(mode="after")
    def _dimensions_together(self) -> PackageSize:
        given = [self.length, self.width, self.height, self.dimension_unit]
        if any(value is not None for value in given) and not all(value is not None for value in given):
            raise ValueError("give length, width, height and dimension_unit together, or none of them")
        return self


class LabelOptions(_Strict):
    """Amazon shipping labels, packing slips and cancellation notices for one warehouse."""

    labels: Literal["none", "amazon"] = "none"
    # where a label request's packages come from: one default carton per order, a per-SKU package profile
    # (a CSV file on this machine), or a packages file the warehouse drops after weighing (labels then follow
    # the order file instead of coming with it)
    packages: Literal["default", "profile", "file"] = "default"
    default_package: PackageSize | None = None
    package_profile: Path | None = None
    packing_slips: Literal["none", "amazon"] = "none"
    # an order whose slip Amazon has not made available this long after we first asked is exported anyway,
    # flagged (export), or held for a person (hold)
    packing_slip_deadline_minutes: float = Field(120.0, ge=0)
    packing_slip_overdue: Literal["export", "hold"] = "export"
    # ask Amazon each order run which exported orders were cancelled, and tell the warehouse in a file
    cancellations: bool = True
    cancellation_lookback_days: int = Field(30, ge=1, le=180)

    @model_validator(mode="after")
    def _package_source(self) -> LabelOptions:
        if self.labels == "amazon" and self.packages == "default" and self.default_package is None:
            raise ValueError("labels: amazon with packages: default needs default_package (weight, weight_unit)")
        if self.packages == "profile" and self.package_profile is None:
            raise ValueError("packages: profile needs package_profile (the path of the per-SKU CSV file)")
        return self


class ShipmentOptions(_Strict):
    """How shipment files become shipment confirmations (flow confirm-shipments)."""

    # confirmations per submitShipmentConfirmations request (Amazon sets no maximum; 413 above its size limit)
    batch_size: int = Field(100, ge=1, le=1000)
    # values of the file's `status` column that mean "could not ship": the order is confirmed FLOOR_DENIAL.
    # Compared without case; an empty status or SHIPPED means shipped.
    could_not_ship: list[str] = Field(default_factory=lambda: ["NOT SHIPPED", "NOT_SHIPPED", "FLOOR_DENIAL"])
    # an order only partly in the shipment files is held for a person this many hours after its required ship
    # date (negative: before it)
    pending_grace_hours: float = 0.0
    # a confirmation lost in a crash is sent again only if Amazon still shows the order unshipped after this long;
    # Amazon can take 10-30 minutes to process one
    confirmation_settle_minutes: float = Field(45.0, ge=0)

    @field_validator("could_not_ship")
    @classmethod
    def _markers(cls, values: list[str]) -> list[str]:
        cleaned = [value.strip() for value in values]
        if any(not value for value in cleaned):
            raise ValueError("a could-not-ship marker must not be empty")
        if any(value.casefold() == "shipped" for value in cleaned):
            raise ValueError("SHIPPED means shipped; it cannot also mean could not ship")
        return cleaned


class Warehouse(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    ship_from_party_id: str = Field(min_length=1)  # = the Amazon warehouse code
    drop: Drop
    files: FileOptions = FileOptions()
    schedules: WarehouseSchedules = WarehouseSchedules()
    inventory: InventoryOptions = InventoryOptions()
    labels: LabelOptions = LabelOptions()
    shipments: ShipmentOptions = ShipmentOptions()


class OrderDownload(_Strict):
    lag_minutes: int = Field(30, ge=0)  # newest orders we take are this old
    interval_minutes: int = Field(30, ge=1)  # schedule interval and normal window length
    overlap_minutes: int = Field(5, ge=0)  # re-read this much before the watermark
    max_slice_days: int = Field(7, ge=1, le=7)  # Amazon: windows of 7 days at most
    page_size: int = Field(100, ge=1, le=100)
    acknowledgement_batch: int = Field(100, ge=1, le=1000)  # at most this many orders per request
    # a request that may have reached Amazon (a crash while sending, a lost answer) is sent again only if Amazon still
    # shows its orders NEW this long after it was sent; Amazon processes one within about 15 minutes
    acknowledgement_settle_minutes: float = Field(15.0, ge=0)
    # go-live: the first run on a fresh ledger (and `vdf run orders --backfill DAYS`) takes every order Amazon still
    # shows NEW this far back (7-day slices)
    backfill_days: float = Field(7.0, gt=0, le=180)
    # a safety net for orders the windows missed: this often (0: every run) ask Amazon for the orders still NEW over
    # the last sweep_days and take any the ledger does not know
    sweep_interval_minutes: int = Field(60, ge=0)
    sweep_days: float = Field(7.0, gt=0, le=180)
    schedule: str = "*/30 * * * *"


class Account(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    region: Region = Region.NA
    selling_party_id: str = Field(min_length=1)
    credentials: AmazonCredentials
    endpoint: str | None = None  # SP-API base URL override (simulator, sandbox, proxy)
    token_url: str | None = None  # LWA token URL override
    warehouses: list[Warehouse] = Field(min_length=1)
    orders: OrderDownload = OrderDownload()

    @field_validator("endpoint", "token_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _unique_warehouses(self) -> Account:
        names = [w.name for w in self.warehouses]
        if len(set(names)) != len(names):
            raise ValueError(f"warehouse names must be unique, got {names}")
        ids = [w.ship_from_party_id for w in self.warehouses]
        if len(set(ids)) != len(ids):
            raise ValueError(f"ship_from_party_id must be unique per account, got {ids}")
        return self

    def warehouse(self, name: str) -> Warehouse:
        for warehouse in self.warehouses:
            if warehouse.name == name:
                return warehouse
        raise ConfigError(
            f"account {self.name!r} has no warehouse {name!r}; it has {[w.name for w in self.warehouses]}"
        )


# operations (schedules of account-level flows, transactions, alerts) ---------------------------------------


class Scheduling(_Strict):
    """Schedules of the flows that are not per warehouse; `timezone` also applies to `accounts[].orders.schedule`."""

    timezone: str = "UTC"
    transactions: str = "*/5 * * * *"
    purge: str = "30 3 * * *"


class TransactionOptions(_Strict):
    # Amazon's guide: a transaction is normally decided within 30 minutes; longer is reported as stuck
    stuck_minutes: float = Field(30.0, gt=0)


class Notifications(_Strict):
    """Where alerts go: a webhook (its URL is a secret reference) and/or any Prefect notification block."""

    webhook_url: SecretRef | None = None
    prefect_block: str | None = Field(None, pattern=r"^[a-z0-9-]+/[A-Za-z0-9_.-]+$")  # "<block-type>/<name>"

    @model_validator(mode="after")
    def _somewhere(self) -> Notifications:
        if self.webhook_url is None and self.prefect_block is None:
            raise ValueError("give webhook_url, prefect_block or both (or leave notifications out)")
        return self


class Settings(_Strict):
    ledger_url: str = "sqlite:///vdf-ledger.db"
    accounts: list[Account] = Field(min_length=1)
    retention_days: int = 30  # copies we keep on the drops (order files hold PII) are purged after this
    schedules: Scheduling = Scheduling()
    transactions: TransactionOptions = TransactionOptions()
    notifications: Notifications | None = None

    @field_validator("retention_days")
    @classmethod
    def _within_amazon_limit(cls, value: int) -> int:
        if not 1 <= value <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"must be between 1 and {MAX_RETENTION_DAYS}: Amazon's Data Protection Policy allows keeping "
                "copies of customer data at most 30 days"
            )
        return value

    @field_validator("ledger_url")
    @classmethod
    def _no_password(cls, value: str) -> str:
        # secrets come from the environment or Prefect Secret blocks, never from this file; libpq reads PGPASSWORD
        if _URL_PASSWORD.match(value):
            raise ValueError(
                "ledger_url holds a password, and secrets never sit in the configuration file: leave it out of "
                "the URL (postgresql://user@host/db) and set the environment variable PGPASSWORD, or use a "
                "~/.pgpass file"
            )
        return value

    @model_validator(mode="after")
    def _unique_accounts(self) -> Settings:
        names = [a.name for a in self.accounts]
        if len(set(names)) != len(names):
            raise ValueError(f"account names must be unique, got {names}")
        return self

    def account(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        raise ConfigError(f"no account {name!r} in the configuration; it has {[a.name for a in self.accounts]}")


def _named_path(loc: tuple[Any, ...], data: Any) -> str:
    """A key path that names accounts and warehouses (`accounts[acme].warehouses[main].drop`), not list indexes."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and parts:
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            parts[-1] += f"[{name}]" if isinstance(name, str) and name else f"[{part}]"
            node = item
            continue
        if parts and parts[-1] == "drop" and part in ("sftp", "local"):
            continue  # pydantic's discriminator tag, not a key of the file
        parts.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _suggestion(loc: tuple[Any, ...]) -> str:
    """'did you mean' for an unknown key: the closest field name of the model the key was found in."""
    models: list[type[BaseModel]] = [Settings]
    for part in loc[:-1]:
        if not isinstance(part, str):
            continue
        fields = [model.model_fields[part] for model in models if part in model.model_fields]
        inner = [m for field_info in fields for m in _models_in(field_info.annotation)]
        if inner:
            models = inner
        else:  # a discriminator tag such as 'sftp': keep the models whose kind it is
            tagged = [m for m in models if "kind" in m.model_fields and part in str(m.model_fields["kind"].annotation)]
            models = tagged or models
    names = sorted({name for model in models for name in model.model_fields})
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else (f"; known keys: {', '.join(names)}" if names else "")


def describe_validation_error(exc: ValidationError, source: str, data: Any = None) -> str:
    """Turn pydantic's errors into one line per problem, each naming the key path (by account/warehouse name)."""
    lines = [f"{source}: {exc.error_count()} problem(s)"]
    for error in exc.errors():
        path = _named_path(tuple(error["loc"]), data)
        message = error["msg"]
        if error["type"] == "extra_forbidden" and error["loc"]:
            message = "unknown key" + _suggestion(tuple(error["loc"]))
        lines.append(f"  - {path}: {message}")
    return "\n".join(lines)


def schedule_problems(settings: Settings) -> list[str]:
    """Every schedule and time zone that would not run, named by account and warehouse."""
    problems: list[str] = []

    def check(where: str, text: str, timezone: str) -> None:
        try:
            parse_schedule(text, timezone)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")

    try:
        check_timezone(settings.schedules.timezone)
    except ValueError as exc:
        problems.append(f"schedules.timezone: {exc}")
        return problems
    zone = settings.schedules.timezone
    check("schedules.transactions", settings.schedules.transactions, zone)
    check("schedules.purge", settings.schedules.purge, zone)
    for account in settings.accounts:
        check(f"accounts[{account.name}].orders.schedule", account.orders.schedule, zone)
        for warehouse in account.warehouses:
            where = f"accounts[{account.name}].warehouses[{warehouse.name}].schedules"
            try:
                check_timezone(warehouse.schedules.timezone)
            except ValueError as exc:
                problems.append(f"{where}.timezone: {exc}")
                continue
            check(f"{where}.shipments", warehouse.schedules.shipments, warehouse.schedules.timezone)
            check(f"{where}.inventory", warehouse.schedules.inventory, warehouse.schedules.timezone)
    return problems


def parse_config(data: Any, source: str = "configuration") -> Settings:
    """Validate already-parsed YAML data; every problem is reported at once."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with ledger_url and accounts")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source, data)) from None
    problems = schedule_problems(settings)
    if problems:
        raise ConfigError("\n".join([f"{source}: {len(problems)} problem(s)", *(f"  - {p}" for p in problems)]))
    return settings
