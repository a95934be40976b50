"""Deep domain adaptation over cached features (DANN, CDAN+E, MCC, DAN): each method's
target accuracy as mean ± std over its three seeds, against source-only (the logistic
head `fit` trains) on the same features, what the unsupervised criterion (circular
validation) makes of it, and its seconds against one embedding pass.

Pairs: the six ordered pairs of `uci_sentiment` with `minilm-l6`, and MNIST <-> USPS
from `mnist_usps` through `efficientnet_lite0` cut after `blocks.5` (as in
bench_adapt.py). Every run is `transferkit.adapt(source, target, method=M,
target_labels=True)`: the labels are read only to evaluate.

Run: python benchmarks/bench_adapt_deep.py [uci|mnist_usps ...] [--methods dann,mcc]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import transferkit

from _common import dataset, fresh_dir

METHODS = ["dann", "cdan+e", "mcc", "dan"]
WORK = Path(fresh_dir("adapt-deep"))
CACHE = WORK / "cache"


def one(source: Path, target: Path, label: str, method: str, **options) -> dict:
    start = time.perf_counter()
    result = transferkit.adapt(
        source, target, method=method, target_labels=True, quiet=True, cache_dir=str(CACHE),
        out=WORK / "runs" / f"{label.replace('>', '-to-')}-{method}", **options,
    )  # fmt: skip
    m = result.metrics
    seeds = m["target_accuracy_by_seed"][method]
    t = m["timings"]
    row = {
        "pair": label,
        "method": method,
        "source_only": m["target_accuracy_by_method"]["source-only"],
        "mean": seeds["mean"],
        "std": seeds["std"],
        "seeds": seeds["seeds"],
        "kept": m["adaptation"]["method"],  # the criterion's verdict against source-only
        "adapt_seconds": round(t.get("adapt", 0.0), 1),
        "embed_seconds": round(t.get("extract", 0.0) + t.get("extract_target", 0.0), 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    print(row, flush=True)
    return row


def uci(methods: list[str]) -> list[dict]:
    root = dataset("uci_sentiment")
    files = {"amazon": "amazon_cells.txt", "yelp": "yelp.txt", "imdb": "imdb.txt"}
    return [
        one(root / files[a], root / files[b], f"{a}>{b}", m)
        for a in files
        for b in files
        if a != b
        for m in methods
    ]


def mnist_usps(methods: list[str]) -> list[dict]:
    from bench_adapt import digits_folders

    folders = digits_folders()
    return [
        one(folders[a], folders[b], f"{a}>{b} @blocks.5", m, cut="blocks.5")
        for a, b in (("mnist", "usps"), ("usps", "mnist"))
        for m in methods
    ]


def report(rows: list[dict], name: str, methods: list[str]) -> None:
    print(f"\n{name}: {'pair':22s} {'method':8s} {'source-only':>11s} {'mean ± std':>14s}"
          f" {'gain':>6s} {'kept':>12s} {'adapt s':>8s}")  # fmt: skip
    for r in rows:
        print(
            f"{'':{len(name) + 2}s}{r['pair']:22s} {r['method']:8s} {r['source_only']:11.3f}"
            f" {r['mean']:8.3f} ± {r['std']:.3f} {100 * (r['mean'] - r['source_only']):+6.1f}"
            f" {r['kept']:>12s} {r['adapt_seconds']:8.1f}"
        )
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        gains = np.array([r["mean"] - r["source_only"] for r in mine])
        stds = np.array([r["std"] for r in mine])
        kept = sum(r["kept"] == m for r in mine)
        print(
            f"{name}: {m}: mean gain over source-only {100 * gains.mean():+.2f} points (worst"
            f" {100 * gains.min():+.1f}), mean seed std {100 * stds.mean():.2f} points;"
            f" the criterion kept it over source-only in {kept}/{len(mine)} pairs"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    methods = METHODS
    if "--methods" in args:
        i = args.index("--methods")
        methods = args[i + 1].split(",")
        args = args[:i] + args[i + 2 :]
    for name in args or ["uci", "mnist_usps"]:
        report({"uci": uci, "mnist_usps": mnist_usps}[name](methods), name, methods)
