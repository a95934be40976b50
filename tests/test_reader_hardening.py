"""Every reader either reads a row right, or reports it: quotes, headers, labels, columns."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest

import transferkit
from transferkit import TransferKitError
from transferkit.data import read_data

from conftest import write_image

UNCLOSED = "unclosed quote"


def _reviews(n: int = 100) -> list[str]:
    """Header + n rows of `review,sentiment`, alternating classes."""
    return ["review,sentiment"] + [
        f"{'good' if i % 2 else 'bad'} film number {i},{'pos' if i % 2 else 'neg'}"
        for i in range(n)
    ]


def _numeric_table(n: int = 60, seed: int = 0) -> list[list[str]]:
    """Rows (header first) of two numeric columns and a 0/1 label that depends on `a`."""
    rng = np.random.default_rng(seed)
    rows = [["a", "b", "label"]]
    for i in range(n):
        y = i % 3 == 0
        rows.append([f"{rng.normal(4 if y else 0, 1):.3f}", f"{rng.normal():.3f}", str(int(y))])
    return rows


def _write_csv(path, rows):
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return path


# 1. unclosed quotes


def test_an_unclosed_quote_is_one_malformed_row_and_the_next_rows_are_read(tmp_path):
    lines = _reviews(100)  # 101 lines
    lines[41] = '"an unclosed start of a review,neg'
    lines[47] = '"a review, with a comma\nand a line break inside its quotes",pos'
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    s = read_data(path, val_size=0.2)
    texts = s.train.inputs + s.val.inputs
    assert len(texts) == 99, "every row but the broken one is read"
    assert [(x.item, UNCLOSED in x.reason) for x in s.skipped] == [(f"{path}:42", True)]
    assert "a review, with a comma\nand a line break inside its quotes" in texts
    assert "good film number 41" in texts and "bad film number 42" in texts


def test_an_unclosed_quote_on_the_last_line_is_reported(tmp_path):
    lines = _reviews(20)
    lines.append('"never closed, up to the end of the file,pos')
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines))  # no final line break either
    s = read_data(path, val_size=0.25)
    assert len(s.train) + len(s.val) == 20
    assert [(x.item, UNCLOSED in x.reason) for x in s.skipped] == [(f"{path}:22", True)]


def test_an_unclosed_quote_in_a_table_is_reported_and_the_next_rows_read(tmp_path):
    rows = _numeric_table(60)
    rows[0].insert(2, "colour")
    for i, row in enumerate(rows[1:]):
        row.insert(2, "red" if i % 2 else "blue")
    rows[10][2] = '"blue'
    rows[11][2] = "vivid red"  # holds no quote: the broken field would swallow up to one
    rows[30][2] = '"light, blue"'  # a well-formed quoted field stays one cell
    s = read_data(_write_csv(tmp_path / "t.csv", rows), val_size=0.25)
    assert s.modality == "tabular"
    assert len(s.train) + len(s.val) == 59
    assert [(x.item, UNCLOSED in x.reason) for x in s.skipped] == [
        (f"{tmp_path / 't.csv'}:11", True)
    ]
    colours = {json.loads(r)["colour"] for r in s.train.inputs + s.val.inputs}
    assert {"light, blue", "vivid red"} <= colours


# 2. duplicated column names


def test_a_duplicated_column_name_in_a_table_is_an_error(tmp_path):
    rows = _numeric_table(30)
    rows[0] = ["a", "a", "label"]
    path = _write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(
        TransferKitError, match=r"t.csv' has two columns named 'a' \(columns 0 and 1"
    ):
        read_data(path, modality="tabular")
    with pytest.raises(TransferKitError, match=r"rename one of them"):
        read_data(path)


def test_a_duplicated_column_name_in_a_text_file_or_rows_to_predict_is_an_error(tmp_path):
    lines = ["review,sentiment,review"] + [f"nice one {i},pos,fine {i}" for i in range(6)]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TransferKitError, match=r"two columns named 'review' \(columns 0 and 2"):
        read_data(path)
    from transferkit.data._tabular import read_rows

    rows = tmp_path / "new.csv"
    rows.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(TransferKitError, match=r"new.csv' has two columns named 'a'"):
        read_rows(rows)


def test_a_duplicated_column_name_in_parquet_is_an_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays(
        [pa.array([1.0, 2.0] * 10), pa.array([3.0, 4.0] * 10), pa.array([0, 1] * 10)],
        names=["x", "x", "label"],
    )
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(TransferKitError, match=r"has two columns named 'x' \(columns 0 and 1"):
        read_data(tmp_path / "d.parquet")


# 3. a header and no rows


def test_a_header_only_file_is_a_clear_error(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("text,label\n\n")
    with pytest.raises(
        TransferKitError, match=r"has a header line \(text, label\) but no data rows"
    ):
        read_data(path)
    table = tmp_path / "t.csv"
    table.write_text("a,b,c,label\n")
    with pytest.raises(TransferKitError, match=r"has a header line .* but no data rows"):
        read_data(table, modality="tabular")


def test_a_one_row_file_without_header_is_a_clear_error(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("a fine film,pos\n")
    with pytest.raises(TransferKitError, match=r"one.csv' has a single data row \(line 1\)"):
        read_data(path)


# 4. the same number is one class


def test_labels_that_are_the_same_number_are_one_class(tmp_path):
    labels = ["1", "1.0", " 1 ", "1e0", "0", "0.0", "10", "2.50"]
    lines = ["text\tlabel"] + [f"sentence {i}\t{labels[i % 8]}" for i in range(64)]
    (tmp_path / "d.tsv").write_text("\n".join(lines) + "\n")
    s = read_data(tmp_path / "d.tsv", val_size=0.25)
    assert s.class_names == ["0", "1", "2.5", "10"]  # numbers sorted as numbers
    assert s.train.class_counts()["1"] + s.val.class_counts()["1"] == 32


def test_canonical_label_keeps_names_and_exact_integers():
    from transferkit.data._dataset import canonical_label

    assert [canonical_label(v) for v in ("1", "+1", "1.", "1e0", "-0", " cat ", "0.10")] == [
        "1",
        "1",
        "1",
        "1",
        "0",
        "cat",
        "0.1",
    ]
    assert canonical_label("12345678901234567891") == "12345678901234567891"  # not rounded
    assert canonical_label("1_0") == "1_0" and canonical_label("inf") == "inf"


# 5. identifier columns, modality detection and override


def _customers(path, n=1000, seed=0):
    """An index column, `customer` (c0, c1, ...), 30 numeric columns, label `churn`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 30))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    header = ["Unnamed: 0", "customer"] + [f"f{j}" for j in range(30)] + ["churn"]
    rows = [header] + [[str(i), f"c{i}", *(f"{v:.3f}" for v in x[i]), str(y[i])] for i in range(n)]
    return _write_csv(path, rows)


def test_an_identifier_column_is_dropped_and_the_file_stays_a_table(tmp_path):
    s = read_data(_customers(tmp_path / "customers.csv"))
    assert s.modality == "tabular"
    assert s.columns["dropped"] == ["Unnamed: 0", "customer"]
    assert len(s.columns["features"]) == len(s.columns["numeric"]) == 30
    assert "customer" not in json.loads(s.train.inputs[0])
    assert s.detected == (
        "tabular: 30 feature columns (30 numeric, 0 categorical); dropped:"
        " Unnamed: 0 (row index), customer (identifier, 1,000 distinct values)"
    )


def test_many_valued_categories_stay_categorical_and_prose_makes_a_text_file(tmp_path):
    rows = _numeric_table(300)
    rows[0].insert(0, "city")
    for i, row in enumerate(rows[1:]):
        row.insert(0, f"city{i % 80}")  # 80 values, each ~4 times: a category, not an id
    s = read_data(_write_csv(tmp_path / "t.csv", rows))
    assert s.modality == "tabular" and s.columns["categorical"] == ["city"]
    assert s.detected == "tabular: 3 feature columns (2 numeric, 1 categorical)"
    for i, row in enumerate(rows[1:]):
        row[0] = f"a note of several words {i % 7}"
    rows[0][0] = "note"
    text = read_data(_write_csv(tmp_path / "n.csv", rows))
    assert text.modality == "text"
    assert text.detected == "text: text column 'note', label column 'label'"
    forced = read_data(tmp_path / "n.csv", modality="tabular")
    assert forced.modality == "tabular" and forced.columns["features"] == ["a", "b"]
    assert "note (free text, median 6 words)" in forced.detected


def test_the_encoder_leaves_identifier_columns_out_and_names_them():
    from transferkit.backbones._tabular import TabularEncoder

    rows = [{"id": f"u{i}", "x": str(i % 7), "c": "ab"[i % 2]} for i in range(80)]
    encoder = TabularEncoder.fit(rows)
    assert encoder.dropped == {"id": "identifier, 80 distinct values"}
    assert encoder.columns == ["x", "c"] and encoder.dim == 3
    assert "dropped" in encoder.to_json()


def test_modality_override_and_its_errors(tmp_path, colour_folder):
    rows = _numeric_table(40)
    path = _write_csv(tmp_path / "t.csv", rows)
    assert read_data(path).modality == "tabular"
    assert read_data(path, modality="text", label_column="label").modality == "text"
    with pytest.raises(
        TransferKitError, match=r"`modality` must be one of .* Did you mean 'tabular'"
    ):
        read_data(path, modality="tabualr")
    with pytest.raises(TransferKitError, match=r"modality 'image' reads a folder .* is a file"):
        read_data(path, modality="image")
    with pytest.raises(TransferKitError, match=r"modality 'text' reads a CSV, TSV or Parquet"):
        read_data(colour_folder, modality="text")
    images = read_data(colour_folder, modality="image")
    assert images.modality == "image" and images.detected == "image: class folders"


# 6. non-finite numbers


def test_non_finite_numbers_are_imputed_and_reported_never_standardised():
    from transferkit.backbones._tabular import TabularEncoder

    values = ["inf", "-inf", "Infinity", "1e999", "nan"] + [str(v) for v in range(20)]
    rows = [{"x": v, "c": "ab"[i % 2]} for i, v in enumerate(values)]
    encoder = TabularEncoder.fit(rows)
    assert encoder.numeric == ["x"] and encoder.medians == [9.5]
    x, imputed = encoder.transform(rows)
    assert np.isfinite(x).all() and imputed == {"x": 5}
    (column, reason), *_ = encoder.imputations({"x": "1e999", "c": "a"})
    assert column == "x" and reason == "x='1e999' imputed with the training median 9.5 (non-finite)"


def test_a_table_with_infinite_cells_fits_and_lists_them(tmp_path):
    rows = _numeric_table(60)
    for i in (3, 9, 20):
        rows[i][1] = ["inf", "-Infinity", "1e999"][i % 3]
    result = transferkit.fit(_write_csv(tmp_path / "t.csv", rows), out=tmp_path / "r", quiet=True)
    assert result.metrics["accuracy"] >= 0.8
    with open(result.run_dir / "imputed.csv", newline="") as f:
        imputed = [r["reason"] for r in csv.DictReader(f)]
    assert len(imputed) == 3 and all("imputed with the training median" in r for r in imputed)


# 7. rows that lack the trained columns


def test_read_rows_refuses_a_file_without_the_trained_columns(tmp_path):
    from transferkit.data._tabular import read_rows

    path = tmp_path / "new.csv"
    path.write_text("a,other\n1,2\n")
    required = ["a", "b", "c", *(f"f{j}" for j in range(6))]
    with pytest.raises(
        TransferKitError,
        match=r"new.csv' lacks 8 of the 9 columns the model was trained on"
        r" \('b', 'c', 'f0', 'f1', 'f2' and 3 more\)",
    ):
        read_rows(path, required=required)
    assert read_rows(path, required=["a"])[1] == [f"{path}:2"]


def test_a_row_without_the_trained_columns_gets_an_error_not_an_answer(tmp_path):
    result = transferkit.fit(
        _write_csv(tmp_path / "t.csv", _numeric_table(60)), out=tmp_path / "r", quiet=True
    )
    model = transferkit.load(result.run_dir)
    assert model.backbone.columns == ["a", "b"]
    proba, errors = model.predict_rows([{"a": "4.0", "b": "0"}, {"a": "4.0"}, {"z": "1"}])
    assert list(errors) == [1, 2] and np.isnan(proba[1:]).all() and np.isfinite(proba[0]).all()
    assert errors[1].startswith("lacks 1 of the 2 trained columns ('b')")
    with pytest.raises(TransferKitError, match=r"lacks 2 of the 2 trained columns"):
        model.predict([{"z": "1"}])


# 8. a texts file


def test_read_text_lines_decodes_and_splits_only_at_line_breaks(tmp_path):
    from transferkit.data._delimited import read_text_lines

    path = tmp_path / "texts.txt"
    body = "first\r\nsecond has\u0085a next-line\rthird\u2028same line\n\n   \nlast"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    assert read_text_lines(path) == [
        "first",
        "second has\u0085a next-line",
        "third\u2028same line",
        "last",
    ]
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes("caf\u00e9 cr\u00e8me\nna\u00efve\n".encode("cp1252"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_text_lines(legacy) == ["caf\u00e9 cr\u00e8me", "na\u00efve"]
    assert any("Windows-1252" in str(w.message) for w in caught)
    with pytest.raises(TransferKitError, match=r"texts file '.*nowhere.txt' does not exist"):
        read_text_lines(tmp_path / "nowhere.txt")


# 9. what the fuzz test (tests/test_fuzz.py) found


def test_a_header_shorter_than_its_rows_is_read(tmp_path):
    path = tmp_path / "short-header.csv"
    path.write_text("label,x\na,x,long text one here\nb,y,long text two here\n" * 3)
    try:
        splits = read_data(path)
    except TransferKitError:
        return  # refused in one line is fine; an IndexError is not
    assert splits.detected.startswith("text: ")


def test_a_label_of_thousands_of_digits_is_one_class(tmp_path):
    huge = "9" * 5000
    rows = [f"text number {i} here,{huge if i % 2 else '0' + huge}" for i in range(20)]
    (tmp_path / "d.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    assert read_data(tmp_path / "d.csv").class_names == [huge]


@pytest.mark.parametrize("option", ["text_column", "label_column"])
def test_a_column_number_in_other_digits_is_a_name(tmp_path, option):
    with pytest.raises(TransferKitError, match=r"has no such column|is not a column"):
        read_data(_write_csv(tmp_path / "d.csv", _numeric_table()), **{option: "²"})


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5])
def test_a_seed_out_of_range_is_refused(tmp_path, seed):
    with pytest.raises(TransferKitError, match=r"`seed` must be a whole number"):
        read_data(_write_csv(tmp_path / "d.csv", _numeric_table()), seed=seed)


def test_error_messages_stay_on_one_line(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text('"te\nxt",label\n')
    with pytest.raises(TransferKitError) as raised:
        read_data(path)
    assert "\n" not in str(raised.value) and "\\n" in str(raised.value)
    from transferkit.data._images import decode_image

    odd = tmp_path / "a\nb.png"
    odd.write_bytes(b"")
    with pytest.raises(TransferKitError) as raised:
        decode_image(odd)
    assert "\n" not in str(raised.value)


def test_a_label_of_blanks_is_an_empty_label_and_a_blank_folder_keeps_its_name(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"a long enough review number {i}" for i in range(12)]
    labels = ["pos" if i % 2 else "neg" for i in range(12)]
    labels[3] = " "
    pq.write_table(pa.table({"text": texts, "label": labels}), tmp_path / "d.parquet")
    splits = read_data(tmp_path / "d.parquet", modality="text")
    assert splits.class_names == ["neg", "pos"]
    assert [s.reason for s in splits.skipped] == ["empty label"]
    for name in (" ", "b"):
        for i in range(3):
            write_image(tmp_path / "images" / name / f"{i}.png", (10 * i, 0, 0), seed=i)
    assert read_data(tmp_path / "images", val_size=0.5).class_names == [" ", "b"]
