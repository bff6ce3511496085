"""The import map has one direction: flows → tasks → core ← adapters, and the core loads no I/O library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = ("prefect", "sqlalchemy", "alembic", "httpx", "paramiko", "asyncssh", "sp_api", "psycopg", "rich")
PURE_CORE = [
    "tasks.core.errors",
    "tasks.core.models",
    "tasks.core.ports",
    "tasks.core.config",
    "tasks.core.states",
    "tasks.core.orders",
    "tasks.core.text",
    "tasks.core.names",
    "tasks.core.labels",
    "tasks.core.schedules",
    "tasks.core.transactions",
    "tasks.core.health",
]
FILE_CORE = [
    "tasks.core.files",
    "tasks.core.schemas",
    "tasks.core.validation",
    "tasks.core.inbound_checks",
    "tasks.core.label_files",
    "tasks.core.shipments",
]


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = f"import sys; import {', '.join(modules)}; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in done.stdout.split()}


def test_the_pure_core_loads_no_io_library_nor_polars() -> None:
    loaded = _loaded_after_import(PURE_CORE)
    assert not loaded & {*IO_LIBRARIES, "polars", "pandera", "yaml"}


def test_the_file_formats_load_polars_and_pandera_but_no_io_library() -> None:
    loaded = _loaded_after_import(FILE_CORE)
    assert not loaded & set(IO_LIBRARIES)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("tasks/core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_imports_only_the_core(path: Path) -> None:
    ours = {m for m in _imports(path) if m.split(".")[0] in {"tasks", "adapters", "flows", "simulator"}}
    assert all(m.startswith("tasks.core") for m in ours), ours


@pytest.mark.parametrize("path", _modules("adapters"), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_import_only_the_core_and_themselves(path: Path) -> None:
    ours = {m for m in _imports(path) if m.split(".")[0] in {"tasks", "adapters", "flows", "simulator"}}
    own = "adapters." + path.relative_to(ROOT / "adapters").parts[0].removesuffix(".py")
    assert all(m.startswith(("tasks.core", own)) for m in ours), ours


@pytest.mark.parametrize(
    "path", [*_modules("tasks"), *_modules("flows")], ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_the_composition_root_imports_an_adapter(path: Path) -> None:
    if path == ROOT / "flows" / "runtime.py":
        return
    assert not {m for m in _imports(path) if m.split(".")[0] == "adapters"}


def test_the_simulator_is_a_product_part_that_does_not_import_the_integration() -> None:
    for path in _modules("simulator"):
        ours = {m for m in _imports(path) if m.split(".")[0] in {"tasks", "adapters", "flows"}}
        assert not ours, (path, ours)
