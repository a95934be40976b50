"""Every trained strategy on hymenoptera, side by side, on the same budget.

`features` (the frozen baseline), `finetune`, `gradual`, `top:2` and `scratch`, each with
the default training settings (8 epochs, SGD with Nesterov momentum, one-cycle, head
rate 0.01, group decay 0.3, batch 32), seed 0, on
hymenoptera's own train/val split. Prints validation accuracy and wall time of each.

Run: python benchmarks/bench_strategies.py [STRATEGY ...]
"""

from __future__ import annotations

import json
import sys
import time

import transferkit

from _common import dataset, fresh_dir, remove

# settings
DATA = dataset("hymenoptera")
STRATEGIES = ["features", "finetune", "gradual", "top:2", "scratch"]
TRAIN = {"epochs": 8}


def main() -> None:
    chosen = sys.argv[1:] or STRATEGIES
    cache, runs = fresh_dir("cache"), fresh_dir("runs")
    results = {}
    try:
        for strategy in chosen:
            start = time.perf_counter()
            result = transferkit.fit(
                DATA,
                strategy=strategy,
                out=runs / strategy.replace(":", "-"),
                cache_dir=cache,
                train=TRAIN if strategy != "features" else None,
                quiet=True,
            )
            results[strategy] = {
                "val_accuracy": round(result.metrics["accuracy"], 4),
                "seconds": round(time.perf_counter() - start, 1),
            }
            print(strategy, results[strategy], flush=True)
    finally:
        remove(cache)
        remove(runs)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
