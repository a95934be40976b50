"""Do the transferability scores predict the accuracy a candidate reaches? And at what cost?

For each data set, the candidates are the default backbone and its random-weight copy,
each whole and cut after each layer group (`transferkit rank --layers`; for text, also
after the embeddings). `rank` scores
them on the training split; then each candidate's features go through the `features`
strategy's head (logistic regression, C by CV on train), and its validation accuracy is
measured, and its 5-fold cross-validated accuracy over train + val (the same head per
fold, what `fit --cv 5` reports: on sms_spam one validation text is 0.09 points and the
real candidates lie within 0.8 points, so the single split is a noisy yardstick).
Prints Kendall's tau between each score and each accuracy, and the wall time
of ranking every candidate (fresh cache, libraries already imported) beside one `finetune`
epoch of the best one.

Run: python benchmarks/bench_rank.py [hymenoptera|sms_spam ...]
"""

from __future__ import annotations

import csv
import json
import sys
import time

import numpy as np
from scipy.stats import kendalltau
from sklearn.model_selection import StratifiedKFold

import transferkit
from transferkit.data import read_data
from transferkit.features._cache import FeatureCache
from transferkit.features._extract import extract_features
from transferkit.heads._train import train_head
from transferkit.selection._rank import SCORES, _load, pooled_prefix_features

from _common import dataset, fresh_dir, remove

# settings
DATA = {
    "hymenoptera": (dataset("hymenoptera"), ["efficientnet_lite0", "efficientnet_lite0:random"]),
    "sms_spam": (
        dataset("sms_spam") / "SMSSpamCollection",
        ["minilm-l6", "minilm-l6:random"],
    ),
}
MAX_SAMPLES = 2000  # rank's default sample of the training split
CV_FOLDS = 5
TIMED = 3  # rankings (fresh caches) and finetune epochs timed; medians compared


def accuracy(candidate, splits, cache) -> tuple[float, float]:
    """(validation accuracy, 5-fold CV accuracy over train + val) of the `features` head
    on this candidate's features: what `fit` reports, and what `fit --cv 5` reports."""
    backbone = _load(candidate.backbone)
    out = {}
    for name in ("train", "val"):
        items = getattr(splits, name).inputs
        if candidate.cut is None:
            out[name], _ = extract_features(backbone, items, cache)
        else:
            out[name], _ = pooled_prefix_features(backbone, items, cache, candidate.cut)
    n_classes = len(splits.class_names)
    head, _ = train_head("logistic", out["train"], splits.train.labels, n_classes)
    val = float(np.mean(head.predict_proba(out["val"]).argmax(1) == splits.val.labels))
    x = np.concatenate([out["train"], out["val"]])
    y = np.concatenate([splits.train.labels, splits.val.labels])
    folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0).split(x, y)
    hits = 0
    for fit_rows, test_rows in folds:
        head, _ = train_head("logistic", x[fit_rows], y[fit_rows], n_classes)
        hits += int(np.sum(head.predict_proba(x[test_rows]).argmax(1) == y[test_rows]))
    return val, hits / len(y)


def finetune_epoch_seconds(data, backbone, cache) -> list[float]:
    """The wall time of each of 3 `finetune` epochs (training + validation)."""
    runs = fresh_dir("runs")
    try:
        result = transferkit.fit(
            data,
            backbone=backbone,
            strategy="finetune",
            out=runs / "ft",
            cache_dir=cache,
            train={"epochs": TIMED},
            quiet=True,
        )
        with open(result.run_dir / "history.csv", newline="") as f:
            return [float(row["seconds"]) for row in csv.DictReader(f)]
    finally:
        remove(runs)


def measure(name: str) -> dict:
    data, candidates = DATA[name]
    cache_dir, runs = fresh_dir("cache"), fresh_dir("runs")
    # libraries are imported before either clock starts: the epoch is timed inside a
    # running trainer, so the ranking is timed inside a running process too (the first
    # `import timm` alone takes about 3 s here)
    import matplotlib.pyplot  # noqa: F401
    import timm  # noqa: F401
    import transformers  # noqa: F401

    try:
        rank_seconds, rankings = [], []
        for i in range(TIMED):  # each from a fresh cache
            fresh = fresh_dir("cache") if i else cache_dir
            start = time.perf_counter()
            ranked = transferkit.rank(
                data, candidates, layers=True, out=runs / f"rank{i}", cache_dir=fresh
            )
            rank_seconds.append(time.perf_counter() - start)
            rankings.append(ranked)
            if i:
                remove(fresh)
        ranking = rankings[0]
        splits = read_data(data, seed=0)
        cache = FeatureCache(cache_dir)
        rows = [r for r in ranking.ranked if not r.skipped]
        both = [accuracy(r, splits, cache) for r in rows]
        accuracies, cv_accuracies = [v for v, _ in both], [c for _, c in both]
        best = rows[int(np.argmax(accuracies))]
        epoch = finetune_epoch_seconds(data, best.backbone, cache_dir)
    finally:
        remove(cache_dir)
        remove(runs)
    return {
        "candidates": [
            {
                "name": r.name,
                "logme": round(r.scores["logme"], 4),
                "val_accuracy": round(a, 4),
                "cv5_accuracy": round(c, 4),
            }
            for r, a, c in zip(rows, accuracies, cv_accuracies, strict=True)
        ],
        "kendall_tau_vs_val_accuracy": taus(rows, accuracies),
        "kendall_tau_vs_cv5_accuracy": taus(rows, cv_accuracies),
        "rank_seconds_all_candidates": [round(v, 1) for v in rank_seconds],
        "finetune_epoch_seconds_best": [round(v, 1) for v in epoch],
        "median_ratio_rank_over_epoch": round(float(np.median(rank_seconds) / np.median(epoch)), 2),
        "n_scored_samples": min(MAX_SAMPLES, len(splits.train)),
    }


def taus(rows, accuracies) -> dict[str, float]:
    """Kendall's tau (tau-b: ties allowed) between each score and the accuracies."""
    out = {}
    for score in SCORES:
        pairs = [(r.scores[score], a) for r, a in zip(rows, accuracies, strict=True)]
        pairs = [(s, a) for s, a in pairs if s is not None and np.isfinite(s)]
        if len(pairs) >= 3:
            out[score] = round(float(kendalltau(*zip(*pairs, strict=True)).statistic), 3)
    return out


def main() -> None:
    names = sys.argv[1:] or list(DATA)
    print(json.dumps({name: measure(name) for name in names}, indent=2))


if __name__ == "__main__":
    main()
