"""`compare.html`: several run folders side by side (settings, metrics, curves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.runs._files import check_metrics, read_history, read_json, settings_of
from transferkit.runs._report import _env, _figure_uri, _plt


def compare_runs(runs: list[str | Path], out: str | Path) -> Path:
    """One page comparing several run folders: settings, metrics and curves side by side."""
    if len(runs) < 2:
        raise TransferKitError("compare needs at least two run folders.")
    loaded = []
    for run in map(Path, runs):
        metrics = read_json(run, "metrics.json")
        if metrics is None:
            raise TransferKitError(
                f"{str(run)!r} has no metrics.json: give finished run folders of `transferkit fit`."
            )
        settings = settings_of(read_json(run, "config.json") or {})
        loaded.append((run, check_metrics(run, metrics), settings))
    names = _short_names([r for r, _, _ in loaded])
    keys = ["accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "pr_auc"]
    table = [
        {
            "name": name,
            "run": str(run.resolve()),
            "data": Path(config.get("data", "")).name,
            "backbone": metrics.get("backbone"),
            "strategy": metrics.get("strategy"),
            "epochs": (config.get("train") or {}).get("epochs", ""),
            "seconds": (metrics.get("timings") or {}).get("total"),
            "values": [metrics.get(k) for k in keys],
            "gain": (metrics.get("baseline") or {}).get("transfer_gain"),
        }
        for name, (run, metrics, config) in zip(names, loaded, strict=True)
    ]
    best = [
        max(
            (v for row in table if (v := row["values"][i]) is not None and v == v),  # not NaN
            default=None,
        )
        for i in range(len(keys))
    ]
    page = (
        _env()
        .get_template("compare.html.j2")
        .render(
            rows=table,
            keys=keys,
            best=best,
            plots=_compare_plots(names, loaded, keys),
        )
    )
    path = Path(out)
    if path.is_dir():
        path = path / "compare.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _short_names(runs: list[Path]) -> list[str]:
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        names = [f"{r.parent.name}/{r.name}" for r in runs]
    return names


def _compare_plots(
    names: list[str], loaded: list[tuple[Path, dict[str, Any], dict[str, Any]]], keys: list[str]
) -> list[dict[str, str]]:
    plt = _plt()
    out = []
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(names)
    shown = [k for k in keys if any(m.get(k) is not None for _, m, _ in loaded)]
    for i, (name, (_, metrics, _)) in enumerate(zip(names, loaded, strict=True)):
        values = [metrics.get(k) or 0.0 for k in shown]
        ax.bar(np.arange(len(shown)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(shown)) + width * (len(names) - 1) / 2, shown)
    ax.set_ylim(0, 1.05)
    ax.set_title("Metrics on each run's evaluated split")
    ax.legend(fontsize=7)
    out.append({"title": "Metrics", "uri": _figure_uri(fig)})
    histories = [
        (n, read_history(r, "history.csv")) for n, (r, _, _) in zip(names, loaded, strict=True)
    ]
    histories = [(n, h) for n, h in histories if h and "val_accuracy" in h[0]]
    if histories:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        for name, rows in histories:
            ax.plot(
                [int(r["epoch"]) + 1 for r in rows],
                [float(r["val_accuracy"]) if r["val_accuracy"] else np.nan for r in rows],
                marker="o",
                markersize=3,
                label=name,
            )
        ax.set_xlabel("epoch")
        ax.set_title("Validation accuracy per epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        out.append({"title": "Learning curves", "uri": _figure_uri(fig)})
    return out
