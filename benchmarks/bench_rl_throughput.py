"""Throughput of every environment and of its agent's training: environment steps per
second single and vectorised (K = 2, Gymnasium's synchronous and subprocess vector envs;
valid random actions), and training steps per second of the default agent (its default
settings, one environment and K = 2 subprocesses), with torch on one thread and on two
(the training sets one thread: this is the measurement behind it).

Run: python benchmarks/bench_rl_throughput.py [--steps 20000] [--train-steps 8192]
"""

from __future__ import annotations

import argparse
import time

import gymnasium
import numpy as np
import torch

import transferkit.rl  # noqa: F401  (registers the environments)
from transferkit.rl._agents import build_model, make_vec
from transferkit.rl._catalog import choose
from transferkit.rl._train import TrainSettings, _hyperparameters

ENVS = ("inventory", "routing", "pricing", "ads")


def random_action(env: gymnasium.Env, rng: np.random.Generator):
    masks = getattr(env.unwrapped, "action_masks", None)
    if masks is not None:
        return int(rng.choice(np.flatnonzero(masks())))
    return env.action_space.sample()


def single(name: str, steps: int) -> float:
    env = choose(name).make()
    env.reset(seed=0)
    env.action_space.seed(0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(random_action(env, rng))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def vector(name: str, steps: int, kind: str, k: int = 2) -> float:
    choice = choose(name)
    cls = gymnasium.vector.SyncVectorEnv if kind == "sync" else gymnasium.vector.AsyncVectorEnv
    envs = cls([choice.make for _ in range(k)])
    envs.reset(seed=0)
    envs.action_space.seed(0)
    masked = hasattr(choice.make().unwrapped, "action_masks")
    start = time.perf_counter()
    for _ in range(steps // k):
        if masked:  # the depot is always allowed for a van that has served someone
            masks = envs.call("action_masks")
            rng = np.random.default_rng()
            action = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        else:
            action = envs.action_space.sample()
        envs.step(action)
    seconds = time.perf_counter() - start
    envs.close()
    return steps / seconds


def training(name: str, steps: int, envs: int, threads: int) -> float:
    torch.set_num_threads(threads)
    choice = choose(name)
    algo = choice.kind.algo
    settings = TrainSettings(env=name, steps=steps, envs=envs)
    hyper = _hyperparameters(choice, algo, settings)
    vec = make_vec(choice, envs, 0, choice.kind.normalize_obs, 0.99)
    model = build_model(algo, vec, 0, hyper)
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    vec.close()
    return model.num_timesteps / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--train-steps", type=int, default=8192)
    args = parser.parse_args()
    for name in ENVS:
        one = single(name, args.steps)
        sync, sub = vector(name, args.steps, "sync"), vector(name, args.steps, "async")
        t1 = training(name, args.train_steps, 1, 1)
        t2 = training(name, args.train_steps, 1, 2)
        k2 = training(name, args.train_steps, 2, 1)
        print(f"{name:<10} env steps/s: single {one:,.0f}; K=2 sync {sync:,.0f}, subprocess"
              f" {sub:,.0f} | training steps/s ({choose(name).kind.algo}): 1 env 1 thread"
              f" {t1:,.0f}, 2 threads {t2:,.0f} ({t1 / t2:.2f}x for one thread);"
              f" K=2 subprocesses {k2:,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
