"""Delimited text (CSV/TSV, with or without header): text and label columns.

Every row is either read right or reported: a quote that opens a field and never closes
would make a CSV parser read the following lines as part of that field, so such a row is
reported as malformed ("unclosed quote") and reading resumes on the next line; a quoted
field that does close may span lines (a review with a line break inside quotes).
"""

from __future__ import annotations

import csv
import io
import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Skipped

TEXT_NAMES = ("text", "sentence", "message", "review", "content", "document", "body", "sms")
LABEL_NAMES = ("label", "labels", "class", "target", "category", "sentiment", "score", "y")
_DELIMITERS = ("\t", ",", ";", "|")
UNCLOSED_QUOTE = (
    'malformed row: unclosed quote (a field opens with " and never closes): close it, or'
    ' write a quote inside a field as ""'
)


@dataclass
class Table:
    """Rows of a delimited file with their line numbers.

    `malformed` maps the index of a row that could not be parsed to why (its cells are a
    best-effort reading of its line); `has_header` is None when it must be detected.
    """

    path: Path
    delimiter: str
    rows: list[list[str]]
    lines: list[int]
    malformed: dict[int, str] = field(default_factory=dict)
    has_header: bool | None = None


def decode_file(path: Path) -> str:
    """The text of a file: UTF-8 with or without BOM, else Windows-1252 with a warning."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TransferKitError(f"cannot read {str(path)!r}: {exc.strerror}.") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Spreadsheet exports are often Windows-1252; say so rather than guess silently.
        warnings.warn(
            f"{path} is not UTF-8 (byte {exc.start}); it is read as Windows-1252.",
            UserWarning,
            stacklevel=3,
        )
        return raw.decode("cp1252", errors="replace")


def _physical_lines(text: str) -> list[str]:
    # Lines end at \n, \r\n or \r only: str.splitlines() would also break at U+0085 and
    # U+2028, which occur inside real sentences (two lines of the UCI IMDB file).
    return io.StringIO(text, newline="").readlines()


def read_text_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a texts file (one text per line), decoded as `read_table`
    decodes; lines end only at \\n, \\r\\n and \\r, not at U+0085 or U+2028."""
    path = Path(path)
    if not path.is_file():
        raise TransferKitError(
            f"texts file {str(path)!r} does not exist: give a file with one text per line."
        )
    lines = [line.rstrip("\r\n") for line in _physical_lines(decode_file(path))]
    return [line for line in lines if line.strip()]


def read_table(path: Path) -> Table:
    """Parse a file; TSV is read without quote handling (quotes are text in TSV)."""
    text = decode_file(path)
    if not text.strip():
        raise TransferKitError(f"{str(path)!r} is empty: it needs one text and one label per row.")
    delimiter = _delimiter(path, text)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    lines = _physical_lines(text)
    if delimiter == "\t":
        reader = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)
        rows = [[cell.strip() for cell in row] for row in reader]
        return Table(path, delimiter, rows, list(range(1, len(rows) + 1)))
    return _read_quoted(path, delimiter, lines)


class _LineFeed:
    """The physical lines from `pos` on, for a csv reader; `pos` can be moved back."""

    def __init__(self, lines: list[str]) -> None:
        self.lines, self.pos = lines, 0

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _read_quoted(path: Path, delimiter: str, lines: list[str]) -> Table:
    """Records of a quoted CSV. A record that fails strict parsing (a quote that never
    closes, or text after a closing quote) is re-read from its first line alone: an
    unclosed quote there makes it one malformed row, and the next line starts a record."""
    table = Table(path, delimiter, [], [])
    feed = _LineFeed(lines)
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    while feed.pos < len(lines):
        start = feed.pos
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            row, unclosed = _lenient(lines[start], delimiter)
            if unclosed:
                table.malformed[len(table.rows)] = UNCLOSED_QUOTE
            feed.pos = start + 1
            reader = csv.reader(feed, delimiter=delimiter, strict=True)
        table.rows.append([cell.strip() for cell in row])
        table.lines.append(start + 1)
    return table


def _lenient(line: str, delimiter: str) -> tuple[list[str], bool]:
    """(cells, whether a quoted field is still open at the end of the line) of one line."""
    line = line if line.endswith(("\n", "\r")) else line + "\n"
    row = next(csv.reader([line], delimiter=delimiter), [])
    # A field still open at the end of the line holds the line break itself.
    return row, bool(row) and row[-1].endswith(("\n", "\r"))


def is_delimited(path: Path) -> bool:
    """True when a file reads as columns: a .csv/.tsv, or one delimiter on every one of its
    first 200 non-blank lines. A texts file whose lines only sometimes hold a comma is not."""
    if path.suffix.lower() in (".csv", ".tsv"):
        return True
    return _consistent(path, decode_file(path)) is not None


def _consistent(path: Path, text: str) -> str | None:
    """The delimiter on every one of the first 200 non-blank lines, if there is one."""
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return "\t"
    sample = [line for line in _physical_lines(text)[:200] if line.strip()]
    order = (",", ";", "\t", "|") if suffix == ".csv" else _DELIMITERS  # .csv: comma first
    for delimiter in order:
        if sample and all(delimiter in line for line in sample):
            return delimiter
    return None


def _delimiter(path: Path, text: str) -> str:
    found = _consistent(path, text)
    if found is not None:
        return found
    sample = [line for line in _physical_lines(text)[:200] if line.strip()]
    counts = {d: sum(line.count(d) for line in sample) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        raise TransferKitError(
            f"{str(path)!r} has no tab, comma, semicolon or pipe between columns: it needs one"
            " text column and one label column."
        )
    return best


def require_unique_names(names: list[str], path: Path) -> None:
    """A header must name each column once: rows become {name: value}, and a second column
    of the same name would silently replace the first."""
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            shown = repr(name) if name else "'' (no name)"
            raise TransferKitError(
                f"{str(path)!r} has two columns named {shown} (columns {first[name]} and {i},"
                " numbered from 0): rename one of them in the header."
            )
        first[name] = i


def require_data_rows(table: Table, header: bool | None, split: str = "train") -> None:
    """A file of a header and no data rows is an error, not a class named after a column;
    so is a training file of one line (a single sample cannot be split or learned from).
    `header` None: decide from the line's cells (column names such as 'text', 'label')."""
    body = [i for i, row in enumerate(table.rows) if any(row) or i in table.malformed]
    if header is None:
        header = len(body) == 1 and any(
            cell.lower() in LABEL_NAMES + TEXT_NAMES for cell in table.rows[body[0]]
        )
    data = body[1:] if header else body
    if header and not data:
        first = ", ".join(table.rows[0])[:80]
        raise TransferKitError(
            f"{str(table.path)!r} has a header line ({first}) but no data rows: add one row"
            " per sample below it."
        )
    if split == "train" and len(data) == 1:
        raise TransferKitError(
            f"{str(table.path)!r} has a single data row (line {table.lines[data[0]]}): a data"
            " set needs one row per sample, at least 2 per class (if that line is a header,"
            " add the rows below it)."
        )


@dataclass
class Columns:
    """The text and label columns of a delimited file, and its header if it has one."""

    text: int
    label: int
    header: bool
    names: list[str] | None

    def describe(self) -> str:
        """One line for the run's summary: which columns are text and label."""
        if self.names is None:
            return f"text: text column {self.text}, label column {self.label} (no header)"
        return f"text: text column {self._name(self.text)}, label column {self._name(self.label)}"

    def _name(self, index: int) -> str:
        # a header shorter than its rows has no name for the columns past its end
        return repr(self.names[index]) if self.names and index < len(self.names) else str(index)


def resolve_columns(table: Table, text: str | int | None, label: str | int | None) -> Columns:
    """Find the text and label columns (named, numbered, or detected) and the header."""
    width = _common_width([r for i, r in enumerate(table.rows) if i not in table.malformed])
    if width < 2:
        raise TransferKitError(
            f"{str(table.path)!r} has a single column: it needs a text and a label column."
        )
    header = _header(table, text, label, width)
    names = table.rows[0] if header else None
    if names is not None:
        require_unique_names(names, table.path)
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


def _header(table: Table, text: str | int | None, label: str | int | None, width: int) -> bool:
    if table.has_header is not None:
        return table.has_header
    if any(isinstance(c, str) and not is_column_number(c) for c in (text, label)):
        return True  # a column named on the command line: the file has names
    return _has_header(table.rows, _guess_label(table.rows[1:], width))


def is_column_number(spec: str) -> bool:
    """A column given by its number: ASCII digits only ('²' is a digit to str.isdigit)."""
    return re.fullmatch(r"[0-9]+", spec) is not None


def _common_width(rows: list[list[str]]) -> int:
    counts = Counter(len(r) for r in rows)
    return counts.most_common(1)[0][0] if counts else 0


def _column(
    spec: str | int | None, names: list[str] | None, path: Path, flag: str, width: int | None = None
) -> int | None:
    if spec is None:
        return None
    if isinstance(spec, int) or is_column_number(str(spec)):
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
    path: Path,
    split: str,
    text: str | int | None = None,
    label: str | int | None = None,
    table: Table | None = None,
) -> tuple[list[str], list[str], list[str], list[Skipped], Columns]:
    """(texts, labels, refs, skipped, columns) from one file (`table`: already parsed, e.g.
    from Parquet); malformed rows are skipped and named."""
    table = table or read_table(path)
    require_data_rows(table, table.has_header, split)
    cols = resolve_columns(table, text, label)
    needed = max(cols.text, cols.label) + 1
    start = 1 if cols.header else 0
    wellformed = [r for i, r in enumerate(table.rows) if i >= start and i not in table.malformed]
    expected = _common_width(wellformed)
    texts, labels, refs, skipped = [], [], [], []
    for i in range(start, len(table.rows)):
        row, ref = table.rows[i], f"{path}:{table.lines[i]}"
        if i in table.malformed:
            reason = table.malformed[i]
        elif not any(row):
            continue  # blank lines are not data
        elif len(row) < needed or len(row) != expected:
            reason = f"malformed row: {len(row)} fields, expected {expected}"
        elif not row[cols.text].strip():
            reason = "empty text"
        elif not row[cols.label].strip():
            reason = "empty label"
        else:
            texts.append(row[cols.text])
            labels.append(row[cols.label])
            refs.append(ref)
            continue
        skipped.append(Skipped(item=ref, reason=reason, split=split))
    return texts, labels, refs, skipped, cols
