"""`transferkit rl train`: an agent trained in a run folder, evaluated as it learns, held
against every baseline of its environment at the end.

The run folder holds `config.json` (environment, its config, algorithm, settings),
`history.csv` (the learning curve: each evaluation's mean return and 95 % interval),
`policy.safetensors` + `policy.json` (the best evaluation's policy, no pickle),
`checkpoint/` (the latest weights, optimiser state and normaliser: `--resume` continues
from it after a crash or a kill), `evaluation.json`, `summary.txt` and `report.html`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.rl._agents import (
    AgentPolicy,
    build_model,
    check_algo,
    make_vec,
    obs_stats_of,
    save_policy,
)
from transferkit.rl._catalog import EnvChoice, choose
from transferkit.rl._evaluate import EVAL_SEED, score
from transferkit.rl._store import load_state, save_state
from transferkit.runs._folder import record
from transferkit.runs._write import new_run_dir, write_csv, write_json

RL_FILES = (
    "config.json",
    "curriculum.json",
    "transfer.json",
    "history.csv",
    "policy.safetensors",
    "policy.json",
    "checkpoint/state.safetensors",
    "checkpoint/state.json",
    "evaluation.json",
    "summary.txt",
    "report.html",
)
DEFAULT_LR = {"ppo": 3e-4, "maskable-ppo": 3e-4, "a2c": 7e-4, "dqn": 1e-4, "sac": 3e-4}  # SB3's
PLANS = ("randomise", "curriculum")  # config-file tables that are training plans
HISTORY = ("timesteps", "wall_s", "mean", "low", "high", "best")


@dataclass
class TrainSettings:
    """Everything a run needs to start or resume (kept in `config.json`)."""

    env: str = "inventory"
    algo: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the environment's fields
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    steps: int = 50_000
    envs: int = 1
    seed: int = 0
    eval_every: int | None = None  # default: steps // 20
    eval_episodes: int = 20
    test_episodes: int = 100
    patience: int | None = 10  # evaluations without a new best before stopping; None: never
    init_from: str | None = None  # a run folder whose policy starts this one (transfer)
    freeze: str = "none"  # with init_from: "features" trains only the output layers
    lr_scale: float = 1.0  # the algorithm's learning rate times this
    randomise: dict[str, list[float]] = field(default_factory=dict)  # {setting: [low, high]}
    curriculum: list[dict[str, Any]] = field(default_factory=list)  # stages, in order

    def check(self) -> TrainSettings:
        for name in ("steps", "envs", "eval_episodes", "test_episodes"):
            if getattr(self, name) < 1:
                raise TransferKitError(f"`--{name.replace('_', '-')}` must be at least 1.")
        if self.eval_every is not None and self.eval_every < 1:
            raise TransferKitError("`--eval-every` must be at least 1.")
        if self.patience is not None and self.patience < 1:
            raise TransferKitError("`--patience` must be at least 1 (or none).")
        if self.freeze not in ("none", "features"):
            raise TransferKitError(f"`--freeze` {self.freeze!r} is not one of none, features.")
        if not self.lr_scale > 0:
            raise TransferKitError(f"`--lr-scale` must be positive; got {self.lr_scale}.")
        if self.freeze != "none" and self.init_from is None:
            raise TransferKitError("`--freeze` applies to a transfer: give the source run.")
        return self


def split_config(data: Any, source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(environment fields, algorithm settings) from a config file's mapping: either the
    environment's fields at the top level, or tables `env` and `agent`."""
    if data is None:
        return {}, {}
    if not isinstance(data, Mapping):
        raise TransferKitError(f"config file {source}: expected a mapping of settings.")
    env, agent = dict(data.get("env", {})), dict(data.get("agent", {}))
    rest = {k: v for k, v in data.items() if k not in ("env", "agent", *PLANS)}
    plans = {k: data[k] for k in PLANS if k in data}  # randomise, curriculum: the run's own
    return env | rest, agent | plans


def train(settings: TrainSettings, out: str | Path | None = None, overwrite: bool = False,
          resume: str | Path | None = None, echo: Any = None) -> Path:  # fmt: skip
    """Train (or, with `resume`, continue) an agent; the run folder."""
    if resume is not None:
        run = Path(resume)
        settings = _settings_of(run)
    else:
        settings.check()
    choice = choose(settings.env, settings.settings)
    stages = None
    if settings.curriculum:
        from transferkit.rl._curriculum import parse_stages

        stages = parse_stages(settings.curriculum)
    if choice.kind is None and (settings.randomise or stages):
        raise TransferKitError("randomise and curriculum apply to transferkit's environments.")
    choice = replace(choice, ranges=dict(settings.randomise), staged=stages is not None)
    choice.make_training()  # a bad range or stage is refused before any run folder
    probe = choice.make()
    algo = settings.algo or (choice.kind.algo if choice.kind else "ppo")
    check_algo(algo, probe)
    hyper = _hyperparameters(choice, algo, settings)
    if resume is None:
        run, _ = new_run_dir(out, f"rl-{choice.label}-{algo}", overwrite, reserved=RL_FILES)
        settings.algo = algo
        write_json(run, "config.json", {"format": 1, **asdict(settings),
                                        "env_config": choice.config_dict()})  # fmt: skip
    normalize = choice.kind.normalize_obs if choice.kind else True
    import torch

    threads = torch.get_num_threads()  # restored after: the caller's process keeps its own
    torch.set_num_threads(1)  # small MLPs gain nothing from a second thread (measured)
    try:
        vec = make_vec(choice, settings.envs, settings.seed, normalize, hyper.get("gamma", 0.99))
        model = build_model(algo, vec, settings.seed, hyper)
        evaluator = _Evaluator(run, choice, settings, algo, hyper)
        if resume is None and settings.init_from is not None:
            from transferkit.rl._warm import warm_start

            write_json(run, "transfer.json", warm_start(model, vec, settings, choice))
        done = evaluator.restore(model, vec) if resume is not None else 0
        if resume is None:  # the curve starts where the policy starts: before any training
            evaluator.init_callback(model)
            evaluator.evaluate()
        remaining = settings.steps - done
        started = time.perf_counter()
        if remaining > 0:
            callbacks: list[Any] = [evaluator]
            if stages is not None:
                from transferkit.rl._curriculum import Curriculum

                callbacks.append(Curriculum(stages, run))
            model.learn(remaining, callback=callbacks, reset_num_timesteps=resume is None)
            if evaluator.last_eval < model.num_timesteps and not evaluator.stopped:
                evaluator.evaluate()
        vec.close()
        if echo is not None:
            echo(f"trained {model.num_timesteps} steps in {time.perf_counter() - started:.0f} s")
        from transferkit.rl._results import finish

        finish(run, choice, settings, evaluator.history, evaluator.stopped, echo)
    finally:
        torch.set_num_threads(threads)
    return run


def _settings_of(run: Path) -> TrainSettings:
    path = run / "config.json"
    if not path.is_file():
        raise TransferKitError(f"{str(path)!r} is missing: `--resume` takes a `rl train` run.")
    data = json.loads(path.read_text())
    names = set(TrainSettings.__dataclass_fields__)
    return TrainSettings(**{k: v for k, v in data.items() if k in names}).check()


def _hyperparameters(choice: EnvChoice, algo: str, settings: TrainSettings) -> dict[str, Any]:
    """The environment's defaults for `algo`, then the user's; PPO's rollout shortened so a
    small budget still makes several updates."""
    hyper = dict(choice.kind.hyperparameters.get(algo, {})) if choice.kind else {}
    entity = choice.kind.entity if choice.kind else None
    if entity is not None and algo in ("ppo", "a2c", "maskable-ppo"):
        f, g, k = entity(choice.config)
        hyper["policy"] = "entity"
        hyper["policy_kwargs"] = {"row_features": f, "global_features": g, "extra_actions": k}
    hyper.update(settings.hyperparameters)
    if settings.lr_scale != 1.0:
        base = hyper.get("learning_rate", DEFAULT_LR[algo])
        if not isinstance(base, (int, float)):
            raise TransferKitError("`--lr-scale` needs a constant learning rate.")
        hyper["learning_rate"] = base * settings.lr_scale
    if algo in ("ppo", "maskable-ppo"):
        hyper.setdefault("n_steps", 2048)  # SB3's default, shortened below for small budgets
    if algo in ("ppo", "maskable-ppo", "a2c") and "n_steps" in hyper:
        per_env = max(8, min(hyper["n_steps"], settings.steps // (4 * settings.envs)))
        hyper["n_steps"] = per_env
        if "batch_size" in hyper:
            hyper["batch_size"] = min(hyper["batch_size"], per_env * settings.envs)
    return hyper


try:
    from stable_baselines3.common.callbacks import BaseCallback
except ImportError:  # pragma: no cover - without the [rl] extra
    BaseCallback = object  # type: ignore[assignment,misc]


class _Evaluator(BaseCallback):
    """Every `eval_every` steps: score the policy on the evaluation episodes, keep it when
    it is the best so far, write the learning curve and a checkpoint, and stop after
    `patience` evaluations without a new best."""

    def __init__(self, run: Path, choice: EnvChoice, settings: TrainSettings, algo: str,
                 hyper: dict[str, Any]) -> None:  # fmt: skip
        super().__init__()
        self.run, self.choice, self.settings = run, choice, settings
        self.every = settings.eval_every or max(1, settings.steps // 20)
        self.meta = {"algo": algo, "env": choice.label, "env_config": choice.config_dict(),
                     "hyperparameters": _jsonable(hyper)}  # fmt: skip
        self.history: list[dict[str, float]] = []
        self.best, self.since_best, self.stopped = float("-inf"), 0, False
        self.last_eval, self.wall_before = 0, 0.0
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        if self.num_timesteps - self.last_eval < self.every:
            return True
        return self.evaluate()

    def evaluate(self) -> bool:
        vec = self.model.get_env()
        policy = AgentPolicy(self.model.policy, self.choice.make(), obs_stats_of(vec))
        got = score(self.choice.make, policy, self.settings.eval_episodes, EVAL_SEED)
        self.last_eval = self.model.num_timesteps
        if got.mean > self.best:
            self.best, self.since_best = got.mean, 0
            save_policy(self.run, "policy", self.model, vec, self.meta)
        else:
            self.since_best += 1
        wall = self.wall_before + time.perf_counter() - self.started
        row = {"timesteps": self.last_eval, "wall_s": round(wall, 2), "mean": got.mean,
               "low": got.mean - got.half_width, "high": got.mean + got.half_width,
               "best": self.best}  # fmt: skip
        self.history.append(row)
        write_csv(self.run, "history.csv",
                  [HISTORY, *[[r[k] for k in HISTORY] for r in self.history]])  # fmt: skip
        self._checkpoint(vec, wall)
        patience = self.settings.patience
        self.stopped = patience is not None and self.since_best >= patience
        return not self.stopped

    def _checkpoint(self, vec: Any, wall: float) -> None:
        names = self.model._get_torch_save_params()[1]
        others = {name: _attribute(self.model, name) for name in names}
        state: dict[str, Any] = {"params": self.model.get_parameters(), "others": others}
        if hasattr(vec, "obs_rms"):
            state["normaliser"] = {"obs": asdict_rms(vec.obs_rms), "ret": asdict_rms(vec.ret_rms)}
        meta = {"num_timesteps": self.model.num_timesteps, "history": self.history,
                "best": self.best, "since_best": self.since_best, "wall_s": wall}  # fmt: skip
        save_state(self.run / "checkpoint", "state", state, meta)
        record(self.run, "policy.safetensors", "policy.json", "checkpoint/state.safetensors",
               "checkpoint/state.json")  # fmt: skip

    def restore(self, model: Any, vec: Any) -> int:
        """Load the checkpoint into `model` and `vec`; the steps it had trained."""
        state, meta = load_state(self.run / "checkpoint", "state")
        model.set_parameters(state["params"], exact_match=True)
        for name, value in state["others"].items():
            _attribute(model, name).data.copy_(value)
        if "normaliser" in state:
            _load_rms(vec.obs_rms, state["normaliser"]["obs"])
            _load_rms(vec.ret_rms, state["normaliser"]["ret"])
        model.num_timesteps = int(meta["num_timesteps"])
        self.history, self.best = list(meta["history"]), float(meta["best"])
        self.since_best, self.wall_before = int(meta["since_best"]), float(meta["wall_s"])
        self.last_eval = int(model.num_timesteps)
        return self.last_eval


def asdict_rms(rms: Any) -> dict[str, Any]:
    import numpy as np

    return {"mean": np.asarray(rms.mean), "var": np.asarray(rms.var), "count": float(rms.count)}


def _load_rms(rms: Any, saved: dict[str, Any]) -> None:
    rms.mean, rms.var, rms.count = saved["mean"], saved["var"], saved["count"]


def _attribute(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TransferKitError(f"agent setting {value!r} is not a number, string or list.")
