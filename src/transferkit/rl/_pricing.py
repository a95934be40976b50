"""Dynamic pricing as a Gymnasium environment (`transferkit/DynamicPricing-v0`).

A finite stock is sold over a horizon of periods. Each period the seller picks a price
from a grid (the action is its index); demand is Poisson with mean

    base_demand * exp(-elasticity * (price / anchor - 1))    (semi-log: the revenue-best
                                                              price is anchor / elasticity)
                * exp(-reference_effect * (price - reference) / reference)
                * exp(cross_elasticity * (competitor - price) / competitor)

where the reference price is what customers have come to expect (exponential smoothing of
past prices: a price above it loses extra demand, below it wins some) and the competitor's
price mean-reverts to its own level with noise and follows ours by `competitor_reaction`.
Sales are capped by the stock left; the reward is the period's revenue, plus the salvage
value of the stock left at the end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from transferkit._errors import TransferKitError


@dataclass(frozen=True)
class PricingConfig:
    """One pricing problem; a variant is another config (`dataclasses.replace`)."""

    periods: int = 20
    stock: int = 60
    prices: tuple[float, ...] = (20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 70.0, 80.0)
    anchor: float = 40.0  # the price at which mean demand is base_demand (no other effect)
    base_demand: float = 4.0
    elasticity: float = 1.0
    reference_effect: float = 0.5  # 0: customers have no reference price
    reference_memory: float = 0.7  # reference <- memory * reference + (1 - memory) * price
    competitor_price: float = 40.0
    competitor_persistence: float = 0.8
    competitor_noise: float = 2.0  # standard deviation of its price moves
    competitor_reaction: float = 0.0  # share of the gap to our price it closes each period
    cross_elasticity: float = 0.5
    salvage: float = 0.0  # value of each unit left at the end
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> PricingConfig:
        if self.periods < 1 or self.stock < 0:
            raise TransferKitError(
                f"pricing `periods` must be at least 1 and `stock` not negative; got"
                f" {self.periods} and {self.stock}."
            )
        if not self.prices or min(self.prices) <= 0:
            raise TransferKitError(f"pricing `prices` must be positive; got {self.prices}.")
        if self.base_demand < 0:
            raise TransferKitError(
                f"pricing demand cannot be negative (`base_demand` {self.base_demand})."
            )
        if self.anchor <= 0 or self.competitor_price <= 0:
            raise TransferKitError("pricing `anchor` and `competitor_price` must be positive.")
        if not 0 <= self.reference_memory < 1 or not 0 <= self.competitor_persistence <= 1:
            raise TransferKitError(
                "pricing `reference_memory` must be in [0, 1) and `competitor_persistence`"
                " in [0, 1]."
            )
        if min(self.elasticity, self.reference_effect, self.competitor_noise, self.salvage) < 0:
            raise TransferKitError(
                "pricing `elasticity`, `reference_effect`, `competitor_noise` and `salvage`"
                " cannot be negative."
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def deterministic_market(self) -> bool:
        """No reference price and a competitor that neither moves at random nor reacts:
        the state is (period, stock) and dynamic programming is exact."""
        return (
            self.reference_effect == 0
            and self.competitor_noise == 0
            and self.competitor_reaction == 0
        )


def demand_mean(c: PricingConfig, price: Any, reference: Any, competitor: Any) -> Any:
    """The mean demand at `price` (arrays broadcast)."""
    price = np.asarray(price, dtype=float)
    return (
        c.base_demand
        * np.exp(-c.elasticity * (price / c.anchor - 1))
        * np.exp(-c.reference_effect * (price - reference) / reference)
        * np.exp(c.cross_elasticity * (competitor - price) / competitor)
    )


class PricingEnv(gymnasium.Env[np.ndarray, np.int64]):
    """The seller of `PricingConfig`. Observation: stock left (share of the initial),
    share of the horizon gone, reference and competitor prices and our last price (each
    over `anchor`)."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, config: PricingConfig | None = None, **settings: Any) -> None:
        base = config or PricingConfig()
        self.config = (replace(base, **settings) if settings else base).check()
        self.prices = np.asarray(self.config.prices, dtype=float)
        self.action_space = spaces.Discrete(len(self.prices))
        c = self.config
        top = max(max(c.prices), 5 * c.competitor_price) / c.anchor
        high = np.array([1.0, 1.0, top, top, top], dtype=np.float32)
        self.observation_space = spaces.Box(np.zeros(5, dtype=np.float32), high, dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        c = self.config
        self.period, self.stock = 0, int(c.stock)
        self.reference = self.last_price = float(c.anchor)
        self.competitor = float(c.competitor_price)
        return self._observation(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        c = self.config
        if not self.action_space.contains(np.int64(action)) or np.ndim(action) != 0:
            raise TransferKitError(
                f"pricing action {action!r} is outside the action space: give a price index"
                f" from 0 to {len(self.prices) - 1}."
            )
        price = float(self.prices[int(action)])
        mean = float(demand_mean(c, price, self.reference, self.competitor))
        demand = int(self.np_random.poisson(mean))
        sold = min(demand, self.stock)
        self.stock -= sold
        reward = price * sold
        info = {"price": price, "demand": demand, "sold": sold, "mean_demand": mean,
                "competitor": self.competitor, "reference": self.reference}  # fmt: skip
        self.reference = c.reference_memory * self.reference + (1 - c.reference_memory) * price
        move = c.competitor_persistence * (self.competitor - c.competitor_price)
        react = c.competitor_reaction * (price - self.competitor)
        noise = c.competitor_noise * self.np_random.standard_normal() if c.competitor_noise else 0.0
        moved = c.competitor_price + move + react + noise
        self.competitor = float(np.clip(moved, 0.05 * c.competitor_price, 5 * c.competitor_price))
        self.last_price, self.period = price, self.period + 1
        done = self.period >= c.periods or self.stock == 0
        if done:
            reward += c.salvage * self.stock
        return self._observation(), float(reward), done, False, info

    def _observation(self) -> np.ndarray:
        c = self.config
        return np.array(
            [self.stock / max(c.stock, 1), self.period / c.periods, self.reference / c.anchor,
             self.competitor / c.anchor, self.last_price / c.anchor],
            dtype=np.float32,
        )  # fmt: skip
