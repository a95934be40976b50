"""One entry point from a path to train / val / test splits."""

from __future__ import annotations

import os
from pathlib import Path

from transferkit._errors import TransferKitError, choice_error
from transferkit.data._dataset import DataSplits, Skipped, encode_labels, stratified_split
from transferkit.data._delimited import Table, read_delimited
from transferkit.data._images import (
    SPLIT_NAMES,
    find_split_dirs,
    folder_link_skips,
    looks_like_image_folder,
    read_class_folders,
)
from transferkit.data._tabular import (
    describe_columns,
    has_free_text,
    looks_tabular,
    read_any_table,
    read_tabular,
)
from transferkit.data._walk import BROKEN_LINK, list_folder, on_path

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", "")
MODALITIES = ("text", "tabular", "image")


def read_data(
    path: str | Path,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    val_size: float = 0.2,
    seed: int = 0,
    modality: str | None = None,
) -> DataSplits:
    """Read an image folder or delimited text into splits.

    - a folder of class sub-folders, with or without `train/ val/ test/` inside;
    - a CSV/TSV file (split with a fixed seed), or a folder with `train.*`,
      `val.*` and optionally `test.*` files: text and label columns, or a table of
      numeric and categorical columns with a label column (modality `tabular`).
    Without a validation split, one is drawn stratified with `seed`. `modality`
    ('text', 'tabular' or 'image') overrides the detection; `DataSplits.detected` says
    in one line what was detected and used.
    """
    path = Path(path)
    if modality is not None and modality not in MODALITIES:
        raise choice_error("modality", modality, list(MODALITIES))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise TransferKitError(f"`seed` must be a whole number from 0 to 2**32 - 1; got {seed!r}.")
    if not path.exists():
        if path.is_symlink():
            raise _broken_link_error(path, "data path")
        raise TransferKitError(f"data path {str(path)!r} does not exist.")
    if path.is_dir():
        _check_split_links(path)
    if modality == "image":
        return _read_images(path, val_size, seed)
    tables = None if path.is_file() else _split_tables(path)
    if tables is None and not path.is_file():
        if modality is not None:
            raise TransferKitError(
                f"modality {modality!r} reads a CSV, TSV or Parquet file, or a folder of"
                f" train/val files, and {str(path)!r} is a folder without them."
            )
        return _read_images(path, val_size, seed)
    files = {"train": path} if path.is_file() else tables
    raw, modality, columns, detected = _read_tables(files, modality, text_column, label_column)
    kind = "table" if modality == "tabular" else "delimited"
    layout = f"{kind} file" if path.is_file() else f"{kind} split files"
    splits = _assemble(raw, modality, layout, val_size, seed, path)
    splits.columns, splits.detected = columns, detected
    return splits


def _read_images(path: Path, val_size: float, seed: int) -> DataSplits:
    if path.is_file():
        raise TransferKitError(
            f"modality 'image' reads a folder of class sub-folders, and {str(path)!r} is a"
            " file: give the folder, or drop --modality."
        )
    if not looks_like_image_folder(path):
        raise TransferKitError(
            f"{str(path)!r} holds neither class sub-folders of images nor train/val CSV or TSV"
            " files: see `transferkit fit --help` for the layouts it reads."
        )
    dirs = find_split_dirs(path) or {"train": path}
    raw = {}
    for split, folder in dirs.items():
        paths, labels, skipped = read_class_folders(folder, split)
        raw[split] = (paths, labels, list(paths), skipped)
    split_folders = len(dirs) > 1 or dirs.get("train") != path
    if split_folders:  # links beside the split folders are in no split, but still reported
        raw["train"][3][:0] = folder_link_skips(path)
    layout = "image split folders" if split_folders else "image folder"
    splits = _assemble(raw, "image", layout, val_size, seed, path)
    splits.detected = "image: class folders" + (f" in {', '.join(dirs)}/" if split_folders else "")
    return splits


def _detect(table: Table, parquet: bool, text_column: str | int | None) -> str:
    """A table unless a column reads as prose (or a text column is named)."""
    if text_column is not None:
        return "text"
    if parquet:
        return "text" if has_free_text(table) else "tabular"
    return "tabular" if looks_tabular(table) else "text"


def _read_tables(
    files: dict[str, Path],
    modality: str | None,
    text_column: str | int | None,
    label_column: str | int | None,
) -> tuple[dict, str, dict[str, list[str]] | None, str]:
    """(raw splits, modality, tabular columns, detected) of the train/val/test files."""
    table = read_any_table(files["train"])
    if modality == "tabular" and text_column is not None:
        raise TransferKitError(
            f"--text {text_column!r} names a text column, but the modality is 'tabular':"
            " drop one of them."
        )
    modality = modality or _detect(table, files["train"].suffix.lower() == ".parquet", text_column)
    tables = {s: table if s == "train" else read_any_table(p) for s, p in files.items()}
    raw = {}
    if modality == "tabular":
        columns = None
        for s, p in files.items():
            *raw[s], columns = read_tabular(p, s, label_column, tables[s], plan=columns)
        return raw, modality, columns, describe_columns(columns)
    detected = ""
    for s, p in files.items():
        *raw[s], cols = read_delimited(p, s, text_column, label_column, tables[s])
        detected = detected or cols.describe()
    return raw, modality, None, detected


def _check_split_links(folder: Path) -> None:
    """Refuse a split folder or file (train/, val.csv, ...) that is a link to nothing or a
    loop: skipping it would silently change the splits (a val split drawn from train, the
    other splits read as classes), so it must be fixed rather than skipped."""
    split_names = {name for names in SPLIT_NAMES.values() for name in names}
    for link, reason in list_folder(folder, on_path(folder))[2]:
        name = link.name.lower()
        stem = name.rsplit(".", 1)[0] if link.suffix.lower() in TABLE_SUFFIXES else name
        if stem not in split_names:
            continue
        if reason == BROKEN_LINK:
            raise _broken_link_error(link, "split")
        raise TransferKitError(
            f"split {str(link)!r} is a {reason}: point it at the split's own folder or file,"
            " or remove it."
        )


def _broken_link_error(link: Path, what: str) -> TransferKitError:
    return TransferKitError(
        f"{what} {str(link)!r} is a broken symbolic link: its target"
        f" {os.readlink(link)!r} does not exist. Fix the link or remove it."
    )


def _split_tables(folder: Path) -> dict[str, Path] | None:
    found: dict[str, Path] = {}
    for split, names in {
        "train": ("train",),
        "val": ("val", "valid", "validation", "dev"),
        "test": ("test",),
    }.items():
        for name in names:
            hits = [
                folder / f"{name}{s}" for s in TABLE_SUFFIXES if (folder / f"{name}{s}").is_file()
            ]
            if hits:
                found[split] = hits[0]
                break
    return found if "train" in found else None


def _assemble(
    raw: dict, modality: str, layout: str, val_size: float, seed: int, path: Path
) -> DataSplits:
    skipped: list[Skipped] = [s for split in raw.values() for s in split[3]]
    if "train" not in raw or not raw["train"][0]:
        raise TransferKitError(
            f"no readable training samples in {str(path)!r} ({len(skipped)} skipped):"
            " check the layout and the files."
        )
    labels = {s: v[1] for s, v in raw.items()}
    inputs = {s: v[0] for s, v in raw.items()}
    refs = {s: v[2] for s, v in raw.items()}
    sets = encode_labels(labels, modality, inputs, refs)
    if "val" in sets:
        split_source = "given"
        train, val = sets["train"], sets["val"]
    else:
        train, val = stratified_split(sets["train"], val_size, seed, f"{str(path)!r}")
        split_source = (
            f"stratified {round((1 - val_size) * 100)}/{round(val_size * 100)}, seed {seed}"
        )
    return DataSplits(
        train=train,
        val=val,
        test=sets.get("test"),
        skipped=skipped,
        split_source=split_source,
        layout=layout,
    )
