"""Ad placement as a contextual bandit (`transferkit/AdPlacement-v0`).

Each step a user of one of `segments` arrives and the policy fills `slots` with ads (one
slot: a `Discrete` choice of ad; several: a slate, scores per ad whose top `slots` are
shown in order). Ad a clicks for a user of segment s with probability

    position_decay ** slot * sigmoid(logit(base_ctr) + ad[a] + segment[s] + both[s, a])

where the effects are drawn afresh each episode (the click-through rates are unknown to
the policy and must be learned within the episode) and the episode lasts `budget`
impressions. The reward is the clicks; `info["regret"]` is the expected clicks the best
slate would have earned beyond the one shown.

The observation is the bandit's sufficient statistics, so any policy (an agent, UCB,
Thompson sampling, LinUCB) acts on the same thing: one row per ad (its posterior mean,
spread and impressions in this user's segment and pooled over segments, then its
impressions and clicks in every segment, per budget), then the segment (one-hot) and the
share of the budget left. Impressions are counted weighted by the slot's examination
probability, so clicks over impressions estimates the rate at the first slot (the
position-based model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from transferkit._errors import TransferKitError


@dataclass(frozen=True)
class AdConfig:
    """One ad-placement problem; a variant is another config."""

    segments: int = 3
    segment_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    ads: int = 5
    slots: int = 1  # > 1: a slate (recommendations)
    position_decay: float = 0.6
    budget: int = 300  # impressions per episode
    base_ctr: float = 0.05
    ad_spread: float = 0.8  # standard deviation of each ad's effect on the logit
    segment_spread: float = 0.3
    interaction_spread: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> AdConfig:
        if self.segments < 1 or self.ads < 2 or self.budget < 1:
            raise TransferKitError(
                "ads: give at least 1 segment, 2 ads and a budget of 1 impression; got"
                f" {self.segments}, {self.ads} and {self.budget}."
            )
        if len(self.segment_weights) != self.segments or min(self.segment_weights) < 0:
            raise TransferKitError(
                f"ads `segment_weights` needs {self.segments} non-negative values (one per"
                f" segment); got {self.segment_weights}."
            )
        if not 1 <= self.slots <= self.ads:
            raise TransferKitError(
                f"ads `slots` must be from 1 to the number of ads ({self.ads}); got {self.slots}."
            )
        if not 0 < self.base_ctr < 1 or not 0 < self.position_decay <= 1:
            raise TransferKitError("ads `base_ctr` must be in (0, 1), `position_decay` in (0, 1].")
        if min(self.ad_spread, self.segment_spread, self.interaction_spread) < 0:
            raise TransferKitError("ads effect spreads cannot be negative.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def posterior(clicks: np.ndarray, shown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beta(1 + clicks, 1 + misses) mean and standard deviation."""
    a, b = 1.0 + clicks, 1.0 + np.maximum(shown - clicks, 0.0)
    mean = a / (a + b)
    return mean, np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


class AdPlacementEnv(gymnasium.Env[np.ndarray, Any]):
    """The bandit of `AdConfig`, one user per step."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, config: AdConfig | None = None, **settings: Any) -> None:
        base = config or AdConfig()
        self.config = c = (replace(base, **settings) if settings else base).check()
        if c.slots == 1:
            self.action_space: spaces.Space[Any] = spaces.Discrete(c.ads)
        else:
            self.action_space = spaces.Box(-1.0, 1.0, shape=(c.ads,), dtype=np.float32)
        self.row_features, self.global_features = 6 + 2 * c.segments, c.segments + 1
        size = c.ads * self.row_features + self.global_features
        high = np.full(size, np.float32(max(c.slots, 1) + 1))
        self.observation_space = spaces.Box(np.zeros(size, np.float32), high, dtype=np.float32)
        self.bias = c.position_decay ** np.arange(c.slots)
        self.weights = np.asarray(c.segment_weights, dtype=float) / sum(c.segment_weights)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        c, rng = self.config, self.np_random
        logit = (
            np.log(c.base_ctr / (1 - c.base_ctr))
            + c.ad_spread * rng.standard_normal(c.ads)[None, :]
            + c.segment_spread * rng.standard_normal(c.segments)[:, None]
            + c.interaction_spread * rng.standard_normal((c.segments, c.ads))
        )
        self.ctr = 1.0 / (1.0 + np.exp(-logit))  # (segments, ads), unknown to the policy
        self.shown = np.zeros((c.segments, c.ads))
        self.clicks = np.zeros((c.segments, c.ads))
        self.t = 0
        self.segment = int(rng.choice(c.segments, p=self.weights))
        return self._observation(), {}

    def slate(self, action: Any) -> np.ndarray:
        """The ads shown, best slot first."""
        c = self.config
        if c.slots == 1:
            value = np.asarray(action)
            whole = value.size == 1 and float(value.item()).is_integer()
            if not whole or not 0 <= int(value.item()) < c.ads:
                raise TransferKitError(
                    f"ads action {action!r} is outside the action space: give an ad index"
                    f" from 0 to {c.ads - 1}."
                )
            return np.array([int(np.asarray(action).item())])
        scores = np.asarray(action, dtype=float)
        if scores.shape != (c.ads,):
            raise TransferKitError(
                f"ads action has shape {scores.shape}: give one score per ad ({c.ads})."
            )
        return np.argsort(-scores, kind="stable")[: c.slots]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        c, s = self.config, self.segment
        shown = self.slate(action)
        p = self.bias * self.ctr[s, shown]
        clicked = self.np_random.random(len(shown)) < p
        self.shown[s, shown] += self.bias
        self.clicks[s, shown] += clicked
        best = self.bias @ np.sort(self.ctr[s])[::-1][: c.slots]
        info = {"segment": s, "shown": shown, "clicked": clicked, "expected": float(p.sum()),
                "regret": float(best - p.sum())}  # fmt: skip
        self.t += 1
        self.segment = int(self.np_random.choice(c.segments, p=self.weights))
        return self._observation(), float(clicked.sum()), self.t >= c.budget, False, info

    def _observation(self) -> np.ndarray:
        c, s = self.config, self.segment
        mean, spread = posterior(self.clicks[s], self.shown[s])
        pooled_mean, pooled_spread = posterior(self.clicks.sum(0), self.shown.sum(0))
        rows = np.column_stack([
            mean, spread, self.shown[s] / c.budget,
            pooled_mean, pooled_spread, self.shown.sum(0) / c.budget,
            (self.shown / c.budget).T, (self.clicks / c.budget).T,
        ])  # fmt: skip
        glob = np.append(np.eye(c.segments)[s], 1 - self.t / c.budget)
        return np.concatenate([rows.ravel(), glob]).astype(np.float32)


def table(config: AdConfig, observation: Any) -> tuple[int, np.ndarray, np.ndarray, float]:
    """(segment, impressions table, clicks table, impressions so far) from an
    observation: the baselines' whole view."""
    c, obs = config, np.asarray(observation, dtype=float)
    width = 6 + 2 * c.segments
    rows = obs[: c.ads * width].reshape(c.ads, width)
    glob = obs[c.ads * width :]
    shown = rows[:, 6 : 6 + c.segments].T * c.budget
    clicks = rows[:, 6 + c.segments :].T * c.budget
    return int(np.argmax(glob[: c.segments])), shown, clicks, (1 - glob[-1]) * c.budget
