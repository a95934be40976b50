"""`top:1` with and without the prefix cache, on hymenoptera, same settings and seed.

Without the cache every epoch runs the whole frozen backbone below the last group; with
it, the prefix runs once per cached view (4 augmented views of the training split, one of
val) and each epoch runs only the last group and the head. Prints the mean epoch time
after the first epoch (training + validation, from history.csv), the first epoch's time,
and the validation accuracy of each.

Run: python benchmarks/bench_prefix_cache.py
"""

from __future__ import annotations

import csv
import json

import transferkit

from _common import dataset, fresh_dir, remove

# settings
DATA = dataset("hymenoptera")
TRAIN = {"epochs": 6, "cached_views": 4}


def epoch_seconds(run_dir) -> list[float]:
    with open(run_dir / "history.csv", newline="") as f:
        return [float(r["seconds"]) for r in csv.DictReader(f)]


def main() -> None:
    results = {}
    for use_cache in (False, True):
        cache, runs = fresh_dir("cache"), fresh_dir("runs")
        try:
            result = transferkit.fit(
                DATA,
                strategy="top:1",
                out=runs / "run",
                cache_dir=cache,
                quiet=True,
                train={**TRAIN, "prefix_cache": use_cache},
            )
            seconds = epoch_seconds(result.run_dir)
        finally:
            remove(cache)
            remove(runs)
        results["prefix_cache" if use_cache else "no_prefix_cache"] = {
            "val_accuracy": round(result.metrics["accuracy"], 4),
            "first_epoch_s": round(seconds[0], 2),
            "later_epoch_mean_s": round(sum(seconds[1:]) / len(seconds[1:]), 2),
            "train_phase_s": result.metrics["timings"]["train"],
        }
    a, b = results["prefix_cache"], results["no_prefix_cache"]
    results["later_epoch_ratio_cache_over_none"] = round(
        a["later_epoch_mean_s"] / b["later_epoch_mean_s"], 3
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
