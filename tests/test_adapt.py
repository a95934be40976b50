"""Domain adaptation: methods on a shift whose answer is known, the fold into a head, the
criteria never reading target labels, label shift, the A-distance, the job and its CLI."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("skada") is None:  # not imported here: skada's import flips a
    pytest.skip("domain adaptation needs the `adapt` extra", allow_module_level=True)  # setting

from transferkit._errors import TransferKitError
from transferkit.adaptation._distance import proxy_a_distance
from transferkit.adaptation._fold import fold_to_head, target_logits
from transferkit.adaptation._label_shift import bbse_priors, em_priors
from transferkit.adaptation._methods import METHODS
from transferkit.adaptation._select import Domains, choose, fit_method, score_candidate
from transferkit.config._adapt import ADAPT_METHODS

from conftest import TEXTS

SHIFT = np.array([3.0, -2.0, 1.0, 0.0])
SCALE = np.array([0.4, 2.0, 1.0, 1.0])


def blobs(n: int, rng: np.random.Generator, target: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Two classes apart along the first axis; the target is the source shifted and scaled."""
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4))
    x[:, 0] += np.where(y == 1, 2.5, -2.5)
    return (x * SCALE + SHIFT if target else x), y


@pytest.fixture(scope="module")
def shifted() -> tuple[Domains, np.ndarray]:
    rng = np.random.default_rng(0)
    xs, ys = blobs(400, rng)
    xv, yv = blobs(100, rng)
    xt, yt = blobs(300, rng, target=True)
    return Domains(xs, ys, xv, yv, xt, 2), yt


def test_the_config_names_every_registered_method():
    assert set(ADAPT_METHODS) == set(METHODS)


def test_skada_does_not_turn_metadata_routing_on_for_everyone():
    import sklearn

    from transferkit.adaptation._skada import skada

    skada()
    assert sklearn.get_config()["enable_metadata_routing"] is False


@pytest.mark.parametrize("method", sorted(m for m in METHODS if not METHODS[m].deep))
def test_every_method_fits_and_folds_into_a_head_equal_to_its_pipeline(method, shifted):
    domains, _ = shifted
    candidate = fit_method(method, domains, 1.0, 0)
    head = fold_to_head(candidate.pipeline, domains.target, 2)
    logits = target_logits(candidate.pipeline, domains.target, 2)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.abs(head.predict_proba(domains.target) - expected).max() < 1e-4


def test_source_only_fails_on_the_shift_and_alignment_recovers(shifted):
    domains, yt = shifted

    def accuracy(method):
        pipeline = fit_method(method, domains, 1.0, 0).pipeline
        return float(np.mean(target_logits(pipeline, domains.target, 2).argmax(1) == yt))

    assert accuracy("source-only") < 0.7
    for method in ("coral", "linear-ot", "ot"):
        assert accuracy(method) > 0.9, method


def test_self_training_reads_the_unlabelled_target(shifted):
    domains, _ = shifted
    pipeline = fit_method("self-training", domains, 1.0, 0).pipeline
    inner = pipeline[-1].base_estimator_.model_
    assert len(inner.labeled_iter_) == len(domains.source_train) + len(domains.target)
    assert (inner.labeled_iter_[len(domains.source_train) :] > 0).any()  # pseudo-labelled


def test_a_pipeline_that_is_not_linear_on_the_target_is_refused(shifted):
    from sklearn.preprocessing import PolynomialFeatures

    from transferkit.adaptation._methods import _classifier, _pipeline
    from transferkit.adaptation._skada import routing

    domains, _ = shifted
    with routing():
        pipeline = _pipeline(PolynomialFeatures(2), _classifier(1.0, 0))
        x = np.vstack([domains.source_train, domains.target])
        y = np.r_[domains.source_train_labels, -np.ones(len(domains.target), dtype=int)]
        sample_domain = np.r_[np.ones(len(domains.source_train)), -np.ones(len(domains.target))]
        pipeline.fit(x, y, sample_domain=sample_domain.astype(int))
    with pytest.raises(TransferKitError, match="not linear on the target features"):
        fold_to_head(pipeline, domains.target, 2)


def test_every_criterion_is_scored_and_the_highest_wins_source_only_on_ties(shifted):
    from transferkit.adaptation._select import CRITERIA, Candidate

    domains, _ = shifted
    candidate = fit_method("coral", domains, 1.0, 0)
    scores = score_candidate(candidate, domains, 0)
    assert set(scores) == set(CRITERIA) and all(np.isfinite(v) for v in scores.values())
    a = Candidate("coral", None, {"dev": -1.0, "snd": 2.0, "entropy": -0.5})
    b = Candidate("source-only", None, {"dev": -1.0, "snd": 1.0, "entropy": -0.1})
    broken = Candidate("ot", None, error="LinAlgError: singular")
    assert choose([a, b, broken], "dev").method == "source-only"  # a tie
    assert choose([a, b, broken], "snd").method == "coral"
    assert choose([a, b, broken], "entropy").method == "source-only"
    with pytest.raises(TransferKitError, match="`criterion` must be one of"):
        choose([a, b], "oracle")


def test_em_and_bbse_recover_a_known_prior_shift():
    rng = np.random.default_rng(1)
    # a calibrated source model: classes N(-1, 1) and N(+1, 1), source priors 1/2 each
    n, true_prior = 4000, 0.8
    y_t = (rng.random(n) > true_prior).astype(int)  # class 0 with probability 0.8
    x_t = rng.normal(np.where(y_t == 1, 1.0, -1.0), 1.0)
    p1 = 1 / (1 + np.exp(-2 * x_t))
    proba = np.c_[1 - p1, p1]
    priors = em_priors(proba, np.array([0.5, 0.5]))
    assert abs(priors[0] - true_prior) < 0.03
    y_v = rng.integers(0, 2, n)
    x_v = rng.normal(np.where(y_v == 1, 1.0, -1.0), 1.0)
    predicted_v = (x_v > 0).astype(int)
    bbse = bbse_priors(y_v, predicted_v, (x_t > 0).astype(int), 2)
    assert abs(bbse[0] - true_prior) < 0.04


def test_a_distance_is_near_0_for_one_domain_and_near_2_for_disjoint_ones():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    assert proxy_a_distance(a, b) < 0.3
    assert proxy_a_distance(a, b + 10.0) > 1.9


# -- the job, end to end on real sentence embeddings -------------------------------------

TARGET_TEXTS = {
    "pos": [
        "the hotel room was spotless and the view was stunning",
        "our guide was knowledgeable and fun, a wonderful tour",
        "the flight attendants were kind and the seats comfortable",
        "a lovely beach resort, we will come back",
        "check-in was quick and the staff welcoming",
        "the breakfast buffet was generous and tasty",
    ],
    "neg": [
        "the hotel room was dirty and smelled of smoke",
        "our tour guide was late and rude, a miserable day",
        "the flight was delayed six hours and nobody helped",
        "a noisy resort with a filthy pool",
        "check-in took an hour and the staff ignored us",
        "the breakfast was stale and overpriced",
    ],
}


def _target_file(folder: Path, labels: list[str] | None = None) -> Path:
    rows = [(t, label) for label, texts in TARGET_TEXTS.items() for t in texts]
    labels = labels or [label for _, label in rows]
    path = folder / "travel.tsv"
    path.write_text(
        "text\tlabel\n" + "".join(f"{t}\t{y}\n" for (t, _), y in zip(rows, labels, strict=True))
    )
    return path


def test_adapt_run_folder_predict_and_label_reading(text_file, tmp_path):
    import transferkit

    target = _target_file(tmp_path)
    result = transferkit.adapt(
        text_file, target, target_labels=True, out=tmp_path / "run", quiet=True, seed=0
    )
    run = result.run_dir
    for name in (
        "model/head.safetensors",
        "predictions_target.csv",
        "adaptation.csv",
        "domains.png",
        "report.html",
        "config.json",
        "metrics.json",
    ):
        assert (run / name).is_file(), name
    metrics = result.metrics
    assert metrics["evaluated_on"] == "target" and metrics["n_target"] == 12
    assert "read only to evaluate" in metrics["adaptation"]["target_labels"]
    assert set(metrics["target_accuracy_by_method"]) <= set(METHODS)
    assert "Domain adaptation" in (run / "report.html").read_text()
    # the saved model is an ordinary run: load and predict give the run's own predictions
    with open(run / "predictions_target.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    model = transferkit.load(run)
    texts = [r["text"] for r in rows]
    assert list(model.predict(texts)) == [r["predicted"] for r in rows]

    # shuffled target labels change the evaluation only, never the choice or the model
    rng = np.random.default_rng(0)
    labels = [label for label, texts in TARGET_TEXTS.items() for _ in texts]
    shuffled = list(rng.permutation(["neg"] * 6 + ["pos"] * 6))
    assert shuffled != labels
    (tmp_path / "b").mkdir()
    target_b = _target_file(tmp_path / "b", shuffled)
    again = transferkit.adapt(
        text_file, target_b, target_labels=True, out=tmp_path / "run-b", quiet=True, seed=0
    )
    assert again.metrics["adaptation"]["method"] == metrics["adaptation"]["method"]
    for a, b in zip(
        again.metrics["adaptation"]["candidates"], metrics["adaptation"]["candidates"], strict=True
    ):
        assert a["method"] == b["method"]
        assert a["scores"] == pytest.approx(b["scores"], rel=1e-9, abs=1e-12)
    proba = transferkit.load(again.run_dir).predict_proba(texts)
    assert np.abs(proba - model.predict_proba(texts)).max() < 1e-6
    assert again.metrics["accuracy"] != metrics["accuracy"]  # only the evaluation moved


def test_an_unlabelled_text_target_one_per_line(text_file, tmp_path):
    import transferkit

    target = tmp_path / "texts.txt"
    target.write_text("\n".join(t for texts in TARGET_TEXTS.values() for t in texts) + "\n")
    result = transferkit.adapt(text_file, target, method="coral", out=tmp_path / "run", quiet=True)
    assert result.metrics["evaluated_on"] == "val"
    assert result.metrics["adaptation"]["method"] in ("coral", "source-only")
    assert "unlabelled" in result.metrics["adaptation"]["target_labels"]
    with open(result.run_dir / "predictions_target.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and all(r["label"] == "" for r in rows)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "adapt", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_errors_are_one_line(text_file, tmp_path, colour_folder):
    cases = [
        (["--source", str(text_file), "--target", str(tmp_path / "nope.txt")], "does not exist"),
        (
            ["--source", str(text_file), "--target", str(text_file), "--method", "corall"],
            "Did you mean 'coral'?",
        ),
        (
            ["--source", str(text_file), "--target", str(colour_folder)],
            "is a folder; the source holds texts",
        ),
    ]
    unknown = tmp_path / "unknown.tsv"
    unknown.write_text("text\tlabel\n" + "".join(f"{t}\tmeh\n" for t in TEXTS["pos"]))
    cases.append(
        (
            ["--source", str(text_file), "--target", str(unknown), "--target-labels"],
            "that the source does not",
        )
    )
    for args, expected in cases:
        proc = _cli(*args, "--out", str(tmp_path / "out"))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr
        assert len(lines) == 1 and expected in lines[0], lines


def test_several_sources_are_domains_of_their_own(text_file, tmp_path, colour_folder):
    import transferkit

    second = tmp_path / "second.tsv"
    second.write_text(
        "text\tlabel\n"
        + "".join(f"{t}\t{label}\n" for label, texts in TARGET_TEXTS.items() for t in texts)
    )
    target = tmp_path / "target.txt"
    target.write_text("\n".join(t for texts in TEXTS.values() for t in texts) + "\n")
    result = transferkit.adapt(
        [text_file, second], target, method="coral", out=tmp_path / "run", quiet=True
    )
    metrics = result.metrics
    assert metrics["n_train"] + metrics["n_val"] == 24 + 12
    assert "2 sources" in result.summary
    saved = (result.run_dir / "config.json").read_text()
    assert str(second.resolve()) in saved
    with pytest.raises(TransferKitError, match="give sources of one modality"):
        transferkit.adapt([text_file, colour_folder], target, out=tmp_path / "bad", quiet=True)


def test_a_method_reads_each_source_as_its_own_domain(shifted):
    domains, yt = shifted
    n = len(domains.source_train)
    two = Domains(*[getattr(domains, k) for k in (
        "source_train", "source_train_labels", "source_val", "source_val_labels", "target",
        "n_classes")], source_ids=np.where(np.arange(n) < n // 2, 1, 2))  # fmt: skip
    pipeline = fit_method("coral", two, 1.0, 0).pipeline
    assert float(np.mean(target_logits(pipeline, two.target, 2).argmax(1) == yt)) > 0.9


def _shifted_table(path: Path, n: int, shift: float, label: bool, seed: int) -> Path:
    """Two numeric columns and a categorical one; the target's first column is shifted."""
    rng = np.random.default_rng(seed)
    head = ["Amount", "Score", "Colour"] + (["Class"] if label else [])
    lines = [",".join(head)]
    for i in range(n):
        y = i % 3 == 0
        cells = [f"{rng.normal(3 if y else 0, 1) + shift:.4f}", f"{rng.normal():.4f}"]
        cells.append(["red", "green"][int(y)] if rng.random() < 0.8 else "blue")
        lines.append(",".join(cells + ([str(int(y))] if label else [])))
    lines.append("1.0,2.0")  # malformed: too few fields
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_table_adapts_to_an_unlabelled_table_with_its_columns(tmp_path):
    import transferkit

    source = _shifted_table(tmp_path / "source.csv", 150, 0.0, True, 0)
    target = _shifted_table(tmp_path / "target.csv", 90, 1.5, False, 1)
    result = transferkit.adapt(
        source, target, method="coral", label_column="Class", out=tmp_path / "run", quiet=True
    )
    assert result.metrics["n_target"] == 90
    assert result.metrics["adaptation"]["method"] in ("coral", "source-only")
    assert any("fields" in s.reason for s in result.skipped if s.split == "target")
    assert (result.run_dir / "model" / "head.safetensors").is_file()
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("Amount,Colour\n1.0,red\n")
    with pytest.raises(TransferKitError, match=r"lacks 1 of the 3 columns.*'Score'"):
        transferkit.adapt(source, lacking, label_column="Class", out=tmp_path / "x", quiet=True)


def test_a_precision_rule_is_retuned_for_the_targets_class_mix():
    from transferkit.adaptation._label_shift import shifted_scores, target_mix_weights
    from transferkit.heads._threshold import choose_threshold, parse_rule

    rng = np.random.default_rng(3)

    def sample(n: int, share: float) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < share).astype(int)
        x = rng.normal(np.where(y == 1, 1.5, -1.5), 1.0)
        return x, y

    source_share, target_share = 0.05, 0.4
    x_s, y_s = sample(20000, source_share)
    prior_odds = source_share / (1 - source_share)
    score = 1 / (1 + np.exp(-(3.0 * x_s + np.log(prior_odds))))  # the calibrated P(1 | x)
    source, target = np.array([0.95, 0.05]), np.array([0.6, 0.4])
    rule = parse_rule("precision=0.9")
    plain = choose_threshold(y_s, score, rule, "1")
    shifted = shifted_scores(score, source, target)
    retuned = choose_threshold(
        y_s, shifted, rule, "1", sample_weight=target_mix_weights(y_s, source, target)
    )
    x_t, y_t = sample(20000, target_share)
    score_t = 1 / (1 + np.exp(-(3.0 * x_t + np.log(prior_odds))))
    shifted_t = shifted_scores(score_t, source, target)

    def precision_recall(flags: np.ndarray) -> tuple[float, float]:
        return float(y_t[flags].mean()), float(flags[y_t == 1].mean())

    p_plain, r_plain = precision_recall(score_t >= plain.value)
    p_new, r_new = precision_recall(shifted_t >= retuned.value)
    assert p_new >= 0.88  # the precision asked for, on the target's mix
    assert r_new > r_plain + 0.1  # the recall the source-tuned threshold gave away
    assert p_plain > 0.97  # ... for a precision far above what was asked


def test_adapt_applies_the_threshold_it_tunes(text_file, tmp_path):
    import transferkit

    target = _target_file(tmp_path)
    result = transferkit.adapt(
        text_file, target, method="source-only", label_shift="em", threshold="f1",
        target_labels=True, out=tmp_path / "run", quiet=True,
    )  # fmt: skip
    t = result.metrics["threshold"]
    assert t["rule"] == "f1" and 0 < t["value"] < 1
    assert "for the target's estimated class mix" in result.summary
    with open(result.run_dir / "predictions_target.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    positive = t["positive_class"]
    for r in rows:
        assert (r["predicted"] == positive) == (float(r[f"p_{positive}"]) >= t["value"])
    model = transferkit.load(result.run_dir)
    assert list(model.predict([r["text"] for r in rows])) == [r["predicted"] for r in rows]


def test_a_target_of_three_texts_is_adapted_to(text_file, tmp_path):
    import transferkit

    target = tmp_path / "three.txt"
    target.write_text("the hotel was lovely\nthe room was dirty\nan awful flight\n")
    result = transferkit.adapt(text_file, target, method="coral", out=tmp_path / "r", quiet=True)
    assert result.metrics["n_target"] == 3
    assert 0.0 <= result.metrics["adaptation"]["a_distance"]["before"] <= 2.0
