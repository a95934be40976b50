"""The policies an agent is held against, with the same `predict` call as a
Stable-Baselines3 agent (`predict(observation) -> (action, state)`).

Inventory: the (echelon) base-stock policy, order up to a level per stage. For a serial
chain with stationary demand and backlog it is the optimal policy class (Clark and Scarf
1960); its levels are tuned here by simulation on common random numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from transferkit.rl._inventory import InventoryConfig, InventoryEnv


class BaseStockPolicy:
    """Order up to `levels[i]` of echelon inventory position at each stage."""

    def __init__(self, env: InventoryEnv, levels: Sequence[float] | np.ndarray) -> None:
        self.env, self.levels = env, np.asarray(levels, dtype=float)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:  # fmt: skip
        position = self.env.inventory_positions(np.asarray(observation))
        order = np.clip(self.levels - position, 0.0, self.env.capacity)
        return order.astype(np.float32), state


def mean_return(env: InventoryEnv, policy: Any, seeds: Sequence[int]) -> float:
    """The policy's mean episode return over episodes seeded by `seeds`."""
    total = 0.0
    for seed in seeds:
        observation, _ = env.reset(seed=int(seed))
        done = False
        while not done:
            action, _ = policy.predict(observation)
            observation, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
    return total / len(seeds)


def tune_base_stock(
    config: InventoryConfig,
    episodes: int = 200,
    seed: int = 0,
    span: int = 40,
    rounds: int = 2,
) -> tuple[BaseStockPolicy, float]:
    """Base-stock levels by coordinate search on the mean return of `episodes` episodes,
    the same seeds for every candidate (common random numbers: the comparison between two
    levels is not drowned by demand noise). Starts at the mean demand over each echelon's
    lead time plus one period, and searches `span` units either side."""
    env = InventoryEnv(config)
    seeds = list(range(seed, seed + episodes))
    lead = np.cumsum(np.asarray(config.lead_time) + 1)
    levels = np.round(config.demand_mean * lead).astype(float)
    best = mean_return(env, BaseStockPolicy(env, levels), seeds)
    for _ in range(rounds):
        for stage in range(config.stages):
            low = max(0.0, levels[stage] - span)
            for value in np.arange(low, levels[stage] + span + 1):
                trial = levels.copy()
                trial[stage] = value
                score = mean_return(env, BaseStockPolicy(env, trial), seeds)
                if score > best:
                    best, levels = score, trial
    return BaseStockPolicy(env, levels), best
