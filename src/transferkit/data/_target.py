"""The target of a domain adaptation: inputs without labels, or with labels that are read
only to evaluate.

Unlabelled targets: a folder of images (any nesting; sub-folder names are not read as
labels), or a text file (one text per line, or a CSV/TSV whose text column is named,
called like one, or has the longest values). With `labels=True` the target is read as
`fit` reads labelled data, every split together, and its class names must be classes of
the source.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Dataset, Skipped
from transferkit.data._delimited import TEXT_NAMES, decode_file, is_delimited, read_table
from transferkit.data._images import checked_images
from transferkit.data._walk import on_path, walk_files

UNLABELLED = -1


@dataclass
class Target:
    """The target's inputs (labels `UNLABELLED` unless `labelled`) and what was skipped."""

    data: Dataset
    labelled: bool
    skipped: list[Skipped] = field(default_factory=list)
    detected: str = ""


def read_target(
    path: str | Path,
    modality: str,
    class_names: list[str],
    *,
    labels: bool = False,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    columns: dict[str, list[str]] | None = None,
    label_pattern: str | None = None,
) -> Target:
    """Read the target for a source of `modality` with `class_names`; a table's target is
    read with the source's feature `columns` (a file lacking one is refused); a labelled
    folder of files named by `label_pattern` is read with it, as the source was."""
    path = Path(path)
    if not path.exists():
        raise TransferKitError(f"target {str(path)!r} does not exist.")
    if modality == "tabular":
        return _table(path, class_names, labels, label_column, columns or {"features": []})
    if labels:
        return _labelled(path, modality, class_names, text_column, label_column, label_pattern)
    if modality in ("image", "audio"):
        inputs, refs, skipped = _media_files(path, modality)
        detected = f"{modality}: every {modality} file under the folder, unlabelled"
    elif modality == "text":
        inputs, refs, skipped, detected = _texts(path, text_column)
    else:
        raise TransferKitError(
            f"an unlabelled {modality} target is not read yet: give the target with its label"
            " column and --target-labels (the labels are read only to evaluate)."
        )
    if not inputs:
        raise TransferKitError(
            f"no readable target inputs in {str(path)!r} ({len(skipped)} skipped): a target"
            f" for this {modality} source needs {_expected(modality)}."
        )
    labels_array = np.full(len(inputs), UNLABELLED, dtype=int)
    data = Dataset(inputs, labels_array, class_names, modality, refs)
    return Target(data, False, skipped, detected)


def _expected(modality: str) -> str:
    if modality in ("image", "audio"):
        return f"a folder of {modality} files"
    return "a text file (one text per line) or a CSV/TSV with a text column"


def _media_files(folder: Path, modality: str) -> tuple[list[str], list[str], list[Skipped]]:
    """Every image (or audio) file under `folder`; the others skipped with why."""
    from transferkit.data._audio import check_audio_header

    if not folder.is_dir():
        raise TransferKitError(
            f"target {str(folder)!r} is a file; the source holds {modality} files: give a"
            f" folder of {modality} files."
        )
    files, problems = walk_files(folder, on_path(folder))
    skipped = [Skipped(item=str(p), reason=why, split="target") for p, why in problems]
    check = check_audio_header if modality == "audio" else None
    paths, bad = checked_images(files, "target", check)
    return paths, list(paths), skipped + bad


def _texts(
    path: Path, text_column: str | int | None
) -> tuple[list[str], list[str], list[Skipped], str]:
    if not path.is_file():
        raise TransferKitError(
            f"target {str(path)!r} is a folder; the source holds texts: give a text file"
            " (one text per line) or a CSV/TSV with a text column."
        )
    if not is_delimited(path):  # one text per line, commas and all
        lines = [line.rstrip("\r\n") for line in io.StringIO(decode_file(path), newline="")]
        kept = [(i, line) for i, line in enumerate(lines) if line.strip()]
        texts, refs = [t for _, t in kept], [f"{path}:{i + 1}" for i, _ in kept]
        return texts, refs, [], "text: one text per line, unlabelled"
    table = read_table(path)
    width = max((len(r) for i, r in enumerate(table.rows) if i not in table.malformed), default=0)
    column, header = _text_column(table.rows, width, text_column, path)
    texts, refs, skipped = [], [], []
    for i, row in enumerate(table.rows):
        if header and i == 0:
            continue
        ref = f"{path}:{table.lines[i]}"
        if i in table.malformed:
            skipped.append(Skipped(item=ref, reason=table.malformed[i], split="target"))
        elif len(row) <= column or not row[column].strip():
            if any(cell.strip() for cell in row):
                skipped.append(Skipped(item=ref, reason="empty text", split="target"))
        else:
            texts.append(row[column])
            refs.append(ref)
    name = table.rows[0][column] if header else f"column {column}"
    return texts, refs, skipped, f"text: text column {name!r}, unlabelled"


def _text_column(
    rows: list[list[str]], width: int, text_column: str | int | None, path: Path
) -> tuple[int, bool]:
    """(the text column, whether the first row is a header)."""
    first = [cell.strip().lower() for cell in rows[0]] if rows else []
    if isinstance(text_column, str) and not text_column.isdigit():
        if text_column.lower() not in first:
            raise TransferKitError(
                f"--target-text {text_column!r} is not a column of {str(path)!r}; its first"
                f" row is {rows[0][:6] if rows else []}."
            )
        return first.index(text_column.lower()), True
    header = any(cell in TEXT_NAMES for cell in first)
    if text_column is not None:
        return int(text_column), header
    if header:
        return next(i for i, cell in enumerate(first) if cell in TEXT_NAMES), True
    body = rows[1:] if header else rows
    lengths = [
        np.mean([len(r[c]) for r in body if len(r) > c] or [0]) for c in range(max(width, 1))
    ]
    return int(np.argmax(lengths)), False


def _position(ref: str) -> tuple[str, int]:
    """A ref's place in its files: ('path', line) for 'path:line', else (path, 0)."""
    path, _, line = ref.rpartition(":")
    return (path, int(line)) if path and line.isdigit() else (ref, 0)


def _labelled(
    path: Path,
    modality: str,
    class_names: list[str],
    text_column: str | int | None,
    label_column: str | int | None,
    label_pattern: str | None = None,
) -> Target:
    from transferkit.data._read import read_data

    splits = read_data(
        path,
        text_column=text_column,
        label_column=label_column,
        modality=modality,
        label_pattern=label_pattern,
    )
    if splits.modality != modality:
        raise TransferKitError(
            f"target {str(path)!r} holds {splits.modality} and the source {modality}: adapt"
            " between inputs of one kind."
        )
    parts = [d for d in (splits.train, splits.val, splits.test) if d is not None]
    names = splits.class_names
    _check_known(path, names, class_names)
    index = np.array([class_names.index(n) for n in names])
    inputs = [x for d in parts for x in d.inputs]
    refs = [r for d in parts for r in d.refs]
    labels = np.concatenate([index[d.labels] for d in parts])
    # in the files' own order: the split `read_data` drew depends on the labels, and the
    # adaptation must see the same target whatever its labels say
    order = sorted(range(len(refs)), key=lambda i: _position(refs[i]))
    data = Dataset(inputs, labels, class_names, modality, refs).subset(order)
    detected = f"{splits.detected}; labels read only to evaluate"
    return Target(data, True, list(splits.skipped), detected)


def _check_known(path: Path, names: list[str], class_names: list[str]) -> None:
    """A one-line error for target classes the source lacks (the model cannot predict them)."""
    unknown = sorted(set(names) - set(class_names))
    if unknown:
        raise TransferKitError(
            f"target {str(path)!r} has class(es) {', '.join(map(repr, unknown[:5]))} that the"
            f" source does not ({', '.join(map(repr, class_names[:10]))}): a model trained on the"
            " source cannot predict them. Drop those target rows, or add them to the source."
        )


def _table(
    path: Path,
    class_names: list[str],
    labels: bool,
    label_column: str | int | None,
    columns: dict[str, list[str]],
) -> Target:
    """A table target: its rows as the source's feature columns (other columns, the label's
    among them, are not read unless `labels`); malformed rows are skipped and counted."""
    from transferkit.data._dataset import canonical_label
    from transferkit.data._tabular import read_rows, read_tabular

    if not path.is_file():
        raise TransferKitError(
            f"target {str(path)!r} is a folder; the source is a table: give a CSV/TSV or"
            " Parquet file with the source's feature columns."
        )
    if labels:
        rows, raw, refs, skipped, _ = read_tabular(path, "target", label_column, plan=columns)
        names = [canonical_label(v) for v in raw]
        _check_known(path, names, class_names)
        y = np.array([class_names.index(n) for n in names], dtype=int)
        data = Dataset(rows, y, class_names, "tabular", refs)
        return Target(data, True, skipped, "tabular: the source's columns; labels read only"
                      " to evaluate")  # fmt: skip
    every, refs_all = read_rows(path, required=columns["features"])
    rows, refs, skipped = [], [], []
    for row, ref in zip(every, refs_all, strict=True):
        if row.startswith("{"):  # read_rows gives a malformed row's reason instead
            rows.append(row)
            refs.append(ref)
        else:
            skipped.append(Skipped(item=ref, reason=row, split="target"))
    if not rows:
        raise TransferKitError(f"no readable rows in target {str(path)!r}: check the file.")
    data = Dataset(rows, np.full(len(rows), UNLABELLED, dtype=int), class_names, "tabular", refs)
    return Target(data, False, skipped, "tabular: the source's feature columns, unlabelled")
