"""Transfer in reinforcement learning measured as Taylor and Stone (2009) define it: for
each pair (source -> target) and seed, a source agent is trained, then the target is
trained from it and, beside it, from scratch on the same budget (`rl transfer --baseline
scratch`); jumpstart, asymptotic gain, transfer ratio (area under the curves) and the
ratio of the times to the threshold are summarised over seeds as mean ± 95 % interval,
and a pair whose transfer hurt is flagged NEGATIVE TRANSFER.

Pairs: cartpole (pole 0.5 -> 1.0), cartpole-mirrored (the deliberate negative case:
actions reversed), routing (10 -> 20 customers, the entity policy), inventory (one stage
-> OR-Gym's three, policy surgery on an MLP), routing-50 (the routing pair's target runs,
trained on 20 customers from 10, go on to 50: the chain 10 -> 20 -> 50), inventory-lead
(OR-Gym's three stages with lead times 1, 2, 4 -> its own 3, 5, 10: a longer pipeline in
the observation, the MLP's input layer transplanted entry by entry).

Two more experiments (`--experiment`):
- `sim-to-real`: an agent trained in the simulator (cartpole:default, inventory:orgym) is
  scored in the "real" environment (cartpole:real, inventory:real); the gap is what an
  agent trained in the real one with the same budget gets beyond it; how much of the gap
  domain randomisation closes (trained in the simulator with settings drawn from ranges)
  and fine-tuning in the real environment with 10 % of the budget closes.
- `curriculum`: the same total steps spent directly on the hardest variant, or through a
  curriculum of easier ones first; the final performance on the hardest variant.

Run: python benchmarks/bench_rl_transfer.py [--experiment pairs|sim-to-real|curriculum]
     [--pair cartpole] [--seeds 5] [--out benchmarks/runs/rl-transfer]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transferkit.rl._train import TrainSettings, train
from transferkit.rl._transfer import transfer
from transferkit.rl._transfer_metrics import negative, summarise

# pair -> (source env, source steps, target env, target steps[, source settings]); a
# source "@PAIR" starts from that pair's target runs (same seed), so pairs chain
PAIRS: dict[str, tuple] = {
    "cartpole": ("cartpole:default", 50_000, "cartpole:long-pole", 30_000),
    "cartpole-mirrored": ("cartpole:default", 50_000, "cartpole:mirrored", 30_000),
    "routing": ("routing:10", 100_000, "routing:20", 60_000),
    "inventory": ("inventory:single-stage", 100_000, "inventory:orgym", 100_000),
    "routing-50": ("@routing", 0, "routing:50", 40_000),
    "inventory-lead": ("inventory:orgym", 100_000, "inventory:orgym", 100_000,
                       {"lead_time": [1, 2, 4]}),
}  # fmt: skip


# sim, real, budget, ranges for domain randomisation
SIM_TO_REAL = {
    "cartpole": ("cartpole:default", "cartpole:real", 60_000, {
        "length": [0.4, 1.0], "masspole": [0.05, 0.3], "force": [7.0, 12.0],
        "observation_noise": [0.0, 0.03], "action_delay": [0, 1]}),
    "inventory": ("inventory:orgym", "inventory:real", 100_000, {
        "demand_mean": [15.0, 30.0], "season_amplitude": [0.0, 0.4],
        "shock_probability": [0.0, 0.1], "count_noise": [0.0, 0.15], "count_delay": [0, 1]}),
}  # fmt: skip
# the hardest variant, the curriculum's stages before it, total steps
CURRICULA = {
    "acrobot": ("acrobot:heavy-links", [
        {"link_mass_1": 1.0, "link_mass_2": 1.0, "steps": 30_000},
        {"link_mass_1": 1.25, "link_mass_2": 1.25, "steps": 30_000}], 100_000),
    "inventory": ("inventory:seasonal-shocks", [
        {"season_amplitude": 0.0, "shock_probability": 0.0, "steps": 50_000},
        {"season_amplitude": 0.25, "shock_probability": 0.05, "steps": 50_000}], 200_000),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experiment", default="pairs",
                        choices=["pairs", "sim-to-real", "curriculum"])  # fmt: skip
    parser.add_argument("--pair", action="append")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/runs/rl-transfer")
    args = parser.parse_args()
    if args.experiment == "sim-to-real":
        for name in args.pair or list(SIM_TO_REAL):
            sim_to_real(name, args.seeds, Path(args.out) / "sim-to-real" / name)
        return
    if args.experiment == "curriculum":
        for name in args.pair or list(CURRICULA):
            curriculum(name, args.seeds, Path(args.out) / "curriculum" / name)
        return
    for pair in args.pair or list(PAIRS):
        source_env, source_steps, target_env, target_steps, *more = PAIRS[pair]
        results = []
        for seed in range(args.seeds):
            root = Path(args.out) / pair / f"seed-{seed}"
            source = root / "source"
            if source_env.startswith("@"):
                source = Path(args.out) / source_env[1:] / f"seed-{seed}" / "target"
                if not (source / "evaluation.json").is_file():
                    raise SystemExit(f"{source} is missing: run --pair {source_env[1:]} first")
            elif not (source / "evaluation.json").is_file():
                settings = TrainSettings(env=source_env, steps=source_steps, seed=seed,
                                         settings=dict(more[0]) if more else {},
                                         eval_every=source_steps // 20, patience=None)  # fmt: skip
                train(settings, out=source, overwrite=True)
            target = root / "target"
            if not (target / "baseline-scratch" / "evaluation.json").is_file():
                transfer(source, target_env, steps=target_steps, seed=seed, out=target,
                         overwrite=True, baseline_scratch=True)  # fmt: skip
            results.append(json.loads((target / "transfer.json").read_text())["metrics"])
        report(pair, source_env + (f" {more[0]}" if more else ""), target_env, results)


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


def _trained(folder: Path, **settings) -> Path:
    if not (folder / "evaluation.json").is_file():
        steps = settings["steps"]
        train(TrainSettings(eval_every=max(1, steps // 20), patience=None, **settings),
              out=folder, overwrite=True)  # fmt: skip
    return folder


def _in(env: str, run: Path, episodes: int = 100) -> float:
    from transferkit.rl._agents import load_policy
    from transferkit.rl._catalog import choose
    from transferkit.rl._evaluate import TEST_SEED, score

    policy, _ = load_policy(run)
    return score(choose(env).make, policy, episodes, TEST_SEED).mean


def sim_to_real(name: str, seeds: int, root: Path) -> None:
    from transferkit.rl._evaluate import interval_half_width

    sim, real, budget, ranges = SIM_TO_REAL[name]
    rows = []
    for seed in range(seeds):
        base = root / f"seed-{seed}"
        in_sim = _trained(base / "sim", env=sim, steps=budget, seed=seed)
        in_real = _trained(base / "real", env=real, steps=budget, seed=seed)
        randomised = _trained(base / "randomised", env=sim, steps=budget, seed=seed,
                              randomise=ranges)  # fmt: skip
        tuned = base / "fine-tuned"
        if not (tuned / "evaluation.json").is_file():
            transfer(in_sim, real, steps=budget // 10, seed=seed, out=tuned, overwrite=True)
        got = {k: _in(real, run) for k, run in
               (("sim", in_sim), ("real", in_real), ("randomised", randomised),
                ("fine-tuned", tuned))}  # fmt: skip
        gap = got["real"] - got["sim"]
        got["gap"] = gap
        got["closed_randomised"] = (got["randomised"] - got["sim"]) / gap if gap else None
        got["closed_fine_tuned"] = (got["fine-tuned"] - got["sim"]) / gap if gap else None
        rows.append(got)
    print(f"\nsim-to-real, {name}: trained in {sim}, scored in {real}; {seeds} seeds,"
          f" {budget} steps (fine-tuning: {budget // 10} in {real})")  # fmt: skip
    for key in ("sim", "real", "randomised", "fine-tuned", "gap", "closed_randomised",
                "closed_fine_tuned"):  # fmt: skip
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            print(
                f"  {key:<18} {sum(values) / len(values):+.3f} ± {interval_half_width(values):.3f}"
            )


def curriculum(name: str, seeds: int, root: Path) -> None:
    from transferkit.rl._evaluate import interval_half_width

    hardest, stages, budget = CURRICULA[name]
    direct, staged = [], []
    for seed in range(seeds):
        base = root / f"seed-{seed}"
        one = _trained(base / "direct", env=hardest, steps=budget, seed=seed)
        plan = [*stages, {}]  # the last stage: the hardest variant itself
        two = _trained(base / "curriculum", env=hardest, steps=budget, seed=seed, curriculum=plan)
        direct.append(_in(hardest, one))
        staged.append(_in(hardest, two))
    diff = [b - a for a, b in zip(direct, staged, strict=True)]
    print(f"\ncurriculum, {name}: {budget} steps, scored on {hardest}; {seeds} seeds")
    print(f"  direct      {sum(direct) / seeds:.2f} ± {interval_half_width(direct):.2f}")
    print(f"  curriculum  {sum(staged) / seeds:.2f} ± {interval_half_width(staged):.2f}")
    print(
        f"  curriculum - direct (paired) {sum(diff) / seeds:+.2f} ± {interval_half_width(diff):.2f}"
    )


if __name__ == "__main__":
    main()
