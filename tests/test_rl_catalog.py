"""The environments by name: every preset builds and vectorises, config files change
fields, and a wrong name or field is one line."""

from __future__ import annotations

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from transferkit._errors import TransferKitError  # noqa: E402
from transferkit.rl._catalog import KINDS, choose  # noqa: E402


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_environment_vectorises(kind):
    envs = gymnasium.make_vec(KINDS[kind].gym_id, num_envs=2, vectorization_mode="sync")
    observations, _ = envs.reset(seed=0)
    assert observations.shape[0] == 2
    for _ in range(5):
        if hasattr(envs.envs[0].unwrapped, "action_masks"):
            masks = envs.call("action_masks")
            action = np.array([int(np.flatnonzero(m)[0]) for m in masks])
        else:
            action = envs.action_space.sample()
        observations, rewards, *_ = envs.step(action)
        assert np.isfinite(rewards).all()
    envs.close()


def test_presets_and_settings():
    for kind in KINDS.values():
        for preset in kind.presets:
            choice = choose(f"{kind.name}:{preset}")
            assert choice.make().observation_space.shape
    changed = choose("inventory:single-stage", {"lead_time": [2], "demand_mean": 12.0})
    assert changed.config.lead_time == (2,) and changed.config.demand_mean == 12.0
    assert choose("CartPole-v1").kind is None


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("routing:99", None, "routing has no preset '99'"),
        ("routing", {"vans": 3}, "unknown setting 'vans'"),
        ("routing", {"vehicles": 40}, "more than the depot holds"),
        ("CartPole-v1", {"length": 1.0}, "presets and config files apply only to those"),
        ("pricing", {"stock": -5}, "`stock` not negative"),
    ],
)
def test_wrong_names_and_fields_are_one_line(name, settings, message):
    with pytest.raises(TransferKitError, match=message) as caught:
        choose(name, settings)
    assert "\n" not in str(caught.value)


def test_the_environments_load_without_the_agents_library():
    import subprocess
    import sys

    code = (
        "import sys, gymnasium, transferkit.rl as rl;"
        "gymnasium.make('transferkit/DeliveryRouting-v0');"
        "assert 'stable_baselines3' not in sys.modules;"
        "assert callable(rl.train) and 'stable_baselines3' in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
