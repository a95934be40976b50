"""The raw baseline: a logistic regression on the raw inputs, no pretrained network.

It answers "when to transfer" cheaply: if a linear model on pixels, TF-IDF terms or the
encoded columns already matches the transfer model, the pretrained backbone is not
earning its cost. Scaled inputs and C chosen by cross-validation on the training split,
as in the linear-probe protocol of Kornblith, Shlens and Le (2019), applied to the
inputs instead of a network's features.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.evaluation._metrics import classification_metrics

if TYPE_CHECKING:
    from transferkit.data._dataset import Dataset, DataSplits

RAW_IMAGE_SIZE = 32  # pixels a side: CIFAR's size, 3,072 values, fits in seconds
CV_FOLDS = 3
C_GRID = np.logspace(-4, 1, 6)  # the transfer model's logistic head searches the same decades
FALLBACK_C = 1.0  # scikit-learn's default, when a class is too small to cross-validate


@dataclass
class _RawInputs:
    """Design matrices of the training and evaluation splits, and what they hold."""

    x_train: Any  # a dense array, or a sparse matrix for TF-IDF
    y_train: np.ndarray
    x_eval: Any
    y_eval: np.ndarray
    description: str
    n_skipped: int = 0
    sparse: bool = False


def raw_baseline(splits: DataSplits, seed: int = 0) -> dict[str, Any]:
    """A logistic regression on the raw inputs, trained on `splits.train` in seconds and
    evaluated on the split the transfer model is judged on (test when it has samples,
    else val): a cheap answer to whether transfer pays off here at all.

    Inputs per modality: images decoded, resized to RAW_IMAGE_SIZE x RAW_IMAGE_SIZE RGB
    (bilinear) and flattened to floats in [0, 1]; texts as TF-IDF of word 1- and 2-grams
    (sublinear term frequency), the vocabulary learned from the training texts; tables
    as the columns the `identity` backbone encodes (TabularEncoder), fitted on the
    training rows. Features are standardised (without centring for sparse TF-IDF) and C
    is chosen from C_GRID by stratified CV (at most CV_FOLDS folds, never more than the
    smallest class has samples; by log-loss, as the transfer model's head is chosen); with
    a class of fewer than 2 training samples, C is FALLBACK_C.

    Inputs that cannot be read here (an image that fails to decode, a table row that is
    not one) are left out and counted in `n_skipped`; the reader's own skips are in
    `splits.skipped`. Returns strategy, inputs, model, evaluated_on, accuracy,
    balanced_accuracy, macro_f1, n_skipped and seconds, with C, cv_folds, n_train and
    n_eval.
    """
    start = time.perf_counter()
    test = splits.test
    evaluated_on, held = ("test", test) if test is not None and len(test) else ("val", splits.val)
    raw = _raw_inputs(splits.train, held, splits.modality)
    _check_usable(raw, splits.class_names, evaluated_on)
    model, c, folds = _fit_logistic(raw.x_train, raw.y_train, seed, centre=not raw.sparse)
    metrics = classification_metrics(raw.y_eval, model.predict(raw.x_eval), splits.class_names)
    how = f"C by {folds}-fold CV" if folds else f"C={FALLBACK_C:g} (a class has < 2 samples)"
    return {
        "strategy": "raw",
        "inputs": raw.description,
        "model": f"logistic regression, {how}",
        "evaluated_on": evaluated_on,
        "accuracy": metrics["accuracy"],
        "balanced_accuracy": metrics["balanced_accuracy"],
        "macro_f1": metrics["macro_f1"],
        "n_skipped": raw.n_skipped,
        "seconds": time.perf_counter() - start,
        "C": c,
        "cv_folds": folds,
        "n_train": len(raw.y_train),
        "n_eval": len(raw.y_eval),
    }


def _raw_inputs(train: Dataset, held: Dataset, modality: str) -> _RawInputs:
    if modality == "image":
        return _image_inputs(train, held)
    if modality == "text":
        return _text_inputs(train, held)
    if modality == "tabular":
        return _tabular_inputs(train, held)
    raise TransferKitError(
        f"the raw baseline reads 'image', 'text' or 'tabular' data; got modality {modality!r}."
    )


def _check_usable(raw: _RawInputs, class_names: list[str], evaluated_on: str) -> None:
    after = f" after skipping {raw.n_skipped} unreadable input(s)" if raw.n_skipped else ""
    present = np.unique(raw.y_train)
    if len(present) < 2:
        only = class_names[int(present[0])] if len(present) else "none"
        raise TransferKitError(
            f"the raw baseline needs at least 2 classes in the training split{after};"
            f" it holds {only!r} only."
        )
    if len(raw.y_eval) == 0:
        raise TransferKitError(
            f"the raw baseline has no {evaluated_on} samples to evaluate on{after}."
        )


def _image_inputs(train: Dataset, held: Dataset) -> _RawInputs:
    x_train, y_train, skipped_train = _pixels(train)
    x_eval, y_eval, skipped_eval = _pixels(held)
    side = RAW_IMAGE_SIZE
    return _RawInputs(
        x_train,
        y_train,
        x_eval,
        y_eval,
        f"{side}x{side} RGB pixels ({side * side * 3} values)",
        skipped_train + skipped_eval,
    )


def _pixels(data: Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """(flattened pixels in [0, 1], their labels, how many files failed to decode)."""
    from PIL import Image

    from transferkit.data._images import ImageDecodeError, decode_image

    size = (RAW_IMAGE_SIZE, RAW_IMAGE_SIZE)
    rows, kept = [], []
    for i, path in enumerate(data.inputs):
        try:
            image = decode_image(path, draft_size=RAW_IMAGE_SIZE)
        except (ImageDecodeError, OSError):  # OSError: the file went away since it was read
            continue
        small = image.convert("RGB").resize(size, Image.Resampling.BILINEAR)
        rows.append(np.asarray(small, dtype=np.float32).reshape(-1) / 255.0)
        kept.append(i)
    x = np.stack(rows) if rows else np.zeros((0, size[0] * size[1] * 3), dtype=np.float32)
    return x, data.labels[np.asarray(kept, dtype=int)], len(data) - len(kept)


def _text_inputs(train: Dataset, held: Dataset) -> _RawInputs:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x_train = vectorizer.fit_transform(train.inputs)
    n_terms = len(vectorizer.vocabulary_)
    return _RawInputs(
        x_train,
        train.labels,
        vectorizer.transform(held.inputs),
        held.labels,
        f"TF-IDF word 1-2 grams ({n_terms} terms)",
        sparse=True,
    )


def _tabular_inputs(train: Dataset, held: Dataset) -> _RawInputs:
    from transferkit.backbones._tabular import TabularBackbone

    backbone = TabularBackbone().fit_encoder(train.inputs)  # train rows only, as fit does
    x_train, y_train, skipped_train = _encoded(backbone, train)
    x_eval, y_eval, skipped_eval = _encoded(backbone, held)
    return _RawInputs(
        x_train,
        y_train,
        x_eval,
        y_eval,
        f"the encoded columns ({backbone.feature_dim})",
        skipped_train + skipped_eval,
    )


def _encoded(backbone: Any, data: Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """(encoded rows, their labels, how many rows the encoder refused)."""
    dim = backbone.feature_dim
    if not len(data):
        return np.zeros((0, dim), dtype=np.float32), data.labels, 0
    # One batch: the encoder is numpy underneath, and the rows are already in memory.
    (batch,) = backbone.batches(data.inputs, batch_size=len(data))
    x = batch.inputs.numpy().reshape(len(batch.positions), dim)
    return x, data.labels[np.asarray(batch.positions, dtype=int)], len(batch.errors)


def _fit_logistic(x: Any, y: np.ndarray, seed: int, centre: bool) -> tuple[Any, float, int]:
    """(fitted pipeline, its C, CV folds used; 0 when C is FALLBACK_C without CV)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(
        StandardScaler(with_mean=centre),
        LogisticRegression(C=FALLBACK_C, max_iter=2000, random_state=seed),
    )
    smallest = int(np.bincount(y)[np.unique(y)].min())
    with warnings.catch_warnings():
        # a baseline: an unconverged C in the grid loses the CV, it need not alarm anyone
        warnings.simplefilter("ignore", ConvergenceWarning)
        if smallest < 2:
            return pipeline.fit(x, y), FALLBACK_C, 0
        folds = min(CV_FOLDS, smallest)
        search = GridSearchCV(
            pipeline,
            {"logisticregression__C": list(C_GRID)},
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            scoring="neg_log_loss",
        )
        search.fit(x, y)
    return search.best_estimator_, float(search.best_params_["logisticregression__C"]), folds
