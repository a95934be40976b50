"""Transferability scores against cases whose answers are known independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from transferkit.selection._scores import h_score, leep, logme, logme_evidence, nce


def _evidence(f, t, alpha, beta):
    """log p(t | F) of the Bayesian linear model, from the marginal Gaussian directly:
    t ~ N(0, beta^-1 I + alpha^-1 F F^T)."""
    cov = np.eye(len(t)) / beta + f @ f.T / alpha
    return multivariate_normal(mean=np.zeros(len(t)), cov=cov).logpdf(t)


@pytest.mark.parametrize(("n", "d"), [(30, 5), (12, 20)])  # more samples, or more features
def test_logme_evidence_is_the_maximised_marginal_likelihood(n, d):
    rng = np.random.default_rng(n)
    f = rng.normal(size=(n, d))
    t = f @ rng.normal(size=d) * 0.5 + rng.normal(scale=0.3, size=n)
    per_sample, alpha, beta = logme_evidence(f, t)
    assert per_sample * n == pytest.approx(_evidence(f, t, alpha, beta), rel=1e-6)
    best = _evidence(f, t, alpha, beta)
    for a, b in [
        (alpha * 1.2, beta),
        (alpha / 1.2, beta),
        (alpha, beta * 1.2),
        (alpha, beta / 1.2),
    ]:
        assert _evidence(f, t, a, b) < best  # the fixed point is a maximum


def test_logme_prefers_features_that_carry_the_label():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    informative = np.eye(3)[y] * 3 + rng.normal(size=(120, 3))
    noise = rng.normal(size=(120, 3))
    assert logme(np.c_[informative, noise], y) > logme(np.c_[noise, rng.normal(size=(120, 3))], y)


def test_leep_on_hand_worked_cases():
    perfect = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert leep(perfect, np.array([0, 1, 0, 1])) == pytest.approx(0.0)
    # an uninformative source: P(y | z) = 1/2 everywhere
    flat = np.full((4, 2), 0.5)
    assert leep(flat, np.array([0, 0, 1, 1])) == pytest.approx(np.log(0.5))


def test_nce_is_minus_the_conditional_entropy():
    z = np.array([0, 0, 1, 1])
    y = np.array([0, 1, 1, 1])
    # Z = 0 (half the samples): Y split evenly; Z = 1: Y certain. H(Y | Z) = 0.5 log 2
    assert nce(z, y) == pytest.approx(-0.5 * np.log(2))
    assert nce(y, y) == pytest.approx(0.0)


def test_h_score_on_hand_worked_cases():
    f = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    assert h_score(f, np.array([0, 0, 1, 1])) == pytest.approx(1.0)  # the label explains f
    assert h_score(f, np.array([0, 1, 0, 1])) == pytest.approx(0.0)  # it explains nothing


def test_logme_intercept_stops_penalising_features_without_a_constant_direction():
    """Centred features cannot produce a one-hot column's mean without a bias: the
    intercept gives it back, and it is the same as appending a constant column."""
    rng = np.random.default_rng(1)
    y = (rng.random(200) < 0.2).astype(int)
    centred = np.c_[y + rng.normal(scale=0.5, size=200), rng.normal(size=(200, 4))]
    centred -= centred.mean(axis=0)
    assert logme(centred, y) > logme(centred, y, intercept=False) + 0.1
    with_constant = np.c_[centred, np.ones(200)]
    assert logme(with_constant, y, intercept=False) == pytest.approx(logme(centred, y), abs=1e-9)


def test_h_score_with_fewer_samples_than_features_equals_the_pseudo_inverse_formula():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(15, 40))
    f[:, :2] *= 4
    y = rng.integers(0, 3, size=15)
    centred = f - f.mean(axis=0)
    means = np.stack([centred[y == k].mean(axis=0) for k in range(3)])
    g = means[y]
    cov_f, cov_g = centred.T @ centred / 15, g.T @ g / 15
    expected = np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g)
    assert h_score(f, y) == pytest.approx(expected, rel=1e-8)


def test_logme_with_fewer_samples_than_features_equals_the_full_eigendecomposition():
    rng = np.random.default_rng(5)
    f = rng.normal(size=(20, 60))
    t = f[:, :3] @ rng.normal(size=3) + rng.normal(scale=0.5, size=20)
    sigma, v = np.linalg.eigh(f.T @ f)  # all 60 eigenpairs, 40 of them (numerically) zero
    full, alpha, _ = logme_evidence(f, t, eigen=(np.clip(sigma, 0.0, None), v))
    got, got_alpha, _ = logme_evidence(f, t)
    # (beta is huge and ill-determined here: 20 samples, 60 features fit t exactly)
    assert got == pytest.approx(full, rel=1e-7) and got_alpha == pytest.approx(alpha, rel=1e-6)
