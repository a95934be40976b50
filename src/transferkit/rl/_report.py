"""`report.html` of an `rl train` run: the agent against the baselines, the learning
curve with each baseline as a line, and one held-out episode drawn for the environment
(stock and orders over time for inventory). Built from the run's files only."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from transferkit.rl._agents import choice_of, load_policy
from transferkit.rl._evaluate import TEST_SEED, play, verdict
from transferkit.runs._folder import write_text
from transferkit.runs._report import _env, _figure_uri, _plt


def write_rl_report(run: Path) -> Path:
    evaluation = json.loads((run / "evaluation.json").read_text())
    config = json.loads((run / "config.json").read_text())
    with open(run / "history.csv", newline="") as handle:
        history = list(csv.DictReader(handle))
    rows = [_row("agent", evaluation["agent"], None)]
    rows += [_row(name, b, b) for name, b in evaluation["baselines"].items()]
    plots = [{"title": "mean return of the evaluation episodes as training went on, with"
              " 95 % band; baselines on the held-out episodes as lines",
              "uri": _figure_uri(_curve(history, evaluation))}]  # fmt: skip
    episode = _episode_plot(run)
    if episode is not None:
        plots.append(episode)
    transfer = _transfer(run, history)
    if transfer is not None:
        plots.insert(1, transfer.pop("plot"))
    text = verdict(evaluation)
    html = _env().get_template("rl_report.html.j2").render(
        env=config["env"], algo=config["algo"], run=str(run), rows=rows, plots=plots,
        verdict=text, verdict_class="good" if "BEATS" in text else "why",
        episodes=evaluation["episodes"], timesteps=evaluation["timesteps"],
        wall=f"{evaluation['wall_s']:.0f}", stopped=evaluation.get("stopped_early", False),
        transfer=transfer,
    )  # fmt: skip
    return write_text(run, "report.html", html)


def _transfer(run: Path, history: list[dict[str, str]]) -> dict[str, Any] | None:
    """The transfer's record, its metrics against scratch and both curves (when the run
    trained a scratch baseline beside it)."""
    path, scratch_path = run / "transfer.json", run / "baseline-scratch" / "history.csv"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    out: dict[str, Any] = {"record": record, "metrics": record.get("metrics"), "plot": None}
    if not scratch_path.is_file():
        out["plot"] = {"title": "transfer", "uri": _figure_uri(_curves({"transfer": history}))}
        return out
    with open(scratch_path, newline="") as handle:
        scratch = list(csv.DictReader(handle))
    fig = _curves({"transfer": history, "scratch": scratch})
    if out["metrics"] and out["metrics"].get("threshold") is not None:
        fig.axes[0].axhline(out["metrics"]["threshold"], color="#718096", linestyle=":",
                            label="threshold")  # fmt: skip
        fig.axes[0].legend(fontsize=8, loc="lower right")
    title = (
        f"from {record.get('source_env')} and from scratch, the same budget (95 % bands over"
        " the evaluation episodes)"
    )
    out["plot"] = {"title": title, "uri": _figure_uri(fig)}
    return out


def _curves(curves: dict[str, list[dict[str, str]]]) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for (name, rows), colour in zip(curves.items(), ["#2b6cb0", "#c53030"], strict=False):
        steps = [float(r["timesteps"]) for r in rows]
        ax.plot(steps, [float(r["mean"]) for r in rows], color=colour, label=name)
        ax.fill_between(steps, [float(r["low"]) for r in rows], [float(r["high"]) for r in rows],
                        color=colour, alpha=0.2)  # fmt: skip
    ax.set_xlabel("training steps on the target")
    ax.set_ylabel("mean episode return")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def _row(name: str, s: dict[str, Any], b: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": name, "mean": s["mean"], "low": s["low"], "high": s["high"],
        "diff": b["difference"] if b else None,
        "diff_low": b["difference_low"] if b else None,
        "diff_high": b["difference_high"] if b else None,
        "relative": b["relative"] if b else None,
        "settings": ", ".join(f"{k} {v}" for k, v in (b or {}).get("settings", {}).items()),
    }  # fmt: skip


def _curve(history: list[dict[str, str]], evaluation: dict[str, Any]) -> Any:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    steps = [float(r["timesteps"]) for r in history]
    ax.plot(steps, [float(r["mean"]) for r in history], color="#2b6cb0", label="agent")
    ax.fill_between(steps, [float(r["low"]) for r in history],
                    [float(r["high"]) for r in history], color="#2b6cb0", alpha=0.2)  # fmt: skip
    colours = ["#c53030", "#2f855a", "#d69e2e", "#6b46c1", "#718096", "#dd6b20"]
    for (name, b), colour in zip(evaluation["baselines"].items(), colours, strict=False):
        ax.axhline(b["mean"], color=colour, linestyle="--", linewidth=1.2, label=name)
    ax.set_xlabel("training steps")
    ax.set_ylabel("mean episode return")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def _episode_plot(run: Path) -> dict[str, str] | None:
    """One held-out episode of the agent, drawn by its environment's picture."""
    from transferkit.rl._pictures import PICTURES

    meta = json.loads((run / "policy.json").read_text())
    kind = meta["env"].partition(":")[0]
    draw = PICTURES.get(kind)
    if draw is None:
        return None
    agent, _ = load_policy(run)
    choice = choice_of(meta)
    env = choice.make()
    steps: list[dict[str, Any]] = []
    total = play(env, agent, TEST_SEED, watch=steps.append)
    fig, title = draw(env, steps, total)
    return {"title": title, "uri": _figure_uri(fig)}
