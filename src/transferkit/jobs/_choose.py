"""The `choose` step: strategy 'auto' ranks the candidates and resolves the job's
backbone, strategy and cut (`transferkit.selection._auto` holds the rule)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transferkit._hashing import digest_text
from transferkit.backbones._defaults import default_backbone
from transferkit.data import DataSplits
from transferkit.jobs._steps import Job, worker_rank

if TYPE_CHECKING:
    from transferkit.selection._auto import AutoChoice

AUTO_ENV = "TRANSFERKIT_AUTO_CHOICE"  # auto's choice, passed from rank 0 to DDP workers


def choose(job: Job, splits: DataSplits) -> AutoChoice | None:
    """Resolve 'auto' into a backbone, a strategy and a cut (None for other strategies);
    a resumed auto run keeps the paragraph that chose it."""
    if job.strategy != "auto":
        job.auto = _resumed_auto(job.resume_dir)
        return None
    with job.timer.phase("auto"):
        choice = _auto(job, splits)
    job.backbone, job.strategy, job.cut = choice.backbone, choice.strategy, choice.cut
    job.auto = choice.to_dict()
    return choice


def _auto(job: Job, splits: DataSplits) -> AutoChoice:
    from transferkit.selection._auto import AutoChoice, auto_candidates
    from transferkit.selection._auto import choose as rank_and_choose

    chosen = job.config.backbone
    key = _auto_key(splits, chosen.name, chosen.weights, chosen.candidates, job.config.data.seed)
    passed = json.loads(os.environ.get(AUTO_ENV) or "{}")
    if worker_rank() > 0 and passed.get("key") == key:
        # a DDP worker: rank 0 ranked this very fit before it started the workers
        return AutoChoice.from_dict(passed["choice"])
    names = auto_candidates(splits.modality, chosen.name, chosen.candidates)
    if chosen.weights:  # a weights file belongs to one backbone: rank its cut points
        names = [chosen.name or default_backbone(splits.modality)]
    perf = job.config.performance
    choice = rank_and_choose(
        splits,
        names,
        job.cache,
        perf.device,
        job.config.data.seed,
        job.show,
        weights=chosen.weights,
    )
    # inherited by DDP workers; the key keeps a later, different fit from taking it
    os.environ[AUTO_ENV] = json.dumps({"key": key, "choice": choice.to_dict()})
    return choice


def _auto_key(
    splits: DataSplits,
    backbone: str | None,
    weights: str | Path | None,
    candidates: list[str] | None,
    seed: int,
) -> str:
    """What decides auto's choice: the training split and the options that rank it."""
    train = splits.train
    # a table's rows are not ranked (auto takes 'features' at once): its size will do
    items = train.inputs if splits.modality != "tabular" else [len(train)]
    inputs = digest_text("\n".join(str(x) for x in items))
    labels = digest_text(",".join(str(int(v)) for v in train.labels))
    return digest_text(json.dumps([inputs, labels, backbone, str(weights), candidates, seed]))


def _resumed_auto(resume_dir: Path | None) -> dict[str, Any] | None:
    if resume_dir is None or not (resume_dir / "config.json").is_file():
        return None
    from transferkit.runs._files import read_settings

    return read_settings(resume_dir).get("auto")


def write_choice(run_dir: Path, choice: Any, splits: DataSplits, data: Any) -> None:
    """auto's ranking into the run folder (a trained run writes it before training, so an
    interrupted and resumed run keeps it)."""
    if choice is not None and choice.ranked and not (run_dir / "ranking.json").is_file():
        from transferkit.selection._rank import write_ranking

        write_ranking(run_dir, choice.ranked, splits, data, choice.n_scored)
