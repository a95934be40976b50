"""The steps of `adapt` after embedding: adapt, evaluate, write the run folder.

Target labels, when the user gave them, are read in `evaluate` only, after the choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit._progress import status
from transferkit.config._adapt import AdaptationConfig
from transferkit.heads._threshold import Threshold, decide
from transferkit.jobs._adapt_data import NEGATIVE, Adapted, Embedded
from transferkit.jobs._steps import Job

if TYPE_CHECKING:
    from transferkit.adaptation._select import Candidate

DEEP_SEEDS = 3  # a deep method is trained with this many seeds (mean ± std reported)


def adapt_features(job: Job, settings: AdaptationConfig, embedded: Embedded) -> Adapted:
    """Fit the methods on source train + target, score them without target labels, keep
    the criterion's choice (source-only when nothing beats it), fold it into a head."""
    from transferkit.adaptation._fold import fold_to_head
    from transferkit.adaptation._methods import auto_methods, get_method
    from transferkit.adaptation._select import Domains, choose

    splits, f = embedded.splits, embedded.features
    domains = Domains(
        f["train"],
        splits.train.labels,
        f["val"],
        splits.val.labels,
        f["target"],
        len(splits.class_names),
        embedded.source_ids,
    )
    c = float(embedded.source_only.head_info.get("C", 1.0))
    names = auto_methods() if settings.method == "auto" else ["source-only", settings.method]
    names = list(dict.fromkeys(names))
    seed = job.config.data.seed
    checkpoint = None if job.run_dir is None else (job.run_dir, job.resume_dir is not None)
    top = job.strategy if job.strategy.startswith("top:") else None
    candidates = []
    with job.timer.phase("adapt"):
        for name in names:
            with status(f"adapting: {name}" + (f" ({top})" if top else ""), job.show):
                if top and get_method(name).deep:
                    from transferkit.jobs._adapt_top import fit_top_groups

                    seeds = [seed + i for i in range(DEEP_SEEDS)]
                    candidate = fit_top_groups(job, embedded, name, seeds, checkpoint)
                else:
                    candidate = _fit_scored(name, domains, c, seed, checkpoint)
            candidates.append(candidate)
        failed = [c for c in candidates if c.error and c.method == settings.method]
        if failed:
            raise TransferKitError(
                f"method {settings.method!r} could not run on these features"
                f" ({failed[0].error}): pick another --method, or --method auto."
            )
        best = choose(candidates, settings.criterion)
        if get_method(best.method).deep:  # the adapter network is the head (first seed's)
            head = best.pipeline[-1].base_estimator_.head_
        else:
            head = fold_to_head(best.pipeline, f["target"], len(splits.class_names))
    adapted = Adapted(head, best.method, candidates, "", backbone=best.backbone)
    adapted.features = best.features
    adapted.why, adapted.verdict = _why(settings, candidates, best)
    with job.timer.phase("distance"):
        _measure_distance(adapted, best, domains, seed)
    adapted.threshold = embedded.source_only.tuned  # tuned on the source, as `fit` tunes it
    if settings.label_shift is not None:
        _correct_label_shift(job, adapted, settings.label_shift, embedded)
    return adapted


def _fit_scored(
    name: str, domains: Any, c: float, seed: int, checkpoint: tuple[Path, bool] | None
) -> Candidate:
    """One method fitted and scored; a deep one (random: adversarial training is unstable
    across seeds) with DEEP_SEEDS seeds, scored by the mean of its seeds' scores."""
    from transferkit.adaptation._methods import get_method
    from transferkit.adaptation._select import (
        Candidate,
        fit_method,
        mean_scores,
        score_candidate,
    )

    seeds = [seed + i for i in range(DEEP_SEEDS)] if get_method(name).deep else [seed]
    fitted = []
    try:
        for s in seeds:
            candidate = fit_method(name, domains, c, s, checkpoint)
            candidate.scores = score_candidate(candidate, domains, s)
            fitted.append(candidate)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        # a method that cannot run on these features (a singular covariance, too few
        # samples for its subspace) is left out and said, not fatal
        return Candidate(name, None, error=f"{type(exc).__name__}: {str(exc)[:160]}")
    first = fitted[0]
    if len(fitted) > 1:
        first.replicas = [f.pipeline for f in fitted]
        first.replica_scores = [f.scores for f in fitted]
        first.scores = mean_scores(first.replica_scores)
        first.seconds = round(sum(f.seconds for f in fitted), 3)
    return first


def _why(
    settings: AdaptationConfig, candidates: list[Candidate], best: Candidate
) -> tuple[str, str | None]:
    """The paragraph that says what was chosen and why, and the negative-transfer verdict."""
    crit = settings.criterion
    usable = [c for c in candidates if c.error is None]
    listed = ", ".join(f"{c.method} {c.scores[crit]:.4g}" for c in usable)
    text = (
        f"{len(usable)} method(s) fitted on the labelled source and the unlabelled target and"
        f" scored by {crit} (higher is better, no target label read): {listed}."
    )
    if best.method != "source-only":
        return text + f" {best.method!r} scores highest and is kept.", None
    if settings.method in ("auto", "source-only"):
        return text + " No method beats source-only by this criterion: source-only is kept.", None
    return (
        text
        + f" {settings.method!r} does not score above source-only: adapting would not help here, so"
        " the source-only model is kept.",
        NEGATIVE,
    )


def _measure_distance(adapted: Adapted, best: Candidate, domains: Any, seed: int) -> None:
    """The proxy A-distance between the domains, before and after the chosen method."""
    from transferkit.adaptation._distance import proxy_a_distance
    from transferkit.adaptation._methods import get_method
    from transferkit.adaptation._skada import routing

    xs, xt = domains.source_train, domains.target
    adapted.distances["before"] = round(proxy_a_distance(xs, xt, seed), 4)
    adapted.views["before"] = (xs, xt)
    if best.features is not None:  # the top groups trained: the new backbone's features
        xs, xt = best.features["train"], best.features["target"]
    method = get_method(best.method)
    if not method.moves_features:  # reweighting, pseudo-labels
        adapted.distances["after"] = adapted.distances["before"]
        return
    if method.deep:  # the adapter's hidden layer, where its domain loss acts
        network = best.pipeline[-1].base_estimator_
        after_s, after_t = network.embed(xs), network.embed(xt)
    else:
        steps = best.pipeline[:-1]  # the standardisation and the adapter
        with routing():
            after_s = steps.transform(
                xs, sample_domain=np.ones(len(xs), dtype=int), allow_source=True
            )
            after_t = steps.transform(xt, sample_domain=-np.ones(len(xt), dtype=int))
    adapted.distances["after"] = round(proxy_a_distance(after_s, after_t, seed), 4)
    adapted.views[f"after {best.method}"] = (after_s, after_t)


def _correct_label_shift(job: Job, adapted: Adapted, how: str, embedded: Embedded) -> None:
    """Re-estimate the target's class priors without its labels; correct the head's bias;
    re-tune a `--threshold` rule for the target's estimated class mix."""
    from transferkit.adaptation._label_shift import bbse_priors, corrected_head, em_priors

    splits, f = embedded.splits, adapted.inputs(embedded)
    k = len(splits.class_names)
    source = np.bincount(splits.train.labels, minlength=k) / len(splits.train.labels)
    proba_t = adapted.head.predict_proba(f["target"])
    if how == "em":
        priors = em_priors(proba_t, source)
    else:
        predicted_val = adapted.head.predict_proba(f["val"]).argmax(axis=1)
        priors = bbse_priors(splits.val.labels, predicted_val, proba_t.argmax(axis=1), k)
    adapted.head = corrected_head(adapted.head, source, priors)
    if job.rule is not None:
        adapted.threshold = _threshold_for_target(job, embedded, source, priors)
    names = splits.class_names
    adapted.priors = {
        "method": how,
        "source": dict(zip(names, np.round(source, 4).tolist(), strict=True)),
        "estimated_target": dict(zip(names, np.round(priors, 4).tolist(), strict=True)),
    }


def _threshold_for_target(
    job: Job, embedded: Embedded, source: np.ndarray, priors: np.ndarray
) -> Threshold:
    """The rule's threshold on the source's out-of-fold scores, corrected to the target's
    estimated priors and weighted to its class mix: the precision a rule asks for is then
    the target's, not the source's (recall is the same under either mix)."""
    from transferkit.adaptation._label_shift import shifted_scores, target_mix_weights
    from transferkit.heads._threshold import choose_threshold

    splits, scores = embedded.splits, embedded.source_only.oof
    labels = splits.train.labels
    assert job.rule is not None and scores is not None  # the embed step tuned the rule
    return choose_threshold(
        labels,
        shifted_scores(scores, source, priors),
        job.rule,
        splits.class_names[1],
        sample_weight=target_mix_weights(labels, source, priors),
    )


def evaluate(
    job: Job, settings: AdaptationConfig, embedded: Embedded, adapted: Adapted
) -> dict[str, Any]:
    """Source validation metrics, and target metrics (with every method's target accuracy
    and the oracle's) when the target's labels were given to evaluate."""
    from transferkit.evaluation._metrics import classification_metrics

    splits, f = embedded.splits, adapted.inputs(embedded)
    names = splits.class_names
    with job.timer.phase("evaluate"):
        proba_val = adapted.head.predict_proba(f["val"])
        source_val = classification_metrics(
            splits.val.labels, decide(proba_val, adapted.threshold), names, proba_val
        )
        metrics: dict[str, Any] = {"source_val": _headline(source_val)}
        if embedded.target.labelled:
            metrics.update(_target_metrics(embedded, adapted))
        else:
            metrics.update(source_val)
            metrics["evaluated_on"] = "val"
        group = job.config.evaluation.group
        if group is not None:
            metrics["groups"] = _audit(embedded, adapted, group, metrics["evaluated_on"])
    return metrics


def _audit(embedded: Embedded, adapted: Adapted, group: str, on: str) -> dict[str, Any]:
    """The per-group audit of the kept model on the split the run is evaluated on."""
    from transferkit.evaluation._audit import group_audit

    data = embedded.target.data if on == "target" else embedded.splits.val
    proba = adapted.head.predict_proba(adapted.inputs(embedded)[on])
    predicted = decide(proba, adapted.threshold)
    names = embedded.splits.class_names
    return group_audit(data.labels, predicted, data.fields[group], names, group, on)


def _target_metrics(embedded: Embedded, adapted: Adapted) -> dict[str, Any]:
    from transferkit.adaptation._fold import target_logits
    from transferkit.evaluation._metrics import classification_metrics

    f, names = embedded.features, embedded.splits.class_names
    y = embedded.target.data.labels
    proba = adapted.head.predict_proba(adapted.inputs(embedded)["target"])
    metrics = classification_metrics(y, decide(proba, adapted.threshold), names, proba)
    metrics["evaluated_on"] = "target"
    per_method, per_seed = {}, {}
    for c in adapted.candidates:
        if c.error is None:
            # each seed on its own features when it trained the backbone's top groups
            targets = c.replica_targets or [f["target"]] * max(1, len(c.replicas))
            accuracies = [
                float(np.mean(target_logits(p, x, len(names)).argmax(1) == y))
                for p, x in zip(c.replicas or [c.pipeline], targets, strict=True)
            ]
            per_method[c.method] = round(float(np.mean(accuracies)), 4)
            if c.replicas:  # mean ± std over the seeds, each seed's accuracy
                per_seed[c.method] = {
                    "mean": round(float(np.mean(accuracies)), 4),
                    "std": round(float(np.std(accuracies)), 4),
                    "seeds": [round(a, 4) for a in accuracies],
                }
    oracle = max(per_method, key=lambda m: per_method[m])
    metrics["target_accuracy_by_method"] = per_method
    if per_seed:
        metrics["target_accuracy_by_seed"] = per_seed
    metrics["oracle"] = {"method": oracle, "accuracy": per_method[oracle]}
    if adapted.priors is not None:
        true = np.bincount(y, minlength=len(names)) / len(y)
        adapted.priors["true_target"] = dict(zip(names, np.round(true, 4).tolist(), strict=True))
    return metrics


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "pr_auc")
    return {k: metrics[k] for k in keys if k in metrics}
