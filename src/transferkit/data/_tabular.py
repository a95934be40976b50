"""Tabular CSV files: numeric and categorical columns and a label column.

A row becomes one input: a JSON object of its feature columns as written in the file
(strings), so a row can be cached, listed and predicted like a text. Encoding
(standardisation, one-hot) is learned later from the training split only, by the
`identity` backbone (`transferkit.backbones._tabular`).

What each column is (`column_kind`; one rule for the reader and the encoder; "cells" are
the non-missing cells of the column):
- numeric: 90 % or more of the cells are numbers (inf, 1e999 count, and are imputed);
- free text: else, when the cells read as prose (a median of 3+ words): the file is text;
- identifier: else, more than MAX_CATEGORIES distinct values, single words (median), and
  at least half of the cells distinct (c0, c1, ...): dropped and reported, still a table;
- categorical: everything else, many-valued short strings included (one-hot encoded).
Why half: an identifier names a row, so it barely repeats (all distinct for a key, half
for customers with two rows each), while a category repeats; a column more than half of
whose cells are values seen once gives a one-hot encoding little it could learn from.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Skipped
from transferkit.data._delimited import (
    LABEL_NAMES,
    Table,
    is_column_number,
    read_table,
    require_data_rows,
    require_unique_names,
)

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
MAX_CATEGORIES = 50  # more distinct strings than this, mostly unique: an identifier
MIN_IDENTIFIER_SHARE = 0.5  # distinct values / cells, at or above which it names rows
KINDS = ("numeric", "categorical", "identifier", "free text")


def reads_as_number(value: str) -> bool:
    """A number as written, finite or not (inf, 1e999); missing markers such as nan are not."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return value.strip().lower() not in MISSING


def is_number(value: str) -> bool:
    """A finite number: the only kind a numeric column keeps (the rest is imputed)."""
    return reads_as_number(value) and math.isfinite(float(value))


def is_present(value: str) -> bool:
    """Not a missing cell (empty, na, n/a, nan, null, none, ?, -)."""
    return value.strip().lower() not in MISSING


def _median_words(values: list[str]) -> int:
    words = sorted(len(v.split()) for v in values)
    return words[len(words) // 2] if words else 0


def _is_numeric(values: list[str]) -> bool:
    return bool(values) and sum(reads_as_number(v) for v in values) >= 0.9 * len(values)


def is_free_text(values: list[str]) -> bool:
    """Non-numeric cells that read as prose: a median of 3 words or more."""
    return bool(values) and not _is_numeric(values) and _median_words(values) >= 3


def is_identifier(values: list[str]) -> bool:
    """Non-numeric single words, many distinct and mostly unique: a row identifier."""
    if not values or _is_numeric(values) or _median_words(values) > 1:
        return False
    distinct = len(set(values))
    return distinct > MAX_CATEGORIES and distinct >= MIN_IDENTIFIER_SHARE * len(values)


def column_kind(values: list[str]) -> str:
    """One of KINDS for a column's non-missing cells (the rule in this module's docstring)."""
    if not values:
        return "categorical"  # nothing to go on: encodes as all zeros, as today
    if _is_numeric(values):
        return "numeric"
    if is_free_text(values):
        return "free text"
    return "identifier" if is_identifier(values) else "categorical"


def why_dropped(kind: str, values: list[str]) -> str:
    """The reason a column of `kind` is not encoded, with the count that decided it."""
    if kind == "identifier":
        return f"identifier, {len(set(values)):,} distinct values"
    return f"free text, median {_median_words(values)} words"


def _is_index(name: str, values: list[str]) -> bool:
    """A pandas-style row index: an unnamed (or 'Unnamed: 0') column of integers."""
    unnamed = name == "" or re.fullmatch(r"Unnamed: \d+", name) is not None
    return unnamed and all(v.isdigit() for v in values[:1000])


def _wellformed(table: Table) -> list[list[str]]:
    width = len(table.rows[0])
    return [
        r for i, r in enumerate(table.rows[1:], 1) if len(r) == width and i not in table.malformed
    ]


def looks_tabular(table: Table) -> bool:
    """A header and at least two feature columns, none of them free text (identifier
    columns do not make a file text: they are dropped)."""
    if len(table.rows) < 3 or len(table.rows[0]) < 3 or not _wellformed(table):
        return False
    if any(reads_as_number(h) for h in table.rows[0] if h):
        return False  # a first row of numbers is data: no header, so not a table
    return not has_free_text(table)


def has_free_text(table: Table) -> bool:
    """Whether a column of the table (header first) reads as prose."""
    rows = _wellformed(table)
    return any(
        is_free_text([r[col] for r in rows if is_present(r[col])])
        for col in range(len(table.rows[0]))
    )


def plan_columns(
    header: list[str], rows: list[list[str]], label_col: int, others: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Which columns are features (numeric, categorical) and which are dropped, and why:
    a row index would leak the file order, an identifier names rows, free text is text,
    and the labels of a multi-task run's other tasks (`others`) are labels, not inputs."""
    plan: dict[str, list[str]] = {
        key: [] for key in ("features", "numeric", "categorical", "dropped", "dropped_reasons")
    }
    for i, name in enumerate(header):
        if i == label_col:
            continue
        if name in others:
            plan["dropped"].append(name)
            plan["dropped_reasons"].append("another task's label")
            continue
        values = [r[i] for r in rows]
        present = [v for v in values if is_present(v)]
        kind = "row index" if _is_index(name, values) else column_kind(present)
        if kind in ("numeric", "categorical"):
            plan["features"].append(name)
            plan[kind].append(name)
        else:
            plan["dropped"].append(name)
            plan["dropped_reasons"].append(
                kind if kind == "row index" else why_dropped(kind, present)
            )
    return plan


def describe_columns(columns: dict[str, list[str]]) -> str:
    """One line for the run's summary: the feature columns and the dropped ones, and why."""
    n = len(columns["features"])
    line = (
        f"tabular: {n} feature column{'' if n == 1 else 's'} ({len(columns['numeric'])}"
        f" numeric, {len(columns['categorical'])} categorical)"
    )
    dropped = [
        f"{name or 'unnamed column'} ({why})"
        for name, why in zip(columns["dropped"], columns["dropped_reasons"], strict=True)
    ]
    return line + ("; dropped: " + ", ".join(dropped) if dropped else "")


def read_tabular(
    path: Path,
    split: str,
    label: str | int | None = None,
    table: Table | None = None,
    plan: dict[str, list[str]] | None = None,
    others: tuple[str, ...] = (),
) -> tuple[list[str], list[str], list[str], list[Skipped], dict[str, list[str]]]:
    """(rows as JSON, labels, refs, skipped, columns) of one file; `columns` says which
    columns are features and which were dropped, and why (`plan_columns`). `plan`: the
    training file's columns, which a val or test file must have and is read with."""
    table = table or read_any_table(path)
    require_data_rows(table, True, split)
    header = table.rows[0]
    require_unique_names(header, path)
    label_col = _label_column(header, label, path)
    if plan is None:
        plan = plan_columns(header, _wellformed(table), label_col, others)
    elif missing := [name for name in plan["features"] if name not in header]:
        raise missing_columns_error(path, missing, len(plan["features"]), "the training file has")
    if not plan["features"]:
        raise TransferKitError(
            f"{str(path)!r} has no feature columns left ({describe_columns(plan)}): a table"
            " needs numeric or categorical columns beside the label."
        )
    features = [(header.index(name), name) for name in plan["features"]]
    rows, labels, refs, skipped = [], [], [], []
    for i in range(1, len(table.rows)):
        row, ref = table.rows[i], f"{path}:{table.lines[i]}"
        if i in table.malformed:
            reason = table.malformed[i]
        elif not any(row):
            continue
        elif len(row) != len(header):
            reason = f"malformed row: {len(row)} fields, expected {len(header)}"
        elif not is_present(row[label_col]):
            reason = "empty label"
        else:
            rows.append(json.dumps({name: row[j] for j, name in features}))
            labels.append(row[label_col])
            refs.append(ref)
            continue
        skipped.append(Skipped(item=ref, reason=reason, split=split))
    return rows, labels, refs, skipped, plan


def missing_columns_error(
    path: Path, missing: list[str], total: int, whose: str = "the model was trained on"
) -> TransferKitError:
    """One line naming the first few columns a file lacks, and how many."""
    shown = ", ".join(repr(name) for name in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return TransferKitError(
        f"{str(path)!r} lacks {len(missing)} of the {total} columns {whose} ({shown}{more}):"
        " give a file whose header names every one of them."
    )


def read_parquet(path: Path) -> Table:
    """A Parquet file as a `Table` of strings (header first); None becomes an empty cell.
    Its "line" numbers count the header as line 1, as in a CSV export of the same data."""
    import pyarrow.parquet as pq

    try:
        # ParquetFile, not read_table: the latter refuses duplicated names with an opaque
        # message, and require_unique_names says which columns and what to do.
        data = pq.ParquetFile(path).read()
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise TransferKitError(
            f"cannot read {str(path)!r} as Parquet ({str(exc)[:120]}): check the file."
        ) from exc
    header = list(data.column_names)
    require_unique_names(header, path)
    columns = [column.to_pylist() for column in data.columns]
    rows = [header] + [
        ["" if v is None else str(v) for v in values] for values in zip(*columns, strict=True)
    ]
    lines = list(range(1, len(rows) + 1))
    return Table(path=path, delimiter="", rows=rows, lines=lines, has_header=True)


def read_any_table(path: Path) -> Table:
    """A CSV/TSV (`read_table`) or Parquet (`read_parquet`) file, by its suffix."""
    return read_parquet(path) if path.suffix.lower() == ".parquet" else read_table(path)


def read_rows(path: Path, required: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(rows as JSON, refs) of a headed CSV to predict: every column kept (the encoder reads
    the ones it knows), malformed rows kept too so that they get an error row.

    `required`: the columns the model was trained on (`TabularBackbone.columns`); a file
    whose header lacks any of them is refused rather than imputed cell by cell.
    """
    if not path.is_file():
        raise TransferKitError(f"input {str(path)!r} is not a file: give CSV files of rows.")
    table = read_any_table(path)
    header = table.rows[0]
    require_unique_names(header, path)
    if missing := [name for name in required or [] if name not in header]:
        raise missing_columns_error(path, missing, len(required))
    rows, refs = [], []
    for i in range(1, len(table.rows)):
        row = table.rows[i]
        if not any(row) and i not in table.malformed:
            continue
        refs.append(f"{path}:{table.lines[i]}")
        if i in table.malformed:
            rows.append(table.malformed[i])
        elif len(row) != len(header):
            rows.append(f"malformed row: {len(row)} fields, expected {len(header)}")
        else:
            rows.append(json.dumps(dict(zip(header, row, strict=True))))
    if not rows:
        raise TransferKitError(f"{str(path)!r} has a header but no rows to predict.")
    return rows, refs


def _label_column(header: list[str], label: str | int | None, path: Path) -> int:
    if isinstance(label, int) or (isinstance(label, str) and is_column_number(label)):
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
