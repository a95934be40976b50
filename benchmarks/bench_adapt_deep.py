"""Deep domain adaptation over cached features (DANN, CDAN+E, MCC, DAN): each method's
target accuracy as mean ± std over its three seeds, against source-only (the logistic
head `fit` trains) on the same features and against the same adapter network trained
with its domain loss off (`no-loss`: how much of the gain is the network's), what the
unsupervised criterion (circular validation) makes of it, and its seconds against one
embedding pass.

Pairs: the six ordered pairs of `uci_sentiment` with `minilm-l6`, and MNIST <-> USPS
from `mnist_usps` through `efficientnet_lite0` cut after `blocks.5` (as in
bench_adapt.py). Every run is `transferkit.adapt(source, target, method=M,
target_labels=True)`: the labels are read only to evaluate.

`top_groups`: each method over cached features against the same method on the top layer
group of minilm-l6 (`--strategy top:1`), accuracy and seconds, on amazon>yelp and
imdb>yelp (`--pairs all` for the six; about 25 min a pair on a 2-core CPU).

Run: python benchmarks/bench_adapt_deep.py [uci|mnist_usps|top_groups|cost ...]
[--methods dann,mcc]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import transferkit

from _common import dataset, fresh_dir

METHODS = ["dann", "cdan+e", "mcc", "dan"]
WORK = Path(fresh_dir("adapt-deep"))
CACHE = WORK / "cache"


def one(source: Path, target: Path, label: str, method: str, **options) -> dict:
    start = time.perf_counter()
    n = len(list(WORK.glob("runs/*")))  # a folder of its own for every run
    result = transferkit.adapt(
        source, target, method=method, target_labels=True, quiet=True, cache_dir=str(CACHE),
        out=WORK / "runs" / f"{label.replace('>', '-to-')}-{method}-{n}", **options,
    )  # fmt: skip
    m = result.metrics
    seeds = m["target_accuracy_by_seed"][method]
    t = m["timings"]
    row = {
        "pair": label,
        "method": method,
        "source_only": m["target_accuracy_by_method"]["source-only"],
        "mean": seeds["mean"],
        "std": seeds["std"],
        "seeds": seeds["seeds"],
        "kept": m["adaptation"]["method"],  # the criterion's verdict against source-only
        "adapt_seconds": round(t.get("adapt", 0.0), 1),
        "embed_seconds": round(t.get("extract", 0.0) + t.get("extract_target", 0.0), 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    print(row, flush=True)
    return row


def without_domain_loss(source: Path, target: Path, label: str, **options) -> dict:
    """The same adapter network and budget with the domain loss off (tradeoff 0), on the
    run's own features and split: how much of a deep method's gain is the network's."""
    from transferkit.adaptation._deep import deep_adapter_class
    from transferkit.config import JobConfig
    from transferkit.config._adapt import AdaptationConfig
    from transferkit.jobs import _steps as steps
    from transferkit.jobs._adapt import embed_domains

    config = JobConfig().with_options(data=source, quiet=True, cache_dir=str(CACHE), **options)
    settings = AdaptationConfig(target=str(target), target_labels=True).validate()
    embedded = embed_domains(steps.start(config), settings)
    f, splits = embedded.features, embedded.splits
    xs, ys, xt = f["train"], splits.train.labels, f["target"]
    yt = embedded.target.data.labels
    x = np.vstack([xs, xt])
    domain = np.r_[np.ones(len(xs), dtype=int), -np.ones(len(xt), dtype=int)]
    labels = np.r_[ys, -np.ones(len(xt), dtype=int)]
    k = len(splits.class_names)
    accuracies = []
    for seed in (0, 1, 2):
        network = deep_adapter_class()(method="dann", n_classes=k, seed=seed, tradeoff=0.0)
        network.fit(x, labels, sample_domain=domain)
        accuracies.append(float(np.mean(network.predict(xt) == yt)))
    row = {
        "pair": label,
        "method": "no-loss",
        "source_only": np.nan,
        "mean": round(float(np.mean(accuracies)), 4),
        "std": round(float(np.std(accuracies)), 4),
        "seeds": accuracies,
        "kept": "",
        "adapt_seconds": 0.0,
    }
    print(row, flush=True)
    return row


def uci(methods: list[str]) -> list[dict]:
    root = dataset("uci_sentiment")
    files = {"amazon": "amazon_cells.txt", "yelp": "yelp.txt", "imdb": "imdb.txt"}
    rows = []
    for a in files:
        for b in files:
            if a != b:
                rows += [one(root / files[a], root / files[b], f"{a}>{b}", m) for m in methods]
                rows.append(without_domain_loss(root / files[a], root / files[b], f"{a}>{b}"))
    return rows


TOP_PAIRS = ["amazon>yelp", "imdb>yelp"]  # `--pairs all` for the six


def top_groups(methods: list[str]) -> list[dict]:
    """Each method over cached features against the same method on the backbone's top
    layer group (`--strategy top:1`: the last transformer layer of minilm-l6 trains with
    the domain loss; text has no prefix cache, so every step runs the whole network), on
    the six uci pairs: target accuracy over three seeds and the seconds of the adapt step
    (three seeds' training, the adapted backbone's embedding, the criteria)."""
    root = dataset("uci_sentiment")
    files = {"amazon": "amazon_cells.txt", "yelp": "yelp.txt", "imdb": "imdb.txt"}
    rows = []
    for a in files:
        for b in files:
            if a == b or (TOP_PAIRS != ["all"] and f"{a}>{b}" not in TOP_PAIRS):
                continue
            for m in methods:
                cached = one(root / files[a], root / files[b], f"{a}>{b}", m)
                top = one(root / files[a], root / files[b], f"{a}>{b}", m, strategy="top:1")
                top["method"] = f"{m}@top:1"
                top["ratio"] = round(top["adapt_seconds"] / max(cached["adapt_seconds"], 1e-9), 1)
                rows += [cached, top]
    for m in methods:
        cached = [r for r in rows if r["method"] == m]
        top = [r for r in rows if r["method"] == f"{m}@top:1"]
        gap = 100 * (np.mean([r["mean"] for r in cached]) - np.mean([r["mean"] for r in top]))
        seconds = [sum(r["adapt_seconds"] for r in group) for group in (cached, top)]
        print(
            f"top_groups: {m}: over cached features {seconds[0]:.0f} s in all, on top:1"
            f" {seconds[1]:.0f} s ({seconds[1] / seconds[0]:.1f}x; cached = 1/"
            f"{seconds[1] / seconds[0]:.1f}); mean target accuracy cached minus top:1"
            f" {gap:+.2f} points"
        )
    return rows


def mnist_usps(methods: list[str]) -> list[dict]:
    from bench_adapt import digits_folders

    folders = digits_folders()
    rows = []
    for a, b in (("mnist", "usps"), ("usps", "mnist")):
        label = f"{a}>{b} @blocks.5"
        rows += [one(folders[a], folders[b], label, m, cut="blocks.5") for m in methods]
        rows.append(without_domain_loss(folders[a], folders[b], label, cut="blocks.5"))
    return rows


def cost() -> None:
    """Seconds per DANN training step (64 source + 64 target) on `efficientnet_lite0`: the
    adapter over cached output features, against the top layer group (`top:1`) trained
    over its cached prefix outputs and without the cache (the frozen groups run every
    step). DANN on the top group is not offered: these figures say why it waits for a GPU."""
    import torch

    from transferkit.adaptation._deep import module_class
    from transferkit.heads._heads import ClassifierHead

    backbone = transferkit.create_backbone("efficientnet_lite0")
    cut = len(backbone.layer_groups()) - 1
    images = torch.randn(128, 3, 224, 224)
    with torch.no_grad():
        prefix = backbone.forward_prefix(images, cut)
        features = backbone.forward_suffix(prefix, cut)
    head = ClassifierHead(features.shape[1], 10, 256, dropout=0.2)
    module = module_class()(head, "dann", 1.0, 1e-3, 600, 0)
    labels = torch.randint(0, 10, (64,))

    def adapter_step() -> None:
        batch = {"source": (features[:64], labels), "target": (features[64:],)}
        module.training_step(batch, 0).backward()
        module.zero_grad()

    def suffix_step(cached: bool) -> None:
        hidden = prefix if cached else backbone.forward_prefix(images, cut).detach()
        out = backbone.forward_suffix(hidden, cut)
        batch = {"source": (out[:64], labels), "target": (out[64:],)}
        module.training_step(batch, 0).backward()
        backbone.model.zero_grad()

    def seconds(step, repeats: int) -> float:
        step()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        return (time.perf_counter() - start) / repeats

    module.log = lambda *a, **k: None  # outside a Trainer
    backbone.model.train()
    a = seconds(adapter_step, 20)
    b = seconds(lambda: suffix_step(True), 3)
    c = seconds(lambda: suffix_step(False), 2)
    print(
        f"cost: seconds per DANN step of 128 images: adapter over cached features {a:.4f};"
        f" top:1 over cached prefixes {b:.2f} ({b / a:.0f}x); top:1 without the cache {c:.2f}"
        f" ({c / a:.0f}x). A 600-step fit: {600 * a:.0f} s / {600 * b / 60:.0f} min /"
        f" {600 * c / 60:.0f} min"
    )


def report(rows: list[dict], name: str, methods: list[str]) -> None:
    print(f"\n{name}: {'pair':22s} {'method':8s} {'source-only':>11s} {'mean ± std':>14s}"
          f" {'gain':>6s} {'kept':>12s} {'adapt s':>8s}")  # fmt: skip
    source_only = {r["pair"]: r["source_only"] for r in rows if r["method"] != "no-loss"}
    for r in rows:
        r["source_only"] = source_only.get(r["pair"], r["source_only"])
        print(
            f"{'':{len(name) + 2}s}{r['pair']:22s} {r['method']:8s} {r['source_only']:11.3f}"
            f" {r['mean']:8.3f} ± {r['std']:.3f} {100 * (r['mean'] - r['source_only']):+6.1f}"
            f" {r['kept']:>12s} {r['adapt_seconds']:8.1f}"
        )
    for m in [*methods, "no-loss"]:
        mine = [r for r in rows if r["method"] == m]
        if not mine:
            continue
        gains = np.array([r["mean"] - r["source_only"] for r in mine])
        stds = np.array([r["std"] for r in mine])
        kept = sum(r["kept"] == m.split("@")[0] for r in mine)
        print(
            f"{name}: {m}: mean gain over source-only {100 * gains.mean():+.2f} points (worst"
            f" {100 * gains.min():+.1f}), mean seed std {100 * stds.mean():.2f} points;"
            f" the criterion kept it over source-only in {kept}/{len(mine)} pairs"
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    methods = METHODS
    if "--methods" in args:
        i = args.index("--methods")
        methods = args[i + 1].split(",")
        args = args[:i] + args[i + 2 :]
    if "--pairs" in args:
        i = args.index("--pairs")
        TOP_PAIRS[:] = args[i + 1].split(",")
        args = args[:i] + args[i + 2 :]
    for name in args or ["uci", "mnist_usps", "cost"]:
        if name == "cost":
            cost()
        else:
            runs = {"uci": uci, "mnist_usps": mnist_usps, "top_groups": top_groups}
            report(runs[name](methods), name, [*methods, *(f"{m}@top:1" for m in methods)])
