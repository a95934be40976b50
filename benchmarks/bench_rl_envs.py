"""Environment throughput: steps per second of `transferkit/Inventory-v0` (the OR-Gym
preset), single and vectorised (K = 2: Gymnasium's synchronous and subprocess vector
envs, and the native `InventoryVectorEnv` with K chains in arrays; and that one at K =
64), against a straightforward pure-Python version of the same dynamics (a loop over
stages and a list per pipeline, as a first implementation would be written).

Both are driven by the same random orders; the pure-Python version is checked to give
the same rewards as the environment on the same demand before it is timed.

Run: python benchmarks/bench_rl_envs.py
"""

from __future__ import annotations

import time

import gymnasium
import numpy as np

import transferkit.rl  # noqa: F401  (registers the environments)
from transferkit.rl import ORGYM_INV_MANAGEMENT, InventoryEnv

STEPS = 30_000


class PlainInventory:
    """The same chain, stage by stage in Python lists (no numpy in the update)."""

    def __init__(self, config) -> None:
        self.c = config

    def reset(self, demands) -> None:
        c = self.c
        self.demands, self.period = list(demands), 0
        self.on_hand = list(c.initial)
        self.owed = [0.0] * c.stages
        self.backlog = 0.0
        self.pipeline = [[0.0] * (lt + 1) for lt in c.lead_time]

    def step(self, action) -> float:
        c, n = self.c, self.c.stages
        shipped, requested = [], []
        for i in range(n):
            want = int(min(max(float(action[i]), 0.0), c.capacity[i])) + self.owed[i]
            have = self.on_hand[i + 1] if i + 1 < n else float("inf")
            requested.append(want)
            shipped.append(min(want, c.capacity[i], have))
            self.pipeline[i][c.lead_time[i]] += shipped[i]
        for i in range(n):
            self.on_hand[i] += self.pipeline[i].pop(0)
            self.pipeline[i].append(0.0)
        wanted = self.demands[self.period] + self.backlog
        sold = min(self.on_hand[0], wanted)
        self.on_hand[0] -= sold
        for i in range(1, n):
            self.on_hand[i] -= shipped[i - 1]
        unfilled = [wanted - sold] + [requested[i] - shipped[i] for i in range(n)]
        self.backlog, self.owed = unfilled[0], unfilled[1:]
        sales, bought = [sold, *shipped], [*shipped, shipped[-1]]
        profit = sum(p * s for p, s in zip(c.prices, sales, strict=True))
        profit -= sum(k * b for k, b in zip(c.costs, bought, strict=True))
        profit -= sum(k * u for k, u in zip(c.penalties, unfilled, strict=True))
        profit -= sum(h * i for h, i in zip(c.holding, self.on_hand, strict=True))
        reward = c.discount**self.period * profit
        self.period += 1
        return reward


def orders(n: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 40, size=(n, 3)).astype(np.float32)


def check_same_dynamics() -> None:
    env, plain = InventoryEnv(), PlainInventory(ORGYM_INV_MANAGEMENT)
    env.reset(seed=0)
    demands = []
    original = env._demand

    def recorded() -> float:
        demands.append(original())
        return demands[-1]

    env._demand = recorded
    actions = orders(30)
    ours = [env.step(a)[1] for a in actions]
    plain.reset(demands)
    theirs = [plain.step(a) for a in actions]
    assert np.allclose(ours, theirs), "the pure-Python version differs from the environment"


def time_env(env: gymnasium.Env) -> float:
    actions = orders(STEPS)
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return STEPS / (time.perf_counter() - start)


def time_plain() -> float:
    plain = PlainInventory(ORGYM_INV_MANAGEMENT)
    rng = np.random.default_rng(0)
    actions = orders(STEPS)
    plain.reset(rng.poisson(20, 30))
    start = time.perf_counter()
    for a in actions:
        plain.step(a)
        if plain.period >= 30:
            plain.reset(rng.poisson(20, 30))
    return STEPS / (time.perf_counter() - start)


def time_vector(kind: str, k: int = 2) -> float:
    if kind == "arrays":  # the native vector env: K chains in arrays
        envs = gymnasium.make_vec(
            "transferkit/Inventory-v0", num_envs=k, vectorization_mode="vector_entry_point"
        )
    else:
        make = gymnasium.vector.SyncVectorEnv if kind == "sync" else gymnasium.vector.AsyncVectorEnv
        envs = make([lambda: gymnasium.make("transferkit/Inventory-v0") for _ in range(k)])
    actions = orders(STEPS // k)
    envs.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        envs.step(np.stack([a] * k))  # finished episodes reset themselves
    seconds = time.perf_counter() - start
    envs.close()
    return STEPS / seconds


if __name__ == "__main__":
    check_same_dynamics()
    single = time_env(gymnasium.make("transferkit/Inventory-v0"))
    bare = time_env(InventoryEnv())
    plain = time_plain()
    sync, subprocess = time_vector("sync"), time_vector("async")
    arrays = {k: time_vector("arrays", k) for k in (2, 64)}
    print(f"inventory (OR-Gym preset), {STEPS} steps: gymnasium.make {single:,.0f} steps/s"
          f" (the bare class {bare:,.0f}); the pure-Python version {plain:,.0f} steps/s"
          f" ({bare / plain:.2f}x: ours / plain); vectorised K=2: sync {sync:,.0f},"
          f" subprocess {subprocess:,.0f}, in arrays {arrays[2]:,.0f} steps/s; in arrays"
          f" K=64: {arrays[64]:,.0f} steps/s ({arrays[64] / plain:.1f}x the pure-Python"
          " version)")  # fmt: skip
