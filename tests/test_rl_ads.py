"""The ad-placement bandit and its baselines: Gymnasium's checks, determinism, clicks and
regret on a hand-worked step, the observation's table, each bandit on a case with a known
answer, slates, bad configs and actions."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from transferkit._errors import TransferKitError  # noqa: E402
from transferkit.rl import (  # noqa: E402
    UCB1,
    AdConfig,
    AdPlacementEnv,
    EpsilonGreedy,
    LinUCB,
    ThompsonSampling,
)
from transferkit.rl._ads import table  # noqa: E402
from transferkit.rl._catalog import choose  # noqa: E402
from transferkit.rl._evaluate import play  # noqa: E402


@pytest.mark.parametrize("preset", ["default", "slate"])
def test_gymnasium_checks_every_preset(preset):
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)
        check_env(choose(f"ads:{preset}").make(), skip_render_check=True)


def test_registered_and_deterministic_under_a_seed():
    def episode(seed):
        env = gymnasium.make("transferkit/AdPlacement-v0", budget=50)
        env.reset(seed=seed)
        env.action_space.seed(seed)
        return [env.step(env.action_space.sample())[1] for _ in range(50)]

    assert episode(3) == episode(3)
    assert episode(3) != episode(4)


def test_a_click_regret_and_the_table_on_hand_worked_steps():
    env = AdPlacementEnv(AdConfig(segments=1, segment_weights=(1.0,), ads=2, budget=5))
    env.reset(seed=0)
    env.ctr = np.array([[1.0, 0.0]])  # ad 0 always clicks, ad 1 never
    obs, reward, _, _, info = env.step(1)
    assert reward == 0.0 and info["regret"] == 1.0
    obs, reward, _, _, info = env.step(0)
    assert reward == 1.0 and info["regret"] == 0.0
    segment, shown, clicks, used = table(env.config, obs)
    assert segment == 0 and used == pytest.approx(2)
    assert shown == pytest.approx(np.array([[1.0, 1.0]]))
    assert clicks == pytest.approx(np.array([[1.0, 0.0]]))
    # a slate: the second slot is examined with probability position_decay
    slate = AdPlacementEnv(AdConfig(segments=1, segment_weights=(1.0,), ads=3, slots=2))
    slate.reset(seed=0)
    slate.ctr = np.array([[1.0, 1.0, 0.0]])
    _, _, _, _, info = slate.step(np.array([0.0, 1.0, -1.0], dtype=np.float32))
    assert info["shown"].tolist() == [1, 0]  # ranked by score
    assert info["expected"] == pytest.approx(1.0 + 0.6) and info["regret"] == pytest.approx(0.0)


@pytest.mark.parametrize("policy", [EpsilonGreedy, UCB1, ThompsonSampling, LinUCB])
def test_each_bandit_finds_the_one_good_ad(policy):
    # one ad clicks 60 % of the time, the others 5 %: after the episode, the good ad has
    # most of the impressions in every segment
    config = AdConfig(budget=400)
    env = AdPlacementEnv(config)
    env.reset(seed=1)
    bandit = policy(config)
    good = 3
    shown = np.zeros(config.ads)
    observation, _ = env.reset(seed=1)
    env.ctr = np.full((config.segments, config.ads), 0.05)
    env.ctr[:, good] = 0.6
    for _ in range(config.budget):
        action, _ = bandit.predict(observation)
        shown[action] += 1
        observation, *_ = env.step(action)
    assert shown.argmax() == good and shown[good] > 0.6 * config.budget


def test_the_bandits_beat_random_over_episodes():
    choice = choose("ads:slate")
    regret = {}
    for name, policy in choice.baselines(0).items():
        total = []
        for seed in range(20):
            steps = []
            play(choice.make(), policy, 100 + seed, watch=steps.append)
            total.append(sum(s["info"]["regret"] for s in steps))
        regret[name] = np.mean(total)
    assert set(regret) == {"random", "ε-greedy", "UCB1", "Thompson", "LinUCB"}
    for name in ("ε-greedy", "UCB1", "Thompson", "LinUCB"):
        assert regret[name] < 0.8 * regret["random"], regret


def test_bad_configs_and_actions_are_one_line():
    with pytest.raises(TransferKitError, match=r"`segment_weights` needs 3"):
        AdConfig(segment_weights=(1.0,)).check()
    with pytest.raises(TransferKitError, match=r"`slots` must be from 1 to the number of ads"):
        AdConfig(slots=9).check()
    env = AdPlacementEnv()
    env.reset(seed=0)
    with pytest.raises(TransferKitError, match=r"ads action 7 is outside the action space"):
        env.step(7)
    slate = AdPlacementEnv(replace(AdConfig(), slots=2))
    slate.reset(seed=0)
    with pytest.raises(TransferKitError, match=r"one score per ad \(5\)"):
        slate.step(np.zeros(3, dtype=np.float32))
