"""Imbalanced classes: class weights, resampling of cached embeddings, weighted sampling.

`--balance` modes:
- `none`: the data as it is.
- `class-weight`: each class's loss weighted by n / (k * n_class) (scikit-learn's
  "balanced"), or by the weights the user gives per class name; every strategy, the
  scikit-learn logistic head included.
- `oversample` / `undersample` / `smote` / `adasyn`: the training embeddings are resampled
  by imbalanced-learn before the head is fitted (`features` strategy; synthetic samples
  exist only in embedding space, never in the evaluation split).
- `sampler`: fine-tuning draws each epoch's samples with replacement, weighted so every
  class is drawn equally often; repeated images get fresh augmentations.
- `focal`: fine-tuning with the focal loss (Lin et al. 2017), gamma = `focal_gamma`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit._errors import TransferKitError, choice_error

BALANCE = (
    "none",
    "class-weight",
    "oversample",
    "undersample",
    "smote",
    "adasyn",
    "sampler",
    "focal",
)
FEATURE_MODES = ("none", "class-weight", "oversample", "undersample", "smote", "adasyn")
TRAINED_MODES = ("none", "class-weight", "sampler", "focal")


def check_balance(mode: str, strategy: str) -> str:
    """Validate `mode` for `strategy`: a one-line error names what fits instead."""
    if mode not in BALANCE:
        raise choice_error("balance", mode, list(BALANCE))
    allowed = FEATURE_MODES if strategy in ("features", "contrastive") else TRAINED_MODES
    if mode not in allowed:
        raise TransferKitError(
            f"--balance {mode} does not apply to strategy {strategy!r}: use one of"
            f" {', '.join(allowed)}."
        )
    return mode


def class_weights(
    labels: np.ndarray, class_names: list[str], given: dict[str, float] | None = None
) -> np.ndarray:
    """One weight per class: `given` by class name (others 1), else n / (k * n_class)."""
    k = len(class_names)
    if given:
        unknown = sorted(set(given) - set(class_names))
        if unknown:
            raise TransferKitError(
                f"class weight for {unknown[0]!r}, which is not a class: the classes are"
                f" {', '.join(class_names)}."
            )
        bad = {name: w for name, w in given.items() if not w > 0}
        if bad:
            name, w = next(iter(bad.items()))
            raise TransferKitError(f"class weight of {name!r} must be positive; got {w}.")
        return np.array([float(given.get(name, 1.0)) for name in class_names])
    counts = np.bincount(labels, minlength=k).astype(float)
    present = counts > 0
    weights = np.ones(k)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights


def parse_class_weights(text: str) -> dict[str, float]:
    """'spam=5,ham=1' as a dict; a malformed entry is a one-line error."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = float(value)
        except ValueError:
            raise TransferKitError(
                f"--class-weight entry {part!r} is not NAME=WEIGHT, e.g. --class-weight spam=5."
            ) from None
    return out


def resample(
    features: np.ndarray, labels: np.ndarray, mode: str, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """imbalanced-learn's samplers on the training embeddings; returns (x, y, what happened)."""
    from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    counts = np.bincount(labels)
    smallest = int(counts[counts > 0].min())
    neighbours = min(5, smallest - 1)
    if mode in ("smote", "adasyn") and neighbours < 1:
        raise TransferKitError(
            f"--balance {mode} needs at least 2 training samples in every class (one has"
            f" {smallest}): use --balance oversample or class-weight."
        )
    samplers = {
        "oversample": lambda: RandomOverSampler(random_state=seed),
        "undersample": lambda: RandomUnderSampler(random_state=seed),
        "smote": lambda: SMOTE(k_neighbors=neighbours, random_state=seed),
        "adasyn": lambda: ADASYN(n_neighbors=neighbours, random_state=seed),
    }
    try:
        x, y = samplers[mode]().fit_resample(features, labels)
    except (ValueError, RuntimeError) as exc:  # e.g. ADASYN finding no hard neighbours
        raise TransferKitError(
            f"--balance {mode} could not resample the training split ({str(exc)[:120]}):"
            " try --balance smote or class-weight."
        ) from exc
    info = {
        "mode": mode,
        "before": np.bincount(labels).tolist(),
        "after": np.bincount(y).tolist(),
    }
    return np.asarray(x, dtype=features.dtype), np.asarray(y), info
