"""The end of an `rl train` run: the best policy and every baseline on the same held-out
episodes, paired differences, `evaluation.json`, `summary.txt` and `report.html`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.rl._agents import load_policy
from transferkit.rl._catalog import EnvChoice
from transferkit.rl._evaluate import TEST_SEED, interval_half_width, score, verdict
from transferkit.runs._folder import write_text
from transferkit.runs._write import write_json


def held_against(
    choice: EnvChoice, agent: Any, episodes: int, seed: int = TEST_SEED, tune_seed: int = 0
) -> dict[str, Any]:
    """The agent and each baseline (tuned on other episodes) over the same `episodes`
    seeded episodes; for each baseline the paired difference agent − baseline with its
    95 % interval and the relative gap."""
    agent_score = score(choice.make, agent, episodes, seed)
    result: dict[str, Any] = {"episodes": episodes, "seed": seed, "agent": agent_score.to_dict()}
    baselines: dict[str, Any] = {}
    for name, policy in choice.baselines(tune_seed).items():
        got = score(choice.make, policy, episodes, seed)
        diff = np.asarray(agent_score.returns) - np.asarray(got.returns)
        half = interval_half_width(diff.tolist())
        baselines[name] = {
            **got.to_dict(),
            "settings": policy.describe(),
            "difference": float(diff.mean()),
            "difference_low": float(diff.mean() - half),
            "difference_high": float(diff.mean() + half),
            "relative": float(diff.mean() / abs(got.mean)) if got.mean else None,
        }
    result["baselines"] = baselines
    return result


def finish(run: Path, choice: EnvChoice, settings: Any, history: list[dict[str, float]],
           stopped: bool, echo: Any = None) -> dict[str, Any]:  # fmt: skip
    """Evaluate the run's best policy against the baselines and write its results."""
    agent, _ = load_policy(run)
    evaluation = held_against(choice, agent, settings.test_episodes)
    evaluation["stopped_early"] = stopped
    evaluation["timesteps"] = history[-1]["timesteps"] if history else 0
    evaluation["wall_s"] = history[-1]["wall_s"] if history else 0.0
    write_json(run, "evaluation.json", evaluation)
    lines = summary_lines(choice.label, settings.algo, evaluation)
    write_text(run, "summary.txt", "\n".join(lines) + "\n")
    from transferkit.rl._report import write_rl_report

    write_rl_report(run)
    if echo is not None:
        for line in lines:
            echo(line)
        echo(f"run folder: {run}")
    return evaluation


def summary_lines(label: str, algo: str | None, evaluation: dict[str, Any]) -> list[str]:
    a = evaluation["agent"]
    n = evaluation["episodes"]
    stop = ", stopped early on a plateau" if evaluation.get("stopped_early") else ""
    lines = [
        f"{label}: {algo} agent, {evaluation['timesteps']} steps in"
        f" {evaluation['wall_s']:.0f} s{stop}",
        f"{'agent':<15} {_pm(a)}  ({n} held-out episodes, mean return ± 95 % interval)",
    ]
    for name, b in evaluation["baselines"].items():
        rel = "" if b["relative"] is None else f", agent {100 * b['relative']:+.1f} %"
        lines.append(f"{name:<15} {_pm(b)}{rel}")
    lines.append("verdict: " + verdict(evaluation))
    return lines


def _pm(s: dict[str, Any]) -> str:
    text = f"{s['mean']:.2f} ± {(s['high'] - s['low']) / 2:.2f}"
    if "regret" in s:
        text += f" (regret {s['regret']:.2f} ± {s['regret_half_width']:.2f})"
    return text


def read_evaluation(run: Path) -> dict[str, Any]:
    from transferkit._errors import TransferKitError
    from transferkit.runs._folder import inside

    path = inside(run, "evaluation.json", "a run's evaluation")
    if not path.is_file():
        raise TransferKitError(
            f"{str(path)!r} is missing: the run did not finish; `transferkit rl train"
            f" --resume {run}` completes it."
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


__all__ = ["finish", "held_against", "read_evaluation", "summary_lines"]
