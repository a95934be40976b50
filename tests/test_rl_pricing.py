"""The pricing environment and its baselines: Gymnasium's checks, determinism, a sale on
a hand-worked step, the dynamic-programming optimum on a two-period case worked by hand,
the myopic price where its answer is known, bad configs and actions."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from transferkit._errors import TransferKitError  # noqa: E402
from transferkit.rl import (  # noqa: E402
    DynamicProgrammingPrice,
    MyopicPrice,
    PricingConfig,
    PricingEnv,
)
from transferkit.rl._catalog import choose  # noqa: E402
from transferkit.rl._evaluate import score  # noqa: E402

FLAT = PricingConfig(reference_effect=0.0, competitor_noise=0.0, cross_elasticity=0.0)


@pytest.mark.parametrize("preset", ["default", "small", "reactive-competitor"])
def test_gymnasium_checks_every_preset(preset):
    from gymnasium.utils.env_checker import check_env

    env = choose(f"pricing:{preset}").make()
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)
        check_env(env, skip_render_check=True)


def test_registered_and_deterministic_under_a_seed():
    def episode(seed):
        env = gymnasium.make("transferkit/DynamicPricing-v0")
        env.reset(seed=seed)
        env.action_space.seed(seed)
        rewards, done = [], False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            rewards.append(reward)
            done = terminated or truncated
        return rewards

    assert episode(4) == episode(4)
    assert episode(4) != episode(5)


def test_a_sale_reduces_stock_and_earns_its_price():
    env = PricingEnv(replace(FLAT, stock=3, base_demand=50.0))  # demand far above stock
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(2)  # 30.0
    assert info["sold"] == 3 and info["demand"] > 3  # capped by the stock
    assert reward == 3 * 30.0 and env.stock == 0 and terminated  # sold out ends the season
    env = PricingEnv(replace(FLAT, stock=100, salvage=2.0, periods=1, base_demand=1.0))
    env.reset(seed=1)
    _, reward, terminated, _, info = env.step(0)
    assert terminated and reward == 20.0 * info["sold"] + 2.0 * (100 - info["sold"])


def test_the_dp_optimum_on_two_periods_worked_by_hand():
    # one unit to sell over two periods at 20 or 80; mean demand at p: 1 * exp(-(p/40 - 1))
    config = replace(FLAT, periods=2, stock=1, prices=(20.0, 80.0), base_demand=1.0)
    sell = {p: 1 - math.exp(-math.exp(-(p / 40 - 1))) for p in (20.0, 80.0)}  # P(D >= 1)
    last = max(p * q for p, q in sell.items())  # the last period: sell now or never
    first = max(p * q + (1 - q) * last for p, q in sell.items())
    dp = DynamicProgrammingPrice(config)
    assert dp.value == pytest.approx(first)
    assert dp.values[1, 1] == pytest.approx(last)
    best_last = max(sell, key=lambda p: p * sell[p])
    best_first = max(sell, key=lambda p: p * sell[p] + (1 - sell[p]) * last)
    assert config.prices[dp.choice[1, 1]] == best_last
    assert config.prices[dp.choice[0, 1]] == best_first
    simulated = score(lambda: PricingEnv(config), dp, 4000, 0).mean
    assert simulated == pytest.approx(first, rel=0.05)


def test_no_policy_beats_the_dp_optimum_and_myopic_prices_for_revenue_now():
    config = choose("pricing:small").config
    dp = DynamicProgrammingPrice(config)
    baselines = choose("pricing:small").baselines(0)
    for name, policy in baselines.items():
        got = score(lambda: PricingEnv(config), policy, 400, 7)
        assert got.mean <= dp.value + got.half_width, name
    # stock to spare and no other effect: the revenue-best price is anchor / elasticity
    plenty = replace(FLAT, stock=10_000, elasticity=1.0, anchor=40.0)
    action, _ = MyopicPrice(plenty).predict(PricingEnv(plenty).reset(seed=0)[0])
    assert plenty.prices[action] == 40.0


def test_bad_configs_and_actions_are_one_line():
    with pytest.raises(TransferKitError, match=r"demand cannot be negative"):
        PricingConfig(base_demand=-1.0).check()
    with pytest.raises(TransferKitError, match=r"`prices` must be positive"):
        PricingConfig(prices=(0.0, 10.0)).check()
    with pytest.raises(TransferKitError, match=r"needs a deterministic market"):
        DynamicProgrammingPrice(PricingConfig())
    env = PricingEnv()
    env.reset(seed=0)
    with pytest.raises(TransferKitError, match=r"pricing action 11 is outside the action space"):
        env.step(11)
    assert np.isfinite(env.step(0)[1])
