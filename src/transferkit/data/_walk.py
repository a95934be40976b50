"""Listing data folders through symbolic links.

Splits, class folders and files are often assembled with links (`train -> /disk/images`),
so linked folders and files are read like real ones. A link back to a folder on its own
path (`cats/again -> ..`) would be read forever, and a link to nothing cannot be read:
both are reported with a reason instead. Folders are told apart by (st_dev, st_ino), so a
loop is found whatever path (relative, absolute, through other links) leads back.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

FolderId = tuple[int, int]

BROKEN_LINK = "broken symbolic link"
# The reason of a link that never reaches a file or folder (`a -> b`, `b -> a`).
LINK_CYCLE = "symbolic link loop (points back to itself)"


def loop_reason(ancestor: str) -> str:
    """Why a link to the folder named `ancestor`, on the link's own path, is not followed."""
    return f"symbolic link loop (points back to {ancestor})"


def folder_id(path: str | Path) -> FolderId:
    """The identity of the folder at `path` (through links)."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def enclosing_folders(folder: Path) -> dict[FolderId, str]:
    """The folders that hold `folder`, by identity, each with the name a message shows.

    Both the folders of its path as given and those of its real path (where links took
    it), so a link that climbs out through either is known for a loop at once.
    """
    real = [str(p) for p in Path(os.path.realpath(folder)).parents]
    logical = [str(p) for p in Path(os.path.abspath(folder)).parents]
    # Shown as the user wrote them where possible (`data`, not `/home/me/data`).
    given = [] if ".." in folder.parts else [str(p) for p in folder.parents if str(p) != "."]
    named: dict[FolderId, str] = {}
    # The real chain first: where both name one folder, the path as given is the one shown.
    shown_logical = given + logical[len(given) :]
    pairs = [*zip(real, real, strict=True), *zip(logical, shown_logical, strict=True)]
    for parent, shown in pairs:
        try:
            named[folder_id(parent)] = shown
        except OSError:  # a parent that cannot be looked at cannot be walked into either
            continue
    return named


def on_path(folder: Path) -> dict[FolderId, str]:
    """`folder` and the folders that hold it, by identity: where a walk of `folder` starts."""
    return {**enclosing_folders(folder), folder_id(folder): str(folder)}


def _entry_kind(entry: os.DirEntry, ancestors: dict[FolderId, str]) -> tuple[str, object]:
    """('folder', its id), ('file', None), ('skip', reason) or ('other', None)."""
    if not entry.is_symlink():
        if entry.is_dir(follow_symlinks=False):
            info = entry.stat(follow_symlinks=False)
            return "folder", (info.st_dev, info.st_ino)
        return ("file", None) if entry.is_file(follow_symlinks=False) else ("other", None)
    try:
        info = entry.stat()  # the link's target
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "skip", LINK_CYCLE
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "skip", BROKEN_LINK
        return "other", None  # e.g. a target in a folder we may not read: as before, unseen
    if stat.S_ISDIR(info.st_mode):
        ident = (info.st_dev, info.st_ino)
        if ident in ancestors:
            return "skip", loop_reason(ancestors[ident])
        return "folder", ident
    return ("file", None) if stat.S_ISREG(info.st_mode) else ("other", None)


def list_folder(
    folder: Path, ancestors: dict[FolderId, str]
) -> tuple[list[tuple[Path, FolderId]], list[Path], list[tuple[Path, str]]]:
    """(sub-folders with their ids, files, links skipped with why) of `folder`, by name.

    Links are followed, except one to a folder in `ancestors` (`folder` and the folders
    that hold it, by identity): that is a loop. Other entries (sockets, pipes) are left out.
    """
    folders: list[tuple[Path, FolderId]] = []
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            kind, detail = _entry_kind(entry, ancestors)
            path = folder / entry.name
            if kind == "folder":
                folders.append((path, detail))
            elif kind == "file":
                files.append(path)
            elif kind == "skip":
                skipped.append((path, detail))
    return folders, files, skipped


def walk_files(
    folder: Path, ancestors: dict[FolderId, str]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(files, links skipped with why) anywhere under `folder`, each sorted by path.

    `ancestors`: `folder` and the folders that hold it (`on_path`). A folder reached by two
    paths (two links to it) is read under each; a folder that cannot be read is left out,
    as `Path.rglob` leaves it out.
    """
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    # A stack rather than recursion: linked trees can be deeper than Python's stack.
    pending = [(folder, ancestors)]
    while pending:
        current, above = pending.pop()
        try:
            folders, found, problems = list_folder(current, above)
        except PermissionError:
            continue
        files += found
        skipped += problems
        pending += [(path, {**above, ident: str(path)}) for path, ident in folders]
    return sorted(files), sorted(skipped)
