"""Test-wide setup: fixture modules under tests/support, and an environment that cannot reach the outside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = sorted(
    f"tests.support.{path.stem}" for path in (Path(__file__).parent / "support").glob("*_fixtures.py")
)

# python-amazon-sp-api reads these; a developer's shell must not steer the tests (see shared/reference).
_SCRUBBED = (
    "SP_API_DEFAULT_MARKETPLACE",
    "AWS_ENV",
    "SP_API_REFRESH_TOKEN",
    "LWA_APP_ID",
    "LWA_CLIENT_SECRET",
    "SP_API_AWS_SECRET_ID",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "VDF_CONFIG",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Scrub variables that would change what the libraries under test do."""
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield
