"""The inventory policies an agent is held against, with the same `predict` call as a
Stable-Baselines3 agent (`predict(observation) -> (action, state)`).

- **Base-stock** (order up to a level of echelon inventory position at each stage): for a
  serial chain with stationary demand and backlog, the optimal policy class (Clark and
  Scarf 1960).
- **(s, S)**: order up to S only when the position has fallen below s; the optimal class
  when an order has a fixed cost (Scarf 1960), and what many practitioners run.

Levels are tuned by coordinate search on the mean return of many episodes simulated at
once in arrays (`InventoryVectorEnv`), every candidate on the same demand draws (common
random numbers: the comparison between two levels is not drowned by demand noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from transferkit.rl._inventory import InventoryConfig
from transferkit.rl._inventory_vector import InventoryVectorEnv


def echelon_positions(config: InventoryConfig, observations: np.ndarray) -> np.ndarray:
    """Each stage's echelon inventory position (its stock, the stock below it and in
    transit to them, minus the customer backlog) from one observation or a batch."""
    obs = np.atleast_2d(observations)
    n, depth = config.stages, max(max(config.lead_time), 1)
    on_hand, owed = obs[:, :n], obs[:, n : 2 * n]
    transit = obs[:, 2 * n : 2 * n + n * depth].reshape(len(obs), n, depth).sum(2)
    position: np.ndarray = np.cumsum(on_hand + transit + owed, axis=1) - obs[:, -2:-1]
    return position if np.ndim(observations) > 1 else position[0]


def period_of(config: InventoryConfig, observations: np.ndarray) -> np.ndarray:
    """The period of one observation or a batch (its last entry is the share gone)."""
    periods: np.ndarray = np.rint(np.asarray(observations)[..., -1] * config.periods)
    return periods


def last_useful_period(config: InventoryConfig) -> np.ndarray:
    """Per stage, the last period whose order can still reach a customer before the
    horizon ends: an order of stage i passes the lead times of stages i, ..., 0."""
    return config.periods - 1 - np.cumsum(config.lead_time)


class BaseStockPolicy:
    """Order up to `levels[i]` of echelon inventory position at each stage, up to period
    `last_order[i]` (default: the last period whose order can still be sold; a finite
    horizon makes later orders a pure cost)."""

    name = "base-stock"

    def __init__(
        self, config: InventoryConfig, levels: Sequence[float] | np.ndarray,
        last_order: Sequence[float] | np.ndarray | None = None,
    ) -> None:  # fmt: skip
        self.config, self.levels = config, np.asarray(levels, dtype=float)
        last = last_useful_period(config) if last_order is None else last_order
        self.last_order = np.asarray(last, dtype=float)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
        deterministic: bool = True, **_: Any,
    ) -> tuple[np.ndarray, Any]:  # fmt: skip
        position = echelon_positions(self.config, np.asarray(observation))
        order = np.clip(self.levels - position, 0.0, np.asarray(self.config.capacity))
        period = period_of(self.config, observation)
        order = np.where(np.expand_dims(period, -1) <= self.last_order, order, 0.0)
        return order.astype(np.float32), state

    def describe(self) -> dict[str, Any]:
        return {"levels": self.levels.tolist(), "last order": self.last_order.tolist()}


class SSPolicy:
    """(s, S): at each stage, when the echelon position is below `s[i]`, order up to
    `S[i]`; otherwise order nothing."""

    name = "(s, S)"

    def __init__(
        self, config: InventoryConfig, s: Sequence[float] | np.ndarray,
        big_s: Sequence[float] | np.ndarray,
    ) -> None:  # fmt: skip
        self.config = config
        self.s, self.big_s = np.asarray(s, dtype=float), np.asarray(big_s, dtype=float)
        self.last_order = last_useful_period(config).astype(float)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
        deterministic: bool = True, **_: Any,
    ) -> tuple[np.ndarray, Any]:  # fmt: skip
        position = echelon_positions(self.config, np.asarray(observation))
        order = np.where(position < self.s, self.big_s - position, 0.0)
        order = np.clip(order, 0.0, np.asarray(self.config.capacity))
        period = period_of(self.config, observation)
        order = np.where(np.expand_dims(period, -1) <= self.last_order, order, 0.0)
        return order.astype(np.float32), state

    def describe(self) -> dict[str, Any]:
        return {
            "s": self.s.tolist(),
            "S": self.big_s.tolist(),
            "last order": self.last_order.tolist(),
        }


def batch_returns(config: InventoryConfig, policy: Any, episodes: int, seed: int) -> np.ndarray:
    """Each of `episodes` episodes' return under `policy`, simulated at once in arrays;
    the same `seed` gives every policy the same demand draws."""
    env = InventoryVectorEnv(episodes, config)
    observation, _ = env.reset(seed=seed)
    returns = np.zeros(episodes)
    for _ in range(config.periods):
        action, _ = policy.predict(observation)
        observation, reward, *_ = env.step(action)
        returns += reward
    return returns


def _search(
    score: Any, start: np.ndarray, span: float, rounds: int, step: float = 1.0
) -> tuple[np.ndarray, float]:
    """Coordinate search: each coordinate in turn over `start ± span`, kept when better."""
    best_x, best = start.copy(), score(start)
    for _ in range(rounds):
        for i in range(len(best_x)):
            for value in np.arange(max(0.0, best_x[i] - span), best_x[i] + span + step, step):
                trial = best_x.copy()
                trial[i] = value
                got = score(trial)
                if got > best:
                    best, best_x = got, trial
    return best_x, best


def tune_base_stock(
    config: InventoryConfig, episodes: int = 200, seed: int = 0, span: int = 40, rounds: int = 2
) -> tuple[BaseStockPolicy, float]:
    """Base-stock levels by coordinate search on the mean return of `episodes` episodes.
    Starts at the mean demand over each echelon's lead time plus one period, and searches
    `span` units either side."""
    lead = np.cumsum(np.asarray(config.lead_time) + 1)
    start = np.round(config.demand_mean * lead).astype(float)

    last = last_useful_period(config).astype(float)

    def score(levels: np.ndarray) -> float:
        policy = BaseStockPolicy(config, levels, last)
        return float(batch_returns(config, policy, episodes, seed).mean())

    def score_last(last_order: np.ndarray) -> float:
        policy = BaseStockPolicy(config, levels, last_order)
        return float(batch_returns(config, policy, episodes, seed).mean())

    levels, best = _search(score, start, span, rounds)
    if config.periods > 1:  # when to stop ordering, then the levels again around it
        last, best = _search(score_last, last, 4, 1)
        levels, best = _search(score, levels, span / 4, 1)
    return BaseStockPolicy(config, levels, last), best


def tune_s_s(
    config: InventoryConfig, episodes: int = 200, seed: int = 0, span: int = 40, rounds: int = 2
) -> tuple[SSPolicy, float]:
    """(s, S) levels by coordinate search from the tuned base-stock levels (s = S: the
    base-stock policy itself, so (s, S) is never worse on the tuning episodes)."""
    base, _ = tune_base_stock(config, episodes, seed, span, rounds)
    n = config.stages

    def make(x: np.ndarray) -> SSPolicy:
        policy = SSPolicy(config, x[:n], np.maximum(x[:n], x[n:]))
        policy.last_order = base.last_order
        return policy

    def score(x: np.ndarray) -> float:
        return float(batch_returns(config, make(x), episodes, seed).mean())

    x, best = _search(score, np.concatenate([base.levels, base.levels]), span / 2, rounds)
    return make(x), best
