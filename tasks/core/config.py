"""The configuration file (`vdf.yaml`): accounts, warehouses, drops, file options and schedules, validated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.core.errors import ConfigError
from tasks.core.models import Region

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    # our column name -> the warehouse's header, per file kind (orders, shipments, stock)
    columns: dict[Literal["orders", "shipments", "stock"], dict[str, str]] = Field(default_factory=dict)
    # our column name -> other headers accepted for it on inbound files
    header_aliases: dict[str, list[str]] = Field(default_factory=dict)
    shipment_patterns: list[str] = Field(default_factory=lambda: ["*.csv"])
    stock_patterns: list[str] = Field(default_factory=lambda: ["*.csv"])


class WarehouseSchedules(_Strict):
    shipments: str = "*/15 * * * *"
    inventory: str = "0 22 * * *"
    timezone: str = "UTC"


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
    shipments: ShipmentOptions = ShipmentOptions()


class OrderDownload(_Strict):
    lag_minutes: int = Field(30, ge=0)  # newest orders we take are this old
    interval_minutes: int = Field(30, ge=1)  # schedule interval and normal window length
    overlap_minutes: int = Field(5, ge=0)  # re-read this much before the watermark
    max_slice_days: int = Field(7, ge=1, le=7)  # Amazon: windows of 7 days at most
    page_size: int = Field(100, ge=1, le=100)
    acknowledgement_batch: int = Field(100, ge=1, le=1000)
    # an acknowledgement lost in a crash is sent again only if Amazon still shows the order NEW after this long;
    # Amazon can take 10-30 minutes to process one
    acknowledgement_settle_minutes: float = Field(45.0, ge=0)
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


class Settings(_Strict):
    ledger_url: str = "sqlite:///vdf-ledger.db"
    accounts: list[Account] = Field(min_length=1)
    retention_days: int = Field(30, ge=1, le=30)  # Amazon allows at most 30 days of PII copies

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


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """Turn pydantic's errors into one line per problem, each naming the key path."""
    lines = [f"{source}: {exc.error_count()} problem(s)"]
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  - {path}: {error['msg']}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "configuration") -> Settings:
    """Validate already-parsed YAML data; every problem is reported at once."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with ledger_url and accounts")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None

