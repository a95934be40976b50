"""Transfer in reinforcement learning measured as Taylor and Stone (2009) define it: for
each pair (source -> target) and seed, a source agent is trained, then the target is
trained from it and, beside it, from scratch on the same budget (`rl transfer --baseline
scratch`); jumpstart, asymptotic gain, transfer ratio (area under the curves) and the
ratio of the times to the threshold are summarised over seeds as mean ± 95 % interval,
and a pair whose transfer hurt is flagged NEGATIVE TRANSFER.

Pairs: cartpole (pole 0.5 -> 1.0), cartpole-mirrored (the deliberate negative case:
actions reversed), routing (10 -> 20 customers, the entity policy), inventory (one stage
-> OR-Gym's three, policy surgery on an MLP).

Run: python benchmarks/bench_rl_transfer.py [--pair cartpole] [--seeds 5]
     [--out benchmarks/runs/rl-transfer]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transferkit.rl._train import TrainSettings, train
from transferkit.rl._transfer import transfer
from transferkit.rl._transfer_metrics import negative, summarise

# pair -> (source env, source steps, target env, target steps)
PAIRS = {
    "cartpole": ("cartpole:default", 50_000, "cartpole:long-pole", 30_000),
    "cartpole-mirrored": ("cartpole:default", 50_000, "cartpole:mirrored", 30_000),
    "routing": ("routing:10", 100_000, "routing:20", 60_000),
    "inventory": ("inventory:single-stage", 100_000, "inventory:orgym", 100_000),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pair", action="append", choices=sorted(PAIRS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/runs/rl-transfer")
    args = parser.parse_args()
    for pair in args.pair or list(PAIRS):
        source_env, source_steps, target_env, target_steps = PAIRS[pair]
        results = []
        for seed in range(args.seeds):
            root = Path(args.out) / pair / f"seed-{seed}"
            source = root / "source"
            if not (source / "evaluation.json").is_file():
                settings = TrainSettings(env=source_env, steps=source_steps, seed=seed,
                                         eval_every=source_steps // 20, patience=None)  # fmt: skip
                train(settings, out=source, overwrite=True)
            target = root / "target"
            if not (target / "baseline-scratch" / "evaluation.json").is_file():
                transfer(source, target_env, steps=target_steps, seed=seed, out=target,
                         overwrite=True, baseline_scratch=True)  # fmt: skip
            results.append(json.loads((target / "transfer.json").read_text())["metrics"])
        report(pair, source_env, target_env, results)


def report(pair: str, source: str, target: str, results: list[dict]) -> None:
    summary = summarise(results)
    print(f"\n{pair}: {source} -> {target}, {len(results)} seeds")
    for key in ("jumpstart", "asymptotic_gain", "transfer_ratio", "time_ratio"):
        got = summary.get(key)
        if got is None:
            print(f"  {key:<16} undefined on every seed")
            continue
        print(f"  {key:<16} {got['mean']:+.3f} ± {got['half_width']:.3f} ({got['seeds']} seeds)")
    if negative(summary):
        print("  NEGATIVE TRANSFER")


if __name__ == "__main__":
    main()
