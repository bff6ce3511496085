"""The vdf command line: validate, check-config, status, migrate, with real files and a real ledger."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from adapters.ledger import SqlLedger
from flows.cli import app
from tasks.core.models import (
    AmazonErrorDetail,
    OrderLine,
    PurchaseOrder,
    TransactionKind,
    TransactionState,
    TransactionStatus,
)

DATA = Path(__file__).parent.parent / "data"
runner = CliRunner()


def _config(tmp_path: Path, **account_overrides: object) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    account = {
        "name": "acme",
        "selling_party_id": "ACME",
        "credentials": {"client_id": "env:CLI_ID", "client_secret": "env:CLI_SECRET", "refresh_token": "env:CLI_RT"},
        "warehouses": [{"name": "main", "ship_from_party_id": "WH01", "drop": {"kind": "local", "path": str(drop)}}],
        **account_overrides,
    }
    path = tmp_path / "vdf.yaml"
    path.write_text(yaml.safe_dump({"ledger_url": f"sqlite:///{tmp_path / 'ledger.db'}", "accounts": [account]}))
    return path


def test_validate_reports_problems_and_writes_the_report(tmp_path: Path):
    report = tmp_path / "report.csv"
    result = runner.invoke(
        app, ["validate", str(DATA / "shipments_mixed.csv"), "--kind", "shipments", "--report", str(report)]
    )
    assert result.exit_code == 1
    assert "quantity shipped must be a whole number" in result.output
    text = report.read_text()
    assert "quantity_shipped" in text and "two" in text


def test_validate_shows_file_text_as_is_and_exit_code_follows_the_words(tmp_path: Path):
    brackets = tmp_path / "[stock].csv"
    brackets.write_bytes(b"vendor_sku,available_quantity,asin\n[n/a],2 [pcs],[/x]\nSKU-2,1,[bold]\n")
    result = runner.invoke(app, ["validate", str(brackets), "--kind", "stock"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # no MarkupError traceback
    for text in ("[n/a]", "2 [pcs]", "[/x]", "[bold]"):
        assert text in result.output
    assert "problems in [stock].csv" in result.output

    ignored = tmp_path / "extra.csv"
    ignored.write_bytes(b"vendor_sku,available_quantity,notes\nSKU-1,1,[n/a]\n")
    result = runner.invoke(app, ["validate", str(ignored), "--kind", "stock"])
    assert result.exit_code == 0  # "is ignored" is said, and the file passes
    assert "column 'notes' is not one of this warehouse's stock columns and is ignored" in " ".join(
        result.output.split()
    )


def test_validate_clean_file_and_warehouse_options(tmp_path: Path):
    as_of = ["--as-of", "2026-03-05T12:00:00Z"]  # the file's ship dates are real dates of that week
    assert runner.invoke(app, ["validate", str(DATA / "shipments_clean.csv"), *as_of]).exit_code == 0
    stale = runner.invoke(app, ["validate", str(DATA / "shipments_clean.csv"), "--as-of", "2027-03-05T12:00:00Z"])
    assert stale.exit_code == 1 and "not a plausible date" in stale.output
    config = _config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["accounts"][0]["warehouses"][0]["files"] = {
        "delimiter": ";",
        "header_aliases": {"vendor_sku": ["Vendor SKU"], "available_quantity": ["Qty Available"]},
    }
    config.write_text(yaml.safe_dump(data))
    result = runner.invoke(
        app,
        [
            "validate",
            str(DATA / "stock_semicolon.csv"),
            "--kind",
            "stock",
            "--warehouse",
            "main",
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output


def test_validate_refuses_unknown_kind():
    result = runner.invoke(app, ["validate", str(DATA / "shipments_clean.csv"), "--kind", "invoices"])
    assert result.exit_code == 2


def test_check_config_names_every_missing_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = _config(tmp_path)
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    for name in ("CLI_ID", "CLI_SECRET", "CLI_RT"):
        assert name in result.output
    for name, value in {"CLI_ID": "a", "CLI_SECRET": "b", "CLI_RT": "c"}.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output


def test_check_config_reports_schema_errors_with_keys(tmp_path: Path):
    config = _config(tmp_path, region="moon")
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    assert "accounts[acme].region" in result.output


def test_check_config_connect_reaches_simulator_and_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulator):
    config = _config(tmp_path, endpoint=simulator.base_url, token_url=simulator.token_url)
    for name, value in {"CLI_ID": "a", "CLI_SECRET": "b", "CLI_RT": "c"}.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["check-config", "--config", str(config), "--connect"])
    assert result.exit_code == 0, result.output
    assert "credentials accepted" in result.output and "drop reachable" in result.output


def test_migrate_and_status_on_an_empty_ledger(tmp_path: Path):
    config = _config(tmp_path)
    assert runner.invoke(app, ["migrate", "--config", str(config)]).exit_code == 0
    result = runner.invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "account acme: nothing needs a person" in result.output
    assert "PREFECT_API_URL is not set" in result.output
    data = json.loads(runner.invoke(app, ["status", "--config", str(config), "--json"]).output)
    assert data["healthy"] is True
    (warehouse,) = data["accounts"][0]["warehouses"]
    assert warehouse["warehouse"] == "main" and warehouse["watermark"] == "never run"


def _order(number: str, ship_from: str = "WH01") -> PurchaseOrder:
    return PurchaseOrder(
        purchase_order_number=number,
        customer_order_number="C" + number,
        order_date=datetime.now(UTC) - timedelta(hours=1),
        selling_party_id="ACME",
        ship_from_party_id=ship_from,
        ship_method="UPS",
        required_ship_date=datetime.now(UTC) + timedelta(days=1),
        lines=(OrderLine("1", 1, "B0", "SKU"),),
    )


def test_status_exits_1_and_names_what_needs_a_person(tmp_path: Path):
    config = _config(tmp_path)
    ledger = SqlLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    ledger.record_downloaded("acme", [_order("PO1"), _order("PO2"), _order("PO3")])
    ledger.mark_held("acme", "PO1", "Amazon no longer returns this order (404)")
    ledger.record_transaction("acme", "txn-failed", TransactionKind.ACKNOWLEDGEMENT, ["PO2", "PO3"])
    ledger.record_transaction_status(
        TransactionStatus(
            "txn-failed", TransactionState.FAILURE, (AmazonErrorDetail("ORDER_CANCELLED", "Order PO3 is cancelled."),)
        )
    )
    ledger.record_watermark("acme", "WH01", datetime.now(UTC) - timedelta(hours=5))
    ledger.close()
    result = runner.invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "held order PO1: Amazon no longer returns this order (404)" in out
    assert "txn-failed (acknowledgement) failed for PO3: ORDER_CANCELLED" in out and "PO2," not in out
    assert "download-orders is not keeping up" in out
    data = json.loads(runner.invoke(app, ["status", "--config", str(config), "--json", "--account", "acme"]).output)
    assert data["healthy"] is False
    assert data["accounts"][0]["warehouses"][0]["orders"] == {"downloaded": 2, "held": 1}


def test_settle_a_transaction_by_hand(tmp_path: Path):
    config = _config(tmp_path)
    ledger = SqlLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.migrate()
    ledger.record_downloaded("acme", [_order("PO1")])
    ledger.record_transaction("acme", "ghost", TransactionKind.ACKNOWLEDGEMENT, ["PO1"])
    ledger.close()
    args = ["run", "transactions", "--config", str(config), "--settle", "ghost"]
    assert runner.invoke(app, args).exit_code == 2  # no --outcome
    result = runner.invoke(app, [*args, "--outcome", "failure", "--reason", "unknown to Vendor Central"])
    assert result.exit_code == 0, result.output
    assert "recorded as Failure" in result.output
    again = runner.invoke(app, [*args, "--outcome", "success"])
    assert again.exit_code == 2 and "already settled" in again.output


def test_check_config_names_bad_schedules_by_account_and_warehouse(tmp_path: Path):
    config = _config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["accounts"][0]["warehouses"][0]["schedules"] = {"timezone": "Mars/Olympus"}
    data["accounts"][0]["orders"] = {"schedule": "every minute"}
    config.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    assert "accounts[acme].orders.schedule: schedule 'every minute'" in result.output


def test_prefect_yaml_is_generated_and_drift_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in {"CLI_ID": "a", "CLI_SECRET": "b", "CLI_RT": "c"}.items():
        monkeypatch.setenv(name, value)
    config = _config(tmp_path)
    target = tmp_path / "prefect.yaml"
    result = runner.invoke(app, ["deployments", "--config", str(config), "--write", str(target)])
    assert result.exit_code == 0, result.output
    assert "download-orders/orders-acme" in result.output and "poll-transactions/transactions-acme" in result.output
    written = yaml.safe_load(target.read_text())
    orders = next(d for d in written["deployments"] if d["name"] == "orders-acme")
    assert orders["schedules"] == [{"cron": "*/30 * * * *", "timezone": "UTC", "active": True}]
    assert orders["tags"] == ["vdf-bridge", "flow:orders", "account:acme", "warehouse:main"]
    assert orders["concurrency_limit"] == 1 and orders["parameters"]["account"] == "acme"
    assert orders["work_pool"]["job_variables"]["env"]["VDF_CONFIG"] == str(config.resolve())
    assert runner.invoke(app, ["check-config", "--config", str(config)]).exit_code == 0

    data = yaml.safe_load(config.read_text())
    data["accounts"][0]["orders"] = {"schedule": "every 10 minutes"}
    data["schedules"] = {"timezone": "Europe/Berlin"}
    config.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    assert "deployment orders-acme: schedules is" in result.output
    assert "vdf deployments --write" in result.output


def test_log_level_option_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("VDF_LOG_LEVEL", "PREFECT_LOGGING_LEVEL"):  # the option sets them: restored after the test
        monkeypatch.delenv(name, raising=False)
    config = _config(tmp_path)
    assert runner.invoke(app, ["--log-level", "debug", "status", "--config", str(config)]).exit_code == 0
    assert runner.invoke(app, ["--log-level", "loud", "status", "--config", str(config)]).exit_code == 2
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "DEBUG"
    monkeypatch.setenv("VDF_LOG_LEVEL", "ERROR")
    assert runner.invoke(app, ["status", "--config", str(config)]).exit_code == 0
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "ERROR"


def test_tables_are_not_cut_when_output_is_not_a_terminal(tmp_path: Path):
    config = _config(tmp_path, name="a-rather-long-account-name-for-a-vendor")
    data = yaml.safe_load(config.read_text())
    data["accounts"][0]["warehouses"][0]["name"] = "warehouse-with-a-long-name"
    config.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["deployments", "--config", str(config)])
    assert "download-orders/orders-a-rather-long-account-name-for-a-vendor" in result.output
    assert "warehouse:warehouse-with-a-long-name" in result.output


def test_every_command_has_help():
    for command in (
        ["--help"],
        ["run", "orders", "--help"],
        ["simulator", "--help"],
        ["validate", "--help"],
        ["check-config", "--help"],
        ["status", "--help"],
        ["demo", "--help"],
        ["serve", "--help"],
        ["deployments", "--help"],
        ["alerts", "--help"],
        ["run", "transactions", "--help"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)


def test_status_falls_back_to_the_ledger_when_prefect_is_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens on port 9
    result = runner.invoke(app, ["status", "--config", str(_config(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["prefect"].startswith("ledger only: the Prefect API at http://127.0.0.1:9/api is not reachable")
    assert data["accounts"][0]["warehouses"][0]["flows"][0]["source"] == "ledger"
