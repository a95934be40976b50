"""Gymnasium's classic-control games with their physics as a config, as CARL (Benjamins
et al. 2023) varies them: CartPole's pole length and masses, the push's force and
gravity; MountainCar's engine force and gravity; Acrobot's link lengths and masses. Each
also takes the two usual simulation-to-reality gaps: `action_delay` (an action takes
effect that many steps later) and `observation_noise` (Gaussian, per unit of the
observation's scale).

A variant is one field (`cartpole:long-pole` doubles the pole), so a user can watch a
transfer on a game they know. `mirror_actions` reverses what each action does: an agent
trained without it has learned exactly the wrong reflexes (the negative-transfer case).
The episode limits are Gymnasium's (500, 200, 500 steps).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium
import numpy as np

from transferkit._errors import TransferKitError


@dataclass(frozen=True)
class GameConfig:
    """The physics of one game (`game`: cartpole, mountaincar or acrobot); a field left
    at None keeps Gymnasium's value."""

    game: str = "cartpole"
    length: float | None = None  # cartpole: half the pole's length (0.5)
    masspole: float | None = None  # cartpole (0.1)
    masscart: float | None = None  # cartpole (1.0)
    force: float | None = None  # cartpole's push (10.0); mountaincar's engine (0.001)
    gravity: float | None = None  # cartpole (9.8); mountaincar (0.0025)
    link_length_1: float | None = None  # acrobot (1.0)
    link_length_2: float | None = None  # acrobot (1.0)
    link_mass_1: float | None = None  # acrobot (1.0)
    link_mass_2: float | None = None  # acrobot (1.0)
    action_delay: int = 0
    observation_noise: float = 0.0
    mirror_actions: bool = False  # the actions' meanings reversed (a source gone wrong)
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> GameConfig:
        if self.game not in GAMES:
            raise TransferKitError(f"`game` {self.game!r} is not one of {', '.join(GAMES)}.")
        physics = {k: v for k, v in asdict(self).items()
                   if k not in ("game", "action_delay", "observation_noise", "mirror_actions",
                                "extra")}  # fmt: skip
        for name, value in physics.items():
            if value is not None and value <= 0:
                raise TransferKitError(f"{self.game} `{name}` must be positive; got {value}.")
        if self.action_delay < 0 or self.observation_noise < 0:
            raise TransferKitError("`action_delay` and `observation_noise` cannot be negative.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GAMES = {"cartpole": "CartPole-v1", "mountaincar": "MountainCar-v0", "acrobot": "Acrobot-v1"}


class GameEnv(gymnasium.Env[Any, Any]):
    """One of Gymnasium's games with the physics of `GameConfig` (the game inside,
    `self.env`, keeps its time limit)."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, config: GameConfig | None = None, **settings: Any) -> None:
        from dataclasses import replace

        base = config or GameConfig()
        self.config = c = (replace(base, **settings) if settings else base).check()
        self.env = gymnasium.make(GAMES[c.game])
        self.observation_space, self.action_space = (
            self.env.observation_space,
            self.env.action_space,
        )
        game: Any = self.env.unwrapped
        if c.game == "cartpole":
            for name in ("length", "masspole", "masscart", "gravity"):
                if getattr(c, name) is not None:
                    setattr(game, name, float(getattr(c, name)))
            if c.force is not None:
                game.force_mag = float(c.force)
            game.total_mass = game.masspole + game.masscart
            game.polemass_length = game.masspole * game.length
        elif c.game == "mountaincar":
            for name in ("force", "gravity"):
                if getattr(c, name) is not None:
                    setattr(game, name, float(getattr(c, name)))
        else:
            for name in ("link_length_1", "link_length_2", "link_mass_1", "link_mass_2"):
                if getattr(c, name) is not None:
                    setattr(game, name.upper(), float(getattr(c, name)))
        space = self.observation_space
        self.scale = np.where(np.isfinite(space.high), np.abs(space.high), 1.0).astype(np.float32)  # type: ignore[attr-defined]
        self.pending: deque[Any] = deque()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        observation, info = self.env.reset(seed=seed, options=options)
        self.pending = deque([0] * self.config.action_delay)  # "push left" / no torque first
        return self._noisy(observation), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.config.mirror_actions:  # push left <-> right; torque or engine reversed
            action = int(self.action_space.n) - 1 - int(action)  # type: ignore[attr-defined]
        if self.config.action_delay:
            self.pending.append(action)
            action = self.pending.popleft()
        observation, reward, terminated, truncated, info = self.env.step(action)
        return self._noisy(observation), float(reward), terminated, truncated, info

    def close(self) -> None:
        self.env.close()

    def _noisy(self, observation: Any) -> Any:
        if not self.config.observation_noise:
            return observation
        rng = self.np_random
        noise = rng.normal(0.0, self.config.observation_noise, np.shape(observation))
        noisy = observation + noise * self.scale
        space = self.observation_space
        return np.clip(noisy, space.low, space.high).astype(np.float32)  # type: ignore[attr-defined]


class BalanceHeuristic:
    """CartPole: push towards where the pole is falling (its angle plus a share of its
    angular velocity), the rule a person finds first."""

    name = "lean rule"

    def predict(self, observation: Any, state: Any = None, **extra: Any) -> tuple[int, Any]:
        obs = np.asarray(observation)
        return int(obs[2] + 0.5 * obs[3] > 0), state

    def describe(self) -> dict[str, Any]:
        return {}


class EnergyPump:
    """MountainCar: push the way the car is already moving, so each swing climbs higher;
    Acrobot: torque the way the second link swings."""

    name = "energy pump"

    def __init__(self, game: str) -> None:
        self.game = game

    def predict(self, observation: Any, state: Any = None, **extra: Any) -> tuple[int, Any]:
        obs = np.asarray(observation)
        if self.game == "mountaincar":
            return (2 if obs[1] >= 0 else 0), state
        return (2 if obs[5] >= 0 else 0), state

    def describe(self) -> dict[str, Any]:
        return {}


def game_baselines(config: GameConfig, seed: int) -> dict[str, Any]:
    if config.game == "cartpole":
        return {"lean rule": BalanceHeuristic()}
    return {"energy pump": EnergyPump(config.game)}
