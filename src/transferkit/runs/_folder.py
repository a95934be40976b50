"""What a run folder holds, and how transferkit reads and writes it safely.

Every file transferkit writes into a run folder is listed in `manifest.json` beside it
(`{"format": 1, "files": {"model/head.json": {"size": 412, "sha256": "..."}}}`, paths
relative to the folder, `/`-separated). `--overwrite` removes exactly the listed files
whose content is still what transferkit wrote; anything else stays, and is named.

Paths inside a run folder never pass through a symbolic link and never climb out of it
(`inside`): a run folder handed over by someone else cannot make `report`, `predict` or
`fit --overwrite` read, embed, overwrite or delete a file elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from transferkit._errors import TransferKitError
from transferkit._hashing import sha256_file

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


class RunFolderError(TransferKitError):
    """A path in a run folder that transferkit will not follow."""


def inside(root: str | Path, name: str | Path, what: str = "") -> Path:
    """`root/name`, checked: `name` is relative, does not climb out with `..`, and no part
    of it below `root` is a symbolic link. `what` says where the name came from."""
    root = Path(root)
    parts = PurePosixPath(str(name).replace("\\", "/")).parts
    origin = f" ({what})" if what else ""
    if not parts or Path(str(name)).is_absolute() or str(name).startswith(("/", "\\")):
        raise RunFolderError(
            f"{str(name)!r}{origin} is not a path inside the run folder {str(root)!r}:"
            " a run folder's files name only files inside it."
        )
    if ".." in parts:
        raise RunFolderError(
            f"{str(name)!r}{origin} climbs out of the run folder {str(root)!r} with '..':"
            " refused. Restore the run folder from the files `transferkit fit` wrote."
        )
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise RunFolderError(
                f"{str(path)!r} is a symbolic link: transferkit does not read or write through"
                " links in a run folder. Replace it with the file itself, or remove it."
            )
    return path


def read_manifest(root: str | Path) -> dict[str, dict]:
    """The files the manifest lists (empty when there is none); a damaged manifest is a
    one-line error, never taken for an empty one (that would disown the run's files)."""
    path = inside(root, MANIFEST)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
            raise TypeError("'files' is not an object of objects")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TransferKitError(
            f"{str(path)!r} is damaged ({type(exc).__name__}: {exc}): it lists what transferkit"
            " wrote in this folder. Restore it, or move the folder's files away by hand."
        ) from exc
    return {str(k): v for k, v in files.items()}


def is_unlisted_run(root: str | Path) -> bool:
    """A run folder written before run folders had a manifest (its files are adopted by
    `report`, `export` and `--resume`, which rewrite them; never by `--overwrite`)."""
    root = Path(root)
    return not (root / MANIFEST).exists() and (root / "model" / "model.json").is_file()


def record(root: str | Path, *names: str | Path) -> None:
    """Add files that transferkit just wrote to the manifest, with their size and digest;
    the manifest itself is replaced atomically. Name each file: a folder may hold the
    user's files too."""
    root = Path(root)
    files = read_manifest(root)
    for name in names:
        path = inside(root, name)
        if path.is_dir():
            raise ValueError(f"record files, not the folder {str(path)!r}")  # a bug
        if path.is_symlink() or not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        files[relative] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    _write_manifest(root, files)


def forget_file(root: str | Path, name: str) -> None:
    """Remove a file this run wrote, and its manifest entry (a model that was not kept)."""
    root = Path(root)
    files = read_manifest(root)
    relative = inside(root, name).relative_to(root).as_posix()
    if relative in files:
        inside(root, name).unlink(missing_ok=True)
        del files[relative]
        _write_manifest(root, files)


def record_nested(root: str | Path, folder: str) -> None:
    """List in `root`'s manifest the files a nested run in `root/folder` listed in its own
    manifest, and that manifest."""
    nested = read_manifest(inside(root, folder))
    names = [f"{folder}/{name}" for name in nested]
    record(root, *names, f"{folder}/{MANIFEST}")


def files_under(root: str | Path, folder: str) -> set[str]:
    """The files below `root/folder` (names relative to `root`), not following links."""
    root = Path(root)
    base = inside(root, folder)
    if not base.is_dir():
        return set()
    return {
        p.relative_to(root).as_posix() for p in _walk(base) if p.is_file() and not p.is_symlink()
    }


def _write_manifest(root: Path, files: dict[str, dict]) -> None:
    data = {"format": MANIFEST_FORMAT, "files": dict(sorted(files.items()))}
    write_text(root, MANIFEST, json.dumps(data, indent=1) + "\n", track=False)


def write_text(root: str | Path, name: str, text: str, *, track: bool = True) -> Path:
    """Write `root/name` atomically (a link at that name is refused, never followed) and
    list it in the manifest."""
    return write_bytes(root, name, text.encode("utf-8"), track=track)


def write_bytes(root: str | Path, name: str, data: bytes, *, track: bool = True) -> Path:
    """As `write_text`, for bytes."""
    path = output_path(root, name, guard=track)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes private files; a run's follow umask
        os.replace(tmp, path)  # replaces a name, never writes through what it points to
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if track:
        record(root, name)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_path(root: str | Path, name: str, *, guard: bool = True) -> Path:
    """A checked path to write `name` at (its folder created): for writers that take a path
    (safetensors, Lightning, ONNX). Call `record` once the file is written. A file already
    there that the manifest does not list is the user's: refused, never replaced."""
    root = Path(root)
    path = inside(root, name)
    check = guard and path.is_file() and not is_unlisted_run(root)
    if check and path.relative_to(root).as_posix() not in read_manifest(root):
        raise TransferKitError(
            f"{str(path)!r} was not written by transferkit: it is kept, and this run cannot"
            " write there. Move it away or choose another `--out`."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    inside(root, name)  # the folders just made are real folders, not links
    return path


def foreign_files(root: str | Path) -> tuple[list[str], list[str]]:
    """(files the manifest does not list, listed files whose content changed since): the
    user's, which `--overwrite` keeps. Symbolic links count as the user's too."""
    root = Path(root)
    files = read_manifest(root)
    unknown, changed = [], []
    for path in sorted(_walk(root)):
        relative = path.relative_to(root).as_posix()
        if relative == MANIFEST:
            continue
        entry = files.get(relative)
        if entry is None or path.is_symlink():
            unknown.append(relative)
        elif entry.get("size") != path.stat().st_size or entry.get("sha256") != sha256_file(path):
            changed.append(relative)
    return unknown, changed


def _walk(root: Path) -> Iterable[Path]:
    """Files and links under `root`, not descending into linked folders."""
    for folder, dirs, names in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in names:
            yield base / name
        for name in dirs:
            if (base / name).is_symlink():
                yield base / name


def check_clashes(root: str | Path, reserved: Iterable[str]) -> list[str]:
    """The files `--overwrite` keeps in `root` (the user's); refused when one of them lies at
    a name this run writes (`reserved`), so that it is never replaced."""
    root = Path(root)
    unknown, changed = foreign_files(root)
    kept = unknown + changed
    clash = [name for name in kept if name in set(reserved)]
    if clash:
        shown = ", ".join(clash[:5]) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
        raise TransferKitError(
            f"{str(root)!r} holds {shown}, which transferkit did not write (or which changed"
            " since it did), at a name this run writes: move it away or choose another `--out`."
        )
    return kept


def clear_run_files(root: str | Path, reserved: Iterable[str]) -> list[str]:
    """Before a run writes into an existing folder (`--overwrite`): remove the files of the
    manifest that are unchanged, keep everything else and return its names."""
    root = Path(root)
    kept = check_clashes(root, reserved)
    emptied: set[Path] = set()
    for name in read_manifest(root):
        if name in kept:
            continue
        with contextlib.suppress(RunFolderError, OSError):
            path = inside(root, name)
            if path.is_file():
                path.unlink()
                emptied.update(p for p in path.parents if root in p.parents)
    with contextlib.suppress(RunFolderError, OSError):
        inside(root, MANIFEST).unlink(missing_ok=True)
    for folder in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only the folders its files were in, and only when empty
    if kept:
        _write_manifest(root, {})  # an empty manifest: the kept files stay the user's
    return kept


def check_writable(folder: str | Path, what: str) -> None:
    """Fail now, not after the embedding, when `folder` (or the nearest existing folder
    above it) cannot be written."""
    path = Path(folder)
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".transferkit-write-test-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise TransferKitError(
            f"{what} {str(path)!r} cannot be written ({exc.strerror or exc}): choose a folder"
            " you can write to."
        ) from exc
