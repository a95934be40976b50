"""Domain randomisation and curricula: settings drawn per episode within their ranges, a
setting that would change a space refused, the promotion rules of a curriculum, and the
run's record of when each stage was reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")

from transferkit._errors import TransferKitError
from transferkit.rl import TrainSettings, train
from transferkit.rl._catalog import KINDS, choose
from transferkit.rl._curriculum import parse_stages
from transferkit.rl._variants import variant_env

from conftest import cli


def test_randomised_settings_are_drawn_per_episode_within_their_ranges():
    base = choose("inventory:orgym").config
    env = variant_env(KINDS["inventory"], base, {"demand_mean": [10, 30]})
    draws = []
    _, info = env.reset(seed=0)
    draws.append(info["variant"]["demand_mean"])
    for _ in range(20):
        draws.append(env.reset()[1]["variant"]["demand_mean"])
    assert all(10 <= d <= 30 for d in draws) and len(set(draws)) == len(draws)
    assert env.inner.config.demand_mean == draws[-1]
    again = variant_env(KINDS["inventory"], base, {"demand_mean": [10, 30]})
    assert again.reset(seed=0)[1]["variant"]["demand_mean"] == draws[0]  # seeded
    masked = variant_env(KINDS["routing"], choose("routing:10").config, {"congestion": [0, 1]})
    masked.reset(seed=0)
    assert masked.action_masks().shape == (11,)
    assert not hasattr(env, "action_masks")


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"customers": [10, 20]}, "`customers` changes the environment's observation"),
        ({"congestion": [0.5, 0.1]}, "low <= high"),
        ({"traffic": [0, 1]}, "routing has no setting 'traffic'"),
        ({"rush": [0, 1]}, "only a setting that is one number can be drawn"),
    ],
)
def test_bad_ranges_are_one_line(ranges, message):
    with pytest.raises(TransferKitError, match=message):
        variant_env(KINDS["routing"], choose("routing:10").config, ranges)


def test_the_promotion_rules_and_the_record_of_stages(tmp_path: Path):
    stages = [
        {"demand_mean": 10.0, "steps": 400},  # a step budget
        {"demand_mean": 15.0, "threshold": -1e9, "window": 3},  # any 3 episodes pass
        {"demand_mean": 20.0, "threshold": 1e9},  # never reached: stays (the last anyway)
    ]
    run = train(TrainSettings(env="inventory:single-stage", steps=900, eval_every=300,
                              eval_episodes=2, test_episodes=2, curriculum=stages),
                out=tmp_path / "run")  # fmt: skip
    reached = json.loads((run / "curriculum.json").read_text())["reached"]
    assert [r["stage"] for r in reached] == [1, 2, 3]
    assert reached[0]["timesteps"] == 0 and reached[1]["timesteps"] == 400
    # three episodes of 30 periods in stage 2 (the first may have begun in stage 1)
    assert 400 + 2 * 30 <= reached[2]["timesteps"] <= 400 + 3 * 30
    config = json.loads((run / "config.json").read_text())
    assert config["curriculum"] == stages


def test_a_stage_without_a_rule_is_refused():
    with pytest.raises(TransferKitError, match="stage 1 has no promotion rule"):
        parse_stages([{"demand_mean": 10.0}, {"demand_mean": 20.0}])


def test_a_config_file_carries_the_plans(tmp_path: Path, capsys):
    (tmp_path / "plan.toml").write_text(
        "demand_mean = 18.0\n"
        "[randomise]\nshock_probability = [0.0, 0.2]\n"
        "[[curriculum]]\ndemand_mean = 8.0\nsteps = 200\n"
        "[[curriculum]]\ndemand_mean = 18.0\n"
    )
    code, _, err = cli(capsys, "rl", "train", "inventory:single-stage", "--config", "plan.toml",
                       "--steps", "400", "--eval-every", "200", "--eval-episodes", "2",
                       "--test-episodes", "2", "--out", "run", cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["randomise"] == {"shock_probability": [0.0, 0.2]}
    assert config["settings"] == {"demand_mean": 18.0} and config["hyperparameters"] == {}
    reached = json.loads((tmp_path / "run" / "curriculum.json").read_text())["reached"]
    assert [r["timesteps"] for r in reached] == [0, 200]
