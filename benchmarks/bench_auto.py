"""Does `--strategy auto` land within 1 point of the best strategy, and never below the
`features` model at its own best cut?

For each data set: `fit(strategy="auto")` from a fresh cache (it ranks the built-in
backbones with their cut points, then picks; when its rule picks a trained strategy it
keeps it only if it beats the features model at the best cut on val), timed; then, on
the same split and budget, `features` at the network's output, `features` at auto's best
cut, and the trained strategies listed. Prints each validation accuracy, auto's choice
and why, its wall time, its gap to the best and its margin over features at its cut.

Data: hymenoptera (images, 245/153); sms_spam (text, 4,459/1,115); scikit-learn's
digits (images, 1,437/360, the demo's data); MNIST, the 2,000 source digits of
`mnist_usps/MNIST_vs_USPS.mat` written as PNG class folders (images, 1,600/400); and
`uci_sentiment/yelp.txt` (text, 800/200). Budgets: hymenoptera 8 epochs (the
default); the others fewer, as listed (a CPU is slow: a MiniLM `finetune` epoch on
sms_spam takes about 6 minutes here).

Run: python benchmarks/bench_auto.py [hymenoptera|sms_spam|digits|mnist|uci_yelp ...]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import transferkit

from _common import dataset, fresh_dir, remove

# settings: data, trained strategies to try, their budget
DATA = {
    "hymenoptera": (lambda: dataset("hymenoptera"), ["top:1", "top:2", "finetune"], 8),
    "sms_spam": (lambda: dataset("sms_spam") / "SMSSpamCollection", ["top:2"], 2),
    "digits": (lambda: _digits(), ["top:1", "finetune"], 3),
    "mnist": (lambda: _mnist(), ["top:1"], 3),
    "uci_yelp": (lambda: dataset("uci_sentiment") / "yelp.txt", ["top:2"], 3),
}
WORK = Path(fresh_dir("data"))


def _digits() -> Path:
    from transferkit.jobs._demo import export_digits

    return export_digits(WORK / "digits")


def _mnist() -> Path:
    """The MNIST half of the MNIST-USPS pair (16x16 grey, 2,000 digits) as PNG folders."""
    from PIL import Image
    from scipy.io import loadmat

    mat = loadmat(dataset("mnist_usps") / "MNIST_vs_USPS.mat")
    x, y = mat["X_src"].T, mat["Y_src"].ravel()
    folder = WORK / "mnist"
    for i, (row, label) in enumerate(zip(x, y, strict=True)):
        pixels = row.reshape(16, 16)  # row-major: a 7 prints upright
        scaled = (255 * (pixels - pixels.min()) / max(np.ptp(pixels), 1e-9)).astype(np.uint8)
        target = folder / str(int(label) - 1) / f"{i:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scaled, mode="L").resize((32, 32), Image.NEAREST).save(target)
    return folder


def _fit(data: Path, runs: Path, cache: Path, name: str, **options) -> dict:
    start = time.perf_counter()
    result = transferkit.fit(
        data, out=runs / name.replace(":", "-").replace("@", "-at-"), cache_dir=cache,
        quiet=True, **options,
    )  # fmt: skip
    row = {
        "val_accuracy": round(result.metrics["accuracy"], 4),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(data.name, name, row, flush=True)
    return {**row, "metrics": result.metrics}


def measure(name: str) -> dict:
    load, strategies, epochs = DATA[name]
    data = load()
    cache, runs = fresh_dir("cache"), fresh_dir("runs")
    train = {"epochs": epochs}
    try:
        auto = _fit(data, runs, cache, "auto", strategy="auto", train=train)
        chosen = auto.pop("metrics")["auto"]
        rows = {"features": _fit(data, runs, cache, "features")}
        if chosen.get("features_cut"):
            at_cut = _fit(data, runs, cache, "features@cut", cut=chosen["features_cut"])
            rows["features@cut"] = at_cut
        for strategy in strategies:
            rows[strategy] = _fit(data, runs, cache, strategy, strategy=strategy, train=train)
    finally:
        remove(cache)
        remove(runs)
    table = {
        k: {"val_accuracy": v["val_accuracy"], "seconds": v["seconds"]} for k, v in rows.items()
    }
    best = max(table.items(), key=lambda kv: kv[1]["val_accuracy"])
    at_cut = table.get("features@cut", table["features"])["val_accuracy"]
    return {
        "auto": {**auto, "picked": chosen["picked"], "why": chosen["why"]},
        "strategies": table,
        "epochs": epochs,
        "best": {"strategy": best[0], "val_accuracy": best[1]["val_accuracy"]},
        "auto_gap_points": round(100 * (best[1]["val_accuracy"] - auto["val_accuracy"]), 2),
        "auto_over_features_at_cut_points": round(100 * (auto["val_accuracy"] - at_cut), 2),
    }


def main() -> None:
    names = sys.argv[1:] or list(DATA)
    try:
        results = {name: measure(name) for name in names}
    finally:
        remove(WORK)
    print(json.dumps(results, indent=2))
    print("\ndata set      auto   best (strategy)          gap   over features@cut  auto wall")
    for name, r in results.items():
        best = f"{r['best']['val_accuracy']:.4f} ({r['best']['strategy']})"
        print(
            f"{name:12s}  {r['auto']['val_accuracy']:.4f} {best:24s} {r['auto_gap_points']:+5.2f}"
            f"  {r['auto_over_features_at_cut_points']:+5.2f}"
            f"              {r['auto']['seconds']:.0f} s ({r['auto']['picked']})"
        )


if __name__ == "__main__":
    main()
