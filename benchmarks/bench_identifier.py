"""An identifier column beside numeric columns: is the file still read as a table?

creditcard_fraud's 1,722 real transactions (30 numeric columns and `Class`), written
three ways into a temporary folder: as it is; with a `customer` column of distinct strings
(`c0, c1, …`) in front, as exports from a customer database have; and the same file
forced with `--modality text` (what the reader chose for it before identifier columns were
recognised: a sentence encoder on one numeric column). Each is fitted with the defaults
(`features`, stratified 80/20, seed 0) and the validation accuracy printed with the
summary's `data:` line, which says what was detected and used.

Run: python benchmarks/bench_identifier.py
"""

from __future__ import annotations

import csv

import transferkit

from _common import dataset, fresh_dir, remove

# settings
DATA = dataset("creditcard_fraud") / "creditcard_sample.csv"
RUNS = {
    "as it is": ("plain.csv", {}),
    "with a customer column": ("with-customer.csv", {}),
    "with a customer column, --modality text": ("with-customer.csv", {"modality": "text"}),
}


def write_copies(folder) -> None:
    with open(DATA, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with open(folder / "plain.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    with open(folder / "with-customer.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["customer", *rows[0]])
        writer.writerows([f"c{i}", *row] for i, row in enumerate(rows[1:]))


def main() -> None:
    folder = fresh_dir("identifier")
    try:
        write_copies(folder)
        for name, (file, options) in RUNS.items():
            result = transferkit.fit(folder / file, out=folder / name, quiet=True, **options)
            data = next(line for line in result.summary.splitlines() if line.startswith("data:"))
            print(f"{name}: accuracy {result.metrics['accuracy']:.3f}, backbone", end=" ")
            print(f"{result.metrics['backbone']}\n    {data}")
    finally:
        remove(folder)


if __name__ == "__main__":
    main()
