"""The bandit policies an ad-placement agent is held against: ε-greedy, UCB1, Thompson
sampling (Beta-Bernoulli) and LinUCB (Li et al. 2010; the context is a bias and the
user's segment, so what is learned about an ad in one segment informs the others). Each
reads the impressions and clicks from the observation and scores every ad; one slot
takes the best ad, a slate the best `slots` in order. ε and LinUCB's α are tuned on
episodes other than the evaluation's."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.rl._ads import AdConfig, AdPlacementEnv, table


class _Bandit:
    name = "bandit"

    def __init__(self, config: AdConfig, seed: int = 0) -> None:
        self.config, self.rng = config, np.random.default_rng(seed)

    def scores(self, segment: int, shown: np.ndarray, clicks: np.ndarray, used: float) -> Any:
        raise NotImplementedError

    def predict(self, observation: Any, state: Any = None, **_: Any) -> tuple[Any, Any]:
        segment, shown, clicks, used = table(self.config, observation)
        scores = np.asarray(self.scores(segment, shown, clicks, used), dtype=float)
        scores = scores + 1e-9 * self.rng.random(len(scores))  # ties broken at random
        if self.config.slots == 1:
            return int(np.argmax(scores)), state
        ranks = np.argsort(np.argsort(-scores))  # 0: the best
        return (1.0 - 2.0 * ranks / (len(scores) - 1)).astype(np.float32), state

    def describe(self) -> dict[str, Any]:
        return {}


def _untried_first(shown: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.where(shown <= 0, np.inf, index)


class EpsilonGreedy(_Bandit):
    name = "ε-greedy"

    def __init__(self, config: AdConfig, epsilon: float = 0.1, seed: int = 0) -> None:
        super().__init__(config, seed)
        self.epsilon = epsilon

    def scores(self, segment: int, shown: np.ndarray, clicks: np.ndarray, used: float) -> Any:
        if self.rng.random() < self.epsilon:
            return self.rng.random(self.config.ads)
        n, k = shown[segment], clicks[segment]
        return _untried_first(n, k / np.maximum(n, 1e-9))

    def describe(self) -> dict[str, Any]:
        return {"ε": self.epsilon}


class UCB1(_Bandit):
    name = "UCB1"

    def scores(self, segment: int, shown: np.ndarray, clicks: np.ndarray, used: float) -> Any:
        n, k = shown[segment], clicks[segment]
        total = max(n.sum(), 1.0)
        safe = np.maximum(n, 1e-9)
        return _untried_first(n, k / safe + np.sqrt(2 * np.log(total) / safe))


class ThompsonSampling(_Bandit):
    name = "Thompson"

    def scores(self, segment: int, shown: np.ndarray, clicks: np.ndarray, used: float) -> Any:
        n, k = shown[segment], clicks[segment]
        return self.rng.beta(1 + k, 1 + np.maximum(n - k, 0))


class LinUCB(_Bandit):
    name = "LinUCB"

    def __init__(self, config: AdConfig, alpha: float = 0.5, seed: int = 0) -> None:
        super().__init__(config, seed)
        self.alpha = alpha
        self.contexts = np.concatenate([np.ones((config.segments, 1)), np.eye(config.segments)], 1)

    def scores(self, segment: int, shown: np.ndarray, clicks: np.ndarray, used: float) -> Any:
        x_all, x = self.contexts, self.contexts[segment]
        out = np.empty(self.config.ads)
        for ad in range(self.config.ads):
            a = np.eye(len(x)) + (x_all.T * shown[:, ad]) @ x_all
            b = x_all.T @ clicks[:, ad]
            inverse = np.linalg.inv(a)
            out[ad] = inverse @ b @ x + self.alpha * np.sqrt(x @ inverse @ x)
        return out

    def describe(self) -> dict[str, Any]:
        return {"α": self.alpha}


def _tuned(config: AdConfig, make: Any, values: list[float], seed: int, episodes: int) -> Any:
    from transferkit.rl._evaluate import score

    got = [score(lambda: AdPlacementEnv(config), make(v), episodes, seed).mean for v in values]
    return make(values[int(np.argmax(got))])


def ad_baselines(config: AdConfig, seed: int, episodes: int = 30) -> dict[str, Any]:
    """The four bandits, ε and α tuned on `episodes` episodes from `seed`."""
    return {
        "ε-greedy": _tuned(config, lambda e: EpsilonGreedy(config, e, seed), [0.02, 0.05, 0.1, 0.2],
                           seed, episodes),
        "UCB1": UCB1(config, seed),
        "Thompson": ThompsonSampling(config, seed),
        "LinUCB": _tuned(config, lambda a: LinUCB(config, a, seed), [0.05, 0.1, 0.25, 0.5, 1.0],
                         seed, episodes),
    }  # fmt: skip
