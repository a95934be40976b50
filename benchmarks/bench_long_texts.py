"""Long documents: imdb_reviews read whole (overlapping windows) against truncated, and
against the TF-IDF baseline.

`../shared/datasets/imdb_reviews` holds 3,180 movie reviews, a quarter of them over 280
words; `minilm-l6` reads 256 tokens at a time. On the stratified 80/20 split with seed 0
(scored on the 20 %), this runs `transferkit.fit` with:

- `features`, truncated (`minilm-l6[windows=1]`, what every run did before windows);
- `features`, windowed (the default: up to 16 overlapping windows, embeddings averaged),
  with `--baseline raw` (TF-IDF + logistic regression on the same split) beside it;
- `features`, windowed, the windows weighted by their length instead of equally;
- the trained strategies named with `--trained` (e.g. `contrastive,top:2`), windowed.

Prints accuracy and seconds for each; writes benchmarks/runs/long_texts.json.

Run: python benchmarks/bench_long_texts.py [--trained contrastive] [--only "by length"]
"""

from __future__ import annotations

import argparse
import json
import time

import transferkit
from transferkit.backbones import _windows

from _common import ROOT, dataset, fresh_dir, remove

DATA = dataset("imdb_reviews") / "IMDB Dataset.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained", default="", help="trained strategies, comma-separated")
    parser.add_argument("--epochs", type=int, default=3, help="for finetune, top:K, lora")
    parser.add_argument("--only", default="", help="run only the cases whose name has this")
    args = parser.parse_args()
    cache, runs = fresh_dir("cache"), fresh_dir("runs")
    common = {"val_size": 0.2, "seed": 0, "cache_dir": cache, "quiet": True}
    cases: dict[str, dict] = {
        "features, truncated": {"backbone": "minilm-l6[windows=1]"},
        "features, windowed": {"backbone": "minilm-l6", "baseline": "raw"},
        "features, windowed by length": {"backbone": "minilm-l6", "pool": "length"},
    }
    for strategy in filter(None, args.trained.split(",")):
        train = {"epochs": args.epochs} if strategy != "contrastive" else {}
        cases[f"{strategy}, windowed"] = {"strategy": strategy, "train": train}
    cases = {name: c for name, c in cases.items() if args.only in name}
    results: dict[str, dict] = {}
    try:
        for name, settings in cases.items():
            settings = dict(settings)
            _windows.WINDOW_POOL = settings.pop("pool", "mean")
            start = time.perf_counter()
            out = runs / name.replace(", ", "-").replace(" ", "_").replace(":", "")
            result = transferkit.fit(DATA, out=out, **common, **settings)
            m = result.metrics
            results[name] = {
                "accuracy": m["accuracy"],
                "seconds": round(time.perf_counter() - start, 1),
                "texts_windowed": m.get("texts_windowed"),
            }
            raw = m.get("baseline")
            if raw:
                results["TF-IDF baseline (--baseline raw)"] = {"accuracy": raw["accuracy"]}
            print(name, json.dumps(results[name]), flush=True)
    finally:
        _windows.WINDOW_POOL = "mean"
        remove(cache)
        remove(runs)
    tfidf = results.get("TF-IDF baseline (--baseline raw)", {}).get("accuracy")
    best = max((r["accuracy"], n) for n, r in results.items() if not n.startswith("TF-IDF"))
    results["best"] = {"name": best[1], "accuracy": best[0], "tfidf": tfidf}
    if tfidf is not None:
        results["best"]["bar_met"] = best[0] >= tfidf + 0.02
    print(json.dumps(results, indent=1))
    path = ROOT / "benchmarks" / "runs" / f"long_texts{'-' + args.only if args.only else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
