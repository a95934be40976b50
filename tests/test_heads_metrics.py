"""Heads reproduce scikit-learn, survive a save/load, and metrics are right on known cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from transferkit import TransferKitError
from transferkit.evaluation._metrics import classification_metrics
from transferkit.heads._heads import load_head
from transferkit.heads._train import train_head


@pytest.mark.parametrize("n_classes", [2, 4])
def test_logistic_head_matches_sklearn_at_the_chosen_c(n_classes):
    x, y = make_classification(300, 20, n_informative=8, n_classes=n_classes, random_state=0)
    x = x.astype(np.float32)
    head, info = train_head("logistic", x, y, n_classes, seed=0)
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=info["C"], max_iter=2000).fit(scaler.transform(x), y)
    np.testing.assert_allclose(
        head.predict_proba(x), reference.predict_proba(scaler.transform(x)), atol=1e-3
    )
    assert info["C"] in info["C_grid"] and info["cv_folds"] == 5


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_torch_heads_learn_a_separable_problem(kind):
    x, y = make_classification(200, 10, n_informative=5, class_sep=2.0, flip_y=0, random_state=1)
    head, info = train_head(kind, x.astype(np.float32), y, 2, seed=0)
    reference = LogisticRegression(max_iter=2000).fit(x, y).score(x, y)
    assert (head.predict_proba(x).argmax(1) == y).mean() >= reference - 0.02
    assert info["kind"] == kind


def test_head_save_and_load_round_trip(tmp_path):
    from transferkit.heads._heads import save_head

    x, y = make_classification(100, 6, random_state=2)
    head, _ = train_head("mlp", x.astype(np.float32), y, 2, seed=0)
    save_head(head, tmp_path)
    assert (tmp_path / "head.safetensors").is_file()
    np.testing.assert_array_equal(load_head(tmp_path).predict_proba(x), head.predict_proba(x))


def test_unknown_head_suggests():
    with pytest.raises(
        TransferKitError, match=r"`head` must be one of .*Got 'logistc'. Did you mean 'logistic'\?"
    ):
        train_head("logistc", np.zeros((4, 2)), np.array([0, 1, 0, 1]), 2)


def test_metrics_on_a_hand_computed_case():
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 0])
    m = classification_metrics(y_true, y_pred, ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert m["per_class"]["pos"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["neg"]["precision"] == pytest.approx(3 / 4)
    assert m["macro_f1"] == pytest.approx((0.75 + 0.5) / 2)
    assert m["confusion_matrix"] == [[3, 1], [1, 1]]


def test_metrics_when_a_class_is_absent_from_the_evaluation():
    m = classification_metrics(np.array([0, 0, 1]), np.array([0, 2, 1]), ["a", "b", "c"])
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["per_class"]["c"]["support"] == 0
    assert m["confusion_matrix"][0] == [1, 0, 1]


def test_metrics_macro_f1_ignores_a_class_absent_everywhere():
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), ["a", "b", "c"])
    assert m["macro_f1"] == 1.0 and m["balanced_accuracy"] == 1.0


def test_a_class_unseen_in_training_is_never_predicted():
    x, y = make_classification(120, 6, n_classes=2, random_state=3)
    head, _ = train_head("logistic", x.astype(np.float32), y + 1, 3, seed=0)  # classes 1, 2 only
    assert (head.predict_proba(x).argmax(1) != 0).all()


def test_binary_metrics_rank_by_the_positive_class_probability():
    # scikit-learn's documented example: ROC-AUC 0.75, average precision 0.83
    y_true = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    train = np.array([0, 0, 0, 1, 1])
    m = classification_metrics(y_true, proba.argmax(1), ["ham", "spam"], proba, train)
    assert m["positive_class"] == "spam"
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["pr_auc"] == pytest.approx(5 / 6)
    assert m["majority_class"] == "ham" and m["majority_baseline_accuracy"] == 0.5


def test_a_model_no_better_than_the_majority_class_is_called_out():
    from transferkit.evaluation._metrics import baseline_warning

    y_true = np.array([0] * 95 + [1] * 5)
    lazy = classification_metrics(y_true, np.zeros(100, int), ["ok", "fraud"], None, y_true)
    assert lazy["accuracy"] == 0.95
    assert "always predicting 'ok' (0.9500)" in baseline_warning(lazy)
    good = classification_metrics(y_true, y_true, ["ok", "fraud"], None, np.array([0, 1, 1]))
    assert baseline_warning(good) is None  # majority of train is 'fraud': baseline 0.05
