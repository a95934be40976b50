"""Data trees assembled with symbolic links: linked splits, class folders and files are
read; a link back up its own path (a loop) and a link to nothing are skipped and counted."""

from __future__ import annotations

import os
import shutil
import zlib
from pathlib import Path

import pytest

import transferkit
from transferkit import TransferKitError

from conftest import write_image

COLOURS = {"red": (200, 30, 30), "blue": (30, 30, 200)}

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links here")


def _class_folders(root: Path, n: int = 6, tag: str = "") -> Path:
    """`root/red/*.png` and `root/blue/*.png`: n small real PNG images each."""
    for name, colour in COLOURS.items():
        for i in range(n):
            seed = zlib.crc32(f"{tag}{name}{i}".encode())
            write_image(root / name / f"{name}{i}.png", colour, seed=seed, size=16)
    return root


def _link(link: Path, target: str | Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)
    return link


def _reasons(splits) -> dict[str, str]:
    return {Path(s.item).name: s.reason for s in splits.skipped}


def test_a_linked_train_folder_is_read(tmp_path):
    _class_folders(tmp_path / "elsewhere" / "train_images", n=6, tag="t")
    _class_folders(tmp_path / "elsewhere" / "val_images", n=2, tag="v")
    data = tmp_path / "data"
    _link(data / "train", tmp_path / "elsewhere" / "train_images")
    _link(data / "val", "../elsewhere/val_images")  # a relative link too

    splits = transferkit.read_data(data)

    assert splits.layout == "image split folders"
    assert splits.split_source == "given"
    assert splits.train.class_counts() == {"blue": 6, "red": 6}
    assert splits.val.class_counts() == {"blue": 2, "red": 2}
    assert all(ref.startswith(str(data / "train")) for ref in splits.train.refs)
    assert splits.skipped == []


def test_a_linked_class_folder_and_a_linked_file_are_read(tmp_path):
    data = _class_folders(tmp_path / "data", n=4)
    _class_folders(tmp_path / "elsewhere", n=4, tag="e")
    os.rename(tmp_path / "elsewhere" / "red", tmp_path / "elsewhere" / "green")
    _link(data / "green", tmp_path / "elsewhere" / "green")
    _link(data / "blue" / "linked.png", tmp_path / "elsewhere" / "blue" / "blue0.png")
    _link(data / "red" / "more", tmp_path / "elsewhere" / "blue")  # a linked sub-folder

    splits = transferkit.read_data(data, val_size=0.25)

    assert splits.class_names == ["blue", "green", "red"]
    train, val = splits.train.class_counts(), splits.val.class_counts()
    total = {c: train[c] + val[c] for c in splits.class_names}
    assert total == {"blue": 5, "green": 4, "red": 8}
    assert splits.skipped == []


def test_a_link_back_to_an_ancestor_is_skipped_and_counted(tmp_path):
    data = _class_folders(tmp_path / "data", n=4)
    _link(data / "red" / "again", "..")  # data/red/again -> data
    _link(data / "blue" / "sub" / "up", "../..")  # data/blue/sub/up -> data
    _link(data / "blue" / "self", ".")
    write_image(data / "blue" / "sub" / "deep.png", COLOURS["blue"], seed=1, size=16)

    splits = transferkit.read_data(data)  # finishes

    assert len(splits.train) + len(splits.val) == 9
    assert {s.split for s in splits.skipped} == {"train"}
    assert _reasons(splits) == {
        "again": f"symbolic link loop (points back to {data})",
        "up": f"symbolic link loop (points back to {data})",
        "self": f"symbolic link loop (points back to {data / 'blue'})",
    }


def test_a_loop_is_named_as_the_path_was_given(tmp_path, monkeypatch):
    _class_folders(tmp_path / "data" / "train", n=4)
    _link(tmp_path / "data" / "train" / "red" / "up", "../..")
    monkeypatch.chdir(tmp_path)

    splits = transferkit.read_data("data")

    assert [(s.item, s.reason) for s in splits.skipped] == [
        (os.path.join("data", "train", "red", "up"), "symbolic link loop (points back to data)")
    ]


def test_a_loop_through_a_linked_split_folder_is_found(tmp_path):
    real = _class_folders(tmp_path / "elsewhere" / "train_images", n=4)
    _link(real / "red" / "up", "../..")  # the real folder above the split: /elsewhere
    data = tmp_path / "data"
    _link(data / "train", real)

    splits = transferkit.read_data(data)

    assert len(splits.train) + len(splits.val) == 8
    assert [(Path(s.item).name, s.reason) for s in splits.skipped] == [
        ("up", f"symbolic link loop (points back to {tmp_path / 'elsewhere'})")
    ]


def test_links_that_never_resolve_are_skipped_and_counted(tmp_path):
    data = _class_folders(tmp_path / "data", n=4)
    _link(data / "red" / "gone.png", tmp_path / "nowhere.png")
    _link(data / "purple", tmp_path / "no_such_folder")  # a broken class folder
    _link(data / "blue" / "a", "b")
    _link(data / "blue" / "b", "a")
    _link(data / "blue" / ".hidden.png", tmp_path / "nowhere.png")  # hidden: not reported

    splits = transferkit.read_data(data)

    assert splits.class_names == ["blue", "red"]
    assert len(splits.train) + len(splits.val) == 8
    assert _reasons(splits) == {
        "gone.png": "broken symbolic link",
        "purple": "broken symbolic link",
        "a": "symbolic link loop (points back to itself)",
        "b": "symbolic link loop (points back to itself)",
    }


def test_two_links_to_one_folder_are_both_read(tmp_path):
    data = _class_folders(tmp_path / "data", n=4)
    _class_folders(tmp_path / "extra", n=2, tag="x")
    _link(data / "red" / "one", tmp_path / "extra" / "red")
    _link(data / "red" / "two", tmp_path / "extra" / "red")

    splits = transferkit.read_data(data)

    refs = splits.train.refs + splits.val.refs
    assert len(refs) == len(set(refs)) == 12
    assert sum(1 for ref in refs if "/one/" in ref) == sum(1 for ref in refs if "/two/" in ref)


def _relative(splits, root: Path) -> dict[str, list[tuple[str, int]]]:
    out = {}
    for name in ("train", "val", "test"):
        data = getattr(splits, name)
        if data is not None:
            refs = [os.path.relpath(ref, root) for ref in data.refs]
            out[name] = list(zip(refs, data.labels.tolist(), strict=True))
    return out


def test_a_linked_tree_reads_as_the_same_tree_copied(tmp_path):
    store = tmp_path / "store"
    _class_folders(store / "train_red_blue", n=6, tag="t")
    _class_folders(store / "test_images", n=3, tag="s")
    _class_folders(store / "more", n=2, tag="m")
    linked = tmp_path / "linked"
    _link(linked / "train", store / "train_red_blue")
    _link(linked / "test", store / "test_images")
    _link(store / "train_red_blue" / "red" / "extra", store / "more" / "red")
    _link(store / "train_red_blue" / "blue" / "b.png", store / "more" / "blue" / "blue0.png")
    copied = tmp_path / "copied"
    shutil.copytree(linked, copied, symlinks=False)
    assert not any(p.is_symlink() for p in copied.rglob("*"))

    via_links = transferkit.read_data(linked, seed=3)
    via_copy = transferkit.read_data(copied, seed=3)

    assert via_links.class_names == via_copy.class_names
    assert _relative(via_links, linked) == _relative(via_copy, copied)
    assert (via_links.layout, via_links.split_source, via_links.detected) == (
        via_copy.layout,
        via_copy.split_source,
        via_copy.detected,
    )
    assert via_links.skipped == via_copy.skipped == []


def test_a_broken_or_looping_split_link_is_an_error_not_a_silent_skip(tmp_path):
    data = _class_folders(tmp_path / "data" / "train", n=4)
    val = _link(tmp_path / "data" / "val", tmp_path / "unmounted" / "val")
    with pytest.raises(TransferKitError, match=r"split '.*val' is a broken symbolic link: its"):
        transferkit.read_data(data.parent)
    val.unlink()
    _link(val, ".")
    with pytest.raises(TransferKitError, match=r"'.*val' is a symbolic link loop \(points back"):
        transferkit.read_data(data.parent)


def test_a_broken_data_path_link_says_so(tmp_path):
    link = _link(tmp_path / "data", tmp_path / "missing")
    with pytest.raises(TransferKitError, match=r"data path '.*data' is a broken symbolic link"):
        transferkit.read_data(link)


def _write_texts(path: Path, n: int) -> Path:
    rows = [
        f"{'a fine and good film' if i % 2 else 'a dull and bad film'} {i},{i % 2}"
        for i in range(n)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def test_a_linked_train_csv_is_read(tmp_path):
    target = _write_texts(tmp_path / "elsewhere" / "all_train.csv", 20)
    data = tmp_path / "data"
    _link(data / "train.csv", target)
    _write_texts(data / "test.csv", 6)

    splits = transferkit.read_data(data, modality="text")

    assert splits.layout == "delimited split files"
    assert len(splits.train) + len(splits.val) == 20
    assert len(splits.test) == 6
    assert splits.train.refs[0].startswith(str(data / "train.csv"))


def test_a_broken_train_csv_link_is_an_error(tmp_path):
    data = tmp_path / "data"
    _link(data / "train.csv", tmp_path / "gone.csv")
    _write_texts(data / "test.csv", 6)
    with pytest.raises(TransferKitError, match=r"split '.*train\.csv' is a broken symbolic link"):
        transferkit.read_data(data)
