"""One entry point from a path to train / val / test splits."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from transferkit._errors import TransferKitError, choice_error
from transferkit.data._audio import AUDIO_SUFFIXES, check_audio_header, is_audio_file
from transferkit.data._dataset import DataSplits, Skipped, encode_labels, stratified_split
from transferkit.data._delimited import Table, read_delimited
from transferkit.data._images import (
    SPLIT_NAMES,
    check_image_header,
    find_split_dirs,
    folder_link_skips,
    looks_like_image_folder,
    read_class_folders,
)
from transferkit.data._pattern import read_pattern_files
from transferkit.data._tabular import (
    describe_columns,
    has_free_text,
    looks_tabular,
    read_any_table,
    read_tabular,
)
from transferkit.data._walk import BROKEN_LINK, list_folder, on_path, walk_files

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", "")
MODALITIES = ("text", "tabular", "image", "audio")


def read_data(
    path: str | Path,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    val_size: float = 0.2,
    seed: int = 0,
    modality: str | None = None,
    label_pattern: str | None = None,
    other_labels: tuple[str, ...] = (),
) -> DataSplits:
    """Read an image or audio folder, or delimited text, into splits.

    - a folder of class sub-folders, with or without `train/ val/ test/` inside; or of
      files whose names hold the label (`label_pattern`, e.g. '{digit}_{speaker}.wav'
      with `label_column='digit'`);
    - a CSV/TSV file (split with a fixed seed), or a folder with `train.*`,
      `val.*` and optionally `test.*` files: text and label columns, or a table of
      numeric and categorical columns with a label column (modality `tabular`).
    Without a validation split, one is drawn stratified with `seed`. `modality`
    ('text', 'tabular', 'image' or 'audio') overrides the detection; `DataSplits.detected` says
    in one line what was detected and used. `other_labels`: a multi-task run's other label
    columns, never features of a table.
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
    if modality == "audio" or (
        modality is None and path.is_dir() and looks_like_audio_folder(path)
    ):
        return _read_audio(path, val_size, seed, label_pattern, label_column)
    if label_pattern is not None and modality != "image" and not _image_files(path):
        raise TransferKitError(
            f"--label-pattern reads labels from the names of image or audio files, and"
            f" {str(path)!r} holds neither: drop --label-pattern."
        )
    if modality == "image" or label_pattern is not None:
        return _read_images(path, val_size, seed, label_pattern, label_column)
    tables = None if path.is_file() else _split_tables(path)
    if tables is None and not path.is_file():
        if modality is not None:
            raise TransferKitError(
                f"modality {modality!r} reads a CSV, TSV or Parquet file, or a folder of"
                f" train/val files, and {str(path)!r} is a folder without them."
            )
        return _read_images(path, val_size, seed)
    files = {"train": path} if path.is_file() else tables
    raw, modality, columns, detected = _read_tables(
        files, modality, text_column, label_column, other_labels
    )
    kind = "table" if modality == "tabular" else "delimited"
    layout = f"{kind} file" if path.is_file() else f"{kind} split files"
    splits = _assemble(raw, modality, layout, val_size, seed, path)
    splits.columns, splits.detected = columns, detected
    return splits


def _read_images(
    path: Path,
    val_size: float,
    seed: int,
    label_pattern: str | None = None,
    label: str | int | None = None,
) -> DataSplits:
    if path.is_file():
        raise TransferKitError(
            f"modality 'image' reads a folder of class sub-folders, and {str(path)!r} is a"
            " file: give the folder, or drop --modality."
        )
    if label_pattern is None and not looks_like_image_folder(path):
        raise TransferKitError(
            f"{str(path)!r} holds neither class sub-folders of images nor train/val CSV or TSV"
            " files: see `transferkit fit --help` for the layouts it reads."
        )
    return _read_folder(path, "image", val_size, seed, label_pattern, label, check_image_header)


def _read_audio(
    path: Path, val_size: float, seed: int, label_pattern: str | None, label: str | int | None
) -> DataSplits:
    if path.is_file():
        raise TransferKitError(
            f"modality 'audio' reads a folder of audio files (class sub-folders, or"
            f" --label-pattern), and {str(path)!r} is a file: give the folder."
        )
    if not looks_like_audio_folder(path):
        raise TransferKitError(
            f"{str(path)!r} holds no audio files ({', '.join(AUDIO_SUFFIXES)}): give a folder"
            " of them, in class sub-folders or named by --label-pattern."
        )
    return _read_folder(path, "audio", val_size, seed, label_pattern, label, check_audio_header)


def _read_folder(
    path: Path,
    modality: str,
    val_size: float,
    seed: int,
    label_pattern: str | None,
    label: str | int | None,
    check: Callable[[Path], str | None],
) -> DataSplits:
    """Class sub-folders (or files named by `label_pattern`), in split folders or not."""
    dirs = find_split_dirs(path) or {"train": path}
    raw = {}
    for split, folder in dirs.items():
        if label_pattern is None:
            paths, labels, skipped = read_class_folders(folder, split, check)
        else:
            paths, labels, skipped = read_pattern_files(folder, split, label_pattern, label, check)
        raw[split] = (paths, labels, list(paths), skipped)
    split_folders = len(dirs) > 1 or dirs.get("train") != path
    if split_folders and label_pattern is None:
        # links beside the split folders are in no split, but still reported
        raw["train"][3][:0] = folder_link_skips(path)
    layout = f"{modality} split folders" if split_folders else f"{modality} folder"
    splits = _assemble(raw, modality, layout, val_size, seed, path)
    how = "class folders" if label_pattern is None else f"labels from file names {label_pattern!r}"
    splits.detected = f"{modality}: {how}" + (f" in {', '.join(dirs)}/" if split_folders else "")
    return splits


def looks_like_audio_folder(root: Path) -> bool:
    """True when most visible files anywhere under `root` are audio files."""
    files, _ = walk_files(root, on_path(root))
    visible = [p for p in files if not p.name.startswith(".")]
    return bool(visible) and 2 * sum(map(is_audio_file, visible)) > len(visible)


def _image_files(path: Path) -> bool:
    """A folder of image files: in class sub-folders, or side by side (named by a pattern)."""
    if not path.is_dir():
        return False
    if looks_like_image_folder(path):
        return True
    tables = {".csv", ".tsv", ".txt", ".parquet"}
    files, _ = walk_files(path, on_path(path))
    return any(not p.name.startswith(".") and p.suffix.lower() not in tables for p in files)


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
    other_labels: tuple[str, ...] = (),
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
            *raw[s], columns = read_tabular(
                p, s, label_column, tables[s], plan=columns, others=other_labels
            )
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
