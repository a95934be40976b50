"""Deep domain adaptation over cached features: gradient reversal, the schedule, the
adapter as a scikit-learn classifier, several seeds, checkpoints and resume."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("skada") is None:
    pytest.skip("domain adaptation needs the `adapt` extra", allow_module_level=True)

from test_adapt import _target_file
from transferkit._errors import TransferKitError
from transferkit.adaptation._deep import (
    DEEP_METHODS,
    deep_adapter_class,
    ganin_lambda,
    gradient_reversal,
)


def test_gradient_reversal_hands_the_encoder_minus_lambda_times_the_gradient():
    import torch

    torch.manual_seed(0)
    encoder, discriminator = torch.nn.Linear(5, 4), torch.nn.Linear(4, 1)
    x = torch.randn(16, 5)
    is_source = (torch.arange(16) < 8).float()

    def encoder_gradient(weight: float | None) -> torch.Tensor:
        encoder.zero_grad()
        features = encoder(x)
        if weight is not None:
            features = gradient_reversal(features, weight)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            discriminator(features)[:, 0], is_source
        )
        loss.backward()
        return encoder.weight.grad.clone()

    plain = encoder_gradient(None)
    assert plain.abs().sum() > 0
    for weight in (0.3, 1.0):
        assert torch.allclose(encoder_gradient(weight), -weight * plain, atol=1e-7)


def test_the_reversal_weight_follows_ganins_schedule():
    values = [ganin_lambda(p) for p in np.linspace(0, 1, 11)]
    assert values[0] == 0.0 and values[-1] > 0.99
    assert all(b > a for a, b in itertools.pairwise(values))
    assert abs(ganin_lambda(0.1) - (2 / (1 + np.exp(-1)) - 1)) < 1e-12


def _two_domains(n: int = 240) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ys, yt = rng.integers(0, 3, n), rng.integers(0, 3, n)
    centres = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])
    xs = centres[ys] + rng.normal(size=(n, 2))
    xt = (centres[yt] + rng.normal(size=(n, 2))) * 1.3 + 1.0
    return xs, ys, xt, yt


@pytest.mark.parametrize("method", DEEP_METHODS)
def test_a_deep_adapter_is_a_classifier_that_reads_the_target_unlabelled(method):
    xs, ys, xt, yt = _two_domains()
    x = np.vstack([xs, xt])
    domain = np.r_[np.ones(len(xs), dtype=int), -np.ones(len(xt), dtype=int)]
    adapter = deep_adapter_class()(method=method, n_classes=3, seed=0, epochs=10)
    labels = np.r_[ys, -np.ones(len(xt), dtype=int)]
    adapter.fit(x, labels, sample_domain=domain)
    proba = adapter.predict_proba(xt)
    assert proba.shape == (len(xt), 3) and np.allclose(proba.sum(1), 1.0)
    assert list(adapter.classes_) == [0, 1, 2]
    assert np.mean(adapter.predict(xt) == yt) > 0.8  # the classes are far apart
    assert adapter.embed(xt).shape == (len(xt), 256)
    # the target's labels are never read: other (wrong) labels give the same network
    wrong = np.r_[ys, (np.arange(len(xt)) % 3)]
    again = deep_adapter_class()(method=method, n_classes=3, seed=0, epochs=10)
    again.fit(x, wrong, sample_domain=domain)
    assert np.allclose(again.predict_proba(xt), proba, atol=1e-6)


def test_a_deep_adapter_without_domains_is_refused():
    xs, ys, _, _ = _two_domains(40)
    with pytest.raises(ValueError, match="sample_domain"):
        deep_adapter_class()(method="dann", n_classes=3).fit(xs, ys)


# -- the job: three seeds, checkpoints, resume ------------------------------------------


def _adapt_in_a_process(source: Path, target: Path, out: Path) -> subprocess.Popen:
    code = (
        "import sys, transferkit;"
        " transferkit.adapt(sys.argv[1], sys.argv[2], method='dan', target_labels=True,"
        " out=sys.argv[3], quiet=True, seed=0, cache_dir=sys.argv[4])"
    )
    args = [str(source), str(target), str(out), str(out.parent / "cache")]
    return subprocess.Popen([sys.executable, "-c", code, *args], stderr=subprocess.PIPE)


def test_a_deep_run_reports_its_seeds_and_resumes_after_a_kill(text_file, tmp_path):
    import transferkit
    from transferkit.jobs._adapt import resume_adapt

    target = _target_file(tmp_path)
    whole = transferkit.adapt(
        text_file, target, method="dan", target_labels=True, out=tmp_path / "whole",
        quiet=True, seed=0, cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    metrics = whole.metrics
    seeds = metrics["target_accuracy_by_seed"]["dan"]
    assert len(seeds["seeds"]) == 3
    assert seeds["mean"] == pytest.approx(np.mean(seeds["seeds"]), abs=1e-4)
    assert seeds["std"] == pytest.approx(np.std(seeds["seeds"]), abs=1e-4)
    for seed in (0, 1, 2):
        assert (whole.run_dir / f"checkpoints/dan-seed{seed}-last.ckpt").is_file()
    with open(whole.run_dir / "adaptation.csv", newline="") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert rows["dan"]["seeds"] == "3" and rows["source-only"]["seeds"] == "1"
    assert float(rows["dan"]["target_accuracy_std"]) == pytest.approx(seeds["std"])
    assert f"dan on the target over 3 seeds: accuracy {seeds['mean']:.4f} ±" in whole.summary
    texts = [line.split("\t")[0] for line in target.read_text().splitlines()[1:]]
    expected = transferkit.load(whole.run_dir).predict_proba(texts)

    # killed while the first seed trains (its checkpoint written), then resumed
    out = tmp_path / "killed"
    process = _adapt_in_a_process(text_file, target, out)
    first = out / "checkpoints" / "dan-seed0-last.ckpt"
    deadline = time.monotonic() + 240
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first.exists(), process.stderr.read().decode() if process.stderr else ""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "metrics.json").exists()  # it did not finish
    assert json.loads((out / "config.json").read_text())["adaptation"]["method"] == "dan"
    resumed = resume_adapt(out, quiet=True)
    proba = transferkit.load(resumed.run_dir).predict_proba(texts)
    assert np.abs(proba - expected).max() < 1e-5
    assert resumed.metrics["target_accuracy_by_seed"] == metrics["target_accuracy_by_seed"]


def test_resume_refuses_what_it_cannot_continue(text_file, tmp_path):
    import transferkit
    from transferkit.jobs._adapt import resume_adapt

    with pytest.raises(TransferKitError, match=r"has no config\.json"):
        resume_adapt(tmp_path)
    run = transferkit.adapt(
        text_file, _target_file(tmp_path), method="coral", out=tmp_path / "run", quiet=True
    ).run_dir
    with pytest.raises(TransferKitError, match="no training state to resume"):
        resume_adapt(run)
    proc = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "adapt", "--resume", str(run),
         "--source", str(text_file)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "drop --source" in lines[0], lines


# -- on the backbone's top layer groups (`--strategy top:K`) ---------------------------


def _top_group_data(modality: str, root: Path):
    """(source, target) Datasets: short reviews -> travel texts, or colour images -> the
    same colours darker (a target folder without class folders)."""
    from test_adapt import TARGET_TEXTS
    from transferkit.data import Dataset

    from conftest import TEXTS, write_image

    if modality == "text":
        source = [(t, i) for i, texts in enumerate(TEXTS.values()) for t in texts]
        target = [(t, i) for i, texts in enumerate(TARGET_TEXTS.values()) for t in texts]
    else:
        source, target = [], []
        for i, colour in enumerate([(200, 30, 30), (30, 30, 200)]):
            for j in range(8):
                for rows, scale, name in ((source, 1.0, "s"), (target, 0.6, "t")):
                    path = root / f"{name}{i}-{j}.jpg"
                    write_image(path, tuple(int(c * scale) for c in colour), seed=10 * i + j)
                    rows.append((str(path), i))

    def dataset(rows: list) -> Dataset:
        return Dataset(
            inputs=[x for x, _ in rows],
            labels=np.array([y for _, y in rows]),
            class_names=["a", "b"],
            modality=modality,
            refs=[str(x)[:40] for x, _ in rows],
        )

    return dataset(source), dataset(target)


@pytest.mark.parametrize("modality", ["text", "image"])
def test_the_top_group_alone_trains_and_the_target_labels_are_never_read(modality, tmp_path):
    import dataclasses

    import torch

    from transferkit.adaptation._deep_backbone import state_digest, train_top_groups
    from transferkit.backbones import create_backbone
    from transferkit.features._cache import FeatureCache
    from transferkit.features._extract import extract_features
    from transferkit.finetune._config import TrainConfig
    from transferkit.finetune._strategies import make_strategy
    from transferkit.finetune._train import prefix_cut

    source, target = _top_group_data(modality, tmp_path)
    name = "minilm-l6" if modality == "text" else "efficientnet_lite0"
    cache = FeatureCache(tmp_path / "cache")
    pretrained = create_backbone(name)
    pooled, _ = extract_features(pretrained, [*source.inputs, *target.inputs], cache)
    config = TrainConfig(epochs=2, batch_size=8, augment=False).validate()
    # both can cache their frozen groups (fit's top:K does); adapt does it for images only
    cut = prefix_cut(pretrained, make_strategy("top:1", config), config)
    assert cut is not None

    def trained(target_labels: np.ndarray):
        model = create_backbone(name)
        relabelled = dataclasses.replace(target, labels=target_labels)
        head = train_top_groups(
            model, source, relabelled, "dann", "top:1", config, pooled, cache, None
        )
        return model, head

    model, head = trained(target.labels)
    before = dict(pretrained.model.named_parameters())
    top = {id(p) for m in model.layer_groups()[-1][1] for p in m.parameters()}
    moved = {id(p) for n, p in model.model.named_parameters() if not torch.equal(p, before[n])}
    assert moved and moved <= top  # the top group learned; nothing below it moved
    # other target labels, the same network: training never reads them
    other, _ = trained(1 - target.labels)
    assert state_digest(other.model) == state_digest(model.model)
    assert state_digest(model.model) != state_digest(pretrained.model)
    x, errors = extract_features(model, target.inputs, cache)
    assert not errors and head.predict_proba(x).shape == (len(target), 2)


def test_adapt_on_the_top_group_keeps_its_backbone_with_the_head_and_resumes(text_file, tmp_path):
    import transferkit
    from transferkit.jobs._adapt import resume_adapt

    target = _target_file(tmp_path)
    run = transferkit.adapt(
        text_file, target, method="mcc", criterion="entropy", strategy="top:1",
        train={"epochs": 4, "batch_size": 8}, target_labels=True, out=tmp_path / "run",
        quiet=True, seed=0, cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    d = run.run_dir
    for seed in (0, 1, 2):
        assert (d / f"checkpoints/mcc-seed{seed}-top1-last.ckpt").is_file()
    seeds = run.metrics["target_accuracy_by_seed"]["mcc"]
    assert len(seeds["seeds"]) == 3
    model_json = json.loads((d / "model/model.json").read_text())
    kept = run.metrics["adaptation"]["method"] == "mcc"
    # the adapted backbone is saved beside the head only when the method is kept
    assert (d / "model/backbone.safetensors").is_file() == kept
    assert model_json["strategy"] == ("top:1" if kept else "features")
    assert run.metrics["strategy"] == model_json["strategy"]
    # the saved model gives the run's own target predictions
    texts = [line.split("\t")[0] for line in target.read_text().splitlines()[1:]]
    proba = transferkit.load(d).predict_proba(texts)
    with open(d / "predictions_target.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    saved = np.array([[float(r["p_neg"]), float(r["p_pos"])] for r in rows])
    assert np.abs(proba - saved).max() < 1e-4
    # resumed from its folder: every seed loads from its checkpoint, the same results
    again = resume_adapt(d, quiet=True)
    assert again.metrics["target_accuracy_by_seed"] == run.metrics["target_accuracy_by_seed"]
    assert again.metrics["adaptation"]["method"] == run.metrics["adaptation"]["method"]


def test_top_groups_need_a_deep_method(text_file, tmp_path):
    import transferkit
    from test_adapt import _cli

    target = _target_file(tmp_path)
    with pytest.raises(TransferKitError, match=r"--strategy top:K and a deep method"):
        transferkit.adapt(text_file, target, method="coral", strategy="top:1", quiet=True)
    with pytest.raises(TransferKitError, match=r"only with --strategy top:K"):
        transferkit.adapt(text_file, target, method="dann", strategy="finetune", quiet=True)
    proc = _cli("--source", str(text_file), "--target", str(target), "--epochs", "2")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "--strategy top:K" in lines[0], lines
