"""creditcard_fraud: tabular data through the `identity` backbone, stratified 80/20, seed 0.

`transferkit fit` reads the CSV as a table (the unnamed row index dropped, 30 numeric
columns standardised on the training split), fits the logistic head (C by 5-fold CV on
train) and, with `--threshold precision=0.9`, picks the decision threshold on out-of-fold
predictions of the training split. Figures are on the untouched validation split:
PR-AUC (average precision) and fraud precision / recall at the chosen threshold.

For reference, on the same split and standardisation: scikit-learn's LogisticRegressionCV
(C by 5-fold CV on train, as ours), and plain LogisticRegression at each C of a grid,
scored on the validation split (choosing C there would be tuning on the evaluation data).

Run: python benchmarks/bench_creditcard.py
"""

from __future__ import annotations

import json

import numpy as np

from transferkit.data import read_data

from _common import binary_figures, dataset

# settings
DATA = dataset("creditcard_fraud") / "creditcard_sample.csv"
BAR = {"pr_auc": 0.97, "recall": 0.92, "precision": 0.90}
SETTINGS = {
    "none": {},
    "threshold precision=0.9": {"threshold": "precision=0.9"},
    "class-weight": {"balance": "class-weight"},
    "class-weight + threshold precision=0.9": {
        "balance": "class-weight",
        "threshold": "precision=0.9",
    },
}


def recall_at_precision(y, score, precision_floor=0.9) -> float:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, score)
    return float(recall[precision >= precision_floor].max())


def sklearn_reference() -> dict:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.metrics import average_precision_score
    from sklearn.preprocessing import StandardScaler

    splits = read_data(DATA, seed=0)

    def matrix(ds):
        return np.array([[float(v) for v in json.loads(r).values()] for r in ds.inputs])

    scaler = StandardScaler().fit(matrix(splits.train))
    xt, xv = scaler.transform(matrix(splits.train)), scaler.transform(matrix(splits.val))
    yt, yv = splits.train.labels, splits.val.labels
    cv = LogisticRegressionCV(Cs=np.logspace(-4, 1, 6), cv=5, max_iter=5000).fit(xt, yt)
    p = cv.predict_proba(xv)[:, 1]
    out = {
        "LogisticRegressionCV": {
            "C": float(cv.C_[0]),
            "pr_auc": round(float(average_precision_score(yv, p)), 4),
            "best_recall_at_precision_0.9_on_val": round(recall_at_precision(yv, p), 4),
        }
    }
    for c in (0.01, 0.1, 1.0, 10.0):
        p = LogisticRegression(C=c, max_iter=5000).fit(xt, yt).predict_proba(xv)[:, 1]
        out[f"LogisticRegression C={c:g}"] = {
            "pr_auc": round(float(average_precision_score(yv, p)), 4),
            "best_recall_at_precision_0.9_on_val": round(recall_at_precision(yv, p), 4),
        }
    return out


def main() -> None:
    results = binary_figures(DATA, SETTINGS, "1", BAR)
    print(json.dumps({**results, "scikit-learn": sklearn_reference()}, indent=2))


if __name__ == "__main__":
    main()
