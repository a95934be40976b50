"""`report.html`: one self-contained page per run folder (plots and thumbnails embedded as
data URIs, no script, nothing fetched), and `compare.html` for several runs side by side.

Everything comes from the files the run wrote: config.json, metrics.json, history.csv,
predictions_*.csv, skipped.csv, ranking.json (auto or rank) and baseline-scratch/. A
report can be rebuilt at any time with `transferkit report RUN`.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.runs._files import (
    check_metrics,
    read_csv,
    read_history,
    read_json,
    read_predictions,
    settings_of,
)
from transferkit.runs._folder import inside, write_text

MISTAKES = 12
THUMBNAILS = "report_thumbnails.json"  # the mistakes' thumbnails, made by `fit`
JPEG_URI = "data:image/jpeg;base64,"
WAV_URI = "data:audio/wav;base64,"
SOUND_SECONDS = 2.0  # a mistaken clip's player holds at most this much of it
SKIPPED_SHOWN = 50
TEMPLATES = Path(__file__).parent / "templates"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure_uri(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _file_uri(path: Path) -> str | None:
    """A PNG the run wrote, as a data URI (None when it is not a PNG)."""
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{100 * float(v):.1f} %"
    env.filters["num"] = lambda v, d=4: "n/a" if v is None else f"{float(v):.{d}f}"
    return env


def write_report(run_dir: str | Path, *, from_inputs: bool = False) -> Path:
    """Build `RUN/report.html` from the run's files; returns its path.

    Everything is read inside the run folder. Thumbnails of mistaken images are made from
    the inputs only when `from_inputs` (by `fit`, which has just read those very files) and
    kept in `report_thumbnails.json`; a rebuild takes them from there, so a run folder's
    own files can never make the page embed a file from elsewhere.
    """
    run = Path(run_dir)
    metrics = read_json(run, "metrics.json")
    if metrics is None:
        raise TransferKitError(
            f"{str(run)!r} has no metrics.json: give a finished run folder of `transferkit fit`."
        )
    config = settings_of(read_json(run, "config.json") or {})
    context = _run_context(run, check_metrics(run, metrics), config, from_inputs)
    page = _env().get_template("report.html.j2").render(**context)
    return write_text(run, "report.html", page)


def _run_context(
    run: Path, metrics: dict[str, Any], config: dict[str, Any], from_inputs: bool
) -> dict[str, Any]:
    history = read_history(run, "history.csv")
    evaluated = metrics.get("evaluated_on", "val")
    # target: an adapted run; cv: every row trained, scored out of fold
    if evaluated not in ("val", "test", "target", "cv"):
        raise TransferKitError(
            f"{str(run / 'metrics.json')!r} is damaged: evaluated_on is {evaluated!r}, not"
            " 'val', 'test', 'target' or 'cv'. Restore it, or refit."
        )
    predictions = read_predictions(run, f"predictions_{evaluated}.csv")
    classes = metrics.get("confusion_matrix_labels") or sorted(metrics.get("per_class", {}))
    skipped = read_csv(run, "skipped.csv")
    return {
        "title": f"{Path(config.get('data', run.name)).name} · {metrics.get('backbone')}"
        f" · {metrics.get('strategy')}",
        "run": str(run.resolve()),
        "config": config,
        "metrics": metrics,
        "headline": _headline(metrics),
        "class_counts": _class_counts(metrics),
        "skipped": skipped[:SKIPPED_SHOWN],
        "n_skipped": len(skipped),
        "train_settings": config.get("train") or {},
        "curves": _curves(history),
        "confusion": _confusion(metrics, classes),
        "per_class": metrics.get("per_class", {}),
        "binary_curves": _binary_curves(predictions, metrics),
        "mistakes": _mistakes(predictions, MISTAKES, run, from_inputs),
        "ranking": _ranking(run),
        "baseline": _baseline(run, metrics, history),
        "adaptation": _adaptation(run, metrics),
        "audit": _audit(metrics),
        "tasks": _tasks(metrics),
    }


def _tasks(metrics: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A multi-task run: each task's scores, beside its single-task run when there is one."""
    tasks = metrics.get("tasks")
    if not isinstance(tasks, dict):
        return None
    baseline = metrics.get("baseline") or {}
    singles = baseline.get("tasks", {}) if baseline.get("strategy") == "single-task" else {}
    return [
        {
            "name": name,
            "n": m.get("n_evaluated"),
            "accuracy": m.get("accuracy"),
            "balanced_accuracy": m.get("balanced_accuracy"),
            "macro_f1": m.get("macro_f1"),
            "single": singles.get(name, {}).get("accuracy"),
            "gain": singles.get(name, {}).get("gain"),
        }
        for name, m in tasks.items()
        if isinstance(m, dict)
    ]


def _audit(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The per-group audit: its chart, and a table of every metric per group."""
    audit = metrics.get("groups")
    if not audit:
        return None
    from transferkit.evaluation._audit import audit_chart, audit_line

    table = audit["by_group"]
    names = list(table)
    groups = sorted(table["accuracy"], key=lambda g: (table["accuracy"][g], g))
    return {
        "line": audit_line(audit) if "worst" in audit and "gap" in audit else "",
        "chart": _figure_uri(audit_chart(audit)),
        "metrics": names,
        "rows": [[g, *[table[n].get(g) for n in names]] for g in groups],
        "gap": audit.get("gap", {}),
    }


def _adaptation(run: Path, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """An adapted run's evidence: every method's scores and the two domains' picture."""
    facts = metrics.get("adaptation")
    if not isinstance(facts, dict):
        return None
    picture = inside(run, "domains.png")
    rows = read_csv(run, "adaptation.csv")
    return {
        **facts,
        "rows": rows,
        "picture": _file_uri(picture) if picture.is_file() else None,
    }


def _headline(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("accuracy", metrics.get("accuracy")),
        ("balanced accuracy", metrics.get("balanced_accuracy")),
        ("macro-F1", metrics.get("macro_f1")),
        ("ROC-AUC", metrics.get("roc_auc")),
        ("PR-AUC", metrics.get("pr_auc")),
        ("always the majority class", metrics.get("majority_baseline_accuracy")),
    ]
    return [(name, f"{value:.4f}") for name, value in rows if value is not None]


def _class_counts(metrics: dict[str, Any]) -> dict[str, Any]:
    counts = metrics.get("class_counts", {})
    splits = [s for s in ("train", "val", "test") if counts.get(s)]
    classes = sorted({c for s in splits for c in counts[s]})
    return {
        "splits": splits,
        "rows": [[c, *[counts[s].get(c, 0) for s in splits]] for c in classes],
    }


def _curves(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """Loss, validation metrics and the learning rate of each layer group, per epoch."""
    if not history:
        return []
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    epochs = [int(r["epoch"]) + 1 for r in history]
    columns = list(history[0])

    def series(name: str) -> list[float]:
        return [float(r[name]) if r.get(name) not in (None, "") else np.nan for r in history]

    out = []
    losses = [c for c in columns if c.endswith("loss")]
    scores = [c for c in columns if c.startswith("val_") and not c.endswith("loss")]
    rates = [c for c in columns if c.startswith("lr_")]
    for title, names, log in (
        ("Loss per epoch", losses, False),
        ("Validation metrics per epoch", scores, False),
        ("Learning rate per layer group", rates, True),
    ):
        if not names:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.4))
        for name in names:
            ax.plot(epochs, series(name), marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if len(names) > 4 else 1)
        out.append({"title": title, "uri": _figure_uri(fig)})
    return out


def _confusion(metrics: dict[str, Any], classes: list[str]) -> str | None:
    matrix = metrics.get("confusion_matrix")
    if not matrix:
        return None
    plt = _plt()
    m = np.asarray(matrix)
    size = max(3.2, 0.55 * len(classes) + 1.8)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        colour = "white" if v > m.max() / 2 else "black"
        ax.text(j, i, str(v), ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix ({metrics.get('evaluated_on', 'val')})")
    return _figure_uri(fig)


def _binary_curves(
    predictions: list[dict[str, str]], metrics: dict[str, Any]
) -> list[dict[str, str]]:
    """ROC and precision-recall curves of the positive class, for binary tasks."""
    positive = metrics.get("positive_class")
    if not positive or not predictions or f"p_{positive}" not in predictions[0]:
        return []
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = np.array([r["label"] == positive for r in predictions], dtype=int)
    if y.min() == y.max():
        return []
    score = np.array([float(r[f"p_{positive}"]) for r in predictions])
    plt = _plt()
    fpr, tpr, _ = roc_curve(y, score)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(fpr, tpr, label=f"ROC-AUC {metrics.get('roc_auc', float('nan')):.4f}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC, positive class {positive!r}")
    ax.legend(loc="lower right")
    roc = _figure_uri(fig)
    precision, recall, _ = precision_recall_curve(y, score)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(recall, precision, label=f"PR-AUC {metrics.get('pr_auc', float('nan')):.4f}")
    ax.axhline(y.mean(), ls="--", color="grey", lw=0.8, label=f"prevalence {y.mean():.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall, positive class {positive!r}")
    ax.legend(loc="lower left")
    return [{"title": "ROC curve", "uri": roc}, {"title": "PR curve", "uri": _figure_uri(fig)}]


def _sound_preview(path: str) -> tuple[str | None, str | None]:
    """A mistaken clip's spectrogram (JPEG) and the clip itself (16-bit WAV, 16 kHz, its
    first seconds), both as data URIs; (None, None) when the file cannot be decoded."""
    import soundfile
    import torch

    from transferkit.backbones._audio import FRONT_END, LogMel
    from transferkit.data._audio import decode_audio

    try:
        rate = int(FRONT_END["sample_rate"])
        wave = decode_audio(path, rate)[: int(SOUND_SECONDS * rate)]
        with torch.inference_mode():
            db = LogMel(FRONT_END, 112).decibels(torch.from_numpy(wave)[None])[0].numpy()
        low, high = float(db.min()), float(db.max())
        shade = (db[::-1] - low) / max(high - low, 1e-6)  # low frequencies at the bottom
        rgb = (_plt().get_cmap("magma")(shade)[..., :3] * 255).astype(np.uint8)
        from PIL import Image

        picture = Image.fromarray(rgb).resize((160, 96))
        jpeg, wav = io.BytesIO(), io.BytesIO()
        picture.save(jpeg, format="JPEG", quality=80)
        soundfile.write(wav, wave, rate, format="WAV", subtype="PCM_16")
    except Exception:  # a preview that cannot be made is left out of the page, never fatal
        return None, None
    return (
        JPEG_URI + base64.b64encode(jpeg.getvalue()).decode("ascii"),
        WAV_URI + base64.b64encode(wav.getvalue()).decode("ascii"),
    )


def _thumbnail(path: str) -> str | None:
    from transferkit.data._audio import is_audio_file

    if is_audio_file(Path(path)):
        return _sound_preview(path)[0]
    from transferkit.data._images import decode_image as open_image

    try:
        image = open_image(path, 224)  # the project's decoder: every mode, the pixel limit
        image.thumbnail((112, 112))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
    except Exception:  # a thumbnail that cannot be made is left out of the page, never fatal
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _where(ref: str, run: Path | None) -> str:
    from transferkit.runs._write import resolve_ref

    return str(resolve_ref(ref, run)) if run is not None else ref


def _thumbnails(
    wrong: list[dict[str, str]], run: Path | None, from_inputs: bool
) -> dict[str, str | None]:
    """Thumbnails of mistaken images by input: made from the inputs (and kept in the run
    folder) only when `from_inputs`, else the ones kept."""
    if run is None:
        return _previews(wrong, None) if from_inputs else {}
    if not from_inputs:
        saved = read_json(run, THUMBNAILS) or {}
        return {
            k: v
            for k, v in saved.items()
            if isinstance(v, str) and v.startswith(WAV_URI if k.startswith("audio:") else JPEG_URI)
        }
    made = _previews(wrong, run)
    from transferkit.runs._write import write_json

    write_json(run, THUMBNAILS, {k: v for k, v in made.items() if v})
    return made


def _previews(wrong: list[dict[str, str]], run: Path | None) -> dict[str, str | None]:
    """Thumbnails by input; a sound also gets its clip, under 'audio:' + input."""
    from transferkit.data._audio import is_audio_file

    made: dict[str, str | None] = {}
    for r in wrong:
        path = _where(r["input"], run)
        if is_audio_file(Path(path)):
            made[r["input"]], made["audio:" + r["input"]] = _sound_preview(path)
        else:
            made[r["input"]] = _thumbnail(path)
    return made


def _mistakes(
    predictions: list[dict[str, str]], n: int, run: Path | None = None, from_inputs: bool = False
) -> list[dict[str, Any]]:
    """The most confident wrong predictions, with a thumbnail or a text snippet."""
    wrong = [r for r in predictions if r["label"] != r["predicted"]]
    wrong.sort(key=lambda r: -float(r["confidence"]))
    images = [r for r in wrong[:n] if r.get("text") is None]
    thumbnails = _thumbnails(images, run, from_inputs) if images else {}
    out = []
    for r in wrong[:n]:
        text = r.get("text")
        out.append(
            {
                "input": r["input"],
                "name": Path(r["input"]).name if text is None else r["input"],
                "label": r["label"],
                "predicted": r["predicted"],
                "confidence": float(r["confidence"]),
                "text": (text[:280] + "…") if text and len(text) > 280 else text,
                "thumbnail": None if text is not None else thumbnails.get(r["input"]),
                "audio": None if text is not None else thumbnails.get("audio:" + r["input"]),
            }
        )
    return out


def _ranking(run: Path) -> dict[str, Any] | None:
    saved = read_json(run, "ranking.json")
    if saved is None:
        return None
    rows = [c for c in saved["candidates"] if not c.get("skipped")]
    chart = inside(run, "ranking.png")
    return {
        "why": saved.get("why", ""),
        "n_scored": saved.get("n_scored_samples"),
        "scores": ["logme", "leep", "nce", "h_score", "knn_accuracy", "probe_accuracy"],
        "rows": rows[:20],
        "skipped": [c for c in saved["candidates"] if c.get("skipped")],
        "chart": _file_uri(chart) if chart.is_file() else None,
    }


def _baseline(
    run: Path, metrics: dict[str, Any], history: list[dict[str, str]]
) -> dict[str, Any] | None:
    baseline = metrics.get("baseline")
    if not baseline or baseline.get("strategy") == "single-task":  # in the tasks section
        return None
    plt = _plt()
    scratch_history = read_history(run, "baseline-scratch/history.csv")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, rows in (("transfer", history), ("scratch", scratch_history)):
        if rows and "val_accuracy" in rows[0]:
            ax.plot(
                [int(r["epoch"]) + 1 for r in rows],
                [float(r["val_accuracy"]) if r["val_accuracy"] else np.nan for r in rows],
                marker="o",
                markersize=3,
                label=f"{label} (val accuracy)",
            )
    ax.axhline(metrics["accuracy"], color="C0", ls=":", lw=1, label="transfer, final")
    ax.axhline(baseline["accuracy"], color="C1", ls=":", lw=1, label="scratch, final")
    ax.set_xlabel("epoch")
    ax.set_title("Transfer vs the same network from scratch")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return {**baseline, "uri": _figure_uri(fig)}
