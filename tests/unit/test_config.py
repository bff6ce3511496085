"""The configuration file: validation messages name the key, secrets are references only."""

from __future__ import annotations

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
    assert "accounts.0.region" in text
    assert "accounts.0.credentials.client_id" in text and "literal secrets are not allowed" in text
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
    with pytest.raises(ConfigError, match=r"accounts\.0\.colour"):
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
