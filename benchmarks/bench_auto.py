"""Does `--strategy auto` land within 1 point of the best strategy found by trying them all?

For each data set: `fit(strategy="auto")` from a fresh cache (it ranks the built-in
backbones with their cut points, then picks backbone and strategy), then every strategy
with the default backbone on the same split and budget. Prints each validation accuracy,
what auto picked and why, and the gap between auto and the best.

Budgets: hymenoptera, the default 8 epochs. sms_spam, 2 epochs for the trained
strategies: a `finetune` epoch of MiniLM-L6 on 4,457 texts takes about 6 minutes on this
2-core CPU, so the full default would take hours.

Run: python benchmarks/bench_auto.py [hymenoptera|sms_spam ...]
"""

from __future__ import annotations

import json
import sys
import time

import transferkit

from _common import dataset, fresh_dir, remove

# settings
DATA = {
    "hymenoptera": (
        dataset("hymenoptera"),
        ["features", "top:1", "top:2", "gradual", "finetune"],
        {"epochs": 8},
    ),
    "sms_spam": (
        dataset("sms_spam") / "SMSSpamCollection",
        ["features", "top:2", "gradual", "finetune"],
        {"epochs": 2},
    ),
}


def measure(name: str) -> dict:
    data, strategies, train = DATA[name]
    cache, runs = fresh_dir("cache"), fresh_dir("runs")
    out: dict = {"strategies": {}}
    try:
        for strategy in ["auto", *strategies]:
            start = time.perf_counter()
            result = transferkit.fit(
                data,
                strategy=strategy,
                out=runs / strategy.replace(":", "-"),
                cache_dir=cache,
                train=train,
                quiet=True,
            )
            row = {
                "val_accuracy": round(result.metrics["accuracy"], 4),
                "seconds": round(time.perf_counter() - start, 1),
            }
            if strategy == "auto":
                out["auto"] = {**row, **result.metrics["auto"]}
            else:
                out["strategies"][strategy] = row
            print(name, strategy, row, flush=True)
    finally:
        remove(cache)
        remove(runs)
    best = max(out["strategies"].items(), key=lambda kv: kv[1]["val_accuracy"])
    out["best"] = {"strategy": best[0], "val_accuracy": best[1]["val_accuracy"]}
    out["auto_gap_points"] = round(100 * (best[1]["val_accuracy"] - out["auto"]["val_accuracy"]), 2)
    return out


def main() -> None:
    names = sys.argv[1:] or list(DATA)
    print(json.dumps({name: measure(name) for name in names}, indent=2))


if __name__ == "__main__":
    main()
