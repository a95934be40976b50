"""Few-shot text splits for the benchmarks: K labelled rows per class drawn with a seed
from one of `uci_sentiment`'s files (or `imdb_reviews`), the rest as the test split,
written as `train.csv` and `test.csv` in a folder, as a user would lay them out."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from _common import dataset

FILES = {
    "amazon": ("uci_sentiment", "amazon_cells.txt", "\t", "sentence", "score"),
    "yelp": ("uci_sentiment", "yelp.txt", "\t", "sentence", "score"),
    "imdb": ("uci_sentiment", "imdb.txt", "\t", "sentence", "score"),
}


def rows(name: str) -> tuple[list[str], list[str]]:
    """(texts, labels) of a named file, read with the csv module (no quoting: the UCI files
    hold bare quotes)."""
    folder, file, sep, text_col, label_col = FILES[name]
    path = dataset(folder) / file
    # newline="" keeps U+0085 inside its line (two of imdb.txt's sentences hold one)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=sep, quoting=csv.QUOTE_NONE)
        header = next(reader)
        t, y = header.index(text_col), header.index(label_col)
        pairs = [(r[t], r[y]) for r in reader if len(r) > max(t, y) and r[t].strip()]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def draw(labels: list[str], per_class: int, seed: int) -> np.ndarray:
    """Indices of `per_class` rows of every class, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels)
    picked = [
        rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in sorted(set(labels))
    ]
    return np.sort(np.concatenate(picked))


def write_split(name: str, per_class: int, seed: int, out: Path) -> Path:
    """`out/train.csv` (K per class) and `out/test.csv` (every other row)."""
    texts, labels = rows(name)
    train = draw(labels, per_class, seed)
    rest = np.setdiff1d(np.arange(len(texts)), train)
    out.mkdir(parents=True, exist_ok=True)
    for split, index in (("train", train), ("test", rest)):
        with (out / f"{split}.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((texts[i], labels[i]) for i in index)
    return out
