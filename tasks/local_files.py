"""Prefect tasks that read files on this machine (configuration the flows need, e.g. a SKU map)."""

from __future__ import annotations

from pathlib import Path

from tasks.core.errors import ConfigError
from tasks.prefect_support import side_effect_task


@side_effect_task(name="read-local-file", retries=0)
def read_local_file(path: Path, key: str) -> bytes:
    """Read a file the configuration names; a missing or unreadable one is a configuration error naming the key."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or type(exc).__name__}") from None
