"""Damaged and hostile inbound files: what is wrong with their bytes, lines, quotes and characters, by line.

Warehouse files are written by other people's software and sometimes by hand. Every check here is general (a
rule about bytes, fields or characters), cheap on a clean file (one vectorised pass over the lines), and only pays
for a closer look at the few lines that fail it.
"""

from __future__ import annotations

import bisect
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from tasks.core.text import ESCAPES, SUSPECT_RANGES, describe_char, is_suspect


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an inbound file; row is the line number a person sees (header = 1), None for the file."""

    reason: str
    row: int | None = None
    column: str | None = None
    value: str | None = None


# The suspect characters of tasks.core.text beyond Latin-1, as part of a regex class (polars' regex syntax).
_INVISIBLE = "".join(rf"\x{{{low:04X}}}-\x{{{high:04X}}}" for low, high in SUSPECT_RANGES if low > 0xFF)
_SPREADSHEET_MAGIC = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%PDF", "a PDF document"),
)
_EXPORT_AS_CSV = "ask the warehouse to export it as CSV"


def visible_expr(column: pl.Expr, limit: int = 200) -> pl.Expr:
    """visible() as a polars expression, for report columns."""
    escaped = column.str.replace_many(ESCAPES)
    return pl.when(escaped.str.len_chars() > limit).then(escaped.str.slice(0, limit - 1) + "…").otherwise(escaped)


# ---------------------------------------------------------------------------------------------- whole file


def sniff(data: bytes, encoding: str) -> Problem | None:
    """A file that is not delimited text at all, or not in the configured encoding, named for what it is."""
    for magic, what in _SPREADSHEET_MAGIC:
        if data.startswith(magic):
            return Problem(f"the file is {what}, not a CSV text file; {_EXPORT_AS_CSV}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem(
            "the file is UTF-16 text (it starts with a UTF-16 byte order mark, as Excel's 'Unicode Text' "
            f"writes); ask the warehouse to save it as 'CSV UTF-8', or set files.encoding: utf-16 (now {encoding})"
        )
    head = data[:4096]
    # UTF-16 without a byte order mark: ASCII text with a NUL in every other byte
    if len(head) >= 8 and max(head[0::2].count(0), head[1::2].count(0)) * 10 >= len(head) // 2 * 9:
        return Problem(
            "the file has a NUL in every other byte: it is UTF-16 text without a byte order mark; "
            "ask the warehouse to save it as 'CSV UTF-8'"
        )
    codec = encoding.replace("-", "").replace("_", "").lower()
    if data.startswith(b"\xef\xbb\xbf") and codec not in ("utf8", "utf8sig"):
        return Problem(
            f"the file starts with a UTF-8 byte order mark but this warehouse's files.encoding is {encoding}: "
            "set files.encoding: utf-8, or ask the warehouse to send the encoding agreed"
        )
    return None


def sniff_text(utf8: bytes) -> Problem | None:
    """Text that is not a table: an HTML page where a CSV belongs, or lines ended by a bare carriage return."""
    start = utf8[3:200] if utf8.startswith(b"\xef\xbb\xbf") else utf8[:200]
    if start.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")):
        return Problem(f"the file is an HTML or XML page, not CSV (a saved error page?); {_EXPORT_AS_CSV}")
    if b"\r" in utf8 and b"\n" not in utf8:
        return Problem(
            "the lines end with a bare carriage return (CR, old Mac style), so the file reads as one line; "
            "ask the warehouse to end lines with CRLF or LF"
        )
    return None


# ---------------------------------------------------------------------------------------------- lines and quotes


@dataclass(frozen=True)
class LineScan:
    """One pass over the physical lines: each line's delimiter count, and the lines holding an odd character."""

    delimiters: pl.DataFrame  # line (1 = header), delimiters (quoted ones included)
    suspect_lines: tuple[int, ...]  # lines holding a character no value may hold (header line included)


_ORDINARY = bytes(range(0x20, 0x7F)) + b"\n"
_LEAD_BYTES = (b"\xc2", b"\xe2", b"\xef")  # UTF-8 lead bytes of C1 controls, zero-width and format characters


def scan_lines(utf8: bytes, delimiter: str) -> LineScan:
    """Count the delimiters on every physical line, and find the lines with a control or invisible character.

    Runs before the file is parsed and keeps only integers, so the parse and this pass never hold the file's text
    twice. A byte-level look decides first whether any line can hold an odd character at all.
    """
    separator = _absent_byte(utf8)
    if separator is None:  # every byte value occurs in the file: it is not text
        raise ValueError("the file holds every possible byte value")
    text = pl.col("text").fill_null("")
    columns = [
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line"),
        text.str.count_matches(delimiter, literal=True).cast(pl.Int64).alias("delimiters"),
    ]
    odd = _odd_pattern(utf8, delimiter)
    if odd is not None:
        columns.append(text.str.contains(odd).alias("odd"))
    lines = (
        pl.scan_csv(io.BytesIO(utf8), has_header=False, separator=separator, quote_char=None, infer_schema=False)
        .select(pl.first().alias("text"))
        .select(columns)
        .collect()
    )
    suspect = tuple(lines.filter(pl.col("odd"))["line"].to_list()) if odd is not None else ()
    return LineScan(lines.select("line", "delimiters"), suspect)


def _odd_pattern(utf8: bytes, delimiter: str) -> str | None:
    """The regex for lines to look at closely, or None when no byte of the file can start an odd character."""
    ordinary = _ORDINARY + (b"\t" if delimiter == "\t" else b"")
    rare = utf8.translate(None, ordinary)
    carriage_returns = rare.count(b"\r")
    bare_cr = carriage_returns and carriage_returns != utf8.count(b"\r\n")
    controls = rare.translate(None, bytes(range(0x80, 0x100)) + b"\r")
    if not (controls or bare_cr or any(lead in rare for lead in _LEAD_BYTES)):
        return None
    allowed = {"\n", delimiter}
    odd = "".join(f"\\x{code:02X}" for code in range(0x20) if chr(code) not in allowed | {"\r", "\t"})
    tab = "" if delimiter == "\t" else "|\t"
    # polars ends a line at LF and drops the CR before it, so a CR left in a line is a bare one
    return "[" + odd + r"\x7F-\x9F" + _INVISIBLE + "]|\r" + tab


def field_count_problems(
    raw: pl.DataFrame, fields: Sequence[str], scan: LineScan, delimiter: str, utf8: bytes
) -> list[Problem]:
    """Every record must have exactly the header's number of fields: more means a stray delimiter, fewer a gap.

    A record's fields are its lines' delimiters, less those inside quoted values (counted in the parsed values),
    plus one. Blank lines are skipped, as the reader skips them.
    """
    records = raw.select("line", "blank")
    if b'"' in utf8:
        inner = pl.sum_horizontal(
            pl.col(name).str.count_matches(delimiter, literal=True).fill_null(0) for name in fields
        )
        records = raw.select("line", "blank", inner.cast(pl.Int64).alias("inner"))
        # a quoted value can span lines: a record owns every line from its first to the next record's
        per_record = (
            scan.delimiters.join_asof(records.select("line", record="line"), on="line", strategy="backward")
            .group_by("record")
            .agg(pl.col("delimiters").sum())
        )
        counted = records.join(per_record, left_on="line", right_on="record", how="left").with_columns(
            fields=pl.col("delimiters") - pl.col("inner") + 1
        )
    elif records.height == scan.delimiters.height:  # without quotes each line is one record: no join needed
        counted = records.with_columns(fields=scan.delimiters["delimiters"] + 1)
    else:
        counted = records.join(scan.delimiters, on="line", how="left").with_columns(fields=pl.col("delimiters") + 1)
    width = counted["fields"][0]
    wrong = counted.filter(~pl.col("blank") & (pl.col("fields") != width) & (pl.col("line") > 1))
    last_line = utf8.count(b"\n") + (0 if utf8.endswith(b"\n") else 1)
    problems = []
    for number, count in wrong.select("line", "fields").iter_rows():
        if count > width:
            reason = (
                f"line has {count} fields but the header has {width}: a value holds an unquoted "
                f"{_delimiter_name(delimiter)}, or the delimiter is not {_delimiter_name(delimiter)}"
            )
        else:
            reason = f"line has {count} fields but the header has {width}: a value is missing"
            if number == last_line and not utf8.endswith((b"\n", b"\r")):
                reason += " (it is the last line and has no line end: the file may have been cut short)"
        problems.append(Problem(reason, row=number))
    return problems


def _absent_byte(data: bytes) -> str | None:
    for code in (0x1F, 0x1E, 0x1D, 0x1C, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x00):
        if bytes((code,)) not in data:
            return chr(code)
    return None


def _delimiter_name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(delimiter, repr(delimiter))


def locate_quote_problem(utf8: bytes, delimiter: str, headers: Sequence[str] = ()) -> Problem | None:
    """Name the line and column where a broken quoted value starts (the reader only says the file is broken).

    Looks at quote characters only: a quote that opens a value must stand at its start, be closed, and be
    followed by a delimiter or the line end; a quote inside an unquoted value is a stray one.
    """
    sep = delimiter.encode()
    position = utf8.find(b'"')
    counted, line = 0, 1
    while position != -1:
        line += utf8.count(b"\n", counted, position)
        counted = position
        before = utf8[position - 1 : position] if position else b"\n"
        if before not in (sep, b"\n", b"\r"):
            # the Excel trick ="00123" (keep leading zeros) is the usual source of these
            return _quote_problem(
                "a quote inside an unquoted value (for example a spreadsheet's =\"00123\" or a hand edit); "
                "quote the whole value and double the quotes inside it",
                utf8, delimiter, line, position, headers,
            )
        search = position + 1
        while True:
            closing = utf8.find(b'"', search)
            if closing == -1:
                return _quote_problem(
                    "a quoted value starts here and is never closed, so the rest of the file reads as one value",
                    utf8, delimiter, line, position, headers,
                )
            if utf8[closing + 1 : closing + 2] == b'"':
                search = closing + 2  # "" is a quote inside the value
                continue
            break
        after = utf8[closing + 1 : closing + 2]
        if after not in (b"", sep, b"\r", b"\n"):
            return _quote_problem(
                "text follows the closing quote of a quoted value (a quote inside a value must be doubled: \"\")",
                utf8, delimiter, line, position, headers,
            )
        position = utf8.find(b'"', closing + 1)
    return None


def _quote_problem(
    what: str, utf8: bytes, delimiter: str, line: int, position: int, headers: Sequence[str]
) -> Problem:
    start = utf8.rfind(b"\n", 0, position) + 1
    prefix = utf8[start:position].decode("utf-8", errors="replace")
    index = len(next(csv.reader([prefix + "x"], delimiter=delimiter), [""])) - 1
    column = headers[index] if index < len(headers) and headers[index] else None
    where = f"line {line}" + (f", column {column}" if column else f", field {index + 1}")
    return Problem(f"{where}: {what}", row=line, column=column)


# ---------------------------------------------------------------------------------------------- values


def character_problems(
    raw: pl.DataFrame, fields: Sequence[str], names: dict[str, str], suspect_lines: Sequence[int], quoted: bool
) -> list[Problem]:
    """Values holding a control or invisible character, or a line break, each named by line and column.

    `raw` has the record's first line in `line` and the trimmed values in `fields` (file order); `names` maps the
    fields that are read to our column names (others are ignored, so their content does not matter).
    """
    record_lines = raw["line"].to_list()
    wanted: set[int] = set()
    for line in suspect_lines:
        at = bisect.bisect_right(record_lines, line) - 1
        if at > 0:  # index 0 is the header: its names are matched loosely or reported as unknown
            wanted.add(record_lines[at])
    if quoted:  # a quoted value can hold a line break: its record is followed by a gap in the line numbers
        gaps = raw.select("line", gap=pl.col("line").shift(-1) - pl.col("line")).slice(1)
        wanted.update(gaps.filter((pl.col("gap") > 1) | pl.col("gap").is_null())["line"].to_list())
    if not wanted:
        return []
    problems: list[Problem] = []
    rows = raw.filter(pl.col("line").is_in(sorted(wanted))).select("line", *fields)
    for line, *values in rows.iter_rows():
        breaks_before = 0
        for field, value in zip(fields, values, strict=True):
            name = names.get(field)
            if value is not None and name is not None:
                problem = _value_problem(value, name, line, line + breaks_before)
                if problem is not None:
                    problems.append(problem)
            breaks_before += value.count("\n") if value else 0
    return problems


def _value_problem(value: str, column: str, row: int, starts: int) -> Problem | None:
    label = column.replace("_", " ")
    for index, char in enumerate(value):
        if char == "\n" or (char == "\r" and "\n" in value):
            ends = starts + value.count("\n")
            return Problem(
                f"{label} holds a line break: a quoted value starts on line {starts} and runs to line {ends}; "
                "a quote is probably not closed where it should be",
                row=row, column=column, value=value,
            )
        if is_suspect(char):
            return Problem(
                f"{label} holds the character {describe_char(char)} at position {index + 1}, which no value may "
                "hold; remove it at the warehouse",
                row=row, column=column, value=value,
            )
    return None
