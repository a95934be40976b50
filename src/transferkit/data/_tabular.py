"""Tabular CSV files: numeric and categorical columns and a label column.

A row becomes one input: a JSON object of its feature columns as written in the file
(strings), so a row can be cached, listed and predicted like a text. Encoding
(standardisation, one-hot) is learned later from the training split only, by the
`identity` backbone (`transferkit.backbones._tabular`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Skipped
from transferkit.data._delimited import LABEL_NAMES, Table, read_table

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
MAX_CATEGORIES = 50  # more distinct strings than this: free text, not a category


def is_free_text(values: list[str]) -> bool:
    """Non-numeric cells that read as prose: many distinct values, or a median of 3+ words."""
    if not values or sum(is_number(v) for v in values) >= 0.9 * len(values):
        return False
    words = sorted(len(v.split()) for v in values)
    return len(set(values)) > MAX_CATEGORIES or words[len(words) // 2] >= 3


def is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().lower() not in MISSING


def _is_index(name: str, values: list[str]) -> bool:
    """A pandas-style row index: an unnamed (or 'Unnamed: 0') column of integers."""
    unnamed = name == "" or re.fullmatch(r"Unnamed: \d+", name) is not None
    return unnamed and all(v.isdigit() for v in values[:1000])


def looks_tabular(table: Table) -> bool:
    """A header and at least two feature columns, each numeric or few-valued: no free text."""
    if len(table.rows) < 3 or len(table.rows[0]) < 3:
        return False
    header, rows = table.rows[0], [r for r in table.rows[1:] if len(r) == len(table.rows[0])]
    if not rows or any(is_number(h) for h in header if h):
        return False
    for col in range(len(header)):
        values = [r[col] for r in rows if r[col].strip().lower() not in MISSING]
        if is_free_text(values):
            return False  # a column of free text: this is a text file
    return True


def read_tabular(
    path: Path, split: str, label: str | int | None = None, table: Table | None = None
) -> tuple[list[str], list[str], list[str], list[Skipped], dict[str, list[str]]]:
    """(rows as JSON, labels, refs, skipped, columns) of one file; `columns` says which
    columns are features and which were dropped (a row index would leak the file order)."""
    table = table or read_any_table(path)
    header = table.rows[0]
    label_col = _label_column(header, label, path)
    body = list(zip(table.rows[1:], table.lines[1:], strict=True))
    dropped = [
        name
        for i, name in enumerate(header)
        if i != label_col and _is_index(name, [r[i] for r, _ in body if len(r) == len(header)])
    ]
    features = [
        (i, name) for i, name in enumerate(header) if i != label_col and name not in dropped
    ]
    rows, labels, refs, skipped = [], [], [], []
    for row, line in body:
        ref = f"{path}:{line}"
        if not any(row):
            continue
        if len(row) != len(header):
            reason = f"malformed row: {len(row)} fields, expected {len(header)}"
        elif row[label_col].strip().lower() in MISSING:
            reason = "empty label"
        else:
            rows.append(json.dumps({name: row[i] for i, name in features}))
            labels.append(row[label_col])
            refs.append(ref)
            continue
        skipped.append(Skipped(item=ref, reason=reason, split=split))
    columns = {"features": [name for _, name in features], "dropped": dropped}
    return rows, labels, refs, skipped, columns


def read_parquet(path: Path) -> Table:
    """A Parquet file as a `Table` of strings (header first); None becomes an empty cell.
    Its "line" numbers count the header as line 1, as in a CSV export of the same data."""
    import pyarrow.parquet as pq

    try:
        data = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise TransferKitError(
            f"cannot read {str(path)!r} as Parquet ({str(exc)[:120]}): check the file."
        ) from exc
    header = list(data.column_names)
    columns = [data.column(name).to_pylist() for name in header]
    rows = [header] + [
        ["" if v is None else str(v) for v in values] for values in zip(*columns, strict=True)
    ]
    return Table(path=path, delimiter="", rows=rows, lines=list(range(1, len(rows) + 1)))


def read_any_table(path: Path) -> Table:
    return read_parquet(path) if path.suffix.lower() == ".parquet" else read_table(path)


def read_rows(path: Path) -> tuple[list[str], list[str]]:
    """(rows as JSON, refs) of a headed CSV to predict: every column kept (the encoder reads
    the ones it knows), malformed rows kept too so that they get an error row."""
    if not path.is_file():
        raise TransferKitError(f"input {str(path)!r} is not a file: give CSV files of rows.")
    table = read_any_table(path)
    header = table.rows[0]
    rows, refs = [], []
    for row, line in zip(table.rows[1:], table.lines[1:], strict=True):
        if not any(row):
            continue
        refs.append(f"{path}:{line}")
        if len(row) != len(header):
            rows.append(f"malformed row: {len(row)} fields, expected {len(header)}")
        else:
            rows.append(json.dumps(dict(zip(header, row, strict=True))))
    if not rows:
        raise TransferKitError(f"{str(path)!r} has a header but no rows to predict.")
    return rows, refs


def _label_column(header: list[str], label: str | int | None, path: Path) -> int:
    if isinstance(label, int) or (isinstance(label, str) and label.isdigit()):
        index = int(label)
        if not 0 <= index < len(header):
            raise TransferKitError(
                f"--label {label} is out of range: {str(path)!r} has {len(header)} columns."
            )
        return index
    if label is not None:
        if label not in header:
            raise TransferKitError(
                f"--label {label!r} is not a column of {str(path)!r}: its columns are"
                f" {', '.join(header[:12])}{', ...' if len(header) > 12 else ''}."
            )
        return header.index(label)
    lowered = [h.strip().lower() for h in header]
    for name in LABEL_NAMES:
        if name in lowered:
            return lowered.index(name)
    return len(header) - 1  # the usual place of the target in a table
