"""Readers: image folders and delimited text, with the bad inputs real data has."""

from __future__ import annotations

import pytest

from transferkit import TransferKitError, read_data
from transferkit.data import check_trainable

from conftest import shared_dataset, write_image


def _bad_files(folder):
    good = write_image(folder / "good.jpg", (10, 200, 10), 1)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not a picture")
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])


def test_image_folder_without_splits_is_split_stratified_and_reproducibly(colour_folder):
    a = read_data(colour_folder, val_size=0.25, seed=0)
    b = read_data(colour_folder, val_size=0.25, seed=0)
    c = read_data(colour_folder, val_size=0.25, seed=1)
    assert a.layout == "image folder" and a.modality == "image"
    assert a.class_names == ["blue", "red"]
    assert len(a.train) == 18 and len(a.val) == 6
    assert a.val.class_counts() == {"blue": 3, "red": 3}
    assert a.val.inputs == b.val.inputs
    assert a.val.inputs != c.val.inputs
    assert not set(a.train.inputs) & set(a.val.inputs)
    assert a.split_source == "stratified 75/25, seed 0"


def test_split_folders_are_used_as_given(tmp_path):
    for split, n in {"train": 4, "val": 2, "test": 2}.items():
        for c, colour in {"cat": (200, 100, 0), "dog": (0, 100, 200)}.items():
            for i in range(n):
                write_image(tmp_path / split / c / f"{i}.png", colour, i)
    s = read_data(tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (8, 4, 4)
    assert s.split_source == "given" and s.layout == "image split folders"


def test_unreadable_files_are_skipped_with_reasons(colour_folder):
    _bad_files(colour_folder / "red")
    s = read_data(colour_folder)
    reasons = {p.split("/")[-1]: r for p, r in ((x.item, x.reason) for x in s.skipped)}
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert reasons["notes.txt"] == "not an image file"
    assert reasons["truncated.jpg"].startswith("unreadable image header")
    assert len(s.train) + len(s.val) == 24 + 1


def test_tsv_without_header_detects_columns(tmp_path):
    path = tmp_path / "sms"
    rows = [("ham", f"see you at {i} pm") for i in range(6)] + [
        ("spam", f"WIN {i} pounds now") for i in range(6)
    ]
    path.write_text("\n".join(f"{label}\t{text}" for label, text in rows) + "\n")
    s = read_data(path, val_size=0.5)
    assert s.class_names == ["ham", "spam"]
    assert len(s.train) + len(s.val) == 12
    assert all(t.startswith(("see", "WIN")) for t in s.train.inputs)


def test_csv_with_header_quotes_and_named_columns(tmp_path):
    path = tmp_path / "reviews.csv"
    body = [f'{i},"good, really good {i}",pos' for i in range(5)] + [
        f'{i},"bad, so bad {i}",neg' for i in range(5)
    ]
    path.write_text("id,review,sentiment\n" + "\n".join(body) + "\n")
    s = read_data(path, val_size=0.4)
    assert s.class_names == ["neg", "pos"]
    assert any("really good" in t for t in s.train.inputs + s.val.inputs)
    named = read_data(path, text_column="review", label_column="sentiment", val_size=0.4)
    assert named.train.inputs == s.train.inputs


def test_malformed_rows_are_skipped_and_named_by_line(tmp_path):
    path = tmp_path / "data.tsv"
    lines = ["sentence\tscore"] + [f"fine sentence {i}\t{i % 2}" for i in range(10)]
    lines[3] = "no label field here"
    lines[5] = "too\tmany\tfields"
    lines[7] = "empty label\t"
    path.write_text("\n".join(lines) + "\n")
    s = read_data(path, val_size=0.3)
    skipped = {x.item.rsplit(":", 1)[1]: x.reason for x in s.skipped}
    assert skipped == {
        "4": "malformed row: 1 fields, expected 2",
        "6": "malformed row: 3 fields, expected 2",
        "8": "empty label",
    }
    assert len(s.train) + len(s.val) == 7


def test_tsv_quotes_and_unicode_line_separators_stay_inside_a_row(tmp_path):
    path = tmp_path / "quotes.txt"
    rows = ['a "quoted start\t1', '" end of it\t0', "The script is\u0085was there a script?\t0"]
    rows += [f"plain {i}\t{i % 2}" for i in range(6)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    s = read_data(path, val_size=0.3)
    texts = s.train.inputs + s.val.inputs
    assert len(texts) == 9 and not s.skipped
    assert "The script is\u0085was there a script?" in texts


def test_named_column_that_does_not_exist(text_file):
    with pytest.raises(TransferKitError, match=r"--text 'body'.*no such column.*text, label"):
        read_data(text_file, text_column="body")


def test_missing_path_and_unknown_layout(tmp_path):
    with pytest.raises(TransferKitError, match="does not exist"):
        read_data(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TransferKitError, match="neither class sub-folders"):
        read_data(tmp_path / "empty")


def test_a_class_with_one_sample_cannot_be_split(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("\n".join([f"text {i}\ta" for i in range(5)] + ["lonely\tb"]) + "\n")
    with pytest.raises(TransferKitError, match=r"class 'b' has only 1 sample"):
        read_data(path)


def test_check_trainable_names_the_problem(colour_folder):
    s = read_data(colour_folder)
    only_red = s.train.subset([i for i, y in enumerate(s.train.labels) if y == 1])
    with pytest.raises(TransferKitError, match=r"only one class remains.*'red'"):
        check_trainable(only_red)
    one_blue = s.train.subset([0] + [i for i, y in enumerate(s.train.labels) if y == 1])
    with pytest.raises(TransferKitError, match=r"class 'blue' has 1 training sample"):
        check_trainable(one_blue)


def test_real_uci_imdb_reads_all_1000_rows():
    s = read_data(shared_dataset("uci_sentiment") / "imdb.txt")
    assert len(s.train) + len(s.val) == 1000
    assert not s.skipped
    assert s.train.class_counts() == {"0": 400, "1": 400}


def test_real_sms_spam_reads_all_messages():
    s = read_data(shared_dataset("sms_spam") / "SMSSpamCollection")
    counts = {k: s.train.class_counts()[k] + s.val.class_counts()[k] for k in s.class_names}
    assert counts == {"ham": 4827, "spam": 747}


def test_real_hymenoptera_accepts_the_gif_placeholder():
    s = read_data(shared_dataset("hymenoptera"))
    assert (len(s.train), len(s.val)) == (245, 153)


def test_a_class_called_train_stays_a_class(tmp_path):
    for c, colour in {"bus": (200, 200, 0), "car": (0, 0, 200), "train": (0, 200, 0)}.items():
        for i in range(5):
            write_image(tmp_path / c / f"{i}.png", colour, i)
    s = read_data(tmp_path, val_size=0.4)
    assert s.class_names == ["bus", "car", "train"] and s.layout == "image folder"


def test_a_stray_table_in_an_image_folder_is_skipped_not_fatal(colour_folder):
    (colour_folder / "red" / "labels.csv").write_text("a,b\n1,2\n")
    s = read_data(colour_folder)
    assert s.modality == "image"
    assert [x.reason for x in s.skipped] == ["not an image file"]


def test_semicolon_csv(tmp_path):
    path = tmp_path / "export.csv"
    rows = [f"nice one, truly {i};pos" for i in range(5)] + [
        f"bad one, sadly {i};neg" for i in range(5)
    ]
    path.write_text("review;label\n" + "\n".join(rows) + "\n")
    s = read_data(path, val_size=0.4)
    assert s.class_names == ["neg", "pos"] and len(s.train) + len(s.val) == 10


def test_a_first_row_with_a_unique_label_is_data_not_a_header(tmp_path):
    path = tmp_path / "t.tsv"
    lines = ["this first sentence is data\tneutral"]
    lines += [f"sentence number {i} is fine\t{'pos' if i % 2 else 'neg'}" for i in range(8)]
    path.write_text("\n".join(lines) + "\n")
    # kept as data, so its one-sample class is reported, not silently dropped as a header
    with pytest.raises(TransferKitError, match=r"class 'neutral' has only 1 sample"):
        read_data(path, val_size=0.5)


def test_column_number_out_of_range(text_file):
    with pytest.raises(TransferKitError, match=r"--text 7: .* has 2 columns"):
        read_data(text_file, text_column=7)


def test_non_utf8_text_is_read_as_windows_1252_with_a_warning(tmp_path):
    path = tmp_path / "latin.tsv"
    rows = [f"café très bon {i}\tpos" for i in range(4)] + [f"pas bon {i}\tneg" for i in range(4)]
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    with pytest.warns(UserWarning, match="not UTF-8.*Windows-1252"):
        s = read_data(path, val_size=0.5)
    assert any("café très" in t for t in s.train.inputs + s.val.inputs)


def test_a_split_too_small_for_its_classes_is_refused(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("".join(f"text {c}{i}\t{c}\n" for c in "abcdefghij" for i in range(2)))
    with pytest.raises(TransferKitError, match=r"20 samples in 10 classes.*--val-size"):
        read_data(path, val_size=0.2)


def test_a_class_only_in_val_fails_before_any_embedding(tmp_path):
    import transferkit

    for split, classes in {"train": ("a", "b"), "val": ("a", "b", "c")}.items():
        for c in classes:
            for i in range(3):
                write_image(tmp_path / split / c / f"{i}.png", (40 * i, 90, 10), i)
    with pytest.raises(
        TransferKitError, match=r"class 'c' has no training samples \(it appears only in val"
    ):
        transferkit.fit(tmp_path, backbone="timm:does-not-matter")
