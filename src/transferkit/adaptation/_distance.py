"""How far apart two domains are: the proxy A-distance (Ben-David et al. 2007), and a
2-D picture of both domains' features.

The proxy A-distance is `2 (1 - 2 ε)`, with ε the cross-validated error of a classifier
that tells source features from target ones: 0 when it cannot (the domains look alike),
2 when it always can.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def proxy_a_distance(source: np.ndarray, target: np.ndarray, seed: int = 0) -> float:
    """`2 (1 - 2 ε)` from a linear domain classifier's 5-fold error (fewer folds for fewer
    than 5 inputs a domain), on equal-sized domains."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = min(len(source), len(target), 2000)
    if n < 2:
        return float("nan")  # too few inputs in one domain to cross-validate
    xs = source[rng.choice(len(source), n, replace=False)]
    xt = target[rng.choice(len(target), n, replace=False)]
    x = np.vstack([xs, xt]).astype(np.float64)
    y = np.r_[np.zeros(n), np.ones(n)]
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    folds = StratifiedKFold(min(5, n), shuffle=True, random_state=seed)
    error = 1.0 - float(np.mean(cross_val_score(classifier, x, y, cv=folds)))
    return float(np.clip(2.0 * (1.0 - 2.0 * error), 0.0, 2.0))


def domains_picture(
    views: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, seed: int = 0
) -> None:
    """One panel per view (e.g. 'before', 'after'): source and target features on the
    first two principal components of both together."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    fig, axes = plt.subplots(1, len(views), figsize=(4.2 * len(views), 4), squeeze=False)
    rng = np.random.default_rng(seed)
    for ax, (title, (xs, xt)) in zip(axes[0], views.items(), strict=True):
        both = np.vstack([xs, xt]).astype(np.float64)
        points = PCA(2, random_state=seed).fit_transform(both)
        for part, label, color in (
            (points[: len(xs)], "source", "#1f77b4"),
            (points[len(xs) :], "target", "#d62728"),
        ):
            keep = rng.choice(len(part), min(len(part), 600), replace=False)
            ax.scatter(part[keep, 0], part[keep, 1], s=5, alpha=0.5, c=color, label=label)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="best", markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
