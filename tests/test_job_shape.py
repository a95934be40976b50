"""The job's shape: one typed config (validated in one place, round-tripping through files
and the run folder), packages without import cycles, a command line that loads no torch."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import transferkit
from _imports import SRC, cycles, import_graph, modules
from transferkit import TransferKitError
from transferkit.cli import app
from transferkit.config import JobConfig, dump_config, load_config
from transferkit.jobs._steps import config_from_run

FAST = {"epochs": 1, "augment": False, "batch_size": 8}


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert graph.get("transferkit.jobs._fit")
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_concept_packages_never_import_jobs_or_cli():
    for name, targets in import_graph().items():
        if name.startswith(("transferkit.jobs", "transferkit.cli")) or name == "transferkit":
            continue
        wrong = [t for t in targets if t.startswith(("transferkit.jobs", "transferkit.cli"))]
        assert not wrong, f"{name} imports {wrong}: imports flow cli -> jobs -> concepts"


def test_every_package_says_what_it_owns_and_no_file_is_long():
    for name, path in modules().items():
        if path.name == "__init__.py" and name != "transferkit":
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            assert docstring and len(docstring) > 60, f"{name} has no docstring saying what it owns"
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 500, f"{path.relative_to(SRC)} has {lines} lines"


@pytest.mark.parametrize("module", ["transferkit.cli", "transferkit", "transferkit.config"])
def test_importing_the_command_line_loads_no_heavy_library(module):
    heavy = ["torch", "transformers", "timm", "lightning", "sklearn", "mlflow", "onnx"]
    code = f"import sys, {module}; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fit_help_is_grouped_into_panels_with_defaults():
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["fit", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    panels = [
        "Data",
        "Backbone",
        "Strategy and training",
        "Imbalance and threshold",
        "Evaluation",
        "Outputs and tracking",
        "Performance",
    ]
    for panel in panels:
        assert f"─ {panel} " in result.output, panel
    assert result.output.count("--epochs ") == 1 and "[default: 8]" in result.output


# the validation errors, one per field, in the house style
BAD = [
    ({"val_size": 1.5}, r"^`val_size` must be in \(0, 1\)\. Got 1\.5\.$"),
    ({"val_size": "a lot"}, r"`val_size` must be a number\. Got 'a lot'\."),
    ({"seed": 1.5}, r"`seed` must be a whole number\. Got 1\.5\."),
    ({"modality": "images"}, r"`modality` must be one of .* Did you mean 'image'\?"),
    ({"encoding": "one-hot"}, r"`encoding` must be one of .* Did you mean 'onehot'\?"),
    ({"max_image_pixels": -1}, r"`max_image_pixels` must be a number of pixels"),
    ({"strategy": "finetuning"}, r"`strategy` must be one of .* Did you mean 'finetune'\?"),
    ({"head": "logistc"}, r"`head` must be one of .* Did you mean 'logistic'\?"),
    ({"strategy": "top:1", "head": "mlp"}, r"head 'mlp' is for strategy 'features'"),
    ({"strategy": "auto", "cut": "blocks.5"}, r"auto picks the cut point itself"),
    ({"strategy": "finetune", "cut": "blocks.5"}, r"top:K trains its K groups below the cut"),
    ({"candidates": ["a"]}, r"`candidates` are ranked by strategy 'auto'"),
    ({"balance": "smot"}, r"`balance` must be one of .* Did you mean 'smote'\?"),
    ({"balance": "smote", "class_weight": {"a": 2}}, r"`class_weight` goes with balance"),
    ({"threshold": "recall"}, r"`threshold` 'recall' is not a rule"),
    ({"cv": 1}, r"`cv` must be at least 2 folds\. Got 1\."),
    ({"baseline": "scrach"}, r"Did you mean 'scratch'\?"),
    ({"track": "wandb"}, r"`track` must be one of 'mlflow', 'tensorboard'"),
    ({"track_uri": "http://x"}, r"`track_uri` needs a tracker"),
    ({"device": "gpu"}, r"`device` must be 'cpu', 'cuda', 'cuda:N' or 'mps'\. Got 'gpu'\."),
    ({"batch_size": 0}, r"`batch_size` must be at least 1\. Got 0\."),
    ({"num_workers": -1}, r"`num_workers` must be 0 or more\. Got -1\."),
    ({"train": {"epochs": 0}}, r"`epochs` must be positive"),
    ({"train": {"optimiser": "sgd"}}, r"unknown training setting 'optimiser'"),
]


@pytest.mark.parametrize(("options", "match"), BAD, ids=[str(o) for o, _ in BAD])
def test_every_setting_is_validated_in_one_place(options, match):
    with pytest.raises(TransferKitError, match=match):
        JobConfig.from_options("data", **options).validate()


def test_an_unknown_option_or_file_key_names_itself():
    with pytest.raises(TransferKitError, match=r"unknown option: 'epoch'"):
        JobConfig().with_options(epoch=3)
    with pytest.raises(TransferKitError, match=r"unknown section .*'strategies'.*'strategy'\?"):
        JobConfig.from_dict({"strategies": {}})
    with pytest.raises(TransferKitError, match=r"'val_sise'.* Did you mean 'val_size'\?"):
        JobConfig.from_dict({"data": {"val_sise": 0.3}})
    with pytest.raises(TransferKitError, match=r"training setting 'seed' .* is set elsewhere"):
        JobConfig.from_dict({"strategy": {"train": {"seed": 3}}})


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_a_config_round_trips_through_its_file(tmp_path, suffix):
    config = JobConfig.from_options(
        "data/x.csv",
        strategy="top:2",
        train={"epochs": 3, "grad_clip": None, "lr_low": 1e-4},
        class_weight={"spam": 5, "ham": 1},
        balance="class-weight",
        text_column=0,
        threshold="recall=0.9",
        candidates=None,
    ).validate()
    path = tmp_path / f"job{suffix}"
    path.write_text(dump_config(config, suffix.strip(".").replace("yml", "yaml")))
    assert load_config(path) == config
    assert JobConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_a_bad_config_file_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text("[data\nval_size = 0.3\n")
    with pytest.raises(TransferKitError, match=r"job\.toml' is not valid toml"):
        load_config(path)
    with pytest.raises(TransferKitError, match=r"name it \.toml, \.yaml, \.yml or \.json"):
        load_config(tmp_path / "job.ini")


def _cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "transferkit.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_flags_beside_a_config_file_override_it(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text(
        "data:\n  path: somewhere\n  seed: 3\nstrategy:\n  name: top:1\n  train:\n"
        "    epochs: 5\n    lr: 0.05\nperformance:\n  batch_size: 16\n"
    )
    done = _cli("fit", "--config", str(path), "--epochs", "2", "--seed", "7", "--print-config")
    assert done.returncode == 0, done.stderr
    import yaml

    printed = JobConfig.from_dict(yaml.safe_load(done.stdout))
    assert printed.strategy.train.epochs == 2 and printed.data.seed == 7  # the flags
    assert printed.strategy.train.lr == 0.05 and printed.performance.batch_size == 16  # the file
    assert printed.data.path == "somewhere" and printed.strategy.name == "top:1"
    # no config file: the resolved config in TOML; nothing ran, nothing was written
    done = _cli("fit", str(tmp_path / "d"), "--strategy", "auto", "--print-config")
    assert done.returncode == 0 and '[strategy]\nname = "auto"' in done.stdout
    assert not (tmp_path / "d").exists() and not Path("runs", "d-efficientnet_lite0").exists()


def test_a_flag_that_breaks_the_file_s_config_is_refused_in_one_line(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text('[strategy]\nname = "auto"\n')
    done = _cli("fit", "x", "--config", str(path), "--cut", "blocks.5")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: auto picks the cut point itself: drop --cut, or name a strategy."
    )


def test_fit_takes_a_config_and_keyword_options_alike(colour_folder, tmp_path):
    config = JobConfig.from_options(colour_folder, out=tmp_path / "a", quiet=True)
    by_config = transferkit.fit(config)
    by_options = transferkit.fit(colour_folder, out=tmp_path / "b", quiet=True)
    assert by_config.metrics["accuracy"] == by_options.metrics["accuracy"]
    assert by_config.config == config
    # config.json is that config, and loads back into an equal one
    saved = json.loads((by_config.run_dir / "config.json").read_text())
    assert JobConfig.from_dict({k: v for k, v in saved.items() if k != "resolved"}) == config
    assert saved["resolved"]["backbone"] == "efficientnet_lite0"
    # keyword options given with a config override it
    override = transferkit.fit(config, out=tmp_path / "c", head="linear")
    assert override.config.strategy.head == "linear" and config.strategy.head == "logistic"


def test_file_to_config_to_run_folder_to_resume(colour_folder, tmp_path):
    path = tmp_path / "job.toml"
    run = tmp_path / "run"
    path.write_text(
        f'[data]\npath = "{colour_folder}"\nseed = 2\n[strategy]\nname = "top:1"\n'
        f'[strategy.train]\nepochs = 1\naugment = false\n[outputs]\nout = "{run}"\nquiet = true\n'
    )
    done = _cli("fit", "--config", str(path))
    assert done.returncode == 0, done.stderr
    from_file = load_config(path)
    saved = json.loads((run / "config.json").read_text())
    assert JobConfig.from_dict({k: v for k, v in saved.items() if k != "resolved"}) == from_file
    resumed = config_from_run(run)
    assert resumed == from_file.with_options(backbone="efficientnet_lite0")
    # --resume reads that config; a setting beside it is refused, not silently dropped
    assert _cli("fit", "--resume", str(run), "-q").returncode == 0
    refused = _cli("fit", "--resume", str(run), "--epochs", "3")
    assert refused.returncode == 2 and "drop --epochs" in refused.stderr


def test_a_missing_extra_names_the_pip_line(monkeypatch):
    from transferkit._extras import require

    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with pytest.raises(TransferKitError, match=r'run pip install "transferkit\[track\]"$'):
        require("mlflow", "--track mlflow")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(TransferKitError, match=r'pip install "transferkit\[export\]"'):
        require("onnxruntime", "the ONNX predictor")
