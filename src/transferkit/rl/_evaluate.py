"""Episodes of a policy, and what they say: the mean return with a 95 % interval.

Every policy (agent or baseline) plays the same seeded episodes, so two policies are
compared on the same demand, traffic or users (common random numbers). An environment
with invalid actions (`action_masks()`) hands its mask to the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np

EVAL_SEED = 1_000_000  # the evaluations during training
TEST_SEED = 2_000_000  # the final evaluation: episodes no evaluation during training saw


@dataclass(frozen=True)
class Score:
    """A policy's returns over seeded episodes."""

    returns: tuple[float, ...]
    regrets: tuple[float, ...] | None = None  # environments whose steps report `regret`

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def half_width(self) -> float:
        """Half the width of the 95 % t-interval of the mean (0 for one episode)."""
        return interval_half_width(self.returns)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "mean": self.mean,
            "low": self.mean - self.half_width,
            "high": self.mean + self.half_width,
            "episodes": len(self.returns),
            "returns": list(self.returns),
        }
        if self.regrets is not None:
            out["regret"] = float(np.mean(self.regrets))
            out["regret_half_width"] = interval_half_width(self.regrets)
            out["regrets"] = list(self.regrets)
        return out


def interval_half_width(values: Sequence[float]) -> float:
    """Half the width of the 95 % Student t-interval of the mean of `values`."""
    n = len(values)
    if n < 2:
        return 0.0
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1) * np.std(values, ddof=1) / np.sqrt(n))


def play(
    env: gymnasium.Env, policy: Any, seed: int, deterministic: bool = True,
    watch: Callable[[dict[str, Any]], None] | None = None,
    tally: dict[str, float] | None = None,
) -> float:  # fmt: skip
    """One episode from `env.reset(seed=seed)`; its undiscounted return. `watch` receives
    each step's observation, action, reward and info (for the report's pictures); `tally`
    sums the steps' `regret` where the environment reports one."""
    observation, _ = env.reset(seed=seed)
    masks = getattr(env.unwrapped, "action_masks", None)
    total, done = 0.0, False
    while not done:
        extra = {"action_masks": masks()} if masks is not None else {}
        action, _ = policy.predict(observation, deterministic=deterministic, **extra)
        after, reward, terminated, truncated, info = env.step(action)
        if watch is not None:
            watch({"observation": observation, "action": action, "reward": reward, "info": info})
        if tally is not None and "regret" in info:
            tally["regret"] = tally.get("regret", 0.0) + float(info["regret"])
        observation, total = after, total + float(reward)
        done = terminated or truncated
    return total


def score(make_env: Callable[[], gymnasium.Env], policy: Any, episodes: int, seed: int) -> Score:
    """`policy`'s returns over `episodes` episodes seeded `seed`, `seed + 1`, ..."""
    env = make_env()
    returns, regrets = [], []
    try:
        for i in range(episodes):
            tally: dict[str, float] = {}
            returns.append(play(env, policy, seed + i, tally=tally))
            if "regret" in tally:
                regrets.append(tally["regret"])
    finally:
        env.close()
    return Score(tuple(returns), tuple(regrets) if regrets else None)


def verdict(evaluation: dict[str, Any]) -> str:
    """One sentence: is the agent better than the best baseline, with the paired interval."""
    baselines = {k: v for k, v in evaluation["baselines"].items() if k != "random"}
    if not baselines:
        baselines = evaluation["baselines"]
    name, best = max(baselines.items(), key=lambda item: item[1]["mean"])
    rel = best["relative"]
    gap = f" ({100 * rel:+.1f} %)" if rel is not None else ""
    span = f"[{best['difference_low']:+.2f}, {best['difference_high']:+.2f}]"
    if best["difference_low"] > 0:
        return f"the agent BEATS the best baseline, {name}{gap}; paired difference {span}."
    if best["difference_high"] < 0:
        return (
            f"the agent TRAILS the best baseline, {name}{gap}; paired difference {span}:"
            f" use {name}, or train longer."
        )
    return f"the agent and the best baseline, {name}, are level{gap}; paired difference {span}."
