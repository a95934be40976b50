"""What the steps of `adapt` hand each other: the embedded domains, the adapted model
and its evidence, the result; and the facts the run folder keeps of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transferkit.config import JobConfig
from transferkit.config._adapt import AdaptationConfig
from transferkit.data import DataSplits, Skipped
from transferkit.data._target import Target
from transferkit.heads._threshold import Threshold
from transferkit.jobs._steps import Job, Outcome

if TYPE_CHECKING:
    from transferkit.adaptation._select import Candidate

NEGATIVE = "NEGATIVE TRANSFER"


@dataclass
class AdaptResult:
    """What `adapt` returns: the run folder, its metrics and the one-paragraph summary."""

    run_dir: Path
    metrics: dict[str, Any]
    summary: str
    skipped: list[Skipped] = field(default_factory=list)
    config: JobConfig | None = None
    adaptation: AdaptationConfig | None = None


@dataclass
class Embedded:
    """Both domains' features, the source-only head (its C reused by every method)."""

    splits: DataSplits
    target: Target
    model: Any  # the backbone
    features: dict[str, np.ndarray]  # train, val, (test), target
    source_only: Outcome
    source_ids: np.ndarray | None = None  # each training row's source (1, 2, ...)


@dataclass
class Adapted:
    """The chosen method folded into a head, every candidate, and the evidence."""

    head: Any  # a LinearHead (feature methods folded), or a ClassifierHead (a deep adapter)
    chosen: str
    candidates: list[Candidate]
    why: str
    verdict: str | None = None  # NEGATIVE TRANSFER when adapting was judged to hurt
    distances: dict[str, float] = field(default_factory=dict)
    priors: dict[str, Any] | None = None
    views: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    threshold: Threshold | None = None  # a binary decision rule's threshold (`--threshold`)
    # a method trained on the backbone's top groups: that backbone and its features
    backbone: Any = None
    features: dict[str, np.ndarray] | None = None

    def inputs(self, embedded: Embedded) -> dict[str, np.ndarray]:
        """The features the kept head reads: the trained backbone's, else the embedded ones."""
        return self.features if self.features is not None else embedded.features


def adaptation_facts(
    settings: AdaptationConfig, adapted: Adapted, labelled: bool
) -> dict[str, Any]:
    """What metrics.json says of the adaptation (the report reads it)."""
    return {
        "method": adapted.chosen,
        "asked": settings.method,
        "criterion": settings.criterion,
        "why": adapted.why,
        "verdict": adapted.verdict,
        "target_labels": (
            "read only to evaluate, after the choice" if labelled else "none (unlabelled target)"
        ),
        "a_distance": adapted.distances,
        "candidates": [
            {"method": c.method, "scores": c.scores, "seconds": c.seconds, "error": c.error}
            for c in adapted.candidates
        ],
        "label_shift": adapted.priors,
    }


def run_name(job: Job, settings: AdaptationConfig) -> str:
    source = Path(str(job.config.data.path)).name
    return f"{source}-to-{Path(str(settings.target)).name}-{job.backbone}"


def merged_splits(parts: list[DataSplits]) -> DataSplits:
    """Several sources' splits as one: their classes united (sorted), labels re-indexed."""
    from transferkit.data._dataset import Dataset

    names = sorted({c for p in parts for c in p.class_names})

    def joined(sets: list[Dataset]) -> Dataset:
        labels = [
            np.array([names.index(d.class_names[i]) for i in d.labels], dtype=int) for d in sets
        ]
        return Dataset(
            inputs=[x for d in sets for x in d.inputs],
            labels=np.concatenate(labels),
            class_names=names,
            modality=sets[0].modality,
            refs=[r for d in sets for r in d.refs],
            fields={
                k: [v for d in sets for v in d.fields[k]]
                for k in sets[0].fields
                if all(k in d.fields for d in sets)
            },
        )

    tests = [p.test for p in parts if p.test is not None]
    return DataSplits(
        train=joined([p.train for p in parts]),
        val=joined([p.val for p in parts]),
        test=joined(tests) if len(tests) == len(parts) else None,
        skipped=[s for p in parts for s in p.skipped],
        split_source=parts[0].split_source,
        layout=parts[0].layout,
        columns=parts[0].columns,
        detected=f"{len(parts)} sources: " + "; ".join(p.detected for p in parts),
    )
