"""One entry point from a path to train / val / test splits."""

from __future__ import annotations

from pathlib import Path

from transferkit._errors import TransferKitError
from transferkit.data._dataset import DataSplits, Skipped, encode_labels, stratified_split
from transferkit.data._delimited import read_delimited
from transferkit.data._images import find_split_dirs, looks_like_image_folder, read_class_folders
from transferkit.data._tabular import looks_tabular, read_any_table, read_tabular

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", "")


def read_data(
    path: str | Path,
    *,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    val_size: float = 0.2,
    seed: int = 0,
) -> DataSplits:
    """Read an image folder or delimited text into splits.

    - a folder of class sub-folders, with or without `train/ val/ test/` inside;
    - a CSV/TSV file (split with a fixed seed), or a folder with `train.*`,
      `val.*` and optionally `test.*` files: text and label columns, or a table of
      numeric and categorical columns with a label column (modality `tabular`).
    Without a validation split, one is drawn stratified with `seed`.
    """
    path = Path(path)
    if not path.exists():
        raise TransferKitError(f"data path {str(path)!r} does not exist.")
    columns = None
    if path.is_file() or (tables := _split_tables(path)) is not None:
        files = {"train": path} if path.is_file() else tables
        table = read_any_table(files["train"])
        parquet = files["train"].suffix.lower() == ".parquet"
        if parquet or (text_column is None and looks_tabular(table)):
            raw = {}
            for s, p in files.items():
                *raw[s], columns = read_tabular(p, s, label_column, table if s == "train" else None)
            modality = "tabular"
        else:
            raw = {s: read_delimited(p, s, text_column, label_column) for s, p in files.items()}
            modality = "text"
        kind = "table" if modality == "tabular" else "delimited"
        layout = f"{kind} file" if path.is_file() else f"{kind} split files"
    elif looks_like_image_folder(path):
        dirs = find_split_dirs(path) or {"train": path}
        raw = {}
        for split, folder in dirs.items():
            paths, labels, skipped = read_class_folders(folder, split)
            raw[split] = (paths, labels, list(paths), skipped)
        layout = (
            "image split folders" if len(dirs) > 1 or dirs.get("train") != path else "image folder"
        )
        modality = "image"
    else:
        raise TransferKitError(
            f"{str(path)!r} holds neither class sub-folders of images nor train/val CSV or TSV"
            " files: see `transferkit fit --help` for the layouts it reads."
        )
    splits = _assemble(raw, modality, layout, val_size, seed, path)
    splits.columns = columns
    return splits


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
