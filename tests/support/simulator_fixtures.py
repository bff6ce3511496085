"""Fixtures that start the Amazon VDF simulator on 127.0.0.1, plus helpers to check its JSON against Amazon's models."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cache
from typing import Any

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT4

from simulator import RunningSimulator, SimulatorConfig, start_simulator
from simulator.schema import load_model

FAST = SimulatorConfig(transaction_delay=0.2)


@cache
def spapi_validator(model_file: str, definition: str) -> jsonschema.Draft4Validator:
    """A validator for #/definitions/<definition> of a bundled model, with its $refs resolved inside the file."""
    uri = f"urn:spapi:{model_file}"
    registry: Registry[Any] = Registry().with_resource(uri, DRAFT4.create_resource(load_model(model_file)))
    return jsonschema.Draft4Validator(
        {"$ref": f"{uri}#/definitions/{definition}"},
        registry=registry,
        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
    )


def assert_conforms(model_file: str, definition: str, instance: Any) -> None:
    """Fail with jsonschema's message when instance does not match the model's definition."""
    spapi_validator(model_file, definition).validate(instance)


def forget_sp_api_tokens() -> None:
    """python-amazon-sp-api caches access tokens process-wide; a new simulator does not know the old ones."""
    from sp_api.auth import access_token_client

    access_token_client.cache.clear()
    async_module = sys.modules.get("sp_api.asyncio.auth.access_token_client")
    if async_module is not None:
        async_module.cache.clear()


# LWA clients built for the simulator; their httpx client is not closed by the API client's close().
_TOKEN_CLIENTS: list[Any] = []


def close_sp_api_token_clients() -> None:
    while _TOKEN_CLIENTS:
        _TOKEN_CLIENTS.pop()._transport.close()


def sp_api_client_options(sim: RunningSimulator, refresh_token: str = "Atzr|simulator-test") -> dict[str, Any]:
    """Keyword arguments that point a python-amazon-sp-api client at the simulator (base URL and LWA URL).

    The LWA clients made this way are closed when the simulator fixtures tear down.
    """
    from sp_api.auth import AccessTokenClient

    def remember(self: Any, *args: Any, **kwargs: Any) -> None:
        AccessTokenClient.__init__(self, *args, **kwargs)
        _TOKEN_CLIENTS.append(self)

    token_client = type(
        "SimulatorAccessTokenClient",
        (AccessTokenClient,),
        {"scheme": "http://", "host": f"{sim.host}:{sim.port}", "__init__": remember},
    )
    marketplace = types.SimpleNamespace(endpoint=sim.base_url, marketplace_id="ATVPDKIKX0DER", region="us-east-1")
    return {
        "marketplace": marketplace,
        "refresh_token": refresh_token,
        "credentials": {"lwa_app_id": "amzn1.application-oa2-client.simulator", "lwa_client_secret": "secret"},
        "auth_token_client_class": token_client,
    }


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., RunningSimulator]]:
    """Start simulators with a custom SimulatorConfig (or FAST with overrides); all are stopped afterwards."""
    started: list[RunningSimulator] = []

    def start(config: SimulatorConfig | None = None, **overrides: Any) -> RunningSimulator:
        sim = start_simulator(replace(config or FAST, **overrides))
        started.append(sim)
        return sim

    forget_sp_api_tokens()
    yield start
    close_sp_api_token_clients()
    for sim in started:
        sim.stop()
    forget_sp_api_tokens()


@pytest.fixture
def simulator(simulator_factory: Callable[..., RunningSimulator]) -> RunningSimulator:
    """A running simulator with fast transactions (0.2 s), one warehouse WH01, selling party VENDOR1."""
    return simulator_factory()
