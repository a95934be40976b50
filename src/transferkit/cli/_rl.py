"""`transferkit rl`: train an agent, evaluate it on a variant, compare runs, and score an
environment's baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from transferkit.cli._app import Opt, app

rl_app = typer.Typer(
    help="Reinforcement learning: agents for inventory, routing, pricing and ads, held"
    " against the baselines a practitioner trusts.",
    no_args_is_help=True,
)
app.add_typer(rl_app, name="rl")

Arg = typer.Argument


def _rl() -> None:
    from transferkit._extras import require

    require("gymnasium", "`transferkit rl`")
    require("stable_baselines3", "`transferkit rl`")
    import transferkit.rl  # noqa: F401  (registers the environments)


def _env_settings(config: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    if config is None:
        return {}, {}
    from transferkit.config._files import read_mapping
    from transferkit.rl._train import split_config

    return split_config(read_mapping(config), repr(str(config)))


@rl_app.command("train")
def train_command(
    env: Annotated[
        str | None,
        Arg(help="inventory, inventory:PRESET, ... or a Gymnasium id such as CartPole-v1."),
    ] = None,
    algo: Annotated[
        str | None,
        Opt(help="ppo, a2c, dqn, sac or maskable-ppo (default: the environment's)."),
    ] = None,
    config: Annotated[
        Path | None,
        Opt(help="TOML, YAML or JSON: the environment's fields (or tables `env` and `agent`)."),
    ] = None,
    steps: Annotated[int, Opt(help="Environment steps to train for.")] = 50_000,
    envs: Annotated[int, Opt(help="Environments stepped in parallel (K > 1: subprocesses).")] = 1,
    seed: Annotated[int, Opt(help="Seed of the agent and its training environments.")] = 0,
    eval_every: Annotated[
        int | None, Opt(help="Steps between evaluations (default: a 20th of --steps).")
    ] = None,
    eval_episodes: Annotated[int, Opt(help="Episodes per evaluation while training.")] = 20,
    test_episodes: Annotated[
        int, Opt(help="Held-out episodes of the final comparison with the baselines.")
    ] = 100,
    patience: Annotated[
        int, Opt(help="Stop after this many evaluations without a new best (0: never).")
    ] = 10,
    out: Annotated[Path | None, Opt(help="Run folder (default: runs/<time>-rl-...).")] = None,
    overwrite: Annotated[bool, Opt(help="Replace the run files in an existing --out.")] = False,
    resume: Annotated[
        Path | None, Opt(help="Continue an interrupted run from its checkpoint.")
    ] = None,
) -> None:
    """Train an agent on ENV and hold it against the environment's baselines."""
    from transferkit._errors import TransferKitError

    _rl()
    from transferkit.rl._train import TrainSettings, train

    if resume is not None:
        if env is not None or config is not None:
            raise TransferKitError(
                "--resume continues a run with its own environment: drop ENV and --config."
            )
        train(TrainSettings(), resume=resume, echo=typer.echo)
        return
    if env is None:
        raise TransferKitError("give ENV (e.g. inventory), or --resume RUN.")
    env_settings, agent = _env_settings(config)
    plans = {k: agent.pop(k) for k in ("randomise", "curriculum") if k in agent}
    settings = TrainSettings(
        env=env, algo=algo, settings=env_settings, hyperparameters=agent, **plans, steps=steps,
        envs=envs, seed=seed, eval_every=eval_every, eval_episodes=eval_episodes,
        test_episodes=test_episodes, patience=patience or None,
    )  # fmt: skip
    train(settings, out=out, overwrite=overwrite, echo=typer.echo)


@rl_app.command("transfer")
def transfer_command(
    source: Annotated[Path, Opt("--from", help="The trained run to start from.")],
    env: Annotated[
        str | None,
        Opt(
            help="The target: a preset or another environment of the same kind (default:"
            " the source's)."
        ),
    ] = None,
    config: Annotated[Path | None, Opt(help="The target's fields (TOML, YAML or JSON).")] = None,
    freeze: Annotated[
        str, Opt(help="none, or features: keep the transferred representation fixed.")
    ] = "none",
    lr_scale: Annotated[float, Opt(help="The learning rate times this.")] = 1.0,
    steps: Annotated[int | None, Opt(help="Steps on the target (default: the source's).")] = None,
    seed: Annotated[int, Opt(help="Seed of the target training.")] = 0,
    baseline: Annotated[
        str | None,
        Opt(
            help="scratch: train from scratch beside it on the same budget and report"
            " jumpstart, asymptotic gain, transfer ratio and time to threshold."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        Opt(
            help="The return of the time-to-threshold metric (default: 90 % of the way"
            " from scratch's first evaluation to its best)."
        ),
    ] = None,
    out: Annotated[Path | None, Opt(help="Run folder.")] = None,
    overwrite: Annotated[bool, Opt(help="Replace the run files in an existing --out.")] = False,
) -> None:
    """Train on a target environment starting from a trained run's policy."""
    from transferkit._errors import TransferKitError

    _rl()
    from transferkit.rl._transfer import transfer

    if baseline not in (None, "scratch"):
        raise TransferKitError(f"`--baseline` {baseline!r}: the only baseline is scratch.")
    target = env
    if config is not None:
        from transferkit.rl._catalog import choose

        settings, _ = _env_settings(config)
        choose(env or "", settings)  # refused now, before any training, if it does not fit
        raise TransferKitError("a target config file is not taken yet: name a preset with --env.")
    transfer(
        source, target, freeze=freeze, lr_scale=lr_scale, steps=steps, seed=seed, out=out,
        overwrite=overwrite, baseline_scratch=baseline == "scratch", threshold=threshold,
        echo=typer.echo,
    )  # fmt: skip


@rl_app.command("evaluate")
def evaluate_command(
    run: Annotated[Path, Arg(help="A `transferkit rl train` run folder.")],
    env: Annotated[
        str | None, Opt(help="Another preset or variant of the run's environment.")
    ] = None,
    config: Annotated[Path | None, Opt(help="The variant's fields (TOML, YAML or JSON).")] = None,
    episodes: Annotated[int, Opt(help="Held-out episodes.")] = 100,
) -> None:
    """Score RUN's agent and the baselines on the run's environment or a variant of it."""
    _rl()
    from transferkit._errors import TransferKitError
    from transferkit.rl._agents import AgentPolicy, choice_of, load_policy
    from transferkit.rl._catalog import choose
    from transferkit.rl._results import held_against, summary_lines
    from transferkit.runs._write import write_json

    agent, meta = load_policy(run)
    settings, _ = _env_settings(config)
    choice = choose(env or meta["env"], settings) if (env or settings) else choice_of(meta)
    target = choice.make()
    agent = AgentPolicy(agent.policy, target, agent.obs_stats)  # fitted to the variant
    if agent.policy.observation_space.shape != target.observation_space.shape:
        raise TransferKitError(
            f"the run's policy reads observations of shape {agent.policy.observation_space.shape};"
            f" {choice.label}'s are {target.observation_space.shape}: only the entity policy"
            " (routing, ads) reads another size. Use `rl transfer` to start a run there."
        )
    evaluation = held_against(choice, agent, episodes)
    evaluation.update(timesteps=0, wall_s=0.0)
    name = "evaluate-" + choice.label.replace(":", "-") + ".json"
    write_json(run, name, evaluation)
    lines = summary_lines(choice.label, meta["algo"], evaluation)
    for line in lines[1:]:
        typer.echo(line)
    typer.echo(f"wrote {run / name}")


@rl_app.command("baselines")
def baselines_command(
    env: Annotated[str, Arg(help="inventory, inventory:PRESET, ...")],
    config: Annotated[Path | None, Opt(help="The environment's fields.")] = None,
    episodes: Annotated[int, Opt(help="Held-out episodes.")] = 100,
) -> None:
    """Tune and score ENV's baselines on held-out episodes."""
    _rl()
    from transferkit.rl._catalog import choose
    from transferkit.rl._evaluate import TEST_SEED, score

    settings, _ = _env_settings(config)
    choice = choose(env, settings)
    for name, policy in choice.baselines(0).items():
        got = score(choice.make, policy, episodes, TEST_SEED)
        detail = ", ".join(f"{k} {v}" for k, v in policy.describe().items())
        typer.echo(f"{name:<11} {got.mean:10.2f} ± {got.half_width:.2f}  {detail}")


@rl_app.command("compare")
def compare_command(
    runs: Annotated[list[Path], Arg(help="`transferkit rl train` run folders.")],
) -> None:
    """RUNs side by side: environment, algorithm, steps, the agent and its best baseline."""
    from transferkit.rl._results import read_evaluation
    from transferkit.runs._folder import inside

    typer.echo(f"{'run':<28} {'env':<24} {'algo':<12} {'steps':>8} {'agent':>18} best baseline")
    for run in runs:
        evaluation = read_evaluation(run)
        config = json.loads(inside(run, "config.json", "a run's settings").read_text())
        a = evaluation["agent"]
        named = {k: v for k, v in evaluation["baselines"].items() if k != "random"}
        name, b = max(named.items(), key=lambda kv: kv[1]["mean"])
        rel = b["relative"]
        agent = f"{a['mean']:.2f} ± {(a['high'] - a['low']) / 2:.2f}"
        typer.echo(
            f"{run.name[:28]:<28} {config['env']:<24} {config['algo']:<12}"
            f" {evaluation['timesteps']:>8} {agent:>18} {name} {b['mean']:.2f}"
            + (f" (agent {100 * rel:+.1f} %)" if rel is not None else "")
        )
