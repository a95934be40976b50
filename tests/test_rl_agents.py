"""Agents end to end: `transferkit rl train` on inventory with a tiny budget (run folder,
learning curve, baselines, report), the policy saved and loaded without pickle, the
resume of a killed training run, and one-line refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
torch = pytest.importorskip("torch")

from transferkit._errors import TransferKitError  # noqa: E402
from transferkit.rl._store import flatten, unflatten  # noqa: E402

from conftest import cli  # noqa: E402

TINY = ["--steps", "600", "--eval-every", "200", "--eval-episodes", "3", "--test-episodes", "6"]


def rl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "rl", *args],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def inventory_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rl")
    done = rl("train", "inventory:single-stage", *TINY, "--envs", "2", "--out", "run", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "run"


def test_a_run_folder_holds_curve_policy_baselines_and_report(inventory_run: Path):
    names = {p.relative_to(inventory_run).as_posix() for p in inventory_run.rglob("*")}
    for name in ("config.json", "history.csv", "policy.safetensors", "policy.json",
                 "checkpoint/state.safetensors", "evaluation.json", "summary.txt",
                 "report.html", "manifest.json"):  # fmt: skip
        assert name in names
    assert not [n for n in names if n.endswith((".zip", ".pkl", ".pt"))]  # no pickle
    rows = (inventory_run / "history.csv").read_text().splitlines()
    assert rows[0] == "timesteps,wall_s,mean,low,high,best"
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == sorted(steps) and steps[-1] >= 600 and len(steps) >= 3
    evaluation = json.loads((inventory_run / "evaluation.json").read_text())
    assert set(evaluation["baselines"]) == {"random", "base-stock", "(s, S)"}
    assert len(evaluation["agent"]["returns"]) == 6
    base = evaluation["baselines"]["base-stock"]
    paired = np.subtract(evaluation["agent"]["returns"], base["returns"]).mean()
    assert base["difference"] == pytest.approx(paired)
    assert base["difference_low"] <= base["difference"] <= base["difference_high"]
    summary = (inventory_run / "summary.txt").read_text()
    assert "verdict: the agent" in summary and "base-stock" in summary
    html = (inventory_run / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2  # learning curve and one episode
    manifest = json.loads((inventory_run / "manifest.json").read_text())["files"]
    assert "policy.safetensors" in manifest and "report.html" in manifest


def test_the_saved_policy_reloads_and_plays_the_same_episodes(inventory_run: Path, capsys):
    # `rl evaluate` rebuilds the agent from safetensors + JSON and replays the held-out
    # episodes: the returns match the ones training's end recorded, episode by episode
    code, _, err = cli(capsys, "rl", "evaluate", str(inventory_run), "--episodes", "6")
    assert code == 0, err
    again = json.loads((inventory_run / "evaluate-inventory-single-stage.json").read_text())
    first = json.loads((inventory_run / "evaluation.json").read_text())
    assert again["agent"]["returns"] == pytest.approx(first["agent"]["returns"])
    code, out, _ = cli(capsys, "rl", "evaluate", str(inventory_run), "--episodes", "4",
                       "--env", "inventory:single-stage")  # fmt: skip
    assert code == 0 and "base-stock" in out
    code, out, _ = cli(capsys, "rl", "compare", str(inventory_run), str(inventory_run))
    assert code == 0 and out.count("inventory:single-stage") == 2


PICTURES = [("routing:10", "routes"), ("pricing:small", "price path"), ("ads", "clicks per ad")]


@pytest.mark.parametrize(("env", "picture"), PICTURES)
def test_every_environment_trains_with_its_default_agent(
    tmp_path: Path, capsys, env: str, picture: str
):
    code, _, err = cli(capsys, "rl", "train", env, "--steps", "300", "--eval-every", "150",
                       "--eval-episodes", "2", "--test-episodes", "3", "--out", "run",
                       cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    kind = env.partition(":")[0]
    assert config["algo"] == ("maskable-ppo" if kind == "routing" else "ppo")
    named = {"routing": "PyVRP", "pricing": "dp optimum", "ads": "Thompson"}[kind]
    assert named in evaluation["baselines"]
    if kind == "ads":  # a bandit is scored by its regret too
        assert evaluation["agent"]["regret"] >= 0 and len(evaluation["agent"]["regrets"]) == 3
        assert "regret" in (tmp_path / "run" / "summary.txt").read_text()
    html = (tmp_path / "run" / "report.html").read_text()
    assert picture in html and html.count("data:image/png;base64,") == 2


@pytest.mark.parametrize(("env", "algo"), [("pricing:small", "dqn"), ("cartpole:default", "a2c"),
                                           ("inventory:single-stage", "sac")])  # fmt: skip
def test_every_algorithm_trains_saves_and_reloads(tmp_path: Path, env: str, algo: str):
    from transferkit.rl._agents import load_policy
    from transferkit.rl._train import TrainSettings, train

    settings = TrainSettings(env=env, algo=algo, steps=300, eval_every=150, eval_episodes=2,
                             test_episodes=2)  # fmt: skip
    run = train(settings, out=tmp_path / "run")
    policy, meta = load_policy(run)
    assert meta["algo"] == algo
    evaluation = json.loads((run / "evaluation.json").read_text())
    from transferkit.rl._catalog import choose
    from transferkit.rl._evaluate import TEST_SEED, score

    again = score(choose(env).make, policy, 2, TEST_SEED)
    assert list(again.returns) == pytest.approx(evaluation["agent"]["returns"])


def test_training_stops_on_an_evaluation_plateau(tmp_path: Path):
    from transferkit.rl._train import TrainSettings, train

    # a learning rate of 0: the policy never changes, every evaluation scores the same,
    # so the second one is no new best and patience 1 stops the run there
    settings = TrainSettings(env="routing:10", steps=4000, eval_every=200, eval_episodes=2,
                             test_episodes=2, patience=1,
                             hyperparameters={"learning_rate": 0.0})  # fmt: skip
    run = train(settings, out=tmp_path / "run")
    rows = (run / "history.csv").read_text().splitlines()[1:]
    assert len(rows) == 2
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["stopped_early"] and evaluation["timesteps"] < 4000
    assert "stopped early on a plateau" in (run / "summary.txt").read_text()


def test_a_damaged_or_linked_policy_file_is_one_line(inventory_run: Path, tmp_path: Path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(inventory_run, copy)
    data = (copy / "policy.safetensors").read_bytes()
    (copy / "policy.safetensors").write_bytes(data[: len(data) // 3])
    code, _, err = cli(capsys, "rl", "evaluate", "copy", "--episodes", "2", cwd=tmp_path)
    assert code == 2 and "the file is damaged" in err
    assert len(err.strip().splitlines()) == 1
    (copy / "policy.json").unlink()
    (copy / "policy.json").symlink_to(inventory_run / "policy.json")
    code, _, err = cli(capsys, "rl", "evaluate", "copy", "--episodes", "2", cwd=tmp_path)
    assert code == 2 and "is a symbolic link" in err


def test_flatten_keeps_an_optimiser_state_with_integer_keys():
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.loads(json.dumps(flatten(opt.state_dict(), "s", tensors)))
    back = unflatten(skeleton, tensors)
    assert set(back["state"]) == {0, 1}
    other = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.5)
    other.load_state_dict(back)
    assert other.param_groups[0]["lr"] == 0.01
    assert torch.equal(
        other.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )
    with pytest.raises(TransferKitError, match="without pickle"):
        flatten({"f": object()}, "s", {})


def test_a_killed_training_run_resumes_from_its_checkpoint(tmp_path: Path, capsys):
    args = [sys.executable, "-m", "transferkit.cli", "rl", "train", "inventory:single-stage",
            "--steps", "6000", "--eval-every", "300", "--eval-episodes", "2",
            "--test-episodes", "4", "--patience", "0", "--out", "run"]  # fmt: skip
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    state = tmp_path / "run" / "checkpoint" / "state.json"
    deadline = time.time() + 300
    reached = 0
    while time.time() < deadline and process.poll() is None:
        if state.is_file():
            reached = json.loads(state.read_text())["num_timesteps"]
            if reached >= 900:
                break
        time.sleep(0.2)
    assert process.poll() is None, "training ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(state.read_text())["num_timesteps"]
    assert 900 <= killed_at < 6000
    assert not (tmp_path / "run" / "evaluation.json").exists()
    code, _, err = cli(capsys, "rl", "train", "--resume", "run", cwd=tmp_path)
    assert code == 0, err
    steps = [int(r.split(",")[0]) for r in
             (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]]  # fmt: skip
    assert steps[0] == 0 and steps[-1] >= 6000  # the curve starts before any training
    assert steps == sorted(set(steps))  # continued, not restarted: no step twice
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert evaluation["timesteps"] >= 6000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "inventory", "--algo", "dqn"], "needs a discrete action space"),
        (["train", "inventory:winter"], "has no preset 'winter'"),
        (["train", "NoSuchGame-v9"], "unknown environment 'NoSuchGame-v9'"),
        (["train", "inventory", "--steps", "0"], "`--steps` must be at least 1"),
        (["train", "inventory", "--config", "bad.toml"], "demand cannot be negative"),
        (["train", "inventory", "--config", "typo.toml"], "unknown setting 'lead_times'"),
        (["evaluate", "nothing-here"], "is missing"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys, args: list[str], message: str):
    (tmp_path / "bad.toml").write_text("demand_mean = -3.0\n")
    (tmp_path / "typo.toml").write_text("lead_times = [1, 2, 3]\n")
    code, _, err = cli(capsys, "rl", *args, cwd=tmp_path)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert not any(tmp_path.glob("runs/*"))  # refused before any run folder
