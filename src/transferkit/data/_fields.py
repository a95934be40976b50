"""Other facts of each sample than its label, by name: a column of the same row, a field of
a file-name pattern, or a folder the file sits in. `--group speaker` and the other tasks of
`--label digit,speaker` read them here.

A field is resolved from the sample's ref after the data is read, so every reader (class
folders, file-name patterns, delimited text, tables, the adapt target) gets it the same
way, and a split drawn from train keeps it (`Dataset.subset`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Dataset, DataSplits
from transferkit.data._pattern import compile_pattern


class MissingColumnError(TransferKitError):
    """A file of the data has no column by that name."""


_FOLDER = re.compile(r"folder(?::([0-9]+))?")
_ROW_REF = re.compile(r"(.+):([0-9]+)")


def attach_fields(
    splits: DataSplits,
    names: list[str],
    flag: str,
    label_pattern: str | None = None,
    missing_ok: bool = False,
) -> None:
    """Resolve each of `names` for every sample of every split, into `Dataset.fields`.
    `missing_ok`: a val or test file without the column has the field empty (another
    task's labels, which may be missing); else it is an error."""
    read: dict[str, Any] = {}  # each file parsed once, for every split and name
    for split in ("train", "val", "test"):
        data = getattr(splits, split)
        if data is not None:
            for name in names:
                try:
                    data.fields[name] = field_values(data, name, flag, label_pattern, read)
                except MissingColumnError:
                    if not missing_ok or split == "train":
                        raise
                    data.fields[name] = [""] * len(data)


def field_values(
    data: Dataset,
    name: str,
    flag: str,
    label_pattern: str | None = None,
    read: dict[str, Any] | None = None,
) -> list[str]:
    """The value of `name` for each sample of `data` ('' where a row leaves it empty).

    - `folder` or `folder:K`: the name of the folder the file sits in (K levels up);
    - a field of `label_pattern`, read from the file name;
    - a column of a delimited file or table (by name, or by number from 0; `read` keeps
      the files already parsed).
    """
    if data.modality in ("image", "audio"):
        return _file_values(data, name, flag, label_pattern)
    return _column_values(data, name, flag, {} if read is None else read)


def _file_values(data: Dataset, name: str, flag: str, label_pattern: str | None) -> list[str]:
    folder = _FOLDER.fullmatch(name)
    if folder is not None:
        levels = int(folder.group(1) or 1)
        if levels < 1:
            raise TransferKitError(f"{flag} {name!r}: count folders up from 1 ('folder:1').")
        values = []
        for ref in data.refs:
            parents = Path(ref).parents
            if levels > len(parents) - 1:
                raise TransferKitError(
                    f"{flag} {name!r}: {ref!r} sits fewer than {levels} folder(s) deep."
                )
            values.append(parents[levels - 1].name)
        return values
    if label_pattern is not None:
        regex, fields = compile_pattern(label_pattern)
        if name in fields:
            return [_match(regex, ref, name) for ref in data.refs]
        known = ", ".join([*fields, "folder", "folder:K"])
    else:
        known = "folder, folder:K (or a field of --label-pattern)"
    raise TransferKitError(
        f"{flag} {name!r} names nothing the {data.modality} files have: use one of {known}."
    )


def _match(regex: re.Pattern[str], ref: str, name: str) -> str:
    match = regex.fullmatch(Path(ref).name)
    return match.group(name) if match is not None else ""


def _column_values(data: Dataset, name: str, flag: str, read: dict[str, Any]) -> list[str]:
    """The cells of column `name` on the rows the refs ('file:line') point at (`read`:
    the files parsed so far, by path; filled in here)."""
    from transferkit.data._delimited import is_column_number
    from transferkit.data._tabular import read_any_table

    tables: dict[str, dict[int, str]] = {}
    values = []
    for ref in data.refs:
        found = _ROW_REF.fullmatch(ref)
        if found is None:
            raise TransferKitError(f"{flag} {name!r}: sample {ref!r} is not a row of a file.")
        path, line = found.group(1), int(found.group(2))
        if path not in tables:
            if path not in read:
                read[path] = read_any_table(Path(path))
            table = read[path]
            header = table.rows[0] if table.rows else []
            if name in header:
                column = header.index(name)
            elif is_column_number(name) and int(name) < max(map(len, table.rows), default=0):
                column = int(name)
            else:
                shown = ", ".join(header) or "none"
                raise MissingColumnError(
                    f"{flag} {name!r}: {path!r} has no such column; its columns are {shown}."
                )
            tables[path] = {
                n: (row[column].strip() if column < len(row) else "")
                for n, row in zip(table.lines, table.rows, strict=True)
            }
        values.append(tables[path].get(line, ""))
    return values
