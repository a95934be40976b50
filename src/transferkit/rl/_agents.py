"""Stable-Baselines3 agents: built, wrapped for our environments, and saved or loaded
without pickle.

An agent acts on the raw environment through `AgentPolicy.predict`, the call every
baseline has: it normalises the observation with the statistics training ended with
(`VecNormalize`), and maps a continuous action from the [-1, 1] the network is trained in
back to the environment's box.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from transferkit._errors import TransferKitError
from transferkit.rl._catalog import EnvChoice, choose
from transferkit.rl._store import load_state, save_state

ALGOS = ("ppo", "a2c", "dqn", "sac", "maskable-ppo")
CONTINUOUS_ONLY, DISCRETE_ONLY = {"sac"}, {"dqn", "maskable-ppo"}


def algo_class(name: str) -> Any:
    """The Stable-Baselines3 (or sb3-contrib) class of `name`."""
    if name not in ALGOS:
        raise TransferKitError(f"`--algo` {name!r} is not one of {', '.join(ALGOS)}.")
    if name == "maskable-ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    import stable_baselines3

    return getattr(stable_baselines3, name.upper())


def check_algo(name: str, env: gymnasium.Env) -> None:
    """Refuse, before any work, an algorithm that cannot act in `env`'s action space."""
    algo_class(name)
    box = isinstance(env.action_space, gymnasium.spaces.Box)
    if box and name in DISCRETE_ONLY:
        raise TransferKitError(
            f"`--algo {name}` needs a discrete action space; this environment's actions are"
            " continuous: use ppo, a2c or sac."
        )
    if not box and name in CONTINUOUS_ONLY:
        raise TransferKitError(
            f"`--algo {name}` needs continuous actions; this environment's are discrete: use"
            " ppo, a2c, dqn or maskable-ppo."
        )
    if name == "maskable-ppo" and not hasattr(env.unwrapped, "action_masks"):
        raise TransferKitError(
            "`--algo maskable-ppo` needs an environment with action masks (routing); use ppo."
        )


def wrapped(choice: EnvChoice) -> gymnasium.Env:
    """The environment as an agent trains in it: a continuous action rescaled to [-1, 1]."""
    env = choice.make_training()
    space = env.action_space
    if isinstance(space, gymnasium.spaces.Box):
        unit = np.ones(space.shape, dtype=np.float32)
        env = gymnasium.wrappers.RescaleAction(env, -unit, unit)
    return env


def make_vec(choice: EnvChoice, envs: int, seed: int, normalize: bool, gamma: float) -> Any:
    """K training environments (a subprocess each when K > 1), observations and rewards
    normalised by running statistics when `normalize`."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    vec_cls = SubprocVecEnv if envs > 1 else DummyVecEnv
    vec = make_vec_env(functools.partial(wrapped, choice), envs, seed=seed, vec_env_cls=vec_cls)
    if normalize:
        vec = VecNormalize(vec, norm_obs=True, norm_reward=True, gamma=gamma)
    return vec


class AgentPolicy:
    """A trained agent's policy acting on the raw environment."""

    name = "agent"

    def __init__(
        self, policy: Any, env: gymnasium.Env, obs_stats: dict[str, Any] | None = None
    ) -> None:
        from transferkit.rl._entity import fit_to

        self.policy, self.obs_stats = policy, obs_stats
        fit_to(policy, env)  # an entity policy reads a table of another size
        space = env.action_space
        self.box = isinstance(space, gymnasium.spaces.Box)
        self.low = np.asarray(getattr(space, "low", 0.0), dtype=np.float64)
        self.high = np.asarray(getattr(space, "high", 0.0), dtype=np.float64)
        self.masked = hasattr(env.unwrapped, "action_masks")

    def normalise(self, observation: Any) -> Any:
        if self.obs_stats is None:
            return observation
        s = self.obs_stats
        scaled = (np.asarray(observation) - s["mean"]) / np.sqrt(s["var"] + s["epsilon"])
        return np.clip(scaled, -s["clip"], s["clip"]).astype(np.float32)

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None,
        deterministic: bool = True, action_masks: np.ndarray | None = None, **_: Any,
    ) -> tuple[Any, Any]:  # fmt: skip
        extra = {"action_masks": action_masks} if self.masked and action_masks is not None else {}
        action, _ = self.policy.predict(
            self.normalise(observation), deterministic=deterministic, **extra
        )
        if self.box:
            unit = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
            action = (self.low + (unit + 1.0) * 0.5 * (self.high - self.low)).astype(np.float32)
        elif np.ndim(action) == 0:
            action = int(action)
        return action, state

    def describe(self) -> dict[str, Any]:
        return {}


def obs_stats_of(vec: Any) -> dict[str, Any] | None:
    """The observation normaliser's statistics, if `vec` normalises."""
    rms = getattr(vec, "obs_rms", None)
    if rms is None:
        return None
    return {
        "mean": np.asarray(rms.mean, dtype=np.float64),
        "var": np.asarray(rms.var, dtype=np.float64),
        "epsilon": float(vec.epsilon),
        "clip": float(vec.clip_obs),
    }


def build_model(
    algo: str, vec: Any, seed: int, hyperparameters: dict[str, Any], verbose: int = 0
) -> Any:
    """A fresh Stable-Baselines3 model on the CPU (these policies are small MLPs: the GPU's
    transfers cost more than it saves)."""
    cls = algo_class(algo)
    settings = copy.deepcopy(dict(hyperparameters))  # SB3 adds to policy_kwargs in place
    policy: Any = settings.pop("policy", "MlpPolicy")
    if policy == "entity":
        from transferkit.rl._entity import EntityPolicy, MaskableEntityPolicy

        policy = MaskableEntityPolicy if algo == "maskable-ppo" else EntityPolicy
    try:
        return cls(policy, vec, seed=seed, verbose=verbose, device="cpu", **settings)
    except TypeError as exc:
        raise TransferKitError(f"`{algo}` settings: {exc}") from None


def save_policy(
    folder: Path, stem: str, model: Any, vec: Any, meta: dict[str, Any]
) -> None:  # fmt: skip
    """`folder/stem.safetensors` + `stem.json`: the policy's weights, the observation
    statistics, and what rebuilds the network."""
    state: dict[str, Any] = {"policy": model.policy.state_dict()}
    stats = obs_stats_of(vec)
    if stats is not None:
        state["obs_stats"] = stats
    save_state(folder, stem, state, meta)


def load_policy(folder: Path, stem: str = "policy") -> tuple[AgentPolicy, dict[str, Any]]:
    """An agent's policy from its files, rebuilt around the weights (no pickle)."""
    state, meta = load_state(folder, stem)
    choice = choice_of(meta)
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = DummyVecEnv([functools.partial(wrapped, choice)])
    saved = meta.get("hyperparameters", {})
    hyper = {"policy_kwargs": saved.get("policy_kwargs") or {}}
    if "policy" in saved:
        hyper["policy"] = saved["policy"]
    model = build_model(meta["algo"], vec, 0, hyper)
    try:
        model.policy.load_state_dict(state["policy"])
    except RuntimeError as exc:
        raise TransferKitError(
            f"{folder / stem!s}.safetensors does not fit the network its JSON describes"
            f" ({str(exc).splitlines()[0]}): the files come from different runs."
        ) from None
    env = choice.make()
    return AgentPolicy(model.policy, env, state.get("obs_stats")), meta


def choice_of(meta: dict[str, Any]) -> EnvChoice:
    """The environment a run's JSON names, with its config."""
    kind_name = meta["env"].partition(":")[0]
    if not meta.get("env_config"):
        return choose(kind_name)
    return choose(meta["env"], _settings(meta["env_config"]))


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "extra"} | {"extra": config.get("extra", {})}
