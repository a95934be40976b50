"""`top:1` and `gradual` with and without the prefix cache, on hymenoptera, same seed.

Without the cache every epoch runs the whole frozen part of the backbone; with it, the
frozen prefix runs once per cut and cached view, and each epoch runs only the groups
above the cut and the head. `top:1` has one cut (4 augmented views of the training
split, one of val); `gradual` has one cut per epoch, moving down as groups unfreeze.
For each strategy this runs: no cache, the cache cold (a fresh cache folder), and the
cache warm (the same fit again). Prints the mean epoch time after the first epoch
(training + validation, from history.csv), the training phase time and the validation
accuracy of each.

Texts: `text:top:2` runs `top:2` on sms_spam with `minilm-l6` (stratified 80/20, seed 0,
2 epochs): the hidden states after the four frozen layers are cached with their masks.
Only the uncached and the cold-cache runs are made for text (an epoch is minutes here).

Run: python benchmarks/bench_prefix_cache.py [STRATEGY ...]   (default: top:1 gradual)
     python benchmarks/bench_prefix_cache.py text:top:2
"""

from __future__ import annotations

import csv
import json
import sys

import transferkit

from _common import dataset, fresh_dir, remove

# settings
DATA = dataset("hymenoptera")
TRAIN = {"epochs": 6, "cached_views": 4}
SMS = dataset("sms_spam") / "SMSSpamCollection"
TEXT_TRAIN = {"epochs": 2}


def epoch_seconds(run_dir) -> list[float]:
    with open(run_dir / "history.csv", newline="") as f:
        return [float(r["seconds"]) for r in csv.DictReader(f)]


def measure(strategy: str) -> dict[str, dict[str, float]]:
    data, train, extra = DATA, TRAIN, {}
    kinds = {"no_cache": False, "cold": True, "warm": True}
    if strategy.startswith("text:"):
        strategy = strategy[5:]
        data, train = SMS, TEXT_TRAIN
        extra = {"backbone": "minilm-l6", "val_size": 0.2, "seed": 0}
        del kinds["warm"]
    results = {}
    cache, runs = fresh_dir("cache"), fresh_dir("runs")
    try:
        for name, use_cache in kinds.items():
            result = transferkit.fit(
                data,
                strategy=strategy,
                out=runs / name,
                cache_dir=cache,
                quiet=True,
                train={**train, "prefix_cache": use_cache},
                **extra,
            )
            seconds = epoch_seconds(result.run_dir)
            results[name] = {
                "val_accuracy": round(result.metrics["accuracy"], 4),
                "first_epoch_s": round(seconds[0], 2),
                "later_epoch_mean_s": round(sum(seconds[1:]) / len(seconds[1:]), 2),
                "train_phase_s": result.metrics["timings"]["train"],
            }
            print(strategy, name, results[name], flush=True)
    finally:
        remove(cache)
        remove(runs)
    none = results["no_cache"]
    for name in [k for k in kinds if k != "no_cache"]:
        results[f"later_epoch_ratio_{name}_over_none"] = round(
            results[name]["later_epoch_mean_s"] / none["later_epoch_mean_s"], 3
        )
        results[f"train_phase_ratio_{name}_over_none"] = round(
            results[name]["train_phase_s"] / none["train_phase_s"], 3
        )
    return results


def main() -> None:
    strategies = sys.argv[1:] or ["top:1", "gradual"]
    print(json.dumps({s: measure(s) for s in strategies}, indent=2))


if __name__ == "__main__":
    main()
