"""The pricing policies an agent is held against: the best constant price, the myopic
price (the best revenue this period, blind to the stock's future value), and the exact
optimum by dynamic programming where the market is deterministic (no reference price, a
competitor that does not move): the limit no policy can beat on that instance."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import poisson

from transferkit._errors import TransferKitError
from transferkit.rl._pricing import PricingConfig, PricingEnv, demand_mean


def expected_sales(mean: Any, stock: int) -> Any:
    """E[min(D, stock)] for Poisson demand D of `mean`: the sum of P(D > k), k < stock."""
    if stock <= 0:
        return np.zeros_like(np.asarray(mean, dtype=float))
    k = np.arange(stock)
    return poisson.sf(k[:, None], np.atleast_1d(mean)[None, :]).sum(0).reshape(np.shape(mean))


def _state(config: PricingConfig, observation: Any) -> tuple[int, int, float, float]:
    obs = np.asarray(observation, dtype=float)
    stock = round(float(obs[0]) * config.stock)
    period = round(float(obs[1]) * config.periods)
    return period, stock, float(obs[2]) * config.anchor, float(obs[3]) * config.anchor


class ConstantPrice:
    """One price for the whole horizon."""

    name = "constant price"

    def __init__(self, config: PricingConfig, index: int) -> None:
        self.config, self.index = config, int(index)

    def predict(self, observation: Any, state: Any = None, **extra: Any) -> tuple[int, Any]:
        return self.index, state

    def describe(self) -> dict[str, Any]:
        return {"price": self.config.prices[self.index]}


class MyopicPrice:
    """The price of the highest expected revenue this period, given the stock left, the
    reference and the competitor's price now."""

    name = "myopic price"

    def __init__(self, config: PricingConfig) -> None:
        self.config, self.prices = config, np.asarray(config.prices, dtype=float)

    def predict(self, observation: Any, state: Any = None, **extra: Any) -> tuple[int, Any]:
        _, stock, reference, competitor = _state(self.config, observation)
        mean = demand_mean(self.config, self.prices, reference, competitor)
        return int(np.argmax(self.prices * expected_sales(mean, stock))), state

    def describe(self) -> dict[str, Any]:
        return {}


class DynamicProgrammingPrice:
    """The optimal price for each (period, stock), by backward induction over the exact
    Poisson demand; `value` is the optimal expected revenue from the start."""

    name = "dp optimum"

    def __init__(self, config: PricingConfig) -> None:
        if not config.deterministic_market:
            raise TransferKitError(
                "the dynamic-programming optimum needs a deterministic market: set"
                " `reference_effect`, `competitor_noise` and `competitor_reaction` to 0."
            )
        self.config = config
        prices = np.asarray(config.prices, dtype=float)
        mean = demand_mean(config, prices, config.anchor, config.competitor_price)
        size = config.stock + 1
        value = np.zeros((config.periods + 1, size))
        value[-1] = config.salvage * np.arange(size)
        self.choice = np.zeros((config.periods, size), dtype=int)
        for t in range(config.periods - 1, -1, -1):
            for s in range(1, size):
                # P(sell k) for k < s, and P(sell s) = P(D >= s); revenue + what is left
                pmf = poisson.pmf(np.arange(s)[None, :], mean[:, None])
                tail = poisson.sf(s - 1, mean)
                sold = np.arange(s)
                worth = prices[:, None] * sold[None, :] + value[t + 1, s - sold][None, :]
                total = (pmf * worth).sum(1) + tail * (prices * s + value[t + 1, 0])
                best = int(np.argmax(total))
                self.choice[t, s], value[t, s] = best, total[best]
        self.values = value
        self.value = float(value[0, config.stock])

    def predict(self, observation: Any, state: Any = None, **extra: Any) -> tuple[int, Any]:
        period, stock, _, _ = _state(self.config, observation)
        period = min(max(period, 0), self.config.periods - 1)
        return int(self.choice[period, min(max(stock, 0), self.config.stock)]), state

    def describe(self) -> dict[str, Any]:
        return {"expected revenue": round(self.value, 2)}


def tune_constant(config: PricingConfig, episodes: int = 200, seed: int = 0) -> ConstantPrice:
    """The constant price of the highest mean revenue over `episodes` episodes."""
    from transferkit.rl._evaluate import score

    scores = [
        score(lambda: PricingEnv(config), ConstantPrice(config, i), episodes, seed).mean
        for i in range(len(config.prices))
    ]
    return ConstantPrice(config, int(np.argmax(scores)))


def pricing_baselines(config: PricingConfig, seed: int) -> dict[str, Any]:
    found: dict[str, Any] = {
        "constant price": tune_constant(config, seed=seed),
        "myopic price": MyopicPrice(config),
    }
    if config.deterministic_market:
        found["dp optimum"] = DynamicProgrammingPrice(config)
    return found
