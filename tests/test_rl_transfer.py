"""`transferkit rl transfer`: a run started from another run's policy, on the same spaces
(every weight and the normaliser carried: its first evaluation is the source policy's)
and across sizes (routing 10 -> 20 customers through the entity policy), with the
scratch baseline and the metrics beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")

from transferkit.rl import (
    TrainSettings,
    choose,
    load_policy,
    train,
    transfer,  # the public name
)
from transferkit.rl._evaluate import EVAL_SEED, score

from conftest import cli

TINY = {"eval_episodes": 2, "test_episodes": 2}


def test_same_spaces_carry_every_weight_and_the_normaliser(tmp_path: Path, capsys):
    source = train(TrainSettings(env="inventory:single-stage", steps=600, eval_every=300, **TINY),
                   out=tmp_path / "source")  # fmt: skip
    target = "inventory:single-stage"
    run = transfer(source, target, env_settings={"demand_mean": 30.0}, steps=300,
                   out=tmp_path / "target")  # fmt: skip
    record = json.loads((run / "transfer.json").read_text())
    assert record["share_reused"] == 1.0 and record["normaliser_carried"] == "all"
    code, _, err = cli(capsys, "rl", "evaluate", "source", "--env", "inventory:orgym",
                       "--episodes", "2", cwd=tmp_path)  # fmt: skip
    assert code == 2 and "only the entity policy" in err
    # the target's curve starts where the source policy stands on the target
    policy, _ = load_policy(source)
    variant = choose(target, {"demand_mean": 30.0})
    expected = score(variant.make, policy, 2, EVAL_SEED).mean
    first = (run / "history.csv").read_text().splitlines()[1].split(",")
    assert first[0] == "0" and float(first[2]) == pytest.approx(expected, rel=1e-4)


def test_across_sizes_with_the_scratch_baseline_from_the_command_line(tmp_path: Path, capsys):
    train(TrainSettings(env="routing:10", steps=400, eval_every=200, **TINY),
          out=tmp_path / "source")  # fmt: skip
    code, _, err = cli(capsys, "rl", "transfer", "--from", "source", "--env", "routing:20",
                       "--steps", "300", "--freeze", "features", "--baseline", "scratch",
                       "--out", "target", cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    run = tmp_path / "target"
    record = json.loads((run / "transfer.json").read_text())
    assert record["source_env"] == "routing:10" and record["target_env"] == "routing:20"
    assert record["reinitialised"] == [] and record["share_reused"] == 1.0
    assert record["frozen"] and all(n.startswith("mlp_extractor.encode") for n in record["frozen"])
    metrics = record["metrics"]
    for key in ("jumpstart", "asymptotic_gain", "transfer_ratio", "threshold", "time_ratio"):
        assert key in metrics
    assert (run / "baseline-scratch" / "history.csv").is_file()
    assert (
        "baseline-scratch/history.csv" in json.loads((run / "manifest.json").read_text())["files"]
    )
    summary = (run / "summary.txt").read_text()
    assert "transfer vs scratch: jumpstart" in summary
    html = (run / "report.html").read_text()
    assert 'id="transfer"' in html and "transfer ratio" in html
    assert html.count("data:image/png;base64,") == 3  # curve, transfer vs scratch, a day
    assert ("NEGATIVE TRANSFER" in summary) == record["negative_transfer"]
    # the frozen encoder did not move
    from safetensors.torch import load_file

    before = load_file(str(tmp_path / "source" / "policy.safetensors"))
    after = load_file(str(run / "policy.safetensors"))
    name = next(k for k in before if "encode" in k and k.endswith("weight"))
    import torch

    assert torch.equal(before[name], after[name])
    # the source policy itself plays the larger instance: its weights fit any size
    code, _, err = cli(capsys, "rl", "evaluate", "source", "--env", "routing:20",
                       "--episodes", "2", cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "source" / "evaluate-routing-20.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "nowhere", "--env", "routing:20"],
            "is not a finished `transferkit rl train` run",
        ),
        (["--from", "nowhere", "--freeze", "all"], "`--freeze` 'all' is not one of"),
        (["--from", "nowhere", "--baseline", "random"], "the only baseline is scratch"),
    ],
)
def test_bad_transfers_are_one_line(tmp_path: Path, capsys, args: list[str], message: str):
    code, _, err = cli(capsys, "rl", "transfer", *args, cwd=tmp_path)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
