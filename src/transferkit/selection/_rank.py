"""`rank`: score candidate backbones (and cut points) on the training split, best first.

A candidate is a backbone name as `fit` takes it (`efficientnet_lite0`, `timm:NAME`,
`hf:MODEL_ID`), `NAME:random` (the same architecture with random weights: the floor a real
backbone must beat), or `run:PATH` (the backbone of a finished run). With `layers=True`,
backbones are also scored at each cut point: the output of the groups below the cut,
average-pooled ("which layers to transfer"); for images, where the groups run in sequence.

Text backbones are cut after their embeddings and after each transformer layer (the
masked mean of that layer's output).

The ranking is by LogME: it needs no source classifier (LEEP and NCE do), so it scores
every candidate and cut point on one scale, and it has no hyper-parameter to tune.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import HubUnavailableError, TransferKitError
from transferkit._hashing import digest_text
from transferkit.backbones import Backbone, create_backbone
from transferkit.backbones._base import inference
from transferkit.data import DataSplits, check_trainable, read_data
from transferkit.features._cache import FeatureCache
from transferkit.selection._scores import h_score, leep, logme, nce

RANK_BY = "logme"
WHY = (
    "ranked by LogME: it needs no source classifier (LEEP and NCE need one), so it puts"
    " every candidate and cut point on one scale, with no hyper-parameter to tune"
)
SCORES = ("logme", "leep", "nce", "h_score", "knn_accuracy", "probe_accuracy")


@dataclass
class Candidate:
    """One scored row: a backbone (and cut), its scores, or why it was skipped."""

    name: str
    backbone: str
    cut: int | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: str | None = None


@dataclass
class RankResult:
    run_dir: Path
    ranked: list[Candidate]
    by: str
    why: str
    table: str
    kept: list[str] = field(default_factory=list)  # files of the user's left in run_dir

    def best(self) -> Candidate:
        return self.ranked[0]


def rank(
    data: str | Path,
    candidates: list[str] | None = None,
    *,
    layers: bool = False,
    out: str | Path | None = None,
    overwrite: bool = False,
    text_column: str | int | None = None,
    label_column: str | int | None = None,
    val_size: float = 0.2,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    label_pattern: str | None = None,
    max_samples: int = 2000,
    quiet: bool = True,
) -> RankResult:
    """Score each candidate on the training split (at most `max_samples`, stratified) and
    rank them by LogME; writes ranking.json / ranking.csv / ranking.png when `out` is set."""
    from transferkit.backbones import default_backbone
    from transferkit.runs._write import RANKING_FILES, check_out, new_run_dir, write_json

    reserved = ("config.json", *RANKING_FILES)
    if out is not None:
        check_out(out, overwrite, reserved)
    splits = read_data(
        data,
        text_column=text_column,
        label_column=label_column,
        val_size=val_size,
        seed=seed,
        label_pattern=label_pattern,
    )
    check_trainable(splits.train)
    names = candidates or [default_backbone(splits.modality)]
    cache = FeatureCache(cache_dir)
    cache.check_writable()
    ranked, n_scored = score_candidates(
        splits, names, cache, layers=layers, seed=seed, max_samples=max_samples
    )
    run_dir, kept = new_run_dir(out, f"{Path(data).name}-rank", overwrite, reserved)
    write_ranking(run_dir, ranked, splits, data, n_scored)
    write_json(run_dir, "config.json", {"data": str(data), "candidates": [r.name for r in ranked]})
    return RankResult(
        run_dir=run_dir, ranked=ranked, by=RANK_BY, why=WHY, table=table(ranked), kept=kept
    )


def score_candidates(
    splits: DataSplits,
    names: list[str],
    cache: FeatureCache,
    *,
    layers: bool = False,
    seed: int = 0,
    max_samples: int = 2000,
    weights: str | Path | None = None,
    device: str = "cpu",
) -> tuple[list[Candidate], int]:
    """(candidates best first by LogME, the skipped ones last; samples scored), on the
    training split or a stratified sample of `max_samples` of it."""
    items, labels = _sample(splits, max_samples, seed)
    rows: list[Candidate] = []
    for group in _groups(names, weights, device, splits.modality, rows):
        _prefetch([backbone for _, backbone in group], items, cache, layers)
        for spec, backbone in group:
            rows.extend(_score_backbone(spec, backbone, items, labels, cache, layers, seed))
        group.clear()  # its networks can go before the next group loads
    scored = [r for r in rows if r.skipped is None]
    if not scored:
        reasons = "; ".join(f"{r.name}: {r.skipped}" for r in rows)
        raise TransferKitError(f"no candidate could be scored ({reasons}).")
    ranked = sorted(scored, key=lambda r: -float(r.scores[RANK_BY])) + [
        r for r in rows if r.skipped
    ]
    return ranked, len(items)


def _sample(splits: DataSplits, max_samples: int, seed: int) -> tuple[list[str], np.ndarray]:
    """The training split, or a stratified sample of it: scores are cheap, not free."""
    train = splits.train
    if len(train) <= max_samples:
        return list(train.inputs), train.labels
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(
        np.arange(len(train)), train_size=max_samples, random_state=seed, stratify=train.labels
    )
    keep = np.sort(keep)
    return [train.inputs[i] for i in keep], train.labels[keep]


def _load(spec: str, weights: str | Path | None = None, device: str = "cpu") -> Backbone:
    """The candidate's backbone, for inference only (`Backbone.for_inference`: BatchNorms
    folded where it has them; the ranking's forward passes are its cost)."""
    if spec.startswith("run:"):
        from transferkit.runs._run import Predictor

        backbone = Predictor(spec[4:], device=device).backbone.uncut()
    elif spec.endswith(":random"):
        backbone = create_backbone(spec[: -len(":random")], pretrained=False, device=device)
    else:
        backbone = create_backbone(spec, weights=weights, device=device)
    return backbone.for_inference()


def _load_candidate(
    spec: str, weights: str | Path | None, device: str, modality: str
) -> Backbone | Candidate:
    """The candidate's backbone, or its skipped row saying why it cannot be scored."""
    try:
        backbone = _load(spec, weights, device)
    except (HubUnavailableError, TransferKitError, OSError) as exc:
        return Candidate(spec, spec, skipped=str(exc).splitlines()[0][:200])
    if backbone.modality != modality:
        return Candidate(spec, spec, skipped=f"reads {backbone.modality}, the data is {modality}")
    return backbone


def _groups(
    names: list[str],
    weights: str | Path | None,
    device: str,
    modality: str,
    skipped: list[Candidate],
) -> Iterator[list[tuple[str, Backbone]]]:
    """The candidates' backbones, loaded a group at a time: consecutive candidates that read
    identical batches (an image model and its random copy: same decoding, resizing and
    normalisation) form one group, so each input is read once per group, and only one
    group's networks are in memory. Rows of candidates that cannot load go to `skipped`."""
    group: list[tuple[str, Backbone]] = []
    key: Any = None
    for spec in names:
        loaded = _load_candidate(spec, weights, device, modality)
        if isinstance(loaded, Candidate):
            skipped.append(loaded)
            continue
        new_key = getattr(loaded, "batch_key", lambda: None)()
        if group and (new_key is None or new_key != key):
            yield group
            group = []
        group.append((spec, loaded))
        key = new_key
    if group:
        yield group


def _score_backbone(
    spec: str,
    backbone: Backbone,
    items: list[str],
    labels: np.ndarray,
    cache: FeatureCache,
    layers: bool,
    seed: int,
) -> list[Candidate]:
    """The backbone's row (named `spec`), and one row per cut point with `layers`."""
    cuts = _cuts(backbone) if layers else []
    groups = [name for name, _ in backbone.layer_groups()] if cuts else []  # costs 0.2 s
    rows = [_score(spec, backbone, None, items, labels, cache, seed)]
    rows.extend(
        _score(f"{spec} @ {groups[cut - 1]}", backbone, cut, items, labels, cache, seed)
        for cut in cuts
    )
    return rows


def _prefetch(
    backbones: list[Backbone], items: list[str], cache: FeatureCache, layers: bool
) -> None:
    """Fill the cache for every cut (and the features and source softmax) of each backbone in
    one pass per batch, instead of one pass per cut, reading each batch once for all the
    backbones (they share their input, see `_groups`): ranking must cost less than
    training."""
    parts, outputs = [], {}
    for j, backbone in enumerate(backbones):
        if not hasattr(backbone, "pooled_all"):
            continue
        cuts = _cuts(backbone) if layers else []
        mine = _prefetch_outputs(backbone, cuts)
        if mine:
            parts.append((j, backbone, cuts))
            outputs.update({(j, name): key_dim for name, key_dim in mine.items()})

    def forward(batch: Any) -> dict[Any, Any]:
        out = {}
        for j, backbone, cuts in parts:
            got = backbone.pooled_all(batch, cuts)
            if "logits" in got:
                got["logits"] = got["logits"].float().softmax(dim=1)
            out.update({(j, name): value for name, value in got.items()})
        return out

    if outputs:
        _fill([b for _, b, _ in parts], items, cache, outputs, forward)


def _prefetch_outputs(backbone: Any, cuts: list[int]) -> dict[Any, tuple[str, int]]:
    """What one pass of `pooled_all` caches: name -> (cache key, width)."""
    import torch

    with inference(backbone.model):
        outputs = {c: (_cut_key(backbone, c), backbone.pooled_dim(c)) for c in cuts}
        if hasattr(backbone, "classify"):
            size = backbone.config.input_size
            classes = int(backbone.classify(torch.zeros(1, 3, size, size)).shape[1])
            outputs["logits"] = (_softmax_key(backbone), classes)
            outputs["features"] = (backbone.identity, backbone.feature_dim)  # extract_features'
    return outputs


def _cuts(backbone: Backbone) -> list[int]:
    """Cut points whose pooled output the backbone can give (none for `identity`)."""
    cuts = getattr(backbone, "pooled_cuts", None)
    return cuts() if cuts is not None else []


def _score(
    name: str,
    backbone: Backbone,
    cut: int | None,
    items: list[str],
    labels: np.ndarray,
    cache: FeatureCache,
    seed: int,
) -> Candidate:
    from transferkit.features._extract import extract_features

    start = time.perf_counter()
    if cut is None:
        x, errors = extract_features(backbone, items, cache)
    else:
        x, errors = pooled_prefix_features(backbone, items, cache, cut)
    keep = np.array([i not in errors for i in range(len(items))], dtype=bool)
    x, y = x[keep], labels[keep]
    scores: dict[str, float | None] = {
        "logme": logme(x, y),
        "h_score": h_score(x, y),
        "leep": None,
        "nce": None,
    }
    scores.update(_probe_accuracies(x, y, seed))
    if cut is None and hasattr(backbone, "classify"):
        probs = source_probabilities(
            backbone, [i for i, k in zip(items, keep, strict=True) if k], cache
        )
        scores["leep"] = leep(probs, y)
        scores["nce"] = nce(probs.argmax(axis=1), y)
    return Candidate(name, name.split(" @ ")[0], cut, scores, round(time.perf_counter() - start, 3))


def _probe_accuracies(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, float]:
    """3-fold CV accuracy of a 5-NN and of a logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    from transferkit.selection._scores import cv_accuracy

    return {
        "knn_accuracy": cv_accuracy(x, y, seed, KNeighborsClassifier(5)),
        "probe_accuracy": cv_accuracy(x, y, seed, LogisticRegression(C=0.1, max_iter=2000)),
    }


def _cut_key(backbone: Any, cut: int) -> str:
    return digest_text(f"{backbone.identity}|pool-cut{cut}")


def _softmax_key(backbone: Any) -> str:
    return digest_text(f"{backbone.identity}|source-softmax")


def pooled_prefix_features(
    backbone: Any, items: list[str], cache: FeatureCache, cut: int
) -> tuple[np.ndarray, dict[int, str]]:
    """Mean-pooled outputs of the groups below `cut`, cached like embeddings."""
    with inference(backbone.model):
        dim = backbone.pooled_dim(cut)
    found, errors = _fill(
        [backbone],
        items,
        cache,
        {cut: (_cut_key(backbone, cut), dim)},
        lambda batch: {cut: backbone.pooled_at(batch, cut)},
    )
    return found[cut], errors


def source_probabilities(backbone: Any, items: list[str], cache: FeatureCache) -> np.ndarray:
    """Softmax of the backbone's own source classifier (e.g. ImageNet's 1000 classes)."""
    import torch

    with torch.inference_mode():
        size = backbone.config.input_size
        dim = int(backbone.classify(torch.zeros(1, 3, size, size)).shape[1])
    found, _ = _fill(
        [backbone],
        items,
        cache,
        {"logits": (_softmax_key(backbone), dim)},
        lambda batch: {"logits": torch.softmax(backbone.classify(batch).float(), dim=1)},
    )
    return found["logits"]


def _fill(
    backbones: list[Any],
    items: list[str],
    cache: FeatureCache,
    outputs: dict[Any, tuple[str, int]],
    forward: Any,
) -> tuple[dict[Any, np.ndarray], dict[int, str]]:
    """Rows of every output (name -> (cache key, width)) for `items`: from the cache, the
    rest from one `forward` pass per batch (giving every output of every backbone; the first
    one reads the batches, which all of them share), cached for next time."""
    from contextlib import ExitStack

    reader = backbones[0]
    digests = [reader.sample_digest(i) for i in items]
    found: dict[Any, np.ndarray] = {}
    missing = np.zeros(len(items), dtype=bool)
    for name, (key, dim) in outputs.items():
        found[name], known = cache.get(key, digests, dim)
        missing |= ~known
    todo = [int(i) for i in np.flatnonzero(missing)]
    errors: dict[int, str] = {}
    done: list[int] = []
    if todo:
        with ExitStack() as stack:
            for backbone in backbones:
                stack.enter_context(inference(backbone.model))
            for batch in reader.batches([items[i] for i in todo], 32):
                errors.update({todo[p]: why for p, why in batch.errors.items()})
                if not batch.positions:
                    continue
                rows = {n: t.float().cpu().numpy() for n, t in forward(batch.inputs).items()}
                at = [todo[p] for p in batch.positions]
                for name in outputs:
                    found[name][at] = rows[name]
                done.extend(at)
    if done:
        for name, (key, _) in outputs.items():
            cache.put(key, [digests[i] for i in done], found[name][done])
    return found, errors


def table(ranked: list[Candidate]) -> str:
    header = f"{'#':>2}  {'candidate':<44} " + " ".join(f"{s:>14}" for s in SCORES)
    lines = [header]
    for i, r in enumerate(ranked, 1):
        if r.skipped:
            lines.append(f"{'-':>2}  {r.name:<44} skipped: {r.skipped}")
            continue
        cells = " ".join(
            f"{'n/a':>14}" if r.scores.get(s) is None else f"{r.scores[s]:>14.4f}" for s in SCORES
        )
        lines.append(f"{i:>2}  {r.name:<44} {cells}")
    return "\n".join(lines)


def write_ranking(
    run_dir: Path,
    ranked: list[Candidate],
    splits: DataSplits,
    data: str | Path,
    n_scored: int,
) -> None:
    from transferkit.runs._folder import output_path, record
    from transferkit.runs._write import write_csv, write_json

    write_json(
        run_dir,
        "ranking.json",
        {
            "data": str(Path(data).resolve()),
            "ranked_by": RANK_BY,
            "why": WHY,
            "n_scored_samples": n_scored,
            "n_train": len(splits.train),
            "candidates": [asdict(r) for r in ranked],
        },
    )
    rows = [["rank", "candidate", "backbone", "cut", *SCORES, "seconds", "skipped"]]
    for i, r in enumerate(ranked, 1):
        scores = ["" if r.scores.get(s) is None else f"{r.scores[s]:.6f}" for s in SCORES]
        rank_no = "" if r.skipped else i
        rows.append([rank_no, r.name, r.backbone, r.cut or "", *scores, r.seconds, r.skipped or ""])
    write_csv(run_dir, "ranking.csv", rows)
    _chart(output_path(run_dir, "ranking.png"), [r for r in ranked if not r.skipped])
    record(run_dir, "ranking.png")


def _chart(path: Path, ranked: list[Candidate]) -> None:
    """A horizontal bar chart of LogME, best at the top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in ranked][::-1]
    values = [float(r.scores[RANK_BY]) for r in ranked][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(ranked) + 1.2))
    ax.barh(names, values, color=["#999999"] * (len(values) - 1) + ["#2b6cb0"])
    ax.set_xlabel("LogME (evidence per sample, higher is better)")
    ax.set_title("Transferability ranking (training split)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
