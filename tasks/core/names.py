"""Names: which warehouse file names are safe to build a path from, the names we give, reports, and one slug.

A name listed in a warehouse folder is the warehouse's text (or a hostile server's): a `../`, a slash, a
backslash or a control character in it must never become part of a path. Such a file is renamed into the error
folder under a name we make, with a report beside it; a name that cannot even be addressed safely is left where
it is and only reported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime

from tasks.core.text import describe_char, is_suspect, visible

MAX_NAME_BYTES = 255  # what POSIX file systems and SFTP servers allow
MAX_NAME_ATTEMPTS = 100  # free names tried for one move: the plain name, then timestamped ones
REPORT_SUFFIX = ".errors.csv"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_STAMP = r"\d{8}T\d{6}Z"


def name_problem(name: str) -> str | None:
    """Why a name may not be used in a path, or None for a plain file name."""
    if not name:
        return "the file name is empty"
    if name in (".", ".."):
        return f"the file name is {name!r}, a folder reference"
    if "/" in name or "\\" in name:
        return "the file name holds a path separator (/ or \\), so it would reach outside its folder"
    odd = next((char for char in name if is_suspect(char)), None)
    if odd is not None:
        return f"the file name holds the character {describe_char(odd)}"
    if len(name.encode("utf-8", errors="surrogatepass")) > MAX_NAME_BYTES:
        return f"the file name is longer than {MAX_NAME_BYTES} bytes"
    return None


def addressable(name: str) -> bool:
    """Whether a path can be built from the name without leaving the folder (it may still be a bad name)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\x00" not in name


def safe_name_for(name: str) -> str:
    """A plain name for a file whose own name is unsafe: recognisable, and the same for the same name."""
    digest = hashlib.sha256(name.encode("utf-8", errors="surrogatepass")).hexdigest()[:12]
    readable = _SAFE.sub("_", "".join("_" if is_suspect(char) else char for char in name)).strip("._-")[:80]
    return f"renamed-{digest}-{readable or 'file'}"


def error_report_name(name: str) -> str:
    """The report written beside a quarantined file."""
    return f"{name}{REPORT_SUFFIX}"


def unsafe_name_report(name: str, folder: str, problem: str, placed: str | None) -> bytes:
    """A one-row error report (file, row, column, value, reason) about an unsafe name, defused for spreadsheets."""
    outcome = (
        f"it was moved to the error folder as {placed}"
        if placed is not None
        else "it was left where it is, because no path can safely be built from its name; remove it at the warehouse"
    )
    reason = f"{problem}; {outcome}"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(["file", "row", "column", "value", "reason"])
    writer.writerow([_defused(visible(name)), "", "file name", _defused(f"{folder}/{visible(name)}"), _defused(reason)])
    return out.getvalue().encode("utf-8")


def _defused(cell: str) -> str:
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def free_names(name: str, now: datetime | None = None) -> Iterator[str]:
    """The name itself, then `<stem>-<UTC timestamp>[-n].<ext>` candidates for when it is taken."""
    yield name
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    yield f"{stem}-{stamp}{dot}{ext}"
    for n in range(2, MAX_NAME_ATTEMPTS):
        yield f"{stem}-{stamp}-{n}{dot}{ext}"


def is_placed_as(candidate: str, name: str) -> bool:
    """Whether `candidate` is `name` or one of its free_names (a file we moved under a taken name)."""
    if candidate == name:
        return True
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    pattern = re.escape(stem) + "-" + _STAMP + r"(?:-\d+)?" + re.escape(dot + ext)
    return re.fullmatch(pattern, candidate) is not None


_UNSAFE = re.compile(r"[^a-z0-9]+")


def slug(text: str, *, empty: str = "x") -> str:
    """Lower-case letters and digits joined by single dashes: safe in a file name, a lock file and a Prefect key."""
    return _UNSAFE.sub("-", text.lower()).strip("-") or empty
