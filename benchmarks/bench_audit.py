"""The per-group audit (`--group`) on real data.

- `fsdd`: FSDD digits, official split (takes 0-4 test), `features` at `blocks.4` of the
  spectrogram CNN (the best cut of `bench_audio.py digits`), digit accuracy per speaker:
  the worst speaker and the gap.
- `uci`: uci_sentiment, the three domains (amazon, yelp, imdb) in one table with a
  `domain` column, `minilm-l6` features, stratified 80/20 seed 0: sentiment accuracy per
  domain on the validation split.

Run: python benchmarks/bench_audit.py [fsdd|uci ...]
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import transferkit

from _common import dataset, fresh_dir

WORK = Path(fresh_dir("audit"))


def show(name: str, result: transferkit.FitResult, seconds: float) -> None:
    audit = result.metrics["groups"]
    by = audit["by_group"]
    groups = ", ".join(
        f"{g} {by['accuracy'][g]:.3f} (n={by['count'][g]})"
        for g in sorted(by["accuracy"], key=lambda g: by["accuracy"][g])
    )
    print(f"{name}: overall accuracy {result.metrics['accuracy']:.4f} on"
          f" {audit['evaluated_on']}; per {audit['column']}: {groups}; worst"
          f" {audit['worst']['group']!r} {audit['worst']['accuracy']:.4f}, gap"
          f" {audit['gap']['accuracy']:.4f} (macro-F1 gap {audit['gap']['macro_f1']:.4f});"
          f" {seconds:.1f} s", flush=True)  # fmt: skip


def fsdd() -> None:
    root = WORK / "fsdd"
    for wav in sorted((dataset("fsdd") / "recordings").glob("*.wav")):
        link = root / ("test" if int(wav.stem.split("_")[2]) < 5 else "train") / wav.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(wav)
    start = time.perf_counter()
    result = transferkit.fit(
        root, label_pattern="{digit}_{speaker}_{take}.wav", label_column="digit",
        group="speaker", cut="blocks.4", out=WORK / "runs" / "fsdd", quiet=True,
        cache_dir=str(WORK / "cache"),
    )  # fmt: skip
    show("fsdd digits by speaker", result, time.perf_counter() - start)


def uci() -> None:
    table = WORK / "uci_sentiment.tsv"
    with table.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter="\t")
        writer.writerow(["sentence", "score", "domain"])
        for name in ("amazon_cells", "imdb", "yelp"):
            raw = (dataset("uci_sentiment") / f"{name}.txt").read_text(encoding="utf-8")
            for line in raw.split("\n")[1:]:  # "\n" only: two lines hold U+0085
                if line.strip():
                    sentence, score = line.rsplit("\t", 1)
                    writer.writerow([sentence, score.strip(), name.split("_")[0]])
    start = time.perf_counter()
    result = transferkit.fit(
        table, text_column="sentence", label_column="score", group="domain",
        out=WORK / "runs" / "uci", quiet=True, cache_dir=str(WORK / "cache"),
    )  # fmt: skip
    show("uci_sentiment by domain", result, time.perf_counter() - start)


if __name__ == "__main__":
    runs = {"fsdd": fsdd, "uci": uci}
    for name in sys.argv[1:] or list(runs):
        runs[name]()
