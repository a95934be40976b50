"""`strategy="auto"`: rank the candidates, then one documented rule picks the strategy.

Step 1, which backbone and cut point: `transferkit rank --layers` on the training split
(at most 2,000 samples). The candidates are the backbone given to `fit` (`--backbone`,
`--weights`), the list given as `candidates`, or else every built-in backbone for the
data's modality whose weights are on this machine. The backbone of the best LogME row
wins; its best row says where to cut: at its output, or after an inner group whose pooled
output scores higher (the groups above it are then too specific to the source task).

Step 2, the strategy, in order (n = training samples in the smallest class, probe = the
ranking's 3-fold CV linear-probe accuracy of the chosen backbone's output):
0. A backbone with no layers (`identity`, tabular data): `features`.
1. probe >= 0.98: nothing left for fine-tuning to gain: `features`.
2. n < 50: too few samples to train backbone layers without overfitting: `features`.
3. The best cut is inside the backbone, K groups below its output: train those K groups
   (`top:K`), on cached prefix outputs for images; text on a CPU stays on `features`.
Whenever the answer is `features` and the best cut is inside the backbone, the features
are that cut's pooled output (`fit(cut=...)`): the groups above it are left out.
4. Otherwise, images on a backbone whose frozen prefix can be cached: `top:1` (on
   hymenoptera it scored 0.948, as `features` did, `top:2` and `finetune` 0.954), or
   `finetune` from n >= 1000; `lora` instead of `finetune` when training every weight
   with AdamW (weights, gradients and two moments: 16 bytes a parameter) would take over
   a quarter of the memory free on the device (on sms_spam `lora` matched `finetune`,
   0.991 vs 0.987, with 0.33 % of the weights trained).
5. Text (no prefix cache yet, a full transformer pass per step): `features` on a CPU,
   `top:2` on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit._progress import status
from transferkit.backbones import Backbone, create_backbone
from transferkit.data import DataSplits
from transferkit.features._cache import FeatureCache
from transferkit.selection._rank import Candidate, score_candidates

PROBE_ENOUGH = 0.98
FEW_PER_CLASS = 50
MANY_PER_CLASS = 1000
ADAM_BYTES_PER_PARAMETER = 16  # fp32 weight, gradient and AdamW's two moments


@dataclass
class AutoChoice:
    """What `auto` picked, the paragraph that says why, and the ranking behind it."""

    backbone: str
    strategy: str
    cut: int | None
    why: str
    ranked: list[Candidate]
    n_scored: int
    features_cut: int | None = None  # the best cut, where auto's features model reads

    def to_dict(self) -> dict[str, Any]:
        return {
            "picked": self.strategy,
            "backbone": self.backbone,
            "cut": self.cut,  # applied: features from the groups below it
            "why": self.why,
            "ranked_by": "logme",
            "candidates": len([r for r in self.ranked if not r.skipped]),
            "features_cut": self.features_cut,
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> AutoChoice:
        """The choice `to_dict` wrote (without the ranking rows)."""
        return cls(
            saved["backbone"],
            saved["picked"],
            saved["cut"],
            saved["why"],
            [],
            0,
            saved.get("features_cut"),
        )


def auto_candidates(modality: str, backbone: str | None, candidates: list[str] | None) -> list[str]:
    """The backbones `auto` ranks: those named, else every built-in for the modality whose
    weights are here (the default backbone first)."""
    from transferkit.backbones import default_backbone, list_backbones

    if candidates:
        return list(candidates)
    if backbone is not None:
        return [backbone]
    names = [default_backbone(modality)]
    names += [
        row["name"]
        for row in list_backbones()
        if row["modality"] == modality and row["offline"] and row["name"] not in names
    ]
    return names


def probe_accuracy(row: Candidate) -> float:
    """The ranking's 3-fold CV linear-probe accuracy of a row."""
    return float(row.scores.get("probe_accuracy") or 0.0)


def choose(
    splits: DataSplits,
    names: list[str],
    cache: FeatureCache,
    device: str,
    seed: int,
    show: bool,
    weights: str | Path | None = None,
) -> AutoChoice:
    """Rank `names` with their cut points, pick the backbone, the cut and the strategy."""
    if splits.modality == "tabular":
        why = f"Tabular data: backbone {names[0]!r} has no layers to train, so 'features'."
        return AutoChoice(names[0], "features", None, why, [], 0)
    with status(f"ranking {len(names)} candidate backbone(s) and their cut points", show):
        ranked, n_scored = score_candidates(
            splits, names, cache, layers=True, seed=seed, weights=weights, device=device
        )
    usable = [r for r in ranked if not r.skipped and _trainable_from(r.backbone)]
    if not usable:
        raise TransferKitError(
            "auto ranks random-weight and run: candidates but trains from neither: add a"
            " pretrained backbone to the candidates."
        )
    best = usable[0]
    spec = best.backbone
    output = next(r for r in usable if r.backbone == spec and r.cut is None)
    backbone = create_backbone(spec, weights=weights, device=device)
    n_min = min(splits.train.class_counts().values())
    strategy, reason = _rule(backbone, best.cut, probe_accuracy(output), n_min, device)
    cut = best.cut if strategy == "features" else None  # features at the cut point
    why = " ".join(
        [
            _ranking_sentence(ranked, n_scored),
            _cut_sentence(backbone, spec, output, best),
            f"Linear probe {probe_accuracy(output):.3f} (3-fold CV on train), smallest class"
            f" {n_min} samples: {reason}, so {strategy!r}"
            + (f" on the output of {backbone.layer_groups()[cut - 1][0]!r}." if cut else "."),
        ]
    )
    return AutoChoice(spec, strategy, cut, why, ranked, n_scored, best.cut)


def _trainable_from(spec: str) -> bool:
    """`fit` starts from built-ins, `timm:` and `hf:` names; random weights are a floor."""
    return not spec.endswith(":random") and not spec.startswith("run:")


def _rule(
    backbone: Backbone, cut: int | None, probe: float, n_min: int, device: str
) -> tuple[str, str]:
    """(strategy, reason) by steps 0-5 of this module's docstring."""
    groups = len(backbone.layer_groups())
    if not groups:
        return "features", f"backbone {backbone.spec!r} has no layers to train"
    if probe >= PROBE_ENOUGH:
        return "features", "the frozen features already separate the classes"
    if n_min < FEW_PER_CLASS:
        return "features", "too few samples per class to train backbone layers"
    is_image = backbone.modality == "image"
    if cut is not None:
        above = groups - cut
        if is_image or device != "cpu":
            return f"top:{above}", f"the {above} group(s) above the best cut train"
        return "features", "training transformer layers on a CPU costs too much here"
    cacheable = getattr(backbone, "prefix_split_supported", None)
    if is_image and cacheable is not None and cacheable(groups - 1):
        if n_min >= MANY_PER_CLASS:
            return _every_layer(_parameters(backbone), _free_memory(device))
        return "top:1", "the last group trains on cached prefix outputs, cheaply"
    if device == "cpu":
        return "features", "training transformer layers on a CPU costs too much here"
    return "top:2", "the top two groups train on the GPU"


def _every_layer(parameters: int, free_bytes: int | None) -> tuple[str, str]:
    """`finetune`, or `lora` when AdamW's state for every weight would not fit easily."""
    needed = ADAM_BYTES_PER_PARAMETER * parameters
    if free_bytes is not None and needed > free_bytes / 4:
        return "lora", (
            f"enough data to adapt every layer, but training all {parameters:,} weights needs"
            f" about {needed / 2**30:.1f} GiB, over a quarter of the {free_bytes / 2**30:.1f}"
            " GiB free: low-rank adapters train instead"
        )
    return "finetune", "enough data to train every layer"


def _parameters(backbone: Backbone) -> int:
    model = getattr(backbone, "model", None)
    return sum(p.numel() for p in model.parameters()) if model is not None else 0


def _free_memory(device: str) -> int | None:
    """Bytes free on the device that would train: the GPU's, else the machine's."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info()[0])
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _ranking_sentence(ranked: list[Candidate], n_scored: int) -> str:
    scored = [r for r in ranked if not r.skipped]
    backbones = sorted({r.backbone for r in scored})
    text = (
        f"Ranked {len(backbones)} backbone(s) ({', '.join(backbones)}) at their output and"
        f" cut points, {len(scored)} rows, by LogME on {n_scored} training samples:"
        f" {scored[0].name} leads ({scored[0].scores['logme']:.3f})"
    )
    runner = next((r for r in scored if r.backbone != scored[0].backbone), None)
    if runner is not None:
        text += f", the best other backbone is {runner.name} ({runner.scores['logme']:.3f})"
    skipped = [r.name for r in ranked if r.skipped]
    if skipped:
        text += f"; skipped: {', '.join(skipped)}"
    return text + "."


def _cut_sentence(backbone: Backbone, spec: str, output: Candidate, best: Candidate) -> str:
    if best.cut is None:
        return f"The output of {spec} scores above each of its cut points."
    group = backbone.layer_groups()[best.cut - 1][0]
    return (
        f"Cut after {group!r}, {best.scores['logme']:.3f} against {output.scores['logme']:.3f}"
        f" at the output: the groups above it are too specific to the source task."
    )
