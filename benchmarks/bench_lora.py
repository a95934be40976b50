"""`lora` against `finetune` on sms_spam with `minilm-l6`, the same budget, side by side.

Both train the same number of epochs from the same logistic probe, on the stratified
80/20 split with seed 0, and are scored on the 20 %. Each runs in its own process, so
that the peak resident memory of one does not carry into the other (on a GPU the peak
is torch's allocation). Prints, for each: accuracy, trainable parameters and their
share of the model, peak memory, and the mean epoch time (training + validation, from
history.csv). Writes benchmarks/runs/lora.json.

Run: python benchmarks/bench_lora.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys

from _common import ROOT, dataset, fresh_dir, remove

SMS = dataset("sms_spam") / "SMSSpamCollection"

CHILD = """
import json, sys, transferkit
strategy, out, cache, epochs = sys.argv[1:5]
result = transferkit.fit(
    sys.argv[5], backbone="minilm-l6", strategy=strategy, train={"epochs": int(epochs)},
    val_size=0.2, seed=0, out=out, cache_dir=cache, quiet=True,
)
print(json.dumps(result.metrics))
"""


def trainable(metrics: dict) -> tuple[int, float]:
    lora = metrics.get("lora")
    if lora:
        return lora["trainable_parameters"], lora["trainable_share"]
    return 0, 1.0  # finetune: every parameter of the backbone and the head (filled in)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    cache, runs = fresh_dir("cache"), fresh_dir("runs")
    results: dict[str, dict] = {}
    try:
        for strategy in ("finetune", "lora"):
            out = runs / strategy
            argv = [strategy, str(out), str(cache), str(args.epochs), str(SMS)]
            done = subprocess.run(
                [sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=True
            )
            metrics = json.loads(done.stdout.strip().splitlines()[-1])
            with (out / "history.csv").open(newline="") as f:
                seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
            n, share = trainable(metrics)
            results[strategy] = {
                "accuracy": metrics["accuracy"],
                "spam_f1": metrics["per_class"]["spam"]["f1"],
                "trainable_parameters": n,
                "trainable_share": share,
                "peak_memory_mb": metrics.get("peak_memory_mb"),
                "epoch_seconds": sum(seconds) / len(seconds),
                "train_seconds": metrics["timings"]["train"],
            }
            print(strategy, json.dumps(results[strategy]), flush=True)
    finally:
        remove(cache)
        remove(runs)
    lora = results["lora"]
    whole = round(lora["trainable_parameters"] / lora["trainable_share"])  # backbone + head
    results["finetune"]["trainable_parameters"] = whole
    gap = 100 * (results["lora"]["accuracy"] - results["finetune"]["accuracy"])
    results["lora_minus_finetune_points"] = gap
    results["bar_met"] = abs(gap) <= 0.3 and results["lora"]["trainable_share"] <= 0.02
    print(
        f"lora - finetune: {gap:+.2f} points; bar (within 0.3, <= 2 % trainable) met:"
        f" {results['bar_met']}"
    )
    path = ROOT / "benchmarks" / "runs" / "lora.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
