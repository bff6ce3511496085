"""The deployment registry: every flow of the checkout planned from vdf.yaml, the same for serve and prefect.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.deployments import REGISTRY, kinds, plan_deployments, prefect_yaml, prefect_yaml_drift
from tasks.core.config import parse_config
from tasks.core.errors import ConfigError


def _settings(**extra: object):
    account = {
        "name": "acme",
        "selling_party_id": "V",
        "credentials": {"client_id": "env:A", "client_secret": "env:B", "refresh_token": "env:C"},
        "orders": {"schedule": "*/10 * * * *"},
        "warehouses": [
            {"name": "east", "ship_from_party_id": "WH1", "drop": {"kind": "local", "path": "/x"}},
            {
                "name": "west",
                "ship_from_party_id": "WH2",
                "drop": {"kind": "local", "path": "/y"},
                "schedules": {"shipments": "every 20 minutes", "timezone": "America/Los_Angeles"},
            },
        ],
    }
    return parse_config({"accounts": [account], "schedules": {"timezone": "Europe/Berlin"}, **extra})


def test_every_installed_flow_is_planned_with_names_tags_and_schedules():
    specs = {s.name: s for s in plan_deployments(_settings(), "/etc/vdf.yaml")}
    orders = specs["orders-acme"]
    assert orders.full_name == "download-orders/orders-acme"
    assert orders.schedule.cron == "*/10 * * * *" and orders.schedule.timezone == "Europe/Berlin"
    assert orders.parameters == {"account": "acme", "config": "/etc/vdf.yaml"}
    assert orders.tags == ("vdf-bridge", "flow:orders", "account:acme", "warehouse:east", "warehouse:west")
    assert orders.concurrency_limit == 1
    txn = specs["transactions-acme"]
    assert txn.schedule.cron == "*/5 * * * *" and txn.full_name == "poll-transactions/transactions-acme"
    installed = {k.kind for k in kinds()}
    assert {"orders", "transactions"} <= installed
    assert {s.flow.kind for s in specs.values()} == installed


def test_per_warehouse_flows_take_the_warehouse_schedule_and_time_zone():
    shipments = next(k for k in REGISTRY if k.kind == "shipments")
    specs = {s.name: s for s in plan_deployments(_settings(), "/c.yaml", [shipments])}
    west = specs["shipments-acme-west"]
    assert west.schedule.timezone == "America/Los_Angeles" and west.schedule.interval is not None
    assert west.parameters == {"account": "acme", "warehouse": "west", "config": "/c.yaml"}
    assert west.tags[-2:] == ("account:acme", "warehouse:west")
    assert specs["shipments-acme-east"].schedule.cron == "*/15 * * * *"


def test_colliding_names_are_refused():
    data = _settings().model_dump(mode="json")
    # account acme + warehouse east-x and account acme-east + warehouse x both make shipments-acme-east-x
    data["accounts"][0]["warehouses"][0]["name"] = "east-x"
    data["accounts"].append({**data["accounts"][0], "name": "acme-east"})
    data["accounts"][1]["warehouses"] = [{**data["accounts"][0]["warehouses"][1], "name": "x"}]
    shipments = next(k for k in REGISTRY if k.kind == "shipments")
    with pytest.raises(ConfigError, match="made twice"):
        plan_deployments(parse_config(data), "/c", [shipments])


def test_prefect_yaml_round_trip_and_drift(tmp_path: Path):
    settings = _settings()
    target = tmp_path / "prefect.yaml"
    target.write_text(
        prefect_yaml(plan_deployments(settings, "/etc/vdf.yaml"), home="/opt/vdf", config="/etc/vdf.yaml")
    )
    data = yaml.safe_load(target.read_text())
    assert data["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/vdf"}}]
    names = {d["name"] for d in data["deployments"]}
    installed = {kind.kind for kind in kinds()}
    assert {"orders-acme", "transactions-acme"} <= names
    assert ("inventory" in installed) == ({"inventory-acme-east", "inventory-acme-west"} <= names)
    assert ("purge" in installed) == ("purge" in names)
    assert "{{" not in target.read_text()  # nothing left for `prefect deploy` to resolve from the environment
    assert prefect_yaml_drift(target, settings) == []
    changed = settings.model_copy(
        update={"schedules": settings.schedules.model_copy(update={"transactions": "every 2 minutes"})}
    )
    drift = prefect_yaml_drift(target, changed)
    assert len(drift) == 1 and "transactions-acme: schedules" in drift[0]


def test_the_committed_prefect_yaml_is_generated_from_the_example_configuration():
    root = Path(__file__).resolve().parents[2]
    settings = parse_config(yaml.safe_load((root / "vdf.example.yaml").read_text()))
    drift = prefect_yaml_drift(root / "prefect.yaml", settings)
    assert drift == [], (
        "prefect.yaml drifted from vdf.example.yaml (a flow was added?): regenerate it with "
        "vdf deployments --config vdf.example.yaml --write prefect.yaml --home /opt/vdf-bridge "
        "--worker-config /etc/vdf/vdf.yaml"
    )
