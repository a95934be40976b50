"""Domain adaptation on cached features: what the unsupervised choice gains over
source-only, how far it is from the oracle, and what it costs.

Pairs:
- MNIST -> USPS and USPS -> MNIST from `mnist_usps/MNIST_vs_USPS.mat` (2,000 and 1,800
  16x16 digits), written as PNG class folders and read through `efficientnet_lite0`, at
  its output and at the cut after `blocks.5` (`--cut`). Published on this exact data
  (Wang et al. 2018, MEDA, Table 3): 1-NN 65.9 / 44.7, CORAL 49.2 / 30.5, JDA 67.3 / 59.7,
  MEDA 89.5 / 72.1.
- the same digits as tables of 256 pixel columns (`pixels`: the published setting, the
  methods on the raw pixels through the tabular backbone);
- the six ordered pairs of `uci_sentiment` (amazon_cells, yelp, imdb; 1,000 each) with
  `minilm-l6`.

For each pair: `transferkit.adapt(source, target, target_labels=True)` (the labels are
read only to evaluate), the target accuracy of every method, the method each criterion
(dev, circular, snd, entropy) would choose and its accuracy, the gain of the default criterion's
choice over source-only, its gap to the oracle (the best method by target labels), and
the seconds of the adaptation step against those of embedding both domains (first run,
fresh cache). The feature-level methods are deterministic given the split (seed 0).

Run: python benchmarks/bench_adapt.py [mnist_usps|uci|pixels ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import transferkit

from _common import dataset, fresh_dir

CUTS = [None, "blocks.5"]  # efficientnet_lite0 at its output, and at the cut rank prefers
CRITERIA = ("dev", "circular", "snd", "entropy")
WORK = Path(fresh_dir("adapt"))
CACHE = WORK / "cache"


def digits_folders() -> dict[str, Path]:
    """MNIST and USPS as PNG class folders (labels 1-10 as in the .mat)."""
    from PIL import Image
    from scipy.io import loadmat

    mat = loadmat(dataset("mnist_usps") / "MNIST_vs_USPS.mat")
    folders = {}
    for name, key in (("mnist", "src"), ("usps", "tar")):
        x, y = mat[f"X_{key}"].T, mat[f"Y_{key}"].ravel()
        folder = WORK / name
        for i, (row, label) in enumerate(zip(x, y, strict=True)):
            pixels = (np.clip(row, 0, 1).reshape(16, 16) * 255).astype(np.uint8)  # row-major
            path = folder / str(int(label)) / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
        folders[name] = folder
    return folders


def one_pair(source: Path, target: Path, label: str, **options) -> dict:
    start = time.perf_counter()
    result = transferkit.adapt(
        source, target, target_labels=True, quiet=True, cache_dir=str(CACHE),
        out=WORK / "runs" / label.replace(" ", "_").replace(">", "-to-"), **options,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    m = result.metrics
    by_method = m["target_accuracy_by_method"]
    candidates = {c["method"]: c["scores"] for c in m["adaptation"]["candidates"] if not c["error"]}
    picks = {
        crit: max(candidates, key=lambda k: (candidates[k][crit], k == "source-only"))
        for crit in CRITERIA
    }
    t = m["timings"]
    row = {
        "pair": label,
        "source_only": by_method["source-only"],
        "chosen": m["adaptation"]["method"],
        "accuracy": round(m["accuracy"], 4),
        "gain": round(m["accuracy"] - by_method["source-only"], 4),
        "oracle": m["oracle"]["method"],
        "oracle_accuracy": m["oracle"]["accuracy"],
        "by_criterion": {c: (picks[c], by_method[picks[c]]) for c in CRITERIA},
        "by_method": by_method,
        "adapt_seconds": round(t.get("adapt", 0) + t.get("distance", 0), 2),
        "embed_seconds": round(t.get("extract", 0) + t.get("extract_target", 0), 2),
        "wall_seconds": round(seconds, 1),
    }
    print(row, flush=True)
    return row


def mnist_usps() -> list[dict]:
    folders = digits_folders()
    rows = []
    for cut in CUTS:
        at = f" @{cut}" if cut else ""
        for a, b in (("mnist", "usps"), ("usps", "mnist")):
            rows.append(one_pair(folders[a], folders[b], f"{a}>{b}{at}", cut=cut))
    return rows


def pixel_tables() -> dict[str, Path]:
    """MNIST and USPS as tables of 256 pixel columns and a label (the published setting:
    the methods read the raw pixels)."""
    from scipy.io import loadmat

    mat = loadmat(dataset("mnist_usps") / "MNIST_vs_USPS.mat")
    tables = {}
    for name, key in (("mnist", "src"), ("usps", "tar")):
        x, y = mat[f"X_{key}"].T, mat[f"Y_{key}"].ravel()
        path = WORK / f"{name}.csv"
        header = ",".join([f"p{i}" for i in range(x.shape[1])] + ["digit"])
        rows = [
            ",".join([f"{v:.4g}" for v in row] + [str(int(c))]) for row, c in zip(x, y, strict=True)
        ]
        path.write_text(header + "\n" + "\n".join(rows) + "\n")
        tables[name] = path
    return tables


def pixels() -> list[dict]:
    tables = pixel_tables()
    return [
        one_pair(tables[a], tables[b], f"{a}>{b} pixels", label_column="digit")
        for a, b in (("mnist", "usps"), ("usps", "mnist"))
    ]


def uci() -> list[dict]:
    root = dataset("uci_sentiment")
    files = {"amazon": "amazon_cells.txt", "yelp": "yelp.txt", "imdb": "imdb.txt"}
    return [
        one_pair(root / files[a], root / files[b], f"{a}>{b}")
        for a in files
        for b in files
        if a != b
    ]


def report(rows: list[dict], name: str) -> None:
    gains = np.array([r["gain"] for r in rows])
    gaps = np.array([r["oracle_accuracy"] - r["accuracy"] for r in rows])
    print(f"\n{name}: {'pair':26s} {'source-only':>11s} {'chosen':>20s} {'acc':>6s}"
          f" {'gain':>6s} {'oracle':>20s} {'adapt s':>8s} {'embed s':>8s}")  # fmt: skip
    for r in rows:
        print(
            f"{'':{len(name) + 2}s}{r['pair']:26s} {r['source_only']:11.3f} {r['chosen']:>20s}"
            f" {r['accuracy']:6.3f} {100 * r['gain']:+6.1f} "
            f"{r['oracle']:>13s} {r['oracle_accuracy']:.3f} {r['adapt_seconds']:8.1f}"
            f" {r['embed_seconds']:8.1f}"
        )
    print(
        f"{name}: mean gain {100 * gains.mean():+.2f} points (worst {100 * gains.min():+.1f}),"
        f" mean gap to the oracle {100 * gaps.mean():.2f} points"
    )
    for crit in CRITERIA:
        acc = np.array([r["by_criterion"][crit][1] for r in rows])
        so = np.array([r["source_only"] for r in rows])
        print(f"{name}: criterion {crit}: mean gain {100 * (acc - so).mean():+.2f} points,"
              f" worst {100 * (acc - so).min():+.1f}")  # fmt: skip


if __name__ == "__main__":
    wanted = sys.argv[1:] or ["mnist_usps", "uci"]
    for name in wanted:
        report({"mnist_usps": mnist_usps, "uci": uci, "pixels": pixels}[name](), name)
