"""The inventory environment and its base-stock baseline: Gymnasium's checks, determinism
under a seed, each cost term on hand-worked steps, the newsvendor case, bad configs."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from transferkit._errors import TransferKitError  # noqa: E402
from transferkit.rl import (  # noqa: E402
    ORGYM_INV_MANAGEMENT,
    InventoryConfig,
    InventoryEnv,
    tune_base_stock,
    tune_s_s,
)

ONE_STAGE = InventoryConfig(
    periods=6, initial=(10.0,), prices=(5.0, 2.0), costs=(2.0, 1.0), penalties=(0.5, 0.25),
    holding=(0.1,), capacity=(50.0,), lead_time=(2,), demand_mean=4.0,
)  # fmt: skip


@pytest.mark.parametrize(
    "config",
    [
        ORGYM_INV_MANAGEMENT,
        replace(ORGYM_INV_MANAGEMENT, backlog=False),
        ONE_STAGE,
        replace(
            ONE_STAGE,
            demand="negative-binomial",
            season_amplitude=0.5,
            trend=0.01,
            shock_probability=0.1,
        ),
    ],
)
def test_gymnasium_checks_every_preset(config):
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its advice on unbounded boxes
        check_env(InventoryEnv(config), skip_render_check=True)


def test_registered_and_deterministic_under_a_seed():
    env = gymnasium.make("transferkit/Inventory-v0")
    assert env.unwrapped.config == ORGYM_INV_MANAGEMENT

    def episode(seed: int) -> list[float]:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        rewards, done = [], False
        while not done:
            _, reward, done, _, _ = env.step(env.action_space.sample())
            rewards.append(reward)
        return rewards

    assert episode(3) == episode(3)
    assert episode(3) != episode(4)
    assert len(episode(3)) == 30


def test_each_cost_term_on_hand_worked_steps():
    env = InventoryEnv(replace(ONE_STAGE, discount=1.0))
    env.reset(seed=0)
    env._demand = lambda: 4.0  # a known demand each period
    # period 0: order 7 (lead time 2); 10 on hand, 4 sold, 6 left
    _, reward, _, _, info = env.step(np.array([7.0]))
    assert info["sold"] == 4 and info["on_hand"][0] == 6
    # sales 5*4 + the plant sells 7 at 2; stage 0 pays 2*7, the plant produces at 1*7;
    # nothing unfilled; holding 0.1 * 6
    assert reward == pytest.approx(5 * 4 + 2 * 7 - 2 * 7 - 1 * 7 - 0.1 * 6)
    # period 1: nothing arrives yet; period 2: the 7 ordered at period 0 arrive
    _, _, _, _, info = env.step(np.array([0.0]))
    assert info["on_hand"][0] == 2
    _, _, _, _, info = env.step(np.array([0.0]))
    assert info["on_hand"][0] == 2 + 7 - 4
    # period 3: 5 on hand, demand 9 this time: 5 sold, 4 backlogged at 0.5 each
    env._demand = lambda: 9.0
    _, reward, _, _, info = env.step(np.array([0.0]))
    assert info["sold"] == 5 and info["unfilled"][0] == 4
    assert reward == pytest.approx(5 * 5 - 0.5 * 4)
    # the backlog is served first the next period, and counted in the observation
    assert env.customer_backlog == 4
    # lost sales: the same shortfall is lost, not carried
    lost = InventoryEnv(replace(ONE_STAGE, backlog=False, initial=(3.0,)))
    lost.reset(seed=0)
    lost._demand = lambda: 5.0
    lost.step(np.array([0.0]))
    assert lost.customer_backlog == 0


def test_a_supplier_ships_only_what_it_holds():
    config = InventoryConfig(
        periods=5, initial=(0.0, 3.0), prices=(4.0, 2.0, 1.0), costs=(2.0, 1.0, 0.5),
        penalties=(0.0, 0.0, 0.0), holding=(0.0, 0.0), capacity=(50.0, 50.0),
        lead_time=(0, 1), demand_mean=0.0,
    )  # fmt: skip
    env = InventoryEnv(config)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([10.0, 0.0]))
    # stage 1 holds 3: it ships 3 (arriving at once, lead time 0) and owes 7
    assert list(info["shipped"]) == [3.0, 0.0] and env.owed[0] == 7
    assert info["on_hand"][0] == 3 and info["on_hand"][1] == 0


def test_base_stock_finds_the_newsvendor_quantile_on_one_period():
    from scipy.stats import poisson

    # one period, lost sales, no holding: underage 2 - 0.5, overage 0.5 (the plant's cost)
    config = InventoryConfig(
        periods=1, initial=(0.0,), prices=(2.0, 1.0), costs=(1.0, 0.5), penalties=(0.0, 0.0),
        holding=(0.0,), capacity=(100.0,), lead_time=(0,), backlog=False, demand_mean=20.0,
    )  # fmt: skip
    policy, _ = tune_base_stock(config, episodes=2000, span=6, rounds=1)
    assert policy.levels[0] == poisson.ppf((2.0 - 0.5) / 2.0, 20.0)  # the critical fractile


def test_s_s_pays_only_when_an_order_has_a_fixed_cost():
    # without a fixed cost (s, S) can do no better than base-stock (s = S is base-stock);
    # with one, ordering every period is wasteful and a gap s < S is chosen and pays
    plain = replace(ONE_STAGE, periods=12, backlog=True)
    costly = replace(plain, fixed_cost=6.0)
    _, base_plain = tune_base_stock(plain, episodes=300, span=12, rounds=1)
    _, ss_plain_score = tune_s_s(plain, episodes=300, span=12, rounds=1)
    assert ss_plain_score == pytest.approx(base_plain, abs=0.05 * abs(base_plain) + 0.1)
    _, base_costly = tune_base_stock(costly, episodes=300, span=12, rounds=1)
    ss, ss_costly = tune_s_s(costly, episodes=300, span=12, rounds=1)
    assert ss_costly > base_costly + 1.0
    assert (ss.s < ss.big_s).all()
    env = InventoryEnv(costly)
    observation, _ = env.reset(seed=3)
    orders = 0
    for _ in range(costly.periods):
        action, _ = ss.predict(observation)
        assert env.action_space.contains(action)
        orders += int(action[0] > 0)
        observation, *_ = env.step(action)
    assert orders < costly.periods  # it skips periods


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"demand_mean": -1.0}, r"demand cannot be negative"),
        ({"lead_time": (3, 5, 40)}, r"`lead_time` \(3, 5, 40\) must be from 0 to periods - 1"),
        ({"holding": (0.1,)}, r"`holding` has 1 values for 3 stages"),
        ({"capacity": (100.0, 0.0, 80.0)}, r"`capacity` must be positive"),
        ({"demand": "gamma"}, r"`demand` 'gamma' is not one of"),
    ],
)
def test_bad_configs_are_one_line(settings, message):
    with pytest.raises(TransferKitError, match=message):
        InventoryEnv(replace(ORGYM_INV_MANAGEMENT, **settings))


def test_the_vector_env_steps_k_chains_as_k_single_envs():
    from transferkit.rl import InventoryVectorEnv

    k, rng = 3, np.random.default_rng(1)
    demands = rng.poisson(20, size=(31, k)).astype(float)
    orders = rng.uniform(0, 60, size=(31, k, 3)).astype(np.float32)
    vector = gymnasium.make_vec(
        "transferkit/Inventory-v0", num_envs=k, vectorization_mode="vector_entry_point"
    )
    assert isinstance(vector, InventoryVectorEnv)
    obs, _ = vector.reset(seed=0)
    singles = [InventoryEnv() for _ in range(k)]
    for j, env in enumerate(singles):
        first, _ = env.reset(seed=0)
        np.testing.assert_array_equal(first, obs[j])
    for t in range(30):
        vector._demand = lambda t=t: demands[t]
        obs, rewards, done, _, infos = vector.step(orders[t])
        for j, env in enumerate(singles):
            env._demand = lambda t=t, j=j: float(demands[t, j])
            single_obs, reward, ended, _, _ = env.step(orders[t, j])
            assert reward == pytest.approx(rewards[j])
            assert ended == done[j]
            expected = single_obs if not ended else infos["final_obs"][j]
            np.testing.assert_allclose(expected, single_obs, rtol=1e-6)
            if not ended:
                np.testing.assert_allclose(obs[j], single_obs, rtol=1e-6)
    # every episode ended at period 30 and restarted in the same step
    assert done.all() and (obs[:, -1] == 0).all()
    np.testing.assert_array_equal(obs[:, :3], np.tile(ORGYM_INV_MANAGEMENT.initial, (k, 1)))


def test_stock_counts_can_arrive_late_and_noisy():
    late = InventoryEnv(replace(ONE_STAGE, count_delay=1))
    obs, _ = late.reset(seed=0)
    assert obs[0] == 10.0
    obs, _, _, _, info = late.step(np.array([0.0], dtype=np.float32))
    assert obs[0] == 10.0 and info["on_hand"][0] != 10.0  # the count is a period late
    obs, _, _, _, _ = late.step(np.array([0.0], dtype=np.float32))
    assert obs[0] == info["on_hand"][0]
    noisy = InventoryEnv(replace(ONE_STAGE, initial=(100.0,), count_noise=0.1))
    counts = [noisy.reset(seed=s)[0][0] for s in range(30)]
    assert counts != [100.0] * 30 and 60 < np.mean(counts) < 140
    from transferkit.rl import InventoryVectorEnv

    vector = InventoryVectorEnv(3, replace(ONE_STAGE, count_delay=1))
    vector.reset(seed=0)
    after, *_ = vector.step(np.zeros((3, 1), dtype=np.float32))
    assert (after[:, 0] == 10.0).all()  # the same delay in arrays
