"""Gymnasium's games with their physics as a config: every preset passes the checks,
the physics are the config's, a delayed action takes effect later, observation noise is
seeded, the heuristics play their games."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from transferkit._errors import TransferKitError  # noqa: E402
from transferkit.rl import GameConfig, GameEnv  # noqa: E402
from transferkit.rl._catalog import KINDS, choose  # noqa: E402
from transferkit.rl._evaluate import score  # noqa: E402

GAME_PRESETS = [f"{k}:{p}" for k in ("cartpole", "mountaincar", "acrobot")
                for p in KINDS[k].presets]  # fmt: skip


@pytest.mark.parametrize("name", GAME_PRESETS)
def test_gymnasium_checks_every_preset(name):
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Gymnasium's advice on its own unbounded boxes
        check_env(choose(name).make(), skip_render_check=True)


def test_the_physics_are_the_config_s():
    game = GameEnv(GameConfig(length=1.0, masspole=0.2, force=7.0)).env.unwrapped
    assert (game.length, game.masspole, game.force_mag) == (1.0, 0.2, 7.0)
    assert game.polemass_length == pytest.approx(0.2) and game.total_mass == pytest.approx(1.2)
    acrobot = gymnasium.make("transferkit/Acrobot-v0", link_length_1=1.3).unwrapped
    assert acrobot.env.unwrapped.LINK_LENGTH_1 == 1.3


def test_a_delayed_action_takes_effect_one_step_later():
    plain, delayed = GameEnv(GameConfig()), GameEnv(GameConfig(action_delay=1))
    plain.reset(seed=3)
    delayed.reset(seed=3)
    actions = [1, 1, 0, 1, 0, 0]
    ours = [delayed.step(a)[0] for a in actions]
    theirs = [plain.step(a)[0] for a in [0, *actions[:-1]]]  # "push left" first
    assert all(np.allclose(a, b) for a, b in zip(ours, theirs, strict=True))


def test_observation_noise_is_seeded():
    def first(seed):
        return GameEnv(GameConfig(observation_noise=0.05)).reset(seed=seed)[0]

    clean = GameEnv(GameConfig()).reset(seed=1)[0]
    assert np.allclose(first(1), first(1)) and not np.allclose(first(1), clean)


def test_the_heuristics_play_their_games():
    got = {name: score(choose(name).make, policy, 3, 0).mean
           for name in ("cartpole", "mountaincar", "acrobot")
           for policy in choose(name).baselines(0).values() if policy.name != "random"}  # fmt: skip
    assert got["cartpole"] == 500.0  # the lean rule balances the default pole to the limit
    assert got["mountaincar"] > -200.0  # reaches the flag before the time limit
    assert got["acrobot"] > -500.0


def test_bad_physics_are_one_line():
    with pytest.raises(TransferKitError, match="cartpole `length` must be positive"):
        GameConfig(length=-1.0).check()
    with pytest.raises(TransferKitError, match="`game` 'pong' is not one of"):
        GameConfig(game="pong").check()


def test_mirrored_actions_do_the_opposite():
    plain, mirrored = GameEnv(GameConfig()), GameEnv(GameConfig(mirror_actions=True))
    plain.reset(seed=2)
    mirrored.reset(seed=2)
    for action in (1, 1, 0, 1):
        assert np.allclose(mirrored.step(action)[0], plain.step(1 - action)[0])
