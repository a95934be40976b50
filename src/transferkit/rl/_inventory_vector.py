"""K inventory chains stepped at once: `InventoryVectorEnv`, a native Gymnasium vector
environment whose state is arrays over (environment, stage). One step of all K costs a
few numpy operations, where K copies of `InventoryEnv` cost K Python steps; with three
stages numpy's per-call cost makes a single environment slower than plain Python, so the
batch is where vectorising pays (`benchmarks/bench_rl_envs.py`).

Episodes end together only if they start together; an environment whose episode ends is
reset in the same step (Gymnasium's same-step autoreset): the observation returned is
its new episode's first, the last one is in `infos["final_obs"]`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from transferkit.rl._inventory import ORGYM_INV_MANAGEMENT, InventoryConfig, draw_demand


class InventoryVectorEnv(gymnasium.vector.VectorEnv):
    """`num_envs` copies of the chain of `config` in arrays; the same dynamics, event
    order and observation as `InventoryEnv` (tested step for step)."""

    metadata = {"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP}  # noqa: RUF012

    def __init__(
        self, num_envs: int, config: InventoryConfig | None = None, **settings: Any
    ) -> None:
        base = config or ORGYM_INV_MANAGEMENT
        self.config = (replace(base, **settings) if settings else base).check()
        c, self.num_envs = self.config, int(num_envs)
        self.depth = max(max(c.lead_time), 1)
        self.single_action_space = spaces.Box(
            low=0.0, high=np.asarray(c.capacity, dtype=np.float32), dtype=np.float32
        )
        size = c.stages * (2 + self.depth) + 2
        self.single_observation_space = spaces.Box(0.0, np.inf, shape=(size,), dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.prices, self.costs = np.asarray(c.prices), np.asarray(c.costs)
        self.penalties, self.holding = np.asarray(c.penalties), np.asarray(c.holding)
        self.capacity, self.lead = np.asarray(c.capacity), np.asarray(c.lead_time)
        self._rng = np.random.default_rng()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        k, n = self.num_envs, self.config.stages
        self.period = np.zeros(k, dtype=int)
        self.on_hand = np.tile(np.asarray(self.config.initial, dtype=float), (k, 1))
        self.owed = np.zeros((k, n))
        self.backlog = np.zeros(k)
        self.pipeline = np.zeros((k, n, self.depth + 1))
        # counts[:, d]: the stock on hand d periods before the newest count (oldest first)
        self.counts = np.repeat(self.on_hand[:, None, :], self.config.count_delay + 1, axis=1)
        return self._observation(), {}

    def _demand(self) -> np.ndarray:
        return np.asarray(draw_demand(self.config, self.period, self._rng))

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        c, k = self.config, self.num_envs
        order = np.floor(np.clip(np.asarray(actions, dtype=float), 0.0, self.capacity))
        requested = order + (self.owed if c.backlog else 0.0)
        available = np.concatenate([self.on_hand[:, 1:], np.full((k, 1), np.inf)], axis=1)
        shipped = np.minimum(np.minimum(requested, self.capacity), available)
        self.pipeline[:, np.arange(c.stages), self.lead] += shipped
        self.on_hand += self.pipeline[:, :, 0]
        self.pipeline = np.roll(self.pipeline, -1, axis=2)
        self.pipeline[:, :, -1] = 0.0
        wanted = self._demand() + self.backlog
        sold = np.minimum(self.on_hand[:, 0], wanted)
        self.on_hand[:, 0] -= sold
        self.on_hand[:, 1:] -= shipped[:, :-1]
        unfilled = np.concatenate([(wanted - sold)[:, None], requested - shipped], axis=1)
        if c.backlog:
            self.backlog, self.owed = unfilled[:, 0].copy(), unfilled[:, 1:].copy()
        sales = np.concatenate([sold[:, None], shipped], axis=1)
        bought = np.concatenate([shipped, shipped[:, -1:]], axis=1)
        profit = (
            sales @ self.prices
            - bought @ self.costs
            - unfilled @ self.penalties
            - self.on_hand @ self.holding
            - c.fixed_cost * np.count_nonzero(order, axis=1)
        )
        rewards = c.discount**self.period * profit
        self.period += 1
        if c.count_delay:
            self.counts = np.concatenate([self.counts[:, 1:], self.on_hand[:, None, :]], axis=1)
        done = self.period >= c.periods
        infos: dict[str, Any] = {}
        if done.any():
            infos["final_obs"] = self._observation()
            self._restart(done)
        return self._observation(), rewards, done, np.zeros(k, dtype=bool), infos

    def _restart(self, done: np.ndarray) -> None:
        self.period[done] = 0
        self.on_hand[done] = np.asarray(self.config.initial, dtype=float)
        self.owed[done] = 0.0
        self.backlog[done] = 0.0
        self.pipeline[done] = 0.0
        self.counts[done] = np.asarray(self.config.initial, dtype=float)

    def _observation(self) -> np.ndarray:
        k = self.num_envs
        counted = self.counts[:, 0] if self.config.count_delay else self.on_hand
        if self.config.count_noise:
            noise = self._rng.standard_normal(counted.shape) * self.config.count_noise
            counted = np.maximum(0.0, np.rint(counted * (1 + noise)))
        parts = [
            counted,
            self.owed,
            self.pipeline[:, :, 1:].reshape(k, -1),
            self.backlog[:, None],
            (self.period / self.config.periods)[:, None],
        ]
        return np.concatenate(parts, axis=1).astype(np.float32)
