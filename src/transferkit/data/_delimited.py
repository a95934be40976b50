"""Delimited text (CSV/TSV, with or without header): text and label columns."""

from __future__ import annotations

import csv
import io
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Skipped

TEXT_NAMES = ("text", "sentence", "message", "review", "content", "document", "body", "sms")
LABEL_NAMES = ("label", "labels", "class", "target", "category", "sentiment", "score", "y")
_DELIMITERS = ("\t", ",", ";", "|")


@dataclass
class Table:
    """Rows of a delimited file with their line numbers."""

    path: Path
    delimiter: str
    rows: list[list[str]]
    lines: list[int]


def read_table(path: Path) -> Table:
    """Parse a file; TSV is read without quote handling (quotes are text in TSV)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TransferKitError(f"cannot read {str(path)!r}: {exc.strerror}.") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Spreadsheet exports are often Windows-1252; say so rather than guess silently.
        warnings.warn(
            f"{path} is not UTF-8 (byte {exc.start}); it is read as Windows-1252.",
            UserWarning,
            stacklevel=2,
        )
        text = raw.decode("cp1252", errors="replace")
    if not text.strip():
        raise TransferKitError(f"{str(path)!r} is empty: it needs one text and one label per row.")
    delimiter = _delimiter(path, text)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    # Lines end at \n, \r\n or \r only: str.splitlines() would also break at U+0085 and
    # U+2028, which occur inside real sentences (two lines of the UCI IMDB file).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    rows, lines = [], []
    line = 1
    for row in reader:
        rows.append([cell.strip() for cell in row])
        lines.append(line)
        line = reader.line_num + 1
    return Table(path=path, delimiter=delimiter, rows=rows, lines=lines)


def _delimiter(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return "\t"
    sample = [line for line in io.StringIO(text, newline="").readlines()[:200] if line.strip()]
    order = (",", ";", "\t", "|") if suffix == ".csv" else _DELIMITERS  # .csv: comma first
    for delimiter in order:
        if sample and all(delimiter in line for line in sample):
            return delimiter
    counts = {d: sum(line.count(d) for line in sample) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        raise TransferKitError(
            f"{str(path)!r} has no tab, comma, semicolon or pipe between columns: it needs one"
            " text column and one label column."
        )
    return best


@dataclass
class Columns:
    text: int
    label: int
    header: bool
    names: list[str] | None


def resolve_columns(table: Table, text: str | int | None, label: str | int | None) -> Columns:
    """Find the text and label columns (named, numbered, or detected) and the header."""
    width = _common_width(table.rows)
    if width < 2:
        raise TransferKitError(
            f"{str(table.path)!r} has a single column: it needs a text and a label column."
        )
    first = table.rows[0]
    named = [c for c in (text, label) if isinstance(c, str) and not c.isdigit()]
    header = True if named else _has_header(table.rows, _guess_label(table.rows[1:], width))
    names = first if header else None
    text_col = _column(text, names, table.path, "--text", width)
    label_col = _column(label, names, table.path, "--label", width)
    body = table.rows[1:] if header else table.rows
    if label_col is None and names is not None:
        label_col = _by_name(names, LABEL_NAMES)
    if text_col is None and names is not None:
        text_col = _by_name(names, TEXT_NAMES, exclude=label_col)
    if label_col is None:
        label_col = _guess_label(body, width, exclude=text_col)
    if text_col is None:
        text_col = _guess_text(body, width, exclude=label_col)
    if text_col == label_col:
        raise TransferKitError(
            f"the text and label columns of {str(table.path)!r} are the same ({text_col}):"
            " name them with `--text COL --label COL`."
        )
    return Columns(text=text_col, label=label_col, header=header, names=names)


def _common_width(rows: list[list[str]]) -> int:
    from collections import Counter

    counts = Counter(len(r) for r in rows)
    return counts.most_common(1)[0][0] if counts else 0


def _column(
    spec: str | int | None, names: list[str] | None, path: Path, flag: str, width: int | None = None
) -> int | None:
    if spec is None:
        return None
    if isinstance(spec, int) or str(spec).isdigit():
        if width is not None and int(spec) >= width:
            raise TransferKitError(
                f"{flag} {spec}: {str(path)!r} has {width} columns (numbered from 0)."
            )
        return int(spec)
    if names is None or spec not in names:
        shown = ", ".join(names) if names else "none (no header)"
        raise TransferKitError(
            f"{flag} {spec!r}: {str(path)!r} has no such column; its columns are {shown}."
            " Name a column from the header or give its number (0 is the first)."
        )
    return names.index(spec)


def _by_name(names: list[str], wanted: tuple[str, ...], exclude: int | None = None) -> int | None:
    lowered = [n.strip().lower() for n in names]
    for want in wanted:
        if want in lowered and lowered.index(want) != exclude:
            return lowered.index(want)
    return None


def _values(rows: list[list[str]], col: int) -> list[str]:
    return [r[col] for r in rows if len(r) > col and r[col]]


def _guess_label(rows: list[list[str]], width: int, exclude: int | None = None) -> int:
    """The column with the fewest distinct values (ties: the shorter values)."""
    best, best_key = 0, None
    for col in range(width):
        if col == exclude:
            continue
        values = _values(rows, col)
        key = (len(set(values)), sum(map(len, values)) / max(1, len(values)))
        if best_key is None or key < best_key:
            best, best_key = col, key
    return best


def _guess_text(rows: list[list[str]], width: int, exclude: int) -> int:
    """The column with the longest values on average."""
    lengths = {
        col: sum(map(len, _values(rows, col))) / max(1, len(_values(rows, col)))
        for col in range(width)
        if col != exclude
    }
    return max(lengths, key=lengths.get)


def _has_header(rows: list[list[str]], label_col: int) -> bool:
    """A header's label cell is no data row's label, and its cells read as column names."""
    if len(rows) < 2 or len(rows[0]) <= label_col:
        return False
    labels = set(_values(rows[1:], label_col))
    first = [cell.strip() for cell in rows[0]]
    if first[label_col] in labels:
        return False
    if any(cell.lower() in LABEL_NAMES + TEXT_NAMES for cell in first):
        return True
    # Unknown names: only when every cell looks like an identifier, so a first data row
    # whose label happens to be unique is not swallowed as a header.
    names = all(
        len(cell) <= 32 and re.fullmatch(r"[A-Za-z_][\w.-]*( [\w.-]+){0,2}", cell) for cell in first
    )
    return names and len(labels) <= max(50, len(rows) // 10)


def read_delimited(
    path: Path, split: str, text: str | int | None = None, label: str | int | None = None
) -> tuple[list[str], list[str], list[str], list[Skipped]]:
    """(texts, labels, refs, skipped) from one file; malformed rows are skipped and named."""
    table = read_table(path)
    cols = resolve_columns(table, text, label)
    needed = max(cols.text, cols.label) + 1
    expected = _common_width(table.rows[1:] if cols.header else table.rows)
    texts, labels, refs, skipped = [], [], [], []
    start = 1 if cols.header else 0
    for row, line in zip(table.rows[start:], table.lines[start:], strict=True):
        ref = f"{path}:{line}"
        if not any(row):
            continue  # blank lines are not data
        if len(row) < needed or len(row) != expected:
            reason = f"malformed row: {len(row)} fields, expected {expected}"
        elif not row[cols.text]:
            reason = "empty text"
        elif not row[cols.label]:
            reason = "empty label"
        else:
            texts.append(row[cols.text])
            labels.append(row[cols.label])
            refs.append(ref)
            continue
        skipped.append(Skipped(item=ref, reason=reason, split=split))
    return texts, labels, refs, skipped
