"""Fuzzing the readers (Hypothesis): malformed CSV/TSV/Parquet tables, broken image bytes and
odd file names. Every input is read, skipped with a reason, or refused with one line of
`TransferKitError`; nothing else escapes, and each example finishes within a deadline.

The examples are derandomized (the same ones on every run, no example database), so CI is
reproducible; their counts and the deadline are set here, at the top. What the examples
reached (read, and refused by which function) is counted as Hypothesis events:
`pytest tests/test_fuzz.py --hypothesis-show-statistics`.
"""

from __future__ import annotations

import csv
import io
import os
import struct
import tempfile
import traceback
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from transferkit import TransferKitError, read_data
from transferkit.backbones._vision import open_image
from transferkit.data import DataSplits
from transferkit.data._dataset import canonical_label
from transferkit.data._images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    MAX_PIXELS_VARIABLE,
    SPLIT_NAMES,
    ImageDecodeError,
    check_image_header,
    decode_image,
)

DELIMITED_EXAMPLES = 150  # well-formed CSV/TSV structure with odd cells, labels and headers
CHAOTIC_TEXT_EXAMPLES = 150  # random delimiters, quotes, line breaks and bytes
PARQUET_EXAMPLES = 100
SPLIT_FILES_EXAMPLES = 50  # folders of train/val(/test) files
READ_OPTIONS_EXAMPLES = 60  # odd text_column, label_column, val_size, seed, modality
IMAGE_FILE_EXAMPLES = 200  # one image file: header check, decode, open_image
IMAGE_FOLDER_EXAMPLES = 60  # class folders (with or without split folders)
HUGE_HEADER_EXAMPLES = 20  # a PNG header claiming more pixels than the limit
EXAMPLE_DEADLINE = timedelta(seconds=2)
MAX_IMAGE_SIDE = 16  # generated pictures are tiny: decoding speed is not what is tested
NAME_BYTES = 255  # the longest file name ext4 and most file systems allow


def _fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=EXAMPLE_DEADLINE,
        derandomize=True,
        database=None,  # reproducible, and nothing written into the repository
        # The strategies build whole files, which Hypothesis finds slow to generate.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(autouse=True, scope="module")
def _default_pixel_limit() -> Iterator[None]:
    # Imported here, not by the first example that splits, so it is not charged the import.
    import sklearn.model_selection  # noqa: F401

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(MAX_PIXELS_VARIABLE, raising=False)
        yield


def _raised_in(exc: BaseException) -> str:
    """The innermost transferkit function the exception went through."""
    frames = traceback.extract_tb(exc.__traceback__)
    names = [f.name for f in frames if f"{os.sep}transferkit{os.sep}" in f.filename]
    return names[-1] if names else ""


# Strategies: cells, labels and headers of delimited files


@st.composite
def sometimes(draw: st.DrawFn, odd: st.SearchStrategy, default: object = None) -> object:
    """`default` three times in four, else a value of `odd`."""
    return draw(odd) if draw(st.integers(0, 3)) == 0 else default


HUGE_INTEGER = "9" * 5000
ODD_LABELS = (
    *("0", "1", "1.0", " 1 ", "01", "+1", "1e0", "-0", "0.50", "1_0"),
    *("inf", "-inf", "nan", "NaN", "na", "?", "", "  "),
    *("pos", "neg", "é", "日本", "a,b", 'say "hi"', "two\nlines"),
    HUGE_INTEGER,
)
COLUMN_NAMES = (
    *("text", "label", "review", "sentiment", "Label", " text ", "y", "class"),
    *("a", "b", "x y", "", "Unnamed: 0", "1", "na", "inf", "a\nb", 'q"uote'),
)


@st.composite
def column_names(draw: st.DrawFn, n: int) -> list[str]:
    """n odd column names, distinct three times in four (a name twice is refused)."""
    unique = draw(st.integers(0, 3)) > 0
    return draw(st.lists(st.sampled_from(COLUMN_NAMES), min_size=n, max_size=n, unique=unique))


WORDS = ("good", "bad", "film", "a", "the", "1", "2.5", "-3", "inf", "nan", "na", "", "  ")
ODD_CHARACTERS = st.characters(codec="utf-8", exclude_characters="\x00")
TSV_BREAKERS = "\t\n\r"
OTHER_DELIMITERS = ";|\t"  # kept out of CSV cells so that the comma is the delimiter


@st.composite
def cells(draw: st.DrawFn, delimiter: str) -> str:
    """A cell: words (prose or numbers), odd text, or both; no other delimiter."""
    words = draw(st.lists(st.sampled_from(WORDS), max_size=6))
    odd = draw(st.text(ODD_CHARACTERS, max_size=6))
    cell = " ".join(words) + (odd if draw(st.booleans()) else "")
    if delimiter == "\t":
        return cell  # tabs and line breaks are taken out by _tsv_record
    return "".join(" " if c in OTHER_DELIMITERS else c for c in cell)


@st.composite
def rows_of(draw: st.DrawFn, width: int, labels: list[str], delimiter: str) -> list[str]:
    """A data row: cells then a label, now and then one cell too many or too few."""
    ragged = draw(st.sampled_from((0,) * 8 + (-1, 1)))
    row = [draw(cells(delimiter)) for _ in range(max(1, width - 1 + ragged))]
    row.append(draw(st.sampled_from(labels)))
    assume(any(cell.strip() for cell in row))  # a blank row is not data, by design
    return row


def _csv_record(row: list[str]) -> str:
    """One CSV record: csv.writer quotes a field holding a comma, a quote or a line break
    (a line break only when it is in `lineterminator`, hence \r\n, cut off here)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue()[:-2]


def _tsv_record(row: list[str]) -> str:
    """One TSV record: TSV has no quoting, so a tab or line break in a cell becomes a space."""
    return "\t".join("".join(" " if c in TSV_BREAKERS else c for c in cell) for cell in row)


@st.composite
def delimited_files(draw: st.DrawFn, delimiter: str) -> tuple[bytes, int]:
    """(the bytes of a CSV or TSV file, its number of records): an optional header
    (duplicated or odd names), 0-12 rows over 1-3 labels, line breaks, an encoding."""
    width = draw(st.integers(2, 4))
    header = draw(st.none() | column_names(draw(st.integers(1, 5))))
    labels = draw(st.lists(st.sampled_from(ODD_LABELS), min_size=1, max_size=3))
    rows = draw(st.lists(rows_of(width, labels, delimiter), max_size=12))
    if header is not None:
        rows.insert(0, header)
    record = _tsv_record if delimiter == "\t" else _csv_record
    line_end = draw(st.sampled_from(("\n", "\r\n", "\r")))
    text = "".join(record(row) + line_end for row in rows)
    return draw(encoded(text)), len(rows)


@st.composite
def encoded(draw: st.DrawFn, text: str) -> bytes:
    """Text as UTF-8 (with or without BOM) or Windows-1252 (unknown characters as ?)."""
    encoding = draw(st.sampled_from(("utf-8", "utf-8-sig", "cp1252")))
    return text.encode(encoding, errors="replace")


# Strategies: chaotic text, damaged bytes

TEXT_PIECES = (
    *(",", ";", "\t", "|", '"', '""', "'", " "),
    *("\n", "\r\n", "\r", "\x85", "\u2028", "\x00", "\ufeff", "\x0b", "\x1c"),
    *("text", "label", "a good film", "1", "1.0", " 1 ", "inf", "nan", "é", "€", "日本"),
)
CHAOTIC_LABELS = ("1", "1.0", " 1 ", "inf", "nan", "pos", "neg", '"', "", "\x85", "\u2028")
ODD_BYTES = (b"\xff", b"\xc3(", b"\x80", b"\x93\x94", b"\xe2\x82", b"\x00", b"\xef\xbb\xbf")


@st.composite
def chaotic_lines(draw: st.DrawFn, delimiter: str, labels: list[str]) -> str:
    """Cells of random pieces, joined by the file's delimiter (now and then another one),
    then a label: often a line of a table, never sure to be one."""
    pieces = st.sampled_from(TEXT_PIECES) | st.text(ODD_CHARACTERS, max_size=4)
    cells = ["".join(draw(st.lists(pieces, max_size=4))) for _ in range(draw(st.integers(1, 3)))]
    delimiter = draw(st.sampled_from((delimiter,) * 4 + tuple(",;\t|")))
    return delimiter.join([*cells, draw(st.sampled_from(labels))])


@st.composite
def chaotic_files(draw: st.DrawFn) -> bytes:
    """Lines of random pieces (delimiters, quotes, breaks, BOMs, NULs, labels), encoded,
    then odd bytes (invalid UTF-8, Windows-1252) inserted at random places."""
    delimiter = draw(st.sampled_from(",;\t|"))
    labels = draw(st.lists(st.sampled_from(CHAOTIC_LABELS), min_size=1, max_size=3))
    lines = draw(st.lists(chaotic_lines(delimiter, labels), min_size=2, max_size=16))
    line_end = draw(st.sampled_from(("\n", "\r\n", "\r", "")))
    data = bytearray(draw(encoded(line_end.join(lines))))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from(ODD_BYTES))
    return bytes(data)


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """The bytes as they are, cut short at a random place, or with a few bits flipped."""
    how = draw(st.sampled_from(("intact",) * 3 + ("cut", "flipped", "cut and flipped")))
    data = bytearray(data)
    if "cut" in how and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    if "flipped" in how and data:
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


# Strategies: Parquet columns

PARQUET_COLUMNS = {
    "int": (pa.int64(), st.none() | st.integers(-(2**63), 2**63 - 1)),
    "float": (pa.float64(), st.none() | st.floats(allow_nan=True, allow_infinity=True)),
    "text": (pa.string(), st.none() | st.text(ODD_CHARACTERS, max_size=12)),
    "prose": (pa.string(), st.none() | st.sampled_from(("a good film", "not a good film"))),
    "bool": (pa.bool_(), st.none() | st.booleans()),
    "null": (pa.null(), st.none()),
}


@st.composite
def parquet_files(draw: st.DrawFn) -> tuple[bytes, list[list[str]]]:
    """(Parquet bytes, its rows as the reader's cells: None as "") of 1-3 generated
    columns and a string column over 1-3 labels (names possibly duplicated), 0-12 rows."""
    kinds = draw(st.lists(st.sampled_from(sorted(PARQUET_COLUMNS)), min_size=1, max_size=3))
    labels = draw(st.lists(st.sampled_from(ODD_LABELS), min_size=1, max_size=3))
    generated = [PARQUET_COLUMNS[kind] for kind in kinds]
    generated.insert(draw(st.integers(0, len(kinds))), (pa.string(), st.sampled_from(labels)))
    names = draw(column_names(len(generated)))
    n_rows = draw(sometimes(st.integers(0, 1), draw(st.integers(2, 12))))  # 0, 1: refused
    columns = [
        pa.array([draw(values) for _ in range(n_rows)], type=kind_type)
        for kind_type, values in generated
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(columns, names=names), buffer)
    cells_by_column = [["" if v is None else str(v) for v in c.to_pylist()] for c in columns]
    rows = [list(row) for row in zip(*cells_by_column, strict=True)]
    return buffer.getvalue(), rows


# Strategies: odd file names, image bytes

NAME_PIECES = (
    *("-", "--rm", "-rf ", " ", "  ", ".", "'", '"', "\n", "\r", "\t", "\\", "*", "?", "~"),
    *("$HOME", "#", ":", "%20", "a b", "é", "日本語", "😀", "\u202e", "\x7f", "\u2028"),
)
NAME_CHARACTERS = st.characters(codec="utf-8", exclude_characters="/\x00")


def _fit(stem: str, suffix: str) -> str:
    """stem + suffix, the stem cut so that the name fits in NAME_BYTES bytes of UTF-8."""
    while len((stem + suffix).encode()) > NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


@st.composite
def odd_names(draw: st.DrawFn, suffix: str = "") -> str:
    """A file name of odd pieces (spaces, leading dashes, quotes, line breaks, unicode),
    sometimes repeated to near NAME_BYTES bytes."""
    pieces = st.sampled_from(NAME_PIECES) | st.text(NAME_CHARACTERS, min_size=1, max_size=6)
    stem = "".join(draw(st.lists(pieces, min_size=1, max_size=5)))
    if draw(st.booleans()):
        stem = stem * NAME_BYTES  # cut back by _fit to the longest name allowed
    name = _fit(stem, suffix)
    assume(name not in (".", ".."))
    return name


IMAGE_FORMATS = {  # format: (suffix, modes Pillow writes in it)
    "PNG": (".png", ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B")),
    "JPEG": (".jpg", ("1", "L", "RGB", "CMYK")),
    "GIF": (".gif", ("1", "L", "P", "RGB", "RGBA")),
    "TIFF": (".tif", ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "LAB")),
    "BMP": (".bmp", ("1", "L", "P", "RGB", "RGBA")),
    "WEBP": (".webp", ("L", "RGB", "RGBA")),
}
MULTI_FRAME = {"GIF", "PNG", "TIFF", "WEBP"}  # save_all=True writes an animated file
OTHER_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".tiff", ".bmp", ".webp", ".csv", "")


@st.composite
def pictures(draw: st.DrawFn) -> tuple[bytes, str]:
    """(a small valid image file in a random format and mode, its usual suffix)."""
    file_format = draw(st.sampled_from(sorted(IMAGE_FORMATS)))
    suffix, modes = IMAGE_FORMATS[file_format]
    mode = draw(st.sampled_from(modes))
    size = (draw(st.integers(1, MAX_IMAGE_SIDE)), draw(st.integers(1, MAX_IMAGE_SIDE)))
    n_bytes = len(Image.new(mode, size).tobytes())
    image = Image.frombytes(mode, size, draw(st.binary(min_size=n_bytes, max_size=n_bytes)))
    buffer = io.BytesIO()
    frames = {"save_all": True} if file_format in MULTI_FRAME and draw(st.booleans()) else {}
    image.save(buffer, format=file_format, **frames)
    return buffer.getvalue(), suffix


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height RGB pixels, and a few bytes of pixels."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    pixels = _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + header + pixels + _png_chunk(b"IEND", b"")


OVER_LIMIT_SIDES = st.integers(10_000, 2**31 - 1)  # 10,000 x 10,000 is over the limit


@st.composite
def image_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(an odd name, bytes): a picture, damaged or not, random bytes, an empty file, or a
    header claiming too many pixels; under its own suffix or another one."""
    kind = draw(st.sampled_from(("picture",) * 8 + ("random", "empty", "huge")))
    suffix = draw(st.sampled_from(OTHER_SUFFIXES))
    if kind == "picture":
        data, usual = draw(pictures())
        data = draw(damaged(data))
        suffix = usual if draw(st.booleans()) else suffix
    elif kind == "random":
        data = draw(st.binary(min_size=1, max_size=256))
    elif kind == "huge":
        data = huge_png(draw(OVER_LIMIT_SIDES), draw(OVER_LIMIT_SIDES))
    else:
        data = b""
    return draw(odd_names(suffix)), data


@st.composite
def image_folders(draw: st.DrawFn) -> dict[str, dict[str, dict[str, bytes]]]:
    """{split folder ("" for none): {class folder: {file name: bytes}}}, 1-3 classes of
    2-5 files each; class names are odd, but never a split folder's name."""
    split_names = {name for names in SPLIT_NAMES.values() for name in names}
    class_names = odd_names().filter(lambda name: name.lower() not in split_names)
    splits = draw(st.sampled_from(([""], ["train", "val"], ["train", "valid", "test"])))
    folders = {}
    for split in splits:
        classes = draw(st.lists(class_names, min_size=1, max_size=3, unique=True))
        folders[split] = {}
        for name in classes:
            files = draw(
                st.lists(image_files(), min_size=2, max_size=5, unique_by=lambda file: file[0])
            )
            folders[split][name] = dict(files)
    return folders


# Checks


@contextmanager
def _quiet() -> Iterator[None]:
    """Warnings (a file read as Windows-1252, Pillow's notes on odd files) are expected
    here and not shown; a decompression-bomb warning means the pixel limit was bypassed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _check_one_line(exc: TransferKitError) -> None:
    message = str(exc)
    assert message.strip(), f"{type(exc).__name__} without a message"
    if "\n" in message or "\r" in message:
        raise AssertionError(f"a message of several lines: {message!r}")


def _read(path: Path, **options) -> DataSplits | None:
    """read_data's splits, or None when it refused with one line of TransferKitError;
    any other exception fails the test."""
    try:
        with _quiet():
            splits = read_data(path, **options)
    except TransferKitError as exc:
        event(f"refused by {_raised_in(exc)}")  # shown by --hypothesis-show-statistics
        _check_one_line(exc)
        return None
    except Exception as exc:
        event(f"escaped: {type(exc).__name__} from {_raised_in(exc)}")
        raise
    event(f"read: {splits.layout}")
    return splits


def _datasets(splits: DataSplits) -> list:
    return [splits.train, splits.val] + ([splits.test] if splits.test is not None else [])


def _check_samples(splits: DataSplits) -> list[str]:
    """Every sample has a label among the class names, none is read twice or also skipped,
    and every skipped input says why; the refs of the samples."""
    refs = []
    for dataset in _datasets(splits):
        assert len(dataset.inputs) == len(dataset.labels) == len(dataset.refs)
        assert dataset.class_names == splits.class_names
        assert all(0 <= label < len(splits.class_names) for label in dataset.labels)
        refs += dataset.refs
    assert len(splits.train) > 0
    assert all(splits.class_names), "a blank class name"
    assert len(set(refs)) == len(refs), "a sample read twice"
    skipped = [s.item for s in splits.skipped]
    assert all(s.reason.strip() for s in splits.skipped)
    assert len(set(skipped)) == len(skipped) and not set(skipped) & set(refs)
    return refs


def _lines_in(path: Path) -> int:
    """At most how many lines a text file has, whatever its encoding."""
    data = path.read_bytes()
    return data.count(b"\n") + data.count(b"\r") + 1


def _records_by_file(splits: DataSplits, lines: dict[Path, int]) -> Counter:
    """How many samples and skipped rows came from each file, checking that each names a
    line (from 1, up to `lines` of that file) of one of the files."""
    where = [ref.rsplit(":", 1) for ref in _check_samples(splits)]
    where += [skipped.item.rsplit(":", 1) for skipped in splits.skipped]
    bounds = {str(path): n for path, n in lines.items()}
    for file, line in where:
        assert file in bounds and 1 <= int(line) <= bounds[file], (file, line)
    return Counter(file for file, _ in where)


def _check_records(splits: DataSplits, written: dict[Path, int]) -> None:
    """Each file's rows are all read or skipped: the records written, less at most one
    (the first, when it is taken for a header)."""
    counts = _records_by_file(splits, {path: _lines_in(path) for path in written})
    for path, records in written.items():
        assert counts[str(path)] in (records - 1, records), (path, counts[str(path)], records)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# Delimited files, Parquet, split files


@_fuzz_settings(DELIMITED_EXAMPLES)
@given(suffix=st.sampled_from((".csv", ".tsv", ".txt", "")), data=st.data())
def test_a_delimited_file_is_read_row_by_row_or_refused_in_one_line(suffix, data):
    content, records = data.draw(delimited_files("\t" if suffix == ".tsv" else ","))
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), f"data{suffix}", content)
        splits = _read(path)
        if splits is not None and suffix in (".csv", ".tsv"):
            _check_records(splits, {path: records})
        elif splits is not None:  # the delimiter is guessed: rows may split differently
            _records_by_file(splits, {path: _lines_in(path)})


@_fuzz_settings(CHAOTIC_TEXT_EXAMPLES)
@given(suffix=st.sampled_from((".csv", ".tsv", ".txt")), content=chaotic_files())
@example(suffix=".csv", content=b'text,label\n"unclosed,1\n"a\r\nb",1\n\xff\x00,2\n')
@example(suffix=".tsv", content=b"\xef\xbb\xbftext\tlabel\na\xc2\x85b\t1\nc\xe2\x80\xa8d\t1\n")
def test_chaotic_text_is_read_or_refused_in_one_line(suffix, content):
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), f"data{suffix}", content)
        splits = _read(path)
        if splits is not None:
            _records_by_file(splits, {path: _lines_in(path)})


@_fuzz_settings(PARQUET_EXAMPLES)
@given(table=parquet_files(), data=st.data())
def test_a_parquet_file_is_read_row_by_row_or_refused_in_one_line(table, data):
    content, rows = table
    broken = data.draw(damaged(content))
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "data.parquet", broken)
        splits = _read(path)
        if splits is not None and broken == content:
            # The header is the column names: every row with a cell is read or skipped.
            records = sum(1 for row in rows if any(row))
            counts = _records_by_file(splits, {path: len(rows) + 1})  # line 1: the header
            assert counts[str(path)] == records
        elif splits is not None:  # damaged, yet read: how many rows it holds is unknown
            _check_samples(splits)


SPLIT_FILE_SUFFIXES = {"train": (".csv", ".tsv"), "val": (".csv", ".tsv"), "test": (".csv",)}
VAL_FILE_NAMES = ("val", "valid", "validation", "dev")


@_fuzz_settings(SPLIT_FILES_EXAMPLES)
@given(with_test=st.booleans(), val_name=st.sampled_from(VAL_FILE_NAMES), data=st.data())
def test_a_folder_of_split_files_is_read_file_by_file(with_test, val_name, data):
    names = {"train": "train", "val": val_name} | ({"test": "test"} if with_test else {})
    with tempfile.TemporaryDirectory() as tmp:
        written = {}
        for split, name in names.items():
            suffix = data.draw(st.sampled_from(SPLIT_FILE_SUFFIXES[split]))
            content, records = data.draw(delimited_files("\t" if suffix == ".tsv" else ","))
            written[_write(Path(tmp), name + suffix, content)] = records
        splits = _read(Path(tmp))
        if splits is not None:
            _check_records(splits, written)
            assert splits.split_source == "given"


ODD_COLUMNS = st.integers(-3, 6) | st.sampled_from(COLUMN_NAMES) | st.text(max_size=3)
ODD_VAL_SIZES = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from((0.0, 1.0))
ODD_MODALITIES = st.sampled_from(("text", "tabular", "image", "Text", ""))


@_fuzz_settings(READ_OPTIONS_EXAMPLES)
@given(
    content=delimited_files(","),
    text_column=sometimes(ODD_COLUMNS),
    label_column=sometimes(ODD_COLUMNS),
    val_size=sometimes(ODD_VAL_SIZES, 0.2),
    seed=sometimes(st.integers(-(2**40), 2**40), 0),
    modality=sometimes(ODD_MODALITIES),
)
def test_odd_read_options_are_used_or_refused_in_one_line(
    content, text_column, label_column, val_size, seed, modality
):
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "data.csv", content[0])
        options = {"text_column": text_column, "label_column": label_column}
        splits = _read(path, **options, val_size=val_size, seed=seed, modality=modality)
        if splits is not None:
            _check_records(splits, {path: content[1]})


# Images


def _check_decoded(path: Path) -> bool:
    """Whether decode_image and open_image give an RGB image of positive size (True) or
    refuse with one line of TransferKitError (False); nothing else."""
    results = []
    for decode in (decode_image, lambda p: open_image(p, 256)):
        try:
            with _quiet():
                image = decode(path)
        except TransferKitError as exc:
            _check_one_line(exc)
            results.append(False)
            continue
        assert isinstance(image, Image.Image) and image.mode == "RGB"
        assert image.width > 0 and image.height > 0
        results.append(True)
    assert results[0] == results[1], "decode_image and open_image disagree"
    return results[0]


@_fuzz_settings(IMAGE_FILE_EXAMPLES)
@given(file=image_files())
@example(file=("huge.png", huge_png(20_000, 20_000)))
def test_an_image_file_is_decoded_or_refused_in_one_line(file):
    name, data = file
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), name, data)
        with _quiet():
            reason = check_image_header(path)
        assert reason is None or (isinstance(reason, str) and reason.strip())
        decoded = _check_decoded(path)
        assert reason is None or not decoded, (
            f"the header check skips it ({reason}), yet it decodes"
        )


@_fuzz_settings(HUGE_HEADER_EXAMPLES)
@given(width=OVER_LIMIT_SIDES, height=OVER_LIMIT_SIDES)
@example(width=20_000, height=20_000)
def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(width, height):
    assume(width * height > DEFAULT_MAX_IMAGE_PIXELS)
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "huge.png", huge_png(width, height))
        with _quiet():
            assert check_image_header(path).startswith("image too large")
            with pytest.raises(ImageDecodeError, match="image too large"):
                decode_image(path)


def _write_image_folder(root: Path, folders: dict) -> set[str]:
    """The folders written under root; the files the reader should see (not hidden)."""
    expected = set()
    for split, classes in folders.items():
        for class_name, files in classes.items():
            class_dir = root / split / class_name
            class_dir.mkdir(parents=True)
            for name, data in files.items():
                path = _write(class_dir, name, data)
                if not class_name.startswith(".") and not name.startswith("."):
                    expected.add(str(path))
    return expected


@_fuzz_settings(IMAGE_FOLDER_EXAMPLES)
@given(folders=image_folders(), modality=st.sampled_from((None, "image")))
def test_an_image_folder_reads_or_skips_every_file(folders, modality):
    with tempfile.TemporaryDirectory() as tmp:
        expected = _write_image_folder(Path(tmp), folders)
        splits = _read(Path(tmp), modality=modality)
        if splits is None:
            return
        refs = _check_samples(splits)
        assert set(refs) | {s.item for s in splits.skipped} == expected
        for dataset in _datasets(splits):
            for ref, label in zip(dataset.refs, dataset.labels, strict=True):
                assert splits.class_names[label] == canonical_label(Path(ref).parent.name)
                _check_decoded(Path(ref))
