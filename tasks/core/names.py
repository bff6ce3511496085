"""Names built from configuration values: one slug for file names, lock files and Prefect keys."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^a-z0-9]+")


def slug(text: str, *, empty: str = "x") -> str:
    """Lower-case letters and digits joined by single dashes: safe in a file name, a lock file and a Prefect key."""
    return _UNSAFE.sub("-", text.lower()).strip("-") or empty
