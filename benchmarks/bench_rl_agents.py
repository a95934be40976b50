"""Agents against the baselines a practitioner trusts, over seeds: for each environment
preset, train the default agent with `transferkit rl train` for a fixed budget at seeds
0..S-1, and report the agent's held-out mean return and its paired gap to the best
baseline as mean ± 95 % interval over the seeds (Student t), with the training time.

Run: python benchmarks/bench_rl_agents.py [--env inventory:orgym] [--steps 200000]
     [--seeds 5] [--out benchmarks/runs/rl]
Each run folder stays under --out (report pages included); a finished seed is reused.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from transferkit.rl._evaluate import interval_half_width
from transferkit.rl._train import TrainSettings, train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", action="append")
    parser.add_argument("--algo", default=None)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--envs", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/runs/rl")
    args = parser.parse_args()
    for env in args.env or ["inventory:orgym", "inventory:seasonal-shocks"]:
        rows = []
        for seed in range(args.seeds):
            folder = Path(args.out) / f"{env.replace(':', '-')}-{args.algo or 'default'}-{seed}"
            if not (folder / "evaluation.json").is_file():
                settings = TrainSettings(
                    env=env,
                    algo=args.algo,
                    steps=args.steps,
                    envs=args.envs,
                    seed=seed,
                    eval_every=args.steps // 20,
                    patience=None,
                )
                train(settings, out=folder, overwrite=True)
            rows.append(json.loads((folder / "evaluation.json").read_text()))
        report(env, rows)


def report(env: str, rows: list[dict]) -> None:
    agent = [r["agent"]["mean"] for r in rows]
    named = [k for k in rows[0]["baselines"] if k != "random"]
    print(
        f"\n{env}: {len(rows)} seeds, {rows[0]['timesteps']} steps each,"
        f" {np.mean([r['wall_s'] for r in rows]):.0f} s per run (training + evaluations)"
    )
    print(f"  agent       {np.mean(agent):9.2f} ± {interval_half_width(agent):.2f}")
    if "regret" in rows[0]["agent"]:
        regret = [r["agent"]["regret"] for r in rows]
        print(f"  agent regret {np.mean(regret):.2f} ± {interval_half_width(regret):.2f}")
        for name in named:
            theirs = [r["baselines"][name]["regret"] for r in rows]
            ratio = [a / b for a, b in zip(regret, theirs, strict=True)]
            print(
                f"  {name:<11} regret {np.mean(theirs):.2f} ± {interval_half_width(theirs):.2f};"
                f" agent / {name} {np.mean(ratio):.3f} ± {interval_half_width(ratio):.3f}"
            )
    for name in named:
        means = [r["baselines"][name]["mean"] for r in rows]
        rel = [100 * r["baselines"][name]["relative"] for r in rows]
        beats = sum(r["baselines"][name]["difference_low"] > 0 for r in rows)
        trails = sum(r["baselines"][name]["difference_high"] < 0 for r in rows)
        print(
            f"  {name:<11} {np.mean(means):9.2f} ± {interval_half_width(means):.2f};"
            f" agent {np.mean(rel):+.2f} % ± {interval_half_width(rel):.2f} %"
            f" (beats it on {beats}, trails on {trails} of {len(rows)} seeds, paired)"
        )


if __name__ == "__main__":
    main()
