"""TransferClassifier: every strategy of `transferkit.fit` as a scikit-learn estimator."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from transferkit._errors import TransferKitError, choice_error
from transferkit.backbones import Backbone, create_backbone, default_backbone
from transferkit.config._choices import HEADS
from transferkit.config._job import check_head, check_strategy
from transferkit.data import Dataset, DataSplits
from transferkit.data._dataset import stratified_split
from transferkit.evaluation._cv import oof_scores
from transferkit.features._cache import FeatureCache
from transferkit.features._extract import embed_all
from transferkit.heads._balance import check_balance, class_weights
from transferkit.heads._threshold import choose_threshold, decide, parse_rule
from transferkit.heads._train import balanced_head

_LOADED: dict[tuple[str, str | None, str], Backbone] = {}


def _shared_backbone(spec: str, weights: str | None, device: str) -> Backbone:
    """Frozen backbones are loaded once per process: clones in a CV loop share them (in their
    inference-only form: they are never trained)."""
    key = (spec, str(weights) if weights else None, device)
    if key not in _LOADED:
        _LOADED[key] = create_backbone(spec, weights=weights, device=device).for_inference()
    return _LOADED[key]


def _infer_modality(items: Sequence[Any]) -> str:
    """'image' when X holds paths of existing files, 'text' when none; mixed is an error."""
    if any(isinstance(x, Path) for x in items):
        return "image"
    sample = [str(x) for x in items[:50]]
    exists = [Path(s).is_file() if len(s) < 4096 else False for s in sample]
    if sample and all(exists):
        return "image"
    if any(exists):
        missing = sample[exists.index(False)]
        raise TransferKitError(
            f"X mixes file paths and other strings ({missing!r} is not a file): give image"
            " paths only, or texts only, or name the backbone."
        )
    return "text"


class TransferClassifier(ClassifierMixin, BaseEstimator):
    """A pretrained backbone with a trained head, as a scikit-learn classifier.

    `X` is a list of image paths or of texts. With `strategy='features'` the
    backbone stays frozen and embeddings go through the on-disk `FeatureCache`,
    so refits (cross-validation, grid search) cost almost nothing after the
    first. The trained strategies ('finetune', 'top:K', 'gradual', 'scratch')
    hold out `val_size` of the data, stratified, to pick the best epoch, and
    train a copy of the backbone with the settings in `train` (a dict of
    `TrainConfig` fields).

    Parameters
    ----------
    backbone : backbone name; None picks the default for the inputs' modality.
    strategy : 'features', 'finetune', 'top:K', 'gradual' or 'scratch'.
    train : training settings for the trained strategies, e.g. {'epochs': 4}.
    val_size : fraction held out for choosing the best epoch (trained strategies).
    head : 'logistic' (C chosen by CV on the training data), 'linear' or 'mlp'.
    balance : imbalanced classes, as `transferkit.fit(balance=...)`.
    class_weight : weights by class label, e.g. {'spam': 5} (implies 'class-weight').
    threshold : binary tasks, features strategy: 'f1', 'recall=R' or 'precision=P', chosen
        on out-of-fold predictions of the training data; `predict` applies it.
    weights : a local weights file for the backbone.
    batch_size, num_workers, device : how the backbone runs.
    cache_dir : feature cache folder; None uses the user cache dir.
    use_cache : False recomputes embeddings every time.
    random_state : seed for the head.
    """

    def __init__(
        self,
        backbone: str | None = None,
        strategy: str = "features",
        train: dict[str, Any] | None = None,
        val_size: float = 0.2,
        head: str = "logistic",
        balance: str = "none",
        class_weight: dict[Any, float] | None = None,
        threshold: str | None = None,
        weights: str | None = None,
        batch_size: int | None = None,
        num_workers: int = 0,
        device: str = "cpu",
        cache_dir: str | None = None,
        use_cache: bool = True,
        random_state: int = 0,
    ) -> None:
        self.backbone = backbone
        self.strategy = strategy
        self.train = train
        self.val_size = val_size
        self.head = head
        self.balance = balance
        self.class_weight = class_weight
        self.threshold = threshold
        self.weights = weights
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.device = device
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.random_state = random_state

    def fit(self, X: Sequence[Any], y: Sequence[Any]) -> TransferClassifier:
        """Embed `X` (cached), then train the head on the embeddings; returns self."""
        check_strategy(self.strategy)
        if self.strategy == "auto":
            raise TransferKitError(
                "TransferClassifier needs an explicit strategy ('features', 'finetune',"
                " 'top:K', 'gradual', 'contrastive', 'lora' or 'scratch'); 'auto' is for"
                " `transferkit.fit`."
            )
        if self.head not in HEADS:
            raise choice_error("head", self.head, list(HEADS))
        X = list(X)
        y = np.asarray(y)
        if len(X) != len(y):
            raise TransferKitError(
                f"X has {len(X)} samples but y has {len(y)}: give one label per sample."
            )
        check_classification_targets(y)
        modality = _infer_modality(X)
        spec = self.backbone or default_backbone(modality)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise TransferKitError("y holds a single class: a classifier needs at least 2.")
        balance, weights = self._balance(encoded)
        rule = parse_rule(self.threshold) if self.threshold is not None else None
        if rule is not None and (len(self.classes_) != 2 or self.strategy != "features"):
            raise TransferKitError(
                "`threshold` needs a binary task and strategy='features' (it is chosen on"
                " out-of-fold predictions of the head)."
            )
        self.threshold_ = None
        if self.strategy in ("features", "contrastive"):
            if self.strategy == "contrastive":
                self.backbone_ = self._contrastive(spec, [str(x) for x in X], encoded, modality)
            else:
                self.backbone_ = _shared_backbone(spec, self.weights, self.device)
            features = self._embed(X)
            fit_head = partial(
                balanced_head,
                self.head,
                n_classes=len(self.classes_),
                seed=self.random_state,
                balance=balance,
                weights=weights,
            )
            self.head_, self.head_info_ = fit_head(features, encoded)
            if rule is not None:
                scores = oof_scores(fit_head, features, encoded, self.random_state)
                positive = str(self.classes_[1])
                self.threshold_ = choose_threshold(encoded, scores, rule, positive)
            self.skipped_ = []
        else:
            self._fit_trained(spec, [str(x) for x in X], encoded, modality, balance, weights)
        self.n_features_in_ = self.backbone_.feature_dim
        return self

    def _contrastive(self, spec: str, X: list[str], encoded: np.ndarray, modality: str) -> Any:
        """A fresh copy of the text encoder tuned on pairs of `X` (every row: contrastive
        needs no validation split); its weights' digest keys the cache."""
        import tempfile

        from transferkit.backbones._text import HFTextBackbone
        from transferkit.finetune._contrastive import tune_encoder
        from transferkit.finetune._run import train_config

        model = create_backbone(spec, weights=self.weights, device=self.device)
        if modality != "text" or not isinstance(model, HFTextBackbone):
            raise TransferKitError(
                "strategy 'contrastive' tunes a transformers text encoder on pairs of texts;"
                f" X holds {modality} for {spec!r}: use strategy='finetune'."
            )
        config = train_config(
            self.train, self.random_state, self.batch_size, self.num_workers, self.device
        )
        self.contrastive_ = tune_encoder(model, X, encoded, config.contrastive())
        with tempfile.TemporaryDirectory(prefix="transferkit-") as tmp:
            model.save_trained(Path(tmp) / "backbone.safetensors")  # its digest: the cache key
        return model

    def _balance(self, encoded: np.ndarray) -> tuple[str, np.ndarray | None]:
        """The balancing mode and, for 'class-weight', one weight per class."""
        balance = "class-weight" if self.class_weight and self.balance == "none" else self.balance
        check_balance(balance, self.strategy)
        if balance != "class-weight":
            return balance, None
        names = [str(c) for c in self.classes_]
        given = {str(k): float(v) for k, v in (self.class_weight or {}).items()}
        return balance, class_weights(encoded, names, given or None)

    def _fit_trained(
        self,
        spec: str,
        X: list[str],
        encoded: np.ndarray,
        modality: str,
        balance: str,
        weights: np.ndarray | None,
    ) -> None:
        """Train a fresh copy of the backbone with the head (checkpoints in a temporary folder)."""
        import tempfile

        from transferkit.finetune._run import train_backbone, train_config

        check_head(self.head, self.strategy)

        names = [str(c) for c in self.classes_]
        everything = Dataset(X, encoded, names, modality, refs=[f"X[{i}]" for i in range(len(X))])
        train, val = stratified_split(everything, self.val_size, self.random_state, "X")
        splits = DataSplits(train, val, None, split_source=f"stratified {self.val_size} of X")
        config = train_config(
            self.train, self.random_state, self.batch_size, self.num_workers, self.device
        )
        config.balance = balance
        config.class_weights = None if weights is None else [float(w) for w in weights]
        model = create_backbone(
            spec, weights=self.weights, device=self.device, pretrained=self.strategy != "scratch"
        )
        cache = FeatureCache(self.cache_dir, enabled=self.use_cache)
        with tempfile.TemporaryDirectory(prefix="transferkit-") as tmp:
            self.backbone_, self.head_, self.head_info_ = train_backbone(
                model, splits, self.strategy, config, Path(tmp), False, False, cache
            )
        self.skipped_ = list(splits.skipped)  # unreadable images, left out of training

    def _embed(self, X: Sequence[Any]) -> np.ndarray:
        cache = FeatureCache(self.cache_dir, enabled=self.use_cache)
        items = [str(x) for x in X]
        return embed_all(
            self.backbone_,
            items,
            cache,
            name="X",
            batch_size=self.batch_size,
            num_workers=self.num_workers,
        )

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        """Probabilities, columns in the order of `classes_`."""
        self._check_fitted()
        return self.head_.predict_proba(self._embed(list(X)))

    def predict(self, X: Sequence[Any]) -> np.ndarray:
        """The most probable label for each input, as given in `y`."""
        self._check_fitted()
        return self.classes_[decide(self.predict_proba(X), self.threshold_)]

    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this TransferClassifier is not fitted yet: call fit(X, y) first.")
