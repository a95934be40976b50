"""What each strategy needs of the splits: a drawn validation split folded back into
train where nothing would use it, tiny data's fixed budget, and the count of texts read
in several windows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from transferkit.data import DataSplits
from transferkit.data._tasks import task_names

if TYPE_CHECKING:
    from transferkit.jobs._steps import Job


def val_unused(job: Job, splits: DataSplits) -> bool:
    """Whether a drawn validation split would sit unused: `features` (and `contrastive`,
    with its fixed budget of pairs) chooses its head's regularisation by cross-validation
    on train, and a run with a test split is scored
    there (with `--cv` and no test split, on every row's out-of-fold prediction), so the
    drawn rows are better spent on training."""
    if splits.split_source == "given":
        return False
    baseline = job.config.evaluation.baseline  # scratch trains: it picks its epoch on val
    has_test = splits.test is not None and len(splits.test) > 0
    if job.strategy in ("finetune", "lora", "scratch") or job.strategy.startswith("top:"):
        # tiny data trains a fixed budget and keeps the last epoch: val would go unused
        single = not task_names(job.config.data.label_column)
        return has_test and baseline is None and single and tiny(splits)
    if job.strategy not in ("features", "contrastive"):
        return False
    if has_test:
        return baseline in (None, "raw")  # raw is scored on test, beside the run
    single = not task_names(job.config.data.label_column)
    return bool(job.config.evaluation.cv) and single and baseline is None


TINY = 20  # fewer labelled rows than this in some class: a fixed budget, not val's choice


def tiny(splits: DataSplits) -> bool:
    """Whether some class has fewer than TINY labelled rows in train and val together."""
    labels = np.concatenate([splits.train.labels, splits.val.labels])
    counts = np.bincount(labels, minlength=len(splits.class_names))
    return bool(counts.min() < TINY)


def fold_val(splits: DataSplits, strategy: str) -> None:
    """Every labelled row to train; the validation split is left empty."""
    splits.train = splits.train.joined(splits.val)
    splits.val = splits.val.subset([])
    why = (
        "a fixed budget on tiny data, the last epoch kept"
        if strategy not in ("features", "contrastive")
        else f"{strategy} needs no validation split"
    )
    splits.split_source = f"all labelled rows train ({why})"


def windowed_texts(job: Job, splits: DataSplits, model: Any) -> dict[str, Any]:
    """How many of the run's texts were read in several windows, and the percentiles of
    their token lengths (recorded in the cache beside the backbone's facts, so a cached
    rerun says the same without torch)."""
    if splits.modality != "text":
        return {}
    from transferkit._hashing import digest_text

    texts = [t for name in ("train", "val", "test") for t in _inputs_of(splits, name)]
    key = digest_text(f"{model.identity}|windowed|{digest_text(json.dumps(texts))}")
    found = job.cache.read_facts(key)
    if found is None or "texts_windowed" not in found:
        real = getattr(model, "real", model)  # a lazy backbone builds here, if ever
        if not hasattr(real, "token_lengths"):
            return {}
        from transferkit.backbones._windows import window_body

        lengths = np.asarray(real.token_lengths(texts))
        body = window_body(real.tokenizer, real.config.max_length)
        longer = int((lengths > body).sum())
        windows = int(real.preprocessing().get("windows", 1))
        found = {
            # windows=1 reads a long text's first window only: truncated, not windowed
            "texts_windowed": longer if windows > 1 else 0,
            "texts_truncated": 0 if windows > 1 else longer,
            "windows_per_text": windows,
            "token_lengths": {
                "p50": int(np.percentile(lengths, 50)),
                "p95": int(np.percentile(lengths, 95)),
                "max": int(lengths.max()),
                "window": body,
            },
        }
        job.cache.write_facts(key, found)
    return found


def _inputs_of(splits: DataSplits, name: str) -> list[str]:
    data = getattr(splits, name)
    return [str(t) for t in data.inputs] if data is not None else []
