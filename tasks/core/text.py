"""Characters no value may hold, and how to show text that holds them without printing them raw."""

from __future__ import annotations

import unicodedata

# C0 and C1 controls (NUL, ESC, DEL, ...), zero-width and direction-changing format characters (they hide or
# reorder text), a byte order mark inside the text, and U+FFFD, which says an earlier, wrong conversion already
# destroyed characters.
SUSPECT_RANGES = (
    (0x00, 0x1F), (0x7F, 0x9F), (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064), (0x2066, 0x2069),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0xFFFD, 0xFFFD),
)
_NAMES = {0x00: "NUL", 0x09: "TAB", 0x0A: "LINE FEED", 0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE"}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_SUSPECT = frozenset(chr(code) for low, high in SUSPECT_RANGES for code in range(low, high + 1))
ESCAPES = {char: _escape(char) for char in sorted(_SUSPECT)}  # each suspect character and how it is shown


def is_suspect(char: str) -> bool:
    """Whether a character may not appear in a value (see SUSPECT_RANGES)."""
    return char in _SUSPECT


def describe_char(char: str) -> str:
    """`U+0000 (NUL)`: a character named so a person can find it, without printing it."""
    code = ord(char)
    name = _NAMES.get(code) or unicodedata.name(char, "") or ("a control character" if code < 0xA0 else "")
    return f"U+{code:04X} ({name})" if name else f"U+{code:04X}"


def visible(text: str, limit: int = 200) -> str:
    """The text with every suspect character written as an escape (`\\x00`, `\\u202e`), cut to `limit`."""
    shown = "".join(_escape(c) if c in _SUSPECT else c for c in text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
