"""The configuration file: validation messages name the key, secrets are references only."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from flows.runtime import load_config, resolve_secret
from tasks.core.config import parse_config
from tasks.core.errors import ConfigError

GOOD = """
ledger_url: sqlite:///x.db
accounts:
  - name: acme
    region: eu
    selling_party_id: ACME
    credentials:
      client_id: env:ACME_ID
      client_secret: {env: ACME_SECRET}
      refresh_token: prefect-secret:acme-refresh
    endpoint: http://127.0.0.1:8765/
    warehouses:
      - name: main
        ship_from_party_id: WH01
        drop: {kind: local, path: /tmp/drop}
      - name: west
        ship_from_party_id: WH02
        drop:
          kind: sftp
          host: sftp.example.com
          username: acme
          private_key: env:ACME_SSH_KEY
          host_key_fingerprint: "SHA256:abc"
        files: {delimiter: ";", columns: {stock: {vendor_sku: Artikel}}}
"""


def test_good_config_loads(tmp_path: Path):
    path = tmp_path / "vdf.yaml"
    path.write_text(GOOD)
    settings = load_config(path)
    acct = settings.account("acme")
    assert acct.region == "eu"
    assert acct.endpoint == "http://127.0.0.1:8765"
    assert acct.warehouse("west").files.delimiter == ";"
    assert acct.warehouse("main").drop.folders.orders == "outbound/orders"
    assert acct.orders.lag_minutes == 30


def test_every_problem_reported_at_once_with_key_paths():
    data = {
        "accounts": [
            {
                "name": "a",
                "region": "xx",
                "selling_party_id": "V",
                "credentials": {"client_id": "literal-secret", "client_secret": "env:S", "refresh_token": "env:R"},
                "warehouses": [
                    {
                        "name": "w",
                        "ship_from_party_id": "W",
                        "drop": {"kind": "sftp", "host": "h", "username": "u", "password": "env:P"},
                    }
                ],
            }
        ]
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, "vdf.yaml")
    text = str(info.value)
    assert "accounts[a].region" in text
    assert "accounts[a].credentials.client_id" in text and "literal secrets are not allowed" in text
    assert "known_hosts or host_key_fingerprint" in text
    assert "3 problem(s)" in text


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"accounts\[a\]\.colour"):
        parse_config({"accounts": [{"name": "a", "colour": "red"}]})


def test_secret_resolution_reads_env_at_use(monkeypatch: pytest.MonkeyPatch):
    settings = parse_config(__import__("yaml").safe_load(GOOD))
    ref = settings.account("acme").credentials.client_id
    with pytest.raises(ConfigError, match="ACME_ID is not set"):
        resolve_secret(ref)
    monkeypatch.setenv("ACME_ID", "amzn1.x")
    assert resolve_secret(ref) == "amzn1.x"


def test_duplicate_warehouse_codes_refused():
    data = __import__("yaml").safe_load(GOOD)
    data["accounts"][0]["warehouses"][1]["ship_from_party_id"] = "WH01"
    with pytest.raises(ConfigError, match="ship_from_party_id must be unique"):
        parse_config(data)


_ACCOUNT = {
    "name": "a",
    "selling_party_id": "V",
    "credentials": {"client_id": "env:I", "client_secret": "env:S", "refresh_token": "env:R"},
    "warehouses": [
        {
            "name": "w",
            "ship_from_party_id": "W",
            "drop": {"kind": "sftp", "host": "h", "username": "u", "password": "env:P", "known_hosts": "/k"},
        }
    ],
}


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (("credentials", "client_id"), "accounts[a].credentials.client_id"),
        (("credentials", "client_secret"), "accounts[a].credentials.client_secret"),
        (("credentials", "refresh_token"), "accounts[a].credentials.refresh_token"),
        (("warehouses", 0, "drop", "password"), "accounts[a].warehouses[w].drop.password"),
        (("warehouses", 0, "drop", "private_key"), "accounts[a].warehouses[w].drop.private_key"),
        (("warehouses", 0, "drop", "private_key_passphrase"), "accounts[a].warehouses[w].drop.private_key_passphrase"),
    ],
)
def test_a_literal_secret_is_refused_with_the_way_to_reference_it(path: tuple[object, ...], where: str) -> None:
    account = copy.deepcopy(_ACCOUNT)
    node = account
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    node[path[-1]] = "Atzr|LiteralSecretValue42"  # type: ignore[index]
    if path[-1] == "private_key_passphrase":
        account["warehouses"][0]["drop"]["private_key"] = "env:K"  # type: ignore[index]

    with pytest.raises(ConfigError) as caught:
        parse_config({"accounts": [account]}, "vdf.yaml")

    text = str(caught.value)
    assert where in text and "literal secrets are not allowed" in text
    assert "write env:VARIABLE_NAME or prefect-secret:BLOCK_NAME" in text
    assert "LiteralSecretValue42" not in text


def test_references_in_both_forms_are_accepted() -> None:
    account = copy.deepcopy(_ACCOUNT)
    account["credentials"] = {  # type: ignore[index]
        "client_id": {"env": "I"},
        "client_secret": "prefect-secret:lwa-secret",
        "refresh_token": {"prefect_secret": "rt"},
    }
    credentials = parse_config({"accounts": [account]}).accounts[0].credentials
    assert credentials.client_secret.describe() == "prefect-secret:lwa-secret"
    assert credentials.client_id.describe() == "env:I"


def test_a_ledger_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"ledger_url": "postgresql://vdf:S3cretPw@db.example:5432/vdf", "accounts": [_ACCOUNT]})

    text = str(caught.value)
    assert "ledger_url holds a password" in text and "PGPASSWORD" in text and "S3cretPw" not in text
    ok = parse_config({"ledger_url": "postgresql+psycopg://vdf@db.example:5432/vdf", "accounts": [_ACCOUNT]})
    assert ok.ledger_url.endswith("@db.example:5432/vdf")


@pytest.mark.parametrize("days", [0, 31, 365])
def test_retention_is_capped_at_what_amazon_allows(days: int) -> None:
    with pytest.raises(ConfigError, match=r"retention_days: .*at most 30 days"):
        parse_config({"retention_days": days, "accounts": [_ACCOUNT]})
    assert parse_config({"accounts": [_ACCOUNT]}).retention_days == 30


def _with(path: list[str | int], value: object) -> dict:
    data = __import__("yaml").safe_load(GOOD)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["accounts", 0, "orders", "schedule"], "every minute", r"accounts\[acme\]\.orders\.schedule: schedule 'every"),
        (["accounts", 0, "orders", "schedule"], "61 * * * *", "not a valid cron expression"),
        (["schedules", "transactions"], "*/5 * * *", r"schedules\.transactions"),
        (
            ["accounts", 0, "warehouses", 1, "schedules", "timezone"],
            "Mars/Olympus",
            r"accounts\[acme\]\.warehouses\[west\]\.schedules\.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (["schedules", "timezone"], "Europe/Berln", "did you mean 'Europe/Berlin'"),
    ],
)
def test_schedules_and_time_zones_that_would_not_run_are_refused(path, value, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(_with(path, value))


def test_intervals_and_settings_level_schedules_load():
    data = _with(["accounts", 0, "orders", "schedule"], "every 10 minutes")
    data["schedules"] = {"timezone": "Europe/Berlin", "transactions": "every 2 minutes"}
    data["notifications"] = {"webhook_url": "env:ALERT_URL", "prefect_block": "slack-webhook/ops"}
    settings = parse_config(data)
    assert settings.schedules.transactions == "every 2 minutes"
    assert settings.notifications is not None and settings.notifications.webhook_url is not None
    assert settings.transactions.stuck_minutes == 30


def test_unknown_keys_get_a_did_you_mean_named_by_account_and_warehouse():
    data = _with(["accounts", 0, "warehouses", 1, "drop", "hostname"], "x")
    data["accounts"][0]["orders"] = {"schedul": "*/5 * * * *"}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    text = str(info.value)
    assert "accounts[acme].warehouses[west].drop.hostname: unknown key" in text
    assert "accounts[acme].orders.schedul: unknown key; did you mean 'schedule'?" in text


def test_notifications_need_a_destination():
    data = _with(["notifications"], {})
    with pytest.raises(ConfigError, match="give webhook_url, prefect_block or both"):
        parse_config(data)
    with pytest.raises(ConfigError, match="literal secrets are not allowed"):
        parse_config(_with(["notifications"], {"webhook_url": "https://hooks.example/x"}))
