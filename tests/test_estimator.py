"""TransferClassifier honours the scikit-learn estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline

import transferkit.features._extract as features_module
from transferkit import TransferClassifier, TransferKitError

from conftest import TEXTS

X = [t for texts in TEXTS.values() for t in texts]
Y = np.array([label for label, texts in TEXTS.items() for _ in texts])


def test_init_stores_params_only_and_clone_works():
    est = TransferClassifier(backbone="minilm-l6", head="mlp", random_state=3)
    params = est.get_params()
    assert (
        params["backbone"] == "minilm-l6"
        and params["head"] == "mlp"
        and params["random_state"] == 3
    )
    copy = clone(est)
    assert copy.get_params() == params
    assert not hasattr(copy, "backbone_")


def test_fit_returns_self_and_learns(tmp_path):
    est = TransferClassifier(cache_dir=str(tmp_path))
    assert est.fit(X, Y) is est
    assert list(est.classes_) == ["neg", "pos"]
    assert est.backbone_.spec == "minilm-l6", "texts pick the text backbone"
    proba = est.predict_proba(["what a wonderful, excellent day", "awful, broken, terrible"])
    assert proba.shape == (2, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert list(est.predict(["what a wonderful, excellent day", "awful, broken, terrible"])) == [
        "pos",
        "neg",
    ]


def test_pipeline_and_cross_val_score_reuse_the_cache(tmp_path, monkeypatch):
    calls = []
    real = features_module._run_backbone

    def spy(backbone, items, *args):
        calls.append(len(items))
        return real(backbone, items, *args)

    monkeypatch.setattr(features_module, "_run_backbone", spy)
    pipe = Pipeline([("clf", TransferClassifier(cache_dir=str(tmp_path)))])
    scores = cross_val_score(pipe, X, Y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.75
    assert sum(calls) == len(X), "each text runs through the backbone once across all folds"
    cross_val_score(pipe, X, Y, cv=4)
    assert sum(calls) == len(X), "a second CV is served from the cache"


def test_grid_search_over_heads(tmp_path):
    grid = GridSearchCV(
        TransferClassifier(cache_dir=str(tmp_path)), {"head": ["logistic", "linear"]}, cv=3
    )
    grid.fit(X, Y)
    assert grid.best_params_["head"] in {"logistic", "linear"}


def test_image_paths_pick_the_image_backbone(colour_folder, tmp_path):
    paths = sorted(str(p) for p in colour_folder.rglob("*.jpg"))
    labels = [p.split("/")[-2] for p in paths]
    est = TransferClassifier(cache_dir=str(tmp_path)).fit(paths, labels)
    assert est.backbone_.spec == "efficientnet_lite0"
    assert (est.predict(paths) == np.array(labels)).mean() == 1.0


def test_errors_are_clear():
    with pytest.raises(TransferKitError, match=r"Got 'finetuning'. Did you mean 'finetune'\?"):
        TransferClassifier(strategy="finetuning").fit(X, Y)
    with pytest.raises(TransferKitError, match=r"X has 24 samples but y has 3"):
        TransferClassifier().fit(X, Y[:3])
    with pytest.raises(TransferKitError, match="single class"):
        TransferClassifier().fit(X[:3], ["a", "a", "a"])
    with pytest.raises(TransferKitError, match=r"mixes file paths and other strings"):
        TransferClassifier().fit([__file__, "just some words"], ["a", "b"])
    with pytest.raises(NotFittedError, match="not fitted"):
        TransferClassifier().predict(X)


@pytest.mark.slow
def test_trained_strategy_fine_tunes_a_copy_of_the_backbone(colour_folder, tmp_path):
    paths = sorted(str(p) for p in colour_folder.rglob("*.jpg"))
    labels = [p.split("/")[-2] for p in paths]
    train = {"epochs": 2, "augment": False}
    est = TransferClassifier(strategy="top:1", train=train, cache_dir=str(tmp_path))
    est.fit(paths, labels)
    frozen = TransferClassifier(cache_dir=str(tmp_path)).fit(paths, labels)
    # the trained copy has its own weights (and so its own cache identity); the shared
    # pretrained backbone of the features strategy is untouched
    assert est.backbone_ is not frozen.backbone_
    assert est.backbone_.identity != frozen.backbone_.identity
    from transferkit.backbones import create_backbone

    pretrained = create_backbone("efficientnet_lite0")  # the frozen one is folded (no norms)
    top = est.backbone_.layer_groups()[-1][1][0]
    ref = pretrained.layer_groups()[-1][1][0]
    pairs = zip(top.parameters(), ref.parameters(), strict=True)
    changed = [not torch.equal(a, b) for a, b in pairs]
    assert any(changed)
    assert (est.predict(paths) == np.array(labels)).mean() >= 0.9
    assert est.predict_proba(paths).shape == (len(paths), 2)
    assert clone(est).get_params()["train"] == train


def test_class_weights_and_a_tuned_threshold_in_the_estimator(tmp_path):
    est = TransferClassifier(
        class_weight={"neg": 5.0}, threshold="recall=1", cache_dir=str(tmp_path)
    ).fit(X, Y)
    assert est.head_info_["class_weight"] == [5.0, 1.0]  # classes_ sorted: neg, pos
    assert est.threshold_.rule == "recall=1" and est.threshold_.positive_class == "pos"
    proba = est.predict_proba(X)
    expected = np.where(proba[:, 1] >= est.threshold_.value, "pos", "neg")
    assert (est.predict(X) == expected).all()
    assert clone(est).get_params()["threshold"] == "recall=1"
    with pytest.raises(TransferKitError, match=r"--balance sampler does not apply"):
        TransferClassifier(balance="sampler").fit(X, Y)
