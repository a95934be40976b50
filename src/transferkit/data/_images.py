"""Image folders: one sub-folder per class, optionally under train/ val/ test/."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from transferkit.data._dataset import Skipped

SPLIT_NAMES = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation", "dev"),
    "test": ("test", "testing"),
}


def find_split_dirs(root: Path) -> dict[str, Path]:
    """The split folders under `root`, or {} when its folders are classes.

    Split layout only when every visible sub-folder has a split name and a
    `train` one is among them: a class that happens to be called `train`
    (bus/ car/ train/) stays a class.
    """
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and _visible(p)}
    by_name = {name: split for split, names in SPLIT_NAMES.items() for name in names}
    if not children or any(name not in by_name for name in children):
        return {}
    found = {by_name[name]: path for name, path in sorted(children.items())}
    return found if "train" in found and len(found) == len(children) else {}


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def check_image_header(path: Path) -> str | None:
    """A reason to skip the file, or None when its header reads as an image (cheap)."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            image.size  # noqa: B018  (the header is parsed by open)
    except UnidentifiedImageError:
        return "not an image file"
    except (OSError, ValueError) as exc:
        return f"unreadable image header ({type(exc).__name__}: {str(exc)[:80]})"
    return None


def read_class_folders(root: Path, split: str) -> tuple[list[str], list[str], list[Skipped]]:
    """(paths, labels, skipped) for `root/CLASS/FILE`, recursing into nested folders."""
    paths: list[str] = []
    labels: list[str] = []
    skipped: list[Skipped] = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
        for path in sorted(p for p in class_dir.rglob("*") if p.is_file() and _visible(p)):
            reason = check_image_header(path)
            if reason is None:
                paths.append(str(path))
                labels.append(class_dir.name)
            else:
                skipped.append(Skipped(item=str(path), reason=reason, split=split))
    return paths, labels, skipped


def looks_like_image_folder(root: Path) -> bool:
    """True when some sub-folder holds a file that is not a table (a stray CSV is ignored)."""
    tables = {".csv", ".tsv", ".txt", ".parquet"}
    return any(
        child.is_file()
        and _visible(child)
        and child.parent != root
        and child.suffix.lower() not in tables
        for child in sorted(root.rglob("*"))
    )
